//! Applying folders on disk: property tests over generated trees, a crash test that
//! kills the real binary with SIGKILL at every step and at random times, moves across
//! filesystems, and the failure cases (changed files, full disk, read-only folders).

mod common;

use reelmap_core::apply::{self, Mode};
use reelmap_core::plan;
use reelmap_core::store::{Catalogue, ClusteringPlan, PlannedCluster};
use reelmap_numeric::SplitMix64 as Rng;
use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Cluster names chosen to be awkward as folder names.
const NAMES: &[&str] = &[
    "Dogs",
    "Cats/Kittens",
    "CON",
    "Fish: sea?",
    "Ünïcode tëst",
    "trailing dots...",
    "Mixed 1",
];

/// Everything under `dir`: files (relative path → content hash) and folders.
#[derive(Debug, PartialEq, Eq)]
struct Tree {
    files: BTreeMap<Vec<u8>, String>,
    dirs: BTreeSet<Vec<u8>>,
}

fn tree(dir: &Path) -> Tree {
    let mut files = BTreeMap::new();
    let mut dirs = BTreeSet::new();
    for e in walkdir::WalkDir::new(dir).min_depth(1) {
        let e = e.unwrap();
        let rel = e
            .path()
            .strip_prefix(dir)
            .unwrap()
            .as_os_str()
            .as_bytes()
            .to_vec();
        if e.file_type().is_dir() {
            dirs.insert(rel);
        } else {
            files.insert(
                rel,
                blake3::hash(&std::fs::read(e.path()).unwrap())
                    .to_hex()
                    .to_string(),
            );
        }
    }
    Tree { files, dirs }
}

fn content_multiset(t: &Tree) -> Vec<String> {
    let mut v: Vec<String> = t.files.values().cloned().collect();
    v.sort();
    v
}

/// A random tree of "videos" (random bytes; applying never decodes), nested folders,
/// clashing file names, odd names and companion files. Returns the video paths.
fn make_tree(dir: &Path, seed: u64, files: usize, big: usize) -> Vec<PathBuf> {
    let mut rng = Rng::seeded(seed);
    let folders: Vec<PathBuf> = vec![
        dir.to_path_buf(),
        dir.join("a"),
        dir.join("a").join("deep").join("er"),
        dir.join("b with space"),
        dir.join(std::ffi::OsStr::from_bytes(b"latin1-\xe9")),
        dir.join("ünï"),
    ];
    let stems = ["clip", "holiday", "IMG_0001", "vid (1)", "ça va", "a.b.c"];
    let mut videos = Vec::new();
    for i in 0..files {
        let folder = &folders[rng.below(folders.len())];
        std::fs::create_dir_all(folder).unwrap();
        // Same stems in different folders clash once they share a cluster folder.
        let stem = stems[rng.below(stems.len())];
        let mut name = format!("{stem}.mp4");
        if folder.join(&name).exists() {
            name = format!("{stem}-{i}.mp4");
        }
        let path = folder.join(&name);
        let size = if i < big {
            3 << 20
        } else {
            2000 + rng.below(5000)
        };
        let data: Vec<u8> = (0..size)
            .map(|j| (rng.next_u64() as usize ^ j) as u8)
            .collect();
        std::fs::write(&path, data).unwrap();
        let pstem = Path::new(&name)
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        match rng.below(4) {
            0 => std::fs::write(folder.join(format!("{pstem}.srt")), format!("subs {i}")).unwrap(),
            1 => {
                std::fs::write(folder.join(format!("{pstem}.en.vtt")), format!("vtt {i}")).unwrap();
                std::fs::write(folder.join(format!("{pstem}.nfo")), format!("nfo {i}")).unwrap();
            }
            2 => std::fs::write(
                folder.join(format!("{pstem}-poster.jpg")),
                format!("jpg {i}"),
            )
            .unwrap(),
            _ => {}
        }
        videos.push(path);
    }
    // An unrelated file that must never move.
    std::fs::write(dir.join("readme.txt"), "keep me").unwrap();
    videos
}

