//! The nearest-neighbour index over every informative dense frame of a library: an
//! HNSW graph (the `instant-distance` crate) on the first 64 values of each code,
//! which finds the candidate videos; the exact alignment then reads their full codes.
//! Saved beside the catalogue and rebuilt when the dense index changed.

use super::dense::DenseFrames;
use crate::store::Catalogue;
use anyhow::{Context, Result};
use instant_distance::{Builder, HnswMap, Point, Search};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Values of a code the graph compares (a random projection of the feature as well).
pub const KEY_DIMS: usize = 64;
/// Bumped when the saved format changes.
const FORMAT: u32 = 1;

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
    signature: (i64, i64, i64),
    map: HnswMap<Key, FrameRef>,
}

/// The index of a library's dense frames.
pub struct FrameIndex {
    map: HnswMap<Key, FrameRef>,
    pub points: usize,
}

impl FrameIndex {
    /// Builds the index of these videos' informative frames.
    pub fn build(videos: &[(i64, DenseFrames)]) -> FrameIndex {
        let mut keys = Vec::new();
        let mut refs = Vec::new();
        for (id, d) in videos {
            for i in 0..d.len() {
                if d.informative[i] {
                    keys.push(Key::of(d.code(i)));
                    refs.push((*id, i as u32));
                }
            }
        }
        let points = keys.len();
        let map = Builder::default()
            .ef_construction(100)
            .ef_search(64)
            .seed(0x5EED)
            .build(keys, refs);
        FrameIndex { map, points }
    }

    /// The `k` frames nearest to this code (cosine similarity, best first).
    pub fn nearest(&self, code: &[i8], k: usize) -> Vec<(FrameRef, f32)> {
        if self.points == 0 {
            return vec![];
        }
        let mut search = Search::default();
        self.map
            .search(&Key::of(code), &mut search)
            .take(k)
            .map(|item| (*item.value, 1.0 - item.distance))
            .collect()
    }

    /// The index of the catalogue's dense frames for `model`: the saved one when it
    /// is current, else built (and saved) anew.
    pub fn for_catalogue(cat: &Catalogue, model: &str) -> Result<FrameIndex> {
        let signature = cat.dense_summary(model)?;
        let path = index_path(cat.path(), model);
        if let Some(saved) = load(&path)
            && saved.format == FORMAT
            && saved.signature == signature
        {
            let points = saved.map.iter().count();
            return Ok(FrameIndex {
                map: saved.map,
                points,
            });
        }
        let index = FrameIndex::build(&cat.all_dense_frames(model)?);
        let saved = Saved {
            format: FORMAT,
            signature,
            map: index.map,
        };
        // An index that cannot be saved is rebuilt next time; nothing is lost.
        let _ = save(&path, &saved);
        Ok(FrameIndex {
            map: saved.map,
            points: index.points,
        })
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
    let file = std::fs::File::create(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
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
        let videos: Vec<(i64, DenseFrames)> = (0..20).map(|v| (v as i64 + 1, video(v, 30))).collect();
        let index = FrameIndex::build(&videos);
        assert_eq!(index.points, 20 * 29, "uninformative frames are not indexed");
        for (id, d) in videos.iter().step_by(3) {
            for i in [1usize, 7, 29] {
                let best = index.nearest(d.code(i), 3);
                assert_eq!(best[0].0, (*id, i as u32));
                assert!(best[0].1 > 0.99 && best[1].1 < 0.5);
            }
        }
        assert_eq!(CODE_DIMS % KEY_DIMS, 0);
    }
}
