//! GEMM with packed weights (1×1 convolutions, the stem via im2col, the classifier).

use super::threads::{SendPtr, for_parts};
#[cfg(target_arch = "x86_64")]
use super::x86;
use super::{Isa, relu6_in_place};
use rayon::prelude::*;

/// `out[..m·n] = act(a · w + bias (+ residual))` on the `gemm` crate: the output starts
/// as bias (+ residual) and the GEMM accumulates onto it. `w` is `[k][n]` row-major.
/// Used by the portable path and by the simple reference kernel
/// [`pointwise`](super::pointwise).
#[allow(clippy::too_many_arguments)]
pub(super) fn gemm_bias_act(
    a: &[f32],
    m: usize,
    k: usize,
    w: &[f32],
    bias: &[f32],
    n: usize,
    residual: Option<&[f32]>,
    relu6: bool,
    out: &mut [f32],
    par: bool,
) {
    let out = &mut out[..m * n];
    for (i, row) in out.chunks_exact_mut(n).enumerate() {
        row.copy_from_slice(bias);
        if let Some(r) = residual {
            for (o, x) in row.iter_mut().zip(&r[i * n..(i + 1) * n]) {
                *o += x;
            }
        }
    }
    // SAFETY: `a` holds m×k, `w` k×n and `out` m×n row-major values.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out.as_mut_ptr(),
            1,
            n as isize,
            true,
            a.as_ptr(),
            1,
            k as isize,
            w.as_ptr(),
            1,
            n as isize,
            1.0f32,
            1.0f32,
            false,
            false,
            false,
            if par {
                gemm::Parallelism::Rayon(0)
            } else {
                gemm::Parallelism::None
            },
        );
    }
    if relu6 {
        if par {
            // Clamp in parallel chunks: at 112×112×96 this is several MB.
            out.par_chunks_mut(64 * 1024).for_each(relu6_in_place);
        } else {
            relu6_in_place(out);
        }
    }
}

/// Rows of the GEMM micro-kernel for `m` rows: AVX-512 has kernels of 12, 10, 8,
/// 4, 2 and 1 rows and picks the one with the least padding (per-tile cost ~
/// rows + 2), so that e.g. the 7×7 = 49 pixels of the last stages are not
/// computed as 60, nor the classifier of one image as 8 rows.
fn micro_rows(isa: Isa, m: usize) -> usize {
    match isa {
        Isa::Scalar => 4,
        Isa::Avx2 => 6,
        Isa::Avx512 => [12, 10, 8, 4, 2, 1]
            .into_iter()
            .min_by_key(|&r| (m.div_ceil(r) * (r + 2), usize::MAX - r))
            .unwrap(),
    }
}

/// One micro-kernel call: `rows` (≤ MR) rows of A times one packed panel of B.
pub(crate) struct GemmTile {
    pub k: usize,
    pub a: *const f32,
    pub lda: usize,
    pub rows: usize,
    /// Packed panel: `[k][nv * lanes]`.
    pub b: *const f32,
    /// `nv * lanes` values (zero-padded).
    pub bias: *const f32,
    pub c: *mut f32,
    pub ldc: usize,
    /// Valid columns of this panel.
    pub cols: usize,
    /// Residual rows (null if none), row stride `ldr`.
    pub res: *const f32,
    pub ldr: usize,
    pub relu6: bool,
}

/// Portable micro-kernel: up to 4 rows × `NV`·4 columns.
///
/// # Safety
/// The pointers of `t` must be valid for the sizes it describes.
unsafe fn gemm_scalar<const NV: usize>(t: &GemmTile) {
    const MR: usize = 4;
    unsafe {
        let mut ap = [t.a; MR];
        for (i, p) in ap.iter_mut().enumerate() {
            if i < t.rows {
                *p = t.a.add(i * t.lda);
            }
        }
        let mut acc = [[[0f32; 4]; NV]; MR];
        let mut b = t.b;
        for p in 0..t.k {
            let bs = std::slice::from_raw_parts(b, NV * 4);
            for i in 0..MR {
                let av = *ap[i].add(p);
                for v in 0..NV {
                    for l in 0..4 {
                        acc[i][v][l] += av * bs[v * 4 + l];
                    }
                }
            }
            b = b.add(NV * 4);
        }
        for (i, row) in acc.iter().enumerate().take(t.rows) {
            for j in 0..t.cols.min(NV * 4) {
                let mut x = row[j / 4][j % 4] + *t.bias.add(j);
                if !t.res.is_null() {
                    x += *t.res.add(i * t.ldr + j);
                }
                if t.relu6 {
                    x = x.clamp(0.0, 6.0);
                }
                *t.c.add(i * t.ldc + j) = x;
            }
        }
    }
}

