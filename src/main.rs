//! `reelmap`: the command-line front end of the engine.
//!
//! Exit codes: 0 success (files that could not be used are listed, not fatal),
//! 1 error, 2 bad usage, 130 interrupted (the catalogue stays consistent and the
//! next run resumes).

mod cli;
mod commands;
mod output;

use clap::Parser;
use reelmap_core::progress::Cancel;

fn main() {
    let cli = cli::Cli::parse();
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
    let code = match commands::run(cli, &cancel) {
        Ok(()) if cancel.is_cancelled() => 130,
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e:#}");
            1
        }
    };
    std::process::exit(code);
}
