//! The server itself: its configuration, the shared state of the handlers, the
//! routes, and starting and stopping it.

use crate::error::{ApiError, ApiResult};
use crate::jobs::{JobStatus, Jobs};
use crate::routes;
use anyhow::Result;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::{get, post};
use reelmap_core::insights;
use reelmap_core::store::Catalogue;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub db: PathBuf,
    pub engine: reelmap_core::config::EngineConfig,
    /// Folder with the built UI (index.html, assets/). Default: `ui/dist` of the source
    /// tree.
    pub ui_dir: Option<PathBuf>,
    /// 0 picks a free port.
    pub port: u16,
    /// Fixed token (tests); random when None.
    pub token: Option<String>,
}

impl ServerConfig {
    pub fn new(db: PathBuf) -> Self {
        ServerConfig {
            db,
            engine: reelmap_core::config::EngineConfig::default(),
            ui_dir: None,
            port: 0,
            token: None,
        }
    }
}

pub fn default_ui_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ui/dist")
}

pub struct AppState {
    pub db: PathBuf,
    pub token: String,
    pub port: u16,
    pub jobs: Arc<Jobs>,
    pub events: broadcast::Sender<String>,
    pub ui_dir: PathBuf,
    pub strip_scale: Mutex<Option<insights::StripScale>>,
    /// The frame index for finding clips, while the dense index is unchanged.
    pub find_index: Mutex<Option<(u64, Arc<reelmap_core::find::ann::FrameIndex>)>>,
    /// The last duplicates found, with the digest of what they were found from.
    pub duplicates: Mutex<Option<(u64, DuplicateGroups)>>,
    /// Cancelled when the server stops, which ends open event streams (graceful
    /// shutdown would otherwise wait for them forever).
    pub shutdown: tokio_util::sync::CancellationToken,
}

pub type Shared = Arc<AppState>;
pub type DuplicateGroups = Arc<Vec<reelmap_core::find::duplicates::DuplicateGroup>>;

/// A running server. Dropping it (or `stop`) shuts it down.
pub struct RunningServer {
    pub port: u16,
    pub token: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RunningServer {
    /// The address to open: it carries the token, which the page turns into a cookie.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/?token={}", self.port, self.token)
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn stop(mut self) {
        self.stop_inner();
    }

    /// Blocks until the server ends (Ctrl-C ends the process).
    pub fn wait(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    fn stop_inner(&mut self) {
        if let Some(s) = self.shutdown.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.stop_inner();
    }
}

/// Starts the server on 127.0.0.1 in a background thread and returns once it
/// listens.
pub fn start(config: ServerConfig) -> Result<RunningServer> {
    // Fail early, in the caller's thread, if the catalogue cannot be opened.
    Catalogue::open(&config.db)?;
    let listener = std::net::TcpListener::bind(("127.0.0.1", config.port))?;
    listener.set_nonblocking(true)?;
    let port = listener.local_addr()?.port();
    let token = config
        .token
        .clone()
        .unwrap_or_else(crate::auth::random_token);
    let (events, _) = broadcast::channel::<String>(256);
    let ev = events.clone();
    let listener_fn: crate::jobs::Listener = Arc::new(move |s: &JobStatus| {
        let _ = ev.send(routes::library::job_event(s));
        if s.state != crate::jobs::JobState::Running {
            let _ = ev.send(routes::library::library_event("job"));
        }
    });
    let jobs = Jobs::new(config.db.clone(), config.engine.clone(), listener_fn);
    let state = Arc::new(AppState {
        db: config.db.clone(),
        token: token.clone(),
        port,
        jobs,
        events,
        ui_dir: config.ui_dir.clone().unwrap_or_else(default_ui_dir),
        strip_scale: Mutex::new(None),
        find_index: Mutex::new(None),
        duplicates: Mutex::new(None),
        shutdown: tokio_util::sync::CancellationToken::new(),
    });
    let stopping = state.shutdown.clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<()>>();
    let thread = std::thread::Builder::new()
        .name("reelmap-http".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = ready_tx.send(Err(e.into()));
                    return;
                }
            };
            rt.block_on(async move {
                let listener = match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => l,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.into()));
                        return;
                    }
                };
                let app = router(state);
                let _ = ready_tx.send(Ok(()));
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async move {
                        let _ = rx.await;
                        stopping.cancel();
                    })
                    .await;
            });
        })?;
    ready_rx.recv()??;
    Ok(RunningServer {
        port,
        token,
        shutdown: Some(tx),
        thread: Some(thread),
    })
}

fn router(state: Shared) -> Router {
    Router::new()
        .route("/api/status", get(routes::library::status))
        .route("/api/events", get(routes::library::events))
        .route("/api/library", post(routes::library::add_library))
        .route("/api/jobs/cancel", post(routes::library::cancel_job))
        .route("/api/clusters", get(routes::clusters::clusters))
        .route(
            "/api/clusters/{id}/videos",
            get(routes::clusters::cluster_videos),
        )
        .route(
            "/api/clusters/{id}/rename",
            post(routes::clusters::rename_cluster),
        )
        .route(
            "/api/clusters/{id}/merge",
            post(routes::clusters::merge_cluster),
        )
        .route(
            "/api/clusters/{id}/suggestions",
            get(routes::clusters::suggestions),
        )
        .route(
            "/api/clusters/{id}/suggestions/reject",
            post(routes::clusters::reject_suggestion),
        )
        .route("/api/videos/failed", get(routes::videos::failed_videos))
        .route("/api/videos/{id}", get(routes::videos::video_detail))
        .route("/api/videos/{id}/poster.jpg", get(routes::videos::poster))
        .route(
            "/api/videos/{id}/frames/{idx}",
            get(routes::videos::frame_thumb),
        )
        .route("/api/videos/{id}/strip.png", get(routes::videos::strip))
        .route("/api/videos/{id}/media", get(routes::media::media))
        .route(
            "/api/map",
            get(routes::map::get_map).post(routes::map::compute_map),
        )
        .route("/api/assign", post(routes::clusters::assign))
        .route("/api/undo", post(routes::clusters::undo_edit))
        .route("/api/recluster", post(routes::library::recluster))
        .route("/api/apply/plan", get(routes::folders::apply_plan))
        .route("/api/apply", post(routes::folders::apply_folders))
        .route("/api/apply/undo", post(routes::folders::apply_undo))
        .route("/api/journal", get(routes::folders::journal))
        .route("/api/index", post(routes::library::index))
        .route("/api/duplicates", get(routes::find::duplicates))
        .route("/api/duplicates/set-aside", post(routes::find::set_aside))
        .route(
            "/api/find",
            post(routes::find::find_clip)
                .layer(DefaultBodyLimit::max(routes::find::MAX_CLIP_BYTES)),
        )
        .route("/api/search", get(routes::find::search))
        .fallback(routes::ui::static_files)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::auth::guard,
        ))
        .with_state(state)
}

/// Runs catalogue work off the async threads.
pub async fn with_db<T: Send + 'static>(
    st: &Shared,
    f: impl FnOnce(&mut Catalogue) -> Result<T> + Send + 'static,
) -> ApiResult<T> {
    let db = st.db.clone();
    tokio::task::spawn_blocking(move || {
        let mut cat = Catalogue::open(&db)?;
        f(&mut cat)
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?
    .map_err(ApiError::from)
}

pub fn notify(st: &Shared, what: &str) {
    let _ = st.events.send(routes::library::library_event(what));
}
