//! The HTTP API behind the web UI (in a browser via `reelmap serve`, or inside the
//! desktop app): JSON endpoints, server-sent events for progress, posters, frame
//! thumbnails, feature strips, and the videos themselves with HTTP Range support
//! (WebKitGTK cannot stream video through Tauri's asset protocol, so the desktop app
//! uses this server too: one UI, one API).
//!
//! Security: the server listens on 127.0.0.1 only; every request needs the random
//! per-launch token (cookie `reelmap_token`, set when the page is opened with
//! `/?token=…`, or header `X-Reelmap-Token`); requests whose Host or Origin is not
//! this server are refused (DNS rebinding); files are served only by catalogue id,
//! never by a path taken from the request.

use crate::jobs::{JobKind, JobStatus, Jobs};
use anyhow::Result;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path as UrlPath, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Json, Redirect, Response};
use axum::routing::{get, post};
use reelmap_core::edits::{self, Target};
use reelmap_core::insights;
use reelmap_core::store::Catalogue;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
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

struct AppState {
    db: PathBuf,
    token: String,
    port: u16,
    jobs: Arc<Jobs>,
    events: broadcast::Sender<String>,
    ui_dir: PathBuf,
    strip_scale: Mutex<Option<insights::StripScale>>,
    /// Cancelled when the server stops, which ends open event streams (graceful
    /// shutdown would otherwise wait for them forever).
    shutdown: tokio_util::sync::CancellationToken,
}

type Shared = Arc<AppState>;

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

fn random_token() -> String {
    let mut bytes = [0u8; 24];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        use std::io::Read;
        let _ = f.read_exact(&mut bytes);
    }
    // Mix in time and pid in case /dev/urandom is unavailable.
    let extra = blake3::hash(
        format!("{:?}{}", std::time::SystemTime::now(), std::process::id()).as_bytes(),
    );
    let mut h = blake3::Hasher::new();
    h.update(&bytes);
    h.update(extra.as_bytes());
    h.finalize().to_hex()[..40].to_string()
}

/// Starts the server on 127.0.0.1 in a background thread and returns once it
/// listens.
pub fn start(config: ServerConfig) -> Result<RunningServer> {
    // Fail early, in the caller's thread, if the catalogue cannot be opened.
    Catalogue::open(&config.db)?;
    let listener = std::net::TcpListener::bind(("127.0.0.1", config.port))?;
    listener.set_nonblocking(true)?;
    let port = listener.local_addr()?.port();
    let token = config.token.clone().unwrap_or_else(random_token);
    let (events, _) = broadcast::channel::<String>(256);
    let ev = events.clone();
    let listener_fn: crate::jobs::Listener = Arc::new(move |s: &JobStatus| {
        let _ = ev.send(json!({"type": "job", "job": s}).to_string());
        if s.state != crate::jobs::JobState::Running {
            let _ = ev.send(json!({"type": "library", "what": "job"}).to_string());
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
        .route("/api/status", get(status))
        .route("/api/events", get(events))
        .route("/api/library", post(add_library))
        .route("/api/jobs/cancel", post(cancel_job))
        .route("/api/clusters", get(clusters))
        .route("/api/clusters/{id}/videos", get(cluster_videos))
        .route("/api/clusters/{id}/rename", post(rename_cluster))
        .route("/api/clusters/{id}/merge", post(merge_cluster))
        .route("/api/videos/failed", get(failed_videos))
        .route("/api/videos/{id}", get(video_detail))
        .route("/api/videos/{id}/poster.jpg", get(poster))
        .route("/api/videos/{id}/frames/{idx}", get(frame_thumb))
        .route("/api/videos/{id}/strip.png", get(strip))
        .route("/api/videos/{id}/media", get(media))
        .route("/api/map", get(get_map).post(compute_map))
        .route("/api/assign", post(assign))
        .route("/api/undo", post(undo_edit))
        .route("/api/recluster", post(recluster))
        .route("/api/apply/plan", get(apply_plan))
        .route("/api/apply", post(apply_folders))
        .route("/api/apply/undo", post(apply_undo))
        .route("/api/journal", get(journal))
        .fallback(static_files)
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state)
}

// ----- security -----

fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == "reelmap_token")
        .map(|(_, v)| v.to_string())
}

