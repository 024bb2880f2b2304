//! Scanning real files: probing, incremental re-scans, moves, deletions and every
//! kind of bad input, on media generated with GStreamer.

mod common;

use common::*;
use reelmap_core::scan::{self, ScanOptions};
use reelmap_core::store::Catalogue;
use reelmap_testkit::Codec;
use std::path::{Path, PathBuf};

fn scan_dir(cat: &mut Catalogue, dir: &Path) -> reelmap_core::scan::ScanReport {
    scan::scan(
        cat,
        &[dir.to_path_buf()],
        &ScanOptions::default(),
        &|_, _| {},
    )
    .unwrap()
}

fn status_of(cat: &Catalogue, path: &Path) -> (String, Option<String>) {
    let v = cat
        .video_by_path(path)
        .unwrap()
        .unwrap_or_else(|| panic!("{} not in the catalogue", path.display()));
    (v.status.to_string(), v.error)
}

/// Makes an unsupported-codec file from a real Matroska file by renaming its codec
/// id (same length, so the container stays valid): no decoder exists for it.
fn unsupported_codec_copy(src: &Path, dst: &Path) {
    let mut data = std::fs::read(src).unwrap();
    let pos = data
        .windows(5)
        .position(|w| w == b"V_VP8")
        .expect("codec id in file");
    data[pos..pos + 5].copy_from_slice(b"V_QQ8");
    std::fs::write(dst, data).unwrap();
}

#[test]
fn scan_records_good_and_bad_files_and_is_incremental() {
    let tmp = tempfile::tempdir().unwrap();
    let lib = tmp.path().join("lib");
    let good = lib.join("good");
    let bad = lib.join("bad");
    std::fs::create_dir_all(&good).unwrap();
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::create_dir_all(lib.join(".hidden")).unwrap();

    pattern_clip(&good.join("a.mp4"), "smpte", Codec::H264Mp4, 30, 10);
    pattern_clip(&good.join("b.webm"), "ball", Codec::Vp8Webm, 30, 10);
    pattern_clip(&good.join("c.ogv"), "pinwheel", Codec::TheoraOgg, 30, 10);
    pattern_clip(&good.join("d.avi"), "checkers-8", Codec::MjpegAvi, 30, 10);
    pattern_clip(
        &good.join("odd name ünïcödé #1 (copy).mp4"),
        "spokes",
        Codec::H264Mp4,
        30,
        10,
    );
    let non_utf8 = {
        use std::os::unix::ffi::OsStrExt;
        good.join(std::ffi::OsStr::from_bytes(b"caf\xe9 latin1.mp4"))
    };
    pattern_clip(&non_utf8, "circular", Codec::H264Mp4, 30, 10);
    // A video without an extension, found by its content.
    pattern_clip(
        &good.join("clip_without_extension"),
        "zone-plate",
        Codec::Vp8Webm,
        30,
        10,
    );
    pattern_clip(
        &lib.join(".hidden").join("h.mp4"),
        "snow",
        Codec::H264Mp4,
        10,
        10,
    );
    std::fs::write(lib.join("notes.txt"), "not a video").unwrap();

    std::fs::write(bad.join("empty.mp4"), b"").unwrap();
    std::fs::write(bad.join("text.mp4"), "this is only text\n".repeat(500)).unwrap();
    reelmap_testkit::truncate_copy(&good.join("a.mp4"), &bad.join("truncated.mp4"), 4000).unwrap();
    unsupported_codec_copy(&good.join("b.webm"), &bad.join("unsupported.mkv"));
    std::os::unix::fs::symlink(tmp.path().join("nowhere.mp4"), bad.join("dangling.mp4")).unwrap();
    // A symlink loop: lib/loop → lib.
    std::os::unix::fs::symlink(&lib, lib.join("loop")).unwrap();

    let before = snapshot(&lib);
    let mut cat = Catalogue::open(&tmp.path().join("cat.sqlite3")).unwrap();
    let r = scan_dir(&mut cat, &lib);

    for name in [
        "a.mp4",
        "b.webm",
        "c.ogv",
        "d.avi",
        "odd name ünïcödé #1 (copy).mp4",
        "clip_without_extension",
    ] {
        let (status, err) = status_of(&cat, &good.join(name));
        assert_eq!(status, "ok", "{name}: {err:?}");
    }
    assert_eq!(status_of(&cat, &non_utf8).0, "ok");
    let a = cat.video_by_path(&good.join("a.mp4")).unwrap().unwrap();
    assert_eq!((a.width, a.height), (Some(320), Some(240)));
    assert!(
        a.codec.as_deref().unwrap().contains("H.264"),
        "{:?}",
        a.codec
    );
    assert!((a.fps.unwrap() - 25.0).abs() < 0.01);
    assert!(
        (1100..=1300).contains(&a.duration_ms.unwrap()),
        "{:?}",
        a.duration_ms
    );
    assert_eq!(a.fingerprint.as_ref().unwrap().len(), 32);
    assert!(
        cat.video_by_path(&lib.join(".hidden/h.mp4"))
            .unwrap()
            .is_none(),
        "hidden folders are skipped"
    );
    assert!(cat.video_by_path(&lib.join("notes.txt")).unwrap().is_none());

    let expect_failed = [
        ("empty.mp4", "empty file"),
        ("text.mp4", "not a video"),
        ("truncated.mp4", ""),
        ("unsupported.mkv", "unsupported format"),
        ("dangling.mp4", "broken symbolic link"),
    ];
    for (name, reason) in expect_failed {
        let (status, err) = status_of(&cat, &bad.join(name));
        assert_eq!(status, "failed", "{name} should fail");
        let err = err.unwrap_or_default();
        assert!(
            !err.is_empty() && err.contains(reason),
            "{name}: reason {err:?} should mention {reason:?}"
        );
    }
    assert!(
        r.problems
            .iter()
            .any(|(p, m)| p.contains("loop") && m.contains("loop")),
        "the symlink loop is reported: {:?}",
        r.problems
    );
    // Files reached twice through the loop are catalogued once.
    assert_eq!(
        cat.videos(None)
            .unwrap()
            .iter()
            .filter(|v| v.display.contains("/loop/"))
            .count(),
        0
    );
    assert_eq!(snapshot(&lib), before, "scanning must not modify any file");

    // Re-scan: nothing changed, nothing is probed again.
    let r2 = scan_dir(&mut cat, &lib);
    assert_eq!(
        (r2.new, r2.changed, r2.moved, r2.gone),
        (0, 0, 0, 0),
        "{r2:?}"
    );

    // Rename/move, delete, change.
    let a_id = a.id;
    std::fs::create_dir_all(lib.join("moved")).unwrap();
    std::fs::rename(good.join("a.mp4"), lib.join("moved").join("renamed.mp4")).unwrap();
    std::fs::remove_file(good.join("b.webm")).unwrap();
    pattern_clip(&good.join("c.ogv"), "snow", Codec::TheoraOgg, 20, 10);
    let r3 = scan_dir(&mut cat, &lib);
    assert_eq!(r3.moved, 1, "{r3:?}");
    assert_eq!(r3.gone, 1, "{r3:?}");
    assert_eq!(r3.changed, 1, "{r3:?}");
    let moved = cat
        .video_by_path(&lib.join("moved/renamed.mp4"))
        .unwrap()
        .unwrap();
    assert_eq!(moved.id, a_id, "a moved file keeps its identity");
    assert_eq!(status_of(&cat, &good.join("b.webm")).0, "gone");
}

