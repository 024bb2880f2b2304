//! Reelmap's desktop shell: starts the engine's HTTP server in-process (loopback
//! only, per-launch token) and shows the web UI it serves in a Tauri window.
//!
//! The UI comes from the engine over `http://127.0.0.1:PORT` rather than from Tauri's
//! asset protocol, because WebKitGTK cannot stream video through the latter; for
//! Tauri that page is a *remote* origin, so the one native command the UI needs,
//! `pick_folders`, is granted to it explicitly in `capabilities/main.json`.
//!
//! Environment:
//! - `REELMAP_DB`: catalogue path (default: `reelmap_core::store::default_db_path()`).
//! - `REELMAP_UI_DIR`: built web UI (default: `ui/dist` of the source tree).
//! - `REELMAP_PORT`: fixed port (default: a free one).
//! - `REELMAP_DESKTOP_PRINT_URL=1`: also print the URL with its token (tests).
//! - `REELMAP_DESKTOP_SMOKE_TRIGGER=FILE`: once FILE exists, call `pick_folders`
//!   from the page (twice), as the UI does (smoke test of the remote-page
//!   permission).
//!
//! Lines on stdout starting with `reelmap-desktop:` report progress; the smoke test
//! reads them.

#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

use anyhow::{Context, Result};
use reelmap_server::{RunningServer, ServerConfig};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;
use tauri::webview::PageLoadEvent;
use tauri::{Manager, RunEvent, WebviewUrl, WebviewWindowBuilder};
use tauri_plugin_dialog::DialogExt;

/// Label of the main window: `app.windows[0]` in tauri.conf.json, and the window the
/// capability in capabilities/main.json applies to.
const MAIN_WINDOW: &str = "main";

/// How long to wait for the engine's server to shut down when the app exits (its
/// graceful shutdown waits for open responses).
const STOP_TIMEOUT: Duration = Duration::from_secs(3);

/// The engine's server, taken and stopped when the app exits.
struct Server(Mutex<Option<RunningServer>>);

fn log(msg: impl std::fmt::Display) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "reelmap-desktop: {msg}");
    let _ = out.flush();
}

fn env_flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| !v.is_empty() && v != "0")
}

/// Native folder chooser, several folders at once, opening in the user's Videos
/// folder (or home). Resolves to the chosen paths, or to an empty list when the
/// dialog is cancelled.
#[tauri::command]
async fn pick_folders(window: tauri::WebviewWindow) -> Result<Vec<String>, String> {
    log("pick_folders: dialog opened");
    let mut dialog = window
        .dialog()
        .file()
        .set_title("Add folders to Reelmap")
        .set_parent(&window);
    if let Some(start) = dirs::video_dir()
        .filter(|d| d.is_dir())
        .or_else(dirs::home_dir)
    {
        dialog = dialog.set_directory(start);
    }
    let (tx, rx) = std::sync::mpsc::channel();
    dialog.pick_folders(move |picked| {
        let _ = tx.send(picked);
    });
    // The dialog runs on the main thread; wait for its answer off the async runtime.
    let picked = tauri::async_runtime::spawn_blocking(move || rx.recv().ok().flatten())
        .await
        .map_err(|e| e.to_string())?;
    let mut paths = Vec::new();
    for p in picked.unwrap_or_default() {
        let path = p.into_path().map_err(|e| e.to_string())?;
        paths.push(path.to_string_lossy().into_owned());
    }
    log(format_args!(
        "pick_folders: {} folder(s) chosen: {}",
        paths.len(),
        paths.join(" | ")
    ));
    Ok(paths)
}

/// JavaScript run in the page by `REELMAP_DESKTOP_SMOKE_TRIGGER`: checks that the page
/// can reach the API (token cookie), then calls `pick_folders` twice, the way the UI
/// does (the smoke test chooses a folder in the first dialog and cancels the
/// second). On a failure, or an answer that is not a list, it navigates to a path
/// that carries the error, which the page-load log shows.
const SMOKE_JS: &str = r#"
(function () {
  var t = window.__TAURI_INTERNALS__;
  var fail = function (e) {
    location.href = '/__smoke_failed/' + encodeURIComponent(String(e));
  };
  var check = function (r) {
    if (!Array.isArray(r)) throw new Error('not an array: ' + JSON.stringify(r));
  };
  if (!t) { fail('no __TAURI_INTERNALS__'); return; }
  fetch('/api/status')
    .then(function (r) {
      if (!r.ok) throw new Error('GET /api/status: ' + r.status);
      return t.invoke('pick_folders');
    })
    .then(function (r) { check(r); return t.invoke('pick_folders'); })
    .then(check)
    .catch(fail);
})();
"#;

/// Smoke-test hook: waits for `trigger` to exist, then runs [`SMOKE_JS`] in the main
/// window's page.
fn smoke_when(trigger: &std::path::Path, app: tauri::AppHandle) {
    while !trigger.exists() {
        std::thread::sleep(Duration::from_millis(100));
    }
    match app.get_webview_window(MAIN_WINDOW) {
        Some(window) => {
            log("smoke: calling pick_folders from the page");
            if let Err(e) = window.eval(SMOKE_JS) {
                log(format_args!("smoke: eval failed: {e}"));
            }
        }
        None => log("smoke: no main window"),
    }
}

fn stop_server(server: RunningServer) {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        server.stop();
        let _ = tx.send(());
    });
    match rx.recv_timeout(STOP_TIMEOUT) {
        Ok(()) => log("server stopped"),
        Err(_) => log(format_args!(
            "server still busy after {}s; exiting anyway",
            STOP_TIMEOUT.as_secs()
        )),
    }
}

