//! Per-video features: decode frames (several videos at once), embed them in
//! batches, and store per-frame features, the per-video descriptor, class
//! probabilities, thumbnails and a poster — one transaction per video.
//!
//! Decoding and embedding overlap through bounded channels, so memory stays bounded
//! whatever the size of the library: at most `queue` decoded videos wait for the
//! network at any time. On the CPU each decoding thread also runs the network on its
//! own videos (see [`embed_videos`]).

use crate::progress::{Cancel, Event, Progress};
use crate::scan;
use crate::store::VideoStatus;
use crate::store::{Catalogue, EmbeddingRecord, FrameRecord, Poster, VideoRow};
use crate::util::l2_normalize;
use anyhow::Result;
use reelmap_media::{self as media, RgbFrame, Sampler};
use reelmap_model::{Embedder, softmax, top_k};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

#[derive(Debug, Clone)]
pub struct EmbedOptions {
    pub sampler: Sampler,
    /// Videos decoded at the same time.
    pub decode_threads: usize,
    /// How videos are decoded. Its `decoder_threads` of 0 means: one thread per
    /// decoder when several videos are decoded at once (the cores are already busy
    /// with the other videos, and frame-threaded decoders must drain and refill their
    /// threads at every seek; measured in `bench/PROFILING.md`), else libav's choice.
    pub decode: media::DecodeOptions,
    /// Frames per network call.
    pub batch: usize,
    /// Decoded videos allowed to wait for the network.
    pub queue: usize,
    pub thumbs: bool,
}

impl Default for EmbedOptions {
    fn default() -> Self {
        EmbedOptions {
            sampler: Sampler::Uniform { n: 16 },
            decode_threads: 2,
            decode: media::DecodeOptions::default(),
            batch: 8,
            queue: 4,
            thumbs: true,
        }
    }
}

#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct EmbedReport {
    pub videos: usize,
    pub embedded: usize,
    pub failed: usize,
    pub frames: usize,
    /// Frames whose network input repeated an earlier frame of the same video exactly
    /// and took its output instead of a network run.
    pub repeated_frames: usize,
    /// Videos whose file has the same bytes as another embedded video and took its
    /// results without being decoded (counted in `embedded`, not in `frames`).
    pub copies: usize,
    pub decode_seconds: f64,
    pub embed_seconds: f64,
    pub wall_seconds: f64,
    pub cancelled: bool,
    pub problems: Vec<(String, String)>,
}

/// (timestamp ms, network input, thumbnail). A repeated picture shares its input
/// with the first one.
type DecodedFrame = (i64, Arc<[f32]>, Option<Vec<u8>>);

/// A decoded video waiting for the network.
struct Decoded {
    video: VideoRow,
    frames: Vec<DecodedFrame>,
    poster: Option<Poster>,
    warning: Option<String>,
    seconds: f64,
    /// The network's results, when the decoding thread ran it.
    embedded: Option<Result<Embedded>>,
}

/// What the network made of a decoded video.
struct Embedded {
    record: EmbeddingRecord,
    /// Frames the network ran on (the others repeated an earlier frame's input).
    network_runs: usize,
    seconds: f64,
}

const THUMB_HEIGHT: u32 = 96;
const POSTER_HEIGHT: u32 = 256;

