//! `reelmap bench find`: how fast `find` answers against a large library, on
//! synthetic dense frames (decoding 100 000 real videos is not a benchmark one runs).
//!
//! Each synthetic video drifts through its content: a smooth random walk around one
//! of 200 topics, over a component every frame shares (as real network features
//! share one: unrelated frames are not orthogonal). The library holds each video at
//! 1 fps; a query is a 3-20 s stretch of one video at the clip rate, starting
//! between two library frames, with noise standing in for a re-encode.

use anyhow::Result;
use reelmap_core::find::ann::FrameIndex;
use reelmap_core::find::clip::{CLIP_FPS, find_frames};
use reelmap_core::find::dense::{CODE_DIMS, DenseFrames, quantise};
use reelmap_core::store::Catalogue;
use reelmap_numeric::SplitMix64;
use std::path::Path;
use std::time::Instant;

const TOPICS: u64 = 200;

#[derive(serde::Serialize)]
pub struct FindSpeed {
    videos: usize,
    frames_per_video: usize,
    indexed_frames: usize,
    catalogue_seconds: f64,
    index_build_seconds: Option<f64>,
    index_load_seconds: f64,
    queries: usize,
    query_ms_median: f64,
    query_ms_p95: f64,
    query_ms_max: f64,
    top1: f64,
    median_offset_error_s: f64,
}

fn unit(v: &mut [f32]) {
    reelmap_numeric::l2_normalize(v);
}

fn gaussian(rng: &mut SplitMix64) -> Vec<f32> {
    let mut v: Vec<f32> = (0..CODE_DIMS).map(|_| rng.normal() as f32).collect();
    unit(&mut v);
    v
}

/// The content of synthetic video `video` at whole seconds `0..=seconds`: its codes
/// (`layer` 0) or its layouts (`layer` 1, a walk of its own).
fn keyframes(video: usize, seconds: usize, layer: u64) -> Vec<Vec<f32>> {
    let salt = layer << 40;
    let shared = gaussian(&mut SplitMix64::from_state(0xC0FFEE ^ salt));
    let topic = gaussian(&mut SplitMix64::from_state(
        (0x7091C + video as u64 % TOPICS) ^ salt,
    ));
    let mut rng = SplitMix64::from_state((0xF11E_0000 + video as u64) ^ salt);
    let mut scene = gaussian(&mut rng);
    (0..=seconds)
        .map(|_| {
            let step = gaussian(&mut rng);
            scene
                .iter_mut()
                .zip(&step)
                .for_each(|(s, r)| *s = 0.85 * *s + 0.5 * r);
            unit(&mut scene);
            let mut v: Vec<f32> = (0..CODE_DIMS)
                .map(|i| 0.6 * shared[i] + 0.5 * topic[i] + 0.6 * scene[i])
                .collect();
            unit(&mut v);
            v
        })
        .collect()
}

/// The content at time `t` (s): linear between the keyframes.
fn at(keys: &[Vec<f32>], t: f64) -> Vec<f32> {
    let i = (t.floor() as usize).min(keys.len() - 2);
    let w = (t - i as f64).clamp(0.0, 1.0) as f32;
    let mut v: Vec<f32> = keys[i]
        .iter()
        .zip(&keys[i + 1])
        .map(|(a, b)| (1.0 - w) * a + w * b)
        .collect();
    unit(&mut v);
    v
}

fn library_video(video: usize, frames: usize) -> DenseFrames {
    let keys = keyframes(video, frames, 0);
    let layouts = keyframes(video, frames, 1);
    let mut d = DenseFrames {
        fps: 1.0,
        times: vec![],
        codes: vec![],
        informative: vec![],
        layouts: vec![],
    };
    for (i, (k, l)) in keys.iter().zip(&layouts).take(frames).enumerate() {
        d.times.push(i as u32 * 1000);
        d.codes.extend(quantise(k));
        d.layouts.extend(quantise(l));
        d.informative.push(true);
    }
    d
}