/// Constant-time comparison, so the token cannot be guessed byte by byte.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

async fn guard(State(st): State<Shared>, req: Request, next: Next) -> Response {
    let allowed_hosts = [
        format!("127.0.0.1:{}", st.port),
        format!("localhost:{}", st.port),
    ];
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if !allowed_hosts.iter().any(|h| h == host) {
        return (StatusCode::FORBIDDEN, "wrong Host header").into_response();
    }
    if let Some(origin) = req.headers().get(header::ORIGIN) {
        let ok = origin
            .to_str()
            .map(|o| allowed_hosts.iter().any(|h| o == format!("http://{h}")))
            .unwrap_or(false);
        if !ok {
            return (StatusCode::FORBIDDEN, "wrong Origin").into_response();
        }
    }
    // Opening /?token=… (what the app and `reelmap serve` do) sets the cookie.
    if let Some(q) = req.uri().query()
        && let Some(t) = q.split('&').find_map(|kv| kv.strip_prefix("token="))
    {
        if same(t, &st.token) && !req.uri().path().starts_with("/api/") {
            let mut resp = Redirect::to(req.uri().path()).into_response();
            let cookie = format!(
                "reelmap_token={}; Path=/; HttpOnly; SameSite=Strict",
                st.token
            );
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                resp.headers_mut().insert(header::SET_COOKIE, v);
            }
            return resp;
        }
        return (StatusCode::UNAUTHORIZED, "wrong token").into_response();
    }
    let presented = req
        .headers()
        .get("x-reelmap-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| cookie_token(req.headers()));
    match presented {
        Some(t) if same(&t, &st.token) => next.run(req).await,
        _ => (
            StatusCode::UNAUTHORIZED,
            "missing or wrong token: open the address printed by `reelmap serve`",
        )
            .into_response(),
    }
}

// ----- helpers -----

struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({"error": self.1}))).into_response()
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        ApiError(StatusCode::BAD_REQUEST, format!("{e:#}"))
    }
}

type ApiResult<T> = std::result::Result<T, ApiError>;

fn not_found(what: &str) -> ApiError {
    ApiError(StatusCode::NOT_FOUND, format!("{what} not found"))
}

/// Runs catalogue work off the async threads.
async fn with_db<T: Send + 'static>(
    st: &Shared,
    f: impl FnOnce(&mut Catalogue) -> Result<T> + Send + 'static,
) -> ApiResult<T> {
    let db = st.db.clone();
    tokio::task::spawn_blocking(move || {
        let mut cat = Catalogue::open(&db)?;
        f(&mut cat)
    })
    .await
    .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
    .map_err(ApiError::from)
}

fn notify(st: &Shared, what: &str) {
    let _ = st
        .events
        .send(json!({"type": "library", "what": what}).to_string());
}

fn file_name(path: &str) -> String {
    Path::new(path)
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.to_string())
}

fn video_json(
    v: &reelmap_core::store::VideoRow,
    asg: Option<&reelmap_core::store::Assignment>,
    frames: Option<i64>,
) -> Value {
    json!({
        "id": v.id,
        "name": file_name(&v.display),
        "path": v.display,
        "status": v.status,
        "error": v.error,
        "error_stage": v.error_stage,
        "duration_ms": v.duration_ms,
        "width": v.width,
        "height": v.height,
        "fps": v.fps,
        "codec": v.codec,
        "container": v.container,
        "size": v.size,
        "cluster_id": asg.map(|a| a.cluster_id),
        "assigned_by": asg.map(|a| a.source.clone()),
        "frames": frames,
    })
}

// ----- library and jobs -----

