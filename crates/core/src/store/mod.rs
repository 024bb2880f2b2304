//! The SQLite catalogue: every stage reads and writes its results here, and only
//! this module speaks SQL. One file per part of the schema: [`videos`] (roots, files,
//! what the probe learnt), [`embeddings`] (features, frames, posters), [`clusters`]
//! (clusters and who is in them), [`edits`] (people's edits, with undo), [`journal`]
//! (the file operations of apply/undo), [`maps`] (2-D layouts), [`meta`] (small
//! values). [`kinds`] types the states the schema stores as text.
//!
//! One transaction per unit of work (a scanned file, an embedded video, a whole
//! clustering), WAL mode and `synchronous=NORMAL`, so that a crash or Ctrl-C at any
//! moment leaves a consistent catalogue that the next run resumes from.

pub mod clusters;
pub mod dense;
pub mod edits;
pub mod embeddings;
pub mod journal;
pub mod kinds;
pub mod learning;
pub mod maps;
pub mod meta;
mod schema;
pub mod videos;

pub use clusters::{Assignment, ClusterRow, ClusteringPlan, PlannedCluster};
pub use embeddings::{EmbeddingRecord, FrameRecord, Poster};
pub use kinds::{BatchState, ClusterKind, Mode, OpKind, OpState, Source, VideoStatus};
pub use reelmap_media::MediaInfo;
pub use videos::{KnownFile, VideoRow};

use anyhow::{Context, Result, bail};
use rusqlite::Connection;
use schema::MIGRATIONS;
use std::path::{Path, PathBuf};

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
}