#[derive(Debug, Clone)]
struct Panel {
    /// First output column.
    col: usize,
    /// Valid columns.
    cols: usize,
    /// Vectors per row of the packed panel (1 or 2).
    nv: usize,
    /// Offset of the panel in `data` and of its bias in `bias`.
    off: usize,
    bias_off: usize,
}

/// Weights `[k][n]` of a 1×1 convolution (or any GEMM right-hand side) packed into
/// column panels for the micro-kernel of one instruction set, with the bias.
#[derive(Debug, Clone)]
pub struct PackedGemm {
    isa: Isa,
    k: usize,
    n: usize,
    panels: Vec<Panel>,
    data: Vec<f32>,
    bias: Vec<f32>,
}

impl PackedGemm {
    /// `w` is `[k][n]` row-major (input channels × output channels), `bias` has `n`.
    pub fn new(isa: Isa, w: &[f32], bias: &[f32], k: usize, n: usize) -> PackedGemm {
        assert_eq!(w.len(), k * n, "weights are not k×n");
        assert_eq!(bias.len(), n, "bias is not n long");
        if isa == Isa::Scalar {
            // The portable path hands the plain `[k][n]` weights to the `gemm` crate.
            return PackedGemm {
                isa,
                k,
                n,
                panels: Vec::new(),
                data: w.to_vec(),
                bias: bias.to_vec(),
            };
        }
        let lanes = isa.lanes();
        let mut panels = Vec::new();
        let mut data = Vec::new();
        let mut bias_p = Vec::new();
        let mut col = 0;
        while col < n {
            let rem = n - col;
            let nv = if rem > lanes { 2 } else { 1 };
            let width = nv * lanes;
            let cols = rem.min(width);
            panels.push(Panel {
                col,
                cols,
                nv,
                off: data.len(),
                bias_off: bias_p.len(),
            });
            for p in 0..k {
                for j in 0..width {
                    data.push(if j < cols { w[p * n + col + j] } else { 0.0 });
                }
            }
            for j in 0..width {
                bias_p.push(if j < cols { bias[col + j] } else { 0.0 });
            }
            col += cols;
        }
        PackedGemm {
            isa,
            k,
            n,
            panels,
            data,
            bias: bias_p,
        }
    }

    pub fn isa(&self) -> Isa {
        self.isa
    }

    pub fn k(&self) -> usize {
        self.k
    }

    pub fn n(&self) -> usize {
        self.n
    }

    /// `out[i][:] = act(a[i][:] · W + bias (+ residual[i][:]))` for `m` rows; `a` is
    /// `[m][k]`, `out` and `residual` `[m][n]`. `par`: split over the threads of the
    /// current rayon pool. Every output element is computed by the same sequence of
    /// operations whatever the split, so results do not depend on it.
    pub fn run(
        &self,
        a: &[f32],
        m: usize,
        out: &mut [f32],
        residual: Option<&[f32]>,
        relu6: bool,
        par: bool,
    ) {
        assert!(a.len() >= m * self.k, "input too short");
        assert!(out.len() >= m * self.n, "output too short");
        if let Some(r) = residual {
            assert!(r.len() >= m * self.n, "residual too short");
        }
        if m == 0 || self.n == 0 {
            return;
        }
        if self.isa == Isa::Scalar {
            self.run_portable(a, m, out, residual, relu6, par);
            return;
        }
        let a_ptr = SendPtr(a.as_ptr() as *mut f32);
        let c_ptr = SendPtr(out.as_mut_ptr());
        let r_ptr = SendPtr(residual.map_or(std::ptr::null_mut(), |r| r.as_ptr() as *mut f32));
        let mr = micro_rows(self.isa, m);
        let threads = if par { rayon::current_num_threads() } else { 1 };
        let work = m * self.n * self.k;
        let np = self.panels.len();
        // SAFETY (all branches): sizes checked above; parts write disjoint outputs.
        if threads <= 1 || work < 200_000 {
            unsafe { self.run_range(a_ptr, 0, m, 0, np, c_ptr, r_ptr, relu6, mr) };
        } else if m >= threads * 4 * mr && (m >= self.n || np < threads * 4) {
            // By rows. A few parts per thread, so that work stealing evens out a
            // thread that another process delays. Every part reads all the weights, so
            // layers with more columns than rows (the 14×14 expansions: 196 rows, 480
            // columns) are split by column panels instead, where each thread reads
            // only its panels' weights.
            let tiles = m.div_ceil(mr);
            let parts = (threads * 4).min(tiles / 2);
            for_parts(parts, |t| {
                let lo = (tiles * t / parts * mr).min(m);
                let hi = (tiles * (t + 1) / parts * mr).min(m);
                unsafe { self.run_range(a_ptr, lo, hi, 0, np, c_ptr, r_ptr, relu6, mr) };
            });
        } else {
            let parts = (threads * 4).min(np);
            for_parts(parts, |t| {
                let lo = np * t / parts;
                let hi = np * (t + 1) / parts;
                unsafe { self.run_range(a_ptr, 0, m, lo, hi, c_ptr, r_ptr, relu6, mr) };
            });
        }
    }

