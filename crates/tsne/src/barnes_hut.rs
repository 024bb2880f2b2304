//! The Barnes-Hut repulsion: a Morton-sorted quadtree walked once per group of
//! neighbouring points, with SIMD interaction lists.

use crate::{GROUP_MAX, LEAF_CAP};
use rayon::prelude::*;
use reelmap_numeric::vector::hsum8;

/// Tree node: a contiguous range `lo..hi` of the Morton-sorted points.
/// 32 bytes, children stored adjacently at `child..child+nchild`.
#[derive(Clone, Copy, Default)]
pub(crate) struct Node {
    pub(crate) cx: f32,
    pub(crate) cy: f32,
    /// Number of points (as the interaction weight).
    pub(crate) w: f32,
    /// Squared cell width.
    pub(crate) size2: f32,
    pub(crate) lo: u32,
    pub(crate) hi: u32,
    pub(crate) child: u32,
    pub(crate) nchild: u32,
}

pub(crate) const MAX_LEVEL: u32 = 32;

pub(crate) struct Tree {
    pub(crate) nodes: Vec<Node>,
    pub(crate) groups: Vec<u32>,
    /// Sorted position → original index (kept between iterations: the next
    /// sort starts from it).
    pub(crate) perm: Vec<u32>,
    pub(crate) keys: Vec<(u64, u32)>,
    pub(crate) sx: Vec<f32>,
    pub(crate) sy: Vec<f32>,
    /// Per sorted point: repulsion x, y and its Σ_j q_ij Z.
    pub(crate) out: Vec<[f32; 4]>,
    pub(crate) side: f64,
    /// `LEAF_CAP` / `GROUP_MAX` (fields so the benchmark can tune them).
    pub(crate) leaf_cap: usize,
    pub(crate) group_max: usize,
}

/// Interleaves the low 32 bits of `v` with zeros.
pub(crate) fn spread(v: u64) -> u64 {
    let mut x = v & 0xFFFF_FFFF;
    x = (x | (x << 16)) & 0x0000_FFFF_0000_FFFF;
    x = (x | (x << 8)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x << 4)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x << 2)) & 0x3333_3333_3333_3333;
    x = (x | (x << 1)) & 0x5555_5555_5555_5555;
    x
}

impl Tree {
    pub(crate) fn new(n: usize) -> Tree {
        Tree {
            nodes: Vec::new(),
            groups: Vec::new(),
            perm: (0..n as u32).collect(),
            keys: vec![(0, 0); n],
            sx: vec![0.0; n],
            sy: vec![0.0; n],
            out: vec![[0.0; 4]; n],
            side: 1.0,
            leaf_cap: LEAF_CAP,
            group_max: GROUP_MAX,
        }
    }

    pub(crate) fn build(&mut self, y: &[[f32; 2]]) {
        let n = y.len();
        let (mut x0, mut x1, mut y0, mut y1) = (
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::INFINITY,
            f32::NEG_INFINITY,
        );
        for v in y {
            x0 = x0.min(v[0]);
            x1 = x1.max(v[0]);
            y0 = y0.min(v[1]);
            y1 = y1.max(v[1]);
        }
        let mut side = (x1 - x0).max(y1 - y0) as f64;
        if !(side > 0.0 && side.is_finite()) {
            side = 1.0;
        }
        self.side = side;
        let scale = 4294967296.0 / side;
        let (x0, y0) = (x0 as f64, y0 as f64);
        let quant = |v: f64, o: f64| (((v - o) * scale).max(0.0) as u64).min(0xFFFF_FFFF);
        let perm = &self.perm;
        self.keys
            .par_iter_mut()
            .enumerate()
            .with_min_len(1024)
            .for_each(|(s, key)| {
                let i = perm[s] as usize;
                let c =
                    spread(quant(y[i][0] as f64, x0)) | (spread(quant(y[i][1] as f64, y0)) << 1);
                *key = (c, i as u32);
            });
        // Stable, run-adaptive sort: the previous order is almost sorted.
        // Keys are unique, so the result does not depend on the algorithm.
        self.keys.sort();
        for s in 0..n {
            let i = self.keys[s].1;
            self.perm[s] = i;
            self.sx[s] = y[i as usize][0];
            self.sy[s] = y[i as usize][1];
        }
        self.nodes.clear();
        self.groups.clear();
        self.nodes.push(Node::default());
        self.build_node(0, 0, n, 0, false);
    }

