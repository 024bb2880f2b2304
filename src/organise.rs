//! Clustering the catalogue: prepare descriptors, choose k, run k-means with user
//! assignments pinned, move misfits to "Unsorted", name the clusters and store the
//! result in one transaction. Also the incremental path that files newly embedded
//! videos into the existing clusters.

use crate::cluster::{self, KMeans};
use crate::naming;
use crate::store::{Catalogue, ClusteringPlan, PlannedCluster};
use crate::util::{dot, l2_normalize};
use anyhow::Result;
use std::collections::{HashMap, HashSet};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum KChoice {
    Fixed(usize),
    Auto,
}

#[derive(Debug, Clone)]
pub struct ClusterOptions {
    pub k: KChoice,
    pub seed: u64,
    pub restarts: usize,
    /// Put videos that fit no cluster into "Unsorted".
    pub unsorted: bool,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions {
            k: KChoice::Auto,
            seed: 1,
            restarts: 10,
            unsorted: true,
        }
    }
}

pub const UNSORTED_NAME: &str = "Unsorted";

#[derive(Debug, Clone, serde::Serialize)]
pub struct ClusterSummary {
    pub videos: usize,
    pub k: usize,
    pub k_method: String,
    pub unsorted: usize,
    /// (k, score) of every k tried when k was chosen automatically.
    pub k_scores: Vec<(usize, f64)>,
}

/// Mean descriptor of the library, removed before clustering (see `prepare_with`).
pub fn library_mean(descriptors: &[Vec<f32>]) -> Vec<f32> {
    let Some(first) = descriptors.first() else {
        return vec![];
    };
    let mut mean = vec![0f64; first.len()];
    for d in descriptors {
        for (m, x) in mean.iter_mut().zip(d) {
            *m += *x as f64;
        }
    }
    let n = descriptors.len() as f64;
    mean.iter().map(|m| (m / n) as f32).collect()
}

/// Descriptors as used for clustering: the library mean is removed and vectors
/// re-normalised. Every CNN descriptor shares a large common component ("this is a
/// natural image"); removing it makes cosine similarity reflect what differs
/// between videos.
pub fn prepare_with(descriptors: &[Vec<f32>], mean: &[f32]) -> Vec<Vec<f32>> {
    descriptors
        .iter()
        .map(|d| {
            let mut v: Vec<f32> = if mean.len() == d.len() {
                d.iter().zip(mean).map(|(x, m)| x - m).collect()
            } else {
                d.clone()
            };
            l2_normalize(&mut v);
            v
        })
        .collect()
}

pub fn prepare(descriptors: &[Vec<f32>]) -> Vec<Vec<f32>> {
    if descriptors.len() <= 2 {
        return prepare_with(descriptors, &[]);
    }
    prepare_with(descriptors, &library_mean(descriptors))
}

fn mean_key(model: &str) -> String {
    format!("cluster_mean:{model}")
}

/// Result of choosing k automatically.
pub struct AutoK {
    pub k: usize,
    pub scores: Vec<(usize, f64)>,
    pub method: String,
}

/// Chooses k by the mean cosine silhouette over k = 2..=max.
pub fn choose_k(data: &[Vec<f32>], seed: u64) -> AutoK {
    let n = data.len();
    let max_k = ((n as f64).sqrt().ceil() as usize + 2).min(40).min(n.saturating_sub(1));
    if n < 3 || max_k < 2 {
        return AutoK {
            k: 1,
            scores: vec![],
            method: "too few videos".into(),
        };
    }
    let mut scores = Vec::new();
    for k in 2..=max_k {
        let km = cluster::kmeans(data, k, 3, seed);
        scores.push((k, cluster::silhouette(data, &km.labels, k, 2000)));
    }
    let best = scores
        .iter()
        .cloned()
        .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
        .unwrap();
    AutoK {
        k: best.0,
        scores,
        method: "silhouette".into(),
    }
}

/// A clustering of prepared descriptors, before anything is stored.
pub struct Clustering {
    pub km: KMeans,
    /// Indices of points that fit no cluster (empty unless asked for).
    pub outliers: HashSet<usize>,
    pub method: String,
    pub k_scores: Vec<(usize, f64)>,
}

