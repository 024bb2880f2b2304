//! `reelmap eval`: clustering quality on a folder whose top-level subfolders are the
//! true categories, for each clustering method side by side, and the relabel
//! benchmark (a simulated person corrects some videos: what happens to the others).

use crate::clustering::{self, ClusterOptions, KChoice, LibrarySpace, Method, naming};
use crate::learn::{self, head::HeadOptions, relabel};
use crate::metrics::{self, Scores};
use crate::store::{Catalogue, VideoStatus};
use anyhow::{Result, bail};
use reelmap_numeric::SplitMix64;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

#[derive(Debug, Clone, serde::Serialize)]
pub struct EvalRun {
    pub method: Method,
    pub label: String,
    pub k: usize,
    pub k_method: String,
    pub scores: Scores,
    /// Per cluster: name, size, and the category most of its videos belong to.
    pub clusters: Vec<(String, usize, String)>,
    /// The automatic-k criterion for every k tried.
    pub k_scores: Vec<(usize, f64)>,
}

/// One method's space: whether it was adapted, and how long learning it took.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EvalSpace {
    pub method: Method,
    pub adapted: bool,
    pub note: Option<String>,
    pub train_seconds: f64,
}

/// The relabel benchmark of one method: `draws` times, a random `fraction` of the
/// videos is taught its true category (as a person moving them would), and the other
/// videos are scored with only those pinned, and with what they taught spread too.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RelabelRun {
    pub method: Method,
    /// Which videos the person corrects: "random" ones, or "misfiled" ones (in
    /// another folder than the one their category fills, as a person fixing folders
    /// would pick; each is dropped into that folder).
    pub pick: &'static str,
    pub fraction: f64,
    pub draws: usize,
    /// Mean (ACC, NMI) of the other videos with no correction at all.
    pub untaught: (f64, f64),
    /// ... with the corrected videos pinned.
    pub pinned: (f64, f64),
    /// ... with the corrected videos pinned and spread to their neighbours.
    pub spread: (f64, f64),
    /// Draws where spreading gave a higher / lower ACC than pinning alone.
    pub wins: usize,
    pub losses: usize,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct EvalReport {
    pub root: String,
    pub model: String,
    pub videos: usize,
    pub categories: Vec<(String, usize)>,
    pub spaces: Vec<EvalSpace>,
    pub runs: Vec<EvalRun>,
    pub relabel: Vec<RelabelRun>,
}

/// What to evaluate.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    pub seed: u64,
    /// k of the "k given" run (default: the number of categories).
    pub k: Option<usize>,
    pub methods: Vec<Method>,
    pub head: HeadOptions,
    /// The relabel benchmark: the share of videos corrected, and how many draws.
    pub relabel: Option<(f64, usize)>,
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions {
            seed: 1,
            k: None,
            methods: vec![Method::Mean],
            head: HeadOptions::default(),
            relabel: None,
        }
    }
}

/// An embedded video with its true category.
pub struct Labelled {
    pub id: i64,
    pub category: String,
    pub descriptor: Vec<f32>,
    pub class_probs: Vec<f32>,
}

/// Category of each embedded video under `root`: its top-level subfolder.
pub fn truth_labels(cat: &Catalogue, model: &str, root: &Path) -> Result<Vec<Labelled>> {
    let paths: HashMap<i64, std::path::PathBuf> = cat
        .videos(Some(VideoStatus::Ok))?
        .into_iter()
        .map(|v| (v.id, v.path))
        .collect();
    let mut out = Vec::new();
    let pts = clustering::load_points(cat, model)?;
    for ((id, d), pr) in pts
        .ids
        .into_iter()
        .zip(pts.descriptors)
        .zip(pts.class_probs)
    {
        let Some(p) = paths.get(&id) else { continue };
        let Ok(rel) = p.strip_prefix(root) else {
            continue;
        };
        let mut comps = rel.components();
        let (Some(first), Some(_)) = (comps.next(), comps.next()) else {
            continue; // directly in the root: no category
        };
        out.push(Labelled {
            id,
            category: first.as_os_str().to_string_lossy().into_owned(),
            descriptor: d,
            class_probs: pr,
        });
    }
    Ok(out)
}

