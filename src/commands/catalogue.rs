//! Looking at and changing the clusters: `cluster`, `clusters`, `videos`, `rename`,
//! `assign`, `export`.

use super::Ctx;
use crate::cli::{AdaptArgs, ClusterArgs, ExportFormat};
use crate::output::{clusters_json, print_adapt, print_clusters};
use anyhow::{Context, Result, bail};
use reelmap_core::clustering::Method;
use reelmap_core::learn;
use reelmap_core::store::{Catalogue, VideoStatus};
use std::collections::HashMap;
use std::path::Path;

pub fn cluster(ctx: &Ctx, cluster: &ClusterArgs, adapt: &AdaptArgs, model: &str) -> Result<()> {
    let mut cat = ctx.open_db()?;
    let opts = cluster.options();
    if opts.method != Method::Mean && learn::trained_head(&cat, model)?.is_none() {
        let r = learn::adapt(&mut cat, model, &adapt.options(), &ctx.bars, ctx.cancel)?;
        if ctx.chatty() {
            print_adapt(&r);
        }
        if r.cancelled {
            return Ok(());
        }
    }
    let s = reelmap_core::clustering::cluster_library(&mut cat, model, &opts)?;
    if ctx.cli.json {
        println!("{}", serde_json::to_string_pretty(&s)?);
    } else {
        println!(
            "Clustered {} videos into {} groups ({})",
            s.videos, s.k, s.k_method
        );
        print_clusters(&cat, 3)?;
    }
    Ok(())
}

pub fn adapt(ctx: &Ctx, adapt: &AdaptArgs, model: &str) -> Result<()> {
    let mut cat = ctx.open_db()?;
    let r = learn::adapt(&mut cat, model, &adapt.options(), &ctx.bars, ctx.cancel)?;
    ctx.report(&r, print_adapt)
}

pub fn clusters(ctx: &Ctx, examples: usize) -> Result<()> {
    let cat = ctx.open_db()?;
    if ctx.cli.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&clusters_json(&cat, examples)?)?
        );
    } else {
        print_clusters(&cat, examples)?;
    }
    Ok(())
}

pub fn videos(ctx: &Ctx, failed: bool, cluster: Option<i64>) -> Result<()> {
    let cat = ctx.open_db()?;
    let asg: HashMap<i64, i64> = cat
        .assignments()?
        .into_iter()
        .map(|a| (a.video_id, a.cluster_id))
        .collect();
    let videos: Vec<_> = cat
        .videos(failed.then_some(VideoStatus::Failed))?
        .into_iter()
        .filter(|v| cluster.is_none() || asg.get(&v.id) == cluster.as_ref())
        .collect();
    if ctx.cli.json {
        let rows: Vec<_> = videos
            .iter()
            .map(|v| {
                serde_json::json!({
                    "id": v.id, "path": v.display, "status": v.status, "error": v.error,
                    "duration_ms": v.duration_ms, "codec": v.codec, "container": v.container,
                    "width": v.width, "height": v.height, "fps": v.fps, "cluster": asg.get(&v.id),
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        for v in videos {
            let extra = v
                .error
                .as_deref()
                .map(|e| format!("  ({e})"))
                .unwrap_or_default();
            println!("{:>6} {:<7} {}{}", v.id, v.status, v.display, extra);
        }
    }
    Ok(())
}

pub fn rename(ctx: &Ctx, cluster: i64, name: &str) -> Result<()> {
    let cat = ctx.open_db()?;
    cat.rename_cluster(cluster, name)?;
    if !ctx.cli.quiet {
        println!("Renamed cluster {cluster} to \"{}\"", name.trim());
    }
    Ok(())
}

pub fn assign(ctx: &Ctx, to: i64, videos: &[i64]) -> Result<()> {
    let mut cat = ctx.open_db()?;
    if !cat.clusters()?.iter().any(|c| c.id == to) {
        bail!("there is no cluster with id {to}");
    }
    cat.assign_user(videos, to)?;
    if !ctx.cli.quiet {
        println!("Moved {} videos to cluster {to}", videos.len());
    }
    Ok(())
}

pub fn export(ctx: &Ctx, format: ExportFormat, output: Option<&Path>) -> Result<()> {
    let cat = ctx.open_db()?;
    let text = export_text(&cat, format)?;
    match output {
        Some(p) => std::fs::write(p, text).with_context(|| format!("cannot write {}", p.display())),
        None => {
            print!("{text}");
            Ok(())
        }
    }
}

/// The catalogue's video → cluster table as JSON or CSV text.
fn export_text(cat: &Catalogue, format: ExportFormat) -> Result<String> {
    let clusters: HashMap<i64, (String, String)> = cat
        .clusters()?
        .into_iter()
        .map(|c| (c.id, (c.name, c.kind.to_string())))
        .collect();
    let asg: HashMap<i64, (i64, String)> = cat
        .assignments()?
        .into_iter()
        .map(|a| (a.video_id, (a.cluster_id, a.source.to_string())))
        .collect();
    let videos = cat.videos(None)?;
    match format {
        ExportFormat::Json => {
            let rows: Vec<_> = videos
                .iter()
                .map(|v| {
                    let (cid, source) = asg
                        .get(&v.id)
                        .cloned()
                        .map(|(c, s)| (Some(c), Some(s)))
                        .unwrap_or((None, None));
                    let name = cid.and_then(|c| clusters.get(&c)).map(|c| c.0.clone());
                    serde_json::json!({
                        "video_id": v.id, "path": v.display, "status": v.status,
                        "cluster_id": cid, "cluster": name, "assigned_by": source, "error": v.error,
                    })
                })
                .collect();
            Ok(serde_json::to_string_pretty(&rows)? + "\n")
        }
        ExportFormat::Csv => {
            let mut out =
                String::from("video_id,path,status,cluster_id,cluster,assigned_by,error\n");
            for v in &videos {
                let (cid, source) = asg
                    .get(&v.id)
                    .cloned()
                    .map(|(c, s)| (c.to_string(), s))
                    .unwrap_or_default();
                let name = asg
                    .get(&v.id)
                    .and_then(|(c, _)| clusters.get(c))
                    .map(|c| c.0.clone())
                    .unwrap_or_default();
                out.push_str(&format!(
                    "{},{},{},{},{},{},{}\n",
                    v.id,
                    csv_field(&v.display),
                    v.status,
                    cid,
                    csv_field(&name),
                    source,
                    csv_field(v.error.as_deref().unwrap_or(""))
                ));
            }
            Ok(out)
        }
    }
}

/// RFC 4180 quoting.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}
