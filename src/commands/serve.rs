//! `serve`: the web UI on 127.0.0.1.

use super::Ctx;
use crate::cli::{ModelArgs, ScanArgs, engine_config};
use anyhow::Result;
use std::path::PathBuf;

pub fn serve(
    ctx: &Ctx,
    port: u16,
    no_open: bool,
    ui: Option<PathBuf>,
    model: &ModelArgs,
) -> Result<()> {
    // Interrupted file changes are finished before serving.
    drop(ctx.open_db()?);
    let server = reelmap_server::start(reelmap_server::ServerConfig {
        db: ctx.db_path(),
        engine: engine_config(&ctx.cli.machine, model, &ScanArgs::default()),
        ui_dir: ui,
        port,
        token: None,
    })?;
    let url = server.url();
    if ctx.cli.json {
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
    let c = ctx.cancel.clone();
    std::thread::spawn(move || {
        while !c.is_cancelled() {
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        std::process::exit(0);
    });
    server.wait();
    Ok(())
}
