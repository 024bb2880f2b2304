use std::time::Instant;
fn main() {
    let e = reelmap::model::Embedder::load("efficientnet-lite0", &candle_core::Device::Cpu).unwrap();
    let x: Vec<f32> = (0..224 * 224 * 3).map(|i| ((i % 255) as f32 - 127.0) / 128.0).collect();
    for bs in [1usize, 16] {
        let batch: Vec<Vec<f32>> = (0..bs).map(|_| x.clone()).collect();
        e.net.forward_cpu(&batch).unwrap();
        let t = Instant::now();
        let iters = if bs == 1 { 50 } else { 5 };
        for _ in 0..iters { e.net.forward_cpu(&batch).unwrap(); }
        let dt = t.elapsed().as_secs_f64();
        println!("fast batch {bs}: {:.1} img/s", (iters * bs) as f64 / dt);
    }
    let t = Instant::now();
    e.net.forward_candle(&[x.clone()]).unwrap();
    println!("plain candle batch 1: {:.2} img/s", 1.0 / t.elapsed().as_secs_f64());
}
