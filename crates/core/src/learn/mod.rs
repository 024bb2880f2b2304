//! Learning from the library itself and from the person: [`head`] adapts the
//! clustering space to the library's own frames (temporal coherency), [`scan`]
//! refines a partition so that neighbours agree (SCAN), [`relabel`] spreads what a
//! person taught to the videos near it. This module connects them to the catalogue.

pub mod head;
pub mod relabel;
pub mod scan;

use crate::clustering::{self, FeatureSpace};
use crate::progress::{Cancel, Event, Progress};
use crate::store::Catalogue;
use crate::store::learning::StoredHead;
use anyhow::Result;
use head::{Checkpoint, HEAD_FORMAT, Head, HeadOptions, TrainingSet};

/// Steps between stored checkpoints of a training run.
const CHECKPOINT_EVERY: usize = 25;

/// What is stored beside a head's weights.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct HeadDetails {
    pub options: HeadOptions,
    pub inputs: usize,
    /// The space its inputs are centred in (the library's means when it was trained).
    pub space: FeatureSpace,
    /// The videos it learnt from.
    pub videos: usize,
    pub losses: Vec<f32>,
    pub seconds: f64,
}

/// What [`adapt`] did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AdaptReport {
    pub videos: usize,
    /// Why nothing was trained, when it was not.
    pub skipped: Option<String>,
    pub steps: usize,
    /// Steps taken before this run (resumed from a checkpoint).
    pub resumed_at: usize,
    pub first_loss: Option<f32>,
    pub last_loss: Option<f32>,
    pub seconds: f64,
    pub cancelled: bool,
}

/// The library's frames and concepts as the head learns from them, in the space
/// fitted to the library, in [`clustering::load_points`] order.
pub fn training_set(cat: &Catalogue, model: &str) -> Result<(TrainingSet, FeatureSpace)> {
    let pts = clustering::load_points(cat, model)?;
    training_set_of(cat, model, &pts.ids, &pts.descriptors, &pts.class_probs)
}

/// [`training_set`] of some videos (with their descriptors and class probabilities).
pub fn training_set_of(
    cat: &Catalogue,
    model: &str,
    ids: &[i64],
    descriptors: &[Vec<f32>],
    class_probs: &[Vec<f32>],
) -> Result<(TrainingSet, FeatureSpace)> {
    let space = FeatureSpace::fit(descriptors, class_probs);
    let mut frames = Vec::with_capacity(ids.len());
    let mut concepts = Vec::with_capacity(ids.len());
    for ((id, probs), desc) in ids.iter().zip(class_probs).zip(descriptors) {
        let mut f: Vec<Vec<f32>> = cat
            .frame_features(*id, model)?
            .into_iter()
            .map(|(_, feature)| space.centre_descriptor(&feature))
            .collect();
        if f.is_empty() {
            f.push(space.centre_descriptor(desc));
        }
        frames.push(f);
        concepts.push(space.centre_concept(probs));
    }
    Ok((TrainingSet { frames, concepts }, space))
}

