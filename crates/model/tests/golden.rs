//! The Candle port of EfficientNet-Lite0 against the PyTorch reference
//! (golden file made by scripts/reference/make_golden.py from the same weights).

use reelmap_model::{Embedder, preprocess_rgb};
use serde_json::Value;

fn golden() -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/golden/efficientnet-lite0_chelsea.json"
    ))
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

fn input() -> Vec<f32> {
    let img = image::open(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/chelsea_224.png"
    ))
    .unwrap()
    .to_rgb8();
    assert_eq!(img.dimensions(), (224, 224));
    preprocess_rgb(224, 224, img.as_raw(), 224, 224, 127.0, 128.0)
}

fn max_abs_diff(a: &[f32], b: &Value) -> f32 {
    let b: Vec<f32> = b
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap() as f32)
        .collect();
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn load() -> Embedder {
    Embedder::load(
        "efficientnet-lite0",
        &candle_core::Device::Cpu,
        &reelmap_model::manifest::default_models_dir(),
    )
    .expect("EfficientNet-Lite0 weights must be installed: run ./scripts/setup.sh")
}

#[test]
fn fast_cpu_path_matches_pytorch_reference() {
    let g = golden();
    let e = load();
    let out = e.net.forward_cpu(&[input()]).unwrap();
    let df = max_abs_diff(&out.features[0], &g["features"]);
    let dl = max_abs_diff(&out.logits[0], &g["logits"]);
    println!("fast CPU path: max |Δfeature| = {df:e}, max |Δlogit| = {dl:e}");
    assert!(df <= 1e-4, "features differ by {df}");
    assert!(dl <= 1e-4, "logits differ by {dl}");
    let top = reelmap_model::top_k(&reelmap_model::softmax(&out.logits[0]), 1)[0].0;
    assert_eq!(top as u64, g["top5"][0][0].as_u64().unwrap());
}

#[test]
fn plain_candle_path_matches_pytorch_reference() {
    let g = golden();
    let e = load();
    let out = e.net.forward_candle(&[input()]).unwrap();
    let df = max_abs_diff(&out.features[0], &g["features"]);
    let dl = max_abs_diff(&out.logits[0], &g["logits"]);
    println!("plain Candle path: max |Δfeature| = {df:e}, max |Δlogit| = {dl:e}");
    assert!(df <= 1e-4, "features differ by {df}");
    assert!(dl <= 1e-4, "logits differ by {dl}");
}

#[test]
fn batching_does_not_change_results() {
    let e = load();
    let x = input();
    let single = e.net.forward_cpu(std::slice::from_ref(&x)).unwrap();
    let flipped: Vec<f32> = x.chunks_exact(3).rev().flatten().copied().collect();
    let batch = e.net.forward_cpu(&[flipped, x.clone(), x]).unwrap();
    for i in [1, 2] {
        let d = single.features[0]
            .iter()
            .zip(&batch.features[i])
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(d < 1e-5, "batch position {i} differs by {d}");
    }
}

#[test]
fn own_thread_gives_the_same_bits_on_one_thread() {
    use reelmap_model::cpu::{OwnThread, set_cpu_threads};
    set_cpu_threads(2);
    let e = load();
    let x = input();
    let flipped: Vec<f32> = x.chunks_exact(3).rev().flatten().copied().collect();
    let batch = [flipped, x.clone(), x];
    let shared = e.net.forward_cpu(&batch).unwrap();
    let own = OwnThread::new();
    let (alone, threads) = own.run(|| {
        let out = e.net.forward_cpu(&batch).unwrap();
        let threads = own.run(reelmap_model::cpu::cpu_threads);
        (out, threads)
    });
    assert_eq!(threads, 1);
    assert_eq!(
        reelmap_model::cpu::cpu_threads(),
        2,
        "the shared pool is back"
    );
    assert_eq!(alone.features, shared.features);
    assert_eq!(alone.logits, shared.logits);
    // Hosted on the inference thread itself: the passes run in place, same bits.
    let caller = std::thread::current().id();
    let (hosted, elsewhere) = own.host(|| {
        let here = std::thread::current().id();
        (
            own.run(|| e.net.forward_cpu(&batch).unwrap()),
            here != caller,
        )
    });
    assert!(elsewhere, "host runs `f` on the inference thread");
    assert_eq!(hosted.features, shared.features);
}
