//! The web UI's own files (index.html, scripts, styles), from the built UI folder;
//! client-side routes get index.html.

use crate::server::Shared;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

pub async fn static_files(State(st): State<Shared>, req: Request) -> Response {
    let path = req.uri().path().trim_start_matches('/');
    if path.starts_with("api/") {
        return (StatusCode::NOT_FOUND, "no such endpoint").into_response();
    }
    // Only plain relative names inside the UI folder.
    let safe = !path.split('/').any(|c| c == ".." || c.starts_with('.')) && !path.contains('\\');
    let candidate = if path.is_empty() || !safe {
        st.ui_dir.join("index.html")
    } else {
        st.ui_dir.join(path)
    };
    let file = if candidate.is_file() {
        candidate
    } else {
        // Client-side routes fall back to the app.
        st.ui_dir.join("index.html")
    };
    match tokio::fs::read(&file).await {
        Ok(bytes) => {
            let mime = match file.extension().and_then(|e| e.to_str()) {
                Some("html") => "text/html; charset=utf-8",
                Some("js") => "text/javascript; charset=utf-8",
                Some("css") => "text/css; charset=utf-8",
                Some("svg") => "image/svg+xml",
                Some("png") => "image/png",
                Some("ico") => "image/x-icon",
                Some("json") => "application/json",
                Some("woff2") => "font/woff2",
                _ => "application/octet-stream",
            };
            ([(header::CONTENT_TYPE, mime)], bytes).into_response()
        }
        Err(_) => (
            StatusCode::NOT_FOUND,
            "the web UI is not built: run `npm ci && npm run build` in ui/ (scripts/setup.sh does it)",
        )
            .into_response(),
    }
}
