//! The Reelmap engine, in the order the data flows: [`scan`] finds videos, [`embed`]
//! decodes frames (`reelmap-media`) and runs the network (`reelmap-model`) on them,
//! [`clustering`] groups and names the videos, [`map`] lays them out in 2-D,
//! [`insights`] derives what else the UI shows, [`plan`] and [`apply`] put videos into folders on disk (journaled, with
//! undo), and [`store`] keeps all of it in SQLite. [`pipeline`] runs the whole job for
//! every front end (the CLI, the HTTP server, the desktop app).

pub mod apply;
pub mod clustering;
pub mod config;
pub mod embed;
pub mod error;
pub mod evaluate;
pub mod find;
pub mod insights;
pub mod learn;
pub mod map;
pub mod metrics;
pub mod pipeline;
pub mod plan;
pub mod progress;
pub mod scan;
pub mod store;
pub mod util;