/// Trains the library's head for `model` and stores it in the catalogue, resuming a
/// run that was cancelled with the same options. Libraries smaller than
/// `opts.min_videos` are not adapted (any old head is removed, so that the plain space
/// is used). Progress goes to `progress` as the stage "adapt"; `cancel` stops after
/// the current step, keeping a checkpoint.
pub fn adapt(
    cat: &mut Catalogue,
    model: &str,
    opts: &HeadOptions,
    progress: &dyn Progress,
    cancel: &Cancel,
) -> Result<AdaptReport> {
    let started = std::time::Instant::now();
    let (set, space) = training_set(cat, model)?;
    let videos = set.frames.len();
    let mut report = AdaptReport {
        videos,
        skipped: None,
        steps: 0,
        resumed_at: 0,
        first_loss: None,
        last_loss: None,
        seconds: 0.0,
        cancelled: false,
    };
    if videos < opts.min_videos.max(2) {
        cat.delete_head(model)?;
        report.skipped = Some(format!(
            "{videos} videos are too few to learn from (adapting starts at {}); the plain space is kept",
            opts.min_videos.max(2)
        ));
        return Ok(report);
    }
    let inputs = set.frames[0][0].len() + set.concepts[0].len();
    // A checkpoint of the same run (same options, same library) is resumed.
    let resume = cat.head(model)?.and_then(|h| {
        let d: HeadDetails = serde_json::from_str(&h.details).ok()?;
        let same = !h.done
            && h.format == HEAD_FORMAT
            && d.options == *opts
            && d.videos == videos
            && d.space == space;
        same.then(|| {
            Head::from_bytes(inputs, opts.hidden, opts.out, &h.weights)
                .ok()
                .map(|head| Checkpoint {
                    head,
                    step: h.step,
                    rng: h.rng,
                    losses: d.losses,
                })
        })?
    });
    report.resumed_at = resume.as_ref().map_or(0, |c| c.step);
    let stage = "adapt".to_string();
    progress.event(Event::Stage {
        stage: stage.clone(),
        total: opts.steps as u64,
    });
    let store = |cat: &Catalogue, ck: &Checkpoint, done: bool| -> Result<()> {
        let details = HeadDetails {
            options: opts.clone(),
            inputs,
            space: space.clone(),
            videos,
            losses: ck.losses.clone(),
            seconds: started.elapsed().as_secs_f64(),
        };
        cat.save_head(&StoredHead {
            model: model.to_string(),
            format: HEAD_FORMAT,
            done,
            step: ck.step,
            rng: ck.rng,
            weights: ck.head.to_bytes(),
            details: serde_json::to_string(&details)?,
        })
    };
    let ck = {
        let mut on_step = |done: usize, total: usize, loss: f32| {
            progress.event(Event::Item {
                stage: stage.clone(),
                done: done as u64,
                total: total as u64,
                current: format!("loss {loss:.3}"),
            });
            !cancel.is_cancelled()
        };
        let cat_ref: &Catalogue = cat;
        let mut save = |ck: &Checkpoint| store(cat_ref, ck, false);
        head::train(
            &set,
            opts,
            resume,
            &mut on_step,
            CHECKPOINT_EVERY,
            &mut save,
        )?
    };
    let finished = ck.step >= opts.steps;
    store(cat, &ck, finished)?;
    progress.event(Event::StageDone { stage });
    report.steps = ck.step;
    report.first_loss = ck.losses.first().copied();
    report.last_loss = ck.losses.last().copied();
    report.cancelled = !finished;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// The finished head of `model` and the details it was stored with, if there is one
/// that this build can use.
pub fn trained_head(cat: &Catalogue, model: &str) -> Result<Option<(Head, HeadDetails)>> {
    let Some(h) = cat.head(model)? else {
        return Ok(None);
    };
    if !h.done || h.format != HEAD_FORMAT {
        return Ok(None);
    }
    let Ok(d) = serde_json::from_str::<HeadDetails>(&h.details) else {
        return Ok(None);
    };
    let head = Head::from_bytes(d.inputs, d.options.hidden, d.options.out, &h.weights)?;
    Ok(Some((head, d)))
}

/// A video that probably belongs in a cluster.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Suggestion {
    pub video_id: i64,
    /// How sure: label spreading's confidence (1.0 = as sure as a taught video), or
    /// for clusters nobody taught, how much closer the video is to this cluster's
    /// centre than to its own one's (cosine).
    pub score: f32,
    /// "taught" or "closer".
    pub reason: &'static str,
}

