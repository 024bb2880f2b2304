//! The dense frame index of each video (`find::dense`): timestamps, codes and which
//! frames show something, one row per video and model.

use super::videos::{VIDEO_COLUMNS, video_from_row};
use super::{Catalogue, VideoRow};
use crate::find::dense::{CODE_DIMS, DenseFrames, LAYOUT_DIMS};
use crate::util::now_secs;
use anyhow::{Result, ensure};
use rusqlite::{OptionalExtension, params};

fn from_blobs(
    fps: f64,
    times: &[u8],
    codes: Vec<u8>,
    informative: &[u8],
    layouts: Option<Vec<u8>>,
) -> DenseFrames {
    DenseFrames {
        layouts: layouts
            .unwrap_or_default()
            .into_iter()
            .map(|b| b as i8)
            .collect(),
        fps,
        times: times
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        codes: codes.into_iter().map(|b| b as i8).collect(),
        informative: informative.iter().map(|&b| b != 0).collect(),
    }
}

impl Catalogue {
    /// Usable videos embedded with `model` that have no dense frames yet (or frames
    /// indexed before layouts were kept).
    pub fn videos_needing_dense_frames(&self, model: &str) -> Result<Vec<VideoRow>> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {VIDEO_COLUMNS} FROM videos v WHERE status = 'ok'
             AND EXISTS (SELECT 1 FROM embeddings e WHERE e.video_id = v.id AND e.model = ?1)
             AND NOT EXISTS (SELECT 1 FROM dense_frames d WHERE d.video_id = v.id AND d.model = ?1
                             AND d.layouts IS NOT NULL)
             ORDER BY id"
        ))?;
        let rows = stmt.query_map([model], video_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn store_dense_frames(&self, video_id: i64, model: &str, d: &DenseFrames) -> Result<()> {
        ensure!(
            d.codes.len() == d.len() * CODE_DIMS
                && d.informative.len() == d.len()
                && (d.layouts.is_empty() || d.layouts.len() == d.len() * LAYOUT_DIMS),
            "dense frames of inconsistent sizes"
        );
        let layouts: Option<Vec<u8>> =
            (!d.layouts.is_empty()).then(|| d.layouts.iter().map(|&c| c as u8).collect());
        let times: Vec<u8> = d.times.iter().flat_map(|t| t.to_le_bytes()).collect();
        let codes: Vec<u8> = d.codes.iter().map(|&c| c as u8).collect();
        let informative: Vec<u8> = d.informative.iter().map(|&b| b as u8).collect();
        self.conn.execute(
            "INSERT OR REPLACE INTO dense_frames (video_id, model, fps, n, times, codes, informative, layouts, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![video_id, model, d.fps, d.len() as i64, times, codes, informative, layouts, now_secs()],
        )?;
        Ok(())
    }

    pub fn dense_frames(&self, video_id: i64, model: &str) -> Result<Option<DenseFrames>> {
        Ok(self
            .conn
            .query_row(
                "SELECT fps, times, codes, informative, layouts FROM dense_frames WHERE video_id = ?1 AND model = ?2",
                params![video_id, model],
                |r| {
                    Ok(from_blobs(
                        r.get(0)?,
                        &r.get::<_, Vec<u8>>(1)?,
                        r.get(2)?,
                        &r.get::<_, Vec<u8>>(3)?,
                        r.get(4)?,
                    ))
                },
            )
            .optional()?)
    }

    /// The dense frames of every present video, in id order.
    pub fn all_dense_frames(&self, model: &str) -> Result<Vec<(i64, DenseFrames)>> {
        let mut stmt = self.conn.prepare(
            "SELECT d.video_id, d.fps, d.times, d.codes, d.informative, d.layouts FROM dense_frames d
             JOIN videos v ON v.id = d.video_id WHERE d.model = ?1 AND v.status = 'ok' ORDER BY d.video_id",
        )?;
        let rows = stmt.query_map([model], |r| {
            Ok((
                r.get(0)?,
                from_blobs(
                    r.get(1)?,
                    &r.get::<_, Vec<u8>>(2)?,
                    r.get(3)?,
                    &r.get::<_, Vec<u8>>(4)?,
                    r.get(5)?,
                ),
            ))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Each present video's dense frames' version (it changes when they are
    /// replaced), in id order: what a saved nearest-neighbour index is compared with.
    pub fn dense_versions(&self, model: &str) -> Result<Vec<(i64, i64)>> {
        let mut stmt = self.conn.prepare(
            "SELECT d.video_id, d.rowid FROM dense_frames d JOIN videos v ON v.id = d.video_id
             WHERE d.model = ?1 AND v.status = 'ok' ORDER BY d.video_id",
        )?;
        let rows = stmt.query_map([model], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// What the dense index holds for `model`: (videos, frames, newest entry's time),
    /// to tell whether a saved nearest-neighbour index is still current.
    pub fn dense_summary(&self, model: &str) -> Result<(i64, i64, i64)> {
        Ok(self.conn.query_row(
            "SELECT COUNT(*), COALESCE(SUM(d.n), 0), COALESCE(MAX(d.created_at), 0) FROM dense_frames d
             JOIN videos v ON v.id = d.video_id WHERE d.model = ?1 AND v.status = 'ok'",
            [model],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?)
    }
}
