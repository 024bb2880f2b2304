//! The stored 2-D maps (t-SNE layouts) of videos and of frames.

use super::Catalogue;
use anyhow::Result;
use rusqlite::params;

/// One point of a map: a video (`idx` 0) or one of its frames.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MapPoint {
    pub video_id: i64,
    pub idx: i64,
    pub x: f32,
    pub y: f32,
}

impl Catalogue {
    /// Replaces the map of `kind` ("video" or "frame") and records the signature of
    /// the data it was made from, in one transaction.
    pub fn replace_map(
        &mut self,
        kind: &str,
        points: &[((i64, i64), [f32; 2])],
        signature: &str,
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute("DELETE FROM map_points WHERE kind = ?1", [kind])?;
        {
            let mut stmt = tx.prepare(
                "INSERT INTO map_points (kind, video_id, idx, x, y) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for ((v, i), p) in points {
                stmt.execute(params![kind, v, i, p[0] as f64, p[1] as f64])?;
            }
        }
        tx.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
            params![map_key(kind), signature],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// The signature recorded with the stored map of `kind`.
    pub fn map_signature(&self, kind: &str) -> Result<Option<String>> {
        self.meta(&map_key(kind))
    }

    /// The points of the stored map of `kind`, of present videos.
    pub fn map_points(&self, kind: &str) -> Result<Vec<MapPoint>> {
        let mut stmt = self.conn.prepare(
            "SELECT m.video_id, m.idx, m.x, m.y FROM map_points m JOIN videos v ON v.id = m.video_id
             WHERE m.kind = ?1 AND v.status = 'ok' ORDER BY m.video_id, m.idx",
        )?;
        let rows = stmt.query_map([kind], |r| {
            Ok(MapPoint {
                video_id: r.get(0)?,
                idx: r.get(1)?,
                x: r.get::<_, f64>(2)? as f32,
                y: r.get::<_, f64>(3)? as f32,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

fn map_key(kind: &str) -> String {
    format!("map:{kind}")
}