pub fn evaluate(
    cat: &Catalogue,
    model: &str,
    root: &Path,
    opts: &EvalOptions,
) -> Result<EvalReport> {
    let labelled = truth_labels(cat, model, root)?;
    if labelled.is_empty() {
        bail!("no embedded videos in subfolders of {}", root.display());
    }
    let mut cat_index: BTreeMap<String, usize> = BTreeMap::new();
    for l in &labelled {
        let n = cat_index.len();
        cat_index.entry(l.category.clone()).or_insert(n);
    }
    let names: Vec<String> = cat_index.keys().cloned().collect();
    let idx: HashMap<&str, usize> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    let truth: Vec<usize> = labelled.iter().map(|l| idx[l.category.as_str()]).collect();
    let raw: Vec<Vec<f32>> = labelled.iter().map(|l| l.descriptor.clone()).collect();
    let raw_probs: Vec<Vec<f32>> = labelled.iter().map(|l| l.class_probs.clone()).collect();
    let ids: Vec<i64> = labelled.iter().map(|l| l.id).collect();
    let mut counts = vec![0usize; names.len()];
    for &t in &truth {
        counts[t] += 1;
    }
    let fingerprints = cat.fingerprints()?;
    let fps: Vec<Option<&[u8]>> = labelled
        .iter()
        .map(|l| fingerprints.get(&l.id).map(Vec::as_slice))
        .collect();
    let is_copy = clustering::copies(&fps, &raw);
    let k_true = opts.k.unwrap_or(names.len());

    let mut spaces = Vec::new();
    let mut runs = Vec::new();
    let mut relabel_runs = Vec::new();
    // The head is trained once, for the methods that read it.
    let mut adapted: Option<(LibrarySpace, f64)> = None;
    for &method in &opts.methods {
        let (space, note, seconds) = match method {
            Method::Mean => (LibrarySpace::plain(&raw, &raw_probs), None, 0.0),
            Method::Adapt | Method::Scan => {
                if adapted.is_none() && labelled.len() >= opts.head.min_videos.max(2) {
                    let t = std::time::Instant::now();
                    let (set, base) = learn::training_set_of(cat, model, &ids, &raw, &raw_probs)?;
                    let ck = learn::head::train(
                        &set,
                        &HeadOptions {
                            seed: opts.seed,
                            ..opts.head.clone()
                        },
                        None,
                        &mut |_, _, _| true,
                        0,
                        &mut |_| Ok(()),
                    )?;
                    let space = LibrarySpace::adapted(base, ck.head, &raw, &raw_probs)?;
                    adapted = Some((space, t.elapsed().as_secs_f64()));
                }
                match &adapted {
                    Some((space, secs)) => (space.clone(), None, *secs),
                    None => (
                        LibrarySpace::plain(&raw, &raw_probs),
                        Some(format!(
                            "not adapted: {} videos, adapting starts at {}",
                            labelled.len(),
                            opts.head.min_videos
                        )),
                        0.0,
                    ),
                }
            }
        };
        spaces.push(EvalSpace {
            method,
            adapted: space.is_adapted(),
            note,
            train_seconds: seconds,
        });
        let data = space.transform_all(&raw, &raw_probs)?;
        let configs = [
            (
                format!("k = {k_true} (given)"),
                KChoice::Fixed(k_true),
                false,
            ),
            ("automatic k".to_string(), KChoice::Auto, false),
            (
                "automatic k + Unsorted (as organise)".to_string(),
                KChoice::Auto,
                true,
            ),
        ];
        for (label, k, unsorted) in configs {
            let copts = ClusterOptions {
                k,
                seed: opts.seed,
                unsorted,
                method,
                ..Default::default()
            };
            let none = vec![None; data.len()];
            let c = clustering::cluster_points(&data, &is_copy, &copts, &none, &[], 0);
            let unsorted_label = c.km.k;
            let pred: Vec<usize> = (0..data.len())
                .map(|i| {
                    if c.outliers.contains(&i) {
                        unsorted_label
                    } else {
                        c.km.labels[i]
                    }
                })
                .collect();
            runs.push(EvalRun {
                method,
                label,
                k: c.km.k,
                k_method: c.method,
                scores: metrics::score(&truth, &pred),
                clusters: describe(&pred, c.km.k, &truth, &names, &raw_probs)?,
                k_scores: c.k_scores,
            });
        }
        if let Some((fraction, draws)) = opts.relabel {
            for misfiled in [false, true] {
                relabel_runs.push(relabel_bench(
                    &data, &is_copy, &truth, method, fraction, draws, opts.seed, misfiled,
                ));
            }
        }
    }
    Ok(EvalReport {
        root: root.display().to_string(),
        model: model.to_string(),
        videos: labelled.len(),
        categories: names.into_iter().zip(counts).collect(),
        spaces,
        runs,
        relabel: relabel_runs,
    })
}

