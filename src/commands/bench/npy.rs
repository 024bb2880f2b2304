//! Research tools: matrices in and out as .npy files, so that the product's t-SNE and
//! clustering can be compared with other tools on the same data.

use anyhow::Result;
use reelmap_core::clustering::{self, ClusterOptions};
use reelmap_core::store::{Catalogue, VideoStatus};
use std::path::{Path, PathBuf};
use std::time::Instant;

fn read_npy_f32(path: &Path) -> Result<Vec<Vec<f32>>> {
    let buf = std::fs::read(path)?;
    anyhow::ensure!(
        buf.len() > 10 && &buf[..6] == b"\x93NUMPY",
        "{} is not a .npy file",
        path.display()
    );
    let (hlen, off) = if buf[6] == 1 {
        (u16::from_le_bytes([buf[8], buf[9]]) as usize, 10)
    } else {
        (
            u32::from_le_bytes([buf[8], buf[9], buf[10], buf[11]]) as usize,
            12,
        )
    };
    let header = std::str::from_utf8(&buf[off..off + hlen])?;
    anyhow::ensure!(
        header.contains("'<f4'") && header.contains("'fortran_order': False"),
        "need a C-order little-endian float32 matrix: {header}"
    );
    let shape = &header[header.find("'shape': (").map(|i| i + 10).unwrap_or(0)..];
    let dims: Vec<usize> = shape[..shape.find(')').unwrap_or(0)]
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    anyhow::ensure!(dims.len() == 2, "need a 2-D matrix, got shape {dims:?}");
    let body = &buf[off + hlen..];
    anyhow::ensure!(body.len() >= dims[0] * dims[1] * 4, "truncated .npy");
    Ok(body[..dims[0] * dims[1] * 4]
        .chunks_exact(dims[1] * 4)
        .map(reelmap_core::util::bytes_to_f32s)
        .collect())
}

fn write_npy_2d(path: &Path, rows: &[[f32; 2]]) -> Result<()> {
    let flat: Vec<f32> = rows.iter().flat_map(|r| [r[0], r[1]]).collect();
    write_npy(path, "<f4", rows.len(), 2, &flat, |x| x.to_le_bytes())
}

