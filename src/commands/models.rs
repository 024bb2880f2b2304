//! `models list | import`: the model weights.

use super::Ctx;
use crate::cli::ModelsCmd;
use anyhow::Result;
use reelmap_model::{DEFAULT_MODEL, Manifest, manifest};

pub fn models(ctx: &Ctx, cmd: &ModelsCmd) -> Result<()> {
    let dir = ctx.cli.machine.models_dir();
    match cmd {
        ModelsCmd::List => {
            for m in Manifest::all_builtin()? {
                let installed = manifest::find_weights(&m, &dir).is_ok();
                println!(
                    "{:<20} {:<10} {} ({}=={}){}",
                    m.name,
                    if installed { "installed" } else { "missing" },
                    m.licence.split(' ').next().unwrap_or(""),
                    m.source.package,
                    m.source.version,
                    if m.name == DEFAULT_MODEL {
                        "  [default]"
                    } else {
                        ""
                    }
                );
            }
            println!("models folder: {}", dir.display());
        }
        ModelsCmd::Import { file } => {
            let (m, out) = reelmap_model::import_weights(file, &dir)?;
            println!(
                "Imported {} (SHA-256 verified) to {}",
                m.name,
                out.display()
            );
        }
    }
    Ok(())
}