/// A catalogue that knows the videos and has them clustered.
fn make_catalogue(db: &Path, root: &Path, videos: &[PathBuf], seed: u64) {
    let mut cat = Catalogue::open(db).unwrap();
    let root_id = cat.add_root(root).unwrap();
    let mut rng = Rng::seeded(seed ^ 77);
    let k = 2 + rng.below(NAMES.len() - 1);
    let mut members: Vec<Vec<(i64, f64)>> = vec![vec![]; k];
    for v in videos {
        let m = std::fs::metadata(v).unwrap();
        let mtime = reelmap_core::util::system_time_ns(m.modified().unwrap());
        let id = cat
            .insert_video(root_id, v, m.len() as i64, mtime, None)
            .unwrap();
        members[rng.below(k)].push((id, 0.1));
    }
    let plan = ClusteringPlan {
        model: "test".into(),
        k_method: "test".into(),
        details: "{}".into(),
        clusters: members
            .into_iter()
            .enumerate()
            .map(|(i, m)| PlannedCluster {
                existing_id: None,
                name: NAMES[i].to_string(),
                concept: None,
                confidence: None,
                unsorted: false,
                centroid: vec![0.0],
                auto_members: m,
            })
            .collect(),
    };
    cat.apply_clustering(&plan).unwrap();
}

/// After an apply: every original file exists exactly once with its content; each
/// video sits in its cluster's folder with its companions beside it; the catalogue
/// points at the files.
fn check_applied(root: &Path, base: &Path, db: &Path, before: &Tree) {
    let cat = Catalogue::open(db).unwrap();
    let mut after = tree(root);
    if base != root {
        for (k, v) in tree(base).files {
            after.files.insert(k, v);
        }
    }
    assert_eq!(
        content_multiset(&after),
        content_multiset(before),
        "files lost or duplicated"
    );
    let folders_by_cluster: BTreeMap<i64, String> = plan::plan(&cat, None, base)
        .unwrap()
        .folders
        .into_iter()
        .collect();
    for a in cat.assignments().unwrap() {
        let v = cat.video(a.video_id).unwrap().unwrap();
        assert!(
            v.path.is_file(),
            "catalogue path {} is not on disk",
            v.path.display()
        );
        assert_eq!(
            v.path.parent().unwrap(),
            base.join(&folders_by_cluster[&a.cluster_id]),
            "{}",
            v.path.display()
        );
    }
    assert!(root.join("readme.txt").is_file(), "unrelated files stay");
}

fn run_reelmap(db: &Path, args: &[&str]) -> std::process::ExitStatus {
    Command::new(env!("CARGO_BIN_EXE_reelmap"))
        .arg("--db")
        .arg(db)
        .arg("--quiet")
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap()
}

