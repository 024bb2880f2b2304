//! `out = A·B` for f32 matrices with strided operands: 4×16 register tiles (AVX2 + FMA,
//! or portable code), blocked over `k` so that a slab of both operands stays in L2,
//! rayon over blocks of 16 output rows. Used for t-SNE's PCA and neighbour search
//! and for the Gram matrix of the clustering.
//!
//! Each output element is a fixed sequence of floating-point operations that does
//! not depend on how the work is split, so results are the same for any thread
//! count.

use rayon::prelude::*;

/// Left operand: element `(i, k)` at `a[i*rs + k*ks]`.
#[derive(Clone, Copy)]
pub struct Lhs<'a> {
    pub a: &'a [f32],
    pub rs: usize,
    pub ks: usize,
}

/// Right operand: element `(k, j)` at `b[k*ks + j]`, `panels*16` columns.
#[derive(Clone, Copy)]
pub struct Rhs<'a> {
    pub b: &'a [f32],
    pub ks: usize,
    pub panels: usize,
}

/// `out[i*ldo + j] = Σ_{k<kdim} A(i,k)·B(k,j)` for `i < m`, `j < 16·panels`.
/// With `upper`, only column panels at or right of the row block's diagonal
/// are computed (for symmetric products). Blocked over `k` so that a slab of
/// both operands stays in L2; rayon over blocks of 16 output rows.
pub fn gemm(a: Lhs, m: usize, b: Rhs, kdim: usize, out: &mut [f32], ldo: usize, upper: bool) {
    const KC: usize = 256;
    const MB: usize = 16;
    out.iter_mut().for_each(|v| *v = 0.0);
    if kdim == 0 || m == 0 {
        return;
    }
    let kern = tile_kernel();
    let mut k0 = 0;
    while k0 < kdim {
        let kc = KC.min(kdim - k0);
        out[..m * ldo]
            .par_chunks_mut(MB * ldo)
            .enumerate()
            .for_each(|(blk, oc)| {
                let i0 = blk * MB;
                let rows = MB.min(m - i0);
                let p0 = if upper { i0 / 16 } else { 0 };
                let mut r0 = 0;
                while r0 < rows {
                    let rr = 4.min(rows - r0);
                    for jp in p0..b.panels {
                        let t = kern(
                            rr,
                            a.a,
                            (i0 + r0) * a.rs + k0 * a.ks,
                            a.rs,
                            a.ks,
                            b.b,
                            k0 * b.ks + jp * 16,
                            b.ks,
                            kc,
                        );
                        for r in 0..rr {
                            let o =
                                &mut oc[(r0 + r) * ldo + jp * 16..(r0 + r) * ldo + jp * 16 + 16];
                            for (x, &y) in o.iter_mut().zip(&t[r]) {
                                *x += y;
                            }
                        }
                    }
                    r0 += 4;
                }
            });
        k0 += kc;
    }
}

/// `tile(rows, a, a_off, ars, aks, b, b_off, bks, kc)` returns the
/// `rows × 16` block `Σ_{k<kc} a[a_off + r*ars + k*aks] · b[b_off + k*bks + j]`
/// (rows beyond `rows` are zero). `rows` is 1..=4.
pub type TileFn =
    fn(usize, &[f32], usize, usize, usize, &[f32], usize, usize, usize) -> [[f32; 16]; 4];

/// The tile kernel of the process's instruction set ([`crate::isa::active`]).
pub fn tile_kernel() -> TileFn {
    #[cfg(target_arch = "x86_64")]
    {
        if crate::isa::active().has_avx2_fma() {
            return tile_avx2_dispatch;
        }
    }
    tile_generic_dispatch
}

#[allow(clippy::too_many_arguments)]
pub fn tile_bounds_ok(
    rows: usize,
    a: &[f32],
    ao: usize,
    ars: usize,
    aks: usize,
    b: &[f32],
    bo: usize,
    bks: usize,
    kc: usize,
) -> bool {
    kc == 0
        || (ao + (rows - 1) * ars + (kc - 1) * aks < a.len() && bo + (kc - 1) * bks + 16 <= b.len())
}

