//! The SQLite catalogue: every stage reads and writes its results here.
//!
//! One transaction per unit of work (a scanned file, an embedded video, a whole
//! clustering), WAL mode and `synchronous=NORMAL`, so that a crash or Ctrl-C at any
//! moment leaves a consistent catalogue that the next run resumes from.

use crate::util::{display_path, now_secs, path_from_bytes, path_to_bytes};
use anyhow::{Context, Result, bail};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Schema migrations, applied in order; `PRAGMA user_version` records how many ran.
/// Never edit a released step: add a new one.
const MIGRATIONS: &[&str] = &[
    // 1: the first schema.
    r#"
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

    CREATE TABLE roots (
        id INTEGER PRIMARY KEY,
        path BLOB NOT NULL UNIQUE,
        display TEXT NOT NULL,
        added_at INTEGER NOT NULL,
        last_scan_at INTEGER
    );

    CREATE TABLE videos (
        id INTEGER PRIMARY KEY,
        root_id INTEGER REFERENCES roots(id) ON DELETE SET NULL,
        path BLOB NOT NULL UNIQUE,
        display TEXT NOT NULL,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        fingerprint BLOB,
        duration_ms INTEGER,
        container TEXT,
        codec TEXT,
        width INTEGER,
        height INTEGER,
        fps REAL,
        seekable INTEGER,
        status TEXT NOT NULL CHECK (status IN ('ok', 'failed', 'gone')),
        error_stage TEXT,
        error TEXT,
        first_seen INTEGER NOT NULL,
        last_seen INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    );
    CREATE INDEX videos_fingerprint ON videos(fingerprint);
    CREATE INDEX videos_status ON videos(status);
    CREATE INDEX videos_root ON videos(root_id);

    -- Problems met while walking that belong to no video (unreadable folders, loops).
    CREATE TABLE scan_problems (
        id INTEGER PRIMARY KEY,
        root_id INTEGER REFERENCES roots(id) ON DELETE CASCADE,
        path BLOB NOT NULL,
        display TEXT NOT NULL,
        message TEXT NOT NULL,
        seen_at INTEGER NOT NULL
    );

    CREATE TABLE posters (
        video_id INTEGER PRIMARY KEY REFERENCES videos(id) ON DELETE CASCADE,
        ts_ms INTEGER NOT NULL,
        width INTEGER NOT NULL,
        height INTEGER NOT NULL,
        jpeg BLOB NOT NULL
    );

    -- One row per video and model: the per-video descriptor (mean of the frame
    -- features, re-normalised, f32) and the mean class probabilities (f16).
    CREATE TABLE embeddings (
        video_id INTEGER NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
        model TEXT NOT NULL,
        sampler TEXT NOT NULL,
        n_frames INTEGER NOT NULL,
        descriptor BLOB NOT NULL,
        class_probs BLOB NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (video_id, model)
    );

    -- Per sampled frame: L2-normalised feature (f16), top classes, small JPEG.
    CREATE TABLE frames (
        video_id INTEGER NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
        model TEXT NOT NULL,
        idx INTEGER NOT NULL,
        ts_ms INTEGER NOT NULL,
        feature BLOB NOT NULL,
        top_classes BLOB NOT NULL,
        thumb BLOB,
        PRIMARY KEY (video_id, model, idx)
    );

    CREATE TABLE clusters (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL COLLATE NOCASE UNIQUE,
        name_source TEXT NOT NULL CHECK (name_source IN ('auto', 'user')),
        concept TEXT,
        confidence REAL,
        kind TEXT NOT NULL DEFAULT 'normal' CHECK (kind IN ('normal', 'unsorted')),
        model TEXT,
        centroid BLOB,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    );

    CREATE TABLE assignments (
        video_id INTEGER PRIMARY KEY REFERENCES videos(id) ON DELETE CASCADE,
        cluster_id INTEGER NOT NULL REFERENCES clusters(id) ON DELETE CASCADE,
        source TEXT NOT NULL CHECK (source IN ('auto', 'user')),
        distance REAL,
        assigned_at INTEGER NOT NULL
    );
    CREATE INDEX assignments_cluster ON assignments(cluster_id);

    -- What each clustering run chose and why.
    CREATE TABLE cluster_runs (
        id INTEGER PRIMARY KEY,
        model TEXT NOT NULL,
        k INTEGER NOT NULL,
        k_method TEXT NOT NULL,
        details TEXT NOT NULL,
        created_at INTEGER NOT NULL
    );
    "#,
    // 2: the journal of changes made to the user's files (apply / undo).
    r#"
    CREATE TABLE apply_batches (
        id INTEGER PRIMARY KEY,
        mode TEXT NOT NULL CHECK (mode IN ('move', 'link', 'copy')),
        base BLOB NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('running', 'done', 'undoing', 'undone')),
        created_at INTEGER NOT NULL,
        finished_at INTEGER
    );
    CREATE TABLE apply_ops (
        id INTEGER PRIMARY KEY,
        batch_id INTEGER NOT NULL REFERENCES apply_batches(id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('mkdir', 'move', 'link', 'copy')),
        video_id INTEGER,
        src BLOB NOT NULL,
        dst BLOB NOT NULL,
        size INTEGER,
        mtime_ns INTEGER,
        existed_before INTEGER NOT NULL DEFAULT 0,
        how TEXT,
        state TEXT NOT NULL CHECK (state IN ('pending', 'done', 'failed', 'undone', 'undo_failed')),
        error TEXT
    );
    CREATE INDEX apply_ops_batch ON apply_ops(batch_id, seq);
    "#,
    // 3: people's edits (for undo in the UI) and the stored 2-D maps.
    r#"
    CREATE TABLE edits (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        summary TEXT NOT NULL,
        undo TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        undone INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE map_points (
        kind TEXT NOT NULL CHECK (kind IN ('video', 'frame')),
        video_id INTEGER NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
        idx INTEGER NOT NULL,
        x REAL NOT NULL,
        y REAL NOT NULL,
        PRIMARY KEY (kind, video_id, idx)
    );
    "#,
];

