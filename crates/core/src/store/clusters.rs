//! Clusters, who is in them (assignments, automatic or by a person) and the record
//! of clustering runs.

use super::Catalogue;
use super::{ClusterKind, Source};
use crate::error::Error;
use crate::util::now_secs;
use anyhow::Result;
use rusqlite::Connection;
use rusqlite::{OptionalExtension, params};

#[derive(Debug, Clone)]
pub struct ClusterRow {
    pub id: i64,
    pub name: String,
    pub name_source: Source,
    pub concept: Option<String>,
    pub confidence: Option<f64>,
    pub kind: ClusterKind,
    pub count: i64,
}

#[derive(Debug, Clone)]
pub struct Assignment {
    pub video_id: i64,
    pub cluster_id: i64,
    pub source: Source,
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
            let kind = if c.unsorted {
                ClusterKind::Unsorted
            } else {
                ClusterKind::Normal
            };
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
            return Err(Error::invalid("a folder name cannot be empty"));
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
            return Err(Error::conflict(format!(
                "another folder is already called \"{name}\""
            )));
        }
        let n = self.conn.execute(
            "UPDATE clusters SET name = ?2, name_source = 'user', updated_at = ?3 WHERE id = ?1",
            params![cluster_id, name, now_secs()],
        )?;
        if n == 0 {
            return Err(Error::not_found(format!(
                "there is no folder with id {cluster_id}"
            )));
        }
        Ok(())
    }

    pub fn unique_cluster_name(&self, base: &str) -> Result<String> {
        unique_name_tx(&self.conn, base)
    }
    /// (cluster id, centroid) of the normal clusters made for `model`.
    pub fn centroids(&self, model: &str) -> Result<Vec<(i64, Vec<f32>)>> {
        let mut stmt = self.conn.prepare(
            "SELECT id, centroid FROM clusters WHERE kind = 'normal' AND model = ?1 AND centroid IS NOT NULL",
        )?;
        let rows = stmt.query_map([model], |r| {
            let b: Vec<u8> = r.get(1)?;
            Ok((r.get::<_, i64>(0)?, crate::util::bytes_to_f32s(&b)))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The id of the "Unsorted" cluster, made (with this name) if there is none.
    pub fn unsorted_cluster(&self, name: &str, model: &str) -> Result<i64> {
        if let Some(c) = self
            .clusters()?
            .into_iter()
            .find(|c| c.kind == ClusterKind::Unsorted)
        {
            return Ok(c.id);
        }
        self.conn.execute(
            "INSERT INTO clusters (name, name_source, kind, model, created_at, updated_at) VALUES (?1, 'auto', 'unsorted', ?2, ?3, ?3)",
            params![name, model, now_secs()],
        )?;
        Ok(self.conn.last_insert_rowid())
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

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(a_asg.source, Source::User);
        let names: Vec<String> = cat
            .clusters()
            .unwrap()
            .into_iter()
            .map(|c| c.name)
            .collect();
        assert!(names.contains(&"Holidays".to_string()), "{names:?}");
    }
}
