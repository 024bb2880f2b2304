//! The nearest-neighbour index over every informative dense frame of a library: an
//! HNSW graph (the `instant-distance` crate) on the first 64 values of each code,
//! which finds the candidate videos; the exact alignment then reads their full codes.
//! Saved beside the catalogue and rebuilt when the dense index changed.

use super::dense::{self, DenseFrames};
use crate::store::Catalogue;
use anyhow::{Context, Result};
use instant_distance::{Builder, HnswMap, Point, Search};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// Values of a code the graph compares (a random projection of the feature as well).
pub const KEY_DIMS: usize = 64;
/// Bumped when the saved format changes.
const FORMAT: u32 = 2;
/// A frame this similar to the previous indexed frame of its video is left out.
const REDUNDANT: f32 = 0.95;
/// Graph quality against build time: 100 000 videos must index in minutes.
const EF_CONSTRUCTION: usize = 48;

/// A frame as the graph sees it.
#[derive(Clone, Serialize, Deserialize)]
pub struct Key {
    #[serde(with = "serde_big_array::BigArray")]
    v: [i8; KEY_DIMS],
    inv_norm: f32,
}

impl Key {
    pub fn of(code: &[i8]) -> Key {
        let mut v = [0i8; KEY_DIMS];
        v.copy_from_slice(&code[..KEY_DIMS]);
        let n: i32 = v.iter().map(|&x| x as i32 * x as i32).sum();
        Key {
            v,
            inv_norm: if n > 0 { 1.0 / (n as f32).sqrt() } else { 0.0 },
        }
    }
}

impl Point for Key {
    /// Cosine distance.
    fn distance(&self, other: &Self) -> f32 {
        let d: i32 = self
            .v
            .iter()
            .zip(&other.v)
            .map(|(&a, &b)| a as i32 * b as i32)
            .sum();
        1.0 - d as f32 * self.inv_norm * other.inv_norm
    }
}

/// Which frame a point is: (video id, frame index).
pub type FrameRef = (i64, u32);

#[derive(Serialize, Deserialize)]
struct Saved {
    format: u32,
    /// The videos in the graph, with the version of their dense frames.
    covered: Vec<(i64, i64)>,
    map: HnswMap<Key, FrameRef>,
}

/// The index of a library's dense frames: a graph built once, plus the videos
/// indexed since, compared exhaustively until there are enough of them to rebuild
/// (the graph cannot take new points, and rebuilding 100 000 videos takes minutes).
pub struct FrameIndex {
    map: HnswMap<Key, FrameRef>,
    /// Points of the graph.
    pub points: usize,
    /// Videos in the graph that are gone or were re-indexed: their points are skipped.
    stale: HashSet<i64>,
    /// Points of videos indexed after the graph was built.
    recent: Vec<(Key, FrameRef)>,
}

/// The graph is rebuilt when this many videos are not in it (or stale), plus a
/// share of its size: the exhaustive part stays small next to the graph.
const REBUILD_AFTER: usize = 500;
const REBUILD_SHARE: f64 = 0.05;

/// The points of these videos' informative frames, leaving out frames that look like
/// the last one kept of their video (a still shot is one point, not one per second).
fn points_of(videos: &[(i64, DenseFrames)]) -> (Vec<Key>, Vec<FrameRef>) {
    let mut keys = Vec::new();
    let mut refs = Vec::new();
    for (id, d) in videos {
        let mut last: Option<Vec<f32>> = None;
        for i in 0..d.len() {
            if !d.informative[i] {
                continue;
            }
            let v = dense::decode(d.code(i));
            if last
                .as_ref()
                .is_some_and(|l| reelmap_numeric::dot(l, &v) > REDUNDANT)
            {
                continue;
            }
            keys.push(Key::of(d.code(i)));
            refs.push((*id, i as u32));
            last = Some(v);
        }
    }
    (keys, refs)
}

