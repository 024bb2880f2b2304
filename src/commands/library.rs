//! `scan`, `embed` and `organise`: bringing videos into the catalogue.

use super::Ctx;
use super::folders::apply_roots;
use crate::cli::{ClusterArgs, ModelArgs, ScanArgs, engine_config};
use crate::output::{
    clusters_json, print_apply, print_clusters, print_embed, print_plan, print_problems, print_scan,
};
use anyhow::Result;
use reelmap_core::pipeline::{self, Grouping, OrganiseOptions};
use reelmap_core::progress::{Event, Progress};
use std::path::{Path, PathBuf};

pub fn scan(ctx: &Ctx, paths: &[PathBuf], scan: &ScanArgs) -> Result<()> {
    let mut cat = ctx.open_db()?;
    let engine = engine_config(&ctx.cli.machine, &default_model(), scan);
    ctx.bars.event(Event::Stage {
        stage: "scan".into(),
        total: 0,
    });
    let progress = |n: usize, p: &Path| {
        ctx.bars.event(Event::Item {
            stage: "scan".into(),
            done: n as u64,
            total: 0,
            current: p.display().to_string(),
        })
    };
    let r = reelmap_core::scan::scan(&mut cat, paths, &engine.scan, &progress);
    ctx.bars.event(Event::StageDone {
        stage: "scan".into(),
    });
    ctx.report(&r?, |r| {
        print_scan(r);
        print_problems("Could not use", &r.problems);
    })
}

pub fn embed(ctx: &Ctx, model: &ModelArgs) -> Result<()> {
    let mut cat = ctx.open_db()?;
    let e = ctx.load_embedder(model)?;
    let engine = engine_config(&ctx.cli.machine, model, &ScanArgs::default());
    let r = reelmap_core::embed::embed_pending(&mut cat, &e, &engine.embed, &ctx.bars, ctx.cancel)?;
    ctx.report(&r, |r| {
        print_embed(r);
        print_problems("Could not decode", &r.problems);
    })
}

pub struct OrganiseArgs<'a> {
    pub scan: &'a ScanArgs,
    pub model: &'a ModelArgs,
    pub cluster: &'a ClusterArgs,
    pub recluster: bool,
    pub target: Option<&'a Path>,
    pub apply: bool,
    pub mode: &'a str,
}

pub fn organise(ctx: &Ctx, paths: &[PathBuf], a: &OrganiseArgs) -> Result<()> {
    reelmap_core::apply::parse_mode(a.mode)?;
    let mut cat = ctx.open_db()?;
    let engine = engine_config(&ctx.cli.machine, a.model, a.scan);
    let opts = OrganiseOptions {
        clustering: a.cluster.options(),
        recluster: a.recluster,
        // The UI lays out its map when it opens one that is missing or stale.
        map: false,
    };
    let done = pipeline::organise(
        &mut cat,
        paths,
        &engine,
        &opts,
        || ctx.load_embedder(a.model).map(Box::new),
        &ctx.bars,
        ctx.cancel,
    )?;
    if ctx.chatty() {
        print_scan(&done.ingested.scan);
        print_embed(&done.ingested.embed);
    }
    if done.grouping.is_none() {
        eprintln!("Interrupted: run the same command again to continue where it stopped.");
        return Ok(());
    }
    let roots: Vec<PathBuf> = paths
        .iter()
        .filter_map(|p| std::fs::canonicalize(p).ok())
        .collect();
    let problems = done.ingested.problems();
    let plans: Vec<_> = roots
        .iter()
        .map(|r| reelmap_core::plan::plan(&cat, Some(r), a.target.unwrap_or(r)))
        .collect::<Result<_>>()?;
    let applied = if a.apply {
        Some(apply_roots(&mut cat, &roots, a.target, a.mode)?)
    } else {
        None
    };
    if ctx.cli.json {
        let out = serde_json::json!({
            "scan": done.ingested.scan,
            "embed": done.ingested.embed,
            "cluster": match &done.grouping {
                Some(Grouping::Clustered(s)) => Some(s),
                _ => None,
            },
            "clusters": clusters_json(&cat, 3)?,
            "plans": plans,
            "applied": applied,
            "problems": problems,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    match &done.grouping {
        Some(Grouping::Clustered(s)) => println!(
            "Clustered {} videos into {} groups ({}){}",
            s.videos,
            s.k,
            s.k_method,
            if s.unsorted > 0 {
                format!("; {} fit no group and are in \"Unsorted\"", s.unsorted)
            } else {
                String::new()
            }
        ),
        Some(Grouping::Filed { videos }) if *videos > 0 && !ctx.cli.quiet => println!(
            "Filed {videos} new videos into the existing clusters (use --recluster to start over)."
        ),
        _ => {}
    }
    print_clusters(&cat, 3)?;
    match &applied {
        Some(reports) => reports.iter().for_each(|r| print_apply(r, a.mode)),
        None => plans.iter().for_each(print_plan),
    }
    print_problems("Could not use", &problems);
    Ok(())
}

/// Model options at their defaults (commands without model flags).
fn default_model() -> ModelArgs {
    use clap::Parser;
    #[derive(Parser)]
    struct Defaults {
        #[command(flatten)]
        model: ModelArgs,
    }
    Defaults::parse_from(["defaults"]).model
}
