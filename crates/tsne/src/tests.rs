//! Tests of the whole t-SNE and of its parts.

use crate::barnes_hut::*;
use crate::knn::*;
use crate::optimise::*;
use crate::pca::*;
use crate::*;
use reelmap_numeric::SplitMix64;

/// `k` Gaussian blobs of `per` points in `d` dimensions (labels i % k).
fn blobs(k: usize, per: usize, d: usize, spread: f32, seed: u64) -> (Vec<Vec<f32>>, Vec<usize>) {
    let mut rng = SplitMix64::from_state(seed);
    let centers: Vec<Vec<f32>> = (0..k)
        .map(|_| (0..d).map(|_| rng.normal() as f32).collect())
        .collect();
    let mut data = Vec::new();
    let mut labels = Vec::new();
    for i in 0..k * per {
        let c = i % k;
        data.push(
            centers[c]
                .iter()
                .map(|&m| m + spread * rng.normal() as f32)
                .collect(),
        );
        labels.push(c);
    }
    (data, labels)
}

/// A 2-D square embedded linearly in `d` dimensions: t-SNE can preserve
/// its neighbourhoods well.
fn plane(n: usize, d: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = SplitMix64::from_state(seed);
    let a: Vec<f32> = (0..d).map(|_| rng.normal() as f32).collect();
    let b: Vec<f32> = (0..d).map(|_| rng.normal() as f32).collect();
    (0..n)
        .map(|_| {
            let (u, v) = (rng.next_open01() as f32, rng.next_open01() as f32);
            (0..d)
                .map(|j| u * a[j] + v * b[j] + 0.001 * rng.normal() as f32)
                .collect()
        })
        .collect()
}

fn quick() -> TsneOptions {
    TsneOptions {
        iterations: 400,
        exaggeration_iters: 150,
        ..Default::default()
    }
}

fn all_finite(y: &[[f32; 2]]) -> bool {
    y.iter().all(|p| p[0].is_finite() && p[1].is_finite())
}

#[test]
fn separates_clusters() {
    // d = 80 > 50: exercises PCA, candidate search and exact re-ranking.
    let (k, per) = (6, 40);
    let (data, labels) = blobs(k, per, 80, 0.15, 1);
    let mut calls = 0;
    let y = tsne(&data, &quick(), &mut |i, t| {
        assert!(i <= t);
        calls += 1;
    });
    assert_eq!(calls, 401);
    assert_eq!(y.len(), data.len());
    assert!(all_finite(&y));
    // Every point is closer to its own cluster's centroid than to any
    // other, with a clear margin between clusters.
    let mut cent = vec![[0f64; 2]; k];
    for (p, &l) in y.iter().zip(&labels) {
        cent[l][0] += p[0] as f64 / per as f64;
        cent[l][1] += p[1] as f64 / per as f64;
    }
    let dist = |p: [f32; 2], c: [f64; 2]| {
        ((p[0] as f64 - c[0]).powi(2) + (p[1] as f64 - c[1]).powi(2)).sqrt()
    };
    let mut radius = 0f64;
    for (p, &l) in y.iter().zip(&labels) {
        let own = dist(*p, cent[l]);
        radius = radius.max(own);
        for (c, cc) in cent.iter().enumerate() {
            if c != l {
                assert!(dist(*p, *cc) > own, "point nearer to another cluster");
            }
        }
    }
    let mut gap = f64::INFINITY;
    for a in 0..k {
        for b in a + 1..k {
            gap = gap.min(dist([cent[a][0] as f32, cent[a][1] as f32], cent[b]));
        }
    }
    assert!(
        gap > 2.0 * radius,
        "clusters overlap: gap {gap}, radius {radius}"
    );
    // Neighbourhoods at the cluster level: the 10 nearest embedding
    // neighbours share the label.
    let knn = knn_preservation(&data, &y, 10, 0);
    eprintln!("blobs: kNN preservation {knn:.3}, gap {gap:.2}, radius {radius:.2}");
    assert!(knn > 0.2, "kNN preservation {knn}");
}

#[test]
fn preserves_neighbourhoods_of_a_manifold() {
    let data = plane(400, 64, 2);
    let y = tsne(&data, &quick(), &mut |_, _| {});
    assert!(all_finite(&y));
    let knn = knn_preservation(&data, &y, 10, 0);
    eprintln!("plane: kNN preservation {knn:.3}");
    assert!(knn > 0.6, "kNN preservation {knn}");
    // Sampled evaluation is close to the full one.
    let sampled = knn_preservation(&data, &y, 10, 100);
    assert!((sampled - knn).abs() < 0.1);
}

