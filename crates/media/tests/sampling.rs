//! Frame sampling with GStreamer on real encoded files: every codec, sparse
//! keyframes, short clips, the other samplers, GIF, and posters.

use reelmap_media::{self as media, DecodeOptions, RgbFrame, Sampler};
use reelmap_testkit::{ClipSpec, Codec};
use reelmap_testkit::{pattern_clip, photo, photo_clip};
use std::path::PathBuf;

fn assert_distinct_increasing(frames: &[RgbFrame], what: &str) {
    for w in frames.windows(2) {
        assert!(
            w[0].pts_ns < w[1].pts_ns,
            "{what}: timestamps must strictly increase: {} then {}",
            w[0].pts_ns,
            w[1].pts_ns
        );
    }
}

#[test]
fn uniform_sampling_works_for_every_codec() {
    let tmp = tempfile::tempdir().unwrap();
    for codec in Codec::ALL {
        let path = tmp.path().join(format!("clip.{}", codec.extension()));
        pattern_clip(&path, "ball", codec, 50, 10); // 2 s at 25 fps
        let s = media::sample_frames(
            &path,
            Sampler::Uniform { n: 16 },
            256,
            Some((320, 240)),
            &DecodeOptions::default(),
        )
        .unwrap_or_else(|e| panic!("{codec:?}: {e:#}"));
        assert_eq!(s.frames.len(), 16, "{codec:?}");
        assert_distinct_increasing(&s.frames, &format!("{codec:?}"));
        for f in &s.frames {
            // Scaled in the pipeline: short side 256, aspect kept (320×240 → 342×256).
            assert_eq!((f.width, f.height), (342, 256), "{codec:?}");
            assert_eq!(f.data.len(), 342 * 256 * 3);
        }
        let first = s.frames[0].pts_ns as f64 / 1e9;
        let last = s.frames[15].pts_ns as f64 / 1e9;
        // (MPEG-TS timelines start where the muxer put them, here 0.125 s late.)
        assert!(
            first < 0.25 && last > 1.7 && last < 2.1,
            "{codec:?}: spans {first:.2}..{last:.2} s"
        );
    }
}

#[test]
fn sparse_keyframes_never_give_duplicate_timestamps() {
    let tmp = tempfile::tempdir().unwrap();
    // 8 s with a single keyframe (every keyframe seek lands on frame 0), with 4 s
    // GOPs, and with 2 s GOPs in each container whose keyframe index is used (MP4,
    // WebM, AVI) and in one sampled by probing and decoding forward (MPEG-TS).
    for (codec, gop) in [
        (Codec::H264Mp4, 1000),
        (Codec::Vp8Webm, 1000),
        (Codec::H264Mp4, 100),
        (Codec::H264Mp4, 50),
        (Codec::Vp9Webm, 50),
        (Codec::Mpeg4Avi, 50),
        (Codec::Mpeg4Ts, 50),
    ] {
        let path = tmp
            .path()
            .join(format!("sparse{gop}.{}", codec.extension()));
        pattern_clip(&path, "ball", codec, 200, gop);
        let s = media::sample_frames(
            &path,
            Sampler::Uniform { n: 16 },
            256,
            None,
            &DecodeOptions::default(),
        )
        .unwrap();
        assert_eq!(s.frames.len(), 16, "{codec:?} gop {gop}");
        assert_distinct_increasing(&s.frames, "sparse keyframes");
        // Each sample is near its target (a keyframe within half a step of it, or the
        // frame at the target), never at a far keyframe.
        let targets = media::sample::uniform_targets(16, 8_000_000_000);
        let half_step = (targets[1] - targets[0]) as i64 / 2;
        // (MPEG-TS timelines start where the muxer put them, here 0.125 s late.)
        let offset = s.frames[0]
            .pts_ns
            .saturating_sub(targets[0])
            .min(150_000_000) as i64;
        for (f, t) in s.frames.iter().zip(&targets) {
            let d = f.pts_ns as i64 - *t as i64 - offset;
            assert!(
                (-half_step..=half_step).contains(&d),
                "{codec:?} gop {gop}: frame at {} for target {t}",
                f.pts_ns
            );
        }
        // Distinct pictures, not just distinct timestamps (a moving ball).
        let hashes: std::collections::HashSet<_> =
            s.frames.iter().map(|f| blake3::hash(&f.data)).collect();
        assert_eq!(hashes.len(), 16, "{codec:?} gop {gop}: repeated pictures");
    }
}

