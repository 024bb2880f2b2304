//! Finding videos: walk folders (or whole drives), fingerprint, probe, and keep the
//! catalogue in step with the disk incrementally.
//!
//! The scan only ever reads the user's files. Unchanged files (same size and mtime)
//! are not opened again; renamed or moved files are recognised by their content
//! fingerprint and keep everything computed for them; files that disappeared are
//! marked gone.

use crate::store::VideoStatus;
use crate::store::{Catalogue, KnownFile};
use crate::util::{display_path, path_to_bytes, system_time_ns};
use anyhow::Result;
use reelmap_media::container::{is_not_video_extension, is_video_extension, sniff_video};
use reelmap_media::{self as media, Probe};
use std::collections::{HashMap, HashSet};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Bumped whenever decoding or probing learns to read more files, so that files that
/// failed under an older engine are tried again once.
pub const ENGINE_REVISION: u32 = 1;

/// Folder names skipped by default (besides hidden ones starting with '.').
const SYSTEM_DIRS: &[&str] = &[
    "$RECYCLE.BIN",
    "System Volume Information",
    "lost+found",
    "@eaDir",
    "#recycle",
    "$Recycle.Bin",
    "node_modules",
];

/// Top-level folders of a Unix root that hold no user files.
const ROOT_SYSTEM_DIRS: &[&str] = &[
    "proc", "sys", "dev", "run", "tmp", "var/lib", "snap", "boot",
];

#[derive(Debug, Clone)]
pub struct ScanOptions {
    pub include_hidden: bool,
    pub follow_symlinks: bool,
    pub probe_timeout: Duration,
    /// How files are opened to probe them (the same choices as decoding).
    pub decode: media::DecodeOptions,
    /// Probe files in parallel with this many threads. Two per core: a probe spends
    /// much of its time waiting for GStreamer's streaming thread and state changes.
    pub threads: usize,
    /// Try files that failed before again (also done automatically once after
    /// Reelmap itself changed, since a newer version may read them).
    pub retry_failed: bool,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            include_hidden: false,
            follow_symlinks: true,
            probe_timeout: Duration::from_secs(20),
            decode: media::DecodeOptions::default(),
            threads: std::thread::available_parallelism()
                .map(|n| n.get() * 2)
                .unwrap_or(4)
                .max(4),
            retry_failed: false,
        }
    }
}

#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct ScanReport {
    pub roots: Vec<String>,
    pub files_seen: usize,
    pub new: usize,
    pub unchanged: usize,
    pub changed: usize,
    pub moved: usize,
    pub gone: usize,
    pub failed: usize,
    /// (path, reason) for every file or folder that could not be used.
    pub problems: Vec<(String, String)>,
}

/// Progress callback: (files looked at so far, current path).
pub type ScanProgress<'a> = &'a (dyn Fn(usize, &Path) + Sync);

/// BLAKE3 of the size and the first and last 64 KiB: cheap, and enough to
/// recognise a file after a rename or move.
pub fn fingerprint(path: &Path, size: u64) -> std::io::Result<Vec<u8>> {
    const CHUNK: u64 = 64 * 1024;
    let mut f = std::fs::File::open(path)?;
    let mut h = blake3::Hasher::new();
    h.update(&size.to_le_bytes());
    let mut buf = vec![0u8; CHUNK as usize];
    let n = read_up_to(&mut f, &mut buf)?;
    h.update(&buf[..n]);
    if size > 2 * CHUNK {
        f.seek(SeekFrom::Start(size - CHUNK))?;
        let n = read_up_to(&mut f, &mut buf)?;
        h.update(&buf[..n]);
    } else if size > CHUNK {
        let n = read_up_to(&mut f, &mut buf)?;
        h.update(&buf[..n]);
    }
    Ok(h.finalize().as_bytes().to_vec())
}

/// Files up to this size are compared byte for byte by [`same_content`].
pub const FULL_COMPARE_MAX: u64 = 256 * 1024 * 1024;

