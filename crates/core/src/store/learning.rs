//! What was learnt from the library: the adapted head of each model (with its
//! training checkpoint), and the suggestions a person rejected.

use super::Catalogue;
use crate::util::now_secs;
use anyhow::Result;
use rusqlite::{OptionalExtension, params};

/// A stored head: its weights and, as JSON, everything needed to use it again (the
/// options it was trained with, the space it reads, the library it learnt from).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredHead {
    pub model: String,
    pub format: u32,
    /// Training finished (else this is a checkpoint to resume from).
    pub done: bool,
    pub step: usize,
    pub rng: u64,
    pub weights: Vec<u8>,
    pub details: String,
}

impl Catalogue {
    pub fn save_head(&self, head: &StoredHead) -> Result<()> {
        self.conn.execute(
            "INSERT OR REPLACE INTO heads (model, format, state, step, rng, weights, details, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                head.model,
                head.format,
                if head.done { "done" } else { "training" },
                head.step as i64,
                head.rng as i64,
                head.weights,
                head.details,
                now_secs()
            ],
        )?;
        Ok(())
    }

    pub fn head(&self, model: &str) -> Result<Option<StoredHead>> {
        Ok(self
            .conn
            .query_row(
                "SELECT model, format, state, step, rng, weights, details FROM heads WHERE model = ?1",
                [model],
                |r| {
                    Ok(StoredHead {
                        model: r.get(0)?,
                        format: r.get(1)?,
                        done: r.get::<_, String>(2)? == "done",
                        step: r.get::<_, i64>(3)? as usize,
                        rng: r.get::<_, i64>(4)? as u64,
                        weights: r.get(5)?,
                        details: r.get(6)?,
                    })
                },
            )
            .optional()?)
    }

    pub fn delete_head(&self, model: &str) -> Result<()> {
        self.conn
            .execute("DELETE FROM heads WHERE model = ?1", [model])?;
        Ok(())
    }

    /// A person said this video does not belong in this cluster.
    pub fn reject_suggestion(&self, video_id: i64, cluster_id: i64) -> Result<()> {
        self.conn.execute(
            "INSERT OR REPLACE INTO rejections (video_id, cluster_id, created_at) VALUES (?1, ?2, ?3)",
            params![video_id, cluster_id, now_secs()],
        )?;
        Ok(())
    }

    /// Every (video, cluster) pair a person rejected.
    pub fn rejections(&self) -> Result<Vec<(i64, i64)>> {
        let mut stmt = self
            .conn
            .prepare("SELECT video_id, cluster_id FROM rejections ORDER BY video_id, cluster_id")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_and_rejections_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let cat = Catalogue::open(&dir.path().join("c.sqlite3")).unwrap();
        assert_eq!(cat.head("m").unwrap(), None);
        let h = StoredHead {
            model: "m".into(),
            format: 1,
            done: false,
            step: 25,
            rng: u64::MAX - 3,
            weights: vec![1, 2, 3, 4],
            details: "{}".into(),
        };
        cat.save_head(&h).unwrap();
        assert_eq!(cat.head("m").unwrap(), Some(h.clone()));
        cat.save_head(&StoredHead {
            done: true,
            step: 150,
            ..h
        })
        .unwrap();
        assert!(cat.head("m").unwrap().unwrap().done);
        cat.delete_head("m").unwrap();
        assert_eq!(cat.head("m").unwrap(), None);
        let root = cat.add_root(dir.path()).unwrap();
        let v = cat
            .insert_video(root, &dir.path().join("a.mp4"), 1, 1, None)
            .unwrap();
        let c = cat.unsorted_cluster("Unsorted", "m").unwrap();
        cat.reject_suggestion(v, c).unwrap();
        cat.reject_suggestion(v, c).unwrap();
        assert_eq!(cat.rejections().unwrap(), vec![(v, c)]);
    }
}
