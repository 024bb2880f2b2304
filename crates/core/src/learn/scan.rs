//! SCAN (Van Gansbeke et al. 2020) on top of the clustering space: a clustering head
//! is trained so that each video and its nearest neighbours get the same cluster,
//! with an entropy term against putting everything into one, then fine-tuned on its
//! own confident predictions (self-labelling).
//!
//! Here SCAN refines a partition rather than inventing one: k is still chosen by the
//! consensus (the automatic k is kept), and the head starts from the consensus
//! k-means centres. Over-clustering the way the paper does (many more heads than
//! groups) fills every head and leaves the automatic k nothing to choose.

use anyhow::{Result, ensure};
use candle_core::{D, Device, Tensor, Var};
use candle_nn::ops::{log_softmax, softmax_last_dim};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct ScanOptions {
    /// Neighbours each video should agree with.
    pub neighbours: usize,
    /// Weight of the entropy term (the paper's default).
    pub entropy_weight: f64,
    pub steps: usize,
    /// Self-labelling: videos predicted with at least this probability train the
    /// head on their own prediction, for `self_label_steps` steps.
    pub confident: f32,
    pub self_label_steps: usize,
    pub lr: f64,
    /// Logit scale of the starting head (cosine to each centre × scale).
    pub scale: f64,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            neighbours: 5,
            entropy_weight: 5.0,
            steps: 200,
            confident: 0.99,
            self_label_steps: 50,
            lr: 1e-3,
            scale: 10.0,
        }
    }
}

/// The SCAN loss of anchors and one neighbour each, from their logits:
/// consistency `−mean_i ln⟨p_i, q_i⟩`, negative entropy `Σ_c p̄_c ln p̄_c` of the
/// anchors' mean prediction, and `consistency + λ · negative entropy`.
pub fn scan_loss(
    anchors: &Tensor,
    neighbours: &Tensor,
    entropy_weight: f64,
) -> Result<(Tensor, Tensor, Tensor)> {
    let p = softmax_last_dim(anchors)?;
    let q = softmax_last_dim(neighbours)?;
    let agree = (&p * &q)?.sum_keepdim(D::Minus1)?.clamp(1e-12, f64::MAX)?;
    let consistency = agree.log()?.mean_all()?.neg()?;
    let mean = p.mean_keepdim(0)?.clamp(1e-12, f64::MAX)?;
    let neg_entropy = (&mean * mean.log()?)?.sum_all()?;
    let total = (&consistency + (&neg_entropy * entropy_weight)?)?;
    Ok((consistency, neg_entropy, total))
}

