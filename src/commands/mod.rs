//! One module per group of commands; [`run`] dispatches.

mod bench;
mod catalogue;
mod eval;
mod find;
mod folders;
mod library;
mod models;
mod serve;

use crate::cli::{Cli, Command, ModelArgs};
use crate::output::Bars;
use anyhow::Result;
use reelmap_core::progress::Cancel;
use reelmap_core::store::{self, Catalogue};
use reelmap_model::Embedder;

/// What every command gets: the parsed command line, progress output, Ctrl-C.
pub struct Ctx<'a> {
    pub cli: &'a Cli,
    pub bars: Bars,
    pub cancel: &'a Cancel,
}

impl Ctx<'_> {
    /// Whether to print for people (not `--json`, not `--quiet`).
    pub fn chatty(&self) -> bool {
        !self.cli.json && !self.cli.quiet
    }

    /// The catalogue, after finishing any batch of file changes a crash cut short.
    pub fn open_db(&self) -> Result<Catalogue> {
        let mut cat = Catalogue::open(&self.db_path())?;
        let recovered = reelmap_core::apply::recover(&mut cat)?;
        if !recovered.is_empty() && !self.cli.quiet {
            eprintln!(
                "Finished {} interrupted batch(es) of file changes from an earlier run.",
                recovered.len()
            );
        }
        Ok(cat)
    }

    pub fn db_path(&self) -> std::path::PathBuf {
        self.cli.db.clone().unwrap_or_else(store::default_db_path)
    }

    pub fn load_embedder(&self, m: &ModelArgs) -> Result<Embedder> {
        let device = reelmap_model::select_device(&m.device)?;
        Embedder::load(&m.model, &device, &self.cli.machine.models_dir())
    }

    /// Prints `value` as JSON when asked to, else calls `human`.
    pub fn report<T: serde::Serialize>(&self, value: &T, human: impl FnOnce(&T)) -> Result<()> {
        if self.cli.json {
            println!("{}", serde_json::to_string_pretty(value)?);
        } else {
            human(value);
        }
        Ok(())
    }
}

pub fn run(cli: Cli, cancel: &Cancel) -> Result<()> {
    cli.machine.process_settings().apply()?;
    let ctx = Ctx {
        cli: &cli,
        bars: Bars::new(cli.quiet || cli.json),
        cancel,
    };
    match &cli.cmd {
        Command::Scan { paths, scan } => library::scan(&ctx, paths, scan),
        Command::Embed { model } => library::embed(&ctx, model),
        Command::Organise {
            paths,
            scan,
            model,
            cluster,
            recluster,
            target,
            apply,
            mode,
        } => library::organise(
            &ctx,
            paths,
            &library::OrganiseArgs {
                scan,
                model,
                cluster,
                recluster: *recluster,
                target: target.as_deref(),
                apply: *apply,
                mode,
            },
        ),
        Command::Apply {
            paths,
            target,
            mode,
            dry_run,
        } => folders::apply(&ctx, paths, target.as_deref(), mode, *dry_run),
        Command::Undo => folders::undo(&ctx),
        Command::Journal => folders::journal(&ctx),
        Command::Serve {
            port,
            no_open,
            ui,
            model,
        } => serve::serve(&ctx, *port, *no_open, ui.clone(), model),
        Command::DemoLibrary { dir } => {
            let files = reelmap_testkit::demo_library(dir)?;
            if !cli.quiet {
                println!("Made {} files in {}", files.len(), dir.display());
            }
            Ok(())
        }
        Command::Cluster {
            cluster,
            adapt,
            model,
        } => catalogue::cluster(&ctx, cluster, adapt, model),
        Command::Adapt { adapt, model } => catalogue::adapt(&ctx, adapt, model),
        Command::Index { model } => find::index(&ctx, model),
        Command::Duplicates { model, set_aside } => find::duplicates(&ctx, model, *set_aside),
        Command::Find { clip, model, limit } => find::find(&ctx, clip, model, *limit),
        Command::Search {
            words,
            model,
            limit,
        } => find::search(&ctx, &words.join(" "), model, *limit),
        Command::Clusters { examples } => catalogue::clusters(&ctx, *examples),
        Command::Videos { failed, cluster } => catalogue::videos(&ctx, *failed, *cluster),
        Command::Rename { cluster, name } => catalogue::rename(&ctx, *cluster, name),
        Command::Assign { to, videos } => catalogue::assign(&ctx, *to, videos),
        Command::Export { format, output } => catalogue::export(&ctx, *format, output.as_deref()),
        Command::Eval {
            root,
            model,
            k,
            seed,
            method,
            adapt,
            relabel,
            draws,
        } => eval::eval(
            &ctx,
            root,
            model,
            &reelmap_core::evaluate::EvalOptions {
                seed: *seed,
                k: *k,
                methods: method.clone(),
                head: adapt.options(),
                relabel: relabel.map(|f| (f, *draws)),
            },
        ),
        Command::Models { cmd } => models::models(&ctx, cmd),
        Command::Bench {
            part,
            videos,
            dir,
            model,
        } => bench::bench(&ctx, part.as_ref(), *videos, dir.as_deref(), model),
    }
}