fn decode_one(
    video: &VideoRow,
    embedder: &Embedder,
    opts: &EmbedOptions,
    decode: &media::DecodeOptions,
) -> Result<Decoded> {
    let t = Instant::now();
    let hint = match (video.width, video.height) {
        (Some(w), Some(h)) if w > 0 && h > 0 => Some((w as u32, h as u32)),
        _ => None,
    };
    let sampled = media::sample_frames(
        &video.path,
        opts.sampler,
        embedder.resize_short(),
        hint,
        decode,
    )?;
    let frames: &[RgbFrame] = &sampled.frames;
    let poster = match media::choose_poster(frames) {
        Some(i) => {
            let (jpeg, w, h) = media::encode_jpeg(&frames[i], POSTER_HEIGHT, 82)?;
            Some(Poster {
                ts_ms: frames[i].ts_ms(),
                width: w,
                height: h,
                jpeg,
            })
        }
        None => None,
    };
    let mut out: Vec<DecodedFrame> = Vec::with_capacity(frames.len());
    // A picture that repeats an earlier one of the video exactly (static shots,
    // slides, screen recordings) takes that one's network input and thumbnail: the
    // same bytes, without preparing and encoding them again.
    let mut earlier: HashMap<u64, Vec<usize>> = HashMap::new();
    for (i, f) in frames.iter().enumerate() {
        let candidates = earlier.entry(picture_hash(f)).or_default();
        let repeat = candidates.iter().copied().find(|&j| {
            let e = &frames[j];
            (e.width, e.height) == (f.width, f.height) && e.data == f.data
        });
        let (input, thumb) = match repeat {
            Some(j) => (out[j].1.clone(), out[j].2.clone()),
            None => {
                candidates.push(i);
                let thumb = if opts.thumbs {
                    Some(media::encode_jpeg(f, THUMB_HEIGHT, 70)?.0)
                } else {
                    None
                };
                (
                    Arc::from(embedder.preprocess(f.width, f.height, &f.data)),
                    thumb,
                )
            }
        };
        out.push((f.ts_ms(), input, thumb));
    }
    Ok(Decoded {
        video: video.clone(),
        frames: out,
        poster,
        warning: sampled.warning,
        seconds: t.elapsed().as_secs_f64(),
        embedded: None,
    })
}

/// Embeds every video of the catalogue that has no features for this model yet.
pub fn embed_pending(
    cat: &mut Catalogue,
    embedder: &Embedder,
    opts: &EmbedOptions,
    progress: &dyn Progress,
    cancel: &Cancel,
) -> Result<EmbedReport> {
    let todo = cat.videos_needing_embedding(embedder.name())?;
    embed_videos(cat, embedder, &todo, opts, progress, cancel)
}

