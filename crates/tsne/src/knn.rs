//! Exact k nearest neighbours by brute force on the GEMM tiles, and their re-ranking
//! in the input space.

use crate::pca::Flat;
use crate::sq_dist;
use rayon::prelude::*;
use reelmap_numeric::gemm::tile_generic_dispatch;
#[cfg(target_arch = "x86_64")]
use reelmap_numeric::gemm::{tile_avx2, tile_bounds_ok};

/// Exact kNN of the `n × p` row-major points (self excluded). Returns the
/// neighbour indices and their squared distances, `n × k` each, ascending
/// (ties broken by index).
pub(crate) fn knn(x: &[f32], n: usize, p: usize, k: usize) -> (Vec<u32>, Vec<f32>) {
    const QB: usize = 64;
    let norms: Vec<f32> = (0..n)
        .map(|i| x[i * p..(i + 1) * p].iter().map(|v| v * v).sum())
        .collect();
    // References packed in panels of 16 (k-major inside a panel), zero padded.
    let panels = n.div_ceil(16);
    let mut packed = vec![0f32; panels * p.max(1) * 16];
    for i in 0..n {
        let (pi, lane) = (i / 16, i % 16);
        for c in 0..p {
            packed[pi * p * 16 + c * 16 + lane] = x[i * p + c];
        }
    }
    let mut rnorm = vec![f32::INFINITY; panels * 16];
    rnorm[..n].copy_from_slice(&norms);
    let refs = KnnRefs {
        x,
        n,
        p,
        norms: &norms,
        packed: &packed,
        rnorm: &rnorm,
        panels,
    };
    let mut idx = vec![0u32; n * k];
    let mut dist = vec![0f32; n * k];
    idx.par_chunks_mut(QB * k)
        .zip(dist.par_chunks_mut(QB * k))
        .enumerate()
        .for_each(|(blk, (idx_out, dist_out))| {
            let q0 = blk * QB;
            let nq = QB.min(n - q0);
            let mut tops: Vec<TopK> = (0..nq).map(|_| TopK::new(k)).collect();
            knn_scan(&refs, q0, &mut tops);
            for (r, h) in tops.into_iter().enumerate() {
                let q = q0 + r;
                let xq = &x[q * p..(q + 1) * p];
                // Recompute the kept distances directly (no cancellation).
                let mut e: Vec<(f32, u32)> = h
                    .into_sorted()
                    .iter()
                    .map(|&(_, j)| (sq_dist(xq, &x[j as usize * p..(j as usize + 1) * p]), j))
                    .collect();
                e.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                for (t, (d, j)) in e.into_iter().enumerate() {
                    idx_out[r * k + t] = j;
                    dist_out[r * k + t] = d;
                }
            }
        });
    (idx, dist)
}

/// Operands of the brute-force kNN scan.
pub(crate) struct KnnRefs<'a> {
    /// Query points, `n × p` row-major.
    pub(crate) x: &'a [f32],
    pub(crate) n: usize,
    pub(crate) p: usize,
    pub(crate) norms: &'a [f32],
    /// Reference points in panels of 16 (`p × 16` each, k-major), zero padded.
    pub(crate) packed: &'a [f32],
    /// Squared norms per panel lane (`+∞` for padding lanes).
    pub(crate) rnorm: &'a [f32],
    pub(crate) panels: usize,
}

/// Offers every reference point to the tops of queries `q0..q0+tops.len()`.
pub(crate) fn knn_scan(refs: &KnnRefs, q0: usize, tops: &mut [TopK]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: features detected.
            unsafe { knn_scan_avx2(refs, q0, tops) };
            return;
        }
    }
    knn_scan_impl(refs, q0, tops, |rr, ao, bo| {
        tile_generic_dispatch(rr, refs.x, ao, refs.p, 1, refs.packed, bo, 16, refs.p)
    });
}

/// The scan compiled for AVX2/FMA: the tile kernel is inlined and the
/// distance screen below is vectorised too.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn knn_scan_avx2(refs: &KnnRefs, q0: usize, tops: &mut [TopK]) {
    knn_scan_impl(refs, q0, tops, |rr, ao, bo| {
        let p = refs.p;
        assert!(tile_bounds_ok(rr, refs.x, ao, p, 1, refs.packed, bo, 16, p));
        let (a, b) = (refs.x.as_ptr(), refs.packed.as_ptr());
        // SAFETY: AVX2/FMA enabled for this function; reads bounds-checked.
        unsafe {
            match rr {
                4 => tile_avx2::<4>(a.add(ao), p, 1, b.add(bo), 16, p),
                3 => tile_avx2::<3>(a.add(ao), p, 1, b.add(bo), 16, p),
                2 => tile_avx2::<2>(a.add(ao), p, 1, b.add(bo), 16, p),
                _ => tile_avx2::<1>(a.add(ao), p, 1, b.add(bo), 16, p),
            }
        }
    })
}

