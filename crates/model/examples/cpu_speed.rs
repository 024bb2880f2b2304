//! CPU inference speed of EfficientNet-Lite on the fast CPU path.
//!
//!     cargo run --release --example cpu_speed -- [--models lite0,lite2] [--batches 1,16]
//!         [--seconds 5] [--threads N] [--isa avx512|avx2|scalar] [--json]
//!
//! Prints images/s per model and batch size, the instruction set and thread count,
//! and (for Lite0) the largest difference from the PyTorch golden output.

use anyhow::{Context, Result, bail};
use reelmap_model::{EfficientNetLite, Manifest, cpu};
use std::time::Instant;

fn main() -> Result<()> {
    let mut models = vec!["lite0".to_string(), "lite2".to_string()];
    let mut batches = vec![1usize, 16];
    let mut seconds = 5.0f64;
    let mut threads = 0usize;
    let mut isa = None;
    let mut json = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--models" => models = val()?.split(',').map(|s| s.trim().to_string()).collect(),
            "--batches" => {
                batches = val()?
                    .split(',')
                    .map(|s| s.trim().parse())
                    .collect::<Result<_, _>>()?
            }
            "--seconds" => seconds = val()?.parse()?,
            "--threads" => threads = val()?.parse()?,
            "--isa" => {
                let v = val()?;
                isa = Some(cpu::Isa::parse(&v).with_context(|| format!("unknown ISA {v}"))?)
            }
            "--json" => json = true,
            "-h" | "--help" => {
                println!(
                    "cpu_speed [--models lite0,lite2] [--batches 1,16] [--seconds 5] [--threads N] [--isa avx512|avx2|scalar] [--json]"
                );
                return Ok(());
            }
            other => bail!("unknown argument {other}"),
        }
    }
    cpu::set_cpu_threads(threads);
    let isa = isa.unwrap_or_else(cpu::default_isa);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let photo = image::open(root.join("tests/data/chelsea_224.png"))?.to_rgb8();
    let mut rows = Vec::new();
    for m in &models {
        let name = if m.starts_with("efficientnet-") {
            m.clone()
        } else {
            format!("efficientnet-{m}")
        };
        let manifest = Manifest::builtin(&name)?;
        let weights = reelmap_model::manifest::find_weights(
            &manifest,
            &reelmap_model::manifest::default_models_dir(),
        )?;
        let ts = candle_core::safetensors::load(&weights, &candle_core::Device::Cpu)?;
        let net = EfficientNetLite::from_tensors_with_isa(
            ts,
            &manifest.variant,
            &candle_core::Device::Cpu,
            isa,
        )?;
        let p = &manifest.preprocess;
        let x = reelmap_model::preprocess_rgb(
            photo.width(),
            photo.height(),
            photo.as_raw(),
            p.resize_short,
            p.crop,
            p.mean,
            p.std,
        );
        let mut golden_diff = None;
        if name == "efficientnet-lite0" {
            let g: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(
                root.join("tests/golden/efficientnet-lite0_chelsea.json"),
            )?)?;
            let x224 = reelmap_model::preprocess_rgb(
                photo.width(),
                photo.height(),
                photo.as_raw(),
                224,
                224,
                127.0,
                128.0,
            );
            let out = net.forward_cpu(std::slice::from_ref(&x224))?;
            let d = out.features[0]
                .iter()
                .zip(g["features"].as_array().unwrap())
                .map(|(a, b)| (a - b.as_f64().unwrap() as f32).abs())
                .fold(0f32, f32::max);
            golden_diff = Some(d);
        }
        for &b in &batches {
            let batch: Vec<Vec<f32>> = (0..b.max(1)).map(|_| x.clone()).collect();
            for _ in 0..2 {
                net.forward_cpu(&batch)?; // warm-up
            }
            let t = Instant::now();
            let mut n = 0;
            let mut runs = 0;
            while t.elapsed().as_secs_f64() < seconds || runs < 3 {
                net.forward_cpu(&batch)?;
                n += batch.len();
                runs += 1;
            }
            let s = t.elapsed().as_secs_f64();
            let ips = n as f64 / s;
            if !json {
                println!(
                    "{name:<20} batch {b:>3}: {ips:>8.1} images/s  ({runs} runs, {s:.1} s, isa {}, {} threads{})",
                    net.cpu_isa(),
                    cpu::cpu_threads(),
                    golden_diff
                        .map(|d| format!(", golden max |Δfeature| {d:.2e}"))
                        .unwrap_or_default()
                );
            }
            rows.push(serde_json::json!({
                "model": name, "batch": b, "images_per_s": ips, "isa": net.cpu_isa(),
                "threads": cpu::cpu_threads(), "golden_max_feature_diff": golden_diff,
            }));
        }
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    }
    Ok(())
}