/// Whether two files hold the same bytes, for reusing one's embedding for the other
/// (copies are common in real libraries: backups, exports, phone syncs). Files up to
/// [`FULL_COMPARE_MAX`] are compared whole. Above that, reading both whole would cost
/// more than decoding the 16 sampled frames, so 256 blocks of 64 KiB spread evenly
/// through the files (16 MiB each, with the first and last block) are compared; two
/// files of the same size that agree there and differ elsewhere would be a file edited
/// in place without changing its length, which video tools do not do.
pub fn same_content(a: &Path, b: &Path) -> std::io::Result<bool> {
    same_content_up_to(a, b, FULL_COMPARE_MAX)
}

fn same_content_up_to(a: &Path, b: &Path, full_max: u64) -> std::io::Result<bool> {
    const BLOCK: u64 = 64 * 1024;
    const BLOCKS: u64 = 256;
    let (mut fa, mut fb) = (std::fs::File::open(a)?, std::fs::File::open(b)?);
    let size = fa.metadata()?.len();
    if fb.metadata()?.len() != size {
        return Ok(false);
    }
    let (mut ba, mut bb) = (vec![0u8; BLOCK as usize], vec![0u8; BLOCK as usize]);
    let mut same_at = |offset: u64| -> std::io::Result<bool> {
        fa.seek(SeekFrom::Start(offset))?;
        fb.seek(SeekFrom::Start(offset))?;
        let (na, nb) = (read_up_to(&mut fa, &mut ba)?, read_up_to(&mut fb, &mut bb)?);
        Ok(na == nb && ba[..na] == bb[..nb])
    };
    let offsets: Vec<u64> = if size <= full_max {
        (0..size.div_ceil(BLOCK)).map(|i| i * BLOCK).collect()
    } else {
        let last = size.saturating_sub(BLOCK);
        (0..BLOCKS).map(|i| last * i / (BLOCKS - 1)).collect()
    };
    for offset in offsets {
        if !same_at(offset)? {
            return Ok(false);
        }
    }
    Ok(true)
}

