//! The library-adapted head ("adapt to my library"): a small MLP trained on the
//! stored frame features of this library with a temporal-coherency contrastive loss,
//! whose hidden layer replaces the descriptor part of the clustering space.
//!
//! Why this design (the alternatives measured are in `bench/PROFILING.md`):
//! - a view of a video is one of its frames (centred like the descriptors) beside the
//!   video's concept vector; two frames of the same video are positives, the other
//!   videos of the batch negatives (NT-Xent, as SimCLR): frames close in time show
//!   the same thing, which is what the clustering should group by. Frame-level
//!   instance discrimination (every frame its own class, the first design)
//!   learnt to tell the library's videos apart and nothing else;
//! - the feature-space augmentation is masking (20 % of the coordinates zeroed):
//!   pixels are not at hand at this stage;
//! - the clustering reads the 512-wide hidden layer, not the 128-wide output: the
//!   output is trained to separate videos and collapses categories into few, very
//!   tight groups (the automatic k fell to ~6 for 13 categories);
//! - below [`HeadOptions::min_videos`] videos there is too little to learn from: the
//!   head pulled 10 videos into 2 clusters. The plain space is kept then.
//!
//! Training is deterministic for a seed: every random draw (initial weights, batches,
//! frames, masks) comes from one seeded generator, and the CPU kernels sum in a fixed
//! order.

use anyhow::{Result, bail, ensure};
use candle_core::{D, DType, Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use reelmap_numeric::SplitMix64;

/// The stored head's format: bump when the architecture or the input changes.
pub const HEAD_FORMAT: u32 = 1;

/// How the head is trained (the defaults are the ones measured).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct HeadOptions {
    pub hidden: usize,
    pub out: usize,
    /// Optimiser steps, whatever the library's size.
    pub steps: usize,
    /// Videos per step (two views each).
    pub batch: usize,
    /// NT-Xent temperature.
    pub temperature: f64,
    /// Share of input coordinates zeroed in each view.
    pub mask: f64,
    pub lr: f64,
    pub weight_decay: f64,
    pub seed: u64,
    /// Smaller libraries are not adapted.
    pub min_videos: usize,
}

impl Default for HeadOptions {
    fn default() -> Self {
        HeadOptions {
            hidden: 512,
            out: 128,
            steps: 150,
            batch: 256,
            temperature: 0.2,
            mask: 0.2,
            lr: 1e-3,
            weight_decay: 1e-4,
            seed: 1,
            min_videos: 40,
        }
    }
}

/// What the head learns from, one entry per video: its frames (each already centred
/// on the library's mean descriptor and made unit length) and its concept part
/// (centred, unit length).
pub struct TrainingSet {
    pub frames: Vec<Vec<Vec<f32>>>,
    pub concepts: Vec<Vec<f32>>,
}

impl TrainingSet {
    fn frame_dims(&self) -> usize {
        self.frames
            .iter()
            .flat_map(|f| f.first())
            .map(Vec::len)
            .next()
            .unwrap_or(0)
    }

    fn concept_dims(&self) -> usize {
        self.concepts.first().map_or(0, Vec::len)
    }
}

/// A trained (or partly trained) head: the two layers' weights, row-major,
/// `w1` = inputs × hidden, `w2` = hidden × out.
#[derive(Debug, Clone, PartialEq)]
pub struct Head {
    pub inputs: usize,
    pub hidden: usize,
    pub out: usize,
    pub w1: Vec<f32>,
    pub b1: Vec<f32>,
    pub w2: Vec<f32>,
    pub b2: Vec<f32>,
}

