//! Filing newly embedded videos into the existing clusters without re-clustering.

use super::space::LibrarySpace;
use super::{Points, UNSORTED_NAME, load_points};
use crate::store::Catalogue;
use anyhow::Result;
use reelmap_numeric::dot;
use std::collections::{HashMap, HashSet};

/// Files newly embedded videos into the existing clusters without re-clustering:
/// first by what the person taught (a new video that label spreading from the
/// user-assigned videos reaches with confidence joins their cluster), else the
/// nearest centroid (user-named clusters included), or Unsorted if it fits none.
/// Returns how many were assigned; 0 when there is no clustering yet.
pub fn assign_new_videos(cat: &mut Catalogue, model: &str) -> Result<usize> {
    let clusters: Vec<(i64, Vec<f32>)> = {
        cat.centroids(model)?
            .into_iter()
            .filter(|(_, c)| !c.is_empty())
            .collect()
    };
    if clusters.is_empty() {
        return Ok(0);
    }
    let Points {
        ids,
        descriptors: raw,
        class_probs: raw_probs,
        ..
    } = load_points(cat, model)?;
    let assigned: HashSet<i64> = cat.assignments()?.iter().map(|a| a.video_id).collect();
    if ids.iter().all(|id| assigned.contains(id)) {
        return Ok(0);
    }
    // Same space as when clustering, so centroids and points are comparable.
    let space =
        LibrarySpace::load(cat, model)?.unwrap_or_else(|| LibrarySpace::plain(&raw, &raw_probs));
    let data = space.transform_all(&raw, &raw_probs)?;
    let taught = taught_clusters(cat, &ids, &data)?;
    // Typical similarity of already-assigned members, to decide what "fits".
    let centroid_of: HashMap<i64, &Vec<f32>> = clusters.iter().map(|(id, c)| (*id, c)).collect();
    let mut member_sims = Vec::new();
    for a in cat.assignments()? {
        if let (Some(c), Some(i)) = (
            centroid_of.get(&a.cluster_id),
            ids.iter().position(|id| *id == a.video_id),
        ) && c.len() == data[i].len()
        {
            member_sims.push(dot(&data[i], c));
        }
    }
    member_sims.sort_by(|a, b| a.total_cmp(b));
    let floor = member_sims
        .get(member_sims.len() / 50)
        .copied()
        .unwrap_or(f32::NEG_INFINITY);
    let mut items = Vec::new();
    let mut unsorted_items = Vec::new();
    for (i, vid) in ids.iter().enumerate() {
        if assigned.contains(vid) {
            continue;
        }
        if let Some(&cluster) = taught.get(&i) {
            let sim = centroid_of.get(&cluster).map_or(0.0, |c| dot(&data[i], c));
            items.push((*vid, cluster, (1.0 - sim as f64).max(0.0)));
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
        let uid = cat.unsorted_cluster(UNSORTED_NAME, model)?;
        items.extend(unsorted_items.into_iter().map(|v| (v, uid, 1.0)));
    }
    let n = items.len();
    cat.assign_auto(&items)?;
    Ok(n)
}

/// The videos (by index) that label spreading from the user-assigned ones reaches
/// with confidence, with the cluster they reach (rejected pairs excluded).
pub(crate) fn taught_clusters(
    cat: &Catalogue,
    ids: &[i64],
    data: &[Vec<f32>],
) -> Result<HashMap<usize, i64>> {
    Ok(taught_clusters_scored(cat, ids, data)?
        .into_iter()
        .filter(|(_, (_, _, accepted))| *accepted)
        .map(|(i, (c, _, _))| (i, c))
        .collect())
}

/// Every video (by index) that label spreading from the user-assigned ones reaches:
/// (cluster, confidence, confident enough to be filed there).
pub(crate) fn taught_clusters_scored(
    cat: &Catalogue,
    ids: &[i64],
    data: &[Vec<f32>],
) -> Result<HashMap<usize, (i64, f32, bool)>> {
    let index: HashMap<i64, usize> = ids.iter().enumerate().map(|(i, v)| (*v, i)).collect();
    let mut clusters: Vec<i64> = Vec::new();
    let mut taught = Vec::new();
    for a in cat.assignments()? {
        if a.source != crate::store::Source::User {
            continue;
        }
        let Some(&i) = index.get(&a.video_id) else {
            continue;
        };
        let class = match clusters.iter().position(|c| *c == a.cluster_id) {
            Some(c) => c,
            None => {
                clusters.push(a.cluster_id);
                clusters.len() - 1
            }
        };
        taught.push((i, class));
    }
    if taught.is_empty() {
        return Ok(HashMap::new());
    }
    let refused: Vec<(usize, usize)> = cat
        .rejections()?
        .into_iter()
        .filter_map(|(v, c)| Some((*index.get(&v)?, clusters.iter().position(|x| *x == c)?)))
        .collect();
    Ok(
        crate::learn::relabel::spread(data, &taught, clusters.len(), &refused)
            .into_iter()
            .enumerate()
            .filter_map(|(i, s)| s.map(|s| (i, (clusters[s.class], s.confidence, s.accepted))))
            .collect(),
    )
}