#[test]
fn sparse_keyframes_with_a_sound_track() {
    // The keyframe index must read files with streams it does not use (its sinks once
    // waited in preroll until a 30 s timeout, and the index was lost).
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("with_audio.mp4");
    reelmap_testkit::make_clip_with_audio(&path, 200, 50).unwrap();
    let keyframes = media::sample::keyframe_index(&path).unwrap();
    let seconds: Vec<f64> = keyframes.iter().map(|&k| k as f64 / 1e9).collect();
    assert_eq!(seconds.len(), 4, "keyframes at {seconds:?}");
    for (s, want) in seconds.iter().zip([0.0, 2.0, 4.0, 6.0]) {
        assert!((s - want).abs() < 0.05, "keyframes at {seconds:?}");
    }
    let s = media::sample_frames(
        &path,
        Sampler::Uniform { n: 16 },
        256,
        None,
        &DecodeOptions::default(),
    )
    .unwrap();
    assert_eq!(s.frames.len(), 16);
    assert!(s.warning.is_none(), "{:?}", s.warning);
    assert_distinct_increasing(&s.frames, "with audio");
}

#[test]
fn a_fragmented_mp4_is_sampled_like_the_plain_one() {
    // qtdemux does not snap keyframe seeks in fragmented MP4: the decoder goes from the
    // keyframe to the target and the picture comes back stamped at the target, so
    // every sample decoded from its keyframe again (~40 % more pictures here, 6.7× on
    // a real 10 s file). The sampler must notice and plan from the keyframe index as it
    // does for the plain file: the same pictures (2 s GOPs, 0.6 s steps: the keyframes
    // at 2, 4, 6 and 8 s are within half a step of a target and taken).
    let tmp = tempfile::tempdir().unwrap();
    let (plain, fragmented) = (tmp.path().join("plain.mp4"), tmp.path().join("frag.mp4"));
    reelmap_testkit::make_plain_and_fragmented_mp4(&plain, &fragmented, 250, 50).unwrap();
    let a = media::sample_frames(
        &plain,
        Sampler::Uniform { n: 16 },
        256,
        None,
        &DecodeOptions::default(),
    )
    .unwrap();
    let b = media::sample_frames(
        &fragmented,
        Sampler::Uniform { n: 16 },
        256,
        None,
        &DecodeOptions::default(),
    )
    .unwrap();
    assert_eq!((a.frames.len(), b.frames.len()), (16, 16));
    assert_distinct_increasing(&b.frames, "fragmented");
    let secs = |s: &media::Sampled| -> Vec<f64> {
        s.frames.iter().map(|f| f.pts_ns as f64 / 1e9).collect()
    };
    for (i, (x, y)) in a.frames.iter().zip(&b.frames).enumerate() {
        assert!(
            x.data == y.data && x.pts_ns.abs_diff(y.pts_ns) <= 2_000_000,
            "sample {i} differs: plain at {:?}, fragmented at {:?}",
            secs(&a),
            secs(&b)
        );
    }
    for k in [2.0, 4.0, 6.0, 8.0] {
        assert!(
            secs(&b).iter().any(|t| (t - k).abs() < 0.01),
            "the keyframe at {k} s was not taken: {:?}",
            secs(&b)
        );
    }
}

/// A moving ball in every test codec, an H.264 MP4 with a sound track (twice as
/// long), and an 854×480 H.264 MP4 (a width that is not a multiple of 16, which the
/// direct chain's allocation answer is for): (name, path).
fn every_codec_and_sound(dir: &std::path::Path, frames: u32, gop: u32) -> Vec<(String, PathBuf)> {
    let mut clips = Vec::new();
    for codec in Codec::ALL {
        let path = dir.join(format!("clip.{}", codec.extension()));
        pattern_clip(&path, "ball", codec, frames, gop);
        clips.push((format!("{codec:?}"), path));
    }
    let with_audio = dir.join("with_audio.mp4");
    reelmap_testkit::make_clip_with_audio(&with_audio, 2 * frames, gop).unwrap();
    clips.push(("H.264 + AAC".into(), with_audio));
    let wide = dir.join("854x480.mp4");
    let spec = ClipSpec {
        codec: Codec::H264Mp4,
        width: 854,
        height: 480,
        frames,
        gop,
        ..ClipSpec::default()
    };
    reelmap_testkit::make_pattern_clip(&wide, "ball", "motion=wavy", &spec).unwrap();
    clips.push(("H.264 854×480".into(), wide));
    clips
}