impl Head {
    /// PyTorch's `nn.Linear` initialisation: uniform in ±1/√fan_in, weights and
    /// biases, drawn in a fixed order from `rng`.
    fn init(inputs: usize, hidden: usize, out: usize, rng: &mut SplitMix64) -> Head {
        let mut uniform = |n: usize, fan_in: usize| -> Vec<f32> {
            let k = 1.0 / (fan_in as f64).sqrt();
            (0..n)
                .map(|_| ((rng.next_f64() * 2.0 - 1.0) * k) as f32)
                .collect()
        };
        let w1 = uniform(inputs * hidden, inputs);
        let b1 = uniform(hidden, inputs);
        let w2 = uniform(hidden * out, hidden);
        let b2 = uniform(out, hidden);
        Head {
            inputs,
            hidden,
            out,
            w1,
            b1,
            w2,
            b2,
        }
    }

    /// The weights as little-endian f32 bytes, in the order w1, b1, w2, b2.
    pub fn to_bytes(&self) -> Vec<u8> {
        [&self.w1, &self.b1, &self.w2, &self.b2]
            .iter()
            .flat_map(|v| v.iter().flat_map(|x| x.to_le_bytes()))
            .collect()
    }

    pub fn from_bytes(inputs: usize, hidden: usize, out: usize, bytes: &[u8]) -> Result<Head> {
        let sizes = [inputs * hidden, hidden, hidden * out, out];
        ensure!(
            bytes.len() == sizes.iter().sum::<usize>() * 4,
            "a stored head of the wrong size ({} bytes)",
            bytes.len()
        );
        let mut values = bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]));
        let mut take = |n: usize| values.by_ref().take(n).collect::<Vec<f32>>();
        Ok(Head {
            inputs,
            hidden,
            out,
            w1: take(sizes[0]),
            b1: take(sizes[1]),
            w2: take(sizes[2]),
            b2: take(sizes[3]),
        })
    }

    /// The hidden layer, `relu(x·w1 + b1)`, of each input row.
    pub fn hidden_of(&self, rows: &[Vec<f32>]) -> Result<Vec<Vec<f32>>> {
        if rows.is_empty() {
            return Ok(vec![]);
        }
        let dev = Device::Cpu;
        let x = rows_tensor(rows, self.inputs, &dev)?;
        let w1 = Tensor::from_slice(&self.w1, (self.inputs, self.hidden), &dev)?;
        let b1 = Tensor::from_slice(&self.b1, self.hidden, &dev)?;
        let h = x.matmul(&w1)?.broadcast_add(&b1)?.relu()?;
        Ok(h.to_vec2()?)
    }
}

fn rows_tensor(rows: &[Vec<f32>], dims: usize, dev: &Device) -> Result<Tensor> {
    let mut flat = Vec::with_capacity(rows.len() * dims);
    for r in rows {
        ensure!(
            r.len() == dims,
            "an input row of {} values, not {dims}",
            r.len()
        );
        flat.extend_from_slice(r);
    }
    Ok(Tensor::from_vec(flat, (rows.len(), dims), dev)?)
}

/// The SimCLR loss (NT-Xent) of a batch of view pairs: `z1[i]` and `z2[i]` are the
/// two views of item i (made unit length here). Each of the 2B views is an anchor;
/// its positive is its other view, its negatives the 2B − 2 other views:
/// `ℓ_r = −s(r, pos(r)) + log Σ_{j≠r} exp(s(r, j))` with `s = cos / τ`, averaged.
pub fn nt_xent(z1: &Tensor, z2: &Tensor, temperature: f64) -> Result<Tensor> {
    let b = z1.dim(0)?;
    let unit = |z: &Tensor| -> Result<Tensor> {
        let norm = z
            .sqr()?
            .sum_keepdim(D::Minus1)?
            .sqrt()?
            .clamp(1e-12, f64::MAX)?;
        Ok(z.broadcast_div(&norm)?)
    };
    let z = Tensor::cat(&[unit(z1)?, unit(z2)?], 0)?;
    let s = (z.matmul(&z.t()?)? / temperature)?;
    // The anchor itself is not a candidate.
    let mut eye = vec![0f32; 4 * b * b];
    for i in 0..2 * b {
        eye[i * 2 * b + i] = -1e9;
    }
    let s = s.broadcast_add(&Tensor::from_vec(eye, (2 * b, 2 * b), z.device())?)?;
    let max = s.max_keepdim(D::Minus1)?.detach();
    let lse = (s
        .broadcast_sub(&max)?
        .exp()?
        .sum_keepdim(D::Minus1)?
        .log()?
        + &max)?;
    let pos = (z.narrow(0, 0, b)? * z.narrow(0, b, b)?)?.sum_keepdim(D::Minus1)?;
    let pos = (Tensor::cat(&[&pos, &pos], 0)? / temperature)?;
    Ok((lse - pos)?.mean_all()?)
}

