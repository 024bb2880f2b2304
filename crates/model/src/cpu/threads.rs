//! Threads: the CPU inference pool ([`set_cpu_threads`]), [`OwnThread`] for callers
//! that bring their own parallelism, and [`for_parts`] to split a kernel over the
//! threads of the current pool.

use rayon::prelude::*;
use std::sync::{Arc, RwLock};

static POOL: RwLock<Option<Arc<rayon::ThreadPool>>> = RwLock::new(None);

fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Number of threads of the CPU inference pool (`0` = one per core, the default).
/// Front ends call it once at start; it takes effect for the next forward pass.
pub fn set_cpu_threads(n: usize) {
    let n = if n == 0 { default_threads() } else { n };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .thread_name(|i| format!("reelmap-cpu-{i}"))
        .build()
        .expect("cannot start CPU inference threads");
    *POOL.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(pool));
}

/// Threads of the CPU inference pool.
pub fn cpu_threads() -> usize {
    pool().current_num_threads()
}

thread_local! {
    /// The pool of the [`OwnThread::run`] running on this thread, if any.
    static OWN_THREAD: std::cell::RefCell<Option<Arc<rayon::ThreadPool>>> =
        const { std::cell::RefCell::new(None) };
}

/// One inference thread of its own, for callers that keep every core busy with
/// several videos at once: splitting each of their images over the cores would only
/// add threads competing for them. The results are the same (an image's result never
/// depends on the threads).
pub struct OwnThread(Arc<rayon::ThreadPool>);

impl OwnThread {
    pub fn new() -> OwnThread {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .thread_name(|_| "reelmap-cpu-own".to_string())
            .build()
            .expect("cannot start a CPU inference thread");
        OwnThread(Arc::new(pool))
    }

    /// Runs `f` on this inference thread. Forward passes that `f` starts through
    /// [`OwnThread::run`] then run in place: no hand-over to another thread and back.
    pub fn host<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        self.0.install(f)
    }

    /// Runs `f` with the forward passes it starts on this thread instead of the
    /// shared pool.
    pub fn run<R>(&self, f: impl FnOnce() -> R) -> R {
        let previous = OWN_THREAD.with(|p| p.replace(Some(self.0.clone())));
        // Restored even if `f` panics.
        struct Restore(Option<Arc<rayon::ThreadPool>>);
        impl Drop for Restore {
            fn drop(&mut self) {
                let previous = self.0.take();
                OWN_THREAD.with(|p| *p.borrow_mut() = previous);
            }
        }
        let _restore = Restore(previous);
        f()
    }
}

impl Default for OwnThread {
    fn default() -> Self {
        Self::new()
    }
}

pub(crate) fn pool() -> Arc<rayon::ThreadPool> {
    if let Some(p) = OWN_THREAD.with(|p| p.borrow().clone()) {
        return p;
    }
    if let Some(p) = POOL.read().unwrap_or_else(|e| e.into_inner()).as_ref() {
        return p.clone();
    }
    let mut w = POOL.write().unwrap_or_else(|e| e.into_inner());
    if w.is_none() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(default_threads())
            .thread_name(|i| format!("reelmap-cpu-{i}"))
            .build()
            .expect("cannot start CPU inference threads");
        *w = Some(Arc::new(pool));
    }
    w.as_ref().unwrap().clone()
}

#[derive(Clone, Copy)]
pub(super) struct SendPtr<T>(pub(super) *mut T);
unsafe impl<T> Send for SendPtr<T> {}
unsafe impl<T> Sync for SendPtr<T> {}

/// Runs `f(part)` for `part` in `0..parts` on the current rayon pool.
pub(super) fn for_parts(parts: usize, f: impl Fn(usize) + Sync + Send) {
    if parts <= 1 {
        f(0);
    } else {
        (0..parts).into_par_iter().for_each(f);
    }
}
