//! `eval`: clustering quality on a folder whose subfolders are the true categories.

use super::Ctx;
use crate::cli::{ModelArgs, ScanArgs, engine_config};
use crate::output::{print_embed, print_eval};
use anyhow::{Context, Result};
use reelmap_core::pipeline;
use reelmap_core::store::{self, Catalogue};
use std::path::{Path, PathBuf};

pub fn eval(
    ctx: &Ctx,
    root: &Path,
    model: &ModelArgs,
    opts: &reelmap_core::evaluate::EvalOptions,
) -> Result<()> {
    let db = match &ctx.cli.db {
        Some(p) => p.clone(),
        None => eval_db_path(root)?,
    };
    let mut cat = Catalogue::open(&db)?;
    let root =
        std::fs::canonicalize(root).with_context(|| format!("cannot open {}", root.display()))?;
    let engine = engine_config(&ctx.cli.machine, model, &ScanArgs::default());
    let (ingested, e) = pipeline::ingest(
        &mut cat,
        std::slice::from_ref(&root),
        &engine,
        || ctx.load_embedder(model).map(Box::new),
        &ctx.bars,
        ctx.cancel,
    )?;
    if ctx.cancel.is_cancelled() {
        return Ok(());
    }
    let report = reelmap_core::evaluate::evaluate(&cat, e.name(), &root, opts)?;
    ctx.report(&report, |r| {
        print_embed(&ingested.embed);
        print_eval(r);
    })
}

/// Eval catalogues are kept per evaluated folder, so that re-running is fast and the
/// user's own catalogue is not touched.
pub fn eval_db_path(root: &Path) -> Result<PathBuf> {
    let abs =
        std::fs::canonicalize(root).with_context(|| format!("cannot open {}", root.display()))?;
    let hash = blake3::hash(abs.as_os_str().as_encoded_bytes()).to_hex();
    Ok(store::default_db_path()
        .with_file_name("eval")
        .join(format!("{}.sqlite3", &hash[..16])))
}