/// Where a training run is: the weights, the steps done and the generator's state,
/// so that a cancelled run continues where it stopped.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    pub head: Head,
    pub step: usize,
    pub rng: u64,
    /// Loss of each step so far.
    pub losses: Vec<f32>,
}

/// Trains the head on `set`, from `resume` when given (a cancelled run's checkpoint:
/// the optimiser's moments start again from zero there, so a resumed run is
/// deterministic but not bit-identical to an uninterrupted one). `step` is called
/// after every step with (steps done, total, loss) and returns false to stop early;
/// the checkpoint returned then has fewer than `opts.steps` steps. Every
/// `checkpoint_every` steps (0: never) `checkpoint` gets the run's state.
pub fn train(
    set: &TrainingSet,
    opts: &HeadOptions,
    resume: Option<Checkpoint>,
    step: &mut dyn FnMut(usize, usize, f32) -> bool,
    checkpoint_every: usize,
    checkpoint: &mut dyn FnMut(&Checkpoint) -> Result<()>,
) -> Result<Checkpoint> {
    let n = set.frames.len();
    ensure!(
        n == set.concepts.len(),
        "frames and concepts of different videos"
    );
    if n < 2 {
        bail!("at least 2 videos are needed to learn from");
    }
    ensure!(
        set.frames.iter().all(|f| !f.is_empty()),
        "a video without frames"
    );
    let (fd, cd) = (set.frame_dims(), set.concept_dims());
    let inputs = fd + cd;
    let mut ck = match resume {
        Some(ck) if ck.head.inputs == inputs && ck.head.hidden == opts.hidden => ck,
        _ => {
            let mut rng = SplitMix64::seeded(opts.seed);
            let head = Head::init(inputs, opts.hidden, opts.out, &mut rng);
            Checkpoint {
                head,
                step: 0,
                rng: rng.next_u64(),
                losses: vec![],
            }
        }
    };
    let dev = Device::Cpu;
    let h = &ck.head;
    let w1 = Var::from_tensor(&Tensor::from_slice(&h.w1, (inputs, h.hidden), &dev)?)?;
    let b1 = Var::from_tensor(&Tensor::from_slice(&h.b1, h.hidden, &dev)?)?;
    let w2 = Var::from_tensor(&Tensor::from_slice(&h.w2, (h.hidden, h.out), &dev)?)?;
    let b2 = Var::from_tensor(&Tensor::from_slice(&h.b2, h.out, &dev)?)?;
    let mut opt = AdamW::new(
        vec![w1.clone(), b1.clone(), w2.clone(), b2.clone()],
        ParamsAdamW {
            lr: opts.lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: opts.weight_decay,
        },
    )?;
    let batch = opts.batch.min(n).max(2);
    let mut rng = SplitMix64::from_state(ck.rng);
    let forward = |x: &Tensor| -> Result<Tensor> {
        let hid = x
            .matmul(w1.as_tensor())?
            .broadcast_add(b1.as_tensor())?
            .relu()?;
        Ok(hid.matmul(w2.as_tensor())?.broadcast_add(b2.as_tensor())?)
    };
    while ck.step < opts.steps {
        // Distinct videos, two frames each, each view masked on its own.
        let videos = sample_distinct(&mut rng, n, batch);
        let mut views = [
            Vec::with_capacity(batch * inputs),
            Vec::with_capacity(batch * inputs),
        ];
        for &v in &videos {
            for view in views.iter_mut() {
                let frames = &set.frames[v];
                let f = &frames[rng.below(frames.len())];
                for &x in f.iter().chain(&set.concepts[v]) {
                    view.push(if rng.next_f64() < opts.mask { 0.0 } else { x });
                }
            }
        }
        let [v1, v2] = views;
        let z1 = forward(&Tensor::from_vec(v1, (batch, inputs), &dev)?)?;
        let z2 = forward(&Tensor::from_vec(v2, (batch, inputs), &dev)?)?;
        let loss = nt_xent(&z1, &z2, opts.temperature)?;
        opt.backward_step(&loss)?;
        let loss = loss.to_dtype(DType::F32)?.to_scalar::<f32>()?;
        ck.step += 1;
        ck.losses.push(loss);
        ck.rng = rng.next_u64();
        rng = SplitMix64::from_state(ck.rng);
        let go_on = step(ck.step, opts.steps, loss);
        if checkpoint_every > 0 && ck.step % checkpoint_every == 0 && ck.step < opts.steps {
            read_weights(&mut ck.head, [&w1, &b1, &w2, &b2])?;
            checkpoint(&ck)?;
        }
        if !go_on {
            break;
        }
    }
    read_weights(&mut ck.head, [&w1, &b1, &w2, &b2])?;
    Ok(ck)
}

