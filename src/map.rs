//! 2-D maps of videos and frames (placeholder layout until Barnes-Hut t-SNE lands:
//! the first two principal components).

pub struct TsneOptions {
    pub perplexity: f32,
    pub theta: f32,
    pub iterations: usize,
    pub early_exaggeration: f32,
    pub exaggeration_iters: usize,
    pub learning_rate: Option<f32>,
    pub seed: u64,
    pub threads: usize,
}

impl Default for TsneOptions {
    fn default() -> Self {
        TsneOptions {
            perplexity: 30.0,
            theta: 0.5,
            iterations: 750,
            early_exaggeration: 12.0,
            exaggeration_iters: 250,
            learning_rate: None,
            seed: 1,
            threads: 0,
        }
    }
}

pub fn tsne(
    data: &[Vec<f32>],
    _opts: &TsneOptions,
    progress: &mut dyn FnMut(usize, usize),
) -> Vec<[f32; 2]> {
    let n = data.len();
    if n == 0 {
        return vec![];
    }
    let d = data[0].len();
    let mean: Vec<f32> = (0..d)
        .map(|j| data.iter().map(|r| r[j]).sum::<f32>() / n as f32)
        .collect();
    let mut out = vec![[0f32; 2]; n];
    let mut basis: Vec<Vec<f32>> = Vec::new();
    for c in 0..2 {
        let mut v: Vec<f32> = (0..d)
            .map(|j| ((j * 7 + c * 13) % 11) as f32 - 5.0)
            .collect();
        for _ in 0..30 {
            let mut nv = vec![0f32; d];
            for r in data {
                let p: f32 = r
                    .iter()
                    .zip(&mean)
                    .zip(&v)
                    .map(|((x, m), w)| (x - m) * w)
                    .sum();
                for j in 0..d {
                    nv[j] += p * (r[j] - mean[j]);
                }
            }
            for b in &basis {
                let p: f32 = nv.iter().zip(b).map(|(a, b)| a * b).sum();
                for j in 0..d {
                    nv[j] -= p * b[j];
                }
            }
            crate::util::l2_normalize(&mut nv);
            v = nv;
        }
        basis.push(v);
        progress(c + 1, 2);
    }
    for (i, r) in data.iter().enumerate() {
        for c in 0..2 {
            out[i][c] = r
                .iter()
                .zip(&mean)
                .zip(&basis[c])
                .map(|((x, m), w)| (x - m) * w)
                .sum();
        }
    }
    out
}
