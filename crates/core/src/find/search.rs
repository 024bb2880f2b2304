//! Search by words: file names, folders, cluster names, and what the frames show —
//! the WordNet concepts above each frame's ImageNet classes, so that "dog" finds
//! frames of beagles and pugs and "vehicle" finds cars and buses.

use crate::clustering::naming::hierarchy;
use crate::store::{Catalogue, VideoStatus};
use anyhow::Result;
use std::collections::{HashMap, HashSet};

/// A video found, with the frame that matched best when frames matched.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SearchHit {
    pub video_id: i64,
    pub score: f32,
    /// The best-matching frame: (index, timestamp ms, probability of the concepts).
    pub frame: Option<(i64, i64, f32)>,
    /// What matched: "name", "folder", "cluster", or the concept's name.
    pub matched: Vec<String>,
}

/// A frame must give the searched concepts at least this probability.
const MIN_FRAME_PROBABILITY: f32 = 0.15;

fn words(s: &str) -> Vec<String> {
    s.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// A word's singular form for matching ("dogs" → "dog", "buses" → "bus").
fn singular(w: &str) -> &str {
    for suffix in ["es", "s"] {
        if let Some(stem) = w.strip_suffix(suffix)
            && stem.len() >= 3
        {
            return stem;
        }
    }
    w
}

/// The ImageNet classes a query names, with the concept that named them: each class
/// whose own name, or the name of a non-generic WordNet concept above it, is the
/// query ("dog" names the concept Dogs and every breed below it). A concept whose
/// name merely ends in the query ("public transport vehicle", "hot dog") counts
/// only when it shares a non-generic ancestor with a concept named exactly: buses
/// are vehicles, sausages are not dogs.
pub fn classes_for(query: &str) -> HashMap<usize, String> {
    let q: Vec<String> = words(query)
        .iter()
        .map(|w| singular(w).to_string())
        .collect();
    if q.is_empty() {
        return HashMap::new();
    }
    let h = hierarchy();
    let names = |n: &crate::clustering::naming::Node| -> Vec<Vec<String>> {
        [
            n.lemma.replace('_', " "),
            n.label.clone(),
            n.singular.clone(),
        ]
        .iter()
        .map(|name| {
            words(name)
                .iter()
                .map(|w| singular(w).to_string())
                .collect()
        })
        .collect()
    };
    let is_query = |ws: &Vec<String>| *ws == q;
    let ends_in_query = |ws: &Vec<String>| ws.len() > q.len() && ws.ends_with(&q);
    // Each node's ancestors, read off the classes' chains (parent first).
    let mut ancestors: Vec<Option<&[usize]>> = vec![None; h.nodes.len()];
    for c in &h.classes {
        let chain: Vec<usize> = std::iter::once(c.node)
            .chain(c.ancestors.iter().copied())
            .collect();
        for (i, &n) in chain.iter().enumerate() {
            if ancestors[n].is_none() {
                ancestors[n] = Some(if i == 0 {
                    &c.ancestors[..]
                } else {
                    &c.ancestors[i..]
                });
            }
        }
    }
    let lineage = |n: usize| -> HashSet<usize> {
        std::iter::once(n)
            .chain(ancestors[n].unwrap_or(&[]).iter().copied())
            .filter(|&a| !h.nodes[a].generic)
            .collect()
    };
    let exact: Vec<usize> = (0..h.nodes.len())
        .filter(|&n| !h.nodes[n].generic && names(&h.nodes[n]).iter().any(is_query))
        .collect();
    let exact_lineage: HashSet<usize> = exact.iter().flat_map(|&n| lineage(n)).collect();
    let node_hit: Vec<bool> = (0..h.nodes.len())
        .map(|n| {
            if h.nodes[n].generic {
                return false;
            }
            let ns = names(&h.nodes[n]);
            ns.iter().any(is_query)
                || (ns.iter().any(ends_in_query) && !lineage(n).is_disjoint(&exact_lineage))
        })
        .collect();
    let mut out = HashMap::new();
    for c in &h.classes {
        if is_query(
            &words(&c.name)
                .iter()
                .map(|w| singular(w).to_string())
                .collect(),
        ) {
            out.insert(c.index, c.name.clone());
            continue;
        }
        if let Some(&a) = std::iter::once(&c.node)
            .chain(&c.ancestors)
            .find(|&&a| node_hit[a])
        {
            out.insert(c.index, h.nodes[a].label.clone());
        }
    }
    out
}

/// Videos matching `query`, best first: by file name (strongest), folder and
/// cluster name, and by the frames that show what the query names.
pub fn search(cat: &Catalogue, model: &str, query: &str, limit: usize) -> Result<Vec<SearchHit>> {
    let q = words(query);
    if q.is_empty() {
        return Ok(vec![]);
    }
    let contains_all = |text: &str| {
        let ws: HashSet<String> = words(text)
            .iter()
            .map(|w| singular(w).to_string())
            .collect();
        q.iter()
            .all(|w| ws.contains(singular(w)) || ws.iter().any(|x| x.starts_with(w.as_str())))
    };
    let clusters: HashMap<i64, String> = cat
        .clusters()?
        .into_iter()
        .map(|c| (c.id, c.name))
        .collect();
    let cluster_of: HashMap<i64, i64> = cat
        .assignments()?
        .into_iter()
        .map(|a| (a.video_id, a.cluster_id))
        .collect();
    let mut hits: HashMap<i64, SearchHit> = HashMap::new();
    for v in cat.videos(Some(VideoStatus::Ok))? {
        let mut score = 0.0;
        let mut matched = Vec::new();
        let name = v
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if contains_all(&name) {
            score += 3.0;
            matched.push("name".to_string());
        }
        let folder = v
            .path
            .parent()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        if contains_all(&folder) {
            score += 2.0;
            matched.push("folder".to_string());
        }
        if let Some(c) = cluster_of.get(&v.id).and_then(|c| clusters.get(c))
            && contains_all(c)
        {
            score += 2.0;
            matched.push("cluster".to_string());
        }
        if score > 0.0 {
            hits.insert(
                v.id,
                SearchHit {
                    video_id: v.id,
                    score,
                    frame: None,
                    matched,
                },
            );
        }
    }
    let classes = classes_for(query);
    if !classes.is_empty() {
        for (video, idx, ts, top) in cat.all_frame_top_classes(model)? {
            let mut p = 0f32;
            let mut concept = None;
            for (c, prob) in top {
                if let Some(name) = classes.get(&(c as usize)) {
                    p += prob;
                    concept.get_or_insert(name);
                }
            }
            if p < MIN_FRAME_PROBABILITY {
                continue;
            }
            let hit = hits.entry(video).or_insert_with(|| SearchHit {
                video_id: video,
                score: 0.0,
                frame: None,
                matched: vec![],
            });
            if hit.frame.is_none_or(|f| p > f.2) {
                hit.frame = Some((idx, ts, p));
                if let Some(name) = concept
                    && !hit.matched.contains(name)
                {
                    hit.matched.push(name.clone());
                }
            }
        }
        for h in hits.values_mut() {
            if let Some(f) = h.frame {
                h.score += 4.0 * f.2;
            }
        }
    }
    let mut out: Vec<SearchHit> = hits.into_values().collect();
    out.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(a.video_id.cmp(&b.video_id))
    });
    out.truncate(limit);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concepts_name_the_classes_below_them() {
        let dogs = classes_for("dog");
        let names: Vec<String> = dogs
            .keys()
            .map(|&c| hierarchy().classes[c].name.to_lowercase())
            .collect();
        assert!(names.iter().any(|n| n.contains("beagle")), "{names:?}");
        assert!(
            !names.iter().any(|n| n.contains("tabby")),
            "cats are not dogs"
        );
        assert!(!names.iter().any(|n| n == "hot dog"), "nor are sausages");
        assert!(dogs.len() > 100, "{} dog classes", dogs.len());
        let vehicles = classes_for("vehicle");
        let names: Vec<String> = vehicles
            .keys()
            .map(|&c| hierarchy().classes[c].name.to_lowercase())
            .collect();
        for wanted in ["sports car", "school bus"] {
            assert!(
                names.iter().any(|n| n.contains(wanted)),
                "{wanted} in {names:?}"
            );
        }
        // Plurals and several words.
        assert!(!classes_for("dogs").is_empty());
        assert!(classes_for("golden retriever").len() == 1);
        assert!(
            classes_for("entity").is_empty(),
            "generic concepts match nothing"
        );
        assert!(classes_for("").is_empty());
    }
}
