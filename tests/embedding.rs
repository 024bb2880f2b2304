//! Embedding through the real pipeline (GStreamer sampling, EfficientNet-Lite0 weights,
//! SQLite): what is stored for each frame is what the network gives for that frame,
//! also when a frame repeats an earlier one and its output is reused.

mod common;

use common::*;
use reelmap_core::embed::{EmbedOptions, embed_pending};
use reelmap_core::progress::{Cancel, Silent};
use reelmap_core::scan::{ScanOptions, scan};
use reelmap_core::store::{Catalogue, VideoStatus};
use reelmap_media::{self as media, DecodeOptions, Sampler};
use reelmap_model::Embedder;
use reelmap_testkit::Codec;

#[test]
fn repeated_frames_get_the_networks_own_output() {
    let dir = tempfile::tempdir().unwrap();
    let lib = dir.path().join("lib");
    std::fs::create_dir_all(&lib).unwrap();
    // A still picture (the encoder reproduces the same pixels frame after frame) and
    // a moving one.
    let still = lib.join("still.mp4");
    let moving = lib.join("moving.mp4");
    pattern_clip(&still, "pinwheel", Codec::H264Mp4, 100, 25);
    pattern_clip(&moving, "ball", Codec::H264Mp4, 100, 25);

    let mut cat = Catalogue::open(&dir.path().join("cat.sqlite3")).unwrap();
    scan(
        &mut cat,
        std::slice::from_ref(&lib),
        &ScanOptions::default(),
        &|_, _| {},
    )
    .unwrap();
    let embedder = Embedder::load(
        "efficientnet-lite0",
        &candle_core::Device::Cpu,
        &reelmap_model::manifest::default_models_dir(),
    )
    .unwrap();
    let opts = EmbedOptions {
        sampler: Sampler::Uniform { n: 8 },
        ..Default::default()
    };
    let report = embed_pending(&mut cat, &embedder, &opts, &Silent, &Cancel::default()).unwrap();
    assert_eq!((report.embedded, report.failed), (2, 0));

    let mut repeats_seen = 0;
    for video in cat.videos(Some(VideoStatus::Ok)).unwrap() {
        let stored = cat.frame_features(video.id, embedder.name()).unwrap();
        let sampled = media::sample_frames(
            &video.path,
            opts.sampler,
            embedder.resize_short(),
            None,
            &DecodeOptions::default(),
        )
        .unwrap();
        assert_eq!(stored.len(), sampled.frames.len());
        let inputs: Vec<Vec<f32>> = sampled
            .frames
            .iter()
            .map(|f| embedder.preprocess(f.width, f.height, &f.data))
            .collect();
        for (i, ((ts, feature), input)) in stored.iter().zip(&inputs).enumerate() {
            assert_eq!(*ts, sampled.frames[i].ts_ms());
            if inputs[..i].contains(input) {
                repeats_seen += 1;
            }
            // The network on this frame alone.
            let out = embedder.embed(std::slice::from_ref(input)).unwrap();
            let mut want = out.features[0].clone();
            reelmap_numeric::l2_normalize(&mut want);
            let diff = feature
                .iter()
                .zip(&want)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            // Stored as f16.
            assert!(diff < 2e-3, "{} frame {i}: {diff}", video.path.display());
        }
        let is_still = video.path.ends_with("still.mp4");
        if !is_still {
            assert!(
                (1..inputs.len()).all(|i| !inputs[..i].contains(&inputs[i])),
                "the moving clip has no repeated frame"
            );
        }
    }
    assert!(repeats_seen > 0, "the still clip repeats frames exactly");
    assert_eq!(report.repeated_frames, repeats_seen);
}

/// Files with the same bytes are decoded once: a copy takes the results of the file it
/// copies, whether that was embedded in an earlier run or earlier in the same one. A
/// file that only looks the same (same size and fingerprint, one byte different) is
/// decoded itself.
#[test]
fn copies_take_the_results_of_the_file_they_copy() {
    let dir = tempfile::tempdir().unwrap();
    let lib = dir.path().join("lib");
    std::fs::create_dir_all(lib.join("backup")).unwrap();
    let original = lib.join("ball.mp4");
    // Noise, so that the file is well beyond the fingerprint's first and last 64 KiB.
    pattern_clip(&original, "snow", Codec::H264Mp4, 50, 25);
    let bytes = std::fs::read(&original).unwrap();
    assert!(
        bytes.len() > 3 * 64 * 1024,
        "the clip must be larger than the fingerprint"
    );
    std::fs::write(lib.join("backup/ball copy.mp4"), &bytes).unwrap();

    let mut cat = Catalogue::open(&dir.path().join("cat.sqlite3")).unwrap();
    let embedder = Embedder::load(
        "efficientnet-lite0",
        &candle_core::Device::Cpu,
        &reelmap_model::manifest::default_models_dir(),
    )
    .unwrap();
    let opts = EmbedOptions {
        sampler: Sampler::Uniform { n: 8 },
        ..Default::default()
    };
    let scan_lib = |cat: &mut Catalogue| {
        scan(
            cat,
            std::slice::from_ref(&lib),
            &ScanOptions::default(),
            &|_, _| {},
        )
        .unwrap()
    };
    scan_lib(&mut cat);
    let first = embed_pending(&mut cat, &embedder, &opts, &Silent, &Cancel::default()).unwrap();
    assert_eq!((first.embedded, first.failed, first.copies), (2, 0, 1));
    assert_eq!(first.frames, 8, "only one of the two files was decoded");

    // Later: another copy, and a file that differs from the original by one byte in
    // the middle (where the scan's fingerprint does not look).
    std::fs::write(lib.join("backup/ball again.mp4"), &bytes).unwrap();
    let mut altered = bytes.clone();
    let mid = altered.len() / 2;
    altered[mid] ^= 0x55;
    std::fs::write(lib.join("altered.mp4"), &altered).unwrap();
    scan_lib(&mut cat);
    let second = embed_pending(&mut cat, &embedder, &opts, &Silent, &Cancel::default()).unwrap();
    assert_eq!((second.videos, second.copies), (2, 1));
    assert!(
        second.frames > 0 || second.failed == 1,
        "the altered file was decoded: {second:?}"
    );

    let videos = cat.videos(Some(VideoStatus::Ok)).unwrap();
    let by_name = |name: &str| {
        videos
            .iter()
            .find(|v| v.path.ends_with(name))
            .unwrap_or_else(|| panic!("{name} not in the catalogue"))
            .id
    };
    let altered_id = by_name("altered.mp4");
    let altered_fp = cat.video(altered_id).unwrap().unwrap().fingerprint;
    assert_eq!(
        altered_fp,
        cat.video(by_name("ball.mp4")).unwrap().unwrap().fingerprint,
        "the altered file has the original's fingerprint"
    );
    let model = embedder.name();
    let want = cat.frame_features(by_name("ball.mp4"), model).unwrap();
    assert_eq!(want.len(), 8);
    let descriptors: std::collections::HashMap<i64, Vec<f32>> =
        cat.descriptors(model).unwrap().into_iter().collect();
    for name in ["ball copy.mp4", "ball again.mp4"] {
        let id = by_name(name);
        assert_eq!(cat.frame_features(id, model).unwrap(), want, "{name}");
        assert_eq!(
            descriptors[&id],
            descriptors[&by_name("ball.mp4")],
            "{name}"
        );
        assert_eq!(
            cat.poster(id).unwrap(),
            cat.poster(by_name("ball.mp4")).unwrap(),
            "{name}"
        );
    }
}
