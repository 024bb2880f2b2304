//! Embedding through the real pipeline (GStreamer sampling, EfficientNet-Lite0 weights,
//! SQLite): what is stored for each frame is what the network gives for that frame,
//! also when a frame repeats an earlier one and its output is reused.

mod common;

use common::*;
use reelmap::features::{EmbedOptions, embed_pending};
use reelmap::media::{self, Sampler};
use reelmap::model::Embedder;
use reelmap::progress::{Cancel, Silent};
use reelmap::scan::{ScanOptions, scan};
use reelmap::store::Catalogue;
use reelmap::testmedia::Codec;

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
    let embedder = Embedder::load("efficientnet-lite0", &candle_core::Device::Cpu).unwrap();
    let opts = EmbedOptions {
        sampler: Sampler::Uniform { n: 8 },
        ..Default::default()
    };
    let report = embed_pending(&mut cat, &embedder, &opts, &Silent, &Cancel::default()).unwrap();
    assert_eq!((report.embedded, report.failed), (2, 0));

    let mut repeats_seen = 0;
    for video in cat.videos(Some("ok")).unwrap() {
        let stored = cat.frame_features(video.id, embedder.name()).unwrap();
        let sampled =
            media::sample_frames(&video.path, opts.sampler, embedder.resize_short(), None).unwrap();
        assert_eq!(stored.len(), sampled.frames.len());
        let inputs: Vec<Vec<f32>> = sampled
            .frames
            .iter()
            .map(|f| embedder.preprocess(f))
            .collect();
        for (i, ((ts, feature), input)) in stored.iter().zip(&inputs).enumerate() {
            assert_eq!(*ts, sampled.frames[i].ts_ms());
            if inputs[..i].contains(input) {
                repeats_seen += 1;
            }
            // The network on this frame alone.
            let out = embedder.embed(std::slice::from_ref(input)).unwrap();
            let mut want = out.features[0].clone();
            reelmap::util::l2_normalize(&mut want);
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