#[test]
fn deterministic_for_a_seed_and_any_thread_count() {
    let (data, _) = blobs(4, 30, 60, 0.3, 3);
    let o1 = TsneOptions {
        threads: 1,
        seed: 7,
        ..quick()
    };
    let o2 = TsneOptions {
        threads: 2,
        seed: 7,
        ..quick()
    };
    let a = tsne(&data, &o1, &mut |_, _| {});
    let b = tsne(&data, &o1, &mut |_, _| {});
    let c = tsne(&data, &o2, &mut |_, _| {});
    assert_eq!(a, b);
    assert_eq!(a, c);
    let d = tsne(&data, &TsneOptions { seed: 8, ..o2 }, &mut |_, _| {});
    assert_ne!(a, d, "the seed should matter");
}

#[test]
fn tiny_inputs_do_not_panic() {
    for n in 0..8 {
        for d in [0, 1, 3, 70] {
            let data: Vec<Vec<f32>> = (0..n)
                .map(|i| (0..d).map(|j| ((i * 7 + j * 3) % 5) as f32).collect())
                .collect();
            let y = tsne(&data, &quick(), &mut |_, _| {});
            assert_eq!(y.len(), n);
            assert!(all_finite(&y), "n={n} d={d}: {y:?}");
            if n >= 2 {
                let spread = y
                    .iter()
                    .map(|p| p[0].abs() + p[1].abs())
                    .fold(0f32, f32::max);
                assert!(spread > 0.0, "n={n} d={d}: all points on top of each other");
            }
        }
    }
    assert_eq!(tiny_layout(1), vec![[0.0, 0.0]]);
    assert!(knn_preservation(&[], &[], 10, 0) == 1.0);
}

#[test]
fn duplicates_ragged_rows_and_garbage() {
    // 30 identical rows, plus rows of other lengths and non-finite values.
    let mut data: Vec<Vec<f32>> = vec![vec![0.5; 20]; 30];
    data.push(vec![1.0; 10]);
    data.push(vec![f32::NAN, f32::INFINITY, 2.0]);
    data.push(Vec::new());
    let y = tsne(&data, &quick(), &mut |_, _| {});
    assert_eq!(y.len(), data.len());
    assert!(all_finite(&y));
    // All points identical.
    let same = vec![vec![1.0f32; 5]; 12];
    let y = tsne(&same, &quick(), &mut |_, _| {});
    assert!(all_finite(&y));
}

#[test]
fn small_n_reduces_perplexity_and_gram_path() {
    // n = 20 < 3·30, d = 300 > n (Gram-matrix PCA).
    let (data, labels) = blobs(2, 10, 300, 0.05, 4);
    let y = tsne(&data, &quick(), &mut |_, _| {});
    assert!(all_finite(&y));
    // The two blobs end up apart: nearest embedding neighbour shares the label.
    for i in 0..y.len() {
        let j = (0..y.len())
            .filter(|&j| j != i)
            .min_by(|&a, &b| {
                let da = (y[a][0] - y[i][0]).powi(2) + (y[a][1] - y[i][1]).powi(2);
                let db = (y[b][0] - y[i][0]).powi(2) + (y[b][1] - y[i][1]).powi(2);
                da.total_cmp(&db)
            })
            .unwrap();
        assert_eq!(labels[i], labels[j]);
    }
    assert!((effective_perplexity(30.0, 20) - 19.0 / 3.0).abs() < 1e-6);
    assert_eq!(effective_perplexity(30.0, 4), 1.0);
}

#[test]
fn pca_matches_exact_eigen_decomposition() {
    // Data with a known, well separated spectrum along random axes.
    let (n, d) = (300, 90);
    let mut rng = SplitMix64::from_state(5);
    let data: Vec<Vec<f32>> = (0..n)
        .map(|_| {
            (0..d)
                .map(|j| (rng.normal() * (d - j) as f64 / d as f64) as f32)
                .collect()
        })
        .collect();
    let pool = Pool::new(0);
    let mut x = Flat::from_rows(&data, &pool);
    let s = pca_scores(&mut x, 50, &pool);
    // Column variances must be decreasing and match the exact spectrum
    // (variance of axis j ≈ ((d-j)/d)²), and columns uncorrelated.
    let var =
        |c: usize| (0..n).map(|i| (s[i * 50 + c] as f64).powi(2)).sum::<f64>() / (n - 1) as f64;
    for c in 1..50 {
        assert!(var(c) <= var(c - 1) * 1.0001, "variance not sorted at {c}");
    }
    let mut a: Vec<f64> = vec![0.0; d * d];
    for r in &data {
        let m: Vec<f64> = (0..d).map(|j| r[j] as f64).collect();
        for i in 0..d {
            for j in 0..d {
                a[i * d + j] += m[i] * m[j];
            }
        }
    }
    // Centre: subtract n·mean·meanᵀ.
    let mean: Vec<f64> = (0..d)
        .map(|j| data.iter().map(|r| r[j] as f64).sum::<f64>() / n as f64)
        .collect();
    for i in 0..d {
        for j in 0..d {
            a[i * d + j] = (a[i * d + j] - n as f64 * mean[i] * mean[j]) / (n - 1) as f64;
        }
    }
    let (mut ev, _) = jacobi_eigen(&mut a, d);
    ev.sort_by(|x, y| y.total_cmp(x));
    for c in 0..5 {
        assert!(
            (var(c) - ev[c]).abs() < 1e-3 * ev[0],
            "eigenvalue {c}: {} vs {}",
            var(c),
            ev[c]
        );
    }
    let cov01 = (0..n)
        .map(|i| s[i * 50] as f64 * s[i * 50 + 1] as f64)
        .sum::<f64>()
        / (n - 1) as f64;
    assert!(cov01.abs() < 1e-3 * ev[0]);
}