pub struct Catalogue {
    conn: Connection,
    path: PathBuf,
}

/// Default catalogue location: `$XDG_DATA_HOME/reelmap/catalogue.sqlite3` on Linux.
pub fn default_db_path() -> PathBuf {
    dirs::data_dir()
        .unwrap_or_else(|| PathBuf::from("."))
        .join("reelmap")
        .join("catalogue.sqlite3")
}

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
    pub status: String,
    pub error_stage: Option<String>,
    pub error: Option<String>,
}

const VIDEO_COLUMNS: &str = "id, root_id, path, display, size, mtime_ns, fingerprint, duration_ms, \
     container, codec, width, height, fps, seekable, status, error_stage, error";

fn video_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<VideoRow> {
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
    pub status: String,
}

pub use reelmap_media::MediaInfo;

/// One sampled frame ready to be stored.
pub struct FrameRecord {
    pub ts_ms: i64,
    pub feature: Vec<f32>,
    pub top_classes: Vec<(u16, f32)>,
    pub thumb_jpeg: Option<Vec<u8>>,
}

#[derive(Clone)]
pub struct Poster {
    pub ts_ms: i64,
    pub width: u32,
    pub height: u32,
    pub jpeg: Vec<u8>,
}

/// Everything the embedding stage produced for one video; stored atomically.
pub struct EmbeddingRecord {
    pub video_id: i64,
    pub model: String,
    pub sampler: String,
    pub descriptor: Vec<f32>,
    pub class_probs: Vec<f32>,
    pub frames: Vec<FrameRecord>,
    pub poster: Option<Poster>,
}

#[derive(Debug, Clone)]
pub struct ClusterRow {
    pub id: i64,
    pub name: String,
    pub name_source: String,
    pub concept: Option<String>,
    pub confidence: Option<f64>,
    pub kind: String,
    pub count: i64,
}

#[derive(Debug, Clone)]
pub struct Assignment {
    pub video_id: i64,
    pub cluster_id: i64,
    pub source: String,
    pub distance: Option<f64>,
}

/// A clustering to store: clusters (existing ids are updated, `None` creates) and
/// the automatic assignments. User assignments are never touched.
pub struct ClusteringPlan {
    pub model: String,
    pub k_method: String,
    pub details: String,
    pub clusters: Vec<PlannedCluster>,
}

