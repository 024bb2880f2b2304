//! Long-running work started from the UI (add a library, re-cluster, compute a map)
//! on a background thread, one job at a time, with progress that the HTTP API
//! streams to the page and a cancel button.

use anyhow::Result;
use reelmap_core::clustering::{self, ClusterOptions, KChoice, Method};
use reelmap_core::config::EngineConfig;
use reelmap_core::find::{ann::FrameIndex, dense};
use reelmap_core::learn::{self, head::HeadOptions};
use reelmap_core::pipeline::{self, Grouping, OrganiseOptions};
use reelmap_core::progress::{Cancel, Event, Progress};
use reelmap_core::store::Catalogue;
use reelmap_model::{self as model, Embedder};
use serde::Serialize;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

#[derive(Debug, Clone, Serialize, PartialEq, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Running,
    Done,
    Failed,
    Cancelled,
}

#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct JobStatus {
    pub id: u64,
    /// "library", "recluster", "map:video" or "map:frame".
    pub kind: String,
    pub state: JobState,
    pub stage: String,
    pub done: u64,
    pub total: u64,
    pub current: String,
    /// Files that could not be used so far: (path, reason).
    pub errors: Vec<(String, String)>,
    pub message: String,
    pub elapsed_s: f64,
    /// Seconds left in the current stage, when it can be estimated.
    pub eta_s: Option<f64>,
}

#[derive(Debug, Clone)]
pub enum JobKind {
    /// Scan these folders, embed what is new, cluster (or file new videos into the
    /// existing clusters), then lay out the map.
    Library(Vec<PathBuf>),
    /// Re-cluster with a given k (None: automatic), with a method; `adapt` first
    /// (re)trains the head adapted to the library.
    Recluster {
        k: Option<usize>,
        method: Method,
        adapt: bool,
    },
    /// Compute the 2-D map of videos or frames.
    Map(String),
    /// Index every video's frames densely (for duplicates and finding clips).
    Index,
}

/// Called with the latest status whenever it changes (the API broadcasts it).
pub type Listener = Arc<dyn Fn(&JobStatus) + Send + Sync>;

pub struct Jobs {
    db: PathBuf,
    engine: EngineConfig,
    current: Mutex<Option<(JobStatus, Cancel)>>,
    next_id: Mutex<u64>,
    embedder: Mutex<Option<Arc<Embedder>>>,
    listener: Listener,
}

struct JobProgress {
    jobs: Arc<Jobs>,
    stage_started: Mutex<Instant>,
    started: Instant,
}

impl JobProgress {
    fn update(&self, f: impl FnOnce(&mut JobStatus)) {
        let snapshot = {
            let mut cur = self.jobs.current.lock().unwrap();
            let Some((st, _)) = cur.as_mut() else { return };
            f(st);
            st.elapsed_s = self.started.elapsed().as_secs_f64();
            st.clone()
        };
        (self.jobs.listener)(&snapshot);
    }
}

impl Progress for JobProgress {
    fn event(&self, e: Event) {
        match e {
            Event::Stage { stage, total } => {
                *self.stage_started.lock().unwrap() = Instant::now();
                self.update(|s| {
                    s.stage = stage;
                    s.total = total;
                    s.done = 0;
                    s.current.clear();
                    s.eta_s = None;
                });
            }
            Event::Item {
                done,
                total,
                current,
                ..
            } => {
                let spent = self.stage_started.lock().unwrap().elapsed().as_secs_f64();
                self.update(|s| {
                    s.done = done;
                    s.total = total;
                    s.current = current;
                    s.eta_s = if done > 0 && total > done {
                        Some(spent / done as f64 * (total - done) as f64)
                    } else {
                        None
                    };
                });
            }
            Event::Failed { path, reason, .. } => self.update(|s| s.errors.push((path, reason))),
            Event::Note { message } => self.update(|s| s.message = message),
            Event::StageDone { .. } => {}
        }
    }
}

