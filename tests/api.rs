//! The HTTP API against a real server on a random loopback port, with a generated
//! library embedded by the real pipeline: every endpoint, the token, Host and Origin
//! checks, Range requests, and attempts to reach files outside the catalogue.

mod common;

use reelmap_server::{self as api, ServerConfig};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

const TOKEN: &str = "test-token-0123456789abcdef";

struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
}

/// A minimal HTTP/1.1 client, so that every header (Host, Origin, Cookie) is exactly
/// what the test says.
fn raw(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> Resp {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let payload = body.map(|b| b.to_string()).unwrap_or_default();
    let mut req = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        req.push_str(&format!("Host: 127.0.0.1:{port}\r\n"));
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if body.is_some() {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            payload.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(&payload);
    s.write_all(req.as_bytes()).unwrap();
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    let status: u16 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    let mut headers = Vec::new();
    loop {
        line.clear();
        r.read_line(&mut line).unwrap();
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let mut body = Vec::new();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        loop {
            line.clear();
            r.read_line(&mut line).unwrap();
            let n = usize::from_str_radix(line.trim(), 16).unwrap_or(0);
            if n == 0 {
                break;
            }
            let mut chunk = vec![0u8; n];
            r.read_exact(&mut chunk).unwrap();
            body.extend(chunk);
            line.clear();
            r.read_line(&mut line).unwrap();
        }
    } else {
        r.read_to_end(&mut body).unwrap();
    }
    Resp {
        status,
        headers,
        body,
    }
}

struct Client {
    port: u16,
}

impl Client {
    fn get(&self, path: &str) -> Resp {
        raw(self.port, "GET", path, &[("X-Reelmap-Token", TOKEN)], None)
    }
    fn get_with(&self, path: &str, extra: &[(&str, &str)]) -> Resp {
        let mut h = vec![("X-Reelmap-Token", TOKEN)];
        h.extend_from_slice(extra);
        raw(self.port, "GET", path, &h, None)
    }
    fn post(&self, path: &str, body: Value) -> Resp {
        raw(
            self.port,
            "POST",
            path,
            &[("X-Reelmap-Token", TOKEN)],
            Some(&body),
        )
    }
    /// Waits for the running job to end; returns its final status.
    fn wait_job(&self) -> Value {
        let start = Instant::now();
        loop {
            let s = self.get("/api/status").json();
            let job = &s["job"];
            if !job.is_null() && job["state"] != "running" {
                return job.clone();
            }
            assert!(
                start.elapsed() < Duration::from_secs(300),
                "job did not finish: {s}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

fn ui_dir(tmp: &Path) -> std::path::PathBuf {
    let d = tmp.join("ui");
    std::fs::create_dir_all(d.join("assets")).unwrap();
    std::fs::write(
        d.join("index.html"),
        "<!doctype html><title>Reelmap test UI</title>",
    )
    .unwrap();
    std::fs::write(d.join("assets/app.js"), "console.log('ok')").unwrap();
    d
}

#[test]
fn api_end_to_end() {
    let tmp = tempfile::tempdir().unwrap();
    let lib = tmp.path().join("lib");
    reelmap_testkit::demo_library(&lib).unwrap();
    let db = tmp.path().join("cat.sqlite3");
    let server = api::start(ServerConfig {
        ui_dir: Some(ui_dir(tmp.path())),
        token: Some(TOKEN.into()),
        ..ServerConfig::new(db.clone())
    })
    .unwrap();
    let port = server.port;
    let c = Client { port };

    // ----- security -----
    assert_eq!(
        raw(port, "GET", "/api/status", &[], None).status,
        401,
        "no token"
    );
    assert_eq!(
        raw(
            port,
            "GET",
            "/api/status",
            &[("X-Reelmap-Token", "wrong")],
            None
        )
        .status,
        401
    );
    let evil_host = raw(
        port,
        "GET",
        "/api/status",
        &[("X-Reelmap-Token", TOKEN), ("Host", "evil.example:80")],
        None,
    );
    assert_eq!(evil_host.status, 403, "DNS rebinding: wrong Host");
    let rebinding = format!("attacker.example:{port}");
    assert_eq!(
        raw(
            port,
            "GET",
            "/api/status",
            &[("X-Reelmap-Token", TOKEN), ("Host", &rebinding)],
            None
        )
        .status,
        403
    );
    let evil_origin = raw(
        port,
        "GET",
        "/api/status",
        &[
            ("X-Reelmap-Token", TOKEN),
            ("Origin", "http://evil.example"),
        ],
        None,
    );
    assert_eq!(evil_origin.status, 403, "cross-site request");
    let localhost = format!("localhost:{port}");
    assert_eq!(
        raw(
            port,
            "GET",
            "/api/status",
            &[("X-Reelmap-Token", TOKEN), ("Host", &localhost)],
            None
        )
        .status,
        200
    );
    // Opening the address with the token sets an HttpOnly cookie, which then works.
    let entry = raw(port, "GET", &format!("/?token={TOKEN}"), &[], None);
    assert!(
        entry.status == 303 || entry.status == 302 || entry.status == 307,
        "{}",
        entry.status
    );
    let cookie = entry.header("set-cookie").expect("cookie").to_string();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
    let pair = cookie.split(';').next().unwrap().to_string();
    assert_eq!(
        raw(port, "GET", "/api/status", &[("Cookie", &pair)], None).status,
        200
    );
    assert_eq!(raw(port, "GET", "/?token=nope", &[], None).status, 401);
    // The UI itself needs the token too, and is served with a SPA fallback.
    assert_eq!(raw(port, "GET", "/", &[], None).status, 401);
    let page = raw(port, "GET", "/clusters/3", &[("Cookie", &pair)], None);
    assert_eq!(page.status, 200);
    assert!(String::from_utf8_lossy(&page.body).contains("Reelmap test UI"));

    // ----- empty library, then add one through the API -----
    let s = c.get("/api/status").json();
    assert_eq!(s["library"]["videos"], 0);
    assert_eq!(
        c.post("/api/library", json!({"paths": ["/definitely/not/here"]}))
            .status,
        422
    );
    // Server-sent events: subscribe, then start the job and see progress arrive.
    let mut sse = TcpStream::connect(("127.0.0.1", port)).unwrap();
    sse.set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    write!(
        sse,
        "GET /api/events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Reelmap-Token: {TOKEN}\r\n\r\n"
    )
    .unwrap();
    let started = c.post(
        "/api/library",
        json!({"paths": [lib.display().to_string()]}),
    );
    assert_eq!(
        started.status,
        202,
        "{}",
        String::from_utf8_lossy(&started.body)
    );
    let mut sse = BufReader::new(sse);
    let mut line = String::new();
    let mut saw_job_event = false;
    for _ in 0..200 {
        line.clear();
        if sse.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        if line.starts_with("data:") && line.contains("\"type\":\"job\"") {
            saw_job_event = true;
            break;
        }
    }
    assert!(saw_job_event, "progress arrives as server-sent events");
    assert_eq!(
        c.post(
            "/api/library",
            json!({"paths": [lib.display().to_string()]})
        )
        .status,
        409,
        "one job at a time"
    );
    let job = c.wait_job();
    assert_eq!(job["state"], "done", "{job}");
    assert!(
        job["errors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e[0].as_str().unwrap().ends_with("broken.mp4"))
    );

    let s = c.get("/api/status").json();
    assert_eq!(s["library"]["ok"], 14);
    assert_eq!(s["library"]["failed"], 1);

    // ----- clusters, videos, images -----
    let clusters = c.get("/api/clusters").json();
    let list = clusters.as_array().unwrap();
    assert!(list.len() >= 3, "{clusters}");
    let first = &list[0];
    let cid = first["id"].as_i64().unwrap();
    assert!(!first["mosaic"].as_array().unwrap().is_empty());
    let vids = c
        .get(&format!("/api/clusters/{cid}/videos?offset=0&limit=2"))
        .json();
    assert!(vids["total"].as_u64().unwrap() >= 1);
    assert!(vids["videos"].as_array().unwrap().len() <= 2);
    assert_eq!(c.get("/api/clusters/999999/videos").status, 404);
    let failed = c.get("/api/videos/failed").json();
    assert_eq!(failed.as_array().unwrap().len(), 1);
    assert!(failed[0]["error"].as_str().unwrap().contains("not a video"));

    let vid = vids["videos"][0]["id"].as_i64().unwrap();
    let detail = c.get(&format!("/api/videos/{vid}")).json();
    assert_eq!(detail["frames"].as_array().unwrap().len(), 16);
    assert!(detail["frames"][0]["top"][0]["name"].is_string());
    assert_eq!(detail["change_points"][0]["idx"], 0);
    assert_eq!(detail["nearest"].as_array().unwrap().len(), 8);
    assert_eq!(c.get("/api/videos/999999").status, 404);

    let poster = c.get(&format!("/api/videos/{vid}/poster.jpg"));
    assert_eq!(poster.status, 200);
    assert_eq!(poster.header("content-type"), Some("image/jpeg"));
    assert!(image::load_from_memory(&poster.body).is_ok());
    let thumb = c.get(&format!("/api/videos/{vid}/frames/5.jpg"));
    assert_eq!(thumb.status, 200);
    assert_eq!(image::load_from_memory(&thumb.body).unwrap().height(), 96);
    assert_eq!(
        c.get(&format!("/api/videos/{vid}/frames/99.jpg")).status,
        404
    );
    let strip = c.get(&format!("/api/videos/{vid}/strip.png"));
    assert_eq!(strip.status, 200);
    let img = image::load_from_memory(&strip.body).unwrap();
    assert_eq!((img.width(), img.height()), (1280, 16 * 8));

    // ----- finding: duplicates, clips, search -----
    let dups = c.get("/api/duplicates");
    assert_eq!(dups.status, 200);
    let dups = dups.json();
    assert!(
        dups["indexed"].as_i64().unwrap() > 0,
        "the library job indexed the frames: {dups}"
    );
    assert!(dups["groups"].is_array());
    let set_aside = |body: Value| c.post("/api/duplicates/set-aside", body).status;
    assert_eq!(
        set_aside(json!({"keep": vid, "others": [vid]})),
        422,
        "keep one and set it aside"
    );
    assert_eq!(set_aside(json!({"keep": vid, "others": []})), 422);
    assert_eq!(set_aside(json!({"keep": 999999, "others": [vid]})), 404);
    let not_a_clip = c.post("/api/find?name=clip.mp4", json!({"not": "a video"}));
    assert_eq!(
        not_a_clip.status,
        422,
        "{}",
        String::from_utf8_lossy(&not_a_clip.body)
    );
    let hits = c.get("/api/search?q=feline").json();
    let hits = hits.as_array().unwrap();
    assert!(
        !hits.is_empty()
            && hits[0]["video"]["name"]
                .as_str()
                .unwrap()
                .starts_with("cats-"),
        "{hits:?}"
    );
    assert!(hits[0]["frame_index"].is_i64() && hits[0]["frame_ms"].is_i64());

    // ----- the video file, with Range -----
    let path = detail["path"].as_str().unwrap().to_string();
    let file = std::fs::read(&path).unwrap();
    let full = c.get(&format!("/api/videos/{vid}/media"));
    assert_eq!(full.status, 200);
    assert_eq!(full.body, file);
    assert_eq!(full.header("accept-ranges"), Some("bytes"));
    let part = c.get_with(
        &format!("/api/videos/{vid}/media"),
        &[("Range", "bytes=100-199")],
    );
    assert_eq!(part.status, 206);
    assert_eq!(part.body, &file[100..200]);
    assert_eq!(
        part.header("content-range"),
        Some(format!("bytes 100-199/{}", file.len()).as_str())
    );
    let tail = c.get_with(
        &format!("/api/videos/{vid}/media"),
        &[("Range", "bytes=-50")],
    );
    assert_eq!(tail.body, &file[file.len() - 50..]);
    let open = c.get_with(
        &format!("/api/videos/{vid}/media"),
        &[("Range", "bytes=1000-")],
    );
    assert_eq!(open.body, &file[1000..]);
    let bad = c.get_with(
        &format!("/api/videos/{vid}/media"),
        &[("Range", &format!("bytes={}-", file.len() + 10))],
    );
    assert_eq!(bad.status, 416);

    // ----- nothing outside the catalogue -----
    assert_eq!(c.get("/api/videos/999999/media").status, 404);
    assert_eq!(c.get("/api/videos/-1/media").status, 404);
    for attempt in [
        "/api/videos/..%2F..%2F..%2Fetc%2Fpasswd/media",
        "/api/media?path=/etc/passwd",
        "/../../../../etc/passwd",
        "/assets/../../../../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
    ] {
        let r = c.get(attempt);
        let body = String::from_utf8_lossy(&r.body);
        assert!(
            !body.contains("root:"),
            "{attempt} leaked a file: {}",
            r.status
        );
    }

    // ----- edits and undo -----
    let others: Vec<i64> = list
        .iter()
        .map(|x| x["id"].as_i64().unwrap())
        .filter(|x| *x != cid)
        .collect();
    let moved = c.post(
        "/api/assign",
        json!({"videos": [vid], "cluster": others[0]}),
    );
    assert_eq!(
        moved.status,
        200,
        "{}",
        String::from_utf8_lossy(&moved.body)
    );
    assert_eq!(
        c.get(&format!("/api/videos/{vid}")).json()["cluster_id"],
        others[0]
    );
    assert_eq!(
        c.get(&format!("/api/videos/{vid}")).json()["assigned_by"],
        "user"
    );
    let newf = c
        .post(
            "/api/assign",
            json!({"videos": [vid], "new_folder": "Favourites"}),
        )
        .json();
    let fav = newf["cluster_id"].as_i64().unwrap();
    assert_eq!(
        c.post(
            "/api/assign",
            json!({"videos": [vid], "new_folder": "favourites"})
        )
        .status,
        409,
        "names unique"
    );
    assert_eq!(
        c.post(
            &format!("/api/clusters/{fav}/rename"),
            json!({"name": "Best"})
        )
        .status,
        200
    );
    assert_eq!(
        c.post(
            &format!("/api/clusters/{fav}/merge"),
            json!({"into": others[0]})
        )
        .status,
        200
    );
    for _ in 0..3 {
        assert!(c.post("/api/undo", json!({})).json()["undone"].is_string());
    }
    assert_eq!(
        c.get(&format!("/api/videos/{vid}")).json()["cluster_id"],
        others[0]
    );
    c.post("/api/undo", json!({}));
    assert_eq!(
        c.get(&format!("/api/videos/{vid}")).json()["cluster_id"],
        cid
    );

    // ----- re-cluster, map -----
    assert_eq!(c.post("/api/recluster", json!({"k": 2})).status, 202);
    assert_eq!(c.wait_job()["state"], "done");
    assert_eq!(c.get("/api/clusters").json().as_array().unwrap().len(), 2);
    let map = c.get("/api/map?kind=video").json();
    assert_eq!(map["points"].as_array().unwrap().len(), 14);
    assert!(map["current"].as_bool().unwrap());
    assert_eq!(c.post("/api/map?kind=frame", json!({})).status, 202);
    assert_eq!(c.wait_job()["state"], "done");
    let fmap = c.get("/api/map?kind=frame").json();
    assert_eq!(fmap["points"].as_array().unwrap().len(), 14 * 16);
    assert_eq!(c.get("/api/map?kind=nope").status, 422);

    // ----- folders on disk -----
    let plan = c.get("/api/apply/plan").json();
    let items = plan[0]["items"].as_array().unwrap().len();
    assert_eq!(items, 14);
    let applied = c.post("/api/apply", json!({"mode": "move"})).json();
    assert_eq!(applied[0]["files_done"], 14);
    assert!(
        Path::new(
            &c.get(&format!("/api/videos/{vid}")).json()["path"]
                .as_str()
                .unwrap()
                .to_string()
        )
        .is_file()
    );
    assert_eq!(c.get("/api/journal").json()[0]["state"], "done");
    let undone = c.post("/api/apply/undo", json!({})).json();
    assert_eq!(undone["files_restored"], 14);
    assert!(Path::new(&path).is_file(), "back where it was");

    // ----- cancel -----
    assert_eq!(
        c.post("/api/jobs/cancel", json!({})).json()["cancelled"],
        false
    );
    server.stop();
}
