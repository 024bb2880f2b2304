//! Clustering quality against known categories: accuracy under the best one-to-one
//! matching of clusters to categories (Hungarian algorithm), normalised mutual
//! information, adjusted Rand index, purity and the conditional entropy
//! H(category | cluster) in bits.

use std::collections::HashMap;

#[derive(Debug, Clone, serde::Serialize)]
pub struct Scores {
    pub n: usize,
    pub clusters: usize,
    pub categories: usize,
    pub accuracy: f64,
    pub nmi: f64,
    pub ari: f64,
    pub purity: f64,
    /// H(true category | cluster) in bits: 0 when every cluster is pure.
    pub conditional_entropy_bits: f64,
}

/// Contingency table: rows = categories, columns = clusters.
fn contingency(truth: &[usize], pred: &[usize]) -> (Vec<Vec<f64>>, usize, usize) {
    let mut ti: HashMap<usize, usize> = HashMap::new();
    let mut pi: HashMap<usize, usize> = HashMap::new();
    let mut tk: Vec<usize> = truth.to_vec();
    tk.sort_unstable();
    tk.dedup();
    let mut pk: Vec<usize> = pred.to_vec();
    pk.sort_unstable();
    pk.dedup();
    for (i, t) in tk.iter().enumerate() {
        ti.insert(*t, i);
    }
    for (i, p) in pk.iter().enumerate() {
        pi.insert(*p, i);
    }
    let mut m = vec![vec![0.0; pk.len()]; tk.len()];
    for (t, p) in truth.iter().zip(pred) {
        m[ti[t]][pi[p]] += 1.0;
    }
    (m, tk.len(), pk.len())
}

fn entropy(counts: impl Iterator<Item = f64>, n: f64) -> f64 {
    counts
        .filter(|c| *c > 0.0)
        .map(|c| {
            let p = c / n;
            -p * p.ln()
        })
        .sum()
}

fn comb2(x: f64) -> f64 {
    x * (x - 1.0) / 2.0
}

pub fn score(truth: &[usize], pred: &[usize]) -> Scores {
    assert_eq!(truth.len(), pred.len());
    let n = truth.len();
    if n == 0 {
        return Scores {
            n: 0,
            clusters: 0,
            categories: 0,
            accuracy: 0.0,
            nmi: 0.0,
            ari: 0.0,
            purity: 0.0,
            conditional_entropy_bits: 0.0,
        };
    }
    let nf = n as f64;
    let (m, rows, cols) = contingency(truth, pred);
    let row_sums: Vec<f64> = m.iter().map(|r| r.iter().sum()).collect();
    let col_sums: Vec<f64> = (0..cols).map(|j| m.iter().map(|r| r[j]).sum()).collect();

    // Accuracy: best one-to-one matching (maximise matched counts).
    let size = rows.max(cols);
    let max = m.iter().flatten().cloned().fold(0.0, f64::max);
    let mut cost = vec![vec![max; size]; size];
    for i in 0..rows {
        for j in 0..cols {
            cost[i][j] = max - m[i][j];
        }
    }
    let assignment = hungarian(&cost);
    let matched: f64 = assignment
        .iter()
        .enumerate()
        .filter(|(i, j)| *i < rows && **j < cols)
        .map(|(i, &j)| m[i][j])
        .sum();

    // Mutual information and entropies (nats).
    let mut mi = 0.0;
    for i in 0..rows {
        for j in 0..cols {
            let c = m[i][j];
            if c > 0.0 {
                mi += c / nf * ((c * nf) / (row_sums[i] * col_sums[j])).ln();
            }
        }
    }
    let h_true = entropy(row_sums.iter().cloned(), nf);
    let h_pred = entropy(col_sums.iter().cloned(), nf);
    // Arithmetic-mean normalisation, as scikit-learn's default.
    let nmi = if h_true == 0.0 && h_pred == 0.0 {
        1.0
    } else if h_true == 0.0 || h_pred == 0.0 {
        0.0
    } else {
        mi / ((h_true + h_pred) / 2.0)
    };
    let h_true_given_pred = (h_true - mi).max(0.0) / std::f64::consts::LN_2;

    // Adjusted Rand index.
    let sum_comb: f64 = m.iter().flatten().map(|&c| comb2(c)).sum();
    let sum_rows: f64 = row_sums.iter().map(|&c| comb2(c)).sum();
    let sum_cols: f64 = col_sums.iter().map(|&c| comb2(c)).sum();
    let expected = sum_rows * sum_cols / comb2(nf);
    let max_index = (sum_rows + sum_cols) / 2.0;
    let ari = if (max_index - expected).abs() < 1e-12 {
        1.0
    } else {
        (sum_comb - expected) / (max_index - expected)
    };

    let purity = (0..cols)
        .map(|j| m.iter().map(|r| r[j]).fold(0.0, f64::max))
        .sum::<f64>()
        / nf;

    Scores {
        n,
        clusters: cols,
        categories: rows,
        accuracy: matched / nf,
        nmi,
        ari,
        purity,
        conditional_entropy_bits: h_true_given_pred,
    }
}

