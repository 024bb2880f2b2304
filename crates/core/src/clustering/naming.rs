//! Naming clusters after what their frames show.
//!
//! The ImageNet class probabilities of a cluster's videos are averaged and rolled up
//! the WordNet hierarchy: every concept receives the probability mass of all classes
//! below it. The name is the most specific concept (fewest classes below it) that
//! still covers most of the mass — beagle + golden retriever + pug gives "Dogs",
//! sports car + minivan gives "Cars". Abstract concepts ("Artifacts", "Craniates")
//! are never used. When nothing dominates, the cluster is "Mixed N".
//!
//! The hierarchy table (`assets/imagenet_hierarchy.json`) is built by
//! `scripts/build_imagenet_hierarchy.py` from WordNet 3.0 and timm's class list.

use anyhow::{Result, bail};
use serde::Deserialize;
use std::collections::HashSet;
use std::sync::OnceLock;

#[derive(Debug, Deserialize)]
pub struct Node {
    pub id: usize,
    pub wnid: String,
    pub lemma: String,
    pub label: String,
    pub singular: String,
    pub depth: usize,
    pub leaves: usize,
    pub generic: bool,
}

#[derive(Debug, Deserialize)]
pub struct Class {
    pub index: usize,
    pub wnid: String,
    pub name: String,
    pub node: usize,
    pub ancestors: Vec<usize>,
}

#[derive(Debug, Deserialize)]
pub struct Hierarchy {
    pub nodes: Vec<Node>,
    pub classes: Vec<Class>,
    /// `is_class[node]`: the node is one of the 1000 classes itself.
    #[serde(skip)]
    pub is_class: Vec<bool>,
}

static HIERARCHY: OnceLock<Hierarchy> = OnceLock::new();

/// The embedded ImageNet → WordNet table.
pub fn hierarchy() -> &'static Hierarchy {
    HIERARCHY.get_or_init(|| {
        let mut h: Hierarchy =
            serde_json::from_str(include_str!("../../../../assets/imagenet_hierarchy.json"))
                .expect("assets/imagenet_hierarchy.json is valid");
        assert_eq!(h.classes.len(), 1000);
        h.is_class = vec![false; h.nodes.len()];
        for c in &h.classes {
            h.is_class[c.node] = true;
        }
        h
    })
}

/// Human name of an ImageNet class index.
pub fn class_name(index: usize) -> &'static str {
    hierarchy()
        .classes
        .get(index)
        .map(|c| c.name.as_str())
        .unwrap_or("?")
}

impl Hierarchy {
    /// Probability mass of every node given class probabilities (summing over each
    /// class's own node and all its ancestors once).
    pub fn node_mass(&self, class_probs: &[f32]) -> Result<Vec<f64>> {
        if class_probs.len() != self.classes.len() {
            bail!(
                "expected {} class probabilities, got {}",
                self.classes.len(),
                class_probs.len()
            );
        }
        let mut mass = vec![0f64; self.nodes.len()];
        for (c, &p) in self.classes.iter().zip(class_probs) {
            if p <= 0.0 {
                continue;
            }
            mass[c.node] += p as f64;
            for &a in &c.ancestors {
                mass[a] += p as f64;
            }
        }
        Ok(mass)
    }
}

/// A proposed name for a cluster.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct NameChoice {
    pub name: String,
    /// WordNet id of the concept, None for "Mixed".
    pub concept: Option<String>,
    /// Share of the cluster's probability mass under the concept (0..1).
    pub confidence: f64,
}

/// Share of mass a concept needs to name a cluster by itself: most of what the
/// cluster shows. (At 0.5, beagle + golden retriever + pug in equal parts would be
/// "Hunting dogs", wrong for a third of the videos; at 0.7 it is "Dogs".)
pub const DOMINANCE: f64 = 0.7;
/// A single ImageNet class (a breed, a model of car) must be surer still: a cat
/// cluster split between "Egyptian Mau" and "tiger cat" is "Cats", not a guess at
/// the breed.
pub const LEAF_DOMINANCE: f64 = 0.75;
/// A weaker concept may still name a cluster when it holds this share...
const WEAK_SHARE: f64 = 0.35;
/// ...and at least this many times the share it would get by chance. Chance matters:
/// with probabilities spread evenly, "Animals" (398 of the 1000 classes) collects
/// 40 % of the mass without meaning anything.
const WEAK_LIFT: f64 = 4.0;