#[test]
fn unreadable_files_are_recorded_not_fatal() {
    let tmp = tempfile::tempdir().unwrap();
    let lib = tmp.path().join("lib");
    std::fs::create_dir_all(&lib).unwrap();
    pattern_clip(&lib.join("fine.mp4"), "smpte", Codec::H264Mp4, 20, 10);
    pattern_clip(&lib.join("locked.mp4"), "ball", Codec::H264Mp4, 20, 10);
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        lib.join("locked.mp4"),
        std::fs::Permissions::from_mode(0o000),
    )
    .unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    std::fs::set_permissions(&lib, std::fs::Permissions::from_mode(0o777)).unwrap();
    let db = tmp.path().join("cat.sqlite3");
    // Root reads any file whatever its mode, so as root the scan runs as `nobody`.
    let is_root = unsafe { libc_geteuid() } == 0;
    let mut cmd = if is_root {
        let mut c = std::process::Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_reelmap"));
        c
    } else {
        std::process::Command::new(env!("CARGO_BIN_EXE_reelmap"))
    };
    let out = cmd
        .env("HOME", tmp.path())
        .arg("--db")
        .arg(&db)
        .arg("--json")
        .arg("scan")
        .arg(&lib)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cat = Catalogue::open(&db).unwrap();
    assert_eq!(status_of(&cat, &lib.join("fine.mp4")).0, "ok");
    let (status, err) = status_of(&cat, &lib.join("locked.mp4"));
    assert_eq!(status, "failed");
    assert!(err.unwrap().contains("permission denied"));
}

unsafe extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}

#[test]
fn cli_scan_lists_problems_and_exits_zero() {
    let tmp = tempfile::tempdir().unwrap();
    let lib = tmp.path().join("lib");
    std::fs::create_dir_all(&lib).unwrap();
    pattern_clip(&lib.join("ok.mp4"), "smpte", Codec::H264Mp4, 20, 10);
    std::fs::write(
        lib.join("broken.mp4"),
        b"\x00\x00\x00\x18ftypisom garbage garbage",
    )
    .unwrap();
    let db: PathBuf = tmp.path().join("cat.sqlite3");
    let r = reelmap_ok(&db, &["scan", lib.to_str().unwrap()]);
    assert!(r.stdout.contains("Could not use (1)"), "{}", r.stdout);
    assert!(r.stdout.contains("broken.mp4"), "{}", r.stdout);
    let j = reelmap_ok(&db, &["--json", "videos", "--failed"]).json();
    assert_eq!(j.as_array().unwrap().len(), 1);
    // A path that does not exist is a clear error in the report, not a crash.
    let r = reelmap_ok(&db, &["scan", tmp.path().join("missing").to_str().unwrap()]);
    assert!(r.stdout.contains("cannot scan this folder"), "{}", r.stdout);
}
