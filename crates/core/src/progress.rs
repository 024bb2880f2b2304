//! Progress and cancellation shared by the CLI (progress bars), the HTTP API
//! (server-sent events) and tests.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Debug, Clone, serde::Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A stage begins; `total` items are expected (0 if unknown).
    Stage { stage: String, total: u64 },
    /// One more item done (or `done` items so far), with the item being worked on.
    Item {
        stage: String,
        done: u64,
        total: u64,
        current: String,
    },
    /// An item could not be processed; the run goes on.
    Failed {
        stage: String,
        path: String,
        reason: String,
    },
    /// A message for people.
    Note { message: String },
    /// The stage ended.
    StageDone { stage: String },
}

pub trait Progress: Send + Sync {
    fn event(&self, e: Event);
}

/// Ignores every event.
pub struct Silent;

impl Progress for Silent {
    fn event(&self, _: Event) {}
}

/// A cancellation flag that long-running work checks between units of work.
#[derive(Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst)
    }
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}