#[test]
fn exact_knn_matches_brute_force() {
    let (n, p, k) = (157, 13, 9);
    let mut rng = SplitMix64::from_state(6);
    let x: Vec<f32> = (0..n * p).map(|_| rng.normal() as f32).collect();
    let (idx, d2) = knn(&x, n, p, k);
    for i in 0..n {
        let mut all: Vec<(f32, u32)> = (0..n)
            .filter(|&j| j != i)
            .map(|j| {
                (
                    sq_dist(&x[i * p..(i + 1) * p], &x[j * p..(j + 1) * p]),
                    j as u32,
                )
            })
            .collect();
        all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let want: Vec<u32> = all[..k].iter().map(|e| e.1).collect();
        assert_eq!(&idx[i * k..(i + 1) * k], &want[..]);
        assert!((d2[i * k] - all[0].0).abs() < 1e-4);
    }
}

#[test]
fn barnes_hut_matches_exact_repulsion() {
    let n = 700;
    let mut rng = SplitMix64::from_state(9);
    let y: Vec<[f32; 2]> = (0..n)
        .map(|i| {
            let c = (i % 5) as f64 * 7.0;
            [(c + rng.normal()) as f32, (rng.normal() * 3.0) as f32]
        })
        .collect();
    let mut tree = Tree::new(n);
    let mut rep = vec![[0f32; 2]; n];
    let z = tree.repulsion(&y, 0.5, &mut rep);
    let mut exact_z = 0f64;
    let mut exact = vec![[0f64; 2]; n];
    for i in 0..n {
        for j in 0..n {
            if i != j {
                let (dx, dy) = ((y[i][0] - y[j][0]) as f64, (y[i][1] - y[j][1]) as f64);
                let q = 1.0 / (1.0 + dx * dx + dy * dy);
                exact_z += q;
                exact[i][0] += q * q * dx;
                exact[i][1] += q * q * dy;
            }
        }
    }
    assert!((z - exact_z).abs() < 0.01 * exact_z, "Z {z} vs {exact_z}");
    let (mut err, mut norm) = (0f64, 0f64);
    for i in 0..n {
        err += (rep[i][0] as f64 - exact[i][0]).powi(2) + (rep[i][1] as f64 - exact[i][1]).powi(2);
        norm += exact[i][0].powi(2) + exact[i][1].powi(2);
    }
    eprintln!(
        "BH: Z rel err {:.2e}, force rel err {:.2e}",
        (z - exact_z).abs() / exact_z,
        (err / norm).sqrt()
    );
    assert!(
        (err / norm).sqrt() < 0.02,
        "relative force error {}",
        (err / norm).sqrt()
    );
    // θ = 0 is exact.
    let z0 = tree.repulsion(&y, 0.0, &mut rep);
    assert!((z0 - exact_z).abs() < 1e-4 * exact_z);
}