/// Refines the partition that `centres` (k unit rows) make of `points` (unit rows)
/// with SCAN, given each point's nearest neighbours. Returns each point's cluster.
pub fn refine(
    points: &[Vec<f32>],
    centres: &[Vec<f32>],
    neighbours: &[Vec<usize>],
    opts: &ScanOptions,
) -> Result<Vec<usize>> {
    let (n, k) = (points.len(), centres.len());
    ensure!(n > 0 && k > 0, "nothing to refine");
    let d = points[0].len();
    let dev = Device::Cpu;
    let flat = |rows: &[Vec<f32>]| -> Vec<f32> { rows.iter().flatten().copied().collect() };
    let x = Tensor::from_vec(flat(points), (n, d), &dev)?;
    let scaled: Vec<f32> = flat(centres)
        .iter()
        .map(|c| c * opts.scale as f32)
        .collect();
    let w = Var::from_tensor(&Tensor::from_vec(scaled, (k, d), &dev)?.t()?.contiguous()?)?;
    let b = Var::from_tensor(&Tensor::zeros(k, candle_core::DType::F32, &dev)?)?;
    let mut opt = AdamW::new(
        vec![w.clone(), b.clone()],
        ParamsAdamW {
            lr: opts.lr,
            weight_decay: 1e-4,
            ..Default::default()
        },
    )?;
    let logits =
        || -> Result<Tensor> { Ok(x.matmul(w.as_tensor())?.broadcast_add(b.as_tensor())?) };
    // Every (anchor, neighbour) pair once.
    let (mut anchor_idx, mut nb_idx) = (Vec::new(), Vec::new());
    for (i, js) in neighbours.iter().enumerate() {
        for &j in js.iter().take(opts.neighbours) {
            anchor_idx.push(i as u32);
            nb_idx.push(j as u32);
        }
    }
    if anchor_idx.is_empty() {
        return labels(&logits()?);
    }
    let pairs = anchor_idx.len();
    let anchor_idx = Tensor::from_vec(anchor_idx, pairs, &dev)?;
    let nb_idx = Tensor::from_vec(nb_idx, pairs, &dev)?;
    for _ in 0..opts.steps {
        let l = logits()?;
        let (_, _, total) = scan_loss(
            &l.index_select(&anchor_idx, 0)?,
            &l.index_select(&nb_idx, 0)?,
            opts.entropy_weight,
        )?;
        opt.backward_step(&total)?;
    }
    // Self-labelling on the confident predictions.
    for _ in 0..opts.self_label_steps {
        let l = logits()?;
        let p = softmax_last_dim(&l)?.to_vec2::<f32>()?;
        let confident: Vec<(u32, u32)> = p
            .iter()
            .enumerate()
            .filter_map(|(i, row)| {
                let (c, v) = argmax(row);
                (v >= opts.confident).then_some((i as u32, c as u32))
            })
            .collect();
        if confident.is_empty() {
            break;
        }
        let (idx, target): (Vec<u32>, Vec<u32>) = confident.into_iter().unzip();
        let m = idx.len();
        let chosen = log_softmax(
            &l.index_select(&Tensor::from_vec(idx, m, &dev)?, 0)?,
            D::Minus1,
        )?;
        let picked = chosen.gather(&Tensor::from_vec(target, (m, 1), &dev)?, 1)?;
        opt.backward_step(&picked.mean_all()?.neg()?)?;
    }
    labels(&logits()?)
}

fn argmax(row: &[f32]) -> (usize, f32) {
    row.iter()
        .enumerate()
        .fold((0, f32::MIN), |b, (c, &v)| if v > b.1 { (c, v) } else { b })
}

fn labels(logits: &Tensor) -> Result<Vec<usize>> {
    Ok(logits
        .to_vec2::<f32>()?
        .iter()
        .map(|r| argmax(r).0)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(rows: &[[f32; 3]]) -> Tensor {
        let flat: Vec<f32> = rows.iter().flatten().copied().collect();
        Tensor::from_vec(flat, (rows.len(), 3), &Device::Cpu).unwrap()
    }

    /// Values computed by hand (softmaxes, then the formulas), checked in float64.
    #[test]
    fn scan_loss_matches_hand_computed_values() {
        let anchors = t(&[[2.0, 0.0, 0.0], [0.0, 1.0, 0.0]]);
        let neighbours = t(&[[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]);
        let v = |x: Tensor| x.to_scalar::<f32>().unwrap();
        let (c, e, total) = scan_loss(&anchors, &neighbours, 5.0).unwrap();
        assert!((v(c) - 0.968481).abs() < 1e-5);
        assert!((v(e) + 1.006199).abs() < 1e-5);
        assert!((v(total) + 4.062516).abs() < 1e-5);
        let (_, _, total) = scan_loss(&anchors, &neighbours, 1.0).unwrap();
        assert!((v(total) + 0.037719).abs() < 1e-5);
    }

    #[test]
    fn a_misplaced_point_follows_its_neighbours() {
        // Two groups; the starting centres put point 3 of group A on B's side.
        let a: Vec<Vec<f32>> = (0..6).map(|i| vec![1.0, 0.05 * i as f32]).collect();
        let b: Vec<Vec<f32>> = (0..6).map(|i| vec![0.05 * i as f32, 1.0]).collect();
        let mut points: Vec<Vec<f32>> = a.into_iter().chain(b).collect();
        points
            .iter_mut()
            .for_each(|p| reelmap_numeric::l2_normalize(p));
        let nb = crate::learn::relabel::knn(&points, 3);
        let labels = refine(
            &points,
            &[vec![1.0, 0.0], vec![0.0, 1.0]],
            &nb,
            &ScanOptions::default(),
        )
        .unwrap();
        assert!(labels[..6].iter().all(|&l| l == labels[0]));
        assert!(labels[6..].iter().all(|&l| l == labels[6]));
        assert_ne!(labels[0], labels[6]);
    }
}