async fn status(State(st): State<Shared>) -> ApiResult<Json<Value>> {
    let job = st.jobs.status();
    let model = st.jobs.model().to_string();
    let lib = with_db(&st, move |cat| {
        let count = |sql: &str| cat.count(sql);
        Ok(json!({
            "videos": count("SELECT COUNT(*) FROM videos WHERE status != 'gone'")?,
            "ok": count("SELECT COUNT(*) FROM videos WHERE status = 'ok'")?,
            "failed": count("SELECT COUNT(*) FROM videos WHERE status = 'failed'")?,
            "embedded": cat.conn().query_row(
                "SELECT COUNT(*) FROM embeddings e JOIN videos v ON v.id = e.video_id WHERE e.model = ?1 AND v.status = 'ok'",
                [&model], |r| r.get::<_, i64>(0))?,
            "clusters": count("SELECT COUNT(*) FROM clusters")?,
            "roots": cat.roots()?.into_iter().map(|(_, p)| p.display().to_string()).collect::<Vec<_>>(),
            "can_undo_edit": count("SELECT COUNT(*) FROM edits WHERE undone = 0")? > 0,
            "can_undo_apply": count("SELECT COUNT(*) FROM apply_batches WHERE state = 'done'")? > 0,
        }))
    })
    .await?;
    Ok(Json(
        json!({"library": lib, "job": job, "model": st.jobs.model()}),
    ))
}