/// Micro-benchmark of the per-iteration kernels on a t-SNE-like layout:
/// `cargo test --release --lib -- --ignored --nocapture bench_kernels`.
#[test]
#[ignore]
fn bench_kernels() {
    let n = 20000;
    let mut rng = SplitMix64::from_state(11);
    let centres: Vec<[f64; 3]> = (0..20)
        .map(|_| {
            [
                rng.normal() * 30.0,
                rng.normal() * 30.0,
                1.0 + 4.0 * rng.next_open01(),
            ]
        })
        .collect();
    let y: Vec<[f32; 2]> = (0..n)
        .map(|i| {
            let c = centres[i % 20];
            [
                (c[0] + rng.normal() * c[2]) as f32,
                (c[1] + rng.normal() * c[2]) as f32,
            ]
        })
        .collect();
    let cpu = || {
        let s = std::fs::read_to_string("/proc/self/stat").unwrap();
        let f: Vec<&str> = s[s.rfind(')').unwrap() + 2..].split(' ').collect();
        (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / 100.0
    };
    let cfgs: Vec<(usize, usize)> = std::env::var("BH_CFG")
        .map(|v| {
            v.split(',')
                .map(|p| {
                    let (a, b) = p.split_once('/').unwrap();
                    (a.parse().unwrap(), b.parse().unwrap())
                })
                .collect()
        })
        .unwrap_or(vec![(LEAF_CAP, GROUP_MAX)]);
    let reps = 100;
    for &(leaf_cap, group_max) in &cfgs {
        let mut tree = Tree::new(n);
        tree.leaf_cap = leaf_cap;
        tree.group_max = group_max;
        let mut rep = vec![[0f32; 2]; n];
        tree.repulsion(&y, 0.5, &mut rep);
        let t = cpu();
        for _ in 0..reps {
            tree.repulsion(&y, 0.5, &mut rep);
        }
        let dt = (cpu() - t) / reps as f64;
        let t = cpu();
        for _ in 0..reps {
            tree.build(&y);
        }
        let db = (cpu() - t) / reps as f64;
        // Interaction count.
        let mut inter = 0usize;
        {
            let theta2 = 0.25f32;
            for &g in &tree.groups {
                let gn = tree.nodes[g as usize];
                let (glo, ghi) = (gn.lo as usize, gn.hi as usize);
                let (mut bx0, mut bx1, mut by0, mut by1) = (
                    f32::INFINITY,
                    f32::NEG_INFINITY,
                    f32::INFINITY,
                    f32::NEG_INFINITY,
                );
                for s in glo..ghi {
                    bx0 = bx0.min(tree.sx[s]);
                    bx1 = bx1.max(tree.sx[s]);
                    by0 = by0.min(tree.sy[s]);
                    by1 = by1.max(tree.sy[s]);
                }
                let mut len = 0usize;
                let mut stack = vec![0u32];
                while let Some(ni) = stack.pop() {
                    let nd = &tree.nodes[ni as usize];
                    let contains = nd.lo as usize <= glo && ghi <= nd.hi as usize;
                    if !contains {
                        let dx = (bx0 - nd.cx).max(nd.cx - bx1).max(0.0);
                        let dy = (by0 - nd.cy).max(nd.cy - by1).max(0.0);
                        if nd.size2 < theta2 * (dx * dx + dy * dy) {
                            len += 1;
                            continue;
                        }
                    }
                    if nd.nchild == 0 {
                        len += (nd.hi - nd.lo) as usize;
                    } else {
                        stack.extend(nd.child..nd.child + nd.nchild);
                    }
                }
                inter += len.div_ceil(8) * 8 * (ghi - glo);
            }
        }
        eprintln!(
            "leaf {leaf_cap} group {group_max}: repulsion {:.2} ms CPU/iter (build {:.2} ms), {:.0} interactions/point, {:.2} ns CPU/interaction",
            dt * 1e3,
            db * 1e3,
            inter as f64 / n as f64,
            (dt - db) * 1e9 / inter as f64
        );
    }
    // Attraction with a random kNN-like matrix (130 entries per row).
    let (xs, ys): (Vec<f32>, Vec<f32>) = y.iter().map(|v| (v[0], v[1])).unzip();
    let cols: Vec<u32> = (0..n * 130)
        .map(|e| ((e / 130 + (rng.next_u64() % 400) as usize) % n) as u32)
        .collect();
    let vals: Vec<f32> = (0..n * 130).map(|_| 1e-6).collect();
    let attract = attract_kernel();
    let t = cpu();
    let mut sink = 0f32;
    for _ in 0..reps {
        let v: Vec<(f32, f32)> = (0..n)
            .into_par_iter()
            .map(|i| {
                attract(
                    xs[i],
                    ys[i],
                    &xs,
                    &ys,
                    &cols[i * 130..(i + 1) * 130],
                    &vals[i * 130..(i + 1) * 130],
                )
            })
            .collect();
        sink += v[7].0;
    }
    let da = (cpu() - t) / reps as f64;
    eprintln!(
        "attraction {:.2} ms CPU/iter, {:.2} ns CPU/entry [{sink}] load {}",
        da * 1e3,
        da * 1e9 / (n * 130) as f64,
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
}

#[test]
fn knn_preservation_of_identity_is_one() {
    let data: Vec<Vec<f32>> = (0..50)
        .map(|i| vec![(i * 37 % 50) as f32, (i * 11 % 7) as f32 * 0.01])
        .collect();
    let emb: Vec<[f32; 2]> = data.iter().map(|r| [r[0], r[1]]).collect();
    assert_eq!(knn_preservation(&data, &emb, 5, 0), 1.0);
}