pub struct PlannedCluster {
    pub existing_id: Option<i64>,
    pub name: String,
    pub concept: Option<String>,
    pub confidence: Option<f64>,
    pub unsorted: bool,
    pub centroid: Vec<f32>,
    /// (video id, distance to the centroid) for automatic members.
    pub auto_members: Vec<(i64, f64)>,
}

impl Catalogue {
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create the folder {}", dir.display()))?;
        }
        let conn = Connection::open(path)
            .with_context(|| format!("cannot open the catalogue {}", path.display()))?;
        conn.busy_timeout(std::time::Duration::from_secs(30))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        let mut cat = Catalogue {
            conn,
            path: path.to_path_buf(),
        };
        cat.migrate()?;
        Ok(cat)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    pub fn conn_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }

    fn migrate(&mut self) -> Result<()> {
        let version: i64 = self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version as usize > MIGRATIONS.len() {
            bail!(
                "the catalogue {} was written by a newer Reelmap (schema {version}, this build knows {})",
                self.path.display(),
                MIGRATIONS.len()
            );
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let tx = self.conn.transaction()?;
            tx.execute_batch(sql)
                .with_context(|| format!("schema migration {} failed", i + 1))?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)?;
            tx.commit()?;
        }
        Ok(())
    }

    pub fn schema_version(&self) -> Result<i64> {
        Ok(self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))?)
    }

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
    pub fn videos(&self, status: Option<&str>) -> Result<Vec<VideoRow>> {
        let (sql, args): (String, Vec<&str>) = match status {
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

    /// Videos that are fine so far but have no embedding for `model` yet.
    pub fn videos_needing_embedding(&self, model: &str) -> Result<Vec<VideoRow>> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {VIDEO_COLUMNS} FROM videos v WHERE status = 'ok'
             AND NOT EXISTS (SELECT 1 FROM embeddings e WHERE e.video_id = v.id AND e.model = ?1)
             ORDER BY id"
        ))?;
        let rows = stmt.query_map([model], video_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn store_embedding(&mut self, rec: &EmbeddingRecord) -> Result<()> {
        let tx = self.conn.transaction()?;
        store_embedding_tx(&tx, rec)?;
        tx.commit()?;
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

    /// The sampler `video_id` was embedded with for `model`, if it has been.
    pub fn embedding_sampler(&self, video_id: i64, model: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row(
                "SELECT sampler FROM embeddings WHERE video_id = ?1 AND model = ?2",
                params![video_id, model],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Gives `to` everything embedding stored for `from` with `model` (frames, the
    /// descriptor and class probabilities, the poster, a decoding warning), for a file
    /// with the same bytes. Returns false, changing nothing, if `from` has none.
    pub fn copy_embedding(&mut self, from: i64, to: i64, model: &str) -> Result<bool> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "DELETE FROM frames WHERE video_id = ?1 AND model = ?2",
            params![to, model],
        )?;
        let copied = tx.execute(
            "INSERT OR REPLACE INTO embeddings (video_id, model, sampler, n_frames, descriptor, class_probs, created_at)
             SELECT ?2, model, sampler, n_frames, descriptor, class_probs, ?4 FROM embeddings
             WHERE video_id = ?1 AND model = ?3",
            params![from, to, model, now_secs()],
        )?;
        if copied == 0 {
            return Ok(false); // rolled back on drop
        }
        tx.execute(
            "INSERT INTO frames (video_id, model, idx, ts_ms, feature, top_classes, thumb)
             SELECT ?2, model, idx, ts_ms, feature, top_classes, thumb FROM frames
             WHERE video_id = ?1 AND model = ?3",
            params![from, to, model],
        )?;
        tx.execute(
            "INSERT OR REPLACE INTO posters (video_id, ts_ms, width, height, jpeg)
             SELECT ?2, ts_ms, width, height, jpeg FROM posters WHERE video_id = ?1",
            params![from, to],
        )?;
        tx.execute(
            "UPDATE videos SET (error_stage, error) =
                 (SELECT error_stage, error FROM videos WHERE id = ?1 AND error_stage = 'decode')
             WHERE id = ?2 AND EXISTS (SELECT 1 FROM videos WHERE id = ?1 AND error_stage = 'decode')",
            params![from, to],
        )?;
        tx.commit()?;
        Ok(true)
    }

    /// (video id, descriptor) for every present video embedded with `model`.
    pub fn descriptors(&self, model: &str) -> Result<Vec<(i64, Vec<f32>)>> {
        let mut stmt = self.conn.prepare(
            "SELECT e.video_id, e.descriptor FROM embeddings e JOIN videos v ON v.id = e.video_id
             WHERE e.model = ?1 AND v.status = 'ok' ORDER BY e.video_id",
        )?;
        let rows = stmt.query_map([model], |r| {
            let b: Vec<u8> = r.get(1)?;
            Ok((r.get(0)?, crate::util::bytes_to_f32s(&b)))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// (video id, mean class probabilities) for every present video embedded with `model`.
    pub fn class_probs(&self, model: &str) -> Result<HashMap<i64, Vec<f32>>> {
        let mut stmt = self.conn.prepare(
            "SELECT e.video_id, e.class_probs FROM embeddings e JOIN videos v ON v.id = e.video_id
             WHERE e.model = ?1 AND v.status = 'ok'",
        )?;
        let rows = stmt.query_map([model], |r| {
            let b: Vec<u8> = r.get(1)?;
            Ok((r.get(0)?, crate::util::f16_bytes_to_f32s(&b)))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Per-frame features of one video, in time order: (timestamp ms, feature).
    pub fn frame_features(&self, video_id: i64, model: &str) -> Result<Vec<(i64, Vec<f32>)>> {
        let mut stmt = self.conn.prepare(
            "SELECT ts_ms, feature FROM frames WHERE video_id = ?1 AND model = ?2 ORDER BY idx",
        )?;
        let rows = stmt.query_map(params![video_id, model], |r| {
            let b: Vec<u8> = r.get(1)?;
            Ok((r.get(0)?, crate::util::f16_bytes_to_f32s(&b)))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Sampled frames per video for `model`.
    pub fn frame_counts(&self, model: &str) -> Result<HashMap<i64, i64>> {
        let mut stmt = self
            .conn
            .prepare("SELECT video_id, n_frames FROM embeddings WHERE model = ?1")?;
        let rows = stmt.query_map([model], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn poster(&self, video_id: i64) -> Result<Option<Vec<u8>>> {
        Ok(self
            .conn
            .query_row(
                "SELECT jpeg FROM posters WHERE video_id = ?1",
                [video_id],
                |r| r.get(0),
            )
            .optional()?)
    }

    // ----- clusters -----

    pub fn clusters(&self) -> Result<Vec<ClusterRow>> {
        let mut stmt = self.conn.prepare(
            "SELECT c.id, c.name, c.name_source, c.concept, c.confidence, c.kind,
                    (SELECT COUNT(*) FROM assignments a JOIN videos v ON v.id = a.video_id
                      WHERE a.cluster_id = c.id AND v.status = 'ok')
             FROM clusters c ORDER BY c.kind = 'unsorted', c.id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(ClusterRow {
                id: r.get(0)?,
                name: r.get(1)?,
                name_source: r.get(2)?,
                concept: r.get(3)?,
                confidence: r.get(4)?,
                kind: r.get(5)?,
                count: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn assignments(&self) -> Result<Vec<Assignment>> {
        let mut stmt = self.conn.prepare(
            "SELECT a.video_id, a.cluster_id, a.source, a.distance FROM assignments a
             JOIN videos v ON v.id = a.video_id WHERE v.status = 'ok' ORDER BY a.video_id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(Assignment {
                video_id: r.get(0)?,
                cluster_id: r.get(1)?,
                source: r.get(2)?,
                distance: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Stores a whole clustering in one transaction: updates or creates the planned
    /// clusters, replaces every automatic assignment, keeps user assignments, and
    /// removes automatic clusters that were not planned and hold no user videos.
    pub fn apply_clustering(&mut self, plan: &ClusteringPlan) -> Result<Vec<i64>> {
        let tx = self.conn.transaction()?;
        let now = now_secs();
        tx.execute("DELETE FROM assignments WHERE source = 'auto'", [])?;
        // Free names first, so that swapping two names between clusters cannot clash.
        tx.execute(
            "UPDATE clusters SET name = '\u{1}' || id WHERE name_source = 'auto'",
            [],
        )?;
        let mut ids = Vec::with_capacity(plan.clusters.len());
        for c in &plan.clusters {
            let kind = if c.unsorted { "unsorted" } else { "normal" };
            let centroid = crate::util::f32s_to_bytes(&c.centroid);
            let id = match c.existing_id {
                Some(id) => {
                    // A user-given name is kept; only automatic names follow the content.
                    tx.execute(
                        "UPDATE clusters SET name = CASE WHEN name_source = 'user' THEN name ELSE ?2 END,
                         concept = ?3, confidence = ?4, kind = ?5, model = ?6, centroid = ?7, updated_at = ?8
                         WHERE id = ?1",
                        params![id, c.name, c.concept, c.confidence, kind, plan.model, centroid, now],
                    )?;
                    id
                }
                None => {
                    tx.execute(
                        "INSERT INTO clusters (name, name_source, concept, confidence, kind, model, centroid, created_at, updated_at)
                         VALUES (?1, 'auto', ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
                        params![c.name, c.concept, c.confidence, kind, plan.model, centroid, now],
                    )?;
                    tx.last_insert_rowid()
                }
            };
            {
                let mut stmt = tx.prepare_cached(
                    "INSERT INTO assignments (video_id, cluster_id, source, distance, assigned_at)
                     VALUES (?1, ?2, 'auto', ?3, ?4) ON CONFLICT(video_id) DO NOTHING",
                )?;
                for (video_id, dist) in &c.auto_members {
                    stmt.execute(params![video_id, id, dist, now])?;
                }
            }
            ids.push(id);
        }
        // Clusters that were not planned: drop them unless a person put videos there
        // or named them.
        let keep: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
        tx.execute(
            &format!(
                "DELETE FROM clusters WHERE id NOT IN ({}) AND name_source = 'auto'
                 AND NOT EXISTS (SELECT 1 FROM assignments a WHERE a.cluster_id = clusters.id)",
                if keep.is_empty() {
                    "NULL".to_string()
                } else {
                    keep.join(",")
                }
            ),
            [],
        )?;
        // Any automatic cluster left with a placeholder name gets a readable one.
        let leftovers: Vec<i64> = {
            let mut stmt = tx.prepare("SELECT id FROM clusters WHERE name LIKE '\u{1}%'")?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        for id in leftovers {
            let name = unique_name_tx(&tx, "Folder")?;
            tx.execute(
                "UPDATE clusters SET name = ?2 WHERE id = ?1",
                params![id, name],
            )?;
        }
        tx.execute(
            "INSERT INTO cluster_runs (model, k, k_method, details, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![plan.model, plan.clusters.len() as i64, plan.k_method, plan.details, now],
        )?;
        tx.commit()?;
        Ok(ids)
    }

    /// Automatic assignment of single videos (new videos joining an existing clustering).
    pub fn assign_auto(&mut self, items: &[(i64, i64, f64)]) -> Result<()> {
        let tx = self.conn.transaction()?;
        {
            let now = now_secs();
            let mut stmt = tx.prepare(
                "INSERT INTO assignments (video_id, cluster_id, source, distance, assigned_at)
                 VALUES (?1, ?2, 'auto', ?3, ?4)
                 ON CONFLICT(video_id) DO UPDATE SET cluster_id = excluded.cluster_id,
                   distance = excluded.distance, assigned_at = excluded.assigned_at
                 WHERE assignments.source = 'auto'",
            )?;
            for (video_id, cluster_id, dist) in items {
                stmt.execute(params![video_id, cluster_id, dist, now])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// A person put these videos into this cluster: a user assignment that automatic
    /// re-clustering never overrides.
    pub fn assign_user(&mut self, video_ids: &[i64], cluster_id: i64) -> Result<()> {
        let tx = self.conn.transaction()?;
        {
            let now = now_secs();
            let mut stmt = tx.prepare(
                "INSERT INTO assignments (video_id, cluster_id, source, distance, assigned_at)
                 VALUES (?1, ?2, 'user', NULL, ?3)
                 ON CONFLICT(video_id) DO UPDATE SET cluster_id = excluded.cluster_id, source = 'user',
                   distance = NULL, assigned_at = excluded.assigned_at",
            )?;
            for v in video_ids {
                stmt.execute(params![v, cluster_id, now])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    pub fn rename_cluster(&self, cluster_id: i64, name: &str) -> Result<()> {
        let name = name.trim();
        if name.is_empty() {
            bail!("a folder name cannot be empty");
        }
        let taken: Option<i64> = self
            .conn
            .query_row(
                "SELECT id FROM clusters WHERE name = ?1 AND id != ?2",
                params![name, cluster_id],
                |r| r.get(0),
            )
            .optional()?;
        if taken.is_some() {
            bail!("another folder is already called \"{name}\"");
        }
        let n = self.conn.execute(
            "UPDATE clusters SET name = ?2, name_source = 'user', updated_at = ?3 WHERE id = ?1",
            params![cluster_id, name, now_secs()],
        )?;
        if n == 0 {
            bail!("there is no folder with id {cluster_id}");
        }
        Ok(())
    }

    pub fn unique_cluster_name(&self, base: &str) -> Result<String> {
        unique_name_tx(&self.conn, base)
    }

    pub fn count(&self, sql: &str) -> Result<i64> {
        Ok(self.conn.query_row(sql, [], |r| r.get(0))?)
    }
}

fn unique_name_tx(conn: &Connection, base: &str) -> Result<String> {
    let exists = |name: &str| -> Result<bool> {
        Ok(conn
            .query_row("SELECT 1 FROM clusters WHERE name = ?1", [name], |_| Ok(()))
            .optional()?
            .is_some())
    };
    if !exists(base)? {
        return Ok(base.to_string());
    }
    for i in 2.. {
        let candidate = format!("{base} {i}");
        if !exists(&candidate)? {
            return Ok(candidate);
        }
    }
    unreachable!()
}

fn store_embedding_tx(tx: &Transaction<'_>, rec: &EmbeddingRecord) -> Result<()> {
    tx.execute(
        "DELETE FROM frames WHERE video_id = ?1 AND model = ?2",
        params![rec.video_id, rec.model],
    )?;
    {
        let mut stmt = tx.prepare_cached(
            "INSERT INTO frames (video_id, model, idx, ts_ms, feature, top_classes, thumb)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        for (i, f) in rec.frames.iter().enumerate() {
            let top: Vec<u8> = f
                .top_classes
                .iter()
                .flat_map(|(c, p)| {
                    let mut b = c.to_le_bytes().to_vec();
                    b.extend(half::f16::from_f32(*p).to_le_bytes());
                    b
                })
                .collect();
            stmt.execute(params![
                rec.video_id,
                rec.model,
                i as i64,
                f.ts_ms,
                crate::util::f32s_to_f16_bytes(&f.feature),
                top,
                f.thumb_jpeg
            ])?;
        }
    }
    tx.execute(
        "INSERT OR REPLACE INTO embeddings (video_id, model, sampler, n_frames, descriptor, class_probs, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            rec.video_id,
            rec.model,
            rec.sampler,
            rec.frames.len() as i64,
            crate::util::f32s_to_bytes(&rec.descriptor),
            crate::util::f32s_to_f16_bytes(&rec.class_probs),
            now_secs()
        ],
    )?;
    if let Some(p) = &rec.poster {
        tx.execute(
            "INSERT OR REPLACE INTO posters (video_id, ts_ms, width, height, jpeg) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![rec.video_id, p.ts_ms, p.width, p.height, p.jpeg],
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_run_once_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("c.sqlite3");
        {
            let cat = Catalogue::open(&db).unwrap();
            assert_eq!(cat.schema_version().unwrap(), MIGRATIONS.len() as i64);
            cat.add_root(dir.path()).unwrap();
        }
        let cat = Catalogue::open(&db).unwrap();
        assert_eq!(cat.roots().unwrap().len(), 1);
    }

    #[test]
    fn copy_embedding_copies_frames_poster_and_decoding_warning() {
        let dir = tempfile::tempdir().unwrap();
        let mut cat = Catalogue::open(&dir.path().join("c.sqlite3")).unwrap();
        let root = cat.add_root(dir.path()).unwrap();
        let ids: Vec<i64> = ["a.mp4", "b.mp4", "c.mp4"]
            .iter()
            .map(|n| {
                cat.insert_video(root, &dir.path().join(n), 1, 1, None)
                    .unwrap()
            })
            .collect();
        let (a, b, c) = (ids[0], ids[1], ids[2]);
        assert!(
            !cat.copy_embedding(a, b, "m").unwrap(),
            "nothing to copy yet"
        );
        let frame = |v: f32| FrameRecord {
            ts_ms: (v * 1000.0) as i64,
            feature: vec![v, 1.0 - v],
            top_classes: vec![(7, 0.5)],
            thumb_jpeg: Some(vec![1, 2, 3]),
        };
        cat.store_embedding(&EmbeddingRecord {
            video_id: a,
            model: "m".into(),
            sampler: "uniform:2".into(),
            descriptor: vec![0.6, 0.8],
            class_probs: vec![0.25, 0.75],
            frames: vec![frame(0.25), frame(0.5)],
            poster: Some(Poster {
                ts_ms: 500,
                width: 4,
                height: 3,
                jpeg: vec![9, 9],
            }),
        })
        .unwrap();
        cat.conn()
            .execute(
                "UPDATE videos SET error_stage = 'decode', error = 'short' WHERE id = ?1",
                [a],
            )
            .unwrap();
        assert!(cat.copy_embedding(a, b, "m").unwrap());
        assert_eq!(
            cat.embedding_sampler(b, "m").unwrap().as_deref(),
            Some("uniform:2")
        );
        assert_eq!(
            cat.frame_features(b, "m").unwrap(),
            cat.frame_features(a, "m").unwrap()
        );
        assert_eq!(cat.poster(b).unwrap(), Some(vec![9, 9]));
        let vb = cat.video(b).unwrap().unwrap();
        assert_eq!(
            (vb.status.as_str(), vb.error.as_deref()),
            ("ok", Some("short"))
        );
        // Without a warning on the original, the copy's own fields stay as they are.
        cat.conn()
            .execute(
                "UPDATE videos SET error_stage = NULL, error = NULL WHERE id = ?1",
                [a],
            )
            .unwrap();
        assert!(cat.copy_embedding(a, c, "m").unwrap());
        assert_eq!(cat.video(c).unwrap().unwrap().error, None);
        assert_eq!(cat.descriptors("m").unwrap().len(), 3);
        assert_eq!(cat.embedding_sampler(c, "other").unwrap(), None);
    }

    #[test]
    fn user_assignments_survive_reclustering() {
        let dir = tempfile::tempdir().unwrap();
        let mut cat = Catalogue::open(&dir.path().join("c.sqlite3")).unwrap();
        let root = cat.add_root(dir.path()).unwrap();
        let a = cat
            .insert_video(root, &dir.path().join("a.mp4"), 1, 1, None)
            .unwrap();
        let b = cat
            .insert_video(root, &dir.path().join("b.mp4"), 1, 1, None)
            .unwrap();
        let plan = |members: Vec<Vec<(i64, f64)>>| ClusteringPlan {
            model: "m".into(),
            k_method: "test".into(),
            details: "{}".into(),
            clusters: members
                .into_iter()
                .enumerate()
                .map(|(i, m)| PlannedCluster {
                    existing_id: None,
                    name: format!("C{i}"),
                    concept: None,
                    confidence: None,
                    unsorted: false,
                    centroid: vec![0.0],
                    auto_members: m,
                })
                .collect(),
        };
        let ids = cat
            .apply_clustering(&plan(vec![vec![(a, 0.1)], vec![(b, 0.1)]]))
            .unwrap();
        cat.assign_user(&[a], ids[1]).unwrap();
        cat.rename_cluster(ids[1], "Holidays").unwrap();
        // A new clustering that would put `a` elsewhere must not move it.
        cat.apply_clustering(&plan(vec![vec![(a, 0.1), (b, 0.2)]]))
            .unwrap();
        let asg = cat.assignments().unwrap();
        let a_asg = asg.iter().find(|x| x.video_id == a).unwrap();
        assert_eq!(a_asg.cluster_id, ids[1]);
        assert_eq!(a_asg.source, "user");
        let names: Vec<String> = cat
            .clusters()
            .unwrap()
            .into_iter()
            .map(|c| c.name)
            .collect();
        assert!(names.contains(&"Holidays".to_string()), "{names:?}");
    }
}