async fn events(
    State(st): State<Shared>,
) -> Sse<impl futures_util::Stream<Item = std::result::Result<SseEvent, std::convert::Infallible>>>
{
    let rx = st.events.subscribe();
    let first = st
        .jobs
        .status()
        .map(|s| json!({"type": "job", "job": s}).to_string());
    let stream = futures_util::stream::unfold((rx, first), |(mut rx, first)| async move {
        if let Some(f) = first {
            return Some((Ok(SseEvent::default().data(f)), (rx, None)));
        }
        loop {
            match rx.recv().await {
                Ok(msg) => return Some((Ok(SseEvent::default().data(msg)), (rx, None))),
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    let stream = futures_util::StreamExt::take_until(stream, st.shutdown.clone().cancelled_owned());
    Sse::new(stream).keep_alive(KeepAlive::default())
}

#[derive(Deserialize)]
struct LibraryReq {
    paths: Vec<String>,
}

async fn add_library(
    State(st): State<Shared>,
    Json(req): Json<LibraryReq>,
) -> ApiResult<(StatusCode, Json<JobStatus>)> {
    let mut paths = Vec::new();
    for p in &req.paths {
        let p = p.trim();
        if p.is_empty() {
            continue;
        }
        let expanded = if let Some(rest) = p.strip_prefix("~/") {
            dirs::home_dir().unwrap_or_default().join(rest)
        } else {
            PathBuf::from(p)
        };
        if !expanded.is_dir() {
            return Err(ApiError(
                StatusCode::BAD_REQUEST,
                format!("{} is not a folder", expanded.display()),
            ));
        }
        paths.push(expanded);
    }
    if paths.is_empty() {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "give at least one folder".into(),
        ));
    }
    let s = st
        .jobs
        .start(JobKind::Library(paths))
        .map_err(|e| ApiError(StatusCode::CONFLICT, format!("{e:#}")))?;
    Ok((StatusCode::ACCEPTED, Json(s)))
}

async fn cancel_job(State(st): State<Shared>) -> Json<Value> {
    Json(json!({"cancelled": st.jobs.cancel()}))
}

#[derive(Deserialize)]
struct ReclusterReq {
    k: Option<usize>,
}

async fn recluster(
    State(st): State<Shared>,
    Json(req): Json<ReclusterReq>,
) -> ApiResult<(StatusCode, Json<JobStatus>)> {
    let s = st
        .jobs
        .start(JobKind::Recluster(req.k))
        .map_err(|e| ApiError(StatusCode::CONFLICT, format!("{e:#}")))?;
    Ok((StatusCode::ACCEPTED, Json(s)))
}

// ----- clusters and videos -----

async fn clusters(State(st): State<Shared>) -> ApiResult<Json<Value>> {
    let out = with_db(&st, |cat| {
        let asg = cat.assignments()?;
        let posters: std::collections::HashSet<i64> = {
            let mut stmt = cat.conn().prepare("SELECT video_id FROM posters")?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        let mut by_cluster: HashMap<i64, Vec<i64>> = HashMap::new();
        for a in &asg {
            by_cluster.entry(a.cluster_id).or_default().push(a.video_id);
        }
        let list: Vec<Value> = cat
            .clusters()?
            .into_iter()
            .map(|c| {
                let members = by_cluster.get(&c.id).cloned().unwrap_or_default();
                let mosaic: Vec<i64> = members.iter().copied().filter(|v| posters.contains(v)).take(4).collect();
                json!({
                    "id": c.id, "name": c.name, "name_source": c.name_source, "kind": c.kind,
                    "concept": c.concept, "confidence": c.confidence, "count": c.count, "mosaic": mosaic,
                })
            })
            .collect();
        Ok(Value::Array(list))
    })
    .await?;
    Ok(Json(out))
}

#[derive(Deserialize)]
struct Page {
    offset: Option<usize>,
    limit: Option<usize>,
}

async fn cluster_videos(
    State(st): State<Shared>,
    UrlPath(id): UrlPath<i64>,
    Query(page): Query<Page>,
) -> ApiResult<Json<Value>> {
    let model = st.jobs.model().to_string();
    let out = with_db(&st, move |cat| {
        if !cat.clusters()?.iter().any(|c| c.id == id) {
            anyhow::bail!("no cluster {id}");
        }
        let asg: Vec<reelmap_core::store::Assignment> = cat
            .assignments()?
            .into_iter()
            .filter(|a| a.cluster_id == id)
            .collect();
        let videos: HashMap<i64, reelmap_core::store::VideoRow> = cat
            .videos(Some("ok"))?
            .into_iter()
            .map(|v| (v.id, v))
            .collect();
        let mut rows: Vec<(
            &reelmap_core::store::Assignment,
            &reelmap_core::store::VideoRow,
        )> = asg
            .iter()
            .filter_map(|a| videos.get(&a.video_id).map(|v| (a, v)))
            .collect();
        // Best-fitting first, people's choices at the top.
        rows.sort_by(|a, b| {
            (a.0.source != "user")
                .cmp(&(b.0.source != "user"))
                .then(
                    a.0.distance
                        .unwrap_or(0.0)
                        .total_cmp(&b.0.distance.unwrap_or(0.0)),
                )
                .then(a.1.id.cmp(&b.1.id))
        });
        let counts = cat.frame_counts(&model)?;
        let total = rows.len();
        let offset = page.offset.unwrap_or(0).min(total);
        let limit = page.limit.unwrap_or(200).min(2000);
        let list: Vec<Value> = rows[offset..(offset + limit).min(total)]
            .iter()
            .map(|(a, v)| video_json(v, Some(a), counts.get(&v.id).copied()))
            .collect();
        Ok(json!({"total": total, "offset": offset, "videos": list}))
    })
    .await
    .map_err(|e| ApiError(StatusCode::NOT_FOUND, e.1))?;
    Ok(Json(out))
}

async fn failed_videos(State(st): State<Shared>) -> ApiResult<Json<Value>> {
    let out = with_db(&st, |cat| {
        Ok(Value::Array(
            cat.videos(Some("failed"))?
                .iter()
                .map(|v| video_json(v, None, None))
                .collect(),
        ))
    })
    .await?;
    Ok(Json(out))
}

async fn video_detail(
    State(st): State<Shared>,
    UrlPath(id): UrlPath<i64>,
) -> ApiResult<Json<Value>> {
    let model = st.jobs.model().to_string();
    let out = with_db(&st, move |cat| {
        let Some(v) = cat.video(id)? else {
            return Ok(None);
        };
        let asg = cat.assignments()?.into_iter().find(|a| a.video_id == id);
        let frames = cat.frame_features(id, &model)?;
        let mut j = video_json(&v, asg.as_ref(), Some(frames.len() as i64));
        let tops: Vec<(i64, Vec<u8>)> = {
            let mut stmt = cat
                .conn()
                .prepare("SELECT ts_ms, top_classes FROM frames WHERE video_id = ?1 AND model = ?2 ORDER BY idx")?;
            let rows = stmt.query_map(rusqlite::params![id, model], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        let frames_json: Vec<Value> = tops
            .iter()
            .enumerate()
            .map(|(i, (ts, top))| {
                let classes: Vec<Value> = top
                    .chunks_exact(4)
                    .map(|c| {
                        let cls = u16::from_le_bytes([c[0], c[1]]) as usize;
                        let p = half::f16::from_le_bytes([c[2], c[3]]).to_f32();
                        json!({"class": cls, "name": reelmap_core::clustering::naming::class_name(cls), "p": p})
                    })
                    .collect();
                json!({"idx": i, "ts_ms": ts, "top": classes})
            })
            .collect();
        let clusters: HashMap<i64, String> = cat.clusters()?.into_iter().map(|c| (c.id, c.name)).collect();
        let asg_map = insights::cluster_of_videos(cat)?;
        let nearest: Vec<Value> = insights::nearest(cat, &model, id, 8)?
            .into_iter()
            .filter_map(|(vid, sim)| {
                let other = cat.video(vid).ok().flatten()?;
                let cid = asg_map.get(&vid).copied();
                // A copy of this file (same fingerprint, then the same bytes).
                let same_file = v.fingerprint.is_some()
                    && other.fingerprint == v.fingerprint
                    && reelmap_core::scan::same_content(&v.path, &other.path).unwrap_or(false);
                Some(json!({
                    "id": vid, "name": file_name(&other.display), "similarity": sim,
                    "cluster_id": cid, "cluster": cid.and_then(|c| clusters.get(&c).cloned()),
                    "same_file": same_file, "path": other.display,
                }))
            })
            .collect();
        j["cluster"] = json!(asg.as_ref().and_then(|a| clusters.get(&a.cluster_id).cloned()));
        j["frames"] = Value::Array(frames_json);
        j["change_points"] = json!(insights::change_points(&frames));
        j["nearest"] = Value::Array(nearest);
        j["has_poster"] = json!(cat.poster(id)?.is_some());
        Ok(Some(j))
    })
    .await?;
    out.map(Json).ok_or_else(|| not_found("video"))
}

fn image_response(bytes: Vec<u8>, mime: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(mime)),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, max-age=3600"),
            ),
        ],
        bytes,
    )
        .into_response()
}

async fn poster(State(st): State<Shared>, UrlPath(id): UrlPath<i64>) -> ApiResult<Response> {
    let jpeg = with_db(&st, move |cat| cat.poster(id)).await?;
    jpeg.map(|b| image_response(b, "image/jpeg"))
        .ok_or_else(|| not_found("poster"))
}

async fn frame_thumb(
    State(st): State<Shared>,
    UrlPath((id, idx)): UrlPath<(i64, String)>,
) -> ApiResult<Response> {
    let idx: i64 = idx
        .trim_end_matches(".jpg")
        .parse()
        .map_err(|_| not_found("frame"))?;
    let model = st.jobs.model().to_string();
    let jpeg: Option<Vec<u8>> = with_db(&st, move |cat| {
        use rusqlite::OptionalExtension;
        Ok(cat
            .conn()
            .query_row(
                "SELECT thumb FROM frames WHERE video_id = ?1 AND model = ?2 AND idx = ?3",
                rusqlite::params![id, model, idx],
                |r| r.get::<_, Option<Vec<u8>>>(0),
            )
            .optional()?
            .flatten())
    })
    .await?;
    jpeg.map(|b| image_response(b, "image/jpeg"))
        .ok_or_else(|| not_found("frame"))
}

async fn strip(State(st): State<Shared>, UrlPath(id): UrlPath<i64>) -> ApiResult<Response> {
    let model = st.jobs.model().to_string();
    let st2 = st.clone();
    let png = with_db(&st, move |cat| {
        let frames = cat.frame_features(id, &model)?;
        if frames.is_empty() {
            return Ok(None);
        }
        let current: i64 = cat.conn().query_row(
            "SELECT COUNT(*) FROM frames WHERE model = ?1",
            [&model],
            |r| r.get(0),
        )?;
        let scale = {
            let cached = st2.strip_scale.lock().unwrap().clone();
            match cached {
                Some(s) if s.frames == current => s,
                _ => {
                    let s = insights::strip_scale(cat, &model)?;
                    *st2.strip_scale.lock().unwrap() = Some(s.clone());
                    s
                }
            }
        };
        Ok(Some(insights::strip_png(&frames, &scale, 8)?))
    })
    .await?;
    png.map(|b| image_response(b, "image/png"))
        .ok_or_else(|| not_found("strip"))
}

fn video_mime(path: &Path) -> &'static str {
    match path
        .extension()
        .map(|e| e.to_string_lossy().to_lowercase())
        .as_deref()
    {
        Some("mp4") | Some("m4v") => "video/mp4",
        Some("webm") => "video/webm",
        Some("ogv") | Some("ogg") => "video/ogg",
        Some("mkv") => "video/x-matroska",
        Some("mov") | Some("qt") => "video/quicktime",
        Some("avi") => "video/x-msvideo",
        Some("gif") => "image/gif",
        Some("ts") | Some("m2ts") | Some("mts") => "video/mp2t",
        _ => "application/octet-stream",
    }
}

