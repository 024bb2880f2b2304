//! Finding footage again: `index`, `duplicates`, `find` and `search`.

use super::Ctx;
use crate::cli::ModelArgs;
use crate::output::print_apply;
use anyhow::{Context, Result, bail};
use reelmap_core::find::{clip, dense, duplicates as dups, search as words};
use reelmap_core::progress::{Event, Progress};
use reelmap_core::store::Catalogue;
use reelmap_model::Embedder;
use std::collections::HashMap;
use std::path::Path;

/// "1:02:03.4", "2:03.4", "3.4 s".
pub fn clock(seconds: f64) -> String {
    let s = seconds.max(0.0);
    let (h, m, sec) = ((s / 3600.0) as u64, ((s % 3600.0) / 60.0) as u64, s % 60.0);
    match (h, m) {
        (0, 0) => format!("{sec:.1} s"),
        (0, _) => format!("{m}:{sec:04.1}"),
        _ => format!("{h}:{m:02}:{sec:04.1}"),
    }
}

/// Brings the dense index up to date, printing what it did.
fn update_index(ctx: &Ctx, cat: &mut Catalogue, embedder: &Embedder) -> Result<dense::IndexReport> {
    let r = dense::index_library(
        cat,
        embedder,
        &ctx.cli.machine.decode(),
        &ctx.bars,
        ctx.cancel,
    )?;
    if ctx.chatty() && r.videos > 0 {
        eprintln!(
            "Indexed {} of {} videos ({} frames) in {:.1} s{}",
            r.indexed,
            r.videos,
            r.frames,
            r.seconds,
            if r.cancelled { " (interrupted)" } else { "" }
        );
    }
    if r.cancelled {
        bail!("interrupted: run the same command again to continue indexing where it stopped");
    }
    Ok(r)
}

pub fn index(ctx: &Ctx, model: &ModelArgs) -> Result<()> {
    let mut cat = ctx.open_db()?;
    let embedder = ctx.load_embedder(model)?;
    let r = update_index(ctx, &mut cat, &embedder)?;
    ctx.report(&r, |r| {
        if r.videos == 0 {
            println!("Every video is indexed.");
        }
    })
}

fn names(cat: &Catalogue) -> Result<HashMap<i64, String>> {
    Ok(cat
        .videos(None)?
        .into_iter()
        .map(|v| (v.id, v.display))
        .collect())
}

pub fn duplicates(ctx: &Ctx, model: &ModelArgs, set_aside: bool) -> Result<()> {
    let mut cat = ctx.open_db()?;
    let embedder = ctx.load_embedder(model)?;
    update_index(ctx, &mut cat, &embedder)?;
    ctx.bars.event(Event::Stage {
        stage: "duplicates".into(),
        total: 0,
    });
    let groups = dups::duplicates(&cat, &model.model, &mut |done, total| {
        ctx.bars.event(Event::Item {
            stage: "duplicates".into(),
            done: done as u64,
            total: total as u64,
            current: String::new(),
        })
    })?;
    ctx.bars.event(Event::StageDone {
        stage: "duplicates".into(),
    });
    let mut applied = Vec::new();
    if set_aside {
        for g in &groups {
            let others: Vec<i64> = g.videos.iter().copied().filter(|&v| v != g.keep).collect();
            applied.push(dups::set_aside(&mut cat, g.keep, &others)?);
        }
    }
    if ctx.cli.json {
        let out = serde_json::json!({ "groups": groups, "set_aside": applied });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    let name = names(&cat)?;
    if groups.is_empty() {
        println!("No duplicates.");
    }
    for (n, g) in groups.iter().enumerate() {
        println!("Group {} ({} videos):", n + 1, g.videos.len());
        for v in &g.videos {
            let mark = if *v == g.keep { "keep" } else { "    " };
            println!("  {mark} [{v}] {}", name.get(v).map_or("?", String::as_str));
        }
        for p in &g.pairs {
            let speed = if (p.speed - 1.0).abs() > 0.01 {
                format!(" at {:.2}× speed", p.speed)
            } else {
                String::new()
            };
            println!(
                "       [{}] {}–{} = [{}] {}–{}{speed}, similarity {:.2}",
                p.a,
                clock(p.a_span.0),
                clock(p.a_span.1),
                p.b,
                clock(p.b_span.0),
                clock(p.b_span.1),
                p.similarity
            );
        }
    }
    for r in &applied {
        print_apply(r, "move");
    }
    if !groups.is_empty() && !set_aside && ctx.chatty() {
        println!(
            "`reelmap duplicates --set-aside` keeps the marked one of each group and moves the others into a \"Duplicates\" folder (undoable)."
        );
    }
    Ok(())
}

pub fn find(ctx: &Ctx, path: &Path, model: &ModelArgs, limit: usize) -> Result<()> {
    if !path.is_file() {
        bail!("{}: no such file", path.display());
    }
    let mut cat = ctx.open_db()?;
    let embedder = ctx.load_embedder(model)?;
    update_index(ctx, &mut cat, &embedder)?;
    let mut found = clip::find_clip(&cat, &embedder, path, &ctx.cli.machine.decode())
        .with_context(|| format!("cannot read {}", path.display()))?;
    found.truncate(limit);
    if ctx.cli.json {
        println!("{}", serde_json::to_string_pretty(&found)?);
        return Ok(());
    }
    let name = names(&cat)?;
    if found.is_empty() {
        println!("Not found in the library.");
    }
    for m in &found {
        println!(
            "[{}] {} at {} ({} matched, {:.0} % of the clip, similarity {:.2})",
            m.video_id,
            name.get(&m.video_id).map_or("?", String::as_str),
            clock(m.offset_s),
            clock(m.matched_s),
            m.coverage * 100.0,
            m.similarity
        );
    }
    Ok(())
}

pub fn search(ctx: &Ctx, text: &str, model: &str, limit: usize) -> Result<()> {
    let cat = ctx.open_db()?;
    let hits = words::search(&cat, model, text, limit)?;
    if ctx.cli.json {
        println!("{}", serde_json::to_string_pretty(&hits)?);
        return Ok(());
    }
    let name = names(&cat)?;
    if hits.is_empty() {
        println!("Nothing matches {text:?}.");
    }
    for h in &hits {
        let at = h
            .frame
            .map(|(_, ts, p)| {
                format!(
                    " — frame at {} ({:.0} %)",
                    clock(ts as f64 / 1000.0),
                    p * 100.0
                )
            })
            .unwrap_or_default();
        println!(
            "[{}] {} ({}){at}",
            h.video_id,
            name.get(&h.video_id).map_or("?", String::as_str),
            h.matched.join(", ")
        );
    }
    Ok(())
}