pub fn embed_videos(
    cat: &mut Catalogue,
    embedder: &Embedder,
    todo: &[VideoRow],
    opts: &EmbedOptions,
    progress: &dyn Progress,
    cancel: &Cancel,
) -> Result<EmbedReport> {
    let started = Instant::now();
    let mut report = EmbedReport {
        videos: todo.len(),
        ..Default::default()
    };
    let stage = "embed".to_string();
    progress.event(Event::Stage {
        stage: stage.clone(),
        total: todo.len() as u64,
    });
    if todo.is_empty() {
        progress.event(Event::StageDone { stage });
        return Ok(report);
    }
    media::init()?;
    let model = embedder.name().to_string();
    let sampler_desc = opts.sampler.describe();
    let mut done = 0u64;
    let item = |done: u64, current: &str| {
        progress.event(Event::Item {
            stage: stage.clone(),
            done,
            total: todo.len() as u64,
            current: current.to_string(),
        })
    };
    // Why each video that could not be decoded failed, for its copies.
    let mut failures: HashMap<i64, String> = HashMap::new();
    let (to_decode, copies) = split_off_copies(cat, todo, &model, &sampler_desc)?;
    // Copies of videos embedded before: their results now, before any decoding.
    let mut later = Vec::new();
    for (video, original) in copies {
        if settle_copy(cat, &video, original, &model, &failures, &mut report)? {
            done += 1;
            item(done, &video.display);
        } else {
            later.push((video, original));
        }
    }
    let (job_tx, job_rx) = crossbeam_channel::unbounded::<VideoRow>();
    for v in to_decode {
        job_tx.send(v).ok();
    }
    drop(job_tx);
    let (done_tx, done_rx) =
        crossbeam_channel::bounded::<(VideoRow, Result<Decoded>)>(opts.queue.max(1));

    // On the CPU, when as many videos are decoded at once as the network has threads,
    // each decoding thread is also the network's thread for the videos it decoded:
    // one busy thread per core, where the shared network pool would add one more per
    // core competing with the decoders, and no hand-over of a pass to another thread
    // (the "lanes" of `bench/PROFILING.md`). Once no video is left to start, the last
    // ones use the shared pool, and with it the cores of the threads that finished
    // (a library of one long video included).
    // (Equal counts only: fewer network threads than videos decoded at once is a
    // limit on the network's cores that one network per decoding thread would break.)
    let lanes =
        embedder.net.device().is_cpu() && opts.decode_threads == reelmap_model::cpu::cpu_threads();
    let (model, sampler_desc) = (&model, &sampler_desc);
    let decode = media::DecodeOptions {
        decoder_threads: match opts.decode.decoder_threads {
            0 if opts.decode_threads >= 2 => 1,
            n => n,
        },
        ..opts.decode
    };
    let decode = &decode;
    std::thread::scope(|s| -> Result<()> {
        for _ in 0..opts.decode_threads.max(1) {
            let job_rx = job_rx.clone();
            let done_tx = done_tx.clone();
            let cancel = cancel.clone();
            s.spawn(move || {
                let own_thread = lanes.then(reelmap_model::cpu::OwnThread::new);
                let work = || {
                    while let Ok(video) = job_rx.recv() {
                        if cancel.is_cancelled() {
                            break;
                        }
                        let mut r = decode_one(&video, embedder, opts, decode);
                        if let (Ok(d), Some(own)) = (&mut r, &own_thread) {
                            let embed =
                                || embed_timed(embedder, d, opts.batch, model, sampler_desc);
                            let e = if job_rx.is_empty() {
                                embed()
                            } else {
                                own.run(embed)
                            };
                            // The network inputs are done with: free them now.
                            d.frames = Vec::new();
                            d.embedded = Some(e);
                        }
                        if done_tx.send((video, r)).is_err() {
                            break;
                        }
                    }
                };
                match &own_thread {
                    // Decoding on the network's own thread: its passes run in place.
                    Some(own) => own.host(work),
                    None => work(),
                }
            });
        }
        drop(done_tx);

        for (video, decoded) in done_rx.iter() {
            done += 1;
            let current = video.display.clone();
            match decoded {
                Err(e) => {
                    let reason = format!("cannot decode: {e:#}");
                    cat.mark_failed(video.id, "decode", &reason)?;
                    failures.insert(video.id, reason.clone());
                    report.failed += 1;
                    progress.event(Event::Failed {
                        stage: stage.clone(),
                        path: current.clone(),
                        reason: reason.clone(),
                    });
                    report.problems.push((current.clone(), reason));
                }
                Ok(mut d) => {
                    report.decode_seconds += d.seconds;
                    let Embedded {
                        record: rec,
                        network_runs,
                        seconds,
                    } = match d.embedded.take() {
                        Some(e) => e?,
                        None => embed_timed(embedder, &d, opts.batch, model, sampler_desc)?,
                    };
                    report.embed_seconds += seconds;
                    report.frames += rec.frames.len();
                    report.repeated_frames += rec.frames.len() - network_runs;
                    cat.store_embedding(&rec)?;
                    if let Some(w) = &d.warning {
                        cat.set_decode_warning(video.id, w)?;
                        report.problems.push((current.clone(), w.clone()));
                    }
                    report.embedded += 1;
                }
            }
            item(done, &current);
            if cancel.is_cancelled() {
                report.cancelled = true;
                break;
            }
        }
        // Drain so that decoder threads blocked on a full channel can exit.
        for _ in done_rx.try_iter() {}
        Ok(())
    })?;
    // Copies of videos decoded in this run (left for the next run if interrupted).
    for (video, original) in later {
        if report.cancelled {
            break;
        }
        if settle_copy(cat, &video, original, model, &failures, &mut report)? {
            done += 1;
            item(done, &video.display);
        }
    }
    report.wall_seconds = started.elapsed().as_secs_f64();
    progress.event(Event::StageDone { stage });
    Ok(report)
}