/// What `reelmap apply ROOT [--target DIR]` does (recover, plan, apply), in a child
/// process (this test binary again, running [`crash_child`]) that kills itself with
/// SIGKILL at step `n` of the apply machinery.
fn apply_killed_at(
    db: &Path,
    root: &Path,
    target: Option<&Path>,
    n: u64,
) -> std::process::ExitStatus {
    let spec = serde_json::json!({"db": db, "root": root, "target": target, "kill_at": n});
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
        .env(CRASH_CHILD, spec.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap()
}

const CRASH_CHILD: &str = "REELMAP_TEST_CRASH_CHILD";

/// The child of [`apply_killed_at`]; does nothing in a normal test run.
#[test]
fn crash_child() {
    let Ok(spec) = std::env::var(CRASH_CHILD) else {
        return;
    };
    let spec: serde_json::Value = serde_json::from_str(&spec).unwrap();
    let path = |k: &str| spec[k].as_str().map(PathBuf::from);
    let (db, root, target) = (path("db").unwrap(), path("root").unwrap(), path("target"));
    let kill_at = spec["kill_at"].as_u64().unwrap();
    apply::with_step_hook(
        move |step| {
            if step == kill_at {
                // SAFETY: a signal to this very process; nothing is left to clean up.
                unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
            }
        },
        || {
            let mut cat = Catalogue::open(&db).unwrap();
            apply::recover(&mut cat).unwrap();
            let base = target.clone().unwrap_or_else(|| root.clone());
            let p = plan::plan(&cat, Some(&root), &base).unwrap();
            let p = plan::merge_plans(vec![p], &base);
            apply::apply(&mut cat, &p, Mode::Move).unwrap();
        },
    );
}

#[test]
fn apply_and_undo_over_generated_trees() {
    for seed in 0..12u64 {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("lib");
        let videos = make_tree(&root, seed, 8 + (seed as usize % 10), 0);
        let db = tmp.path().join("cat.sqlite3");
        make_catalogue(&db, &root, &videos, seed);
        let before = tree(&root);
        for mode in [Mode::Move, Mode::Link, Mode::Copy] {
            let mut cat = Catalogue::open(&db).unwrap();
            let plan = plan::plan(&cat, Some(&root), &root).unwrap();
            // Folder names are portable and unique.
            for (_, f) in &plan.folders {
                assert_eq!(f, &plan::safe_folder_name(f));
            }
            let r = apply::apply(&mut cat, &plan, mode).unwrap();
            assert!(r.failed.is_empty(), "seed {seed} {mode:?}: {:?}", r.failed);
            let after = tree(&root);
            match mode {
                Mode::Move => {
                    drop(cat);
                    check_applied(&root, &root, &db, &before);
                    let mut cat = Catalogue::open(&db).unwrap();
                    // Companions travel with their video under its (possibly numbered) stem.
                    for item in &plan.items {
                        for (from, to) in &item.companions {
                            assert!(
                                !from.exists() && to.is_file(),
                                "{} → {}",
                                from.display(),
                                to.display()
                            );
                            let stem = item.to.file_stem().unwrap().as_bytes();
                            assert!(to.file_name().unwrap().as_bytes().starts_with(stem));
                        }
                    }
                    // Re-applying with nothing changed moves nothing.
                    let again = plan::plan(&cat, Some(&root), &root).unwrap();
                    assert!(again.items.is_empty(), "{:?}", again.items);
                    apply::undo_last(&mut cat).unwrap().unwrap();
                }
                Mode::Link | Mode::Copy => {
                    // Originals untouched, new entries added.
                    for (k, v) in &before.files {
                        assert_eq!(after.files.get(k), Some(v), "original changed in {mode:?}");
                    }
                    assert!(after.files.len() > before.files.len());
                    apply::undo_last(&mut cat).unwrap().unwrap();
                }
            }
            assert_eq!(
                tree(&root),
                before,
                "seed {seed}: undo of {mode:?} must restore the tree byte for byte"
            );
            let cat = Catalogue::open(&db).unwrap();
            for v in &videos {
                assert!(
                    cat.video_by_path(v).unwrap().is_some(),
                    "catalogue path restored for {}",
                    v.display()
                );
            }
        }
    }
}

#[test]
fn relabelled_videos_are_the_only_ones_moved_again() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("lib");
    let videos = make_tree(&root, 5, 10, 0);
    let db = tmp.path().join("cat.sqlite3");
    make_catalogue(&db, &root, &videos, 5);
    let mut cat = Catalogue::open(&db).unwrap();
    let plan = plan::plan(&cat, Some(&root), &root).unwrap();
    apply::apply(&mut cat, &plan, Mode::Move).unwrap();
    // Move one video to another cluster by hand.
    let a = cat.assignments().unwrap();
    let other = cat
        .clusters()
        .unwrap()
        .into_iter()
        .find(|c| c.id != a[0].cluster_id)
        .unwrap()
        .id;
    cat.assign_user(&[a[0].video_id], other).unwrap();
    let plan2 = plan::plan(&cat, Some(&root), &root).unwrap();
    assert_eq!(plan2.items.len(), 1);
    let before = tree(&root);
    apply::apply(&mut cat, &plan2, Mode::Move).unwrap();
    // Two undos restore the original layout, one batch at a time.
    apply::undo_last(&mut cat).unwrap().unwrap();
    assert_eq!(tree(&root), before);
    apply::undo_last(&mut cat).unwrap().unwrap();
    assert!(apply::undo_last(&mut cat).unwrap().is_none());
    for v in &videos {
        assert!(v.is_file(), "{} is back", v.display());
    }
}

#[test]
fn changed_and_missing_files_stay_put_and_the_rest_continue() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("lib");
    let videos = make_tree(&root, 9, 8, 0);
    let db = tmp.path().join("cat.sqlite3");
    make_catalogue(&db, &root, &videos, 9);
    // One file changes after the scan, one disappears.
    std::fs::write(&videos[0], b"changed content").unwrap();
    std::fs::remove_file(&videos[1]).unwrap();
    let mut cat = Catalogue::open(&db).unwrap();
    let plan = plan::plan(&cat, Some(&root), &root).unwrap();
    let r = apply::apply(&mut cat, &plan, Mode::Move).unwrap();
    let reasons: Vec<&str> = r.failed.iter().map(|(_, m)| m.as_str()).collect();
    assert!(
        reasons
            .iter()
            .any(|m| m.contains("changed since it was scanned")),
        "{reasons:?}"
    );
    assert!(videos[0].is_file(), "the changed file stays where it was");
    assert!(r.files_done >= 6, "the others were moved: {r:?}");
}

