//! The HTTP API that every front end shares: the web UI in a browser (`reelmap
//! serve`), the desktop app (its window loads the same pages) and the tests. It
//! listens on 127.0.0.1 only ([`auth`]), runs long work as background [`jobs`], and
//! speaks in the types of [`dto`], from which the UI's TypeScript types are made.

pub mod auth;
pub mod dto;
pub mod error;
pub mod jobs;
mod routes;
pub mod server;

pub use server::{RunningServer, ServerConfig, default_ui_dir, start};