/// Gives a copy its original's results, or its original's failure. False when the
/// original has neither yet.
fn settle_copy(
    cat: &mut Catalogue,
    video: &VideoRow,
    original: i64,
    model: &str,
    failures: &HashMap<i64, String>,
    report: &mut EmbedReport,
) -> Result<bool> {
    if cat.copy_embedding(original, video.id, model)? {
        report.copies += 1;
        report.embedded += 1;
    } else if let Some(reason) = failures.get(&original) {
        let reason = format!("{reason} (the same bytes as a file that failed)");
        cat.mark_failed(video.id, "decode", &reason)?;
        report.failed += 1;
        report.problems.push((video.display.clone(), reason));
    } else {
        return Ok(false);
    }
    Ok(true)
}

/// A video whose file has the same bytes as another's, and that other video's id.
type CopyOf = (VideoRow, i64);

/// Splits `todo` into the videos to decode and the copies, each with the video whose
/// results it will take: a video whose file has the same bytes (same fingerprint, then
/// [`scan::same_content`]) as one already embedded with `model` and `sampler`, or as
/// one decoded earlier in this run. Reading two files to compare them costs far less
/// than decoding and embedding one.
fn split_off_copies(
    cat: &Catalogue,
    todo: &[VideoRow],
    model: &str,
    sampler: &str,
) -> Result<(Vec<VideoRow>, Vec<CopyOf>)> {
    let in_todo: HashSet<i64> = todo.iter().map(|v| v.id).collect();
    let mut decoding: HashSet<i64> = HashSet::new();
    let (mut to_decode, mut copies) = (Vec::new(), Vec::new());
    for video in todo {
        let mut original = None;
        if let Some(fp) = &video.fingerprint {
            for other in cat.videos_with_fingerprint(fp)? {
                let usable = other.id != video.id
                    && other.status == VideoStatus::Ok
                    && if in_todo.contains(&other.id) {
                        decoding.contains(&other.id)
                    } else {
                        cat.embedding_sampler(other.id, model)?.as_deref() == Some(sampler)
                    };
                // An unreadable file is simply not a copy: decoding will say why.
                if usable && scan::same_content(&other.path, &video.path).unwrap_or(false) {
                    original = Some(other.id);
                    break;
                }
            }
        }
        match original {
            Some(id) => copies.push((video.clone(), id)),
            None => {
                decoding.insert(video.id);
                to_decode.push(video.clone());
            }
        }
    }
    Ok((to_decode, copies))
}

