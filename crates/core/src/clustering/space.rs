//! The space videos are clustered in: what a video looks like (its centred CNN
//! descriptor) beside what it shows (its class probabilities rolled up WordNet).

use super::naming;
use reelmap_numeric::l2_normalize;

/// The space videos are clustered in. Each video is described twice, with equal
/// weight:
/// * what it looks like: the CNN descriptor (mean of frame features), with the
///   library mean removed — every descriptor shares a large "natural image" component
///   that otherwise dominates cosine similarity;
/// * what it shows: its ImageNet class probabilities rolled up the WordNet hierarchy
///   (the mass under every nameable concept, square-rooted as in the Hellinger
///   distance), also centred. Two videos of different fish species look different
///   but share "Fish"; this is what lets clusters follow meaning rather than
///   appearance.
///
/// The concept half is what lifts the scores well above the descriptor alone
/// (`bench/PROFILING.md`). The means are stored so that videos added later land in
/// the same space.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct FeatureSpace {
    pub desc_mean: Vec<f32>,
    pub concept_mean: Vec<f32>,
}

/// Non-generic WordNet nodes, the dimensions of the concept part.
fn concept_nodes() -> &'static [usize] {
    static NODES: std::sync::OnceLock<Vec<usize>> = std::sync::OnceLock::new();
    NODES.get_or_init(|| {
        naming::hierarchy()
            .nodes
            .iter()
            .filter(|n| !n.generic)
            .map(|n| n.id)
            .collect()
    })
}

/// sqrt of the probability mass under each nameable concept.
pub fn concept_vector(class_probs: &[f32]) -> Vec<f32> {
    let mass = naming::hierarchy()
        .node_mass(class_probs)
        .unwrap_or_else(|_| vec![0.0; naming::hierarchy().nodes.len()]);
    concept_nodes()
        .iter()
        .map(|&i| (mass[i].max(0.0) as f32).sqrt())
        .collect()
}

fn mean_of(rows: &[Vec<f32>]) -> Vec<f32> {
    let Some(first) = rows.first() else {
        return vec![];
    };
    let mut mean = vec![0f64; first.len()];
    for r in rows {
        for (m, x) in mean.iter_mut().zip(r) {
            *m += *x as f64;
        }
    }
    mean.iter()
        .map(|m| (m / rows.len() as f64) as f32)
        .collect()
}

fn centred_unit(v: &[f32], mean: &[f32]) -> Vec<f32> {
    let mut out: Vec<f32> = if mean.len() == v.len() {
        v.iter().zip(mean).map(|(x, m)| x - m).collect()
    } else {
        v.to_vec()
    };
    l2_normalize(&mut out);
    out
}

impl FeatureSpace {
    /// Fits the centring to a library. With two videos or fewer there is nothing
    /// meaningful to centre on, so the raw vectors are used.
    pub fn fit(descriptors: &[Vec<f32>], class_probs: &[Vec<f32>]) -> FeatureSpace {
        if descriptors.len() <= 2 {
            return FeatureSpace {
                desc_mean: vec![],
                concept_mean: vec![],
            };
        }
        let concepts: Vec<Vec<f32>> = class_probs.iter().map(|p| concept_vector(p)).collect();
        FeatureSpace {
            desc_mean: mean_of(descriptors),
            concept_mean: mean_of(&concepts),
        }
    }

    /// The unit-length point of one video.
    pub fn transform(&self, descriptor: &[f32], class_probs: &[f32]) -> Vec<f32> {
        let mut v = centred_unit(descriptor, &self.desc_mean);
        v.extend(centred_unit(
            &concept_vector(class_probs),
            &self.concept_mean,
        ));
        l2_normalize(&mut v);
        v
    }

    pub fn transform_all(
        &self,
        descriptors: &[Vec<f32>],
        class_probs: &[Vec<f32>],
    ) -> Vec<Vec<f32>> {
        descriptors
            .iter()
            .zip(class_probs)
            .map(|(d, p)| self.transform(d, p))
            .collect()
    }
}

/// The catalogue's `meta` key under which the space of a model is kept, so that videos
/// added later are compared in the same space.
pub(crate) fn space_key(model: &str) -> String {
    format!("feature_space:{model}")
}