#[test]
fn direct_chain_gives_the_frames_decodebin_gives() {
    // MP4, Matroska/WebM and AVI skip decodebin (`demuxer ! parser ! decoder`); the
    // samples must be the same pictures at the same times, for every codec, with
    // sparse keyframes and with a sound track.
    let tmp = tempfile::tempdir().unwrap();
    let clips = every_codec_and_sound(tmp.path(), 100, 50);
    let mut direct_used = 0;
    for (name, path) in &clips {
        let demuxer = media::direct_demuxer(path, &DecodeOptions::default());
        let via_decodebin = media::sample_frames_via(
            path,
            Sampler::Uniform { n: 16 },
            256,
            None,
            None,
            &DecodeOptions::default(),
        )
        .unwrap();
        let auto = media::sample_frames(
            path,
            Sampler::Uniform { n: 16 },
            256,
            None,
            &DecodeOptions::default(),
        )
        .unwrap();
        assert!(!via_decodebin.direct);
        // Chains that cannot be built directly fall back to decodebin.
        assert_eq!(auto.direct, demuxer.is_some(), "{name}");
        direct_used += auto.direct as usize;
        assert_eq!(auto.frames.len(), via_decodebin.frames.len(), "{name}");
        for (a, b) in auto.frames.iter().zip(&via_decodebin.frames) {
            assert_eq!(a.pts_ns, b.pts_ns, "{name}");
            assert_eq!((a.width, a.height), (b.width, b.height), "{name}");
            assert!(a.data == b.data, "{name}: pixels differ at {} ns", a.pts_ns);
        }
    }
    // H.264/MP4, H.265/MKV, VP8 and VP9/WebM, MJPEG and MPEG-4/AVI, AV1/MKV, H.264+AAC,
    // H.264 854×480.
    assert_eq!(direct_used, 9);
}

#[test]
fn quick_probe_tells_what_the_discoverer_tells() {
    // The scan probes MP4, Matroska/WebM and AVI without decoding; what it stores must
    // be what GStreamer's discoverer says about the same files.
    let tmp = tempfile::tempdir().unwrap();
    let clips = every_codec_and_sound(tmp.path(), 60, 25);
    let timeout = std::time::Duration::from_secs(20);
    let mut quick_used = 0;
    for (name, path) in &clips {
        let Some(quick) = media::probe::probe_quick(path, timeout, &DecodeOptions::default())
        else {
            assert!(
                media::direct_demuxer(path, &DecodeOptions::default()).is_none(),
                "{name}: no quick probe"
            );
            continue;
        };
        quick_used += 1;
        let media::Probe::Video(slow) = media::probe::probe_with_discoverer(path, timeout).unwrap()
        else {
            panic!("{name}: the discoverer finds no video");
        };
        assert_eq!(quick.duration_ms, slow.duration_ms, "{name}");
        assert_eq!(
            (quick.width, quick.height),
            (slow.width, slow.height),
            "{name}"
        );
        assert_eq!(quick.codec, slow.codec, "{name}");
        assert_eq!(quick.container, slow.container, "{name}");
        assert_eq!(quick.seekable, slow.seekable, "{name}");
        let fps = |i: &media::MediaInfo| i.fps.map(|f| (f * 1000.0).round());
        assert_eq!(fps(&quick), fps(&slow), "{name}");
    }
    assert_eq!(quick_used, 9);
}