#[allow(clippy::too_many_arguments)]
pub fn tile_generic_dispatch(
    rows: usize,
    a: &[f32],
    ao: usize,
    ars: usize,
    aks: usize,
    b: &[f32],
    bo: usize,
    bks: usize,
    kc: usize,
) -> [[f32; 16]; 4] {
    match rows {
        4 => tile_generic::<4>(a, ao, ars, aks, b, bo, bks, kc),
        3 => tile_generic::<3>(a, ao, ars, aks, b, bo, bks, kc),
        2 => tile_generic::<2>(a, ao, ars, aks, b, bo, bks, kc),
        _ => tile_generic::<1>(a, ao, ars, aks, b, bo, bks, kc),
    }
}

#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub fn tile_generic<const R: usize>(
    a: &[f32],
    ao: usize,
    ars: usize,
    aks: usize,
    b: &[f32],
    bo: usize,
    bks: usize,
    kc: usize,
) -> [[f32; 16]; 4] {
    let mut acc = [[0f32; 16]; 4];
    for k in 0..kc {
        let bv: &[f32; 16] = b[bo + k * bks..bo + k * bks + 16].try_into().unwrap();
        for r in 0..R {
            let av = a[ao + r * ars + k * aks];
            for j in 0..16 {
                acc[r][j] += av * bv[j];
            }
        }
    }
    acc
}

#[cfg(target_arch = "x86_64")]
#[allow(clippy::too_many_arguments)]
pub fn tile_avx2_dispatch(
    rows: usize,
    a: &[f32],
    ao: usize,
    ars: usize,
    aks: usize,
    b: &[f32],
    bo: usize,
    bks: usize,
    kc: usize,
) -> [[f32; 16]; 4] {
    assert!(tile_bounds_ok(rows.max(1), a, ao, ars, aks, b, bo, bks, kc));
    // SAFETY: the assert above checks the reads; the caller (`tile_kernel`, or a
    // caller that checked `has_avx2_fma` itself) only selects this on AVX2 + FMA;
    // every index the kernel reads was bounds-checked just above.
    unsafe {
        match rows {
            4 => tile_avx2::<4>(a.as_ptr().add(ao), ars, aks, b.as_ptr().add(bo), bks, kc),
            3 => tile_avx2::<3>(a.as_ptr().add(ao), ars, aks, b.as_ptr().add(bo), bks, kc),
            2 => tile_avx2::<2>(a.as_ptr().add(ao), ars, aks, b.as_ptr().add(bo), bks, kc),
            _ => tile_avx2::<1>(a.as_ptr().add(ao), ars, aks, b.as_ptr().add(bo), bks, kc),
        }
    }
}

/// 4×16 register tile: 8 ymm accumulators, per `k` one broadcast per row and
/// two loads of `B`, 2·R FMAs.
///
/// # Safety
///
/// The CPU must have AVX2 and FMA, and every read must be in bounds: `a[r*ars +
/// k*aks]` for `r < R`, `k < kc`, and `b[k*bks .. k*bks + 16]` for `k < kc` (what
/// [`tile_bounds_ok`] checks).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
pub unsafe fn tile_avx2<const R: usize>(
    a: *const f32,
    ars: usize,
    aks: usize,
    b: *const f32,
    bks: usize,
    kc: usize,
) -> [[f32; 16]; 4] {
    use std::arch::x86_64::*;
    let mut lo = [_mm256_setzero_ps(); R];
    let mut hi = [_mm256_setzero_ps(); R];
    let (mut ap, mut bp) = (a, b);
    for _ in 0..kc {
        // SAFETY: the caller checked that all reads are in bounds.
        unsafe {
            let b0 = _mm256_loadu_ps(bp);
            let b1 = _mm256_loadu_ps(bp.add(8));
            for r in 0..R {
                let av = _mm256_set1_ps(*ap.add(r * ars));
                lo[r] = _mm256_fmadd_ps(av, b0, lo[r]);
                hi[r] = _mm256_fmadd_ps(av, b1, hi[r]);
            }
        }
        ap = ap.wrapping_add(aks);
        bp = bp.wrapping_add(bks);
    }
    let mut out = [[0f32; 16]; 4];
    for r in 0..R {
        // SAFETY: out[r] has 16 elements.
        unsafe {
            _mm256_storeu_ps(out[r].as_mut_ptr(), lo[r]);
            _mm256_storeu_ps(out[r].as_mut_ptr().add(8), hi[r]);
        }
    }
    out
}
