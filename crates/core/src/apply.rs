//! Applying the folder plan on disk — the one place where Reelmap changes the
//! user's files — through a journal in SQLite, with crash recovery and undo.
//!
//! Every operation of a batch is written to the journal (`apply_ops`) before any
//! file is touched, and marked done, together with the catalogue's new path, in one
//! transaction right after it happened. Operations never overwrite: renames use
//! `RENAME_NOREPLACE` and copies go to a temporary name that is renamed the same way.
//! Across filesystems a move is copy → fsync → hash check → rename into place →
//! remove the source, so that at every instant at least one complete copy exists.
//!
//! If the process dies (power cut, kill -9), the next start reconciles each
//! unfinished operation with what is actually on disk (an operation may have happened
//! without its journal entry being marked) and then finishes the interrupted batch —
//! an apply or an undo — so that the catalogue paths match the disk again. `undo`
//! replays the newest finished batch backwards; several applies can be undone one by
//! one.

use crate::plan::Plan;
use crate::store::journal::{NewOp, Op};
use crate::store::{BatchState, Catalogue, OpKind, OpState};
use crate::util::display_path;
use anyhow::{Context, Result, anyhow, bail};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

pub use crate::store::Mode;
pub use crate::store::journal::BatchInfo;

/// The mode named on a command line or in a request.
pub fn parse_mode(s: &str) -> Result<Mode> {
    Mode::parse(s).ok_or_else(|| {
        crate::error::Error::invalid(format!("unknown mode {s:?}: use move, link or copy"))
    })
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct ApplyReport {
    pub batch_id: Option<i64>,
    pub files_done: usize,
    pub folders_created: usize,
    /// (path, reason) of files left where they were.
    pub failed: Vec<(String, String)>,
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct UndoReport {
    pub batch_id: Option<i64>,
    pub files_restored: usize,
    pub failed: Vec<(String, String)>,
}

// ----- steps (where a crash could happen) -----

type StepHook = std::rc::Rc<dyn Fn(u64)>;

thread_local! {
    /// The hook of [`with_step_hook`] running on this thread, and its step count.
    static STEP_HOOK: std::cell::RefCell<Option<(StepHook, u64)>> =
        const { std::cell::RefCell::new(None) };
}

/// Runs `f` with `hook` called at every step of the apply/undo machinery that `f`
/// runs on this thread: between journal writes, file operations, fsyncs and
/// catalogue updates, wherever a real crash could happen. `hook` gets the step's
/// number (1, 2, ...). The crash tests kill the process there.
pub fn with_step_hook<R>(hook: impl Fn(u64) + 'static, f: impl FnOnce() -> R) -> R {
    let previous = STEP_HOOK.with(|h| h.replace(Some((std::rc::Rc::new(hook), 0))));
    // Restored even if `f` panics.
    struct Restore(Option<(StepHook, u64)>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            STEP_HOOK.with(|h| *h.borrow_mut() = previous);
        }
    }
    let _restore = Restore(previous);
    f()
}

/// One step of the machinery: see [`with_step_hook`].
fn crash_point() {
    let current = STEP_HOOK.with(|h| {
        h.borrow_mut().as_mut().map(|(hook, n)| {
            *n += 1;
            (hook.clone(), *n)
        })
    });
    if let Some((hook, n)) = current {
        hook(n);
    }
}

// ----- filesystem primitives -----

fn cstr(p: &Path) -> Result<std::ffi::CString> {
    use std::os::unix::ffi::OsStrExt;
    std::ffi::CString::new(p.as_os_str().as_bytes())
        .map_err(|_| anyhow!("path contains a NUL byte"))
}

/// Renames without ever replacing an existing destination.
fn rename_noreplace(from: &Path, to: &Path) -> std::io::Result<()> {
    let (f, t) = match (cstr(from), cstr(to)) {
        (Ok(f), Ok(t)) => (f, t),
        _ => return Err(std::io::Error::from(std::io::ErrorKind::InvalidInput)),
    };
    // SAFETY: both are valid NUL-terminated paths; AT_FDCWD resolves them normally.
    let r = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            f.as_ptr(),
            libc::AT_FDCWD,
            t.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if r == 0 {
        return Ok(());
    }
    let err = std::io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::EINVAL) || err.raw_os_error() == Some(libc::ENOSYS) {
        // Filesystems without RENAME_NOREPLACE: a hard link fails if the target
        // exists, then the old name is removed.
        std::fs::hard_link(from, to)?;
        return std::fs::remove_file(from);
    }
    Err(err)
}

