//! People's edits of the clustering, stored — moving videos between clusters (or into a
//! new one), renaming, merging — each stored as a user choice that re-clustering
//! respects, and each recorded with what is needed to undo it.

use super::Catalogue;
use crate::error::Error;
use crate::util::now_secs;
use anyhow::Result;
use rusqlite::{OptionalExtension, Transaction, params};
use serde::{Deserialize, Serialize};

/// Where videos are moved to.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    Cluster(i64),
    /// A new cluster with this name ("New folder" in the UI).
    New(String),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct PrevAssignment {
    video: i64,
    cluster: Option<i64>,
    source: Option<String>,
    distance: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ClusterSnapshot {
    id: i64,
    name: String,
    name_source: String,
    concept: Option<String>,
    confidence: Option<f64>,
    kind: String,
    model: Option<String>,
    centroid: Option<Vec<u8>>,
    created_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Undo {
    Assign {
        prev: Vec<PrevAssignment>,
        created_cluster: Option<i64>,
    },
    Rename {
        cluster: i64,
        name: String,
        name_source: String,
    },
    Merge {
        removed: ClusterSnapshot,
        prev: Vec<PrevAssignment>,
    },
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
pub struct EditResult {
    pub edit_id: i64,
    pub summary: String,
    /// The cluster the videos went to (new clusters included).
    pub cluster_id: Option<i64>,
}

fn record(tx: &Transaction<'_>, kind: &str, summary: &str, undo: &Undo) -> Result<i64> {
    tx.execute(
        "INSERT INTO edits (kind, summary, undo, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![kind, summary, serde_json::to_string(undo)?, now_secs()],
    )?;
    Ok(tx.last_insert_rowid())
}

fn prev_assignments(tx: &Transaction<'_>, videos: &[i64]) -> Result<Vec<PrevAssignment>> {
    let mut out = Vec::with_capacity(videos.len());
    for &v in videos {
        let row: Option<(i64, String, Option<f64>)> = tx
            .query_row(
                "SELECT cluster_id, source, distance FROM assignments WHERE video_id = ?1",
                [v],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        out.push(PrevAssignment {
            video: v,
            cluster: row.as_ref().map(|r| r.0),
            source: row.as_ref().map(|r| r.1.clone()),
            distance: row.and_then(|r| r.2),
        });
    }
    Ok(out)
}

fn cluster_name(tx: &Transaction<'_>, id: i64) -> Result<String> {
    tx.query_row("SELECT name FROM clusters WHERE id = ?1", [id], |r| {
        r.get(0)
    })
    .optional()?
    .ok_or_else(|| Error::not_found(format!("there is no cluster with id {id}")))
}

fn name_taken(tx: &Transaction<'_>, name: &str, except: Option<i64>) -> Result<bool> {
    Ok(tx
        .query_row(
            "SELECT 1 FROM clusters WHERE name = ?1 AND id != ?2",
            params![name, except.unwrap_or(-1)],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// Moves videos into a cluster (or a new one) as the user's choice.
pub fn move_videos(cat: &mut Catalogue, videos: &[i64], target: &Target) -> Result<EditResult> {
    if videos.is_empty() {
        return Err(Error::invalid("no videos to move"));
    }
    let tx = cat.conn.transaction()?;
    for &v in videos {
        let ok: Option<i64> = tx
            .query_row(
                "SELECT 1 FROM videos WHERE id = ?1 AND status = 'ok'",
                [v],
                |r| r.get(0),
            )
            .optional()?;
        if ok.is_none() {
            return Err(Error::not_found(format!(
                "video {v} is not in the catalogue (or cannot be used)"
            )));
        }
    }
    let prev = prev_assignments(&tx, videos)?;
    let now = now_secs();
    let (cluster, created) = match target {
        Target::Cluster(id) => {
            cluster_name(&tx, *id)?;
            (*id, None)
        }
        Target::New(name) => {
            let name = name.trim();
            if name.is_empty() {
                return Err(Error::invalid("a folder name cannot be empty"));
            }
            if name_taken(&tx, name, None)? {
                return Err(Error::conflict(format!(
                    "a folder called \"{name}\" already exists"
                )));
            }
            tx.execute(
                "INSERT INTO clusters (name, name_source, kind, created_at, updated_at) VALUES (?1, 'user', 'normal', ?2, ?2)",
                params![name, now],
            )?;
            let id = tx.last_insert_rowid();
            (id, Some(id))
        }
    };
    for &v in videos {
        tx.execute(
            "INSERT INTO assignments (video_id, cluster_id, source, distance, assigned_at) VALUES (?1, ?2, 'user', NULL, ?3)
             ON CONFLICT(video_id) DO UPDATE SET cluster_id = excluded.cluster_id, source = 'user', distance = NULL,
               assigned_at = excluded.assigned_at",
            params![v, cluster, now],
        )?;
    }
    let summary = format!(
        "moved {} video{} to \"{}\"",
        videos.len(),
        if videos.len() == 1 { "" } else { "s" },
        cluster_name(&tx, cluster)?
    );
    let id = record(
        &tx,
        "assign",
        &summary,
        &Undo::Assign {
            prev,
            created_cluster: created,
        },
    )?;
    tx.commit()?;
    Ok(EditResult {
        edit_id: id,
        summary,
        cluster_id: Some(cluster),
    })
}

pub fn rename(cat: &mut Catalogue, cluster: i64, name: &str) -> Result<EditResult> {
    let name = name.trim();
    if name.is_empty() {
        return Err(Error::invalid("a folder name cannot be empty"));
    }
    let tx = cat.conn.transaction()?;
    let (old, source): (String, String) = tx
        .query_row(
            "SELECT name, name_source FROM clusters WHERE id = ?1",
            [cluster],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?
        .ok_or_else(|| Error::not_found(format!("there is no cluster with id {cluster}")))?;
    if name_taken(&tx, name, Some(cluster))? {
        return Err(Error::conflict(format!(
            "another folder is already called \"{name}\""
        )));
    }
    tx.execute(
        "UPDATE clusters SET name = ?2, name_source = 'user', updated_at = ?3 WHERE id = ?1",
        params![cluster, name, now_secs()],
    )?;
    let summary = format!("renamed \"{old}\" to \"{name}\"");
    let id = record(
        &tx,
        "rename",
        &summary,
        &Undo::Rename {
            cluster,
            name: old,
            name_source: source,
        },
    )?;
    tx.commit()?;
    Ok(EditResult {
        edit_id: id,
        summary,
        cluster_id: Some(cluster),
    })
}

/// Merges cluster `from` into `into`: its videos become user-assigned to `into`, and
/// `from` is removed.
pub fn merge(cat: &mut Catalogue, from: i64, into: i64) -> Result<EditResult> {
    if from == into {
        return Err(Error::invalid("cannot merge a folder into itself"));
    }
    let tx = cat.conn.transaction()?;
    let removed: ClusterSnapshot = tx
        .query_row(
            "SELECT id, name, name_source, concept, confidence, kind, model, centroid, created_at FROM clusters WHERE id = ?1",
            [from],
            |r| {
                Ok(ClusterSnapshot {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    name_source: r.get(2)?,
                    concept: r.get(3)?,
                    confidence: r.get(4)?,
                    kind: r.get(5)?,
                    model: r.get(6)?,
                    centroid: r.get(7)?,
                    created_at: r.get(8)?,
                })
            },
        )
        .optional()?
        .ok_or_else(|| Error::not_found(format!("there is no cluster with id {from}")))?;
    let into_name = cluster_name(&tx, into)?;
    let videos: Vec<i64> = {
        let mut stmt =
            tx.prepare("SELECT video_id FROM assignments WHERE cluster_id = ?1 ORDER BY video_id")?;
        let rows = stmt.query_map([from], |r| r.get(0))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let prev = prev_assignments(&tx, &videos)?;
    let now = now_secs();
    tx.execute(
        "UPDATE assignments SET cluster_id = ?2, source = 'user', distance = NULL, assigned_at = ?3 WHERE cluster_id = ?1",
        params![from, into, now],
    )?;
    tx.execute("DELETE FROM clusters WHERE id = ?1", [from])?;
    let summary = format!("merged \"{}\" into \"{}\"", removed.name, into_name);
    let id = record(&tx, "merge", &summary, &Undo::Merge { removed, prev })?;
    tx.commit()?;
    Ok(EditResult {
        edit_id: id,
        summary,
        cluster_id: Some(into),
    })
}

/// Undoes the newest edit not yet undone. Returns its summary, or None.
pub fn undo_last(cat: &mut Catalogue) -> Result<Option<String>> {
    let tx = cat.conn.transaction()?;
    let row: Option<(i64, String, String)> = tx
        .query_row(
            "SELECT id, summary, undo FROM edits WHERE undone = 0 ORDER BY id DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let Some((id, summary, undo)) = row else {
        return Ok(None);
    };
    let restore = |tx: &Transaction<'_>, prev: &[PrevAssignment]| -> Result<()> {
        for p in prev {
            match (p.cluster, &p.source) {
                (Some(c), Some(s)) => {
                    tx.execute(
                        "INSERT INTO assignments (video_id, cluster_id, source, distance, assigned_at) VALUES (?1, ?2, ?3, ?4, ?5)
                         ON CONFLICT(video_id) DO UPDATE SET cluster_id = excluded.cluster_id, source = excluded.source,
                           distance = excluded.distance",
                        params![p.video, c, s, p.distance, now_secs()],
                    )?;
                }
                _ => {
                    tx.execute("DELETE FROM assignments WHERE video_id = ?1", [p.video])?;
                }
            }
        }
        Ok(())
    };
    match serde_json::from_str::<Undo>(&undo)? {
        Undo::Assign {
            prev,
            created_cluster,
        } => {
            restore(&tx, &prev)?;
            if let Some(c) = created_cluster {
                tx.execute(
                    "DELETE FROM clusters WHERE id = ?1 AND NOT EXISTS (SELECT 1 FROM assignments WHERE cluster_id = ?1)",
                    [c],
                )?;
            }
        }
        Undo::Rename {
            cluster,
            name,
            name_source,
        } => {
            if name_taken(&tx, &name, Some(cluster))? {
                return Err(Error::conflict(format!(
                    "cannot undo: another folder is now called \"{name}\""
                )));
            }
            tx.execute(
                "UPDATE clusters SET name = ?2, name_source = ?3, updated_at = ?4 WHERE id = ?1",
                params![cluster, name, name_source, now_secs()],
            )?;
        }
        Undo::Merge { removed, prev } => {
            if name_taken(&tx, &removed.name, None)? {
                return Err(Error::conflict(format!(
                    "cannot undo: another folder is now called \"{}\"",
                    removed.name
                )));
            }
            tx.execute(
                "INSERT INTO clusters (id, name, name_source, concept, confidence, kind, model, centroid, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    removed.id,
                    removed.name,
                    removed.name_source,
                    removed.concept,
                    removed.confidence,
                    removed.kind,
                    removed.model,
                    removed.centroid,
                    removed.created_at,
                    now_secs()
                ],
            )?;
            restore(&tx, &prev)?;
        }
    }
    tx.execute("UPDATE edits SET undone = 1 WHERE id = ?1", [id])?;
    tx.commit()?;
    Ok(Some(summary))
}

impl Catalogue {
    /// Whether there is an edit left to undo.
    pub fn can_undo_edit(&self) -> Result<bool> {
        Ok(self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM edits WHERE undone = 0)",
            [],
            |r| r.get(0),
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{ClusteringPlan, PlannedCluster};

    fn setup() -> (tempfile::TempDir, Catalogue, Vec<i64>, Vec<i64>) {
        let dir = tempfile::tempdir().unwrap();
        let mut cat = Catalogue::open(&dir.path().join("c.sqlite3")).unwrap();
        let root = cat.add_root(dir.path()).unwrap();
        let v: Vec<i64> = (0..4)
            .map(|i| {
                cat.insert_video(root, &dir.path().join(format!("{i}.mp4")), 1, 1, None)
                    .unwrap()
            })
            .collect();
        let plan = ClusteringPlan {
            model: "m".into(),
            k_method: "t".into(),
            details: "{}".into(),
            clusters: vec![
                PlannedCluster {
                    existing_id: None,
                    name: "Dogs".into(),
                    concept: None,
                    confidence: None,
                    unsorted: false,
                    centroid: vec![1.0],
                    auto_members: vec![(v[0], 0.1), (v[1], 0.1)],
                },
                PlannedCluster {
                    existing_id: None,
                    name: "Cats".into(),
                    concept: None,
                    confidence: None,
                    unsorted: false,
                    centroid: vec![0.0],
                    auto_members: vec![(v[2], 0.1), (v[3], 0.1)],
                },
            ],
        };
        let c = cat.apply_clustering(&plan).unwrap();
        (dir, cat, v, c)
    }

    fn cluster_of(cat: &Catalogue, v: i64) -> (i64, String) {
        let a = cat
            .assignments()
            .unwrap()
            .into_iter()
            .find(|a| a.video_id == v)
            .unwrap();
        (a.cluster_id, a.source.to_string())
    }

    #[test]
    fn move_rename_merge_and_undo_each() {
        let (_d, mut cat, v, c) = setup();
        move_videos(&mut cat, &[v[0]], &Target::Cluster(c[1])).unwrap();
        assert_eq!(cluster_of(&cat, v[0]), (c[1], "user".into()));
        let r = move_videos(&mut cat, &[v[1]], &Target::New("Best of".into())).unwrap();
        let new_id = r.cluster_id.unwrap();
        assert_eq!(cluster_of(&cat, v[1]).0, new_id);
        rename(&mut cat, c[1], "Kittens").unwrap();
        merge(&mut cat, new_id, c[0]).unwrap();
        assert_eq!(cluster_of(&cat, v[1]).0, c[0]);

        // Undo in reverse order brings every state back.
        undo_last(&mut cat).unwrap().unwrap(); // merge
        assert_eq!(cluster_of(&cat, v[1]).0, new_id);
        undo_last(&mut cat).unwrap().unwrap(); // rename
        assert!(cat.clusters().unwrap().iter().any(|x| x.id == c[1]
            && x.name == "Cats"
            && x.name_source == crate::store::Source::Auto));
        undo_last(&mut cat).unwrap().unwrap(); // new folder
        assert_eq!(cluster_of(&cat, v[1]), (c[0], "auto".into()));
        assert!(!cat.clusters().unwrap().iter().any(|x| x.id == new_id));
        undo_last(&mut cat).unwrap().unwrap(); // first move
        assert_eq!(cluster_of(&cat, v[0]), (c[0], "auto".into()));
        assert!(undo_last(&mut cat).unwrap().is_none());
    }

    #[test]
    fn names_stay_unique() {
        let (_d, mut cat, v, c) = setup();
        assert!(
            rename(&mut cat, c[0], "cats").is_err(),
            "case-insensitive clash"
        );
        assert!(move_videos(&mut cat, &[v[0]], &Target::New("Dogs".into())).is_err());
        assert!(move_videos(&mut cat, &[999], &Target::Cluster(c[0])).is_err());
    }
}
