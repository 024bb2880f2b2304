//! Shared helpers for the integration tests: real media made with GStreamer, the
//! real `reelmap` binary, real SQLite catalogues in temporary folders.
#![allow(dead_code, unused_imports)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

pub use reelmap_testkit::{pattern_clip, photo, photo_clip, photos_dir};

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\nstderr: {}", self.stdout, self.stderr))
    }
}

/// Runs the real `reelmap` binary against a catalogue.
pub fn reelmap(db: &Path, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_reelmap"))
        .arg("--db")
        .arg(db)
        .args(args)
        .output()
        .expect("run reelmap");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub fn reelmap_ok(db: &Path, args: &[&str]) -> Run {
    let r = reelmap(db, args);
    assert_eq!(
        r.code, 0,
        "reelmap {args:?} failed:\nstdout: {}\nstderr: {}",
        r.stdout, r.stderr
    );
    r
}

/// Every file under `dir` with its content hash, to prove nothing was modified.
pub fn snapshot(dir: &Path) -> Vec<(PathBuf, String, u64)> {
    let mut out = Vec::new();
    for e in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let e = e.unwrap();
        if e.file_type().is_file() {
            let data = std::fs::read(e.path()).unwrap_or_default();
            let mtime = e
                .metadata()
                .unwrap()
                .modified()
                .unwrap()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64;
            out.push((
                e.path().to_path_buf(),
                blake3::hash(&data).to_hex().to_string(),
                mtime,
            ));
        }
    }
    out
}