/// The video file, by catalogue id only, with single-range support
/// (`Range: bytes=a-b`, `a-`, `-n`).
async fn media(
    State(st): State<Shared>,
    UrlPath(id): UrlPath<i64>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let path = with_db(&st, move |cat| {
        Ok(cat
            .video(id)?
            .filter(|v| v.status != "gone")
            .map(|v| v.path))
    })
    .await?
    .ok_or_else(|| not_found("video"))?;
    let mut file = tokio::fs::File::open(&path)
        .await
        .map_err(|_| not_found("video file"))?;
    let len = file
        .metadata()
        .await
        .map_err(|_| not_found("video file"))?
        .len();
    let mime = video_mime(&path);
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| r.strip_prefix("bytes="))
        .map(|r| r.split(',').next().unwrap_or("").trim().to_string());
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    let Some(r) = range else {
        let body = Body::from_stream(tokio_util::io::ReaderStream::new(file));
        return Ok(Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, mime)
            .header(header::CONTENT_LENGTH, len)
            .header(header::ACCEPT_RANGES, "bytes")
            .body(body)
            .unwrap());
    };
    let (start, end) = match r.split_once('-') {
        Some(("", n)) => {
            let n: u64 = n.parse().unwrap_or(0);
            (len.saturating_sub(n), len.saturating_sub(1))
        }
        Some((a, "")) => (a.parse().unwrap_or(u64::MAX), len.saturating_sub(1)),
        Some((a, b)) => (
            a.parse().unwrap_or(u64::MAX),
            b.parse::<u64>().unwrap_or(0).min(len.saturating_sub(1)),
        ),
        None => (u64::MAX, 0),
    };
    if len == 0 || start >= len || end < start {
        return Ok(Response::builder()
            .status(StatusCode::RANGE_NOT_SATISFIABLE)
            .header(header::CONTENT_RANGE, format!("bytes */{len}"))
            .body(Body::empty())
            .unwrap());
    }
    file.seek(std::io::SeekFrom::Start(start))
        .await
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let n = end - start + 1;
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(file.take(n)));
    Ok(Response::builder()
        .status(StatusCode::PARTIAL_CONTENT)
        .header(header::CONTENT_TYPE, mime)
        .header(header::CONTENT_LENGTH, n)
        .header(header::CONTENT_RANGE, format!("bytes {start}-{end}/{len}"))
        .header(header::ACCEPT_RANGES, "bytes")
        .body(body)
        .unwrap())
}