    pub(crate) fn build_node(
        &mut self,
        ni: usize,
        lo: usize,
        hi: usize,
        level: u32,
        in_group: bool,
    ) -> (f64, f64) {
        let count = hi - lo;
        let leaf = count <= self.leaf_cap || level == MAX_LEVEL;
        let group = !in_group && (count <= self.group_max || leaf);
        if group {
            self.groups.push(ni as u32);
        }
        let size = self.side / (1u64 << level) as f64;
        let (mut sx, mut sy) = (0f64, 0f64);
        let (mut child, mut nchild) = (0u32, 0u32);
        if leaf {
            for s in lo..hi {
                sx += self.sx[s] as f64;
                sy += self.sy[s] as f64;
            }
        } else {
            let shift = 62 - 2 * level;
            let keys = &self.keys[lo..hi];
            let mut b = [lo; 5];
            for q in 1..4u64 {
                b[q as usize] = lo + keys.partition_point(|k| (k.0 >> shift) & 3 < q);
            }
            b[4] = hi;
            let mut nonempty = [0usize; 4];
            for q in 0..4 {
                if b[q + 1] > b[q] {
                    nonempty[nchild as usize] = q;
                    nchild += 1;
                }
            }
            child = self.nodes.len() as u32;
            self.nodes
                .resize(self.nodes.len() + nchild as usize, Node::default());
            for (t, &q) in nonempty[..nchild as usize].iter().enumerate() {
                let (cx, cy) = self.build_node(
                    child as usize + t,
                    b[q],
                    b[q + 1],
                    level + 1,
                    in_group || group,
                );
                sx += cx;
                sy += cy;
            }
        }
        self.nodes[ni] = Node {
            cx: (sx / count as f64) as f32,
            cy: (sy / count as f64) as f32,
            w: count as f32,
            size2: (size * size) as f32,
            lo: lo as u32,
            hi: hi as u32,
            child,
            nchild,
        };
        (sx, sy)
    }

    /// Repulsive forces `Σ_j q_ij² Z (y_i - y_j)` into `rep` (original order)
    /// and returns `Z = Σ_{i≠j} q_ij Z`.
    pub(crate) fn repulsion(&mut self, y: &[[f32; 2]], theta: f32, rep: &mut [[f32; 2]]) -> f64 {
        self.build(y);
        let theta2 = theta * theta;
        let kern = bh_kernel();
        // Split the output by group (groups are consecutive ranges in order).
        let mut chunks: Vec<&mut [[f32; 4]]> = Vec::with_capacity(self.groups.len());
        let mut rest = &mut self.out[..];
        for &g in &self.groups {
            let nd = &self.nodes[g as usize];
            let (a, b) = rest.split_at_mut((nd.hi - nd.lo) as usize);
            chunks.push(a);
            rest = b;
        }
        let (nodes, groups, sx, sy) = (&self.nodes, &self.groups, &self.sx, &self.sy);
        chunks.into_par_iter().zip(groups.par_iter()).for_each_init(
            Scratch::default,
            |sc, (out, &g)| {
                let gn = nodes[g as usize];
                let (glo, ghi) = (gn.lo as usize, gn.hi as usize);
                let (mut bx0, mut bx1, mut by0, mut by1) = (
                    f32::INFINITY,
                    f32::NEG_INFINITY,
                    f32::INFINITY,
                    f32::NEG_INFINITY,
                );
                for s in glo..ghi {
                    bx0 = bx0.min(sx[s]);
                    bx1 = bx1.max(sx[s]);
                    by0 = by0.min(sy[s]);
                    by1 = by1.max(sy[s]);
                }
                sc.xs.clear();
                sc.ys.clear();
                sc.ws.clear();
                sc.stack.clear();
                sc.stack.push(0);
                while let Some(ni) = sc.stack.pop() {
                    let nd = &nodes[ni as usize];
                    let contains = nd.lo as usize <= glo && ghi <= nd.hi as usize;
                    if !contains {
                        let dx = (bx0 - nd.cx).max(nd.cx - bx1).max(0.0);
                        let dy = (by0 - nd.cy).max(nd.cy - by1).max(0.0);
                        if nd.size2 < theta2 * (dx * dx + dy * dy) {
                            sc.xs.push(nd.cx);
                            sc.ys.push(nd.cy);
                            sc.ws.push(nd.w);
                            continue;
                        }
                    }
                    if nd.nchild == 0 {
                        let (lo, hi) = (nd.lo as usize, nd.hi as usize);
                        sc.xs.extend_from_slice(&sx[lo..hi]);
                        sc.ys.extend_from_slice(&sy[lo..hi]);
                        sc.ws.extend(std::iter::repeat_n(1.0, hi - lo));
                    } else {
                        // Reverse so children are visited in order (the
                        // list order, hence the rounding, is then fixed).
                        for c in (nd.child..nd.child + nd.nchild).rev() {
                            sc.stack.push(c);
                        }
                    }
                }
                // Pad to a multiple of 8 with weightless entries.
                while sc.xs.len() % 8 != 0 {
                    sc.xs.push(0.0);
                    sc.ys.push(0.0);
                    sc.ws.push(0.0);
                }
                for (t, s) in (glo..ghi).enumerate() {
                    let (q, fx, fy) = kern(sx[s], sy[s], &sc.xs, &sc.ys, &sc.ws);
                    // The list contains the point itself (q_ii = 1, no force).
                    out[t] = [fx, fy, q - 1.0, 0.0];
                }
            },
        );
        let mut z = 0f64;
        for s in 0..y.len() {
            let o = self.out[s];
            rep[self.perm[s] as usize] = [o[0], o[1]];
            z += o[2] as f64;
        }
        z
    }
}