/// `tile(rows, a_off, b_off)` computes the dot products of up to 4 queries
/// with one panel of 16 references.
#[inline(always)]
pub(crate) fn knn_scan_impl(
    refs: &KnnRefs,
    q0: usize,
    tops: &mut [TopK],
    tile: impl Fn(usize, usize, usize) -> [[f32; 16]; 4],
) {
    let (n, p) = (refs.n, refs.p);
    let nq = tops.len();
    for pi in 0..refs.panels {
        let rn: &[f32; 16] = refs.rnorm[pi * 16..pi * 16 + 16].try_into().unwrap();
        let mut r0 = 0;
        while r0 < nq {
            let rr = 4.min(nq - r0);
            let t = if p == 0 {
                [[0f32; 16]; 4]
            } else {
                tile(rr, (q0 + r0) * p, pi * p * 16)
            };
            for r in 0..rr {
                let q = q0 + r0 + r;
                let h = &mut tops[r0 + r];
                let thr = h.threshold();
                let qn = refs.norms[q];
                // Branch-free screen first: almost every candidate is
                // rejected once the tops are warm.
                let mut d = [0f32; 16];
                let mut mask = 0u32;
                for j in 0..16 {
                    d[j] = qn + rn[j] - 2.0 * t[r][j];
                    mask |= ((d[j] <= thr) as u32) << j;
                }
                while mask != 0 {
                    let j = mask.trailing_zeros() as usize;
                    mask &= mask - 1;
                    let c = pi * 16 + j;
                    if c >= n || c == q {
                        continue;
                    }
                    h.offer(d[j].max(0.0), c as u32);
                }
            }
            r0 += 4;
        }
    }
}

/// Re-ranks each point's `c` candidates (`n × c`, nearest first) by exact
/// squared distance in the (centred) input space and keeps the `k` nearest,
/// ascending.
///
/// This is memory-bound (each candidate is a full input row), so the points
/// are processed in breadth-first order of the candidate graph: consecutive
/// queries then share most candidates, which stay in cache. The order only
/// affects speed, not the result.
pub(crate) fn refine_neighbours(
    x: &Flat,
    cand: &[u32],
    c: usize,
    k: usize,
) -> (Vec<u32>, Vec<f32>) {
    let (n, ld) = (x.n, x.ld);
    let order = bfs_order(cand, n, c, k.min(c));
    const CH: usize = 32;
    let per_chunk: Vec<Vec<(u32, f32)>> = order
        .par_chunks(CH)
        .map_init(Vec::new, |e: &mut Vec<(f32, u32)>, qs| {
            let mut res = Vec::with_capacity(qs.len() * k);
            for &q in qs {
                let i = q as usize;
                let xi = &x.v[i * ld..(i + 1) * ld];
                e.clear();
                e.extend(
                    cand[i * c..(i + 1) * c]
                        .iter()
                        .map(|&j| (sq_dist(xi, &x.v[j as usize * ld..(j as usize + 1) * ld]), j)),
                );
                let key = |a: &(f32, u32), b: &(f32, u32)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1));
                if k < c {
                    e.select_nth_unstable_by(k - 1, key);
                }
                e[..k].sort_by(key);
                res.extend(e[..k].iter().map(|&(d, j)| (j, d)));
            }
            res
        })
        .collect();
    let mut idx = vec![0u32; n * k];
    let mut dist = vec![0f32; n * k];
    for (qs, res) in order.chunks(CH).zip(&per_chunk) {
        for (t, &q) in qs.iter().enumerate() {
            for (u, &(j, d)) in res[t * k..(t + 1) * k].iter().enumerate() {
                idx[q as usize * k + u] = j;
                dist[q as usize * k + u] = d;
            }
        }
    }
    (idx, dist)
}

/// Breadth-first order of the graph whose edges are each point's first `w`
/// candidates (restarting from the lowest unvisited point).
pub(crate) fn bfs_order(cand: &[u32], n: usize, c: usize, w: usize) -> Vec<u32> {
    let mut seen = vec![false; n];
    let mut order = Vec::with_capacity(n);
    let mut head = 0;
    for s in 0..n {
        if seen[s] {
            continue;
        }
        seen[s] = true;
        order.push(s as u32);
        while head < order.len() {
            let i = order[head] as usize;
            head += 1;
            for &j in &cand[i * c..i * c + w] {
                if !seen[j as usize] {
                    seen[j as usize] = true;
                    order.push(j);
                }
            }
        }
    }
    order
}

/// The `cap` smallest `(distance, index)` pairs offered, ordered
/// lexicographically so the kept set is unique (deterministic) even with ties.
/// Candidates are appended to a buffer of `2·cap`; when it fills, a linear
/// selection keeps the best `cap` and tightens the threshold. That is
/// amortised O(1) per candidate, much cheaper than a binary heap.
pub(crate) struct TopK {
    pub(crate) items: Vec<(f32, u32)>,
    pub(crate) cap: usize,
    pub(crate) thr: f32,
}

impl TopK {
    pub(crate) fn new(cap: usize) -> TopK {
        TopK {
            items: Vec::with_capacity(2 * cap),
            cap,
            thr: f32::INFINITY,
        }
    }
    /// Candidates with a larger distance can be skipped.
    #[inline]
    pub(crate) fn threshold(&self) -> f32 {
        self.thr
    }
    pub(crate) fn key(a: &(f32, u32), b: &(f32, u32)) -> std::cmp::Ordering {
        a.0.total_cmp(&b.0).then(a.1.cmp(&b.1))
    }
    #[inline]
    pub(crate) fn offer(&mut self, d: f32, j: u32) {
        if d <= self.thr {
            self.items.push((d, j));
            if self.items.len() >= 2 * self.cap {
                self.compact();
            }
        }
    }
    pub(crate) fn compact(&mut self) {
        if self.items.len() > self.cap {
            self.items.select_nth_unstable_by(self.cap - 1, Self::key);
            self.items.truncate(self.cap);
            self.thr = self.items[self.cap - 1].0;
        }
    }
    /// The kept pairs, nearest first.
    pub(crate) fn into_sorted(mut self) -> Vec<(f32, u32)> {
        self.compact();
        self.items.sort_by(Self::key);
        self.items
    }
}
