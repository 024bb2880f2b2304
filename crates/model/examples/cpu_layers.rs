//! Per-layer time of the CPU kernels on the shapes of an EfficientNet-Lite variant
//! (random weights, one image, one thread): where the time of a forward pass goes,
//! next to the simple kernels (`cpu::pointwise` on the `gemm` crate, the
//! auto-vectorised `cpu::depthwise`) that the CPU path used before.
//!
//!     cargo run --release --example cpu_layers -- [lite0] [--isa avx512|avx2|scalar]

use reelmap_model::cpu::{self, Isa, PackedGemm};
use reelmap_model::efficientnet::{HEAD_CHANNELS, STEM_CHANNELS, block_specs, variant_params};
use std::time::Instant;

fn time<F: FnMut()>(mut f: F) -> f64 {
    f();
    let t = Instant::now();
    let mut n = 0;
    while t.elapsed().as_secs_f64() < 0.05 || n < 5 {
        f();
        n += 1;
    }
    t.elapsed().as_secs_f64() / n as f64
}

fn rnd(n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| ((i * 7919 % 997) as f32 / 997.0 - 0.5) * 0.2)
        .collect()
}

/// (layer, seconds, multiply-adds, seconds with the old kernel)
type Row = (String, f64, f64, f64);

fn gemm(isa: Isa, name: String, m: usize, k: usize, n: usize, rows: &mut Vec<Row>) {
    let (w, b) = (rnd(k * n), rnd(n));
    let pk = PackedGemm::new(isa, &w, &b, k, n);
    let a = rnd(m * k);
    let mut out = vec![0f32; m * n];
    let s = time(|| pk.run(&a, m, &mut out, None, true, false));
    let mut old = Vec::new();
    let s_old = time(|| cpu::pointwise(&a, m, k, &w, &b, n, None, true, &mut old));
    rows.push((name, s, (m * k * n) as f64, s_old));
}

fn main() -> anyhow::Result<()> {
    let mut variant = "lite0".to_string();
    let mut isa = cpu::default_isa();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--isa" {
            isa = Isa::parse(&args.next().unwrap_or_default()).expect("isa");
        } else {
            variant = a;
        }
    }
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build()?;
    pool.install(|| run(&variant, isa))
}

fn run(variant: &str, isa: Isa) -> anyhow::Result<()> {
    let (_, _, r) = variant_params(variant)?;
    let mut rows: Vec<Row> = Vec::new();
    let (mut h, mut w) = (r.div_ceil(2), r.div_ceil(2));
    let img = rnd(r * r * 3);
    let mut col = Vec::new();
    let s = time(|| {
        cpu::im2col_image(&img, r, r, 3, 3, 2, &mut col, false);
    });
    rows.push(("stem im2col".into(), s, 0.0, f64::NAN));
    let name = format!("stem gemm {h}x{w} 27->{STEM_CHANNELS}");
    gemm(isa, name, h * w, 27, STEM_CHANNELS, &mut rows);
    let specs = block_specs(variant)?;
    for (i, b) in specs.iter().enumerate() {
        let mid = b.in_ch * b.expand;
        if b.expand != 1 {
            let name = format!("b{i:02} expand {h}x{w} {}->{mid}", b.in_ch);
            gemm(isa, name, h * w, b.in_ch, mid, &mut rows);
        }
        let x = rnd(h * w * mid);
        let wt = rnd(b.kernel * b.kernel * mid);
        let bias = rnd(mid);
        let (oh, _) = cpu::same_padding(h, b.kernel, b.stride);
        let (ow, _) = cpu::same_padding(w, b.kernel, b.stride);
        let mut out = vec![0f32; oh * ow * mid];
        let (k, st) = (b.kernel, b.stride);
        let s = time(|| {
            cpu::depthwise_image(isa, &x, h, w, mid, &wt, &bias, k, st, &mut out, false);
        });
        let mut old = Vec::new();
        let s_old = time(|| {
            cpu::depthwise(&x, 1, h, w, mid, &wt, &bias, k, st, &mut old);
        });
        let name = format!("b{i:02} dw{k}s{st} {h}x{w}x{mid}");
        rows.push((name, s, (oh * ow * mid * k * k) as f64, s_old));
        h = oh;
        w = ow;
        let name = format!("b{i:02} project {h}x{w} {mid}->{}", b.out_ch);
        gemm(isa, name, h * w, mid, b.out_ch, &mut rows);
    }
    let last = specs.last().unwrap().out_ch;
    let name = format!("head {h}x{w} {last}->{HEAD_CHANNELS}");
    gemm(isa, name, h * w, last, HEAD_CHANNELS, &mut rows);
    let total: f64 = rows.iter().map(|r| r.1).sum();
    println!("{variant}, isa {}, one thread", isa.name());
    println!(
        "{:<36} {:>11} {:>6} {:>15} {:>12}",
        "layer", "time", "share", "speed", "old kernel"
    );
    for (name, s, macs, s_old) in &rows {
        println!(
            "{name:<36} {:>8.1} us {:>5.1}%  {:>6.1} GFLOP/s {:>9.1} us",
            s * 1e6,
            100.0 * s / total,
            2.0 * macs / s / 1e9,
            s_old * 1e6
        );
    }
    let macs: f64 = rows.iter().map(|r| r.2).sum();
    let sum = |pick: &dyn Fn(&Row) -> bool, col: fn(&Row) -> f64| -> f64 {
        rows.iter().filter(|r| pick(r)).map(col).sum::<f64>() * 1e3
    };
    let is_dw = |r: &Row| r.0.contains(" dw");
    let is_gemm = |r: &Row| !r.0.contains(" dw") && !r.0.contains("im2col");
    println!(
        "1x1/stem GEMMs: {:.2} ms (old {:.2} ms); depthwise: {:.2} ms (old {:.2} ms)",
        sum(&is_gemm, |r| r.1),
        sum(&is_gemm, |r| r.3),
        sum(&is_dw, |r| r.1),
        sum(&is_dw, |r| r.3)
    );
    println!(
        "total {:.2} ms per image ({:.1} images/s on one thread), {:.0} MMAC",
        total * 1e3,
        1.0 / total,
        macs / 1e6
    );
    Ok(())
}