// ----- map -----

#[derive(Deserialize)]
struct MapQuery {
    kind: Option<String>,
}

fn map_kind(k: Option<String>) -> ApiResult<String> {
    match k.as_deref().unwrap_or("video") {
        "video" => Ok("video".into()),
        "frame" => Ok("frame".into()),
        other => Err(ApiError(
            StatusCode::BAD_REQUEST,
            format!("unknown map kind {other:?}"),
        )),
    }
}

async fn get_map(State(st): State<Shared>, Query(q): Query<MapQuery>) -> ApiResult<Json<Value>> {
    let kind = map_kind(q.kind)?;
    let model = st.jobs.model().to_string();
    let out = with_db(&st, move |cat| {
        let points = insights::load_map(cat, &kind)?;
        let asg = insights::cluster_of_videos(cat)?;
        // File names for tooltips, keyed by video id.
        let names: serde_json::Map<String, Value> = cat
            .videos(Some("ok"))?
            .into_iter()
            .map(|v| (v.id.to_string(), json!(file_name(&v.display))))
            .collect();
        let pts: Vec<Value> = points
            .iter()
            .map(|p| json!([p.video_id, p.idx, p.x, p.y, asg.get(&p.video_id)]))
            .collect();
        let clusters: Vec<Value> = cat
            .clusters()?
            .into_iter()
            .map(|c| json!({"id": c.id, "name": c.name, "kind": c.kind}))
            .collect();
        Ok(json!({
            "kind": kind,
            "current": insights::map_is_current(cat, &model, &kind)?,
            "fields": ["video_id", "idx", "x", "y", "cluster_id"],
            "points": pts,
            "names": names,
            "clusters": clusters,
        }))
    })
    .await?;
    Ok(Json(out))
}

