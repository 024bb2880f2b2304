//! Reelmap engine: scan → media (GStreamer) → model (Candle) → features →
//! cluster/naming → map → store. The `reelmap` command line and the desktop app are
//! thin layers over this library.

pub mod api;
pub mod apply;
pub mod bench;
pub mod cluster;
pub mod edits;
pub mod evaluate;
pub mod features;
pub mod folders;
pub mod insights;
pub mod jobs;
pub mod map;
pub mod media;
pub mod metrics;
pub mod model;
pub mod naming;
pub mod organise;
pub mod progress;
pub mod scan;
pub mod store;
pub mod testmedia;
pub mod util;
