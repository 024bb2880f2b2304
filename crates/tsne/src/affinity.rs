//! Affinities: per point, the Gaussian precision that hits the perplexity; then the
//! symmetric joint probabilities in CSR form.

use rayon::prelude::*;

/// Symmetric joint probabilities `P` in CSR form (`u32` columns, `f32`).
pub(crate) struct Csr {
    pub(crate) start: Vec<usize>,
    pub(crate) col: Vec<u32>,
    pub(crate) val: Vec<f32>,
}

impl Csr {
    pub(crate) fn affinities(idx: &[u32], d2: &[f32], n: usize, k: usize, perplexity: f32) -> Csr {
        // Conditional p_{j|i}, one row per point.
        let mut cond = vec![0f32; n * k];
        cond.par_chunks_mut(k)
            .zip(d2.par_chunks(k))
            .for_each(|(out, d)| calibrate_row(d, perplexity as f64, out));
        // Symmetrise: row i holds its own neighbours plus the points that
        // have i as a neighbour; duplicates are merged after sorting.
        let mut count = vec![k; n];
        for &j in idx {
            count[j as usize] += 1;
        }
        let mut start = vec![0usize; n + 1];
        for i in 0..n {
            start[i + 1] = start[i] + count[i];
        }
        let mut fill: Vec<usize> = start[..n].to_vec();
        let mut ent = vec![(0u32, 0f32); start[n]];
        for i in 0..n {
            for t in 0..k {
                let (j, p) = (idx[i * k + t] as usize, cond[i * k + t]);
                ent[fill[i]] = (j as u32, p);
                fill[i] += 1;
                ent[fill[j]] = (i as u32, p);
                fill[j] += 1;
            }
        }
        let norm = 1.0 / (2.0 * n as f64);
        // Sort and merge each row independently.
        let mut rows: Vec<&mut [(u32, f32)]> = Vec::with_capacity(n);
        let mut rest = &mut ent[..];
        for &len in &count {
            let (a, b) = rest.split_at_mut(len);
            rows.push(a);
            rest = b;
        }
        let lens: Vec<usize> = rows
            .par_iter_mut()
            .map(|row| {
                row.sort_by_key(|e| e.0);
                let mut w = 0;
                for r in 0..row.len() {
                    if w > 0 && row[w - 1].0 == row[r].0 {
                        row[w - 1].1 += row[r].1;
                    } else {
                        row[w] = row[r];
                        w += 1;
                    }
                }
                for e in row[..w].iter_mut() {
                    e.1 = (e.1 as f64 * norm) as f32;
                }
                w
            })
            .collect();
        let mut s = vec![0usize; n + 1];
        for i in 0..n {
            s[i + 1] = s[i] + lens[i];
        }
        let mut col = Vec::with_capacity(s[n]);
        let mut val = Vec::with_capacity(s[n]);
        for (i, row) in rows.iter().enumerate() {
            for &(c, v) in &row[..lens[i]] {
                col.push(c);
                val.push(v);
            }
        }
        // The gathering attraction kernel relies on this.
        assert!(col.iter().all(|&c| (c as usize) < n));
        Csr { start: s, col, val }
    }
}

/// Gaussian conditional probabilities over one point's neighbours with the
/// precision chosen by bisection so that the entropy equals ln(perplexity).
pub(crate) fn calibrate_row(d2: &[f32], perplexity: f64, out: &mut [f32]) {
    let target = perplexity.ln();
    // Shift by the nearest distance: identical after normalisation and avoids
    // underflow for far-away points.
    let dmin = d2.iter().cloned().fold(f32::INFINITY, f32::min) as f64;
    let dd: Vec<f64> = d2.iter().map(|&d| d as f64 - dmin).collect();
    let mean = dd.iter().sum::<f64>() / dd.len() as f64;
    let mut beta = if mean > 0.0 { 1.0 / mean } else { 1.0 };
    let (mut lo, mut hi) = (0f64, f64::INFINITY);
    let mut w = vec![0f64; dd.len()];
    for _ in 0..200 {
        let mut sum = 0f64;
        let mut sdw = 0f64;
        for (wi, &d) in w.iter_mut().zip(&dd) {
            *wi = (-beta * d).exp();
            sum += *wi;
            sdw += *wi * d;
        }
        let h = sum.ln() + beta * sdw / sum;
        if (h - target).abs() < 1e-5 {
            break;
        }
        if h > target {
            lo = beta;
            beta = if hi.is_finite() {
                0.5 * (beta + hi)
            } else {
                beta * 2.0
            };
        } else {
            hi = beta;
            beta = 0.5 * (beta + lo);
        }
    }
    let sum: f64 = w.iter().sum();
    for (o, &wi) in out.iter_mut().zip(&w) {
        *o = (wi / sum) as f32;
    }
}