async fn compute_map(
    State(st): State<Shared>,
    Query(q): Query<MapQuery>,
) -> ApiResult<(StatusCode, Json<JobStatus>)> {
    let kind = map_kind(q.kind)?;
    let s = st
        .jobs
        .start(JobKind::Map(kind))
        .map_err(|e| ApiError(StatusCode::CONFLICT, format!("{e:#}")))?;
    Ok((StatusCode::ACCEPTED, Json(s)))
}

// ----- edits -----

#[derive(Deserialize)]
struct AssignReq {
    videos: Vec<i64>,
    cluster: Option<i64>,
    new_folder: Option<String>,
}

async fn assign(
    State(st): State<Shared>,
    Json(req): Json<AssignReq>,
) -> ApiResult<Json<edits::EditResult>> {
    let target = match (req.cluster, req.new_folder) {
        (Some(c), None) => Target::Cluster(c),
        (None, Some(n)) => Target::New(n),
        _ => {
            return Err(ApiError(
                StatusCode::BAD_REQUEST,
                "give either cluster or new_folder".into(),
            ));
        }
    };
    let r = with_db(&st, move |cat| {
        edits::move_videos(cat, &req.videos, &target)
    })
    .await?;
    notify(&st, "assign");
    Ok(Json(r))
}

#[derive(Deserialize)]
struct RenameReq {
    name: String,
}

async fn rename_cluster(
    State(st): State<Shared>,
    UrlPath(id): UrlPath<i64>,
    Json(req): Json<RenameReq>,
) -> ApiResult<Json<edits::EditResult>> {
    let r = with_db(&st, move |cat| edits::rename(cat, id, &req.name)).await?;
    notify(&st, "rename");
    Ok(Json(r))
}

#[derive(Deserialize)]
struct MergeReq {
    into: i64,
}

async fn merge_cluster(
    State(st): State<Shared>,
    UrlPath(id): UrlPath<i64>,
    Json(req): Json<MergeReq>,
) -> ApiResult<Json<edits::EditResult>> {
    let r = with_db(&st, move |cat| edits::merge(cat, id, req.into)).await?;
    notify(&st, "merge");
    Ok(Json(r))
}

