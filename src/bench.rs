//! `reelmap bench`: decoding, embedding and end-to-end throughput on a generated
//! corpus. A benchmark, not a test: it prints numbers and asserts nothing.

use crate::features::{self, EmbedOptions};
use crate::media::{self, Sampler};
use crate::model::Embedder;
use crate::organise::{self, ClusterOptions};
use crate::progress::{Cancel, Progress};
use crate::scan::{self, ScanOptions};
use crate::store::Catalogue;
use crate::testmedia::{self, ClipSpec, Codec, Motion};
use anyhow::Result;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Debug, Clone, serde::Serialize)]
pub struct BenchReport {
    pub cores: usize,
    pub load_average: String,
    pub device: String,
    pub model: String,
    pub corpus_videos: usize,
    pub corpus_seconds_of_video: f64,
    pub decode_frames_per_s_1_thread: f64,
    pub decode_frames_per_s_parallel: f64,
    pub decode_threads: usize,
    pub embed_images_per_s_batch1: f64,
    pub embed_images_per_s_batch16: f64,
    pub end_to_end_seconds: f64,
    pub end_to_end_videos_per_min: f64,
    pub peak_rss_mib: f64,
}

pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

pub fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

/// Generates (or reuses) a corpus of `n` 10-second 640×360 H.264 clips with 2-second
/// keyframe intervals: moving test patterns and filmed photos.
pub fn make_corpus(dir: &Path, n: usize) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let photos_dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("data")
        .join("photos");
    let photos: Vec<(&str, image::RgbImage)> = [
        ("cat", "cat.jpg"),
        ("coffee", "coffee.jpg"),
        ("rocket", "rocket.jpg"),
    ]
    .iter()
    .filter_map(|(name, p)| {
        testmedia::load_photo(&photos_dir.join(p))
            .ok()
            .map(|img| (*name, img))
    })
    .collect();
    let patterns = [
        ("ball", "motion=wavy"),
        ("pinwheel", ""),
        ("smpte", "horizontal-speed=3"),
        ("spokes", ""),
    ];
    let spec = ClipSpec {
        codec: Codec::H264Mp4,
        width: 640,
        height: 360,
        fps: 25,
        frames: 250,
        gop: 50,
    };
    let mut out = Vec::new();
    // Each clip goes into a folder named after its source, so that the corpus is
    // also a labelled set for `reelmap eval` and the Python baseline.
    for i in 0..n {
        let (label, photo) = if !photos.is_empty() && i % 2 == 1 {
            let (name, img) = &photos[(i / 2) % photos.len()];
            (*name, Some(img))
        } else {
            (patterns[(i / 2) % patterns.len()].0, None)
        };
        let sub = dir.join(label);
        std::fs::create_dir_all(&sub)?;
        let path = sub.join(format!("clip{i:04}.mp4"));
        if !path.exists() {
            match photo {
                Some(img) => {
                    testmedia::make_photo_clip(&path, img, Motion::seeded(i as u64), &spec)?
                }
                None => {
                    let (p, extra) = patterns[(i / 2) % patterns.len()];
                    testmedia::make_pattern_clip(&path, p, extra, &spec)?;
                }
            }
        }
        out.push(path);
    }
    Ok(out)
}

