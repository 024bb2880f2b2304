//! The HTTP API that every front end shares: the web UI in a browser (`reelmap
//! serve`), the desktop app (its window loads the same pages) and the tests. It
//! listens on 127.0.0.1 only and runs long work as background jobs.

pub mod api;
pub mod jobs;

pub use api::{RunningServer, ServerConfig, default_ui_dir, start};