async fn undo_edit(State(st): State<Shared>) -> ApiResult<Json<Value>> {
    let r = with_db(&st, edits::undo_last).await?;
    if r.is_some() {
        notify(&st, "undo");
    }
    Ok(Json(json!({"undone": r})))
}

// ----- folders on disk -----

#[derive(Deserialize)]
struct ApplyQuery {
    target: Option<String>,
}

fn plans(cat: &Catalogue, target: Option<&str>) -> Result<Vec<reelmap_core::plan::Plan>> {
    cat.roots()?
        .into_iter()
        .map(|(_, r)| {
            let base = target.map(PathBuf::from).unwrap_or_else(|| r.clone());
            reelmap_core::plan::plan(cat, Some(&r), &base)
        })
        .collect()
}

async fn apply_plan(
    State(st): State<Shared>,
    Query(q): Query<ApplyQuery>,
) -> ApiResult<Json<Value>> {
    let out = with_db(&st, move |cat| Ok(json!(plans(cat, q.target.as_deref())?))).await?;
    Ok(Json(out))
}

#[derive(Deserialize)]
struct ApplyReq {
    mode: Option<String>,
    target: Option<String>,
}

async fn apply_folders(
    State(st): State<Shared>,
    Json(req): Json<ApplyReq>,
) -> ApiResult<Json<Value>> {
    let out = with_db(&st, move |cat| {
        let mode = reelmap_core::apply::Mode::parse(req.mode.as_deref().unwrap_or("move"))?;
        // One batch for all folders, so that one undo restores everything.
        let all = plans(cat, req.target.as_deref())?;
        let base = match (&req.target, all.first()) {
            (Some(t), _) => PathBuf::from(t),
            (None, Some(p)) => p.base.clone(),
            (None, None) => return Ok(json!([])),
        };
        let plan = reelmap_core::plan::merge_plans(all, &base);
        Ok(json!([reelmap_core::apply::apply(cat, &plan, mode)?]))
    })
    .await?;
    notify(&st, "apply");
    Ok(Json(out))
}

async fn apply_undo(State(st): State<Shared>) -> ApiResult<Json<Value>> {
    let out = with_db(&st, |cat| Ok(json!(reelmap_core::apply::undo_last(cat)?))).await?;
    notify(&st, "apply_undo");
    Ok(Json(out))
}

async fn journal(State(st): State<Shared>) -> ApiResult<Json<Value>> {
    let out = with_db(&st, |cat| Ok(json!(reelmap_core::apply::batches(cat)?))).await?;
    Ok(Json(out))
}

// ----- the UI -----

async fn static_files(State(st): State<Shared>, req: Request) -> Response {
    let path = req.uri().path().trim_start_matches('/');
    if path.starts_with("api/") {
        return (StatusCode::NOT_FOUND, "no such endpoint").into_response();
    }
    // Only plain relative names inside the UI folder.
    let safe = !path.split('/').any(|c| c == ".." || c.starts_with('.')) && !path.contains('\\');
    let candidate = if path.is_empty() || !safe {
        st.ui_dir.join("index.html")
    } else {
        st.ui_dir.join(path)
    };
    let file = if candidate.is_file() {
        candidate
    } else {
        // Client-side routes fall back to the app.
        st.ui_dir.join("index.html")
    };
    match tokio::fs::read(&file).await {
        Ok(bytes) => {
            let mime = match file.extension().and_then(|e| e.to_str()) {
                Some("html") => "text/html; charset=utf-8",
                Some("js") => "text/javascript; charset=utf-8",
                Some("css") => "text/css; charset=utf-8",
                Some("svg") => "image/svg+xml",
                Some("png") => "image/png",
                Some("ico") => "image/x-icon",
                Some("json") => "application/json",
                Some("woff2") => "font/woff2",
                _ => "application/octet-stream",
            };
            ([(header::CONTENT_TYPE, mime)], bytes).into_response()
        }
        Err(_) => (
            StatusCode::NOT_FOUND,
            "the web UI is not built: run `npm ci && npm run build` in ui/ (scripts/setup.sh does it)",
        )
            .into_response(),
    }
}