fn open_catalogue() -> Result<PathBuf> {
    let db = std::env::var_os("REELMAP_DB")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(reelmap_core::store::default_db_path);
    let mut cat = reelmap_core::store::Catalogue::open(&db)?;
    let finished = reelmap_core::apply::recover(&mut cat)
        .context("cannot finish the interrupted file operations")?;
    if !finished.is_empty() {
        log(format_args!(
            "finished {} interrupted file operation batch(es)",
            finished.len()
        ));
    }
    Ok(db)
}

fn start_server(db: PathBuf) -> Result<RunningServer> {
    let mut config = ServerConfig::new(db);
    config.ui_dir = std::env::var_os("REELMAP_UI_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    if let Some(port) = std::env::var("REELMAP_PORT").ok().filter(|p| !p.is_empty()) {
        config.port = port
            .parse()
            .with_context(|| format!("REELMAP_PORT is not a port number: {port}"))?;
    }
    let ui_dir = config
        .ui_dir
        .clone()
        .unwrap_or_else(reelmap_server::default_ui_dir);
    if !ui_dir.join("index.html").is_file() {
        log(format_args!(
            "warning: no web UI in {} (run `npm run build` in ui/, or set REELMAP_UI_DIR)",
            ui_dir.display()
        ));
    }
    reelmap_server::start(config).context("cannot start the Reelmap server")
}

fn run() -> Result<()> {
    let db = open_catalogue()?;
    let server = start_server(db.clone())?;
    let url: tauri::Url = server.url().parse().context("server URL")?;
    log(format_args!("catalogue {}", db.display()));
    log(format_args!("listening on {}", server.base()));
    if env_flag("REELMAP_DESKTOP_PRINT_URL") {
        log(format_args!("url {url}"));
    }
    let smoke_trigger = std::env::var_os("REELMAP_DESKTOP_SMOKE_TRIGGER")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);

    let app = tauri::Builder::default()
        .plugin(tauri_plugin_dialog::init())
        .manage(Server(Mutex::new(Some(server))))
        .invoke_handler(tauri::generate_handler![pick_folders])
        .setup(move |app| {
            let mut config = app
                .config()
                .app
                .windows
                .iter()
                .find(|w| w.label == MAIN_WINDOW)
                .cloned()
                .context("tauri.conf.json has no window labelled \"main\"")?;
            config.url = WebviewUrl::External(url);
            WebviewWindowBuilder::from_config(app, &config)?
                .on_page_load(|_window, payload| {
                    if payload.event() == PageLoadEvent::Finished {
                        // Not the query: the first URL carries the token (the server
                        // answers it with a cookie and a redirect to the bare path).
                        let url = payload.url();
                        let query = if url.query().is_some() { "?…" } else { "" };
                        log(format_args!("page loaded {}{query}", url.path()));
                    }
                })
                .build()?;
            if let Some(trigger) = smoke_trigger {
                let handle = app.handle().clone();
                std::thread::spawn(move || smoke_when(&trigger, handle));
            }
            Ok(())
        })
        .build(tauri::generate_context!())
        .context("cannot start the desktop app")?;

    // SIGINT / SIGTERM / SIGHUP: leave as when the user closes the window (which ends
    // the app, and then stops the server in `RunEvent::Exit`).
    let handle = app.handle().clone();
    ctrlc::set_handler(move || {
        log("signal: closing");
        let windows = handle.webview_windows();
        if windows.is_empty() {
            handle.exit(0);
        }
        for window in windows.into_values() {
            if let Err(e) = window.destroy() {
                log(format_args!("cannot close the window: {e}"));
                handle.exit(0);
            }
        }
    })
    .context("cannot install the signal handler")?;

    app.run(|app, event| {
        if let RunEvent::Exit = event {
            let server = app
                .state::<Server>()
                .0
                .lock()
                .ok()
                .and_then(|mut s| s.take());
            if let Some(server) = server {
                stop_server(server);
            }
        }
    });
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("reelmap-desktop: error: {e:#}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use tauri::utils::acl::capability::Capability;

    /// The capability must let the engine-served page (any loopback port) call
    /// `pick_folders`, and nothing else.
    #[test]
    fn capability_grants_pick_folders_to_loopback_pages() {
        let cap: Capability =
            serde_json::from_str(include_str!("../capabilities/main.json")).unwrap();
        assert_eq!(cap.windows, vec![super::MAIN_WINDOW.to_string()]);
        let remote = cap.remote.expect("remote urls");
        let ok = |u: &str| {
            let url: tauri::Url = u.parse().unwrap();
            remote.urls.iter().any(|p| {
                let pat: tauri::utils::acl::RemoteUrlPattern = p.parse().unwrap();
                pat.test(&url)
            })
        };
        assert!(ok("http://127.0.0.1:43210/"));
        assert!(ok("http://127.0.0.1:8/?token=abc"));
        assert!(ok("http://localhost:43210/clusters"));
        assert!(!ok("http://127.0.0.2:43210/"));
        assert!(!ok("https://example.com/"));
        assert!(!ok("http://127.0.0.1.evil.example:80/"));
        let perms: Vec<String> = cap
            .permissions
            .iter()
            .map(|p| p.identifier().get().to_string())
            .collect();
        assert_eq!(perms, vec!["allow-pick-folders".to_string()]);
    }
}