/// A clip of `video` from `offset` s, `seconds` long, with re-encoding noise.
fn query(
    video: usize,
    frames: usize,
    offset: f64,
    seconds: f64,
    rng: &mut SplitMix64,
) -> DenseFrames {
    let keys = keyframes(video, frames, 0);
    let layouts = keyframes(video, frames, 1);
    let mut d = DenseFrames {
        fps: CLIP_FPS,
        times: vec![],
        codes: vec![],
        informative: vec![],
        layouts: vec![],
    };
    let n = (seconds * CLIP_FPS) as usize;
    for i in 0..n {
        let t = offset + i as f64 / CLIP_FPS;
        let mut v = at(&keys, t);
        let noise = gaussian(rng);
        v.iter_mut().zip(&noise).for_each(|(x, e)| *x += 0.25 * e);
        d.times.push((i as f64 * 1000.0 / CLIP_FPS) as u32);
        d.codes.extend(quantise(&v));
        let mut l = at(&layouts, t);
        let noise = gaussian(rng);
        l.iter_mut().zip(&noise).for_each(|(x, e)| *x += 0.1 * e);
        d.layouts.extend(quantise(&l));
        d.informative.push(true);
    }
    d
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

pub fn query_speed(
    dir: &Path,
    videos: usize,
    frames: usize,
    queries: usize,
    model: &str,
) -> Result<FindSpeed> {
    anyhow::ensure!(
        videos > 0 && frames >= 4,
        "need videos and at least 4 frames each"
    );
    std::fs::create_dir_all(dir)?;
    let db = dir.join(format!("find-{videos}x{frames}.sqlite3"));
    let started = Instant::now();
    let cat = Catalogue::open(&db)?;
    let (have, _, _) = cat.dense_summary(model)?;
    let path_of = |v: usize| dir.join("synthetic").join(format!("{v:06}.mp4"));
    if (have as usize) < videos {
        let root = cat.add_root(&dir.join("synthetic"))?;
        for v in have as usize..videos {
            let id = cat.insert_video(root, &path_of(v), 1, 0, None)?;
            cat.store_dense_frames(id, model, &library_video(v, frames))?;
        }
    }
    let catalogue_seconds = started.elapsed().as_secs_f64();
    let index_file_existed = FrameIndex::saved_for(&cat, model)?;
    let started = Instant::now();
    let index = FrameIndex::for_catalogue(&cat, model)?;
    let build = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let index = if index_file_existed {
        index
    } else {
        // Time the load a later run pays, too.
        drop(index);
        FrameIndex::for_catalogue(&cat, model)?
    };
    let index_load_seconds = started.elapsed().as_secs_f64();
    let mut rng = SplitMix64::from_state(0x00EE_41E5);
    let (mut times, mut errors, mut right) = (vec![], vec![], 0usize);
    for _ in 0..queries {
        let v = rng.below(videos);
        let seconds = (3.0 + rng.next_f64() * 17.0).min(frames as f64 - 2.0);
        let offset = rng.next_f64() * (frames as f64 - 1.0 - seconds).max(0.0);
        let clip = query(v, frames, offset, seconds, &mut rng);
        let id = cat.video_by_path(&path_of(v))?.map(|r| r.id);
        let t = Instant::now();
        let found = find_frames(&cat, &index, model, &clip)?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        if let Some(best) = found.first()
            && Some(best.video_id) == id
        {
            right += 1;
            errors.push((best.offset_s - offset).abs());
        }
    }
    times.sort_by(f64::total_cmp);
    errors.sort_by(f64::total_cmp);
    Ok(FindSpeed {
        videos,
        frames_per_video: frames,
        indexed_frames: index.points,
        catalogue_seconds,
        index_build_seconds: (!index_file_existed).then_some(build),
        index_load_seconds,
        queries,
        query_ms_median: percentile(&times, 0.5),
        query_ms_p95: percentile(&times, 0.95),
        query_ms_max: times.last().copied().unwrap_or(f64::NAN),
        top1: right as f64 / queries.max(1) as f64,
        median_offset_error_s: percentile(&errors, 0.5),
    })
}