/// Candidate concepts for a cluster, best first: dominant concepts (share ≥
/// `DOMINANCE`), most specific first; then weaker but clearly non-random ones
/// (share ≥ `WEAK_SHARE` and lift ≥ `WEAK_LIFT`), by share.
pub fn candidates(mean_probs: &[f32]) -> Result<Vec<(usize, f64)>> {
    let h = hierarchy();
    let total: f64 = mean_probs.iter().map(|&p| p as f64).sum::<f64>().max(1e-12);
    let classes = h.classes.len() as f64;
    let mass = h.node_mass(mean_probs)?;
    let mut strong: Vec<(usize, f64)> = Vec::new();
    let mut weak: Vec<(usize, f64)> = Vec::new();
    for (id, &m) in mass.iter().enumerate() {
        let share = m / total;
        if h.nodes[id].generic || share < WEAK_SHARE {
            continue;
        }
        let needed = if h.is_class[id] {
            LEAF_DOMINANCE
        } else {
            DOMINANCE
        };
        let chance = h.nodes[id].leaves.max(1) as f64 / classes;
        if share >= needed {
            strong.push((id, share));
        } else if share / chance >= WEAK_LIFT {
            weak.push((id, share));
        }
    }
    strong.sort_by(|a, b| {
        h.nodes[a.0]
            .leaves
            .cmp(&h.nodes[b.0].leaves)
            .then(b.1.total_cmp(&a.1))
            .then(a.0.cmp(&b.0))
    });
    weak.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    strong.extend(weak);
    Ok(strong)
}

/// Names several clusters at once so that names are unique: clusters are named in
/// order of confidence; a cluster whose best concept is taken uses its next
/// candidate, else the taken name with a number. `mean_probs[i]` is the mean class
/// distribution of cluster i; `taken` holds names already in use (user names).
pub fn name_clusters(mean_probs: &[Vec<f32>], taken: &[String]) -> Result<Vec<NameChoice>> {
    let h = hierarchy();
    let cands: Vec<Vec<(usize, f64)>> = mean_probs
        .iter()
        .map(|p| candidates(p))
        .collect::<Result<_>>()?;
    let mut order: Vec<usize> = (0..mean_probs.len()).collect();
    let best_share = |i: usize| cands[i].first().map(|c| c.1).unwrap_or(0.0);
    order.sort_by(|&a, &b| best_share(b).total_cmp(&best_share(a)).then(a.cmp(&b)));
    let mut used: HashSet<String> = taken.iter().map(|t| t.to_lowercase()).collect();
    let mut out: Vec<Option<NameChoice>> = vec![None; mean_probs.len()];
    let mut mixed = 0usize;
    for i in order {
        let mut choice = None;
        for &(node, share) in &cands[i] {
            let label = &h.nodes[node].label;
            if !used.contains(&label.to_lowercase()) {
                choice = Some(NameChoice {
                    name: label.clone(),
                    concept: Some(h.nodes[node].wnid.clone()),
                    confidence: share,
                });
                break;
            }
        }
        if choice.is_none()
            && let Some(&(node, share)) = cands[i].first()
        {
            let base = &h.nodes[node].label;
            let name = (2..)
                .map(|n| format!("{base} {n}"))
                .find(|n| !used.contains(&n.to_lowercase()))
                .unwrap();
            choice = Some(NameChoice {
                name,
                concept: Some(h.nodes[node].wnid.clone()),
                confidence: share,
            });
        }
        let choice = choice.unwrap_or_else(|| {
            loop {
                mixed += 1;
                let name = format!("Mixed {mixed}");
                if !used.contains(&name.to_lowercase()) {
                    break NameChoice {
                        name,
                        concept: None,
                        confidence: 0.0,
                    };
                }
            }
        });
        used.insert(choice.name.to_lowercase());
        out[i] = Some(choice);
    }
    Ok(out.into_iter().map(|c| c.unwrap()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probs(classes: &[(usize, f32)]) -> Vec<f32> {
        let mut p = vec![0.0001f32; 1000];
        for &(c, v) in classes {
            p[c] = v;
        }
        let s: f32 = p.iter().sum();
        p.iter().map(|x| x / s).collect()
    }

    #[test]
    fn dog_breeds_roll_up_to_dogs() {
        // beagle 162, golden retriever 207, pug 254
        let n = name_clusters(&[probs(&[(162, 0.3), (207, 0.3), (254, 0.3)])], &[]).unwrap();
        assert_eq!(n[0].name, "Dogs");
        assert!(n[0].confidence > 0.8);
    }

    #[test]
    fn cars_roll_up_to_cars() {
        // sports car 817, minivan 656
        let n = name_clusters(&[probs(&[(817, 0.45), (656, 0.45)])], &[]).unwrap();
        assert_eq!(n[0].name, "Cars");
    }

    #[test]
    fn a_single_dominant_class_names_itself() {
        let n = name_clusters(&[probs(&[(207, 0.9)])], &[]).unwrap();
        assert_eq!(n[0].name, "Golden retrievers");
    }

    #[test]
    fn names_are_unique_and_mixed_falls_back() {
        let spread: Vec<f32> = vec![0.001; 1000];
        let dogs = probs(&[(162, 0.3), (207, 0.3), (254, 0.3)]);
        let n = name_clusters(
            &[dogs.clone(), dogs, spread.clone(), spread],
            &["Dogs".into()],
        )
        .unwrap();
        let names: Vec<&str> = n.iter().map(|c| c.name.as_str()).collect();
        assert!(!names.contains(&"Dogs"), "{names:?}");
        let set: HashSet<&str> = names.iter().copied().collect();
        assert_eq!(set.len(), 4, "{names:?}");
        assert!(
            names.contains(&"Mixed 1") && names.contains(&"Mixed 2"),
            "{names:?}"
        );
    }
}