    /// Portable path: the `gemm` crate (which has its own SIMD kernels for aarch64 and
    /// others) accumulating onto bias (+ residual), then ReLU6.
    fn run_portable(
        &self,
        a: &[f32],
        m: usize,
        out: &mut [f32],
        residual: Option<&[f32]>,
        relu6: bool,
        par: bool,
    ) {
        gemm_bias_act(
            a, m, self.k, &self.data, &self.bias, self.n, residual, relu6, out, par,
        );
    }

    /// Rows `m_lo..m_hi` × panels `p_lo..p_hi`, blocked so that a block of A rows
    /// stays in L2 while every panel passes over it.
    #[allow(clippy::too_many_arguments)]
    unsafe fn run_range(
        &self,
        a: SendPtr<f32>,
        m_lo: usize,
        m_hi: usize,
        p_lo: usize,
        p_hi: usize,
        c: SendPtr<f32>,
        res: SendPtr<f32>,
        relu6: bool,
        mr: usize,
    ) {
        let (k, n) = (self.k, self.n);
        let mc = ((96 * 1024 / (k.max(1) * 4)) / mr).max(1) * mr;
        let mut mb = m_lo;
        while mb < m_hi {
            let mb_end = (mb + mc).min(m_hi);
            for panel in &self.panels[p_lo..p_hi] {
                let mut i = mb;
                while i < mb_end {
                    let rows = (mb_end - i).min(mr);
                    // SAFETY: the caller guarantees the buffers hold m rows.
                    let t = unsafe {
                        GemmTile {
                            k,
                            a: a.0.add(i * k),
                            lda: k,
                            rows,
                            b: self.data.as_ptr().add(panel.off),
                            bias: self.bias.as_ptr().add(panel.bias_off),
                            c: c.0.add(i * n + panel.col),
                            ldc: n,
                            cols: panel.cols,
                            res: if res.0.is_null() {
                                std::ptr::null()
                            } else {
                                res.0.add(i * n + panel.col)
                            },
                            ldr: n,
                            relu6,
                        }
                    };
                    unsafe { gemm_tile(self.isa, mr, panel.nv, &t) };
                    i += rows;
                }
            }
            mb = mb_end;
        }
    }
}

/// # Safety
/// `isa` must be supported by the CPU; the tile's pointers valid.
unsafe fn gemm_tile(isa: Isa, mr: usize, nv: usize, t: &GemmTile) {
    unsafe {
        match (isa, nv) {
            #[cfg(target_arch = "x86_64")]
            (Isa::Avx512, 2) => match mr {
                12 => x86::gemm_avx512::<12, 2>(t),
                10 => x86::gemm_avx512::<10, 2>(t),
                8 => x86::gemm_avx512::<8, 2>(t),
                4 => x86::gemm_avx512::<4, 2>(t),
                2 => x86::gemm_avx512::<2, 2>(t),
                _ => x86::gemm_avx512::<1, 2>(t),
            },
            #[cfg(target_arch = "x86_64")]
            (Isa::Avx512, _) => match mr {
                12 => x86::gemm_avx512::<12, 1>(t),
                10 => x86::gemm_avx512::<10, 1>(t),
                8 => x86::gemm_avx512::<8, 1>(t),
                4 => x86::gemm_avx512::<4, 1>(t),
                2 => x86::gemm_avx512::<2, 1>(t),
                _ => x86::gemm_avx512::<1, 1>(t),
            },
            #[cfg(target_arch = "x86_64")]
            (Isa::Avx2, 2) => x86::gemm_avx2::<2>(t),
            #[cfg(target_arch = "x86_64")]
            (Isa::Avx2, _) => x86::gemm_avx2::<1>(t),
            (_, 2) => gemm_scalar::<2>(t),
            _ => gemm_scalar::<1>(t),
        }
    }
}
