//! Decoding, embedding and end-to-end throughput on a generated corpus, and the
//! re-scan of a large library.

use anyhow::Result;
use reelmap_core::config::EngineConfig;
use reelmap_core::pipeline::{self, OrganiseOptions};
use reelmap_core::progress::{Cancel, Progress};
use reelmap_core::scan::{self, ScanOptions};
use reelmap_core::store::Catalogue;
use reelmap_media::{self as media, Sampler};
use reelmap_model::Embedder;
use reelmap_testkit::{self as testmedia, ClipSpec, Codec, Motion};
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
    let photos_dir = testmedia::photos_dir();
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
    engine: &EngineConfig,
    progress: &dyn Progress,
) -> Result<BenchReport> {
    let opts = &engine.embed;
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
        let s = media::sample_frames(c, sampler, short, None, &opts.decode)?;
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
                    if let Ok(r) = media::sample_frames(c, sampler, short, None, &opts.decode) {
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
        .map(|f| embedder.preprocess(f.width, f.height, &f.data))
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
    pipeline::organise(
        &mut cat,
        std::slice::from_ref(&dir),
        engine,
        &OrganiseOptions {
            map: false,
            ..OrganiseOptions::default()
        },
        || Ok(embedder),
        progress,
        &Cancel::new(),
    )?;
    let e2e = t.elapsed().as_secs_f64();
    let embedded = cat.embedded_count(embedder.name())? as usize;
    if embedded != clips.len() {
        anyhow::bail!("only {embedded} of {} clips were embedded", clips.len());
    }
    Ok(BenchReport {
        cores: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        load_average: load_average(),
        device: reelmap_model::device_name(embedder.net.device()).to_string(),
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
            if e.file_type().is_file() && media::container::is_video_extension(e.path()) {
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
    // One thread per decoder when several videos decode at once, as `embed` does.
    let decode = media::DecodeOptions {
        decoder_threads: if threads >= 2 { 1 } else { 0 },
        ..Default::default()
    };
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
                    match media::sample_frames(v, sampler, short_side, None, &decode) {
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
    let img = image::open(root.join("crates/model/tests/data/chelsea_224.png"))?.to_rgb8();
    let crop = embedder.manifest.preprocess.crop;
    let x = reelmap_model::preprocess_rgb(
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
            root.join("crates/model/tests/golden/efficientnet-lite0_chelsea.json"),
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
