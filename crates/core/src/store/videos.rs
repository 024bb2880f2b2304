//! Roots (the folders scanned), the video files found in them, and what probing
//! and scanning learnt about each.

use super::Catalogue;
use super::{MediaInfo, VideoStatus};
use crate::util::{display_path, now_secs, path_from_bytes, path_to_bytes};
use anyhow::Result;
use rusqlite::{OptionalExtension, params};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct VideoRow {
    pub id: i64,
    pub root_id: Option<i64>,
    pub path: PathBuf,
    pub display: String,
    pub size: i64,
    pub mtime_ns: i64,
    pub fingerprint: Option<Vec<u8>>,
    pub duration_ms: Option<i64>,
    pub container: Option<String>,
    pub codec: Option<String>,
    pub width: Option<i64>,
    pub height: Option<i64>,
    pub fps: Option<f64>,
    pub seekable: Option<bool>,
    pub status: VideoStatus,
    pub error_stage: Option<String>,
    pub error: Option<String>,
}

pub(super) const VIDEO_COLUMNS: &str = "id, root_id, path, display, size, mtime_ns, fingerprint, duration_ms, \
     container, codec, width, height, fps, seekable, status, error_stage, error";

pub(super) fn video_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<VideoRow> {
    let path: Vec<u8> = row.get(2)?;
    Ok(VideoRow {
        id: row.get(0)?,
        root_id: row.get(1)?,
        path: path_from_bytes(&path),
        display: row.get(3)?,
        size: row.get(4)?,
        mtime_ns: row.get(5)?,
        fingerprint: row.get(6)?,
        duration_ms: row.get(7)?,
        container: row.get(8)?,
        codec: row.get(9)?,
        width: row.get(10)?,
        height: row.get(11)?,
        fps: row.get(12)?,
        seekable: row.get::<_, Option<i64>>(13)?.map(|v| v != 0),
        status: row.get(14)?,
        error_stage: row.get(15)?,
        error: row.get(16)?,
    })
}

/// What the catalogue knows of a file, for the incremental re-scan.
#[derive(Debug, Clone)]
pub struct KnownFile {
    pub id: i64,
    pub size: i64,
    pub mtime_ns: i64,
    pub status: VideoStatus,
}

impl Catalogue {
    // ----- roots -----

    pub fn add_root(&self, path: &Path) -> Result<i64> {
        let bytes = path_to_bytes(path);
        self.conn.execute(
            "INSERT INTO roots (path, display, added_at) VALUES (?1, ?2, ?3) ON CONFLICT(path) DO NOTHING",
            params![bytes, display_path(path), now_secs()],
        )?;
        Ok(self
            .conn
            .query_row("SELECT id FROM roots WHERE path = ?1", [bytes], |r| {
                r.get(0)
            })?)
    }

