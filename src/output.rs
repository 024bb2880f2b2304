//! What the command line prints: progress bars on standard error, and the reports
//! of each command for people (the `--json` output is the reports serialised).

use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};
use reelmap_core::apply::ApplyReport;
use reelmap_core::embed::EmbedReport;
use reelmap_core::evaluate::EvalReport;
use reelmap_core::plan::Plan;
use reelmap_core::progress::{Event, Progress};
use reelmap_core::scan::ScanReport;
use reelmap_core::store::{Catalogue, ClusterKind, Source, VideoStatus};
use std::sync::Mutex;

/// Progress bars on standard error (hidden with --quiet or --json).
pub struct Bars {
    bar: Mutex<Option<ProgressBar>>,
    hidden: bool,
}

impl Bars {
    pub fn new(hidden: bool) -> Self {
        Bars {
            bar: Mutex::new(None),
            hidden,
        }
    }
}

impl Progress for Bars {
    fn event(&self, e: Event) {
        if self.hidden {
            return;
        }
        let mut guard = self.bar.lock().unwrap();
        match e {
            Event::Stage { stage, total } => {
                let bar = if total > 0 {
                    ProgressBar::new(total)
                } else {
                    ProgressBar::new_spinner()
                };
                bar.set_style(
                    ProgressStyle::with_template(
                        "{prefix:>8} [{bar:30}] {pos}/{len} {elapsed_precise} ETA {eta} {wide_msg}",
                    )
                    .unwrap()
                    .progress_chars("=> "),
                );
                bar.set_prefix(stage);
                *guard = Some(bar);
            }
            Event::Item { done, current, .. } => {
                if let Some(b) = guard.as_ref() {
                    b.set_position(done);
                    b.set_message(short(&current, 60));
                }
            }
            Event::Failed { path, reason, .. } => {
                if let Some(b) = guard.as_ref() {
                    b.println(format!("  skipped {}: {}", short(&path, 70), reason));
                }
            }
            Event::Note { message } => match guard.as_ref() {
                Some(b) => b.println(message),
                None => eprintln!("{message}"),
            },
            Event::StageDone { .. } => {
                if let Some(b) = guard.take() {
                    b.finish_and_clear();
                }
            }
        }
    }
}

pub fn short(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max {
        s.to_string()
    } else {
        format!("…{}", s.chars().skip(n - max + 1).collect::<String>())
    }
}

pub fn print_scan(r: &ScanReport) {
    println!(
        "Scanned {}: {} video files ({} new, {} changed, {} moved, {} unchanged, {} gone, {} unusable)",
        r.roots.join(", "),
        r.files_seen,
        r.new,
        r.changed,
        r.moved,
        r.unchanged,
        r.gone,
        r.failed
    );
}

pub fn print_problems(title: &str, problems: &[(String, String)]) {
    if problems.is_empty() {
        return;
    }
    println!("\n{title} ({}):", problems.len());
    for (p, reason) in problems {
        println!("  {p}\n      {reason}");
    }
}

pub fn print_embed(r: &EmbedReport) {
    if r.videos == 0 {
        return;
    }
    let repeated = if r.repeated_frames > 0 {
        format!(
            ", {} of them exact repeats embedded once",
            r.repeated_frames
        )
    } else {
        String::new()
    };
    let copies = match r.copies {
        0 => String::new(),
        1 => "; 1 copy of another file took its results".to_string(),
        n => format!("; {n} copies of other files took their results"),
    };
    println!(
        "Embedded {} of {} videos ({} frames{repeated}{copies}) in {:.1} s; {} could not be decoded{}",
        r.embedded,
        r.videos,
        r.frames,
        r.wall_seconds,
        r.failed,
        if r.cancelled { " (interrupted)" } else { "" }
    );
}

pub fn print_apply(r: &ApplyReport, mode: &str) {
    println!(
        "Applied ({mode}): {} files done, {} folders created{}",
        r.files_done,
        r.folders_created,
        r.batch_id
            .map(|b| format!(" — batch {b}, `reelmap undo` restores the previous layout"))
            .unwrap_or_default()
    );
    print_problems("Left where they were", &r.failed);
}

pub fn clusters_json(cat: &Catalogue, examples: usize) -> Result<serde_json::Value> {
    let asg = cat.assignments()?;
    let videos: std::collections::HashMap<i64, String> = cat
        .videos(Some(VideoStatus::Ok))?
        .into_iter()
        .map(|v| (v.id, v.display))
        .collect();
    let mut out = Vec::new();
    for c in cat.clusters()? {
        let ex: Vec<&String> = asg
            .iter()
            .filter(|a| a.cluster_id == c.id)
            .filter_map(|a| videos.get(&a.video_id))
            .take(examples)
            .collect();
        out.push(serde_json::json!({
            "id": c.id, "name": c.name, "name_source": c.name_source, "kind": c.kind,
            "concept": c.concept, "confidence": c.confidence, "count": c.count, "examples": ex,
        }));
    }
    Ok(serde_json::Value::Array(out))
}