#[derive(Default)]
pub(crate) struct Scratch {
    pub(crate) xs: Vec<f32>,
    pub(crate) ys: Vec<f32>,
    pub(crate) ws: Vec<f32>,
    pub(crate) stack: Vec<u32>,
}

/// `kern(px, py, xs, ys, ws)` = `(Σ w q, Σ w q² (px-x), Σ w q² (py-y))` with
/// `q = 1 / (1 + |p - (x,y)|²)`; the slices have a length multiple of 8.
pub(crate) type BhFn = fn(f32, f32, &[f32], &[f32], &[f32]) -> (f32, f32, f32);

pub(crate) fn bh_kernel() -> BhFn {
    #[cfg(target_arch = "x86_64")]
    {
        if reelmap_numeric::isa::active().has_avx2_fma() {
            return bh_avx2_dispatch;
        }
    }
    bh_generic
}

pub(crate) fn bh_generic(px: f32, py: f32, xs: &[f32], ys: &[f32], ws: &[f32]) -> (f32, f32, f32) {
    let (mut aq, mut ax, mut ay) = ([0f32; 8], [0f32; 8], [0f32; 8]);
    for ((x, y), w) in xs
        .chunks_exact(8)
        .zip(ys.chunks_exact(8))
        .zip(ws.chunks_exact(8))
    {
        for l in 0..8 {
            let dx = px - x[l];
            let dy = py - y[l];
            let q = 1.0 / (1.0 + dx * dx + dy * dy);
            let wq = w[l] * q;
            aq[l] += wq;
            let wq2 = wq * q;
            ax[l] += wq2 * dx;
            ay[l] += wq2 * dy;
        }
    }
    (hsum8(&aq), hsum8(&ax), hsum8(&ay))
}

#[cfg(target_arch = "x86_64")]
pub(crate) fn bh_avx2_dispatch(
    px: f32,
    py: f32,
    xs: &[f32],
    ys: &[f32],
    ws: &[f32],
) -> (f32, f32, f32) {
    assert!(xs.len().is_multiple_of(8) && ys.len() == xs.len() && ws.len() == xs.len());
    // SAFETY: selected only when AVX2 and FMA are available; lengths checked.
    unsafe { bh_avx2(px, py, xs, ys, ws) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn bh_avx2(
    px: f32,
    py: f32,
    xs: &[f32],
    ys: &[f32],
    ws: &[f32],
) -> (f32, f32, f32) {
    use std::arch::x86_64::*;
    let one = _mm256_set1_ps(1.0);
    let (pxv, pyv) = (_mm256_set1_ps(px), _mm256_set1_ps(py));
    let (mut aq, mut ax, mut ay) = (
        _mm256_setzero_ps(),
        _mm256_setzero_ps(),
        _mm256_setzero_ps(),
    );
    let mut c = 0;
    while c < xs.len() {
        // SAFETY: c + 8 <= len for all three slices.
        unsafe {
            let dx = _mm256_sub_ps(pxv, _mm256_loadu_ps(xs.as_ptr().add(c)));
            let dy = _mm256_sub_ps(pyv, _mm256_loadu_ps(ys.as_ptr().add(c)));
            let d2 = _mm256_fmadd_ps(dx, dx, _mm256_fmadd_ps(dy, dy, one));
            // A true division: rcp + Newton was not measurably faster here
            // and would make results differ between CPU vendors.
            let q = _mm256_div_ps(one, d2);
            let wq = _mm256_mul_ps(_mm256_loadu_ps(ws.as_ptr().add(c)), q);
            aq = _mm256_add_ps(aq, wq);
            let wq2 = _mm256_mul_ps(wq, q);
            ax = _mm256_fmadd_ps(wq2, dx, ax);
            ay = _mm256_fmadd_ps(wq2, dy, ay);
        }
        c += 8;
    }
    let h = |v: __m256| {
        let mut a = [0f32; 8];
        // SAFETY: a has 8 elements.
        unsafe { _mm256_storeu_ps(a.as_mut_ptr(), v) };
        hsum8(&a)
    };
    (h(aq), h(ax), h(ay))
}