/// Chooses k (or takes it), runs k-means with `fixed` points pinned and `initial`
/// centres for the first clusters, and finds outliers. At least `min_k` clusters.
pub fn cluster_points(
    data: &[Vec<f32>],
    opts: &ClusterOptions,
    fixed: &[Option<usize>],
    initial: &[Vec<f32>],
    min_k: usize,
) -> Clustering {
    let (k, method, k_scores) = match opts.k {
        KChoice::Fixed(k) => (k.max(min_k).min(data.len()), format!("fixed k={k}"), vec![]),
        KChoice::Auto => {
            let auto = choose_k(data, opts.seed);
            (auto.k.max(min_k), auto.method, auto.scores)
        }
    };
    let km = cluster::kmeans_constrained(data, k.max(1), opts.restarts, opts.seed, fixed, initial);
    let outliers = if opts.unsorted {
        find_outliers(data, &km, fixed)
    } else {
        HashSet::new()
    };
    Clustering {
        km,
        outliers,
        method,
        k_scores,
    }
}

/// Re-clusters the whole catalogue for `model`, keeping user assignments and
/// user-named clusters.
pub fn cluster_library(cat: &mut Catalogue, model: &str, opts: &ClusterOptions) -> Result<ClusterSummary> {
    let desc = cat.descriptors(model)?;
    if desc.is_empty() {
        return Ok(ClusterSummary {
            videos: 0,
            k: 0,
            k_method: "no embedded videos".into(),
            unsorted: 0,
            k_scores: vec![],
        });
    }
    let ids: Vec<i64> = desc.iter().map(|(id, _)| *id).collect();
    let raw: Vec<Vec<f32>> = desc.into_iter().map(|(_, v)| v).collect();
    let mean = if raw.len() > 2 { library_mean(&raw) } else { vec![] };
    let data = prepare_with(&raw, &mean);
    // Remember the centring so that videos added later are compared in the same space.
    cat.conn().execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
        rusqlite::params![mean_key(model), serde_json::to_string(&mean)?],
    )?;
    let probs = cat.class_probs(model)?;

    // Clusters a person shaped: user-named or holding user-assigned videos.
    let existing = cat.clusters()?;
    let assignments = cat.assignments()?;
    let user_asg: HashMap<i64, i64> = assignments
        .iter()
        .filter(|a| a.source == "user")
        .map(|a| (a.video_id, a.cluster_id))
        .collect();
    let user_clusters: Vec<i64> = existing
        .iter()
        .filter(|c| c.kind == "normal" && (c.name_source == "user" || user_asg.values().any(|v| *v == c.id)))
        .map(|c| c.id)
        .collect();
    let unsorted_id = existing.iter().find(|c| c.kind == "unsorted").map(|c| c.id);
    let slot_of: HashMap<i64, usize> = user_clusters.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    let fixed: Vec<Option<usize>> = ids
        .iter()
        .map(|v| user_asg.get(v).and_then(|c| slot_of.get(c)).copied())
        .collect();
    // Initial centres of user clusters: mean of their current members.
    let old_members: HashMap<i64, i64> = assignments.iter().map(|a| (a.video_id, a.cluster_id)).collect();
    let mut initial = Vec::new();
    for cid in &user_clusters {
        let mut c = vec![0f32; data[0].len()];
        let mut n = 0;
        for (i, v) in ids.iter().enumerate() {
            if old_members.get(v) == Some(cid) {
                c.iter_mut().zip(&data[i]).for_each(|(a, b)| *a += b);
                n += 1;
            }
        }
        if n == 0 {
            break; // k-means++ fills the remaining centres
        }
        c.iter_mut().for_each(|a| *a /= n as f32);
        initial.push(c);
    }

    let clustering = cluster_points(&data, opts, &fixed, &initial, user_clusters.len());
    let Clustering {
        km,
        outliers,
        method,
        k_scores,
    } = clustering;
    let k = km.k;

    // Old automatic clusters keep their id when they mostly hold the same videos.
    let old_auto: Vec<i64> = existing
        .iter()
        .filter(|c| c.kind == "normal" && !user_clusters.contains(&c.id))
        .map(|c| c.id)
        .collect();
    let mut reuse: HashMap<usize, i64> = HashMap::new();
    {
        let mut overlaps: Vec<(usize, i64, usize)> = Vec::new();
        for j in user_clusters.len()..k {
            let mut counts: HashMap<i64, usize> = HashMap::new();
            for (i, v) in ids.iter().enumerate() {
                if km.labels[i] == j
                    && let Some(c) = old_members.get(v)
                    && old_auto.contains(c)
                {
                    *counts.entry(*c).or_default() += 1;
                }
            }
            for (c, n) in counts {
                overlaps.push((j, c, n));
            }
        }
        overlaps.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0)).then(a.1.cmp(&b.1)));
        let mut used: HashSet<i64> = HashSet::new();
        for (j, c, _) in overlaps {
            if !reuse.contains_key(&j) && !used.contains(&c) {
                reuse.insert(j, c);
                used.insert(c);
            }
        }
    }

    // Names from the mean class probabilities of each cluster's members.
    let classes = probs.values().next().map(|p| p.len()).unwrap_or(1000);
    let mut mean_probs = vec![vec![0f32; classes]; k];
    let mut counts = vec![0usize; k];
    for (i, v) in ids.iter().enumerate() {
        if outliers.contains(&i) {
            continue;
        }
        if let Some(p) = probs.get(v) {
            let j = km.labels[i];
            mean_probs[j].iter_mut().zip(p).for_each(|(a, b)| *a += b);
            counts[j] += 1;
        }
    }
    for (m, &c) in mean_probs.iter_mut().zip(&counts) {
        if c > 0 {
            m.iter_mut().for_each(|x| *x /= c as f32);
        }
    }
    let user_names: Vec<String> = existing
        .iter()
        .filter(|c| c.name_source == "user")
        .map(|c| c.name.clone())
        .chain(std::iter::once(UNSORTED_NAME.to_string()))
        .collect();
    let names = naming::name_clusters(&mean_probs, &user_names)?;

    let mut planned = Vec::new();
    for j in 0..k {
        let members: Vec<(i64, f64)> = (0..ids.len())
            .filter(|&i| km.labels[i] == j && fixed[i].is_none() && !outliers.contains(&i))
            .map(|i| (ids[i], (1.0 - dot(&data[i], &km.centroids[j]) as f64).max(0.0)))
            .collect();
        let existing_id = if j < user_clusters.len() {
            Some(user_clusters[j])
        } else {
            reuse.get(&j).copied()
        };
        let has_fixed = (0..ids.len()).any(|i| fixed[i] == Some(j));
        if members.is_empty() && !has_fixed && existing_id.is_none() {
            continue;
        }
        planned.push(PlannedCluster {
            existing_id,
            name: names[j].name.clone(),
            concept: names[j].concept.clone(),
            confidence: Some(names[j].confidence),
            unsorted: false,
            centroid: km.centroids[j].clone(),
            auto_members: members,
        });
    }
    if !outliers.is_empty() {
        let mut members: Vec<(i64, f64)> = outliers.iter().map(|&i| (ids[i], 1.0)).collect();
        members.sort_by_key(|m| m.0);
        planned.push(PlannedCluster {
            existing_id: unsorted_id,
            name: UNSORTED_NAME.to_string(),
            concept: None,
            confidence: None,
            unsorted: true,
            centroid: vec![],
            auto_members: members,
        });
    }
    let details = serde_json::json!({
        "k_scores": k_scores,
        "restarts": opts.restarts,
        "seed": opts.seed,
        "inertia": km.inertia,
        "user_clusters": user_clusters.len(),
        "outliers": outliers.len(),
    })
    .to_string();
    cat.apply_clustering(&ClusteringPlan {
        model: model.to_string(),
        k_method: method.clone(),
        details,
        clusters: planned,
    })?;
    Ok(ClusterSummary {
        videos: ids.len(),
        k,
        k_method: method,
        unsorted: outliers.len(),
        k_scores,
    })
}