fn fsync_dir(dir: &Path) {
    if let Ok(f) = std::fs::File::open(dir) {
        let _ = f.sync_all();
    }
}

fn hash_file(p: &Path) -> std::io::Result<blake3::Hash> {
    let mut f = std::fs::File::open(p)?;
    let mut h = blake3::Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize())
}

fn partial_name(dst: &Path, op_id: i64) -> PathBuf {
    dst.with_file_name(format!(".reelmap-partial-{op_id}"))
}

/// Copies `src` to `dst` through a temporary name: fsync, compare full hashes, then
/// rename into place without replacing anything.
fn copy_verified(src: &Path, dst: &Path, op_id: i64) -> Result<()> {
    let tmp = partial_name(dst, op_id);
    let _ = std::fs::remove_file(&tmp);
    let result = (|| -> Result<()> {
        let mut input =
            std::fs::File::open(src).with_context(|| format!("cannot read {}", src.display()))?;
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .with_context(|| {
                format!("cannot write in {}", dst.parent().unwrap_or(dst).display())
            })?;
        let mut h = blake3::Hasher::new();
        let mut buf = vec![0u8; 4 << 20];
        loop {
            let n = input.read(&mut buf)?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
            out.write_all(&buf[..n]).map_err(|e| {
                if e.raw_os_error() == Some(libc::ENOSPC) {
                    anyhow!("the disk is full")
                } else {
                    anyhow!(e)
                }
            })?;
            crash_point();
        }
        out.sync_all()?;
        drop(out);
        crash_point();
        if hash_file(&tmp)? != h.finalize() {
            bail!("the copy does not match the original (verification failed)");
        }
        if let Ok(meta) = std::fs::metadata(src) {
            let _ = std::fs::set_permissions(&tmp, meta.permissions());
            if let Ok(m) = meta.modified() {
                let _ = std::fs::File::options()
                    .write(true)
                    .open(&tmp)
                    .and_then(|f| f.set_modified(m));
            }
        }
        rename_noreplace(&tmp, dst).with_context(|| format!("cannot create {}", dst.display()))?;
        crash_point();
        if let Some(d) = dst.parent() {
            fsync_dir(d);
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn io_message(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::EACCES) | Some(libc::EPERM) => "permission denied".into(),
        Some(libc::EROFS) => "the folder is read-only".into(),
        Some(libc::ENOSPC) => "the disk is full".into(),
        Some(libc::EEXIST) => "a file of that name already exists (not overwritten)".into(),
        Some(libc::ENOENT) => "the file is no longer there".into(),
        _ => e.to_string(),
    }
}

fn stat_of(p: &Path) -> Option<(i64, i64)> {
    let m = std::fs::symlink_metadata(p).ok()?;
    Some((
        m.len() as i64,
        m.modified().map(crate::util::system_time_ns).unwrap_or(0),
    ))
}

// ----- the journal -----

/// Marks an operation finished (see [`Catalogue::mark_op`]); a step.
fn mark(
    cat: &mut Catalogue,
    op: &Op,
    state: OpState,
    error: Option<&str>,
    how: Option<&str>,
    video_at: Option<&Path>,
) -> Result<()> {
    cat.mark_op(op, state, error, how, video_at)?;
    crash_point();
    Ok(())
}

/// Writes a batch and all its operations to the journal before anything happens.
fn journal_plan(cat: &mut Catalogue, plan: &Plan, mode: Mode) -> Result<i64> {
    // Folders first (recording which existed, so undo removes only those it made).
    let mut dirs: Vec<PathBuf> = plan
        .items
        .iter()
        .filter_map(|i| i.to.parent().map(Path::to_path_buf))
        .collect();
    dirs.sort();
    dirs.dedup();
    let mut ops: Vec<NewOp> = dirs
        .iter()
        .map(|d| NewOp {
            kind: OpKind::Mkdir,
            video_id: None,
            src: d,
            dst: d,
            stat: None,
            existed_before: d.is_dir(),
        })
        .collect();
    for item in &plan.items {
        // A video must still be the file that was scanned: compare with the catalogue.
        let stat = cat.video(item.video_id)?.map(|v| (v.size, v.mtime_ns));
        ops.push(NewOp {
            kind: mode.into(),
            video_id: Some(item.video_id),
            src: &item.from,
            dst: &item.to,
            stat,
            existed_before: false,
        });
        for (from, to) in &item.companions {
            ops.push(NewOp {
                kind: mode.into(),
                video_id: None,
                src: from,
                dst: to,
                stat: stat_of(from),
                existed_before: false,
            });
        }
    }
    let batch = cat.journal_batch(mode, &plan.base, ops)?;
    crash_point();
    Ok(batch)
}

/// Applies a folder plan. Files that cannot be moved stay where they are, with the
/// reason in the report; the rest continue.
pub fn apply(cat: &mut Catalogue, plan: &Plan, mode: Mode) -> Result<ApplyReport> {
    recover(cat)?;
    if plan.items.is_empty() {
        return Ok(ApplyReport::default());
    }
    let batch = journal_plan(cat, plan, mode)?;
    let mut report = run_batch(cat, batch, false)?;
    report.batch_id = Some(batch);
    Ok(report)
}

/// Executes (or resumes) a batch forwards, or backwards when `undo` is set.
fn run_batch(cat: &mut Catalogue, batch: i64, undo: bool) -> Result<ApplyReport> {
    let mut report = ApplyReport {
        batch_id: Some(batch),
        ..Default::default()
    };
    let mut ops = cat.journal_ops(batch)?;
    if undo {
        ops.reverse();
    }
    for op in &ops {
        let r = if undo {
            undo_op(cat, op)
        } else {
            do_op(cat, op)
        };
        match r {
            Ok(Outcome::Done) if op.kind == OpKind::Mkdir => report.folders_created += 1,
            Ok(Outcome::Done) => report.files_done += 1,
            Ok(Outcome::Skipped) => {}
            Ok(Outcome::Failed(msg)) => report
                .failed
                .push((display_path(if undo { &op.dst } else { &op.src }), msg)),
            Err(e) => return Err(e),
        }
    }
    let state = if undo {
        BatchState::Undone
    } else {
        BatchState::Done
    };
    cat.set_batch_state(batch, state)?;
    crash_point();
    Ok(report)
}

enum Outcome {
    Done,
    Skipped,
    Failed(String),
}

/// One forward operation, idempotent: its effect may already be on disk from a run
/// that died before marking it.
fn do_op(cat: &mut Catalogue, op: &Op) -> Result<Outcome> {
    if op.state != OpState::Pending {
        return Ok(Outcome::Skipped);
    }
    if op.kind == OpKind::Mkdir {
        return Ok(match std::fs::create_dir_all(&op.dst) {
            Ok(()) => {
                fsync_dir(op.dst.parent().unwrap_or(&op.dst));
                mark(cat, op, OpState::Done, None, None, None)?;
                if op.existed_before {
                    Outcome::Skipped
                } else {
                    Outcome::Done
                }
            }
            Err(e) => {
                let msg = format!(
                    "cannot create the folder {}: {}",
                    op.dst.display(),
                    io_message(&e)
                );
                mark(cat, op, OpState::Failed, Some(&msg), None, None)?;
                Outcome::Failed(msg)
            }
        });
    }
    let partial = partial_name(&op.dst, op.id);
    let src_there = op.src.symlink_metadata().is_ok();
    let dst_there = op.dst.symlink_metadata().is_ok();
    // Reconcile with the disk first.
    if dst_there {
        let ours = match op.kind {
            OpKind::Move if !src_there => true,
            // Both present after a cross-filesystem move or a copy: ours if identical.
            OpKind::Move | OpKind::Copy => hash_file(&op.src)
                .ok()
                .zip(hash_file(&op.dst).ok())
                .is_some_and(|(a, b)| a == b),
            OpKind::Link => same_file(&op.src, &op.dst),
            OpKind::Mkdir => false,
        };
        if ours {
            let _ = std::fs::remove_file(&partial);
            if op.kind == OpKind::Move && src_there {
                std::fs::remove_file(&op.src)?;
                crash_point();
                fsync_dir(op.src.parent().unwrap_or(&op.src));
            }
            let at = if op.kind == OpKind::Move {
                Some(op.dst.as_path())
            } else {
                None
            };
            mark(cat, op, OpState::Done, None, None, at)?;
            return Ok(Outcome::Done);
        }
        if !src_there {
            let msg = "the file is no longer there".to_string();
            mark(cat, op, OpState::Failed, Some(&msg), None, None)?;
            return Ok(Outcome::Failed(msg));
        }
        let msg = format!(
            "{} already exists; nothing was overwritten",
            op.dst.display()
        );
        mark(cat, op, OpState::Failed, Some(&msg), None, None)?;
        return Ok(Outcome::Failed(msg));
    }
    let _ = std::fs::remove_file(&partial);
    if let Some(parent) = op.dst.parent()
        && !parent.is_dir()
    {
        let msg = format!("the folder {} could not be created", parent.display());
        mark(cat, op, OpState::Failed, Some(&msg), None, None)?;
        return Ok(Outcome::Failed(msg));
    }
    if !src_there {
        let msg = "the file is no longer there (moved or deleted since the scan)".to_string();
        mark(cat, op, OpState::Failed, Some(&msg), None, None)?;
        return Ok(Outcome::Failed(msg));
    }
    if let (Some(size), Some(mtime)) = (op.size, op.mtime_ns)
        && stat_of(&op.src) != Some((size, mtime))
    {
        let msg = "the file changed since it was scanned; re-scan first".to_string();
        mark(cat, op, OpState::Failed, Some(&msg), None, None)?;
        return Ok(Outcome::Failed(msg));
    }
    let result: Result<Option<&str>> = match op.kind {
        OpKind::Move => match rename_noreplace(&op.src, &op.dst) {
            Ok(()) => {
                crash_point();
                fsync_dir(op.dst.parent().unwrap_or(&op.dst));
                Ok(Some("rename"))
            }
            Err(e) if e.raw_os_error() == Some(libc::EXDEV) => {
                copy_verified(&op.src, &op.dst, op.id).and_then(|()| {
                    std::fs::remove_file(&op.src).with_context(|| {
                        format!("copied, but cannot remove {}", op.src.display())
                    })?;
                    crash_point();
                    fsync_dir(op.src.parent().unwrap_or(&op.src));
                    Ok(Some("copy+delete"))
                })
            }
            Err(e) => Err(anyhow!(io_message(&e))),
        },
        OpKind::Link => match std::fs::hard_link(&op.src, &op.dst) {
            Ok(()) => Ok(Some("hardlink")),
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EXDEV) | Some(libc::EPERM) | Some(libc::EMLINK)
                ) =>
            {
                let target = std::fs::canonicalize(&op.src)?;
                std::os::unix::fs::symlink(&target, &op.dst)
                    .map(|()| Some("symlink"))
                    .map_err(|e| anyhow!(io_message(&e)))
            }
            Err(e) => Err(anyhow!(io_message(&e))),
        },
        OpKind::Copy => copy_verified(&op.src, &op.dst, op.id).map(|()| Some("copy")),
        OpKind::Mkdir => unreachable!("folders are made above"),
    };
    match result {
        Ok(how) => {
            crash_point();
            let at = if op.kind == OpKind::Move {
                Some(op.dst.as_path())
            } else {
                None
            };
            mark(cat, op, OpState::Done, None, how, at)?;
            Ok(Outcome::Done)
        }
        Err(e) => {
            // Whatever went wrong, the original is still where it was.
            let msg = format!("{e:#}");
            mark(cat, op, OpState::Failed, Some(&msg), None, None)?;
            Ok(Outcome::Failed(msg))
        }
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

/// One backward operation (undo), idempotent like `do_op`.
fn undo_op(cat: &mut Catalogue, op: &Op) -> Result<Outcome> {
    if op.state != OpState::Done {
        return Ok(Outcome::Skipped);
    }
    let set = |cat: &mut Catalogue, state: OpState, err: Option<&str>, at: Option<&Path>| {
        mark(cat, op, state, err, None, at)
    };
    match op.kind {
        OpKind::Mkdir => {
            if !op.existed_before {
                // Only empty folders this batch created are removed.
                let _ = std::fs::remove_dir(&op.dst);
                crash_point();
            }
            set(cat, OpState::Undone, None, None)?;
            Ok(Outcome::Skipped)
        }
        OpKind::Move => {
            let src_there = op.src.symlink_metadata().is_ok();
            let dst_there = op.dst.symlink_metadata().is_ok();
            let partial = partial_name(&op.src, op.id);
            if src_there && !dst_there {
                let _ = std::fs::remove_file(&partial);
                set(cat, OpState::Undone, None, Some(&op.src))?;
                return Ok(Outcome::Done);
            }
            if src_there && dst_there {
                // Interrupted cross-filesystem move back: keep it only if identical.
                if hash_file(&op.src)
                    .ok()
                    .zip(hash_file(&op.dst).ok())
                    .is_some_and(|(a, b)| a == b)
                {
                    std::fs::remove_file(&op.dst)?;
                    crash_point();
                    set(cat, OpState::Undone, None, Some(&op.src))?;
                    return Ok(Outcome::Done);
                }
                let msg = format!(
                    "{} is taken by another file; left at {}",
                    op.src.display(),
                    op.dst.display()
                );
                set(cat, OpState::UndoFailed, Some(&msg), None)?;
                return Ok(Outcome::Failed(msg));
            }
            if !dst_there {
                let msg = "the file is no longer where it was put".to_string();
                set(cat, OpState::UndoFailed, Some(&msg), None)?;
                return Ok(Outcome::Failed(msg));
            }
            if let Some(parent) = op.src.parent() {
                std::fs::create_dir_all(parent)?;
            }
            let r = match rename_noreplace(&op.dst, &op.src) {
                Ok(()) => {
                    crash_point();
                    fsync_dir(op.src.parent().unwrap_or(&op.src));
                    Ok(())
                }
                Err(e) if e.raw_os_error() == Some(libc::EXDEV) => {
                    copy_verified(&op.dst, &op.src, op.id).and_then(|()| {
                        std::fs::remove_file(&op.dst)?;
                        crash_point();
                        Ok(())
                    })
                }
                Err(e) => Err(anyhow!(io_message(&e))),
            };
            match r {
                Ok(()) => {
                    set(cat, OpState::Undone, None, Some(&op.src))?;
                    Ok(Outcome::Done)
                }
                Err(e) => {
                    let msg = format!("{e:#}");
                    set(cat, OpState::UndoFailed, Some(&msg), None)?;
                    Ok(Outcome::Failed(msg))
                }
            }
        }
        OpKind::Link | OpKind::Copy => {
            // Remove what we created, but never a file someone changed since.
            let ours = match (op.kind, op.how.as_deref()) {
                (OpKind::Link, Some("symlink")) => std::fs::read_link(&op.dst).is_ok(),
                (OpKind::Link, _) => same_file(&op.src, &op.dst),
                _ => hash_file(&op.src)
                    .ok()
                    .zip(hash_file(&op.dst).ok())
                    .is_some_and(|(a, b)| a == b),
            };
            if op.dst.symlink_metadata().is_err() {
                set(cat, OpState::Undone, None, None)?;
                return Ok(Outcome::Done);
            }
            if !ours {
                let msg = format!("{} was changed since; kept", op.dst.display());
                set(cat, OpState::UndoFailed, Some(&msg), None)?;
                return Ok(Outcome::Failed(msg));
            }
            std::fs::remove_file(&op.dst)?;
            crash_point();
            set(cat, OpState::Undone, None, None)?;
            Ok(Outcome::Done)
        }
    }
}

/// Undoes the newest applied batch. Returns None when there is nothing to undo.
pub fn undo_last(cat: &mut Catalogue) -> Result<Option<UndoReport>> {
    recover(cat)?;
    let Some(batch) = cat.last_done_batch()? else {
        return Ok(None);
    };
    cat.set_batch_state(batch, BatchState::Undoing)?;
    crash_point();
    let r = run_batch(cat, batch, true)?;
    Ok(Some(UndoReport {
        batch_id: Some(batch),
        files_restored: r.files_done,
        failed: r.failed,
    }))
}

/// Finishes any batch a previous run left half done (apply or undo). Called before
/// every apply or undo, and by the CLI at start.
pub fn recover(cat: &mut Catalogue) -> Result<Vec<i64>> {
    let mut done = Vec::new();
    for (batch, state) in cat.unfinished_batches()? {
        run_batch(cat, batch, state == BatchState::Undoing)?;
        done.push(batch);
    }
    Ok(done)
}

/// Files Reelmap itself created as links or copies (not undone): views of videos
/// already in the catalogue, which a scan must not take for new videos.
pub fn created_views(cat: &Catalogue) -> Result<std::collections::HashSet<Vec<u8>>> {
    cat.created_views()
}

/// The journal, newest first.
pub fn batches(cat: &Catalogue) -> Result<Vec<BatchInfo>> {
    cat.batches()
}