fn read_weights(head: &mut Head, [w1, b1, w2, b2]: [&Var; 4]) -> Result<()> {
    let flat = |v: &Var| -> Result<Vec<f32>> { Ok(v.as_tensor().flatten_all()?.to_vec1()?) };
    head.w1 = flat(w1)?;
    head.b1 = flat(b1)?;
    head.w2 = flat(w2)?;
    head.b2 = flat(b2)?;
    Ok(())
}

/// `k` distinct indices below `n`, uniformly (a partial Fisher-Yates shuffle).
fn sample_distinct(rng: &mut SplitMix64, n: usize, k: usize) -> Vec<usize> {
    let mut all: Vec<usize> = (0..n).collect();
    for i in 0..k.min(n) {
        let j = i + rng.below(n - i);
        all.swap(i, j);
    }
    all.truncate(k.min(n));
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(rows: &[[f32; 2]]) -> Tensor {
        let flat: Vec<f32> = rows.iter().flatten().copied().collect();
        Tensor::from_vec(flat, (rows.len(), 2), &Device::Cpu).unwrap()
    }

    fn loss(a: &[[f32; 2]], b: &[[f32; 2]], tau: f64) -> f32 {
        nt_xent(&t(a), &t(b), tau)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    }

    /// Values computed by hand (and checked against PyTorch in float64).
    #[test]
    fn nt_xent_matches_hand_computed_values() {
        let v1 = [[1.0, 0.0], [0.0, 1.0]];
        let v2 = [[0.6, 0.8], [0.8, -0.6]];
        // Anchor 0: logits {0, 1.2, 1.6} to the others, positive 1.2:
        // −1.2 + ln(1 + e^1.2 + e^1.6) = 1.027123.
        assert!((loss(&v1, &v2, 0.5) - 2.03019).abs() < 1e-5);
        assert!((loss(&v1, &v2, 0.2) - 4.172804).abs() < 1e-5);
        assert!((loss(&v1, &v1, 0.2) - 0.013386).abs() < 1e-5);
        // Not unit length: normalised first.
        let (a, b) = ([[3.0, 4.0], [1.0, 1.0]], [[4.0, 3.0], [-1.0, 2.0]]);
        assert!((loss(&a, &b, 0.2) - 1.724197).abs() < 1e-5);
    }

    /// Videos whose frames scatter around one of a few directions per group.
    fn groups(videos: usize, groups: usize, seed: u64) -> (TrainingSet, Vec<usize>) {
        let mut rng = SplitMix64::seeded(seed);
        let mut normal = move || rng.normal() as f32;
        let dims = 24;
        let centres: Vec<Vec<f32>> = (0..groups)
            .map(|_| (0..dims).map(|_| normal()).collect())
            .collect();
        let mut frames = Vec::new();
        let mut concepts = Vec::new();
        let mut truth = Vec::new();
        for v in 0..videos {
            let g = v % groups;
            let own: Vec<f32> = centres[g].iter().map(|c| c + 0.8 * normal()).collect();
            frames.push(
                (0..6)
                    .map(|_| {
                        let mut f: Vec<f32> = own.iter().map(|c| c + 0.8 * normal()).collect();
                        reelmap_numeric::l2_normalize(&mut f);
                        f
                    })
                    .collect(),
            );
            let mut c: Vec<f32> = (0..8).map(|_| normal()).collect();
            reelmap_numeric::l2_normalize(&mut c);
            concepts.push(c);
            truth.push(g);
        }
        (TrainingSet { frames, concepts }, truth)
    }

    fn small() -> HeadOptions {
        HeadOptions {
            hidden: 32,
            out: 16,
            steps: 60,
            batch: 32,
            ..Default::default()
        }
    }

    #[test]
    fn training_lowers_the_loss_and_repeats_for_a_seed() {
        let (set, _) = groups(60, 4, 3);
        let a = train(
            &set,
            &small(),
            None,
            &mut |_, _, _| true,
            0,
            &mut |_| Ok(()),
        )
        .unwrap();
        assert_eq!(a.losses.len(), 60);
        let first: f32 = a.losses[..5].iter().sum::<f32>() / 5.0;
        let last: f32 = a.losses[55..].iter().sum::<f32>() / 5.0;
        assert!(last < 0.8 * first, "loss {first} → {last}");
        let b = train(
            &set,
            &small(),
            None,
            &mut |_, _, _| true,
            0,
            &mut |_| Ok(()),
        )
        .unwrap();
        assert_eq!(a, b, "the same seed gives the same head, bit for bit");
        let other = HeadOptions { seed: 2, ..small() };
        assert_ne!(
            train(&set, &other, None, &mut |_, _, _| true, 0, &mut |_| Ok(()))
                .unwrap()
                .head,
            a.head
        );
    }

    #[test]
    fn a_stopped_run_resumes_where_it_stopped() {
        let (set, _) = groups(40, 4, 5);
        let part = train(
            &set,
            &small(),
            None,
            &mut |done, _, _| done < 20,
            0,
            &mut |_| Ok(()),
        )
        .unwrap();
        assert_eq!(part.step, 20);
        let rest = train(
            &set,
            &small(),
            Some(part.clone()),
            &mut |_, _, _| true,
            0,
            &mut |_| Ok(()),
        )
        .unwrap();
        assert_eq!(rest.step, 60);
        assert_eq!(&rest.losses[..20], &part.losses[..]);
        assert!(rest.losses[59].is_finite());
    }

    #[test]
    fn weights_round_trip_through_bytes() {
        let (set, _) = groups(20, 2, 7);
        let opts = HeadOptions {
            steps: 3,
            ..small()
        };
        let mut seen = vec![];
        let ck = train(&set, &opts, None, &mut |_, _, _| true, 1, &mut |c| {
            seen.push(c.step);
            Ok(())
        })
        .unwrap();
        assert_eq!(
            seen,
            vec![1, 2],
            "a checkpoint after every step but the last"
        );
        let h = &ck.head;
        let back = Head::from_bytes(h.inputs, h.hidden, h.out, &h.to_bytes()).unwrap();
        assert_eq!(&back, h);
        assert!(Head::from_bytes(h.inputs, h.hidden, h.out, &[0; 8]).is_err());
        let hidden = h.hidden_of(&[vec![0.1; h.inputs]]).unwrap();
        assert_eq!(hidden[0].len(), h.hidden);
        assert!(hidden[0].iter().all(|x| *x >= 0.0));
    }
}
