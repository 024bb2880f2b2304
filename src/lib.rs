//! Reelmap engine: scan → media (GStreamer) → model (Candle) → features →
//! cluster/naming → map → store. The `reelmap` command line and the desktop app are
//! thin layers over this library.

pub mod media;
pub mod model;
pub mod store;
pub mod util;
pub mod features;
pub mod progress;
pub mod scan;
pub mod bench;
pub mod cluster;
pub mod evaluate;
pub mod folders;
pub mod metrics;
pub mod naming;
pub mod organise;
pub mod testmedia;
