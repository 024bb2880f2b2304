//! Configuration: typed options that a front end fills at its edge (command-line
//! flags, with environment variables where clap's `env =` reads them, or the desktop
//! app's defaults) and passes down. The engine itself reads no environment variable.

use crate::embed::EmbedOptions;
use crate::scan::ScanOptions;
use std::path::PathBuf;

/// What the engine needs to embed and organise videos.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Folder of the converted model weights.
    pub models_dir: PathBuf,
    /// Model name (`efficientnet-lite0`, `efficientnet-lite2`).
    pub model: String,
    /// Compute device: `auto`, `cpu`, `cuda`, `cuda:N`, `metal`.
    pub device: String,
    pub embed: EmbedOptions,
    pub scan: ScanOptions,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            models_dir: reelmap_model::manifest::default_models_dir(),
            model: reelmap_model::DEFAULT_MODEL.to_string(),
            device: "auto".into(),
            embed: EmbedOptions::default(),
            scan: ScanOptions::default(),
        }
    }
}

/// Settings that hold for the whole process (the CPU's instruction set, the
/// network's CPU threads), applied once by the front end before any work starts.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessSettings {
    /// Force an instruction set (default: the best this CPU supports).
    pub cpu_isa: Option<reelmap_numeric::Isa>,
    /// Threads of the network on the CPU (0: one per core).
    pub cpu_threads: usize,
}

impl ProcessSettings {
    pub fn apply(&self) -> anyhow::Result<()> {
        if let Some(isa) = self.cpu_isa {
            reelmap_numeric::isa::choose(isa)?;
        }
        reelmap_model::cpu::set_cpu_threads(self.cpu_threads);
        Ok(())
    }
}