/// Videos of other clusters (not placed there by the person, not rejected for this
/// cluster) that probably belong in `cluster_id`, most likely first.
pub fn suggestions(
    cat: &Catalogue,
    model: &str,
    cluster_id: i64,
    limit: usize,
) -> Result<Vec<Suggestion>> {
    let pts = clustering::load_points(cat, model)?;
    if pts.ids.is_empty() {
        return Ok(vec![]);
    }
    let data = clustering::points_in_library_space(cat, model, &pts)?;
    let assignments = cat.assignments()?;
    let cluster_of: std::collections::HashMap<i64, (i64, crate::store::Source)> = assignments
        .iter()
        .map(|a| (a.video_id, (a.cluster_id, a.source)))
        .collect();
    let rejected: std::collections::HashSet<i64> = cat
        .rejections()?
        .into_iter()
        .filter(|(_, c)| *c == cluster_id)
        .map(|(v, _)| v)
        .collect();
    let candidate = |v: i64| {
        !rejected.contains(&v)
            && match cluster_of.get(&v) {
                Some((c, src)) => *c != cluster_id && *src != crate::store::Source::User,
                None => true,
            }
    };
    let taught_here = assignments
        .iter()
        .any(|a| a.cluster_id == cluster_id && a.source == crate::store::Source::User);
    let mut out = Vec::new();
    if taught_here {
        let reached = clustering::assign::taught_clusters_scored(cat, &pts.ids, &data)?;
        for (i, (c, confidence, accepted)) in reached {
            if c == cluster_id && accepted && candidate(pts.ids[i]) {
                out.push(Suggestion {
                    video_id: pts.ids[i],
                    score: confidence,
                    reason: "taught",
                });
            }
        }
    } else {
        let centroids: std::collections::HashMap<i64, Vec<f32>> =
            cat.centroids(model)?.into_iter().collect();
        let Some(here) = centroids
            .get(&cluster_id)
            .filter(|c| c.len() == data[0].len())
        else {
            return Ok(vec![]);
        };
        for (i, v) in pts.ids.iter().enumerate() {
            if !candidate(*v) {
                continue;
            }
            let own = cluster_of
                .get(v)
                .and_then(|(c, _)| centroids.get(c))
                .filter(|c| c.len() == data[i].len())
                .map_or(0.0, |c| reelmap_numeric::dot(&data[i], c));
            let margin = reelmap_numeric::dot(&data[i], here) - own;
            // Nearly as close to this cluster as to its own.
            if margin > -0.02 {
                out.push(Suggestion {
                    video_id: *v,
                    score: margin,
                    reason: "closer",
                });
            }
        }
    }
    out.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(a.video_id.cmp(&b.video_id))
    });
    out.truncate(limit);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clustering::LibrarySpace;
    use crate::store::{EmbeddingRecord, FrameRecord};

    /// A catalogue of `videos` generated videos in `groups` groups: each group a
    /// direction in a few feature dimensions, each video a point near it, its frames
    /// that point plus strong frame-to-frame noise in every dimension (camera
    /// motion, lighting): what temporal coherency learns to see through.
    fn library(
        videos: usize,
        groups: usize,
    ) -> (tempfile::TempDir, Catalogue, Vec<i64>, Vec<usize>) {
        let dir = tempfile::tempdir().unwrap();
        let mut cat = Catalogue::open(&dir.path().join("c.sqlite3")).unwrap();
        let root = cat.add_root(dir.path()).unwrap();
        let mut rng = reelmap_numeric::SplitMix64::seeded(9);
        let dims = 1280;
        let centres: Vec<Vec<f32>> = (0..groups)
            .map(|_| {
                (0..dims)
                    .map(|d| {
                        if d < 64 {
                            3.0 * rng.normal() as f32
                        } else {
                            0.0
                        }
                    })
                    .collect()
            })
            .collect();
        let (mut ids, mut truth) = (Vec::new(), Vec::new());
        for v in 0..videos {
            let g = v % groups;
            let id = cat
                .insert_video(root, &dir.path().join(format!("v{v}.mp4")), 1, 1, None)
                .unwrap();
            let own: Vec<f32> = centres[g]
                .iter()
                .map(|c| c + 0.3 * rng.normal() as f32)
                .collect();
            let frames: Vec<FrameRecord> = (0..8)
                .map(|i| {
                    let mut f: Vec<f32> = own
                        .iter()
                        .map(|c| c + NOISE * rng.normal() as f32)
                        .collect();
                    reelmap_numeric::l2_normalize(&mut f);
                    FrameRecord {
                        ts_ms: i * 1000,
                        feature: f,
                        top_classes: vec![],
                        thumb_jpeg: None,
                    }
                })
                .collect();
            let mut descriptor = vec![0f32; dims];
            for f in &frames {
                descriptor
                    .iter_mut()
                    .zip(&f.feature)
                    .for_each(|(a, b)| *a += b);
            }
            reelmap_numeric::l2_normalize(&mut descriptor);
            // Every video spreads its class probabilities evenly: the concept part
            // carries nothing, the frames must do it.
            let class_probs = vec![1.0 / 1000.0; 1000];
            cat.store_embedding(&EmbeddingRecord {
                video_id: id,
                model: "m".into(),
                sampler: "uniform:8".into(),
                descriptor,
                class_probs,
                frames,
                poster: None,
            })
            .unwrap();
            ids.push(id);
            truth.push(g);
        }
        (dir, cat, ids, truth)
    }

    const NOISE: f32 = 8.0;

    fn accuracy(points: &[Vec<f32>], truth: &[usize], k: usize) -> f64 {
        let km = crate::clustering::kmeans::kmeans(points, k, 10, 1);
        crate::metrics::score(truth, &km.labels).accuracy
    }

    #[test]
    fn the_adapted_space_separates_groups_at_least_as_well_as_the_mean() {
        let (_d, mut cat, _, truth) = library(120, 6);
        let opts = HeadOptions {
            hidden: 64,
            out: 32,
            steps: 80,
            batch: 64,
            min_videos: 50,
            ..Default::default()
        };
        let r = adapt(
            &mut cat,
            "m",
            &opts,
            &crate::progress::Silent,
            &Cancel::new(),
        )
        .unwrap();
        assert_eq!((r.skipped.clone(), r.steps), (None, 80), "{r:?}");
        assert!(r.last_loss.unwrap() < r.first_loss.unwrap());
        let pts = clustering::load_points(&cat, "m").unwrap();
        let plain = LibrarySpace::plain(&pts.descriptors, &pts.class_probs)
            .transform_all(&pts.descriptors, &pts.class_probs)
            .unwrap();
        let (head, details) = trained_head(&cat, "m").unwrap().expect("stored");
        let adapted =
            LibrarySpace::adapted(details.space, head, &pts.descriptors, &pts.class_probs)
                .unwrap()
                .transform_all(&pts.descriptors, &pts.class_probs)
                .unwrap();
        let (a, b) = (accuracy(&plain, &truth, 6), accuracy(&adapted, &truth, 6));
        assert!(b >= a, "adapted {b} against mean {a}");
    }

    #[test]
    fn small_libraries_are_not_adapted_and_runs_resume() {
        let (_d, mut cat, _, _) = library(30, 3);
        let skip = adapt(
            &mut cat,
            "m",
            &HeadOptions::default(),
            &crate::progress::Silent,
            &Cancel::new(),
        )
        .unwrap();
        assert!(skip.skipped.is_some());
        assert!(trained_head(&cat, "m").unwrap().is_none());
        // Cancelled at once: a checkpoint after one step, then resumed to the end.
        let opts = HeadOptions {
            hidden: 16,
            out: 8,
            steps: 30,
            batch: 16,
            min_videos: 10,
            ..Default::default()
        };
        let cancel = Cancel::new();
        cancel.cancel();
        let first = adapt(&mut cat, "m", &opts, &crate::progress::Silent, &cancel).unwrap();
        assert!(first.cancelled && first.steps == 1, "{first:?}");
        assert!(trained_head(&cat, "m").unwrap().is_none(), "not finished");
        let rest = adapt(
            &mut cat,
            "m",
            &opts,
            &crate::progress::Silent,
            &Cancel::new(),
        )
        .unwrap();
        assert_eq!(
            (rest.resumed_at, rest.steps, rest.cancelled),
            (1, 30, false)
        );
        assert!(trained_head(&cat, "m").unwrap().is_some());
    }

    #[test]
    fn a_new_video_joins_the_cluster_a_person_taught() {
        let (dir, mut cat, ids, truth) = library(40, 2);
        let opts = clustering::ClusterOptions {
            unsorted: false,
            ..Default::default()
        };
        clustering::cluster_library(&mut cat, "m", &opts).unwrap();
        let group0: Vec<i64> = ids
            .iter()
            .zip(&truth)
            .filter(|(_, g)| **g == 0)
            .map(|(v, _)| *v)
            .collect();
        // The person files three videos of group 0 into a folder of their own.
        let mine = crate::store::edits::move_videos(
            &mut cat,
            &group0[..3],
            &crate::store::edits::Target::New("Mine".into()),
        )
        .unwrap()
        .cluster_id
        .unwrap();
        // A new video showing what one of the videos the person filed shows.
        let root = cat.roots().unwrap()[0].0;
        let new = cat
            .insert_video(root, &dir.path().join("new.mp4"), 2, 2, None)
            .unwrap();
        assert!(cat.copy_embedding(group0[0], new, "m").unwrap());
        assert_eq!(clustering::assign_new_videos(&mut cat, "m").unwrap(), 1);
        let placed = cat
            .assignments()
            .unwrap()
            .into_iter()
            .find(|a| a.video_id == new)
            .unwrap();
        assert_eq!(
            placed.cluster_id, mine,
            "filed where the person taught, not by centroid"
        );
        assert_eq!(placed.source, crate::store::Source::Auto);
        // And the suggestions for "Mine" offer the rest of group 0.
        let s = suggestions(&cat, "m", mine, 50).unwrap();
        assert!(!s.is_empty());
        assert!(s.iter().all(|x| group0.contains(&x.video_id)), "{s:?}");
        // A rejected suggestion is not offered again.
        cat.reject_suggestion(s[0].video_id, mine).unwrap();
        assert!(
            suggestions(&cat, "m", mine, 50)
                .unwrap()
                .iter()
                .all(|x| x.video_id != s[0].video_id)
        );
    }
}