/// Videos that fit their cluster much worse than the others: cosine similarity to
/// their centroid far below that cluster's typical member (median − 3 robust
/// deviations, computed per cluster), or alone in their cluster. Pinned videos never
/// count.
fn find_outliers(data: &[Vec<f32>], km: &KMeans, fixed: &[Option<usize>]) -> HashSet<usize> {
    let mut out = HashSet::new();
    let sims: Vec<f32> = data.iter().zip(&km.labels).map(|(p, &l)| dot(p, &km.centroids[l])).collect();
    for j in 0..km.k {
        let members: Vec<usize> = (0..data.len()).filter(|&i| km.labels[i] == j).collect();
        if members.len() == 1 && fixed[members[0]].is_none() && data.len() > 2 {
            out.insert(members[0]);
            continue;
        }
        if members.len() < 5 {
            continue;
        }
        let mut s: Vec<f32> = members.iter().map(|&i| sims[i]).collect();
        s.sort_by(|a, b| a.total_cmp(b));
        let median = s[s.len() / 2];
        let mut dev: Vec<f32> = s.iter().map(|x| (x - median).abs()).collect();
        dev.sort_by(|a, b| a.total_cmp(b));
        let mad = dev[dev.len() / 2].max(0.02);
        for &i in &members {
            if fixed[i].is_none() && sims[i] < median - 3.0 * 1.4826 * mad {
                out.insert(i);
            }
        }
    }
    out
}