/// Per cluster of `pred` (label `k` is Unsorted): its name as people would see it,
/// its size and its main category.
fn describe(
    pred: &[usize],
    k: usize,
    truth: &[usize],
    names: &[String],
    probs: &[Vec<f32>],
) -> Result<Vec<(String, usize, String)>> {
    let classes = probs.first().map_or(1000, Vec::len);
    let mut mean = vec![vec![0f32; classes]; k];
    let mut sizes = vec![0usize; k + 1];
    for (i, p) in probs.iter().enumerate() {
        sizes[pred[i]] += 1;
        if pred[i] < k {
            mean[pred[i]].iter_mut().zip(p).for_each(|(a, b)| *a += b);
        }
    }
    for (m, &s) in mean.iter_mut().zip(&sizes) {
        if s > 0 {
            m.iter_mut().for_each(|x| *x /= s as f32);
        }
    }
    let cluster_names = naming::name_clusters(&mean, &[clustering::UNSORTED_NAME.to_string()])?;
    let mut out = Vec::new();
    for j in 0..=k {
        if sizes[j] == 0 {
            continue;
        }
        let mut by_cat = vec![0usize; names.len()];
        for i in 0..pred.len() {
            if pred[i] == j {
                by_cat[truth[i]] += 1;
            }
        }
        let major = (0..names.len()).max_by_key(|&c| by_cat[c]).unwrap_or(0);
        let name = if j == k {
            clustering::UNSORTED_NAME.to_string()
        } else {
            cluster_names[j].name.clone()
        };
        out.push((
            name,
            sizes[j],
            format!("{} ({}/{})", names[major], by_cat[major], sizes[j]),
        ));
    }
    Ok(out)
}

/// The relabel benchmark on one space (see [`RelabelRun`]). The taught videos'
/// categories become pinned clusters started at their taught members' mean, as
/// moving videos in the UI does; k is chosen automatically, at least the taught
/// categories.
/// The category whose folder cluster `c` is (usize::MAX: none).
fn truth_home_category(home: &HashMap<usize, usize>, c: usize) -> usize {
    home.iter()
        .find(|(_, l)| **l == c)
        .map_or(usize::MAX, |(t, _)| *t)
}