impl Jobs {
    pub fn new(db: PathBuf, engine: EngineConfig, listener: Listener) -> Arc<Jobs> {
        Arc::new(Jobs {
            db,
            engine,
            current: Mutex::new(None),
            next_id: Mutex::new(1),
            embedder: Mutex::new(None),
            listener,
        })
    }

    pub fn model(&self) -> &str {
        &self.engine.model
    }

    pub fn status(&self) -> Option<JobStatus> {
        self.current
            .lock()
            .unwrap()
            .as_ref()
            .map(|(s, _)| s.clone())
    }

    pub fn cancel(&self) -> bool {
        match self.current.lock().unwrap().as_ref() {
            Some((s, c)) if s.state == JobState::Running => {
                c.cancel();
                true
            }
            _ => false,
        }
    }

    pub(crate) fn embedder(&self) -> Result<Arc<Embedder>> {
        let mut e = self.embedder.lock().unwrap();
        if let Some(x) = e.as_ref() {
            return Ok(x.clone());
        }
        let engine = &self.engine;
        let device = model::select_device(&engine.device)?;
        let loaded = Arc::new(Embedder::load(&engine.model, &device, &engine.models_dir)?);
        *e = Some(loaded.clone());
        Ok(loaded)
    }

    /// Starts a job unless one is running. Returns its first status.
    pub fn start(self: &Arc<Self>, kind: JobKind) -> Result<JobStatus> {
        let cancel = Cancel::new();
        let status = {
            let mut cur = self.current.lock().unwrap();
            if let Some((s, _)) = cur.as_ref()
                && s.state == JobState::Running
            {
                return Err(reelmap_core::error::Error::conflict(format!(
                    "another job is running ({}); wait for it or cancel it",
                    s.kind
                )));
            }
            let mut id = self.next_id.lock().unwrap();
            let status = JobStatus {
                id: *id,
                kind: match &kind {
                    JobKind::Library(_) => "library".into(),
                    JobKind::Recluster { .. } => "recluster".into(),
                    JobKind::Map(k) => format!("map:{k}"),
                    JobKind::Index => "index".into(),
                },
                state: JobState::Running,
                stage: "starting".into(),
                done: 0,
                total: 0,
                current: String::new(),
                errors: vec![],
                message: String::new(),
                elapsed_s: 0.0,
                eta_s: None,
            };
            *id += 1;
            *cur = Some((status.clone(), cancel.clone()));
            status
        };
        (self.listener)(&status);
        let me = self.clone();
        std::thread::Builder::new()
            .name("reelmap-job".into())
            .spawn(move || {
                let progress = JobProgress {
                    jobs: me.clone(),
                    stage_started: Mutex::new(Instant::now()),
                    started: Instant::now(),
                };
                let result = me.run(&kind, &progress, &cancel);
                progress.update(|s| {
                    match &result {
                        Ok(msg) if cancel.is_cancelled() => {
                            s.state = JobState::Cancelled;
                            s.message = format!("cancelled; {msg}");
                        }
                        Ok(msg) => {
                            s.state = JobState::Done;
                            s.message = msg.clone();
                        }
                        Err(e) => {
                            s.state = JobState::Failed;
                            s.message = format!("{e:#}");
                        }
                    }
                    s.stage = "finished".into();
                    s.eta_s = None;
                });
            })?;
        Ok(status)
    }