/// Kills the real binary with SIGKILL at every step of an apply (same filesystem
/// and across filesystems), then at random times, and checks recovery and undo.
#[test]
fn crash_at_any_point_loses_nothing() {
    let cross_fs = cross_fs_dir();
    let mut kill_points = 0;
    let mut scenario = |seed: u64, target: Option<PathBuf>, label: &str| {
        let mut n = 1u64;
        loop {
            let tmp = tempfile::tempdir().unwrap();
            let root = tmp.path().join("lib");
            let videos = make_tree(&root, seed, 6, if target.is_some() { 1 } else { 0 });
            let db = tmp.path().join("cat.sqlite3");
            make_catalogue(&db, &root, &videos, seed);
            let before = tree(&root);
            let tdir = target.as_ref().map(|t| {
                let d = t.join(format!("target-{seed}-{n}-{}", std::process::id()));
                std::fs::create_dir_all(&d).unwrap();
                d
            });
            let status = apply_killed_at(&db, &root, tdir.as_deref(), n);
            let killed = status.code().is_none();
            // Any command recovers first; then the layout must be complete.
            assert!(run_reelmap(&db, &["journal"]).success());
            let base = tdir.clone().unwrap_or_else(|| root.clone());
            if killed {
                kill_points += 1;
            }
            check_applied(&root, &base, &db, &before);
            assert!(run_reelmap(&db, &["undo"]).success());
            if let Some(t) = &tdir {
                assert!(tree(t).files.is_empty(), "{label}: target emptied by undo");
            }
            assert_eq!(
                tree(&root),
                before,
                "{label}: undo after a crash at step {n} must restore the tree"
            );
            if let Some(t) = &tdir {
                let _ = std::fs::remove_dir_all(t);
            }
            if !killed {
                break; // step n is past the end: every step has been covered
            }
            n += 1;
        }
        n
    };
    let steps_same = scenario(21, None, "same filesystem");
    println!(
        "same filesystem: killed at each of {} steps",
        steps_same - 1
    );
    if let Some(dir) = &cross_fs {
        let steps_cross = scenario(22, Some(dir.clone()), "across filesystems");
        println!(
            "across filesystems: killed at each of {} steps",
            steps_cross - 1
        );
    } else {
        println!("no second filesystem available: cross-filesystem crash points skipped");
    }

    // Random timing: the test kills the process itself, at varied moments.
    let mut rng = Rng::seeded(4242);
    let mut random_kills = 0;
    for run in 0..50u64 {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("lib");
        let videos = make_tree(&root, 100 + run, 12, 2);
        let db = tmp.path().join("cat.sqlite3");
        make_catalogue(&db, &root, &videos, 100 + run);
        let before = tree(&root);
        let tdir = cross_fs.as_ref().filter(|_| run % 2 == 1).map(|t| {
            let d = t.join(format!("rnd-{run}-{}", std::process::id()));
            std::fs::create_dir_all(&d).unwrap();
            d
        });
        let mut c = Command::new(env!("CARGO_BIN_EXE_reelmap"));
        c.arg("--db")
            .arg(&db)
            .arg("--quiet")
            .arg("apply")
            .arg(&root);
        if let Some(t) = &tdir {
            c.arg("--target").arg(t);
        }
        let mut child = c
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_micros(rng.below(60_000) as u64));
        let _ = child.kill(); // SIGKILL
        let status = child.wait().unwrap();
        if status.code().is_none() {
            random_kills += 1;
        }
        assert!(run_reelmap(&db, &["journal"]).success());
        let base = tdir.clone().unwrap_or_else(|| root.clone());
        let journaled = !Catalogue::open(&db).unwrap().batches().unwrap().is_empty();
        if journaled {
            // Killed after the journal was written: recovery finished the batch.
            check_applied(&root, &base, &db, &before);
            assert!(run_reelmap(&db, &["undo"]).success());
        }
        // Killed before: nothing may have changed.
        assert_eq!(tree(&root), before, "random kill run {run}");
        if let Some(t) = &tdir {
            let _ = std::fs::remove_dir_all(t);
        }
    }
    println!("random timing: 50 runs, {random_kills} killed mid-way; {kill_points} step kills");
    if let Some(d) = &cross_fs {
        let _ = std::fs::remove_dir_all(d);
    }
    assert!(
        kill_points >= 20,
        "too few kill points covered: {kill_points}"
    );
    assert!(
        random_kills >= 10,
        "too few runs were actually interrupted: {random_kills}"
    );
}