pub fn run(
    embedder: &Embedder,
    n: usize,
    dir: Option<&Path>,
    opts: &EmbedOptions,
    progress: &dyn Progress,
) -> Result<BenchReport> {
    let tmp;
    let dir = match dir {
        Some(d) => d.to_path_buf(),
        None => {
            tmp = tempfile::tempdir()?;
            tmp.path().join("corpus")
        }
    };
    eprintln!("generating {n} clips in {} ...", dir.display());
    let clips = make_corpus(&dir, n)?;
    let short = embedder.resize_short();
    let sampler = Sampler::Uniform { n: 16 };

    // Decoding, one video at a time.
    let t = Instant::now();
    let mut frames = 0usize;
    let mut decoded: Vec<media::RgbFrame> = Vec::new();
    for c in &clips {
        let s = media::sample_frames(c, sampler, short, None)?;
        frames += s.frames.len();
        if decoded.len() < 16 {
            decoded.extend(s.frames);
        }
    }
    let decode1 = frames as f64 / t.elapsed().as_secs_f64();

    // Decoding, several videos at once.
    let threads = opts.decode_threads.max(1);
    let t = Instant::now();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let total = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(c) = clips.get(i) else { break };
                    if let Ok(r) = media::sample_frames(c, sampler, short, None) {
                        total.fetch_add(r.frames.len(), std::sync::atomic::Ordering::Relaxed);
                    }
                }
            });
        }
    });
    let decode_par = total.into_inner() as f64 / t.elapsed().as_secs_f64();

    // Embedding on real decoded frames.
    let inputs: Vec<Vec<f32>> = decoded
        .iter()
        .take(16)
        .map(|f| embedder.preprocess(f))
        .collect();
    let embed_rate = |batch: usize| -> Result<f64> {
        let b: Vec<Vec<f32>> = inputs.iter().cycle().take(batch).cloned().collect();
        embedder.embed(&b)?; // warm-up
        let reps = (64 / batch).max(2);
        let t = Instant::now();
        for _ in 0..reps {
            embedder.embed(&b)?;
        }
        Ok((reps * batch) as f64 / t.elapsed().as_secs_f64())
    };
    let b1 = embed_rate(1)?;
    let b16 = embed_rate(16)?;

    // End to end: scan + decode + embed + cluster + name into a fresh catalogue.
    let db_dir = tempfile::tempdir()?;
    let mut cat = Catalogue::open(&db_dir.path().join("bench.sqlite3"))?;
    let t = Instant::now();
    scan::scan(
        &mut cat,
        std::slice::from_ref(&dir),
        &ScanOptions::default(),
        &|_, _| {},
    )?;
    features::embed_pending(&mut cat, embedder, opts, progress, &Cancel::new())?;
    organise::cluster_library(&mut cat, embedder.name(), &ClusterOptions::default())?;
    let e2e = t.elapsed().as_secs_f64();
    let embedded = cat.count("SELECT COUNT(*) FROM embeddings")? as usize;
    if embedded != clips.len() {
        anyhow::bail!("only {embedded} of {} clips were embedded", clips.len());
    }
    Ok(BenchReport {
        cores: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        load_average: load_average(),
        device: crate::model::device_name(embedder.net.device()).to_string(),
        model: embedder.name().to_string(),
        corpus_videos: clips.len(),
        corpus_seconds_of_video: clips.len() as f64 * 10.0,
        decode_frames_per_s_1_thread: decode1,
        decode_frames_per_s_parallel: decode_par,
        decode_threads: threads,
        embed_images_per_s_batch1: b1,
        embed_images_per_s_batch16: b16,
        end_to_end_seconds: e2e,
        end_to_end_videos_per_min: clips.len() as f64 / e2e * 60.0,
        peak_rss_mib: peak_rss_mib(),
    })
}

pub fn print(r: &BenchReport) {
    println!(
        "Reelmap benchmark ({} cores, load {}, {} on {})",
        r.cores, r.load_average, r.model, r.device
    );
    println!(
        "  corpus: {} clips, {:.0} s of 640x360 H.264 video",
        r.corpus_videos, r.corpus_seconds_of_video
    );
    println!(
        "  decode (uniform:16), 1 video at a time : {:>8.1} sampled frames/s",
        r.decode_frames_per_s_1_thread
    );
    println!(
        "  decode (uniform:16), {} videos at once  : {:>8.1} sampled frames/s",
        r.decode_threads, r.decode_frames_per_s_parallel
    );
    println!(
        "  embed, batch 1                         : {:>8.1} images/s",
        r.embed_images_per_s_batch1
    );
    println!(
        "  embed, batch 16                        : {:>8.1} images/s",
        r.embed_images_per_s_batch16
    );
    println!(
        "  end to end (scan+decode+embed+cluster) : {:>8.1} videos/min ({:.1} s)",
        r.end_to_end_videos_per_min, r.end_to_end_seconds
    );
    println!(
        "  peak memory                            : {:>8.1} MiB",
        r.peak_rss_mib
    );
}

