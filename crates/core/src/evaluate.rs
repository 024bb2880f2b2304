//! `reelmap eval`: clustering quality on a folder whose top-level subfolders are the
//! true categories.

use crate::clustering::naming;
use crate::clustering::{self, ClusterOptions, KChoice};
use crate::metrics::{self, Scores};
use crate::store::Catalogue;
use crate::store::VideoStatus;
use anyhow::{Result, bail};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

#[derive(Debug, Clone, serde::Serialize)]
pub struct EvalRun {
    pub label: String,
    pub k: usize,
    pub k_method: String,
    pub scores: Scores,
    /// Per cluster: name, size, and the category most of its videos belong to.
    pub clusters: Vec<(String, usize, String)>,
    /// The automatic-k criterion for every k tried.
    pub k_scores: Vec<(usize, f64)>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct EvalReport {
    pub root: String,
    pub model: String,
    pub videos: usize,
    pub categories: Vec<(String, usize)>,
    pub runs: Vec<EvalRun>,
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
    seed: u64,
    fixed_k: Option<usize>,
) -> Result<EvalReport> {
    let labelled = truth_labels(cat, model, root)?;
    if labelled.is_empty() {
        bail!("no embedded videos in subfolders of {}", root.display());
    }
    let mut cat_index: BTreeMap<String, usize> = BTreeMap::new();
    for l in &labelled {
        let c = &l.category;
        let n = cat_index.len();
        cat_index.entry(c.clone()).or_insert(n);
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
    let data = clustering::FeatureSpace::fit(&raw, &raw_probs).transform_all(&raw, &raw_probs);
    let probs: HashMap<i64, Vec<f32>> = labelled
        .iter()
        .map(|l| (l.id, l.class_probs.clone()))
        .collect();
    let mut counts = vec![0usize; names.len()];
    for &t in &truth {
        counts[t] += 1;
    }

    let mut runs = Vec::new();
    let k_true = fixed_k.unwrap_or(names.len());
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
    let none = vec![None; data.len()];
    let fingerprints = cat.fingerprints()?;
    let fps: Vec<Option<&[u8]>> = labelled
        .iter()
        .map(|l| fingerprints.get(&l.id).map(Vec::as_slice))
        .collect();
    let is_copy = clustering::copies(&fps, &raw);
    for (label, k, unsorted) in configs {
        let opts = ClusterOptions {
            k,
            seed,
            restarts: 10,
            unsorted,
        };
        let c = clustering::cluster_points(&data, &is_copy, &opts, &none, &[], 0);
        // Unsorted videos form a cluster of their own for scoring.
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
        let scores = metrics::score(&truth, &pred);
        // Names as the user would see them.
        let classes = probs.values().next().map(|p| p.len()).unwrap_or(1000);
        let mut mean = vec![vec![0f32; classes]; c.km.k];
        let mut sizes = vec![0usize; c.km.k + 1];
        for (i, l) in labelled.iter().enumerate() {
            let id = &l.id;
            sizes[pred[i]] += 1;
            if pred[i] < c.km.k
                && let Some(p) = probs.get(id)
            {
                mean[pred[i]].iter_mut().zip(p).for_each(|(a, b)| *a += b);
            }
        }
        for (m, &s) in mean.iter_mut().zip(&sizes) {
            if s > 0 {
                m.iter_mut().for_each(|x| *x /= s as f32);
            }
        }
        let cluster_names = naming::name_clusters(&mean, &[clustering::UNSORTED_NAME.to_string()])?;
        let mut clusters = Vec::new();
        for j in 0..=c.km.k {
            if sizes[j] == 0 {
                continue;
            }
            let mut by_cat = vec![0usize; names.len()];
            for i in 0..data.len() {
                if pred[i] == j {
                    by_cat[truth[i]] += 1;
                }
            }
            let major = by_cat
                .iter()
                .enumerate()
                .max_by_key(|(_, n)| **n)
                .map(|(i, _)| i)
                .unwrap();
            let name = if j == c.km.k {
                clustering::UNSORTED_NAME.to_string()
            } else {
                cluster_names[j].name.clone()
            };
            clusters.push((
                name,
                sizes[j],
                format!("{} ({}/{})", names[major], by_cat[major], sizes[j]),
            ));
        }
        runs.push(EvalRun {
            label,
            k: c.km.k,
            k_method: c.method,
            k_scores: c.k_scores,
            scores,
            clusters,
        });
    }
    Ok(EvalReport {
        root: root.display().to_string(),
        model: model.to_string(),
        videos: labelled.len(),
        categories: names.into_iter().zip(counts).collect(),
        runs,
    })
}
