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
    let photos: Vec<image::RgbImage> = ["cat.jpg", "coffee.jpg", "rocket.jpg"]
        .iter()
        .filter_map(|p| testmedia::load_photo(&photos_dir.join(p)).ok())
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
    for i in 0..n {
        let path = dir.join(format!("clip{i:04}.mp4"));
        if !path.exists() {
            if !photos.is_empty() && i % 2 == 1 {
                let photo = &photos[(i / 2) % photos.len()];
                testmedia::make_photo_clip(&path, photo, Motion::seeded(i as u64), &spec)?;
            } else {
                let (p, extra) = patterns[(i / 2) % patterns.len()];
                testmedia::make_pattern_clip(&path, p, extra, &spec)?;
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