/// A folder on another filesystem than the temporary folder, if the machine has one
/// (tmpfs at /dev/shm on most Linux systems).
fn cross_fs_dir() -> Option<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    let tmp_dev = std::fs::metadata(std::env::temp_dir()).ok()?.dev();
    for cand in ["/dev/shm", "/run/user", "/run"] {
        let p = Path::new(cand);
        if let Ok(m) = std::fs::metadata(p)
            && m.dev() != tmp_dev
        {
            // One folder per call: tests run in parallel in one process, and each
            // removes its own folder at the end.
            static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let d = p.join(format!("reelmap-test-{}-{call}", std::process::id()));
            if std::fs::create_dir_all(&d).is_ok() {
                return Some(d);
            }
        }
    }
    println!("skipping cross-filesystem checks: no writable folder on another filesystem");
    None
}

#[test]
fn moves_across_filesystems_are_verified_copies() {
    let Some(other) = cross_fs_dir() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("lib");
    let videos = make_tree(&root, 31, 6, 2);
    let db = tmp.path().join("cat.sqlite3");
    make_catalogue(&db, &root, &videos, 31);
    let before = tree(&root);
    let mut cat = Catalogue::open(&db).unwrap();
    let plan = plan::plan(&cat, Some(&root), &other).unwrap();
    let r = apply::apply(&mut cat, &plan, Mode::Move).unwrap();
    assert!(r.failed.is_empty(), "{:?}", r.failed);
    drop(cat);
    check_applied(&root, &other, &db, &before);
    let ops: Vec<String> = Catalogue::open(&db)
        .unwrap()
        .journal_ops(r.batch_id.unwrap())
        .unwrap()
        .into_iter()
        .filter(|o| o.kind == reelmap_core::store::OpKind::Move)
        .filter_map(|o| o.how)
        .collect();
    assert!(ops.iter().all(|h| h == "copy+delete"), "{ops:?}");
    let mut cat = Catalogue::open(&db).unwrap();
    apply::undo_last(&mut cat).unwrap().unwrap();
    assert_eq!(tree(&root), before);
    let _ = std::fs::remove_dir_all(&other);
}

/// Mounts a small tmpfs (needs root); None with a printed reason otherwise.
fn small_tmpfs(dir: &Path, size: &str) -> Option<()> {
    std::fs::create_dir_all(dir).ok()?;
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(dir)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        println!("skipping: cannot mount a tmpfs here (not root?)");
        return None;
    }
    Some(())
}

#[test]
fn full_disk_and_read_only_folders_leave_files_in_place() {
    let tmp = tempfile::tempdir().unwrap();
    let mnt = tmp.path().join("small");
    if small_tmpfs(&mnt, "1m").is_none() {
        return;
    }
    let umount = |p: &Path| {
        let _ = Command::new("umount").arg(p).status();
    };
    let root = tmp.path().join("lib");
    let videos = make_tree(&root, 41, 6, 2); // two 3 MiB files cannot fit in 1 MiB
    let db = tmp.path().join("cat.sqlite3");
    make_catalogue(&db, &root, &videos, 41);
    let before = tree(&root);
    let mut cat = Catalogue::open(&db).unwrap();
    let plan = plan::plan(&cat, Some(&root), &mnt).unwrap();
    let r = apply::apply(&mut cat, &plan, Mode::Move).unwrap();
    let full: Vec<_> = r
        .failed
        .iter()
        .filter(|(_, m)| m.contains("disk is full"))
        .collect();
    assert_eq!(full.len(), 2, "{:?}", r.failed);
    for (p, _) in &full {
        assert!(Path::new(p).is_file(), "{p} stays where it was");
    }
    // The failed copies left no partial files behind.
    assert!(
        tree(&mnt)
            .files
            .keys()
            .all(|k| !String::from_utf8_lossy(k).contains(".reelmap-partial"))
    );
    apply::undo_last(&mut cat).unwrap().unwrap();
    assert_eq!(tree(&root), before);
    umount(&mnt);

    // A read-only destination.
    if small_tmpfs(&mnt, "8m").is_none() {
        return;
    }
    let ok = Command::new("mount")
        .args(["-o", "remount,ro"])
        .arg(&mnt)
        .status()
        .unwrap()
        .success();
    assert!(ok, "remount read-only");
    let plan = plan::plan(&cat, Some(&root), &mnt).unwrap();
    let r = apply::apply(&mut cat, &plan, Mode::Move).unwrap();
    assert!(
        !r.failed.is_empty()
            && r.failed
                .iter()
                .all(|(_, m)| m.contains("read-only") || m.contains("could not be created")),
        "{:?}",
        r.failed
    );
    assert_eq!(tree(&root), before, "nothing moved");
    umount(&mnt);
}
