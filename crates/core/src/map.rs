//! The 2-D map of the library: a t-SNE layout of every video (in the clustering's
//! space) or of every sampled frame, stored with the signature of the data it was
//! made from so that a stale map is recomputed.

use crate::clustering;
use crate::store::Catalogue;
pub use crate::store::maps::MapPoint;
use anyhow::Result;

fn signature(cat: &Catalogue, model: &str, kind: &str) -> Result<String> {
    let (n, max, sum) = cat.embedding_summary(model)?;
    Ok(format!("{kind}:{model}:{n}:{max}:{sum}"))
}

/// Whether the stored map of `kind` ('video' or 'frame') matches the library.
pub fn map_is_current(cat: &Catalogue, model: &str, kind: &str) -> Result<bool> {
    let want = signature(cat, model, kind)?;
    Ok(cat.map_signature(kind)?.as_deref() == Some(want.as_str()))
}

/// Computes and stores the t-SNE map of videos (`kind` = "video") or of every
/// sampled frame ("frame").
pub fn compute_map(
    cat: &mut Catalogue,
    model: &str,
    kind: &str,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<usize> {
    let signature = signature(cat, model, kind)?;
    let (keys, data): (Vec<(i64, i64)>, Vec<Vec<f32>>) = if kind == "frame" {
        cat.all_frame_features(model)?.into_iter().unzip()
    } else {
        let pts = clustering::load_points(cat, model)?;
        let data = clustering::points_in_library_space(cat, model, &pts)?;
        (pts.ids.iter().map(|&v| (v, -1)).collect(), data)
    };
    let pos = reelmap_tsne::tsne(&data, &reelmap_tsne::TsneOptions::default(), progress);
    let points: Vec<((i64, i64), [f32; 2])> = keys.into_iter().zip(pos).collect();
    cat.replace_map(kind, &points, &signature)?;
    Ok(points.len())
}

/// The stored map of `kind`.
pub fn load_map(cat: &Catalogue, kind: &str) -> Result<Vec<MapPoint>> {
    cat.map_points(kind)
}
