//! Filing newly embedded videos into the existing clusters without re-clustering.

use super::space::{FeatureSpace, space_key};
use super::{Points, UNSORTED_NAME, load_points};
use crate::store::Catalogue;
use anyhow::Result;
use reelmap_numeric::dot;
use std::collections::{HashMap, HashSet};

/// Files newly embedded videos into the existing clusters without re-clustering:
/// nearest centroid (user-named clusters included), or Unsorted if they fit none.
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
    let space: FeatureSpace = cat
        .meta(&space_key(model))?
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_else(|| FeatureSpace::fit(&raw, &raw_probs));
    let data = space.transform_all(&raw, &raw_probs);
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
