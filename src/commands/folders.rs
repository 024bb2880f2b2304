//! `apply`, `undo` and `journal`: the folders on disk, through the journal.

use super::Ctx;
use crate::output::{print_apply, print_plan, print_problems};
use anyhow::{Context, Result};
use reelmap_core::store::Catalogue;
use std::path::{Path, PathBuf};

pub fn apply(
    ctx: &Ctx,
    paths: &[PathBuf],
    target: Option<&Path>,
    mode: &str,
    dry_run: bool,
) -> Result<()> {
    let mut cat = ctx.open_db()?;
    let roots: Vec<PathBuf> = if paths.is_empty() {
        cat.roots()?.into_iter().map(|(_, p)| p).collect()
    } else {
        paths
            .iter()
            .map(|p| {
                std::fs::canonicalize(p).with_context(|| format!("cannot open {}", p.display()))
            })
            .collect::<Result<_>>()?
    };
    if dry_run {
        for r in &roots {
            let plan = reelmap_core::plan::plan(&cat, Some(r), target.unwrap_or(r))?;
            ctx.report(&plan, print_plan)?;
        }
        return Ok(());
    }
    let reports = apply_roots(&mut cat, &roots, target, mode)?;
    ctx.report(&reports, |reports| {
        reports.iter().for_each(|r| print_apply(r, mode))
    })
}

pub fn undo(ctx: &Ctx) -> Result<()> {
    let mut cat = ctx.open_db()?;
    let r = reelmap_core::apply::undo_last(&mut cat)?;
    ctx.report(&r, |r| match r {
        None => println!("Nothing to undo."),
        Some(r) => {
            println!(
                "Undid batch {}: {} files back where they were",
                r.batch_id.unwrap_or(0),
                r.files_restored
            );
            print_problems("Could not restore", &r.failed);
        }
    })
}

pub fn journal(ctx: &Ctx) -> Result<()> {
    let cat = ctx.open_db()?;
    let batches = reelmap_core::apply::batches(&cat)?;
    ctx.report(&batches, |b| {
        if b.is_empty() {
            println!("No changes were ever applied.");
        }
        for x in b {
            println!(
                "batch {:>4}  {:<8} {:<5} {:>5} files {:>3} failed  {}",
                x.id, x.state, x.mode, x.files, x.failed, x.base
            );
        }
    })
}

/// Applies the plan for each root (or one target folder).
pub fn apply_roots(
    cat: &mut Catalogue,
    roots: &[PathBuf],
    target: Option<&Path>,
    mode: &str,
) -> Result<Vec<reelmap_core::apply::ApplyReport>> {
    let mode = reelmap_core::apply::parse_mode(mode)?;
    let plans: Vec<_> = roots
        .iter()
        .map(|r| reelmap_core::plan::plan(cat, Some(r), target.unwrap_or(r)))
        .collect::<Result<_>>()?;
    let Some(base) = target
        .map(Path::to_path_buf)
        .or_else(|| roots.first().cloned())
    else {
        return Ok(vec![]);
    };
    // One journal batch for all folders: one `reelmap undo` restores them all.
    let plan = reelmap_core::plan::merge_plans(plans, &base);
    Ok(vec![reelmap_core::apply::apply(cat, &plan, mode)?])
}
