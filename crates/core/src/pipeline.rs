//! The whole job, written once for every front end (the CLI, the server's jobs, the
//! benchmark): scan → embed → cluster (or file new videos into the clusters there
//! are) → lay out the map.

use crate::clustering::{self, ClusterOptions, ClusterSummary, KChoice};
use crate::config::EngineConfig;
use crate::embed::{self, EmbedReport};
use crate::progress::{Cancel, Event, Progress};
use crate::scan::{self, ScanReport};
use crate::store::Catalogue;
use anyhow::Result;
use reelmap_model::Embedder;
use std::ops::Deref;
use std::path::PathBuf;

/// What [`ingest`] did: the scan, and the embedding of what was new.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Ingested {
    pub scan: ScanReport,
    pub embed: EmbedReport,
}

impl Ingested {
    /// Every file that could not be used, with the reason.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut all = self.scan.problems.clone();
        all.extend(self.embed.problems.iter().cloned());
        all
    }
}

/// How the videos found were put into clusters.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Grouping {
    /// The whole library was clustered (user choices kept).
    Clustered(ClusterSummary),
    /// New videos were filed into the existing clusters.
    Filed { videos: usize },
}

/// What [`organise`] should do beyond scanning and embedding.
#[derive(Debug, Clone)]
pub struct OrganiseOptions {
    pub clustering: ClusterOptions,
    /// Re-cluster even when clusters exist (user choices are kept). Clusters are
    /// also made anew when there are none yet, or when k is given.
    pub recluster: bool,
    /// Lay out the 2-D map of the videos afterwards (what the UI's map view shows).
    pub map: bool,
}

impl Default for OrganiseOptions {
    fn default() -> Self {
        OrganiseOptions {
            clustering: ClusterOptions::default(),
            recluster: false,
            map: true,
        }
    }
}

/// What [`organise`] did. `grouping` is None when it was cancelled before.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Organised {
    #[serde(flatten)]
    pub ingested: Ingested,
    pub grouping: Option<Grouping>,
    /// Points of the map laid out, when asked for.
    pub map_points: Option<usize>,
}

/// Scans `roots` and embeds every video that has no features yet. The model is
/// loaded by `load_model` on another thread while the scan runs (a fresh load takes
/// a while; a server passes its loaded one). Returns the model too.
pub fn ingest<E>(
    cat: &mut Catalogue,
    roots: &[PathBuf],
    engine: &EngineConfig,
    load_model: impl FnOnce() -> Result<E> + Send,
    progress: &dyn Progress,
    cancel: &Cancel,
) -> Result<(Ingested, E)>
where
    E: Deref<Target = Embedder> + Send,
{
    let (model, scanned) = std::thread::scope(|s| {
        let loading = s.spawn(load_model);
        let scanned = scan_with_progress(cat, roots, &engine.scan, progress);
        (loading.join().expect("loading the model panicked"), scanned)
    });
    let scan = scanned?;
    let model = model?;
    let embed = if cancel.is_cancelled() {
        EmbedReport::default()
    } else {
        embed::embed_pending(cat, &model, &engine.embed, progress, cancel)?
    };
    Ok((Ingested { scan, embed }, model))
}

/// [`ingest`], then the clusters: the whole library is clustered when there are no
/// clusters yet, when asked to re-cluster or when k is given; otherwise the new
/// videos are filed into the existing clusters. Then the map, if asked for.
pub fn organise<E>(
    cat: &mut Catalogue,
    roots: &[PathBuf],
    engine: &EngineConfig,
    opts: &OrganiseOptions,
    load_model: impl FnOnce() -> Result<E> + Send,
    progress: &dyn Progress,
    cancel: &Cancel,
) -> Result<Organised>
where
    E: Deref<Target = Embedder> + Send,
{
    let (ingested, model) = ingest(cat, roots, engine, load_model, progress, cancel)?;
    let mut done = Organised {
        ingested,
        grouping: None,
        map_points: None,
    };
    if cancel.is_cancelled() {
        return Ok(done);
    }
    let model = model.name().to_string();
    progress.event(Event::Stage {
        stage: "cluster".into(),
        total: 0,
    });
    let anew = opts.recluster
        || matches!(opts.clustering.k, KChoice::Fixed(_))
        || cat.clusters()?.is_empty();
    done.grouping = Some(if anew {
        Grouping::Clustered(clustering::cluster_library(cat, &model, &opts.clustering)?)
    } else {
        Grouping::Filed {
            videos: clustering::assign_new_videos(cat, &model)?,
        }
    });
    progress.event(Event::StageDone {
        stage: "cluster".into(),
    });
    if opts.map {
        done.map_points = Some(compute_map(cat, &model, "video", progress)?);
    }
    Ok(done)
}

/// Lays out the 2-D map of videos or frames (`kind`), reporting its iterations.
pub fn compute_map(
    cat: &mut Catalogue,
    model: &str,
    kind: &str,
    progress: &dyn Progress,
) -> Result<usize> {
    let stage = format!("map of {kind}s");
    progress.event(Event::Stage {
        stage: stage.clone(),
        total: 0,
    });
    let mut step = |i: usize, total: usize| {
        progress.event(Event::Item {
            stage: stage.clone(),
            done: i as u64,
            total: total as u64,
            current: String::new(),
        })
    };
    let n = crate::map::compute_map(cat, model, kind, &mut step)?;
    progress.event(Event::StageDone { stage });
    Ok(n)
}

/// The scan, its progress and its problems as events.
fn scan_with_progress(
    cat: &mut Catalogue,
    roots: &[PathBuf],
    opts: &scan::ScanOptions,
    progress: &dyn Progress,
) -> Result<ScanReport> {
    let stage = "scan".to_string();
    progress.event(Event::Stage {
        stage: stage.clone(),
        total: 0,
    });
    let step = |n: usize, path: &std::path::Path| {
        progress.event(Event::Item {
            stage: stage.clone(),
            done: n as u64,
            total: 0,
            current: path.display().to_string(),
        })
    };
    let report = scan::scan(cat, roots, opts, &step)?;
    for (path, reason) in &report.problems {
        progress.event(Event::Failed {
            stage: stage.clone(),
            path: path.clone(),
            reason: reason.clone(),
        });
    }
    progress.event(Event::StageDone { stage });
    Ok(report)
}
