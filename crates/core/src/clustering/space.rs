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
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
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

    /// A descriptor (or one frame's feature) centred on the library's mean descriptor,
    /// unit length.
    pub fn centre_descriptor(&self, descriptor: &[f32]) -> Vec<f32> {
        centred_unit(descriptor, &self.desc_mean)
    }

    /// The concept part of a video, centred on the library's mean, unit length.
    pub fn centre_concept(&self, class_probs: &[f32]) -> Vec<f32> {
        centred_unit(&concept_vector(class_probs), &self.concept_mean)
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

/// The space a library was clustered in: the plain one, or one whose descriptor part
/// is the hidden layer of the head adapted to the library (`learn::head`), beside the
/// same concept part.
#[derive(Debug, Clone)]
pub struct LibrarySpace {
    pub base: FeatureSpace,
    pub adapted: Option<Adapted>,
}

#[derive(Debug, Clone)]
pub struct Adapted {
    pub head: crate::learn::head::Head,
    /// The library's mean hidden layer, removed like the descriptors' mean.
    pub hidden_mean: Vec<f32>,
}

/// What the catalogue keeps of a [`LibrarySpace`] (the head itself is stored apart).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct StoredSpace {
    #[serde(flatten)]
    base: FeatureSpace,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    hidden_mean: Option<Vec<f32>>,
}

impl LibrarySpace {
    /// The plain space of a library.
    pub fn plain(descriptors: &[Vec<f32>], class_probs: &[Vec<f32>]) -> LibrarySpace {
        LibrarySpace {
            base: FeatureSpace::fit(descriptors, class_probs),
            adapted: None,
        }
    }

    /// The space of `head`, whose inputs are centred in `base` (the space it was
    /// trained in), fitted to this library's hidden layers.
    pub fn adapted(
        base: FeatureSpace,
        head: crate::learn::head::Head,
        descriptors: &[Vec<f32>],
        class_probs: &[Vec<f32>],
    ) -> anyhow::Result<LibrarySpace> {
        let hidden = hidden_layers(&base, &head, descriptors, class_probs)?;
        let hidden_mean = mean_of(&hidden);
        Ok(LibrarySpace {
            base,
            adapted: Some(Adapted { head, hidden_mean }),
        })
    }

    pub fn is_adapted(&self) -> bool {
        self.adapted.is_some()
    }

    /// The unit-length points of these videos.
    pub fn transform_all(
        &self,
        descriptors: &[Vec<f32>],
        class_probs: &[Vec<f32>],
    ) -> anyhow::Result<Vec<Vec<f32>>> {
        let Some(a) = &self.adapted else {
            return Ok(self.base.transform_all(descriptors, class_probs));
        };
        let hidden = hidden_layers(&self.base, &a.head, descriptors, class_probs)?;
        Ok(hidden
            .iter()
            .zip(class_probs)
            .map(|(h, p)| {
                let mut v = centred_unit(h, &a.hidden_mean);
                v.extend(self.base.centre_concept(p));
                l2_normalize(&mut v);
                v
            })
            .collect())
    }

    /// Remembers the space, so that videos added later are compared in the same one.
    pub fn save(&self, cat: &crate::store::Catalogue, model: &str) -> anyhow::Result<()> {
        let stored = StoredSpace {
            base: self.base.clone(),
            hidden_mean: self.adapted.as_ref().map(|a| a.hidden_mean.clone()),
        };
        cat.set_meta(&space_key(model), &serde_json::to_string(&stored)?)
    }

    /// The space the library was last clustered in, if it is stored (and, when it
    /// was adapted, its head is still there).
    pub fn load(
        cat: &crate::store::Catalogue,
        model: &str,
    ) -> anyhow::Result<Option<LibrarySpace>> {
        let Some(text) = cat.meta(&space_key(model))? else {
            return Ok(None);
        };
        let Ok(stored) = serde_json::from_str::<StoredSpace>(&text) else {
            return Ok(None);
        };
        let Some(hidden_mean) = stored.hidden_mean else {
            return Ok(Some(LibrarySpace {
                base: stored.base,
                adapted: None,
            }));
        };
        Ok(
            crate::learn::trained_head(cat, model)?.map(|(head, _)| LibrarySpace {
                base: stored.base,
                adapted: Some(Adapted { head, hidden_mean }),
            }),
        )
    }
}

/// The head's hidden layer for each video: its input is the centred descriptor beside
/// the centred concept part, as the head's training views were.
fn hidden_layers(
    base: &FeatureSpace,
    head: &crate::learn::head::Head,
    descriptors: &[Vec<f32>],
    class_probs: &[Vec<f32>],
) -> anyhow::Result<Vec<Vec<f32>>> {
    let inputs: Vec<Vec<f32>> = descriptors
        .iter()
        .zip(class_probs)
        .map(|(d, p)| {
            let mut x = base.centre_descriptor(d);
            x.extend(base.centre_concept(p));
            x
        })
        .collect();
    head.hidden_of(&inputs)
}
