//! Per-layer time of the CPU kernels on the shapes of an EfficientNet-Lite variant
//! (random weights, one image, one thread): where the time of a forward pass goes.
//!
//!     cargo run --release --example cpu_layers -- [lite0] [--isa avx512|avx2|scalar]

use reelmap::model::cpu::{self, Isa, PackedGemm};
use reelmap::model::efficientnet::{HEAD_CHANNELS, STEM_CHANNELS, block_specs, variant_params};
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
    let (_, _, r) = variant_params(&variant)?;
    let rnd = |n: usize| -> Vec<f32> {
        (0..n)
            .map(|i| ((i * 7919 % 997) as f32 / 997.0 - 0.5) * 0.2)
            .collect()
    };
    let mut rows: Vec<(String, f64, f64)> = Vec::new();
    let gemm = |name: String, m: usize, k: usize, n: usize, rows: &mut Vec<(String, f64, f64)>| {
        let pk = PackedGemm::new(isa, &rnd(k * n), &rnd(n), k, n);
        let a = rnd(m * k);
        let mut out = vec![0f32; m * n];
        let s = time(|| pk.run(&a, m, &mut out, None, true, false));
        rows.push((name, s, (m * k * n) as f64));
    };
    let (mut h, mut w) = (r.div_ceil(2), r.div_ceil(2));
    {
        let img = rnd(r * r * 3);
        let mut col = Vec::new();
        let s = time(|| {
            cpu::im2col_image(&img, r, r, 3, 3, 2, &mut col);
        });
        rows.push(("stem im2col".into(), s, 0.0));
        gemm(
            format!("stem gemm {h}x{w} 27->{STEM_CHANNELS}"),
            h * w,
            27,
            STEM_CHANNELS,
            &mut rows,
        );
    }
    let specs = block_specs(&variant)?;
    for (i, b) in specs.iter().enumerate() {
        let mid = b.in_ch * b.expand;
        if b.expand != 1 {
            gemm(
                format!("b{i:02} expand {h}x{w} {}->{mid}", b.in_ch),
                h * w,
                b.in_ch,
                mid,
                &mut rows,
            );
        }
        let x = rnd(h * w * mid);
        let wt = rnd(b.kernel * b.kernel * mid);
        let bias = rnd(mid);
        let (oh, _) = cpu::same_padding(h, b.kernel, b.stride);
        let (ow, _) = cpu::same_padding(w, b.kernel, b.stride);
        let mut out = vec![0f32; oh * ow * mid];
        let s = time(|| {
            cpu::depthwise_image(
                isa, &x, h, w, mid, &wt, &bias, b.kernel, b.stride, &mut out, false,
            );
        });
        rows.push((
            format!("b{i:02} dw{}s{} {h}x{w}x{mid}", b.kernel, b.stride),
            s,
            (oh * ow * mid * b.kernel * b.kernel) as f64,
        ));
        h = oh;
        w = ow;
        gemm(
            format!("b{i:02} project {h}x{w} {mid}->{}", b.out_ch),
            h * w,
            mid,
            b.out_ch,
            &mut rows,
        );
    }
    let last = specs.last().unwrap().out_ch;
    gemm(
        format!("head {h}x{w} {last}->{HEAD_CHANNELS}"),
        h * w,
        last,
        HEAD_CHANNELS,
        &mut rows,
    );
    let total: f64 = rows.iter().map(|r| r.1).sum();
    println!("{variant}, isa {}, one thread", isa.name());
    for (name, s, macs) in &rows {
        println!(
            "{name:<36} {:>8.1} us {:>5.1}%  {:>6.1} GFLOP/s",
            s * 1e6,
            100.0 * s / total,
            2.0 * macs / s / 1e9
        );
    }
    let macs: f64 = rows.iter().map(|r| r.2).sum();
    println!(
        "total {:.2} ms per image ({:.1} images/s on one thread), {:.0} MMAC",
        total * 1e3,
        1.0 / total,
        macs / 1e6
    );
    Ok(())
}
