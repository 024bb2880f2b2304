//! `reelmap bench`: throughput on a generated corpus ([`throughput`]) and research
//! tools on .npy matrices ([`npy`]). A benchmark, not a test: it prints numbers and
//! asserts nothing.

mod find;
mod npy;
mod throughput;

use super::Ctx;
use super::eval::eval_db_path;
use crate::cli::{BenchPart, ModelArgs, ScanArgs, engine_config};
use anyhow::Result;
use reelmap_core::store::Catalogue;
use reelmap_model::Manifest;
use std::path::Path;

pub fn bench(
    ctx: &Ctx,
    part: Option<&BenchPart>,
    videos: usize,
    dir: Option<&Path>,
    model: &ModelArgs,
) -> Result<()> {
    let engine = engine_config(&ctx.cli.machine, model, &ScanArgs::default());
    let Some(part) = part else {
        let e = ctx.load_embedder(model)?;
        let report = throughput::run(&e, videos, dir, &engine, &ctx.bars)?;
        return ctx.report(&report, throughput::print);
    };
    let out = match part {
        BenchPart::Decode { paths, threads } => {
            let short = Manifest::builtin(&model.model)?.preprocess.resize_short;
            serde_json::to_value(throughput::decode(paths, model.sampler, short, *threads)?)?
        }
        BenchPart::Embed { batches, seconds } => {
            let e = ctx.load_embedder(model)?;
            let (speeds, diff) = throughput::embed_speed(&e, batches, *seconds)?;
            serde_json::json!({
                "model": e.name(), "device": reelmap_model::device_name(e.net.device()),
                "cpu_isa": e.net.cpu_isa(), "cpu_threads": reelmap_model::cpu::cpu_threads(),
                "max_abs_diff_vs_pytorch": diff, "speeds": speeds,
                "load_average": throughput::load_average(),
            })
        }
        BenchPart::Rescan { dir, files } => serde_json::to_value(throughput::rescan(dir, *files)?)?,
        BenchPart::Corpus { dir, videos } => {
            let files = throughput::make_corpus(dir, *videos)?;
            serde_json::json!({"dir": dir, "videos": files.len()})
        }
        BenchPart::Adapt {
            videos,
            frames,
            steps,
        } => serde_json::to_value(npy::adapt_speed(*videos, *frames, *steps)?)?,
        BenchPart::Find {
            dir,
            videos,
            frames,
            queries,
        } => serde_json::to_value(find::query_speed(
            dir,
            *videos,
            *frames,
            *queries,
            &model.model,
        )?)?,
        BenchPart::Tsne { input, output } => serde_json::to_value(npy::tsne_npy(input, output)?)?,
        BenchPart::Export { root, dir } => {
            let db = match &ctx.cli.db {
                Some(p) => p.clone(),
                None => eval_db_path(root)?,
            };
            let cat = Catalogue::open(&db)?;
            let root = std::fs::canonicalize(root)?;
            serde_json::to_value(npy::export_library(&cat, &model.model, &root, dir)?)?
        }
        BenchPart::Cluster {
            points,
            labels,
            seeds,
        } => serde_json::to_value(npy::cluster_npy(points, labels, seeds)?)?,
    };
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}