#[test]
fn short_clips_give_what_they_have() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("short.mp4");
    pattern_clip(&path, "smpte", Codec::H264Mp4, 5, 5);
    let s = media::sample_frames(
        &path,
        Sampler::Uniform { n: 16 },
        256,
        None,
        &DecodeOptions::default(),
    )
    .unwrap();
    assert!(
        !s.frames.is_empty() && s.frames.len() <= 5,
        "{} frames",
        s.frames.len()
    );
    assert_distinct_increasing(&s.frames, "short clip");
}

#[test]
fn every_nth_and_fixed_rate_samplers() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("dense.webm");
    pattern_clip(&path, "ball", Codec::Vp8Webm, 50, 25); // 2 s at 25 fps
    let every = media::sample_frames(
        &path,
        Sampler::EveryNth { step: 5, max: 1000 },
        224,
        None,
        &DecodeOptions::default(),
    )
    .unwrap();
    assert_eq!(every.frames.len(), 10);
    assert_distinct_increasing(&every.frames, "every 5th");
    let rate = media::sample_frames(
        &path,
        Sampler::Rate {
            fps: 5.0,
            max: 1000,
        },
        224,
        None,
        &DecodeOptions::default(),
    )
    .unwrap();
    assert_eq!(rate.frames.len(), 10);
    for w in rate.frames.windows(2) {
        let gap = (w[1].pts_ns - w[0].pts_ns) as f64 / 1e9;
        assert!((gap - 0.2).abs() < 0.045, "gap {gap}");
    }
}

#[test]
fn animated_gif_is_a_video() {
    use image::codecs::gif::{GifEncoder, Repeat};
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("anim.gif");
    {
        let file = std::fs::File::create(&path).unwrap();
        let mut enc = GifEncoder::new(file);
        enc.set_repeat(Repeat::Infinite).unwrap();
        for i in 0..12u32 {
            let img = image::RgbaImage::from_fn(80, 60, |x, y| {
                image::Rgba([
                    ((x + i * 7) % 255) as u8,
                    ((y * 3) % 255) as u8,
                    (i * 20) as u8,
                    255,
                ])
            });
            let frame =
                image::Frame::from_parts(img, 0, 0, image::Delay::from_numer_denom_ms(100, 1));
            enc.encode_frame(frame).unwrap();
        }
    }
    match media::probe(
        &path,
        std::time::Duration::from_secs(10),
        &DecodeOptions::default(),
    )
    .unwrap()
    {
        media::Probe::Video(info) => {
            assert_eq!(info.duration_ms, Some(1200));
            assert_eq!((info.width, info.height), (Some(80), Some(60)));
        }
        other => panic!("GIF probe: {other:?}"),
    }
    let s = media::sample_frames(
        &path,
        Sampler::Uniform { n: 16 },
        256,
        None,
        &DecodeOptions::default(),
    )
    .unwrap();
    assert!(
        s.frames.len() >= 10 && s.frames.len() <= 12,
        "{} frames",
        s.frames.len()
    );
    assert_distinct_increasing(&s.frames, "gif");
    assert_eq!(s.frames[0].height, 256);
}

#[test]
fn poster_skips_black_frames() {
    let black = RgbFrame {
        width: 8,
        height: 8,
        data: vec![0; 192],
        pts_ns: 0,
        duration_ns: None,
    };
    let flat_grey = RgbFrame {
        data: vec![128; 192],
        pts_ns: 1,
        ..black.clone()
    };
    let detailed = RgbFrame {
        data: (0..192).map(|i| (i * 37 % 256) as u8).collect(),
        pts_ns: 2,
        ..black.clone()
    };
    let frames = vec![black.clone(), black.clone(), flat_grey, detailed, black];
    assert_eq!(media::choose_poster(&frames), Some(3));
}

#[test]
fn photo_clips_encode_and_decode() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("cat.mp4");
    photo_clip(&path, &photo("cat.jpg"), 3, Codec::H264Mp4);
    let s = media::sample_frames(
        &path,
        Sampler::Uniform { n: 8 },
        256,
        None,
        &DecodeOptions::default(),
    )
    .unwrap();
    assert_eq!(s.frames.len(), 8);
    // A real scene, not a blank: plenty of detail in every frame.
    for f in &s.frames {
        assert!(f.luma_stats().1 > 20.0);
    }
    let _ = ClipSpec::default();
}