/// Files newly embedded videos into the existing clusters without re-clustering:
/// nearest centroid (user-named clusters included), or Unsorted if they fit none.
/// Returns how many were assigned; 0 when there is no clustering yet.
pub fn assign_new_videos(cat: &mut Catalogue, model: &str) -> Result<usize> {
    let clusters: Vec<(i64, Vec<f32>)> = {
        let mut stmt = cat.conn().prepare(
            "SELECT id, centroid FROM clusters WHERE kind = 'normal' AND model = ?1 AND centroid IS NOT NULL",
        )?;
        let rows = stmt.query_map([model], |r| {
            let b: Vec<u8> = r.get(1)?;
            Ok((r.get::<_, i64>(0)?, crate::util::bytes_to_f32s(&b)))
        })?;
        rows.collect::<rusqlite::Result<Vec<_>>>()?
            .into_iter()
            .filter(|(_, c)| !c.is_empty())
            .collect()
    };
    if clusters.is_empty() {
        return Ok(0);
    }
    let desc = cat.descriptors(model)?;
    let assigned: HashSet<i64> = cat.assignments()?.iter().map(|a| a.video_id).collect();
    if desc.iter().all(|(id, _)| assigned.contains(id)) {
        return Ok(0);
    }
    let raw: Vec<Vec<f32>> = desc.iter().map(|(_, v)| v.clone()).collect();
    // Same centring as when clustering, so centroids and points are comparable.
    let mean: Vec<f32> = cat
        .conn()
        .query_row("SELECT value FROM meta WHERE key = ?1", [mean_key(model)], |r| r.get::<_, String>(0))
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_default();
    let data = prepare_with(&raw, &mean);
    // Typical similarity of already-assigned members, to decide what "fits".
    let centroid_of: HashMap<i64, &Vec<f32>> = clusters.iter().map(|(id, c)| (*id, c)).collect();
    let mut member_sims = Vec::new();
    for a in cat.assignments()? {
        if let (Some(c), Some(i)) = (centroid_of.get(&a.cluster_id), desc.iter().position(|(id, _)| *id == a.video_id))
            && c.len() == data[i].len()
        {
            member_sims.push(dot(&data[i], c));
        }
    }
    member_sims.sort_by(|a, b| a.total_cmp(b));
    let floor = member_sims.get(member_sims.len() / 50).copied().unwrap_or(f32::NEG_INFINITY);
    let mut items = Vec::new();
    let mut unsorted_items = Vec::new();
    for (i, (vid, _)) in desc.iter().enumerate() {
        if assigned.contains(vid) {
            continue;
        }
        let (best, sim) = clusters
            .iter()
            .filter(|(_, c)| c.len() == data[i].len())
            .map(|(id, c)| (*id, dot(&data[i], c)))
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap_or((clusters[0].0, f32::NEG_INFINITY));
        if sim < floor {
            unsorted_items.push(*vid);
        } else {
            items.push((*vid, best, (1.0 - sim as f64).max(0.0)));
        }
    }
    if !unsorted_items.is_empty() {
        let uid = match cat.clusters()?.into_iter().find(|c| c.kind == "unsorted") {
            Some(c) => c.id,
            None => {
                let now = crate::util::now_secs();
                cat.conn().execute(
                    "INSERT INTO clusters (name, name_source, kind, model, created_at, updated_at) VALUES (?1, 'auto', 'unsorted', ?2, ?3, ?3)",
                    rusqlite::params![UNSORTED_NAME, model, now],
                )?;
                cat.conn().last_insert_rowid()
            }
        };
        items.extend(unsorted_items.into_iter().map(|v| (v, uid, 1.0)));
    }
    let n = items.len();
    cat.assign_auto(&items)?;
    Ok(n)
}