/// A C-order 2-D .npy file of `rows` × `cols` values.
fn write_npy<T: Copy, const N: usize>(
    path: &Path,
    descr: &str,
    rows: usize,
    cols: usize,
    values: &[T],
    bytes: impl Fn(T) -> [u8; N],
) -> Result<()> {
    anyhow::ensure!(values.len() == rows * cols, "shape mismatch");
    let mut header =
        format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': ({rows}, {cols}), }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((header.len() as u16).to_le_bytes());
    out.extend(header.as_bytes());
    for &v in values {
        out.extend(bytes(v));
    }
    std::fs::write(path, out)?;
    Ok(())
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ExportReport {
    pub videos: usize,
    pub frames: usize,
    pub categories: Vec<String>,
    pub dir: PathBuf,
}

/// `reelmap bench export`: the stored features of a labelled library (categories are
/// the top-level subfolders of `root`, as for `eval`) as .npy files, for research
/// outside the product: `frames.npy` (frame features, in time order per video),
/// `frame_video.npy` and `frame_ms.npy` (the video index and timestamp of each frame),
/// `descriptors.npy`, `concepts.npy` (the uncentred concept vectors), `points.npy`
/// (the clustering space `organise` uses), `labels.npy`, and `videos.txt` (path and
/// category of each video).
pub fn export_library(
    cat: &Catalogue,
    model: &str,
    root: &Path,
    dir: &Path,
) -> Result<ExportReport> {
    let labelled = reelmap_core::evaluate::truth_labels(cat, model, root)?;
    anyhow::ensure!(
        !labelled.is_empty(),
        "no embedded videos under {}",
        root.display()
    );
    std::fs::create_dir_all(dir)?;
    let mut categories: Vec<String> = labelled.iter().map(|l| l.category.clone()).collect();
    categories.sort();
    categories.dedup();
    let paths: std::collections::HashMap<i64, PathBuf> = cat
        .videos(Some(VideoStatus::Ok))?
        .into_iter()
        .map(|v| (v.id, v.path))
        .collect();
    let (mut frames, mut frame_video, mut frame_ms) = (Vec::new(), Vec::new(), Vec::new());
    let mut dims = 0;
    let mut listing = String::new();
    for (i, l) in labelled.iter().enumerate() {
        for (ts, f) in cat.frame_features(l.id, model)? {
            dims = f.len();
            frames.extend(f);
            frame_video.push(i as i64);
            frame_ms.push(ts);
        }
        listing.push_str(&format!("{}\t{}\n", paths[&l.id].display(), l.category));
    }
    let n = labelled.len();
    let raw: Vec<Vec<f32>> = labelled.iter().map(|l| l.descriptor.clone()).collect();
    let probs: Vec<Vec<f32>> = labelled.iter().map(|l| l.class_probs.clone()).collect();
    let points = clustering::FeatureSpace::fit(&raw, &probs).transform_all(&raw, &probs);
    let concepts: Vec<Vec<f32>> = probs
        .iter()
        .map(|p| clustering::concept_vector(p))
        .collect();
    let f32s = |x: f32| x.to_le_bytes();
    let i64s = |x: i64| x.to_le_bytes();
    let flat = |m: &[Vec<f32>]| m.concat();
    write_npy(
        &dir.join("frames.npy"),
        "<f4",
        frame_video.len(),
        dims,
        &frames,
        f32s,
    )?;
    write_npy(
        &dir.join("frame_video.npy"),
        "<i8",
        frame_video.len(),
        1,
        &frame_video,
        i64s,
    )?;
    write_npy(
        &dir.join("frame_ms.npy"),
        "<i8",
        frame_ms.len(),
        1,
        &frame_ms,
        i64s,
    )?;
    write_npy(
        &dir.join("descriptors.npy"),
        "<f4",
        n,
        raw[0].len(),
        &flat(&raw),
        f32s,
    )?;
    write_npy(
        &dir.join("class_probs.npy"),
        "<f4",
        n,
        probs[0].len(),
        &flat(&probs),
        f32s,
    )?;
    write_npy(
        &dir.join("concepts.npy"),
        "<f4",
        n,
        concepts[0].len(),
        &flat(&concepts),
        f32s,
    )?;
    write_npy(
        &dir.join("points.npy"),
        "<f4",
        n,
        points[0].len(),
        &flat(&points),
        f32s,
    )?;
    let labels: Vec<i64> = labelled
        .iter()
        .map(|l| categories.binary_search(&l.category).unwrap() as i64)
        .collect();
    write_npy(&dir.join("labels.npy"), "<i8", n, 1, &labels, i64s)?;
    std::fs::write(dir.join("videos.txt"), listing)?;
    Ok(ExportReport {
        videos: n,
        frames: frame_video.len(),
        categories,
        dir: dir.to_path_buf(),
    })
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ClusterRun {
    pub seed: u64,
    pub k_given: reelmap_core::metrics::Scores,
    pub k_auto: reelmap_core::metrics::Scores,
    pub k_chosen: usize,
}

/// `reelmap bench cluster`: the product's clustering (the consensus choice of k, and
/// k given as the number of categories) on any matrix of points, scored against
/// labels: so that a new feature space can be measured outside the product exactly as
/// `eval` would measure it. Rows are L2-normalised first.
pub fn cluster_npy(points: &Path, labels: &Path, seeds: &[u64]) -> Result<Vec<ClusterRun>> {
    let mut data = read_npy_f32(points)?;
    data.iter_mut()
        .for_each(|r| reelmap_numeric::vector::l2_normalize(r));
    let truth = read_labels(labels)?;
    anyhow::ensure!(
        truth.len() == data.len(),
        "{} labels for {} points",
        truth.len(),
        data.len()
    );
    let k_true = truth.iter().max().map_or(0, |m| m + 1);
    let n = data.len();
    let (no_copies, none) = (vec![false; n], vec![None; n]);
    seeds
        .iter()
        .map(|&seed| {
            let run = |k| {
                let opts = ClusterOptions {
                    k,
                    seed,
                    unsorted: false,
                    ..Default::default()
                };
                clustering::cluster_points(&data, &no_copies, &opts, &none, &[], 0)
            };
            let given = run(clustering::KChoice::Fixed(k_true));
            let auto = run(clustering::KChoice::Auto);
            Ok(ClusterRun {
                seed,
                k_given: reelmap_core::metrics::score(&truth, &given.km.labels),
                k_auto: reelmap_core::metrics::score(&truth, &auto.km.labels),
                k_chosen: auto.km.k,
            })
        })
        .collect()
}

/// Labels from a .npy of integers (one column) or a text file of one per line.
fn read_labels(path: &Path) -> Result<Vec<usize>> {
    let buf = std::fs::read(path)?;
    if buf.starts_with(b"\x93NUMPY") {
        let hlen = u16::from_le_bytes([buf[8], buf[9]]) as usize;
        let header = std::str::from_utf8(&buf[10..10 + hlen])?;
        anyhow::ensure!(header.contains("'<i8'"), "labels must be int64: {header}");
        return Ok(buf[10 + hlen..]
            .chunks_exact(8)
            .map(|b| i64::from_le_bytes(b.try_into().unwrap()) as usize)
            .collect());
    }
    std::str::from_utf8(&buf)?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| Ok(l.trim().parse()?))
        .collect()
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct TsneReport {
    pub n: usize,
    pub dim: usize,
    pub seconds: f64,
    pub knn_preservation_k10: f64,
    pub load_average: String,
}

/// `reelmap bench tsne`: the map's t-SNE on a matrix from a file, so that it can be
/// compared with openTSNE on identical data (bench/tsne/compare.py).
pub fn tsne_npy(input: &Path, output: &Path) -> Result<TsneReport> {
    let data = read_npy_f32(input)?;
    let t = Instant::now();
    let y = reelmap_tsne::tsne(&data, &reelmap_tsne::TsneOptions::default(), &mut |_, _| {});
    let seconds = t.elapsed().as_secs_f64();
    write_npy_2d(output, &y)?;
    Ok(TsneReport {
        n: data.len(),
        dim: data.first().map(|r| r.len()).unwrap_or(0),
        seconds,
        knn_preservation_k10: reelmap_tsne::knn_preservation(&data, &y, 10, 2000),
        load_average: super::throughput::load_average(),
    })
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct AdaptSpeed {
    pub videos: usize,
    pub frames: usize,
    pub steps: usize,
    pub inputs: usize,
    pub seconds: f64,
    pub first_loss: f32,
    pub last_loss: f32,
    pub peak_rss_mib: f64,
    pub load_average: String,
}

/// `reelmap bench adapt`: the head's training on a synthetic library (groups of
/// videos around random directions, frames scattered around their video), with the
/// real input sizes: 1280 feature dimensions beside the concept dimensions.
pub fn adapt_speed(videos: usize, frames: usize, steps: usize) -> Result<AdaptSpeed> {
    use reelmap_core::learn::head::{HeadOptions, TrainingSet, train};
    let concept_dims = clustering::concept_vector(&vec![0.001; 1000]).len();
    let mut rng = reelmap_numeric::SplitMix64::seeded(7);
    let mut unit = |centre: &[f32], spread: f32| -> Vec<f32> {
        let mut v: Vec<f32> = centre
            .iter()
            .map(|c| c + spread * rng.normal() as f32)
            .collect();
        reelmap_numeric::l2_normalize(&mut v);
        v
    };
    let groups: Vec<(Vec<f32>, Vec<f32>)> = (0..40)
        .map(|_| {
            (
                unit(&vec![0.0; 1280], 1.0),
                unit(&vec![0.0; concept_dims], 1.0),
            )
        })
        .collect();
    let mut set = TrainingSet {
        frames: Vec::with_capacity(videos),
        concepts: Vec::with_capacity(videos),
    };
    for v in 0..videos {
        let (f, c) = &groups[v % groups.len()];
        let own = unit(f, 0.03);
        set.frames
            .push((0..frames).map(|_| unit(&own, 0.02)).collect());
        set.concepts.push(unit(c, 0.03));
    }
    let opts = HeadOptions {
        steps,
        min_videos: 0,
        ..HeadOptions::default()
    };
    let t = Instant::now();
    let ck = train(&set, &opts, None, &mut |_, _, _| true, 0, &mut |_| Ok(()))?;
    Ok(AdaptSpeed {
        videos,
        frames,
        steps,
        inputs: 1280 + concept_dims,
        seconds: t.elapsed().as_secs_f64(),
        first_loss: ck.losses.first().copied().unwrap_or(f32::NAN),
        last_loss: ck.losses.last().copied().unwrap_or(f32::NAN),
        peak_rss_mib: super::throughput::peak_rss_mib(),
        load_average: super::throughput::load_average(),
    })
}