/// Minimum-cost perfect matching on a square cost matrix (Kuhn–Munkres with
/// potentials, O(n³)). Returns, for each row, its column.
pub fn hungarian(cost: &[Vec<f64>]) -> Vec<usize> {
    let n = cost.len();
    if n == 0 {
        return vec![];
    }
    let inf = f64::INFINITY;
    // 1-based arrays as in the classic formulation; p[j] = row matched to column j.
    let mut u = vec![0.0; n + 1];
    let mut v = vec![0.0; n + 1];
    let mut p = vec![0usize; n + 1];
    let mut way = vec![0usize; n + 1];
    for i in 1..=n {
        p[0] = i;
        let mut j0 = 0;
        let mut minv = vec![inf; n + 1];
        let mut used = vec![false; n + 1];
        loop {
            used[j0] = true;
            let i0 = p[j0];
            let mut delta = inf;
            let mut j1 = 0;
            for j in 1..=n {
                if !used[j] {
                    let cur = cost[i0 - 1][j - 1] - u[i0] - v[j];
                    if cur < minv[j] {
                        minv[j] = cur;
                        way[j] = j0;
                    }
                    if minv[j] < delta {
                        delta = minv[j];
                        j1 = j;
                    }
                }
            }
            for j in 0..=n {
                if used[j] {
                    u[p[j]] += delta;
                    v[j] -= delta;
                } else {
                    minv[j] -= delta;
                }
            }
            j0 = j1;
            if p[j0] == 0 {
                break;
            }
        }
        loop {
            let j1 = way[j0];
            p[j0] = p[j1];
            j0 = j1;
            if j0 == 0 {
                break;
            }
        }
    }
    let mut row_to_col = vec![0; n];
    for j in 1..=n {
        if p[j] > 0 {
            row_to_col[p[j] - 1] = j - 1;
        }
    }
    row_to_col
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hand-checked example: 3 categories × 3 clusters, one mistake in 6.
    /// truth = [0,0,1,1,2,2], pred = [1,1,0,2,2,2].
    /// Contingency (rows truth): [[0,2,0],[1,0,1],[0,0,2]].
    /// Best matching: 0→1 (2), 1→0 (1), 2→2 (2) = 5/6.
    /// Purity: cluster0 max 1, cluster1 max 2, cluster2 max 2 → 5/6.
    /// H(truth|pred): cluster 2 holds {1,2,2}: (3/6)·H(1/3,2/3) = 0.5 · 0.918296 = 0.459148 bits.
    /// ARI: Σcomb(n_ij) = 1+1 = 2; rows 1+1+1 = 3; cols 0+1+3 = 4; expected 3·4/15 = 0.8;
    /// max 3.5 → (2 - 0.8)/(3.5 - 0.8) = 0.444444.
    #[test]
    fn hand_checked_example() {
        let s = score(&[0, 0, 1, 1, 2, 2], &[1, 1, 0, 2, 2, 2]);
        assert!((s.accuracy - 5.0 / 6.0).abs() < 1e-12);
        assert!((s.purity - 5.0 / 6.0).abs() < 1e-12);
        assert!(
            (s.conditional_entropy_bits - 0.459148).abs() < 1e-5,
            "{}",
            s.conditional_entropy_bits
        );
        assert!((s.ari - 0.444444).abs() < 1e-5, "{}", s.ari);
        // NMI: I = H(truth) - H(truth|pred) = log2(3) - 0.459148 = 1.125815 bits;
        // H(pred) = H(1/6, 2/6, 3/6) = 1.459148 bits; NMI = I / ((1.584963 + 1.459148)/2).
        let expect = 1.125815 / ((1.584963 + 1.459148) / 2.0);
        assert!((s.nmi - expect).abs() < 1e-5, "{} vs {expect}", s.nmi);
    }

    #[test]
    fn perfect_and_permuted_labels() {
        let t = [0, 0, 1, 1, 2, 2, 2];
        let p = [5, 5, 3, 3, 9, 9, 9];
        let s = score(&t, &p);
        assert_eq!(s.accuracy, 1.0);
        assert!((s.nmi - 1.0).abs() < 1e-12);
        assert!((s.ari - 1.0).abs() < 1e-12);
        assert!(s.conditional_entropy_bits.abs() < 1e-12);
    }

    #[test]
    fn more_clusters_than_categories() {
        let s = score(&[0, 0, 0, 1, 1, 1], &[0, 1, 2, 3, 3, 3]);
        // Only one cluster can be matched to category 0.
        assert!((s.accuracy - 4.0 / 6.0).abs() < 1e-12);
        assert_eq!(s.purity, 1.0);
        assert!(s.conditional_entropy_bits.abs() < 1e-12);
    }

    #[test]
    fn hungarian_finds_minimum() {
        let c = vec![
            vec![4.0, 1.0, 3.0],
            vec![2.0, 0.0, 5.0],
            vec![3.0, 2.0, 2.0],
        ];
        let a = hungarian(&c);
        let total: f64 = a.iter().enumerate().map(|(i, &j)| c[i][j]).sum();
        assert_eq!(total, 5.0);
    }
}