fn graph(keys: Vec<Key>, refs: Vec<FrameRef>) -> HnswMap<Key, FrameRef> {
    Builder::default()
        .ef_construction(EF_CONSTRUCTION)
        .ef_search(64)
        .seed(0x5EED)
        .build(keys, refs)
}

impl FrameIndex {
    /// Builds the index of these videos' informative frames.
    pub fn build(videos: &[(i64, DenseFrames)]) -> FrameIndex {
        let (keys, refs) = points_of(videos);
        let points = keys.len();
        FrameIndex {
            map: graph(keys, refs),
            points,
            stale: HashSet::new(),
            recent: vec![],
        }
    }

    /// The `k` frames nearest to this code (cosine similarity, best first).
    pub fn nearest(&self, code: &[i8], k: usize) -> Vec<(FrameRef, f32)> {
        let key = Key::of(code);
        let mut out: Vec<(FrameRef, f32)> = Vec::with_capacity(2 * k);
        if self.points > 0 {
            let mut search = Search::default();
            out.extend(
                self.map
                    .search(&key, &mut search)
                    .filter(|item| !self.stale.contains(&item.value.0))
                    .take(k)
                    .map(|item| (*item.value, 1.0 - item.distance)),
            );
        }
        for (p, r) in &self.recent {
            out.push((*r, 1.0 - key.distance(p)));
        }
        out.sort_by(|a, b| b.1.total_cmp(&a.1));
        out.truncate(k);
        out
    }

    /// The index of the catalogue's dense frames for `model`: the saved graph with
    /// the videos indexed since, or a new graph (saved) when too many are.
    pub fn for_catalogue(cat: &Catalogue, model: &str) -> Result<FrameIndex> {
        let current = cat.dense_versions(model)?;
        let path = index_path(cat.path(), model);
        if let Some(saved) = load(&path).filter(|s| s.format == FORMAT) {
            let covered: HashMap<i64, i64> = saved.covered.iter().copied().collect();
            let now: HashMap<i64, i64> = current.iter().copied().collect();
            let mut stale: HashSet<i64> = covered
                .iter()
                .filter(|(id, version)| now.get(id) != Some(version))
                .map(|(id, _)| *id)
                .collect();
            let missing: Vec<i64> = current
                .iter()
                .filter(|(id, version)| covered.get(id) != Some(version))
                .map(|(id, _)| *id)
                .collect();
            let changes = stale.len().max(missing.len());
            if changes <= REBUILD_AFTER + (REBUILD_SHARE * covered.len() as f64) as usize {
                let mut videos = Vec::with_capacity(missing.len());
                for id in missing {
                    if let Some(d) = cat.dense_frames(id, model)? {
                        videos.push((id, d));
                    }
                }
                let (keys, refs) = points_of(&videos);
                stale.shrink_to_fit();
                let points = saved.map.iter().count();
                return Ok(FrameIndex {
                    map: saved.map,
                    points,
                    stale,
                    recent: keys.into_iter().zip(refs).collect(),
                });
            }
        }
        let index = FrameIndex::build(&cat.all_dense_frames(model)?);
        let saved = Saved {
            format: FORMAT,
            covered: current,
            map: index.map,
        };
        // An index that cannot be saved is rebuilt next time; nothing is lost.
        let _ = save(&path, &saved);
        Ok(FrameIndex {
            map: saved.map,
            ..index
        })
    }

    /// A digest of what the index of the catalogue would hold now: equal digests,
    /// same index (a front end keeps the index in memory while it is unchanged).
    pub fn signature(cat: &Catalogue, model: &str) -> Result<u64> {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        cat.dense_versions(model)?.hash(&mut h);
        Ok(h.finish())
    }

    /// Points compared exhaustively (videos indexed after the graph was built).
    pub fn recent_points(&self) -> usize {
        self.recent.len()
    }
}

impl FrameIndex {
    /// Whether an index of the catalogue has been saved (current or not).
    pub fn saved_for(cat: &Catalogue, model: &str) -> Result<bool> {
        Ok(index_path(cat.path(), model).exists())
    }
}