fn read_up_to(f: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut total = 0;
    while total < buf.len() {
        match f.read(&mut buf[total..]) {
            Ok(0) => break,
            Ok(n) => total += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(total)
}

fn skip_dir(name: &str, depth: usize, rel_to_fs_root: Option<&str>, opts: &ScanOptions) -> bool {
    if depth == 0 {
        return false;
    }
    if !opts.include_hidden && name.starts_with('.') {
        return true;
    }
    if SYSTEM_DIRS.iter().any(|s| s.eq_ignore_ascii_case(name)) {
        return true;
    }
    rel_to_fs_root.is_some_and(|rel| ROOT_SYSTEM_DIRS.contains(&rel))
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        std::io::ErrorKind::NotFound => "no longer there".into(),
        _ => e.to_string(),
    }
}

/// A file found by the walk, before any catalogue decision.
struct Found {
    path: PathBuf,
    size: u64,
    mtime_ns: i64,
    by_extension: bool,
}

/// Walks `root`, returning candidate video files and walk problems.
fn walk(
    root: &Path,
    opts: &ScanOptions,
    progress: ScanProgress<'_>,
) -> (Vec<Found>, Vec<(PathBuf, String)>) {
    let mut found = Vec::new();
    let mut problems = Vec::new();
    let mut seen_inodes: HashSet<(u64, u64)> = HashSet::new();
    let is_fs_root = root.parent().is_none();
    let mut count = 0usize;
    let walker = walkdir::WalkDir::new(root)
        .follow_links(opts.follow_symlinks)
        .same_file_system(false)
        .into_iter()
        .filter_entry(|e| {
            if !e.file_type().is_dir() {
                return true;
            }
            let name = e.file_name().to_string_lossy();
            let rel = if is_fs_root {
                e.path()
                    .strip_prefix(root)
                    .ok()
                    .map(|p| p.to_string_lossy().into_owned())
            } else {
                None
            };
            !skip_dir(&name, e.depth(), rel.as_deref(), opts)
        });
    for entry in walker {
        let entry = match entry {
            Ok(e) => e,
            Err(err) => {
                let path = err
                    .path()
                    .map(Path::to_path_buf)
                    .unwrap_or_else(|| root.to_path_buf());
                let reason = if let Some(anc) = err.loop_ancestor() {
                    format!(
                        "symbolic link loop back to {} (not followed)",
                        anc.display()
                    )
                } else if let Some(ioe) = err.io_error() {
                    if ioe.kind() == std::io::ErrorKind::NotFound && path.symlink_metadata().is_ok()
                    {
                        "broken symbolic link (its target does not exist)".to_string()
                    } else if ioe.kind() == std::io::ErrorKind::NotFound {
                        // Vanished between listing and reading: nothing to report.
                        continue;
                    } else {
                        io_reason(ioe)
                    }
                } else {
                    err.to_string()
                };
                problems.push((path, reason));
                continue;
            }
        };
        if !entry.file_type().is_file() {
            continue;
        }
        count += 1;
        if count.is_multiple_of(256) {
            progress(count, entry.path());
        }
        let name = entry.file_name().to_string_lossy();
        if !opts.include_hidden && name.starts_with('.') {
            continue;
        }
        let path = entry.path().to_path_buf();
        let by_extension = is_video_extension(&path);
        let ext_known_other = is_not_video_extension(&path);
        if !by_extension && ext_known_other {
            continue;
        }
        let meta = match entry.metadata() {
            Ok(m) => m,
            Err(e) => {
                if by_extension {
                    let reason = e.io_error().map(io_reason).unwrap_or_else(|| e.to_string());
                    if reason != "no longer there" {
                        problems.push((path, reason));
                    }
                }
                continue;
            }
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            // The same file reached through two links is catalogued once.
            if !seen_inodes.insert((meta.dev(), meta.ino())) {
                continue;
            }
        }
        let mtime_ns = meta.modified().map(system_time_ns).unwrap_or(0);
        if !by_extension && (meta.len() < 1024 || !sniff_video(&path)) {
            continue;
        }
        found.push(Found {
            path,
            size: meta.len(),
            mtime_ns,
            by_extension,
        });
    }
    let _ = &mut seen_inodes;
    (found, problems)
}

/// Broken symlinks with a video extension are worth a catalogue row (so they show up
/// as failed videos); other walk problems only go to the report.
fn is_video_problem(path: &Path) -> bool {
    is_video_extension(path)
}

/// Scans each root and brings the catalogue up to date. Returns what happened.
pub fn scan(
    cat: &mut Catalogue,
    roots: &[PathBuf],
    opts: &ScanOptions,
    progress: ScanProgress<'_>,
) -> Result<ScanReport> {
    media::init()?;
    let mut report = ScanReport::default();
    let engine = format!("{}+{}", env!("CARGO_PKG_VERSION"), ENGINE_REVISION);
    let recorded = cat.meta("engine")?;
    let retry_failed = opts.retry_failed || recorded.as_deref() != Some(engine.as_str());
    for root in roots {
        let root = match std::fs::canonicalize(root) {
            Ok(r) => r,
            Err(e) => {
                report.problems.push((
                    display_path(root),
                    format!("cannot scan this folder: {}", io_reason(&e)),
                ));
                continue;
            }
        };
        report.roots.push(display_path(&root));
        let root_id = cat.add_root(&root)?;
        let (mut found, walk_problems) = walk(&root, opts, progress);
        // Links and copies Reelmap made when applying folders are not new videos.
        let views = cat.created_views()?;
        found.retain(|f| !views.contains(&path_to_bytes(&f.path)));
        report.files_seen += found.len();
        let mut known = cat.root_index(root_id)?;
        let mut seen_ids: HashSet<i64> = HashSet::new();
        let mut to_probe: Vec<(i64, PathBuf)> = Vec::new();

        // Problems tied to a would-be video become failed rows; the rest are listed.
        let mut dir_problems = Vec::new();
        for (path, reason) in walk_problems {
            if is_video_problem(&path) {
                let id = match known.remove(&path_to_bytes(&path)) {
                    Some(k) => k.id,
                    None => match cat.video_by_path(&path)? {
                        Some(v) => v.id,
                        None => cat.insert_video(root_id, &path, 0, 0, None)?,
                    },
                };
                cat.mark_failed(id, "scan", &reason)?;
                seen_ids.insert(id);
                report.failed += 1;
            }
            report.problems.push((display_path(&path), reason.clone()));
            dir_problems.push((path, reason));
        }

        for f in &found {
            let key = path_to_bytes(&f.path);
            if let Some(KnownFile {
                id,
                size,
                mtime_ns: mtime,
                status,
            }) = known.remove(&key)
            {
                seen_ids.insert(id);
                let retry = retry_failed && status == VideoStatus::Failed;
                if size == f.size as i64
                    && mtime == f.mtime_ns
                    && status != VideoStatus::Gone
                    && !retry
                {
                    report.unchanged += 1;
                    continue;
                }
                // Changed stat data: has the content changed?
                let fp = match fingerprint(&f.path, f.size) {
                    Ok(fp) => fp,
                    Err(e) => {
                        cat.mark_failed(id, "read", &format!("cannot read: {}", io_reason(&e)))?;
                        report.failed += 1;
                        continue;
                    }
                };
                let old_fp = cat.video(id)?.and_then(|v| v.fingerprint);
                if old_fp.as_deref() == Some(fp.as_slice()) && status != VideoStatus::Failed {
                    cat.refresh_stat(id, f.size as i64, f.mtime_ns)?;
                    report.unchanged += 1;
                } else {
                    cat.reset_changed_video(id, f.size as i64, f.mtime_ns, Some(&fp))?;
                    to_probe.push((id, f.path.clone()));
                    report.changed += 1;
                }
                continue;
            }
            // A path we have not seen under this root.
            if f.size == 0 {
                let id = match cat.video_by_path(&f.path)? {
                    Some(v) => v.id,
                    None => cat.insert_video(root_id, &f.path, 0, f.mtime_ns, None)?,
                };
                seen_ids.insert(id);
                cat.mark_failed(id, "scan", "empty file (0 bytes)")?;
                report.failed += 1;
                continue;
            }
            let fp = match fingerprint(&f.path, f.size) {
                Ok(fp) => Some(fp),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    let id = cat.insert_video(root_id, &f.path, f.size as i64, f.mtime_ns, None)?;
                    seen_ids.insert(id);
                    cat.mark_failed(id, "read", &format!("cannot read: {}", io_reason(&e)))?;
                    report.failed += 1;
                    continue;
                }
            };
            // Same content known at a path that no longer exists: a move or rename.
            let fp_ref = fp.as_deref().unwrap();
            let moved_from = cat
                .videos_with_fingerprint(fp_ref)?
                .into_iter()
                .find(|v| !seen_ids.contains(&v.id) && !v.path.exists());
            if let Some(old) = moved_from {
                cat.move_video(old.id, root_id, &f.path, f.size as i64, f.mtime_ns)?;
                known.remove(&path_to_bytes(&old.path));
                seen_ids.insert(old.id);
                report.moved += 1;
                continue;
            }
            // Maybe the row exists under another root (overlapping roots).
            if let Some(v) = cat.video_by_path(&f.path)? {
                seen_ids.insert(v.id);
                report.unchanged += 1;
                continue;
            }
            let id =
                cat.insert_video(root_id, &f.path, f.size as i64, f.mtime_ns, fp.as_deref())?;
            seen_ids.insert(id);
            report.new += 1;
            if f.by_extension || fp.is_some() {
                to_probe.push((id, f.path.clone()));
            }
        }

        // Everything still in `known` was not found this time.
        let mut gone = Vec::new();
        for (path_bytes, KnownFile { id, status, .. }) in known {
            if status == VideoStatus::Gone || seen_ids.contains(&id) {
                continue;
            }
            let p = crate::util::path_from_bytes(&path_bytes);
            if p.symlink_metadata().is_err() {
                gone.push(id);
            }
        }
        report.gone += gone.len();
        cat.mark_gone(&gone)?;

        report.failed += probe_all(cat, &to_probe, opts, &mut report.problems)?;
        cat.replace_scan_problems(root_id, &dir_problems)?;
        cat.mark_root_scanned(root_id)?;
    }
    cat.set_meta("engine", &engine)?;
    Ok(report)
}

