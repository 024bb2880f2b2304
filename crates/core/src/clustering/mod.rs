//! Clustering the catalogue: prepare descriptors ([`space`]), choose k
//! ([`consensus`]), run k-means with user assignments pinned ([`kmeans`]), move misfits
//! to "Unsorted", name the clusters ([`naming`]) and store the result in one
//! transaction. [`assign`] files newly embedded videos into the existing clusters.

pub mod assign;
pub mod consensus;
pub mod kmeans;
pub mod linkage;
pub mod naming;
pub mod space;

pub use assign::assign_new_videos;
pub use consensus::{AutoK, Consensus};
pub use kmeans::KMeans;
pub use space::{FeatureSpace, LibrarySpace, concept_vector};

use crate::store::ClusterKind;
use crate::store::Source;
use crate::store::{Catalogue, ClusteringPlan, PlannedCluster};
use crate::util::dot;
use anyhow::Result;
use consensus::auto_k;
use std::collections::{HashMap, HashSet};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum KChoice {
    Fixed(usize),
    Auto,
}

/// How videos are clustered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// k-means in the plain space (mean frame features beside the concepts).
    Mean,
    /// The same in the space adapted to the library (`learn::head`), when the
    /// library has a trained head; else the plain space.
    Adapt,
    /// The adapted (or plain) space, then SCAN refines the partition.
    Scan,
}

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Method::Mean => "mean",
            Method::Adapt => "adapt",
            Method::Scan => "scan",
        }
    }

    pub fn parse(s: &str) -> Option<Method> {
        match s {
            "mean" => Some(Method::Mean),
            "adapt" => Some(Method::Adapt),
            "scan" => Some(Method::Scan),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ClusterOptions {
    pub k: KChoice,
    pub seed: u64,
    pub restarts: usize,
    /// Put videos that fit no cluster into "Unsorted".
    pub unsorted: bool,
    pub method: Method,
    pub scan: crate::learn::scan::ScanOptions,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions {
            k: KChoice::Auto,
            seed: 1,
            restarts: 10,
            unsorted: true,
            method: Method::Mean,
            scan: Default::default(),
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

/// Descriptors and class probabilities of the embedded videos, in id order.
pub struct Points {
    pub ids: Vec<i64>,
    pub descriptors: Vec<Vec<f32>>,
    pub class_probs: Vec<Vec<f32>>,
    /// Whether the video is a copy of an earlier one's file ([`copies`]).
    pub is_copy: Vec<bool>,
}

/// Every embedded, present video of the catalogue.
pub fn load_points(cat: &Catalogue, model: &str) -> Result<Points> {
    let desc = cat.descriptors(model)?;
    let mut probs = cat.class_probs(model)?;
    let mut ids = Vec::with_capacity(desc.len());
    let mut d = Vec::with_capacity(desc.len());
    let mut p = Vec::with_capacity(desc.len());
    for (id, v) in desc {
        let Some(pr) = probs.remove(&id) else {
            continue;
        };
        ids.push(id);
        d.push(v);
        p.push(pr);
    }
    let fingerprints = cat.fingerprints()?;
    let fps: Vec<Option<&[u8]>> = ids
        .iter()
        .map(|id| fingerprints.get(id).map(Vec::as_slice))
        .collect();
    let is_copy = copies(&fps, &d);
    Ok(Points {
        ids,
        descriptors: d,
        class_probs: p,
        is_copy,
    })
}

/// For each point, whether an earlier point is a copy of the same file: the same
/// content fingerprint and the same descriptor bit for bit (embedding gives a copy its
/// original's results). Different files with equal descriptors (the same still picture
/// encoded twice, say) are not copies: a group of them is a real cluster.
pub fn copies(fingerprints: &[Option<&[u8]>], data: &[Vec<f32>]) -> Vec<bool> {
    let mut seen: HashSet<(&[u8], Vec<u32>)> = HashSet::with_capacity(data.len());
    fingerprints
        .iter()
        .zip(data)
        .map(|(fp, d)| {
            fp.is_some_and(|fp| !seen.insert((fp, d.iter().map(|x| x.to_bits()).collect())))
        })
        .collect()
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
///
/// Without pinned points or given centres the final k-means starts from the
/// consensus partition at k. When a person has shaped clusters, the consensus only
/// chooses k, and k-means++ with restarts fills the clusters around the kept ones.
pub fn cluster_points(
    data: &[Vec<f32>],
    is_copy: &[bool],
    opts: &ClusterOptions,
    fixed: &[Option<usize>],
    initial: &[Vec<f32>],
    min_k: usize,
) -> Clustering {
    let shaped = !initial.is_empty() || fixed.iter().any(Option::is_some);
    let needs_consensus = !shaped || opts.k == KChoice::Auto;
    let consensus = if needs_consensus {
        Consensus::build(data, is_copy, opts.seed)
    } else {
        None
    };
    let (k, method, k_scores) = match opts.k {
        KChoice::Fixed(k) => (k.max(min_k).min(data.len()), format!("fixed k={k}"), vec![]),
        KChoice::Auto => {
            let auto = auto_k(consensus.as_ref());
            (auto.k.max(min_k), auto.method, auto.scores)
        }
    };
    let slots_pinned = fixed.iter().flatten().map(|s| s + 1).max().unwrap_or(0);
    let mut km = match &consensus {
        Some(c) if !shaped && k >= 2 => kmeans::kmeans_from(data, c.centres(data, k), fixed),
        // The consensus partition, its clusters matched to the person's: k-means++
        // restarts around the pinned points got stuck, and correcting a few videos
        // made the others worse.
        Some(c) if k >= 2 && initial.len() >= slots_pinned && initial.len() <= k => {
            kmeans::kmeans_from(data, around_pinned(initial, c.centres(data, k), k), fixed)
        }
        _ => kmeans::kmeans_constrained(data, k.max(1), opts.restarts, opts.seed, fixed, initial),
    };
    let mut method = method;
    if opts.method == Method::Scan
        && km.k >= 2
        && let Some(refined) = scan_refine(data, &km, fixed, &opts.scan)
    {
        km = refined;
        method.push_str(" + SCAN");
    }
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

/// The consensus centres (`cut`) ordered so that the person's clusters come first:
/// each takes the consensus centre most similar to its members' mean (`initial`);
/// the rest follow, `k` in all. A few taught videos make a noisy mean, so the
/// consensus centre they point at is the better start.
fn around_pinned(initial: &[Vec<f32>], mut cut: Vec<Vec<f32>>, k: usize) -> Vec<Vec<f32>> {
    let mut out = Vec::with_capacity(k);
    for c in initial {
        if cut.is_empty() {
            out.push(c.clone());
            continue;
        }
        let nearest = (0..cut.len())
            .max_by(|&a, &b| dot(c, &cut[a]).total_cmp(&dot(c, &cut[b])).then(b.cmp(&a)))
            .expect("not empty");
        out.push(cut.remove(nearest));
    }
    out.extend(cut);
    out.truncate(k);
    out
}

/// SCAN's refinement of a k-means partition (pinned points keep their cluster), as a
/// partition with its centres; None if SCAN failed (the partition is kept then).
fn scan_refine(
    data: &[Vec<f32>],
    km: &KMeans,
    fixed: &[Option<usize>],
    opts: &crate::learn::scan::ScanOptions,
) -> Option<KMeans> {
    let centres: Vec<Vec<f32>> = km
        .centroids
        .iter()
        .map(|c| {
            let mut c = c.clone();
            reelmap_numeric::l2_normalize(&mut c);
            c
        })
        .collect();
    let neighbours = crate::learn::relabel::knn(data, opts.neighbours);
    let mut labels = crate::learn::scan::refine(data, &centres, &neighbours, opts).ok()?;
    for (l, f) in labels.iter_mut().zip(fixed) {
        if let Some(slot) = f {
            *l = *slot;
        }
    }
    Some(kmeans::partition(data, km.k, labels))
}

/// Re-clusters the whole catalogue for `model`, keeping user assignments and
/// user-named clusters.
pub fn cluster_library(
    cat: &mut Catalogue,
    model: &str,
    opts: &ClusterOptions,
) -> Result<ClusterSummary> {
    let Points {
        ids,
        descriptors: raw,
        class_probs: raw_probs,
        is_copy,
    } = load_points(cat, model)?;
    if ids.is_empty() {
        return Ok(ClusterSummary {
            videos: 0,
            k: 0,
            k_method: "no embedded videos".into(),
            unsorted: 0,
            k_scores: vec![],
        });
    }
    let (space, space_note) = library_space(cat, model, opts.method, &raw, &raw_probs)?;
    let data = space.transform_all(&raw, &raw_probs)?;
    // Remember the space so that videos added later are compared in the same one.
    space.save(cat, model)?;
    let probs: HashMap<i64, Vec<f32>> =
        ids.iter().copied().zip(raw_probs.iter().cloned()).collect();

    // Clusters a person shaped: user-named or holding user-assigned videos.
    let existing = cat.clusters()?;
    let assignments = cat.assignments()?;
    let user_asg: HashMap<i64, i64> = assignments
        .iter()
        .filter(|a| a.source == Source::User)
        .map(|a| (a.video_id, a.cluster_id))
        .collect();
    let user_clusters: Vec<i64> = existing
        .iter()
        .filter(|c| {
            c.kind == ClusterKind::Normal
                && (c.name_source == Source::User || user_asg.values().any(|v| *v == c.id))
        })
        .map(|c| c.id)
        .collect();
    let unsorted_id = existing
        .iter()
        .find(|c| c.kind == ClusterKind::Unsorted)
        .map(|c| c.id);
    let slot_of: HashMap<i64, usize> = user_clusters
        .iter()
        .enumerate()
        .map(|(i, id)| (*id, i))
        .collect();
    let user_fixed: Vec<Option<usize>> = ids
        .iter()
        .map(|v| user_asg.get(v).and_then(|c| slot_of.get(c)).copied())
        .collect();
    // What the person taught spreads to the videos near it: those reached with
    // confidence are pinned beside the taught ones (as automatic members).
    let fixed = spread_taught(cat, &ids, &data, &user_fixed, &slot_of)?;
    // Initial centres of user clusters: mean of their current members.
    let old_members: HashMap<i64, i64> = assignments
        .iter()
        .map(|a| (a.video_id, a.cluster_id))
        .collect();
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

    let clustering = cluster_points(&data, &is_copy, opts, &fixed, &initial, user_clusters.len());
    let Clustering {
        km,
        outliers,
        mut method,
        k_scores,
    } = clustering;
    if let Some(note) = space_note {
        method = format!("{method}; {note}");
    }
    let k = km.k;

    // Old automatic clusters keep their id when they mostly hold the same videos.
    let old_auto: Vec<i64> = existing
        .iter()
        .filter(|c| c.kind == ClusterKind::Normal && !user_clusters.contains(&c.id))
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
        .filter(|c| c.name_source == Source::User)
        .map(|c| c.name.clone())
        .chain(std::iter::once(UNSORTED_NAME.to_string()))
        .collect();
    let names = naming::name_clusters(&mean_probs, &user_names)?;

    let mut planned = Vec::new();
    for j in 0..k {
        let members: Vec<(i64, f64)> = (0..ids.len())
            .filter(|&i| km.labels[i] == j && user_fixed[i].is_none() && !outliers.contains(&i))
            .map(|i| {
                (
                    ids[i],
                    (1.0 - dot(&data[i], &km.centroids[j]) as f64).max(0.0),
                )
            })
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

/// The points of these videos in the space the library was clustered in: the
/// adapted space when the last clustering used it (and its head is still stored),
/// else the plain space fitted to these videos. For the map and nearest videos.
pub fn points_in_library_space(
    cat: &Catalogue,
    model: &str,
    pts: &Points,
) -> Result<Vec<Vec<f32>>> {
    match LibrarySpace::load(cat, model)? {
        Some(space) if space.is_adapted() => {
            space.transform_all(&pts.descriptors, &pts.class_probs)
        }
        _ => Ok(FeatureSpace::fit(&pts.descriptors, &pts.class_probs)
            .transform_all(&pts.descriptors, &pts.class_probs)),
    }
}

/// The space to cluster in for `method`, and a note when it is not what was asked.
fn library_space(
    cat: &Catalogue,
    model: &str,
    method: Method,
    raw: &[Vec<f32>],
    probs: &[Vec<f32>],
) -> Result<(LibrarySpace, Option<String>)> {
    if method == Method::Mean {
        return Ok((LibrarySpace::plain(raw, probs), None));
    }
    match crate::learn::trained_head(cat, model)? {
        Some((head, details)) => Ok((
            LibrarySpace::adapted(details.space, head, raw, probs)?,
            None,
        )),
        None => Ok((
            LibrarySpace::plain(raw, probs),
            Some("plain space: the library has no adapted head".into()),
        )),
    }
}

/// `user_fixed` (each video's user cluster slot) plus the videos that label
/// spreading from them reaches with confidence, unless the person rejected that.
fn spread_taught(
    cat: &Catalogue,
    ids: &[i64],
    data: &[Vec<f32>],
    user_fixed: &[Option<usize>],
    slot_of: &HashMap<i64, usize>,
) -> Result<Vec<Option<usize>>> {
    let taught: Vec<(usize, usize)> = user_fixed
        .iter()
        .enumerate()
        .filter_map(|(i, s)| s.map(|s| (i, s)))
        .collect();
    if taught.is_empty() {
        return Ok(user_fixed.to_vec());
    }
    let index: HashMap<i64, usize> = ids.iter().enumerate().map(|(i, v)| (*v, i)).collect();
    let refused: Vec<(usize, usize)> = cat
        .rejections()?
        .into_iter()
        .filter_map(|(v, c)| Some((*index.get(&v)?, *slot_of.get(&c)?)))
        .collect();
    let spread = crate::learn::relabel::spread(data, &taught, slot_of.len(), &refused);
    Ok(user_fixed
        .iter()
        .zip(spread)
        .map(|(f, s)| f.or(s.filter(|s| s.accepted).map(|s| s.class)))
        .collect())
}

/// Videos that fit no cluster: those left alone in a cluster of their own (a folder
/// of one video is not a group). Pinned videos never count.
///
/// A distance-based rule (e.g. similarity to the centroid below the cluster's Tukey
/// fence) was tried on dev-photo5 and dev-real: half of the videos it flagged were
/// correct members, whose second-best cluster was far worse still, so it lowered
/// accuracy without helping anyone. Singletons are the clear case.
fn find_outliers(data: &[Vec<f32>], km: &KMeans, fixed: &[Option<usize>]) -> HashSet<usize> {
    let mut out = HashSet::new();
    if data.len() <= 2 {
        return out;
    }
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); km.k];
    for (i, &l) in km.labels.iter().enumerate() {
        members[l].push(i);
    }
    for m in members {
        if m.len() == 1 && fixed[m[0]].is_none() {
            out.insert(m[0]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use reelmap_numeric::l2_normalize;

    /// Unit vectors around `sizes.len()` random directions in 64 dimensions.
    fn groups(sizes: &[usize], spread: f32, seed: u64) -> (Vec<Vec<f32>>, Vec<usize>) {
        let mut rng = reelmap_numeric::SplitMix64::seeded(seed);
        let mut r = move || rng.next_f64() as f32 - 0.5;
        let centres: Vec<Vec<f32>> = sizes
            .iter()
            .map(|_| (0..64).map(|_| r()).collect())
            .collect();
        let mut data = Vec::new();
        let mut truth = Vec::new();
        for (c, &size) in sizes.iter().enumerate() {
            for _ in 0..size {
                let mut p: Vec<f32> = centres[c].iter().map(|x| x + spread * r()).collect();
                l2_normalize(&mut p);
                data.push(p);
                truth.push(c);
            }
        }
        (data, truth)
    }

    #[test]
    fn consensus_finds_unequal_groups_on_every_seed() {
        // One big group, several middling ones and two small ones, overlapping enough
        // that single k-means runs disagree. (Measured: the silhouette of the best of
        // 10 k-means runs per k chose k = 5, 4, 4, 4 on these seeds, ACC 0.84-0.92.)
        let (data, truth) = groups(&[40, 12, 10, 8, 6, 4, 3], 1.4, 5);
        for seed in 1..=4 {
            let opts = ClusterOptions {
                seed,
                unsorted: false,
                ..Default::default()
            };
            let n = data.len();
            let c = cluster_points(&data, &vec![false; n], &opts, &vec![None; n], &[], 0);
            assert_eq!(c.method, "consensus silhouette");
            let s = crate::metrics::score(&truth, &c.km.labels);
            assert_eq!(
                (c.km.k, s.accuracy),
                (7, 1.0),
                "seed {seed}: {:?}",
                c.k_scores
            );
        }
    }

    /// Automatic k on `data`, whose videos have these fingerprints.
    fn cluster_files(data: &[Vec<f32>], fingerprints: &[Vec<u8>]) -> Clustering {
        let fps: Vec<Option<&[u8]>> = fingerprints.iter().map(|f| Some(&f[..])).collect();
        let opts = ClusterOptions {
            seed: 1,
            unsorted: false,
            ..Default::default()
        };
        let n = data.len();
        cluster_points(data, &copies(&fps, data), &opts, &vec![None; n], &[], 0)
    }

    #[test]
    fn copies_do_not_change_the_automatic_k() {
        // Every video twice (a backup folder beside the originals), and some three times.
        let (data, truth) = groups(&[40, 12, 10, 8, 6, 4, 3], 1.4, 5);
        let n = data.len();
        let again: Vec<usize> = (0..n).chain(0..n).chain((0..n).step_by(3)).collect();
        let doubled: Vec<Vec<f32>> = again.iter().map(|&i| data[i].clone()).collect();
        let truth2: Vec<usize> = again.iter().map(|&i| truth[i]).collect();
        let fingerprints: Vec<Vec<u8>> = again.iter().map(|&i| vec![i as u8, 7]).collect();
        let fps: Vec<Option<&[u8]>> = fingerprints.iter().map(|f| Some(&f[..])).collect();
        assert_eq!(copies(&fps, &doubled).iter().filter(|c| !**c).count(), n);
        let c = cluster_files(&doubled, &fingerprints);
        let s = crate::metrics::score(&truth2, &c.km.labels);
        assert_eq!((c.km.k, s.accuracy), (7, 1.0), "{:?}", c.k_scores);
        // Taken for different files, the pairs pull k up.
        let different: Vec<Vec<u8>> = (0..again.len())
            .map(|i| (i as u32).to_le_bytes().to_vec())
            .collect();
        let c = cluster_files(&doubled, &different);
        assert!(c.km.k > 7, "k = {}", c.km.k);
    }

    #[test]
    fn identical_videos_that_are_not_copies_form_their_cluster() {
        // A still test card encoded into ten different files: equal descriptors,
        // different fingerprints. They are a group like any other.
        let (mut data, mut truth) = groups(&[20, 15, 12], 0.6, 3);
        let mut card: Vec<f32> = (0..64).map(|i| ((i * 37 % 11) as f32) - 5.0).collect();
        l2_normalize(&mut card);
        for _ in 0..10 {
            data.push(card.clone());
            truth.push(3);
        }
        let fingerprints: Vec<Vec<u8>> = (0..data.len()).map(|i| vec![i as u8]).collect();
        let fps: Vec<Option<&[u8]>> = fingerprints.iter().map(|f| Some(&f[..])).collect();
        assert!(copies(&fps, &data).iter().all(|c| !c));
        let c = cluster_files(&data, &fingerprints);
        let s = crate::metrics::score(&truth, &c.km.labels);
        assert_eq!((c.km.k, s.accuracy), (4, 1.0), "{:?}", c.k_scores);
    }

    #[test]
    fn consensus_centres_are_the_means_of_the_cut() {
        let (data, _) = groups(&[5, 5, 5], 0.2, 2);
        let c = Consensus::build(&data, &[false; 15], 1).expect("enough points");
        let labels = c.labels(3);
        let centres = c.centres(&data, 3);
        for (j, centre) in centres.iter().enumerate() {
            let members: Vec<&Vec<f32>> = data
                .iter()
                .zip(&labels)
                .filter(|(_, l)| **l == j)
                .map(|(p, _)| p)
                .collect();
            for (d, &x) in centre.iter().enumerate() {
                let mean = members.iter().map(|p| p[d]).sum::<f32>() / members.len() as f32;
                assert!((mean - x).abs() < 1e-6);
            }
        }
        assert!(Consensus::build(&data[..2], &[false; 2], 1).is_none());
    }
}
