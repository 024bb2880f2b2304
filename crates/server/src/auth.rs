//! Who may talk to the server: only pages served by it, on this computer, holding
//! the per-launch token (a cookie set by opening `/?token=…`, or a header). Foreign
//! Host and Origin headers are refused (DNS rebinding, cross-site requests).

use crate::server::Shared;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

pub fn random_token() -> String {
    let mut bytes = [0u8; 24];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        use std::io::Read;
        let _ = f.read_exact(&mut bytes);
    }
    // Mix in time and pid in case /dev/urandom is unavailable.
    let extra = blake3::hash(
        format!("{:?}{}", std::time::SystemTime::now(), std::process::id()).as_bytes(),
    );
    let mut h = blake3::Hasher::new();
    h.update(&bytes);
    h.update(extra.as_bytes());
    h.finalize().to_hex()[..40].to_string()
}

fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == "reelmap_token")
        .map(|(_, v)| v.to_string())
}

/// Constant-time comparison, so the token cannot be guessed byte by byte.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

pub async fn guard(State(st): State<Shared>, req: Request, next: Next) -> Response {
    let allowed_hosts = [
        format!("127.0.0.1:{}", st.port),
        format!("localhost:{}", st.port),
    ];
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if !allowed_hosts.iter().any(|h| h == host) {
        return (StatusCode::FORBIDDEN, "wrong Host header").into_response();
    }
    if let Some(origin) = req.headers().get(header::ORIGIN) {
        let ok = origin
            .to_str()
            .map(|o| allowed_hosts.iter().any(|h| o == format!("http://{h}")))
            .unwrap_or(false);
        if !ok {
            return (StatusCode::FORBIDDEN, "wrong Origin").into_response();
        }
    }
    // Opening /?token=… (what the app and `reelmap serve` do) sets the cookie.
    if let Some(q) = req.uri().query()
        && let Some(t) = q.split('&').find_map(|kv| kv.strip_prefix("token="))
    {
        if same(t, &st.token) && !req.uri().path().starts_with("/api/") {
            let mut resp = Redirect::to(req.uri().path()).into_response();
            let cookie = format!(
                "reelmap_token={}; Path=/; HttpOnly; SameSite=Strict",
                st.token
            );
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                resp.headers_mut().insert(header::SET_COOKIE, v);
            }
            return resp;
        }
        return (StatusCode::UNAUTHORIZED, "wrong token").into_response();
    }
    let presented = req
        .headers()
        .get("x-reelmap-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| cookie_token(req.headers()));
    match presented {
        Some(t) if same(&t, &st.token) => next.run(req).await,
        _ => (
            StatusCode::UNAUTHORIZED,
            "missing or wrong token: open the address printed by `reelmap serve`",
        )
            .into_response(),
    }
}