/// Where the index of a catalogue is kept: beside it.
fn index_path(catalogue: &Path, model: &str) -> PathBuf {
    let name = catalogue
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "catalogue".into());
    catalogue.with_file_name(format!("{name}.{model}.frames.hnsw"))
}

fn load(path: &Path) -> Option<Saved> {
    let file = std::fs::File::open(path).ok()?;
    bincode::deserialize_from(std::io::BufReader::new(file)).ok()
}

fn save(path: &Path, saved: &Saved) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let file =
        std::fs::File::create(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
    bincode::serialize_into(std::io::BufWriter::new(file), saved)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::find::dense::{CODE_DIMS, encode};

    fn video(seed: u64, frames: usize) -> DenseFrames {
        let mut rng = reelmap_numeric::SplitMix64::seeded(seed);
        let mut d = DenseFrames {
            fps: 1.0,
            times: vec![],
            codes: vec![],
            informative: vec![],
            layouts: vec![],
        };
        for i in 0..frames {
            let f: Vec<f32> = (0..1280).map(|_| rng.normal() as f32).collect();
            d.times.push(i as u32 * 1000);
            d.codes.extend(encode(&f));
            d.informative.push(i != 0);
        }
        d
    }

    #[test]
    fn finds_the_frame_a_code_came_from() {
        let videos: Vec<(i64, DenseFrames)> =
            (0..20).map(|v| (v as i64 + 1, video(v, 30))).collect();
        let index = FrameIndex::build(&videos);
        assert_eq!(
            index.points,
            20 * 29,
            "uninformative frames are not indexed"
        );
        for (id, d) in videos.iter().step_by(3) {
            for i in [1usize, 7, 29] {
                let best = index.nearest(d.code(i), 3);
                assert_eq!(best[0].0, (*id, i as u32));
                assert!(best[0].1 > 0.99 && best[1].1 < 0.5);
            }
        }
        assert_eq!(CODE_DIMS % KEY_DIMS, 0);
    }

    #[test]
    fn videos_indexed_later_are_found_and_replaced_ones_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let cat = Catalogue::open(&dir.path().join("c.sqlite3")).unwrap();
        let root = cat.add_root(dir.path()).unwrap();
        let add = |n: u64| {
            let id = cat
                .insert_video(root, &dir.path().join(format!("{n}.mp4")), 1, 0, None)
                .unwrap();
            cat.store_dense_frames(id, "m", &video(n, 12)).unwrap();
            id
        };
        let first: Vec<i64> = (0..10).map(add).collect();
        let index = FrameIndex::for_catalogue(&cat, "m").unwrap();
        assert_eq!((index.points, index.recent_points()), (10 * 11, 0));
        // A new video is searched exhaustively beside the saved graph.
        let new = add(100);
        let index = FrameIndex::for_catalogue(&cat, "m").unwrap();
        assert_eq!((index.points, index.recent_points()), (10 * 11, 11));
        assert_eq!(index.nearest(video(100, 12).code(5), 1)[0].0, (new, 5));
        // A re-indexed video's old frames are no longer found; its new ones are.
        cat.store_dense_frames(first[3], "m", &video(200, 12))
            .unwrap();
        let index = FrameIndex::for_catalogue(&cat, "m").unwrap();
        let old = index.nearest(video(3, 12).code(5), 1);
        assert!(old[0].1 < 0.5, "{old:?}");
        assert_eq!(index.nearest(video(200, 12).code(5), 1)[0].0, (first[3], 5));
    }

    #[test]
    fn a_still_shot_is_one_point() {
        let mut d = video(7, 2);
        let frame = d.code(1).to_vec();
        for i in 2..30 {
            d.times.push(i * 1000);
            d.codes.extend(&frame);
            d.informative.push(true);
        }
        assert_eq!(FrameIndex::build(&[(1, d)]).points, 1);
    }
}