/// Probes files in parallel threads (GStreamer's discoverer is synchronous) and
/// stores results from this thread. Returns how many failed.
fn probe_all(
    cat: &Catalogue,
    items: &[(i64, PathBuf)],
    opts: &ScanOptions,
    problems: &mut Vec<(String, String)>,
) -> Result<usize> {
    if items.is_empty() {
        return Ok(0);
    }
    let (tx, rx) = crossbeam_channel::bounded::<(i64, PathBuf, Result<Probe>)>(64);
    let queue = crossbeam_channel::unbounded::<(i64, PathBuf)>();
    for it in items {
        queue.0.send(it.clone()).ok();
    }
    drop(queue.0);
    let mut failed = 0;
    std::thread::scope(|s| -> Result<()> {
        for _ in 0..opts.threads.min(items.len()) {
            let rx_q = queue.1.clone();
            let tx = tx.clone();
            let (timeout, decode) = (opts.probe_timeout, opts.decode);
            s.spawn(move || {
                while let Ok((id, path)) = rx_q.recv() {
                    let r = media::probe(&path, timeout, &decode);
                    if tx.send((id, path, r)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let by_ext: HashMap<i64, bool> = items
            .iter()
            .map(|(id, p)| (*id, is_video_extension(p)))
            .collect();
        for (id, path, r) in rx {
            match r {
                Ok(Probe::Video(info)) => cat.set_media_info(id, &info)?,
                Ok(Probe::NotVideo(_)) if !by_ext[&id] => {
                    // Sniffed as video but is not: forget it quietly.
                    cat.forget_video(id)?;
                }
                Ok(Probe::NotVideo(reason)) | Ok(Probe::Failed(reason)) => {
                    let reason = if reason.starts_with("not a media file")
                        || reason.starts_with("no video")
                    {
                        format!("not a video: {reason}")
                    } else {
                        reason
                    };
                    cat.mark_failed(id, "probe", &reason)?;
                    problems.push((display_path(&path), reason));
                    failed += 1;
                }
                Err(e) => {
                    let reason = format!("{e:#}");
                    cat.mark_failed(id, "probe", &reason)?;
                    problems.push((display_path(&path), reason));
                    failed += 1;
                }
            }
        }
        Ok(())
    })?;
    Ok(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extension_and_sniffing() {
        let dir = tempfile::tempdir().unwrap();
        assert!(is_video_extension(Path::new("a/B.MP4")));
        assert!(!is_video_extension(Path::new("a/b.txt")));
        let mkv = dir.path().join("noext");
        let mut data = vec![0x1a, 0x45, 0xdf, 0xa3];
        data.resize(2048, 0);
        std::fs::write(&mkv, &data).unwrap();
        assert!(sniff_video(&mkv));
        let txt = dir.path().join("text");
        std::fs::write(&txt, vec![b'a'; 2048]).unwrap();
        assert!(!sniff_video(&txt));
    }

    #[test]
    fn same_content_compares_bytes_whole_or_spread() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.bin"), dir.path().join("b.bin"));
        // 17 blocks of 64 KiB and a bit: whole comparison below the limit, 256
        // spread blocks (overlapping here, so every byte is still covered) above it.
        let data: Vec<u8> = (0..1_120_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&a, &data).unwrap();
        std::fs::write(&b, &data).unwrap();
        for limit in [u64::MAX, 0] {
            assert!(same_content_up_to(&a, &b, limit).unwrap());
        }
        // One byte in the middle, outside the scan's fingerprint.
        let mut d2 = data.clone();
        d2[560_000] ^= 1;
        std::fs::write(&b, &d2).unwrap();
        assert_eq!(
            fingerprint(&a, data.len() as u64).unwrap(),
            fingerprint(&b, d2.len() as u64).unwrap()
        );
        for limit in [u64::MAX, 0] {
            assert!(!same_content_up_to(&a, &b, limit).unwrap());
        }
        // Another length.
        std::fs::write(&b, &data[..data.len() - 1]).unwrap();
        assert!(!same_content(&a, &b).unwrap());
    }

    #[test]
    fn fingerprint_depends_on_content_not_name() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.bin");
        let b = dir.path().join("b.bin");
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&a, &data).unwrap();
        std::fs::write(&b, &data).unwrap();
        let fa = fingerprint(&a, data.len() as u64).unwrap();
        assert_eq!(fa, fingerprint(&b, data.len() as u64).unwrap());
        let mut d2 = data.clone();
        *d2.last_mut().unwrap() ^= 1;
        std::fs::write(&b, &d2).unwrap();
        assert_ne!(fa, fingerprint(&b, d2.len() as u64).unwrap());
    }
}
