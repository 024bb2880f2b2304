//! What embedding stored: per-video descriptors and class probabilities, per-frame
//! features, top classes and thumbnails, and posters.

use super::Catalogue;
use super::VideoRow;
use super::videos::{VIDEO_COLUMNS, video_from_row};
use crate::util::now_secs;
use anyhow::Result;
use rusqlite::Transaction;
use rusqlite::{OptionalExtension, params};
use std::collections::HashMap;

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

/// (video id, frame index).
pub type FrameKey = (i64, i64);

/// Stored top classes: per class a u16 index and an f16 probability.
fn decode_top(b: &[u8]) -> TopClasses {
    b.chunks_exact(4)
        .map(|c| {
            (
                u16::from_le_bytes([c[0], c[1]]),
                half::f16::from_le_bytes([c[2], c[3]]).to_f32(),
            )
        })
        .collect()
}

/// A frame's most probable classes: (class index, probability).
pub type TopClasses = Vec<(u16, f32)>;

impl Catalogue {
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

    /// How many videos are embedded with `model`, the largest id among them and
    /// their frames in all: what a stored map was made from.
    pub fn embedding_summary(&self, model: &str) -> Result<(i64, i64, i64)> {
        Ok(self.conn.query_row(
            "SELECT COUNT(*), COALESCE(MAX(e.video_id), 0), COALESCE(SUM(e.n_frames), 0)
             FROM embeddings e JOIN videos v ON v.id = e.video_id WHERE e.model = ?1 AND v.status = 'ok'",
            [model],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?)
    }

    /// Videos embedded with `model` (present or not).
    pub fn embedded_count(&self, model: &str) -> Result<i64> {
        Ok(self.conn.query_row(
            "SELECT COUNT(*) FROM embeddings WHERE model = ?1",
            [model],
            |r| r.get(0),
        )?)
    }

    /// Present videos embedded with `model`.
    pub fn embedded_present_count(&self, model: &str) -> Result<i64> {
        Ok(self.conn.query_row(
            "SELECT COUNT(*) FROM embeddings e JOIN videos v ON v.id = e.video_id WHERE e.model = ?1 AND v.status = 'ok'",
            [model],
            |r| r.get(0),
        )?)
    }

    /// ((video id, frame index), feature) of every frame of the present videos.
    pub fn all_frame_features(&self, model: &str) -> Result<Vec<(FrameKey, Vec<f32>)>> {
        let mut stmt = self.conn.prepare(
            "SELECT f.video_id, f.idx, f.feature FROM frames f JOIN videos v ON v.id = f.video_id
             WHERE f.model = ?1 AND v.status = 'ok' ORDER BY f.video_id, f.idx",
        )?;
        let rows = stmt.query_map([model], |r| {
            Ok((
                (r.get(0)?, r.get(1)?),
                crate::util::f16_bytes_to_f32s(&r.get::<_, Vec<u8>>(2)?),
            ))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Frames stored for `model` (all videos).
    pub fn frame_count(&self, model: &str) -> Result<i64> {
        Ok(self.conn.query_row(
            "SELECT COUNT(*) FROM frames WHERE model = ?1",
            [model],
            |r| r.get(0),
        )?)
    }

    /// The features of every `step`-th stored frame (by row), for library-wide scales.
    pub fn frame_feature_sample(&self, model: &str, step: i64) -> Result<Vec<Vec<f32>>> {
        let mut stmt = self
            .conn
            .prepare("SELECT feature FROM frames WHERE model = ?1 AND (rowid % ?2) = 0")?;
        let rows = stmt.query_map(params![model, step.max(1)], |r| {
            Ok(crate::util::f16_bytes_to_f32s(&r.get::<_, Vec<u8>>(0)?))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Per frame of a video, in time order: (timestamp ms, top classes with their
    /// probabilities).
    pub fn frame_top_classes(&self, video_id: i64, model: &str) -> Result<Vec<(i64, TopClasses)>> {
        let mut stmt = self.conn.prepare(
            "SELECT ts_ms, top_classes FROM frames WHERE video_id = ?1 AND model = ?2 ORDER BY idx",
        )?;
        let rows = stmt.query_map(params![video_id, model], |r| {
            let b: Vec<u8> = r.get(1)?;
            Ok((r.get(0)?, decode_top(&b)))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// (video id, frame index, timestamp ms, top classes) of every frame of the
    /// present videos.
    pub fn all_frame_top_classes(&self, model: &str) -> Result<Vec<(i64, i64, i64, TopClasses)>> {
        let mut stmt = self.conn.prepare(
            "SELECT f.video_id, f.idx, f.ts_ms, f.top_classes FROM frames f JOIN videos v ON v.id = f.video_id
             WHERE f.model = ?1 AND v.status = 'ok' ORDER BY f.video_id, f.idx",
        )?;
        let rows = stmt.query_map([model], |r| {
            let b: Vec<u8> = r.get(3)?;
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, decode_top(&b)))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The small JPEG of frame `idx` of a video, if stored.
    pub fn frame_thumb(&self, video_id: i64, model: &str, idx: i64) -> Result<Option<Vec<u8>>> {
        Ok(self
            .conn
            .query_row(
                "SELECT thumb FROM frames WHERE video_id = ?1 AND model = ?2 AND idx = ?3",
                params![video_id, model, idx],
                |r| r.get::<_, Option<Vec<u8>>>(0),
            )
            .optional()?
            .flatten())
    }

    /// Ids of the videos that have a poster.
    pub fn videos_with_poster(&self) -> Result<std::collections::HashSet<i64>> {
        let mut stmt = self.conn.prepare("SELECT video_id FROM posters")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
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
        cat.conn
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
        cat.conn
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
}