pub fn print_clusters(cat: &Catalogue, examples: usize) -> Result<()> {
    let asg = cat.assignments()?;
    let videos: std::collections::HashMap<i64, String> = cat
        .videos(Some(VideoStatus::Ok))?
        .into_iter()
        .map(|v| (v.id, v.display))
        .collect();
    let clusters = cat.clusters()?;
    if clusters.is_empty() {
        println!("No clusters yet: run `reelmap organise PATH`.");
        return Ok(());
    }
    println!();
    for c in clusters {
        let conf = match c.confidence {
            Some(x) if c.kind == ClusterKind::Normal && c.concept.is_some() => {
                format!(", {:.0} % sure", x * 100.0)
            }
            _ => String::new(),
        };
        let who = if c.name_source == Source::User {
            ", named by you"
        } else {
            ""
        };
        println!("[{}] {} — {} videos{}{}", c.id, c.name, c.count, conf, who);
        let mut n = 0;
        for a in asg.iter().filter(|a| a.cluster_id == c.id) {
            if n >= examples {
                break;
            }
            if let Some(p) = videos.get(&a.video_id) {
                println!("      {}", short(p, 90));
                n += 1;
            }
        }
        if c.count as usize > n && n > 0 {
            println!("      … and {} more", c.count as usize - n);
        }
    }
    Ok(())
}

pub fn print_plan(plan: &Plan) {
    println!(
        "\nFolder plan under {} ({} to move, {} already in place; nothing is changed unless you apply it):",
        plan.base.display(),
        plan.items.len(),
        plan.unchanged
    );
    for (cid, folder) in &plan.folders {
        let items: Vec<_> = plan.items.iter().filter(|i| i.cluster_id == *cid).collect();
        if items.is_empty() {
            continue;
        }
        println!("  {}/", folder);
        for it in items.iter().take(5) {
            println!("      ← {}", short(&it.from.display().to_string(), 80));
        }
        if items.len() > 5 {
            println!("      … and {} more", items.len() - 5);
        }
    }
}

pub fn print_eval(r: &EvalReport) {
    println!(
        "\nEvaluation of {} ({} videos, model {})",
        r.root, r.videos, r.model
    );
    let cats: Vec<String> = r
        .categories
        .iter()
        .map(|(c, n)| format!("{c} ({n})"))
        .collect();
    println!("categories ({}): {}", r.categories.len(), cats.join(", "));
    for sp in &r.spaces {
        match (&sp.note, sp.adapted) {
            (Some(note), _) => println!("{}: {note}", sp.method.name()),
            (None, true) => println!(
                "{}: adapted to the library in {:.1} s",
                sp.method.name(),
                sp.train_seconds
            ),
            (None, false) => {}
        }
    }
    println!(
        "\n{:<6} {:<38} {:>4} {:>7} {:>7} {:>7} {:>7} {:>9}",
        "method", "run", "k", "ACC", "NMI", "ARI", "purity", "H(t|c) b"
    );
    for run in &r.runs {
        let s = &run.scores;
        println!(
            "{:<6} {:<38} {:>4} {:>7.3} {:>7.3} {:>7.3} {:>7.3} {:>9.3}",
            run.method.name(),
            run.label,
            s.clusters,
            s.accuracy,
            s.nmi,
            s.ari,
            s.purity,
            s.conditional_entropy_bits
        );
    }
    if !r.relabel.is_empty() {
        println!(
            "\nrelabel benchmark: scores of the videos nobody corrected (ACC / NMI, mean of the draws)"
        );
        println!(
            "{:<6} {:>9} {:>9} {:>6} {:>15} {:>15} {:>15} {:>11}",
            "method",
            "corrected",
            "pick",
            "draws",
            "no correction",
            "pinned",
            "spread",
            "wins/losses"
        );
        for x in &r.relabel {
            println!(
                "{:<6} {:>8.0}% {:>9} {:>6} {:>7.3} / {:.3} {:>7.3} / {:.3} {:>7.3} / {:.3} {:>6}/{}",
                x.method.name(),
                x.fraction * 100.0,
                x.pick,
                x.draws,
                x.untaught.0,
                x.untaught.1,
                x.pinned.0,
                x.pinned.1,
                x.spread.0,
                x.spread.1,
                x.wins,
                x.losses
            );
        }
    }
    for run in &r.runs {
        println!(
            "\n{} {} — {} ({}):",
            run.method.name(),
            run.label,
            run.k,
            run.k_method
        );
        if !run.k_scores.is_empty() {
            let curve: Vec<String> = run
                .k_scores
                .iter()
                .map(|(k, s)| format!("{k}:{s:.3}"))
                .collect();
            println!("  criterion by k: {}", curve.join(" "));
        }
        for (name, n, major) in &run.clusters {
            println!("  {:<28} {:>4}  mostly {}", name, n, major);
        }
    }
}

pub fn print_adapt(r: &reelmap_core::learn::AdaptReport) {
    if let Some(why) = &r.skipped {
        println!("Not adapted: {why}.");
        return;
    }
    let loss = match (r.first_loss, r.last_loss) {
        (Some(a), Some(b)) => format!(", loss {a:.3} → {b:.3}"),
        _ => String::new(),
    };
    let resumed = if r.resumed_at > 0 {
        format!(" (resumed at step {})", r.resumed_at)
    } else {
        String::new()
    };
    if r.cancelled {
        println!(
            "Stopped at step {}{resumed}: run `reelmap adapt` again to continue.",
            r.steps
        );
    } else {
        println!(
            "Adapted to {} videos: {} steps in {:.1} s{resumed}{loss}. `reelmap cluster --method adapt` uses it.",
            r.videos, r.steps, r.seconds
        );
    }
}