/// The cluster each category fills (the one-to-one matching the accuracy uses).
fn category_clusters(truth: &[usize], labels: &[usize]) -> HashMap<usize, usize> {
    let rows = truth.iter().max().map_or(0, |m| m + 1);
    let cols = labels.iter().max().map_or(0, |m| m + 1);
    let size = rows.max(cols);
    let mut count = vec![vec![0f64; size]; size];
    for (&t, &l) in truth.iter().zip(labels) {
        count[t][l] += 1.0;
    }
    let max = count.iter().flatten().cloned().fold(0.0, f64::max);
    let cost: Vec<Vec<f64>> = count
        .iter()
        .map(|r| r.iter().map(|c| max - c).collect())
        .collect();
    metrics::hungarian(&cost)
        .into_iter()
        .enumerate()
        .filter(|&(t, l)| t < rows && l < cols && count[t][l] > 0.0)
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn relabel_bench(
    data: &[Vec<f32>],
    is_copy: &[bool],
    truth: &[usize],
    method: Method,
    fraction: f64,
    draws: usize,
    seed: u64,
    misfiled: bool,
) -> RelabelRun {
    let n = data.len();
    let taught_n = ((fraction * n as f64).round() as usize).clamp(1, n.saturating_sub(1).max(1));
    let opts = ClusterOptions {
        seed,
        unsorted: false,
        method,
        ..Default::default()
    };
    let free = vec![None; n];
    let untaught_base = clustering::cluster_points(data, is_copy, &opts, &free, &[], 0);
    let (mut base, mut pinned, mut spread) = ((0.0, 0.0), (0.0, 0.0), (0.0, 0.0));
    let (mut wins, mut losses) = (0, 0);
    let score_others = |labels: &[usize], taught: &[bool]| -> (f64, f64) {
        let (t, p): (Vec<usize>, Vec<usize>) = (0..n)
            .filter(|&i| !taught[i])
            .map(|i| (truth[i], labels[i]))
            .unzip();
        let s = metrics::score(&t, &p);
        (s.accuracy, s.nmi)
    };
    let base_labels = &untaught_base.km.labels;
    let home = category_clusters(truth, base_labels);
    // The videos a person would correct: all, or those outside their category's
    // folder.
    let pool: Vec<usize> = (0..n)
        .filter(|&i| !misfiled || home.get(&truth[i]) != Some(&base_labels[i]))
        .collect();
    let taught_n = taught_n.min(pool.len().saturating_sub(1).max(1));
    for d in 0..draws {
        let mut rng = SplitMix64::seeded(seed.wrapping_mul(1000).wrapping_add(d as u64));
        let mut order = pool.clone();
        for i in 0..taught_n.min(order.len()) {
            let j = i + rng.below(order.len() - i);
            order.swap(i, j);
        }
        let mut taught = vec![false; n];
        let mut slot_of_category: BTreeMap<usize, usize> = BTreeMap::new();
        for &i in order.iter().take(taught_n) {
            taught[i] = true;
            let next = slot_of_category.len();
            slot_of_category.entry(truth[i]).or_insert(next);
        }
        let fixed: Vec<Option<usize>> = (0..n)
            .map(|i| taught[i].then(|| slot_of_category[&truth[i]]))
            .collect();
        let slots = slot_of_category.len();
        let mut initial = vec![vec![0f32; data[0].len()]; slots];
        let mut sizes = vec![0usize; slots];
        for i in 0..n {
            if let Some(s) = fixed[i] {
                initial[s]
                    .iter_mut()
                    .zip(&data[i])
                    .for_each(|(a, b)| *a += b);
                sizes[s] += 1;
            }
        }
        if misfiled {
            // Dropped into the folder its category fills: that folder's videos
            // stay with it.
            for i in 0..n {
                if fixed[i].is_none()
                    && let Some(&s) =
                        slot_of_category.get(&truth_home_category(&home, base_labels[i]))
                {
                    initial[s]
                        .iter_mut()
                        .zip(&data[i])
                        .for_each(|(a, b)| *a += b);
                    sizes[s] += 1;
                }
            }
        }
        for (c, &m) in initial.iter_mut().zip(&sizes) {
            c.iter_mut().for_each(|x| *x /= m.max(1) as f32);
        }
        let a = clustering::cluster_points(data, is_copy, &opts, &fixed, &initial, slots);
        let taught_pairs: Vec<(usize, usize)> = fixed
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.map(|s| (i, s)))
            .collect();
        let spread_fixed: Vec<Option<usize>> = fixed
            .iter()
            .zip(relabel::spread(data, &taught_pairs, slots, &[]))
            .map(|(f, s)| f.or(s.filter(|s| s.accepted).map(|s| s.class)))
            .collect();
        let b = clustering::cluster_points(data, is_copy, &opts, &spread_fixed, &initial, slots);
        let (sb, sa, ss) = (
            score_others(&untaught_base.km.labels, &taught),
            score_others(&a.km.labels, &taught),
            score_others(&b.km.labels, &taught),
        );
        if ss.0 > sa.0 {
            wins += 1;
        } else if ss.0 < sa.0 {
            losses += 1;
        }
        for (acc, s) in [(&mut base, sb), (&mut pinned, sa), (&mut spread, ss)] {
            acc.0 += s.0 / draws as f64;
            acc.1 += s.1 / draws as f64;
        }
    }
    RelabelRun {
        method,
        pick: if misfiled { "misfiled" } else { "random" },
        fraction,
        draws,
        untaught: base,
        pinned,
        spread,
        wins,
        losses,
    }
}