/// FNV-1a over a sample of words (every [`HASH_STEP`]th): a cheap filter for exact
/// repeats, whose equal hashes are confirmed by comparing the whole data.
fn sampled_hash(words: impl Iterator<Item = u64>) -> u64 {
    words.fold(0xcbf2_9ce4_8422_2325u64, |h, v| {
        (h ^ v).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

const HASH_STEP: usize = 61;

/// See [`sampled_hash`]: a network input's bits.
fn input_hash(x: &[f32]) -> u64 {
    sampled_hash(x.iter().step_by(HASH_STEP).map(|v| v.to_bits() as u64))
}

/// See [`sampled_hash`]: a decoded picture's bytes, eight at a time.
fn picture_hash(f: &RgbFrame) -> u64 {
    let words = f.data.chunks_exact(8).step_by(HASH_STEP);
    sampled_hash(words.map(|w| u64::from_le_bytes(w.try_into().expect("8 bytes"))))
}

fn embed_timed(
    embedder: &Embedder,
    d: &Decoded,
    batch: usize,
    model: &str,
    sampler: &str,
) -> Result<Embedded> {
    let t = Instant::now();
    let (record, network_runs) = embed_decoded(embedder, d, batch, model, sampler)?;
    Ok(Embedded {
        record,
        network_runs,
        seconds: t.elapsed().as_secs_f64(),
    })
}

/// Runs the network over a decoded video and builds what is stored for it. Also
/// returns how many frames the network ran on.
fn embed_decoded(
    embedder: &Embedder,
    d: &Decoded,
    batch: usize,
    model: &str,
    sampler: &str,
) -> Result<(EmbeddingRecord, usize)> {
    let dim = embedder.manifest.feature_dim;
    let classes = embedder.manifest.num_classes;
    let mut frames = Vec::with_capacity(d.frames.len());
    let mut descriptor = vec![0f32; dim];
    let mut class_probs = vec![0f32; classes];
    // A frame whose network input repeats an earlier frame's exactly (static shots,
    // slides, screen recordings: the decoder often reproduces the same pixels) gets
    // that frame's output instead of a second run of the network. Exact equality, so
    // the result is the same as running it.
    let mut first_with_input: HashMap<u64, Vec<usize>> = HashMap::new();
    let mut source = Vec::with_capacity(d.frames.len()); // index into `unique`
    let mut unique: Vec<usize> = Vec::new(); // frames the network runs on
    for (i, (_, x, _)) in d.frames.iter().enumerate() {
        let candidates = first_with_input.entry(input_hash(x)).or_default();
        let same = |u: &usize| {
            let first = &d.frames[unique[*u]].1;
            Arc::ptr_eq(first, x) || first == x
        };
        match candidates.iter().find(|u| same(u)) {
            Some(&u) => source.push(u),
            None => {
                candidates.push(unique.len());
                source.push(unique.len());
                unique.push(i);
            }
        }
    }
    let mut outputs: Vec<(Vec<f32>, Vec<f32>)> = Vec::with_capacity(unique.len());
    for chunk in unique.chunks(batch.max(1)) {
        let inputs: Vec<&[f32]> = chunk.iter().map(|&i| &d.frames[i].1[..]).collect();
        let out = embedder.embed(&inputs)?;
        for (mut feat, logits) in out.features.into_iter().zip(out.logits) {
            l2_normalize(&mut feat);
            outputs.push((feat, softmax(&logits)));
        }
    }
    for ((ts, _, thumb), &u) in d.frames.iter().zip(&source) {
        let (feat, probs) = &outputs[u];
        descriptor.iter_mut().zip(feat).for_each(|(a, b)| *a += b);
        class_probs.iter_mut().zip(probs).for_each(|(a, b)| *a += b);
        frames.push(FrameRecord {
            ts_ms: *ts,
            feature: feat.clone(),
            top_classes: top_k(probs, 5),
            thumb_jpeg: thumb.clone(),
        });
    }
    let n = frames.len().max(1) as f32;
    l2_normalize(&mut descriptor);
    class_probs.iter_mut().for_each(|p| *p /= n);
    let record = EmbeddingRecord {
        video_id: d.video.id,
        model: model.to_string(),
        sampler: sampler.to_string(),
        descriptor,
        class_probs,
        frames,
        poster: d.poster.clone(),
    };
    Ok((record, unique.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_of_a_file_that_failed_fails_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut cat = Catalogue::open(&dir.path().join("c.sqlite3")).unwrap();
        let root = cat.add_root(dir.path()).unwrap();
        let original = cat
            .insert_video(root, &dir.path().join("a.mp4"), 10, 1, Some(&[1]))
            .unwrap();
        let copy = cat
            .insert_video(root, &dir.path().join("b.mp4"), 10, 1, Some(&[1]))
            .unwrap();
        let copy_row = cat.video(copy).unwrap().unwrap();
        let mut report = EmbedReport::default();
        let mut failures = HashMap::new();
        // Not decoded yet: nothing to settle.
        assert!(!settle_copy(&mut cat, &copy_row, original, "m", &failures, &mut report).unwrap());
        assert_eq!(cat.video(copy).unwrap().unwrap().status, VideoStatus::Ok);
        failures.insert(original, "cannot decode: broken".to_string());
        assert!(settle_copy(&mut cat, &copy_row, original, "m", &failures, &mut report).unwrap());
        let row = cat.video(copy).unwrap().unwrap();
        assert_eq!(row.status, VideoStatus::Failed);
        assert_eq!(
            row.error.as_deref(),
            Some("cannot decode: broken (the same bytes as a file that failed)")
        );
        assert_eq!(
            (report.failed, report.copies, report.problems.len()),
            (1, 0, 1)
        );
    }
}
