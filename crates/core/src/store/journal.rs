//! The journal of file operations (apply / undo): batches and their operations,
//! written before anything on disk changes, marked as each one happens.

use super::{BatchState, Catalogue, Mode, OpKind, OpState};
use crate::util::{display_path, now_secs, path_from_bytes, path_to_bytes};
use anyhow::Result;
use rusqlite::{OptionalExtension, params};
use std::path::{Path, PathBuf};

/// One journaled file operation.
#[derive(Debug, Clone)]
pub struct Op {
    pub id: i64,
    pub kind: OpKind,
    pub video_id: Option<i64>,
    pub src: PathBuf,
    pub dst: PathBuf,
    /// Size and mtime the file had when the batch was written (checked before acting).
    pub size: Option<i64>,
    pub mtime_ns: Option<i64>,
    /// For folders: whether it was there before (undo removes only those it made).
    pub existed_before: bool,
    /// How a link or copy was made ("hardlink", "symlink", "copy").
    pub how: Option<String>,
    pub state: OpState,
}

/// An operation to write into a new batch.
pub struct NewOp<'a> {
    pub kind: OpKind,
    pub video_id: Option<i64>,
    pub src: &'a Path,
    pub dst: &'a Path,
    pub stat: Option<(i64, i64)>,
    pub existed_before: bool,
}

/// A batch, as the journal lists it.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, serde::Serialize)]
pub struct BatchInfo {
    pub id: i64,
    pub mode: Mode,
    pub base: String,
    pub state: BatchState,
    pub created_at: i64,
    pub files: i64,
    pub failed: i64,
}

impl Catalogue {
    /// Writes a batch and all its operations (state pending), in one transaction.
    pub fn journal_batch<'a>(
        &mut self,
        mode: Mode,
        base: &Path,
        ops: impl IntoIterator<Item = NewOp<'a>>,
    ) -> Result<i64> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO apply_batches (mode, base, state, created_at) VALUES (?1, ?2, 'running', ?3)",
            params![mode, path_to_bytes(base), now_secs()],
        )?;
        let batch = tx.last_insert_rowid();
        {
            let mut stmt = tx.prepare(
                "INSERT INTO apply_ops (batch_id, seq, kind, video_id, src, dst, size, mtime_ns, existed_before, state)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'pending')",
            )?;
            for (seq, op) in ops.into_iter().enumerate() {
                stmt.execute(params![
                    batch,
                    seq as i64,
                    op.kind,
                    op.video_id,
                    path_to_bytes(op.src),
                    path_to_bytes(op.dst),
                    op.stat.map(|s| s.0),
                    op.stat.map(|s| s.1),
                    op.existed_before as i64
                ])?;
            }
        }
        tx.commit()?;
        Ok(batch)
    }

    /// The operations of a batch, in order.
    pub fn journal_ops(&self, batch: i64) -> Result<Vec<Op>> {
        let mut stmt = self.conn.prepare(
            "SELECT id, kind, video_id, src, dst, size, mtime_ns, existed_before, how, state
             FROM apply_ops WHERE batch_id = ?1 ORDER BY seq",
        )?;
        let rows = stmt.query_map([batch], |r| {
            let src: Vec<u8> = r.get(3)?;
            let dst: Vec<u8> = r.get(4)?;
            Ok(Op {
                id: r.get(0)?,
                kind: r.get(1)?,
                video_id: r.get(2)?,
                src: path_from_bytes(&src),
                dst: path_from_bytes(&dst),
                size: r.get(5)?,
                mtime_ns: r.get(6)?,
                existed_before: r.get::<_, i64>(7)? != 0,
                how: r.get(8)?,
                state: r.get(9)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Marks an operation finished and, for moves of videos, points the catalogue
    /// at the file's new place — in one transaction.
    pub fn mark_op(
        &mut self,
        op: &Op,
        state: OpState,
        error: Option<&str>,
        how: Option<&str>,
        video_at: Option<&Path>,
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "UPDATE apply_ops SET state = ?2, error = ?3, how = COALESCE(?4, how) WHERE id = ?1",
            params![op.id, state, error, how],
        )?;
        if let (Some(vid), Some(p)) = (op.video_id, video_at) {
            tx.execute(
                "UPDATE videos SET path = ?2, display = ?3, updated_at = ?4 WHERE id = ?1",
                params![vid, path_to_bytes(p), display_path(p), now_secs()],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Sets a batch's state (and its finishing time once done or undone).
    pub fn set_batch_state(&self, batch: i64, state: BatchState) -> Result<()> {
        match state {
            BatchState::Done | BatchState::Undone => self.conn.execute(
                "UPDATE apply_batches SET state = ?2, finished_at = ?3 WHERE id = ?1",
                params![batch, state, now_secs()],
            )?,
            _ => self.conn.execute(
                "UPDATE apply_batches SET state = ?2 WHERE id = ?1",
                params![batch, state],
            )?,
        };
        Ok(())
    }

    /// The newest batch that was applied and not undone.
    pub fn last_done_batch(&self) -> Result<Option<i64>> {
        Ok(self
            .conn
            .query_row(
                "SELECT id FROM apply_batches WHERE state = 'done' ORDER BY id DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Batches a run left half done (applying or undoing), oldest first.
    pub fn unfinished_batches(&self) -> Result<Vec<(i64, BatchState)>> {
        let mut stmt = self.conn.prepare(
            "SELECT id, state FROM apply_batches WHERE state IN ('running', 'undoing') ORDER BY id",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Files Reelmap itself created as links or copies (not undone).
    pub fn created_views(&self) -> Result<std::collections::HashSet<Vec<u8>>> {
        let mut stmt = self.conn.prepare(
            "SELECT dst FROM apply_ops WHERE kind IN ('link', 'copy') AND state = 'done'",
        )?;
        let rows = stmt.query_map([], |r| r.get::<_, Vec<u8>>(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The journal, newest first.
    pub fn batches(&self) -> Result<Vec<BatchInfo>> {
        let mut stmt = self.conn.prepare(
            "SELECT b.id, b.mode, b.base, b.state, b.created_at,
                    (SELECT COUNT(*) FROM apply_ops o WHERE o.batch_id = b.id AND o.kind != 'mkdir'),
                    (SELECT COUNT(*) FROM apply_ops o WHERE o.batch_id = b.id AND o.state IN ('failed', 'undo_failed'))
             FROM apply_batches b ORDER BY b.id DESC",
        )?;
        let rows = stmt.query_map([], |r| {
            let base: Vec<u8> = r.get(2)?;
            Ok(BatchInfo {
                id: r.get(0)?,
                mode: r.get(1)?,
                base: display_path(&path_from_bytes(&base)),
                state: r.get(3)?,
                created_at: r.get(4)?,
                files: r.get(5)?,
                failed: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}