/// Decoding alone: uniform sampling of every video under `paths` with `threads`
/// videos at once.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DecodeReport {
    pub videos: usize,
    pub failed: usize,
    pub frames: usize,
    pub seconds: f64,
    pub frames_per_s: f64,
    pub threads: usize,
    pub load_average: String,
    /// Hardware decoders GStreamer offers here (decodebin prefers them).
    pub hardware_decoders: Vec<String>,
}

pub fn collect_videos(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for p in paths {
        for e in walkdir::WalkDir::new(p)
            .sort_by_file_name()
            .into_iter()
            .flatten()
        {
            if e.file_type().is_file() && scan::is_video_extension(e.path()) {
                out.push(e.path().to_path_buf());
            }
        }
    }
    out
}

pub fn decode(
    paths: &[PathBuf],
    sampler: Sampler,
    short_side: u32,
    threads: usize,
) -> Result<DecodeReport> {
    media::init()?;
    media::set_parallel_videos(threads);
    let videos = collect_videos(paths);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let frames = std::sync::atomic::AtomicUsize::new(0);
    let failed = std::sync::atomic::AtomicUsize::new(0);
    let t = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(v) = videos.get(i) else { break };
                    match media::sample_frames(v, sampler, short_side, None) {
                        Ok(r) => {
                            frames.fetch_add(r.frames.len(), std::sync::atomic::Ordering::Relaxed);
                        }
                        Err(_) => {
                            failed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                }
            });
        }
    });
    let seconds = t.elapsed().as_secs_f64();
    let frames = frames.into_inner();
    Ok(DecodeReport {
        videos: videos.len(),
        failed: failed.into_inner(),
        frames,
        seconds,
        frames_per_s: frames as f64 / seconds,
        threads,
        load_average: load_average(),
        hardware_decoders: media::hardware_decoders(),
    })
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct EmbedSpeed {
    pub batch: usize,
    pub images: usize,
    pub seconds: f64,
    pub images_per_s: f64,
}

/// Network throughput on the golden test photograph, for `seconds` per batch size,
/// plus how far the outputs are from the PyTorch reference.
pub fn embed_speed(
    embedder: &Embedder,
    batches: &[usize],
    seconds: f64,
) -> Result<(Vec<EmbedSpeed>, f32)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let img = image::open(root.join("tests/data/chelsea_224.png"))?.to_rgb8();
    let crop = embedder.manifest.preprocess.crop;
    let x = crate::model::preprocess_rgb(
        img.width(),
        img.height(),
        img.as_raw(),
        crop,
        crop,
        127.0,
        128.0,
    );
    // Distance from the reference (only meaningful for Lite0, whose golden file exists).
    let mut max_diff = f32::NAN;
    if embedder.name() == "efficientnet-lite0" {
        let g: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(
            root.join("tests/golden/efficientnet-lite0_chelsea.json"),
        )?)?;
        let out = embedder.embed(std::slice::from_ref(&x))?;
        let diff = |a: &[f32], key: &str| {
            a.iter()
                .zip(g[key].as_array().unwrap())
                .map(|(x, y)| (x - y.as_f64().unwrap() as f32).abs())
                .fold(0.0f32, f32::max)
        };
        max_diff = diff(&out.features[0], "features").max(diff(&out.logits[0], "logits"));
    }
    let mut out = Vec::new();
    for &b in batches {
        let batch: Vec<Vec<f32>> = (0..b.max(1)).map(|_| x.clone()).collect();
        embedder.embed(&batch)?; // warm-up
        let t = Instant::now();
        let mut n = 0;
        while t.elapsed().as_secs_f64() < seconds {
            embedder.embed(&batch)?;
            n += batch.len();
        }
        let s = t.elapsed().as_secs_f64();
        out.push(EmbedSpeed {
            batch: b,
            images: n,
            seconds: s,
            images_per_s: n as f64 / s,
        });
    }
    Ok((out, max_diff))
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct RescanReport {
    pub files: usize,
    pub first_scan_s: f64,
    pub rescan_s: f64,
    pub rescan_unchanged: usize,
}