    fn run(&self, kind: &JobKind, progress: &JobProgress, cancel: &Cancel) -> Result<String> {
        let mut cat = Catalogue::open(&self.db)?;
        match kind {
            JobKind::Library(paths) => {
                let done = pipeline::organise(
                    &mut cat,
                    paths,
                    &self.engine,
                    &OrganiseOptions::default(),
                    || self.embedder(),
                    progress,
                    cancel,
                )?;
                let (scan, embedded) = (&done.ingested.scan, &done.ingested.embed);
                let msg = match &done.grouping {
                    None if embedded.videos == 0 => return Ok("stopped after scanning".into()),
                    None => {
                        return Ok(format!(
                            "{} videos embedded before stopping; add the folder again to continue",
                            embedded.embedded
                        ));
                    }
                    Some(Grouping::Clustered(s)) => {
                        format!("{} videos in {} clusters", s.videos, s.k)
                    }
                    Some(Grouping::Filed { videos: 1 }) => {
                        "1 new video filed into the existing clusters".to_string()
                    }
                    Some(Grouping::Filed { videos }) => {
                        format!("{videos} new videos filed into the existing clusters")
                    }
                };
                // Finding duplicates and clips needs the dense index: it is built
                // now, in the same job, once the library is organised (a cancel
                // keeps what is indexed; the next job goes on from there).
                let index = if cancel.is_cancelled() {
                    String::new()
                } else {
                    let r = self.index(&mut cat, progress, cancel)?;
                    match r.indexed {
                        0 => String::new(),
                        n => format!("; {n} indexed for finding"),
                    }
                };
                let copies = match embedded.copies {
                    0 => String::new(),
                    1 => " (1 a copy of another file)".into(),
                    n => format!(" ({n} copies of other files)"),
                };
                Ok(format!(
                    "{} found, {} new, {} embedded{copies}, {} could not be used; {msg}{index}",
                    scan.files_seen,
                    scan.new,
                    embedded.embedded,
                    scan.failed + embedded.failed
                ))
            }
            JobKind::Recluster { k, method, adapt } => {
                let model = &self.engine.model;
                let mut note = String::new();
                if *adapt
                    || (*method != Method::Mean && learn::trained_head(&cat, model)?.is_none())
                {
                    let r =
                        learn::adapt(&mut cat, model, &HeadOptions::default(), progress, cancel)?;
                    if r.cancelled {
                        return Ok(format!(
                            "adapting stopped at step {} of {}; start again to continue",
                            r.steps,
                            HeadOptions::default().steps
                        ));
                    }
                    note = match r.skipped {
                        Some(why) => format!("; not adapted: {why}"),
                        None => format!("; adapted to {} videos in {:.0} s", r.videos, r.seconds),
                    };
                }
                progress.event(Event::Stage {
                    stage: "cluster".into(),
                    total: 0,
                });
                let opts = ClusterOptions {
                    k: match k {
                        Some(k) if *k > 0 => KChoice::Fixed(*k),
                        _ => KChoice::Auto,
                    },
                    method: if *adapt && *method == Method::Mean {
                        Method::Adapt
                    } else {
                        *method
                    },
                    ..ClusterOptions::default()
                };
                let s = clustering::cluster_library(&mut cat, model, &opts)?;
                // The map follows the space the videos are now clustered in.
                pipeline::compute_map(&mut cat, model, "video", progress)?;
                Ok(format!(
                    "{} videos in {} clusters ({}){note}",
                    s.videos, s.k, s.k_method
                ))
            }
            JobKind::Map(kind) => {
                let n = self.map(&mut cat, kind, progress)?;
                Ok(format!("map of {n} {kind}s"))
            }
            JobKind::Index => {
                let r = self.index(&mut cat, progress, cancel)?;
                Ok(format!(
                    "{} of {} videos indexed ({} frames){}",
                    r.indexed,
                    r.videos,
                    r.frames,
                    match r.failed {
                        0 => String::new(),
                        n => format!("; {n} could not be read"),
                    }
                ))
            }
        }
    }

    fn index(
        &self,
        cat: &mut Catalogue,
        progress: &JobProgress,
        cancel: &Cancel,
    ) -> Result<dense::IndexReport> {
        let embedder = self.embedder()?;
        let r = dense::index_library(cat, &embedder, &self.engine.embed.decode, progress, cancel)?;
        if r.indexed > 0 && !r.cancelled {
            // Built now, so that the first search does not wait for it.
            FrameIndex::for_catalogue(cat, &self.engine.model)?;
        }
        Ok(r)
    }

    pub fn decode_options(&self) -> reelmap_media::DecodeOptions {
        self.engine.embed.decode
    }

    fn map(&self, cat: &mut Catalogue, kind: &str, progress: &JobProgress) -> Result<usize> {
        pipeline::compute_map(cat, &self.engine.model, kind, progress)
    }
}