    pub fn roots(&self) -> Result<Vec<(i64, PathBuf)>> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, path FROM roots ORDER BY id")?;
        let rows = stmt.query_map([], |r| {
            let p: Vec<u8> = r.get(1)?;
            Ok((r.get(0)?, path_from_bytes(&p)))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn mark_root_scanned(&self, root_id: i64) -> Result<()> {
        self.conn.execute(
            "UPDATE roots SET last_scan_at = ?2 WHERE id = ?1",
            params![root_id, now_secs()],
        )?;
        Ok(())
    }

    pub fn replace_scan_problems(
        &mut self,
        root_id: i64,
        problems: &[(PathBuf, String)],
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute("DELETE FROM scan_problems WHERE root_id = ?1", [root_id])?;
        {
            let mut stmt = tx.prepare(
                "INSERT INTO scan_problems (root_id, path, display, message, seen_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            let now = now_secs();
            for (p, msg) in problems {
                stmt.execute(params![
                    root_id,
                    path_to_bytes(p),
                    display_path(p),
                    msg,
                    now
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    pub fn scan_problems(&self) -> Result<Vec<(String, String)>> {
        let mut stmt = self
            .conn
            .prepare("SELECT display, message FROM scan_problems ORDER BY id")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    // ----- videos -----

    pub fn video(&self, id: i64) -> Result<Option<VideoRow>> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {VIDEO_COLUMNS} FROM videos WHERE id = ?1"),
                [id],
                video_from_row,
            )
            .optional()?)
    }

    pub fn video_by_path(&self, path: &Path) -> Result<Option<VideoRow>> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {VIDEO_COLUMNS} FROM videos WHERE path = ?1"),
                [path_to_bytes(path)],
                video_from_row,
            )
            .optional()?)
    }

    pub fn videos_with_fingerprint(&self, fingerprint: &[u8]) -> Result<Vec<VideoRow>> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {VIDEO_COLUMNS} FROM videos WHERE fingerprint = ?1 ORDER BY id"
        ))?;
        let rows = stmt.query_map([fingerprint], video_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// All videos, optionally only those with the given status.
    pub fn videos(&self, status: Option<VideoStatus>) -> Result<Vec<VideoRow>> {
        let (sql, args): (String, Vec<VideoStatus>) = match status {
            Some(s) => (
                format!("SELECT {VIDEO_COLUMNS} FROM videos WHERE status = ?1 ORDER BY id"),
                vec![s],
            ),
            None => (
                format!("SELECT {VIDEO_COLUMNS} FROM videos ORDER BY id"),
                vec![],
            ),
        };
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(args), video_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Path, size and mtime of every video of a root, for the incremental re-scan.
    pub fn root_index(&self, root_id: i64) -> Result<HashMap<Vec<u8>, KnownFile>> {
        let mut stmt = self
            .conn
            .prepare("SELECT path, id, size, mtime_ns, status FROM videos WHERE root_id = ?1")?;
        let rows = stmt.query_map([root_id], |r| {
            Ok((
                r.get::<_, Vec<u8>>(0)?,
                KnownFile {
                    id: r.get(1)?,
                    size: r.get(2)?,
                    mtime_ns: r.get(3)?,
                    status: r.get(4)?,
                },
            ))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Records a newly found file (status `ok` until a stage says otherwise).
    pub fn insert_video(
        &self,
        root_id: i64,
        path: &Path,
        size: i64,
        mtime_ns: i64,
        fingerprint: Option<&[u8]>,
    ) -> Result<i64> {
        let now = now_secs();
        self.conn.execute(
            "INSERT INTO videos (root_id, path, display, size, mtime_ns, fingerprint, status, first_seen, last_seen, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'ok', ?7, ?7, ?7)",
            params![root_id, path_to_bytes(path), display_path(path), size, mtime_ns, fingerprint, now],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// The file at this path changed: forget everything derived from its old content.
    pub fn reset_changed_video(
        &mut self,
        id: i64,
        size: i64,
        mtime_ns: i64,
        fingerprint: Option<&[u8]>,
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute("DELETE FROM embeddings WHERE video_id = ?1", [id])?;
        tx.execute("DELETE FROM frames WHERE video_id = ?1", [id])?;
        tx.execute("DELETE FROM posters WHERE video_id = ?1", [id])?;
        tx.execute("DELETE FROM dense_frames WHERE video_id = ?1", [id])?;
        tx.execute(
            "DELETE FROM assignments WHERE video_id = ?1 AND source = 'auto'",
            [id],
        )?;
        tx.execute(
            "UPDATE videos SET size = ?2, mtime_ns = ?3, fingerprint = ?4, status = 'ok', error = NULL,
             error_stage = NULL, duration_ms = NULL, container = NULL, codec = NULL, width = NULL,
             height = NULL, fps = NULL, seekable = NULL, last_seen = ?5, updated_at = ?5 WHERE id = ?1",
            params![id, size, mtime_ns, fingerprint, now_secs()],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Same content, new stat data (e.g. `touch`): keep everything derived.
    pub fn refresh_stat(&self, id: i64, size: i64, mtime_ns: i64) -> Result<()> {
        self.conn.execute(
            "UPDATE videos SET size = ?2, mtime_ns = ?3, last_seen = ?4,
             status = CASE WHEN status = 'gone' THEN 'ok' ELSE status END,
             error = CASE WHEN status = 'gone' THEN NULL ELSE error END WHERE id = ?1",
            params![id, size, mtime_ns, now_secs()],
        )?;
        Ok(())
    }

    pub fn touch_seen(&self, ids: &[i64]) -> Result<()> {
        let now = now_secs();
        let mut stmt = self
            .conn
            .prepare_cached("UPDATE videos SET last_seen = ?2 WHERE id = ?1")?;
        for id in ids {
            stmt.execute(params![id, now])?;
        }
        Ok(())
    }

    /// A known video was found at a new path (renamed or moved): keep its features and
    /// cluster, change only where it lives.
    pub fn move_video(
        &self,
        id: i64,
        root_id: i64,
        new_path: &Path,
        size: i64,
        mtime_ns: i64,
    ) -> Result<()> {
        self.conn.execute(
            "UPDATE videos SET root_id = ?2, path = ?3, display = ?4, size = ?5, mtime_ns = ?6,
             status = CASE WHEN status = 'gone' THEN 'ok' ELSE status END,
             error = CASE WHEN status = 'gone' THEN NULL ELSE error END,
             last_seen = ?7, updated_at = ?7 WHERE id = ?1",
            params![
                id,
                root_id,
                path_to_bytes(new_path),
                display_path(new_path),
                size,
                mtime_ns,
                now_secs()
            ],
        )?;
        Ok(())
    }

    pub fn set_media_info(&self, id: i64, info: &MediaInfo) -> Result<()> {
        self.conn.execute(
            "UPDATE videos SET duration_ms = ?2, container = ?3, codec = ?4, width = ?5, height = ?6,
             fps = ?7, seekable = ?8, status = 'ok', error = NULL, error_stage = NULL, updated_at = ?9 WHERE id = ?1",
            params![
                id,
                info.duration_ms,
                info.container,
                info.codec,
                info.width,
                info.height,
                info.fps,
                info.seekable as i64,
                now_secs()
            ],
        )?;
        Ok(())
    }

    pub fn mark_failed(&self, id: i64, stage: &str, message: &str) -> Result<()> {
        self.conn.execute(
            "UPDATE videos SET status = 'failed', error_stage = ?2, error = ?3, updated_at = ?4 WHERE id = ?1",
            params![id, stage, message, now_secs()],
        )?;
        Ok(())
    }

    pub fn mark_gone(&self, ids: &[i64]) -> Result<()> {
        let now = now_secs();
        let mut stmt = self.conn.prepare_cached(
            "UPDATE videos SET status = 'gone', error_stage = 'scan', error = 'the file is no longer there', updated_at = ?2 WHERE id = ?1",
        )?;
        for id in ids {
            stmt.execute(params![id, now])?;
        }
        Ok(())
    }

    /// Content fingerprint of every video that has one.
    pub fn fingerprints(&self) -> Result<HashMap<i64, Vec<u8>>> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, fingerprint FROM videos WHERE fingerprint IS NOT NULL")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Decoding used the video but stopped early: the warning is kept with it (the
    /// video stays usable).
    pub fn set_decode_warning(&self, id: i64, message: &str) -> Result<()> {
        self.conn.execute(
            "UPDATE videos SET error_stage = 'decode', error = ?2 WHERE id = ?1",
            params![id, message],
        )?;
        Ok(())
    }

    /// Forgets a file that looked like a video and is not one.
    pub fn forget_video(&self, id: i64) -> Result<()> {
        self.conn
            .execute("DELETE FROM videos WHERE id = ?1", [id])?;
        Ok(())
    }

    /// How many videos have each status.
    pub fn status_counts(&self) -> Result<HashMap<VideoStatus, i64>> {
        let mut stmt = self
            .conn
            .prepare("SELECT status, COUNT(*) FROM videos GROUP BY status")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}