/// Re-scan of a library of `n` small distinct video files (generated into `dir`
/// once): the first scan probes every file, the re-scan must only stat them.
pub fn rescan(dir: &Path, n: usize) -> Result<RescanReport> {
    std::fs::create_dir_all(dir)?;
    let seed = dir.join(".seed.mp4");
    if !seed.exists() {
        let spec = ClipSpec {
            width: 64,
            height: 48,
            frames: 3,
            gop: 3,
            ..ClipSpec::default()
        };
        testmedia::make_pattern_clip(&seed, "smpte", "", &spec)?;
    }
    let data = std::fs::read(&seed)?;
    for i in 0..n {
        let sub = dir.join(format!("d{:03}", i / 100));
        let p = sub.join(format!("clip{i:05}.mp4"));
        if !p.exists() {
            std::fs::create_dir_all(&sub)?;
            // Distinct content (trailing bytes after the MP4 boxes), so each file has
            // its own fingerprint.
            let mut d = data.clone();
            d.extend_from_slice(format!("reelmap-bench-{i}").as_bytes());
            std::fs::write(&p, d)?;
        }
    }
    let db_dir = tempfile::tempdir()?;
    let mut cat = Catalogue::open(&db_dir.path().join("rescan.sqlite3"))?;
    let roots = [dir.to_path_buf()];
    let t = Instant::now();
    scan::scan(&mut cat, &roots, &ScanOptions::default(), &|_, _| {})?;
    let first = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let r = scan::scan(&mut cat, &roots, &ScanOptions::default(), &|_, _| {})?;
    Ok(RescanReport {
        files: n,
        first_scan_s: first,
        rescan_s: t.elapsed().as_secs_f64(),
        rescan_unchanged: r.unchanged,
    })
}

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
        .map(crate::util::bytes_to_f32s)
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
    let labelled = crate::evaluate::truth_labels(cat, model, root)?;
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
        .videos(Some("ok"))?
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
    let points = organise::FeatureSpace::fit(&raw, &probs).transform_all(&raw, &probs);
    let concepts: Vec<Vec<f32>> = probs.iter().map(|p| organise::concept_vector(p)).collect();
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
    pub k_given: crate::metrics::Scores,
    pub k_auto: crate::metrics::Scores,
    pub k_chosen: usize,
}

/// `reelmap bench cluster`: the product's clustering (the consensus choice of k, and
/// k given as the number of categories) on any matrix of points, scored against
/// labels: so that a new feature space can be measured outside the product exactly as
/// `eval` would measure it. Rows are L2-normalised first.
pub fn cluster_npy(points: &Path, labels: &Path, seeds: &[u64]) -> Result<Vec<ClusterRun>> {
    let mut data = read_npy_f32(points)?;
    data.iter_mut().for_each(|r| crate::util::l2_normalize(r));
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
                organise::cluster_points(&data, &no_copies, &opts, &none, &[], 0)
            };
            let given = run(organise::KChoice::Fixed(k_true));
            let auto = run(organise::KChoice::Auto);
            Ok(ClusterRun {
                seed,
                k_given: crate::metrics::score(&truth, &given.km.labels),
                k_auto: crate::metrics::score(&truth, &auto.km.labels),
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
    let y = crate::map::tsne(&data, &crate::map::TsneOptions::default(), &mut |_, _| {});
    let seconds = t.elapsed().as_secs_f64();
    write_npy_2d(output, &y)?;
    Ok(TsneReport {
        n: data.len(),
        dim: data.first().map(|r| r.len()).unwrap_or(0),
        seconds,
        knn_preservation_k10: crate::map::knn_preservation(&data, &y, 10, 2000),
        load_average: load_average(),
    })
}
