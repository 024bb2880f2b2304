//! Fast CPU kernels for EfficientNet-Lite inference, on NHWC f32 buffers.
//!
//! Candle's generic convolution is slow for this network on CPU (depthwise
//! convolutions especially), so the CPU path runs these kernels instead. Batch-norm is
//! folded into the convolution weights at load time.
//!
//! Two generations of kernels live here:
//! * the simple ones (`pointwise` via the `gemm` crate, `depthwise`, `dense_conv`),
//!   kept as a second reference for tests;
//! * the SIMD ones used by `EfficientNetLite::forward_cpu`: a register-blocked GEMM
//!   micro-kernel for 1×1 convolutions on weights packed at load time
//!   ([`PackedGemm`], bias / residual / ReLU6 fused into the store), and a depthwise
//!   kernel with bias + ReLU6 fused that vectorises channels. Each exists for
//!   AVX-512F, AVX2+FMA and portable scalar code, chosen at run time ([`Isa`]: the
//!   process's instruction set, which `--cpu-isa` can force).
//!
//! The network is run image by image (one image per thread when the batch is large
//! enough, otherwise each layer split over the threads), so that the intermediate
//! activations of one image stay in the caches instead of materialising batch-sized
//! tensors; blocks with large expanded activations run fused in bands of rows
//! ([`mbconv_fused`]). The threads are a pool of their own ([`set_cpu_threads`]).
//! Each kernel has tests against the plain definitions and the Candle path
//! (`tests/model_cpu_kernels.rs`, `efficientnet.rs`); `bench/PROFILING.md` has the
//! numbers.

#[cfg(target_arch = "x86_64")]
mod x86;

use rayon::prelude::*;
use std::sync::{Arc, RwLock};

/// TensorFlow "SAME" padding: output = ceil(input / stride); any odd padding goes to
/// the bottom/right. Returns (output size, padding before).
pub fn same_padding(input: usize, kernel: usize, stride: usize) -> (usize, usize) {
    let out = input.div_ceil(stride);
    let total = ((out - 1) * stride + kernel).saturating_sub(input);
    (out, total / 2)
}

#[inline]
fn relu6_in_place(v: &mut [f32]) {
    for x in v {
        *x = x.clamp(0.0, 6.0);
    }
}

/// Pointwise (1×1) convolution: `out[m, :] = act(input[m, :] · w + bias (+ residual[m, :]))`.
/// `w` is `[k][n]` row-major (input channels × output channels).
#[allow(clippy::too_many_arguments)]
pub fn pointwise(
    input: &[f32],
    m: usize,
    k: usize,
    w: &[f32],
    bias: &[f32],
    n: usize,
    residual: Option<&[f32]>,
    relu6: bool,
    out: &mut Vec<f32>,
) {
    debug_assert_eq!(input.len(), m * k);
    debug_assert_eq!(w.len(), k * n);
    out.clear();
    out.resize(m * n, 0.0);
    gemm_bias_act(input, m, k, w, bias, n, residual, relu6, out, true);
}

/// `out[..m·n] = act(a · w + bias (+ residual))` on the `gemm` crate: the output starts
/// as bias (+ residual) and the GEMM accumulates onto it. `w` is `[k][n]` row-major.
/// Used by the portable path and by the simple reference kernel [`pointwise`].
#[allow(clippy::too_many_arguments)]
fn gemm_bias_act(
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

/// Depthwise k×k convolution with SAME padding, bias and ReLU6, NHWC.
/// `w` is `[k][k][c]`. Input `[batch][h][w][c]`, output `[batch][oh][ow][c]`.
#[allow(clippy::too_many_arguments)]
pub fn depthwise(
    input: &[f32],
    batch: usize,
    h: usize,
    wd: usize,
    c: usize,
    w: &[f32],
    bias: &[f32],
    kernel: usize,
    stride: usize,
    out: &mut Vec<f32>,
) -> (usize, usize) {
    let (oh, pad_t) = same_padding(h, kernel, stride);
    let (ow, pad_l) = same_padding(wd, kernel, stride);
    out.clear();
    out.resize(batch * oh * ow * c, 0.0);
    let row_len = ow * c;
    out.par_chunks_mut(row_len)
        .enumerate()
        .for_each(|(row, acc)| {
            let b = row / oh;
            let oy = row % oh;
            let img = &input[b * h * wd * c..(b + 1) * h * wd * c];
            for px in acc.chunks_exact_mut(c) {
                px.copy_from_slice(bias);
            }
            for ky in 0..kernel {
                let iy = (oy * stride + ky) as isize - pad_t as isize;
                if iy < 0 || iy >= h as isize {
                    continue;
                }
                let in_row = &img[iy as usize * wd * c..(iy as usize + 1) * wd * c];
                for kx in 0..kernel {
                    let wk = &w[(ky * kernel + kx) * c..(ky * kernel + kx + 1) * c];
                    // Output columns whose input column is inside the image.
                    let lo = (pad_l as isize - kx as isize).max(0) as usize;
                    let lo = lo.div_ceil(stride);
                    let hi_num = wd as isize - 1 + pad_l as isize - kx as isize;
                    if hi_num < 0 {
                        continue;
                    }
                    let hi = ((hi_num as usize) / stride + 1).min(ow);
                    for ox in lo..hi {
                        let ix = ox * stride + kx - pad_l;
                        let src = &in_row[ix * c..(ix + 1) * c];
                        let dst = &mut acc[ox * c..(ox + 1) * c];
                        for ((d, s), k) in dst.iter_mut().zip(src).zip(wk) {
                            *d += s * k;
                        }
                    }
                }
            }
            relu6_in_place(acc);
        });
    (oh, ow)
}

/// The stem: a dense 3×3 convolution (3 → `n` channels) with SAME padding, bias and
/// ReLU6, as im2col + GEMM. `w` is `[ky][kx][cin][n]` flattened to `[k*k*cin][n]`.
#[allow(clippy::too_many_arguments)]
pub fn dense_conv(
    input: &[f32],
    batch: usize,
    h: usize,
    wd: usize,
    cin: usize,
    w: &[f32],
    bias: &[f32],
    n: usize,
    kernel: usize,
    stride: usize,
    scratch: &mut Vec<f32>,
    out: &mut Vec<f32>,
) -> (usize, usize) {
    let (oh, pad_t) = same_padding(h, kernel, stride);
    let (ow, pad_l) = same_padding(wd, kernel, stride);
    let kk = kernel * kernel * cin;
    scratch.clear();
    scratch.resize(batch * oh * ow * kk, 0.0);
    scratch
        .par_chunks_mut(ow * kk)
        .enumerate()
        .for_each(|(row, cols)| {
            let b = row / oh;
            let oy = row % oh;
            let img = &input[b * h * wd * cin..(b + 1) * h * wd * cin];
            for ox in 0..ow {
                let col = &mut cols[ox * kk..(ox + 1) * kk];
                for ky in 0..kernel {
                    let iy = (oy * stride + ky) as isize - pad_t as isize;
                    if iy < 0 || iy >= h as isize {
                        continue;
                    }
                    for kx in 0..kernel {
                        let ix = (ox * stride + kx) as isize - pad_l as isize;
                        if ix < 0 || ix >= wd as isize {
                            continue;
                        }
                        let src = ((iy as usize) * wd + ix as usize) * cin;
                        let dst = (ky * kernel + kx) * cin;
                        col[dst..dst + cin].copy_from_slice(&img[src..src + cin]);
                    }
                }
            }
        });
    pointwise(scratch, batch * oh * ow, kk, w, bias, n, None, true, out);
    (oh, ow)
}

/// Mean over the spatial positions of each image: `[batch][hw][c]` → `[batch][c]`.
pub fn global_average_pool(input: &[f32], batch: usize, hw: usize, c: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; batch * c];
    for b in 0..batch {
        let dst = &mut out[b * c..(b + 1) * c];
        for px in input[b * hw * c..(b + 1) * hw * c].chunks_exact(c) {
            for (d, s) in dst.iter_mut().zip(px) {
                *d += s;
            }
        }
        let inv = 1.0 / hw as f32;
        dst.iter_mut().for_each(|d| *d *= inv);
    }
    out
}

// ---------------------------------------------------------------------------------
// Instruction set selection
// ---------------------------------------------------------------------------------

pub use reelmap_numeric::Isa;

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

/// The instruction set of models built with the default: the process's
/// ([`reelmap_numeric::isa::active`], which the front end may have chosen).
pub fn default_isa() -> Isa {
    reelmap_numeric::isa::active()
}

/// Name of the default instruction set: "avx512", "avx2" or "scalar".
pub fn cpu_isa() -> &'static str {
    default_isa().name()
}

// ---------------------------------------------------------------------------------
// Threads
// ---------------------------------------------------------------------------------

static POOL: RwLock<Option<Arc<rayon::ThreadPool>>> = RwLock::new(None);

fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Number of threads of the CPU inference pool (`0` = one per core, the default).
/// Front ends call it once at start; it takes effect for the next forward pass.
pub fn set_cpu_threads(n: usize) {
    let n = if n == 0 { default_threads() } else { n };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .thread_name(|i| format!("reelmap-cpu-{i}"))
        .build()
        .expect("cannot start CPU inference threads");
    *POOL.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(pool));
}

/// Threads of the CPU inference pool.
pub fn cpu_threads() -> usize {
    pool().current_num_threads()
}

thread_local! {
    /// The pool of the [`OwnThread::run`] running on this thread, if any.
    static OWN_THREAD: std::cell::RefCell<Option<Arc<rayon::ThreadPool>>> =
        const { std::cell::RefCell::new(None) };
}

/// One inference thread of its own, for callers that keep every core busy with
/// several videos at once: splitting each of their images over the cores would only
/// add threads competing for them. The results are the same (an image's result never
/// depends on the threads).
pub struct OwnThread(Arc<rayon::ThreadPool>);

impl OwnThread {
    pub fn new() -> OwnThread {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .thread_name(|_| "reelmap-cpu-own".to_string())
            .build()
            .expect("cannot start a CPU inference thread");
        OwnThread(Arc::new(pool))
    }

    /// Runs `f` on this inference thread. Forward passes that `f` starts through
    /// [`OwnThread::run`] then run in place: no hand-over to another thread and back
    /// (~0.3 ms of idle core each on 2 cores).
    pub fn host<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        self.0.install(f)
    }

    /// Runs `f` with the forward passes it starts on this thread instead of the
    /// shared pool.
    pub fn run<R>(&self, f: impl FnOnce() -> R) -> R {
        let previous = OWN_THREAD.with(|p| p.replace(Some(self.0.clone())));
        // Restored even if `f` panics.
        struct Restore(Option<Arc<rayon::ThreadPool>>);
        impl Drop for Restore {
            fn drop(&mut self) {
                let previous = self.0.take();
                OWN_THREAD.with(|p| *p.borrow_mut() = previous);
            }
        }
        let _restore = Restore(previous);
        f()
    }
}

impl Default for OwnThread {
    fn default() -> Self {
        Self::new()
    }
}

pub(crate) fn pool() -> Arc<rayon::ThreadPool> {
    if let Some(p) = OWN_THREAD.with(|p| p.borrow().clone()) {
        return p;
    }
    if let Some(p) = POOL.read().unwrap_or_else(|e| e.into_inner()).as_ref() {
        return p.clone();
    }
    let mut w = POOL.write().unwrap_or_else(|e| e.into_inner());
    if w.is_none() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(default_threads())
            .thread_name(|i| format!("reelmap-cpu-{i}"))
            .build()
            .expect("cannot start CPU inference threads");
        *w = Some(Arc::new(pool));
    }
    w.as_ref().unwrap().clone()
}

#[derive(Clone, Copy)]
struct SendPtr<T>(*mut T);
unsafe impl<T> Send for SendPtr<T> {}
unsafe impl<T> Sync for SendPtr<T> {}

/// Runs `f(part)` for `part` in `0..parts` on the current rayon pool.
fn for_parts(parts: usize, f: impl Fn(usize) + Sync + Send) {
    if parts <= 1 {
        f(0);
    } else {
        (0..parts).into_par_iter().for_each(f);
    }
}

// ---------------------------------------------------------------------------------
// GEMM with packed weights (1×1 convolutions, the stem via im2col, the classifier)
// ---------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------
// Depthwise convolution (+ bias + ReLU6)
// ---------------------------------------------------------------------------------

/// Arguments of the depthwise kernels: one image `[h][w][c]` → `[oh][ow][c]`.
pub(crate) struct DwArgs {
    pub input: *const f32,
    pub h: usize,
    pub w: usize,
    pub c: usize,
    /// `[k][k][c]`
    pub wts: *const f32,
    pub bias: *const f32,
    pub k: usize,
    pub stride: usize,
    pub pad_t: usize,
    pub pad_l: usize,
    pub out: *mut f32,
    pub ow: usize,
    /// First input row held in `input` (0: the whole image).
    pub row0: usize,
    /// First output row held in `out`.
    pub orow0: usize,
}
unsafe impl Send for DwArgs {}
unsafe impl Sync for DwArgs {}

/// One output pixel: top-left input position and the range of taps inside the image.
pub(crate) struct Px {
    pub iy0: isize,
    pub ix0: isize,
    pub ky_lo: usize,
    pub ky_hi: usize,
    pub kx_lo: usize,
    pub kx_hi: usize,
    pub out: *mut f32,
}

/// Channels `c0..c1` of one output pixel, portable code.
///
/// # Safety
/// `d` and `px` must describe valid buffers.
pub(crate) unsafe fn depthwise_pixel_scalar(d: &DwArgs, px: &Px, c0: usize, c1: usize) {
    unsafe {
        let acc = std::slice::from_raw_parts_mut(px.out.add(c0), c1 - c0);
        acc.copy_from_slice(std::slice::from_raw_parts(d.bias.add(c0), c1 - c0));
        for ky in px.ky_lo..px.ky_hi {
            let iy = (px.iy0 + ky as isize) as usize;
            for kx in px.kx_lo..px.kx_hi {
                let ix = (px.ix0 + kx as isize) as usize;
                let src = std::slice::from_raw_parts(
                    d.input.add(((iy - d.row0) * d.w + ix) * d.c + c0),
                    c1 - c0,
                );
                let wk = std::slice::from_raw_parts(d.wts.add((ky * d.k + kx) * d.c + c0), c1 - c0);
                for ((a, s), w) in acc.iter_mut().zip(src).zip(wk) {
                    *a += s * w;
                }
            }
        }
        relu6_in_place(acc);
    }
}

/// # Safety
/// `d` must describe valid buffers.
unsafe fn depthwise_scalar(d: &DwArgs, oy0: usize, oy1: usize) {
    for oy in oy0..oy1 {
        let iy0 = (oy * d.stride) as isize - d.pad_t as isize;
        let ky_lo = (-iy0).max(0) as usize;
        let ky_hi = ((d.h as isize - iy0).min(d.k as isize)).max(0) as usize;
        for ox in 0..d.ow {
            let ix0 = (ox * d.stride) as isize - d.pad_l as isize;
            let kx_lo = (-ix0).max(0) as usize;
            let kx_hi = ((d.w as isize - ix0).min(d.k as isize)).max(0) as usize;
            let px = Px {
                iy0,
                ix0,
                ky_lo,
                ky_hi,
                kx_lo,
                kx_hi,
                out: unsafe { d.out.add(((oy - d.orow0) * d.ow + ox) * d.c) },
            };
            unsafe { depthwise_pixel_scalar(d, &px, 0, d.c) };
        }
    }
}

/// Depthwise k×k convolution of one image `[h][w][c]` with SAME padding, bias and
/// ReLU6, with the kernels of `isa`. `w` is `[k][k][c]`; `out` receives
/// `[oh][ow][c]` (grown if needed) and `(oh, ow)` is returned. `par`: rows split over
/// the threads of the current rayon pool.
#[allow(clippy::too_many_arguments)]
pub fn depthwise_image(
    isa: Isa,
    input: &[f32],
    h: usize,
    wd: usize,
    c: usize,
    w: &[f32],
    bias: &[f32],
    kernel: usize,
    stride: usize,
    out: &mut [f32],
    par: bool,
) -> (usize, usize) {
    let (oh, pad_t) = same_padding(h, kernel, stride);
    let (ow, pad_l) = same_padding(wd, kernel, stride);
    assert!(input.len() >= h * wd * c, "input too short");
    assert!(out.len() >= oh * ow * c, "output too short");
    assert_eq!(w.len(), kernel * kernel * c);
    assert_eq!(bias.len(), c);
    assert!(isa.is_supported(), "{} is not supported here", isa.name());
    let d = DwArgs {
        input: input.as_ptr(),
        h,
        w: wd,
        c,
        wts: w.as_ptr(),
        bias: bias.as_ptr(),
        k: kernel,
        stride,
        pad_t,
        pad_l,
        out: out.as_mut_ptr(),
        ow,
        row0: 0,
        orow0: 0,
    };
    let rows = |lo: usize, hi: usize| {
        // SAFETY: sizes checked above, ISA checked above; row ranges are disjoint.
        unsafe {
            match isa {
                #[cfg(target_arch = "x86_64")]
                Isa::Avx512 => x86::depthwise_avx512(&d, lo, hi),
                #[cfg(target_arch = "x86_64")]
                Isa::Avx2 => x86::depthwise_avx2(&d, lo, hi),
                _ => depthwise_scalar(&d, lo, hi),
            }
        }
    };
    let parts = if par && oh * ow * c * kernel * kernel > 100_000 {
        (rayon::current_num_threads() * 4).min(oh)
    } else {
        1
    };
    for_parts(parts, |t| rows(oh * t / parts, oh * (t + 1) / parts));
    (oh, ow)
}

/// The weights of one inverted-residual block for [`mbconv_fused`].
pub struct MbConv<'a> {
    /// 1×1 expansion, `in → mid` (ReLU6).
    pub expand: &'a PackedGemm,
    /// Depthwise `[k][k][mid]` and bias (ReLU6).
    pub dw_w: &'a [f32],
    pub dw_b: &'a [f32],
    pub kernel: usize,
    pub stride: usize,
    /// 1×1 projection, `mid → out` (linear).
    pub project: &'a PackedGemm,
}

thread_local! {
    static BAND: std::cell::RefCell<(Vec<f32>, Vec<f32>)> = Default::default();
}

/// One inverted-residual block (expand → depthwise → project, plus the input as
/// residual when `residual`) on one image `[h][w][in]`, computed in bands of output
/// rows so that the expanded activations (the largest tensor of the block) never
/// exist for the whole image: each band's expanded rows stay in L2 and the rows
/// shared with the next band are kept, not recomputed. Gives the same results, bit
/// for bit, as running the three layers one after the other. `out` receives
/// `[oh][ow][out]`; returns `(oh, ow)`. `par`: bands split over the threads.
#[allow(clippy::too_many_arguments)]
pub fn mbconv_fused(
    isa: Isa,
    b: &MbConv,
    input: &[f32],
    h: usize,
    w: usize,
    out: &mut [f32],
    residual: bool,
    par: bool,
) -> (usize, usize) {
    let (cin, mid, n) = (b.expand.k(), b.expand.n(), b.project.n());
    assert_eq!(b.project.k(), mid);
    let (k, s) = (b.kernel, b.stride);
    let (oh, pad_t) = same_padding(h, k, s);
    let (ow, pad_l) = same_padding(w, k, s);
    assert!(input.len() >= h * w * cin, "input too short");
    assert!(out.len() >= oh * ow * n, "output too short");
    assert_eq!(b.dw_w.len(), k * k * mid);
    assert_eq!(b.dw_b.len(), mid);
    assert!(isa.is_supported());
    if residual {
        assert!(s == 1 && cin == n, "residual needs stride 1 and in = out");
    }
    let per_row = w * mid;
    // Output rows per band: about 96K floats (384 KB) of expanded rows.
    let band = ((96 * 1024 / per_row).saturating_sub(k) / s).max(1);
    let bands = oh.div_ceil(band);
    let parts = if par {
        (rayon::current_num_threads() * 2).min(bands)
    } else {
        1
    };
    let out_ptr = SendPtr(out.as_mut_ptr());
    let run_part = |t: usize| {
        let out_base = out_ptr; // capture the Send wrapper, not its raw field
        // Equal numbers of output rows (whole bands left one thread a band more than
        // the other); each part cuts its rows into bands of at most `band`.
        let (lo, hi) = (oh * t / parts, oh * (t + 1) / parts);
        let work = |ebuf: &mut Vec<f32>, dbuf: &mut Vec<f32>| {
            // Input rows [have_lo, have_hi) are expanded in ebuf.
            let (mut have_lo, mut have_hi) = (0usize, 0usize);
            let mut oy = lo;
            while oy < hi {
                let oy_end = (oy + band).min(hi);
                let need_lo = (oy * s).saturating_sub(pad_t).min(h);
                let need_hi = ((oy_end - 1) * s + k).saturating_sub(pad_t).min(h);
                let rows = need_hi - need_lo;
                if ebuf.len() < rows * per_row {
                    ebuf.resize(rows * per_row, 0.0);
                }
                let start = if have_hi > need_lo && have_lo <= need_lo {
                    ebuf.copy_within(
                        (need_lo - have_lo) * per_row..(have_hi - have_lo) * per_row,
                        0,
                    );
                    have_hi
                } else {
                    need_lo
                };
                if need_hi > start {
                    let off = (start - need_lo) * per_row;
                    b.expand.run(
                        &input[start * w * cin..need_hi * w * cin],
                        (need_hi - start) * w,
                        &mut ebuf[off..rows * per_row],
                        None,
                        true,
                        false,
                    );
                }
                have_lo = need_lo;
                have_hi = need_hi;
                let orows = oy_end - oy;
                if dbuf.len() < orows * ow * mid {
                    dbuf.resize(orows * ow * mid, 0.0);
                }
                let d = DwArgs {
                    input: ebuf.as_ptr(),
                    h,
                    w,
                    c: mid,
                    wts: b.dw_w.as_ptr(),
                    bias: b.dw_b.as_ptr(),
                    k,
                    stride: s,
                    pad_t,
                    pad_l,
                    out: dbuf.as_mut_ptr(),
                    ow,
                    row0: need_lo,
                    orow0: oy,
                };
                // SAFETY: ebuf holds input rows need_lo..need_hi, which cover every
                // tap of output rows oy..oy_end; dbuf holds those output rows.
                unsafe {
                    match isa {
                        #[cfg(target_arch = "x86_64")]
                        Isa::Avx512 => x86::depthwise_avx512(&d, oy, oy_end),
                        #[cfg(target_arch = "x86_64")]
                        Isa::Avx2 => x86::depthwise_avx2(&d, oy, oy_end),
                        _ => depthwise_scalar(&d, oy, oy_end),
                    }
                }
                // SAFETY: parts own disjoint output rows.
                let dst = unsafe {
                    std::slice::from_raw_parts_mut(out_base.0.add(oy * ow * n), orows * ow * n)
                };
                let res = residual.then(|| &input[oy * ow * n..oy_end * ow * n]);
                b.project.run(
                    &dbuf[..orows * ow * mid],
                    orows * ow,
                    dst,
                    res,
                    false,
                    false,
                );
                oy = oy_end;
            }
        };
        BAND.with(|cell| match cell.try_borrow_mut() {
            Ok(mut bufs) => {
                let (e, d) = &mut *bufs;
                work(e, d)
            }
            Err(_) => work(&mut Vec::new(), &mut Vec::new()),
        });
    };
    for_parts(parts, run_part);
    (oh, ow)
}

/// Copies `count` runs of `R` values, `src_step` and `dst_step` apart.
///
/// # Safety
/// Every run must be inside its buffer.
#[inline(always)]
unsafe fn copy_runs<const R: usize>(
    src: *const f32,
    src_step: usize,
    dst: *mut f32,
    dst_step: usize,
    count: usize,
) {
    for i in 0..count {
        unsafe {
            let v = (src.add(i * src_step) as *const [f32; R]).read_unaligned();
            (dst.add(i * dst_step) as *mut [f32; R]).write_unaligned(v);
        }
    }
}

/// im2col of one image for a dense k×k convolution with SAME padding:
/// `[h][w][cin]` → `[oh·ow][k·k·cin]` (zeros outside the image). Returns `(oh, ow)`.
#[allow(clippy::too_many_arguments)]
pub fn im2col_image(
    input: &[f32],
    h: usize,
    wd: usize,
    cin: usize,
    kernel: usize,
    stride: usize,
    out: &mut Vec<f32>,
    par: bool,
) -> (usize, usize) {
    let (oh, pad_t) = same_padding(h, kernel, stride);
    let (ow, pad_l) = same_padding(wd, kernel, stride);
    let kk = kernel * kernel * cin;
    let run = kernel * cin;
    // Every element is written below (zeros outside the image), so a reused buffer
    // needs no clearing.
    out.resize(oh * ow * kk, 0.0);
    out.truncate(oh * ow * kk);
    // Output columns whose taps all fall inside the image: one contiguous run of
    // kernel × cin values per tap row, copied without per-value checks.
    let inner_lo = pad_l.div_ceil(stride).min(ow);
    let inner_hi = if wd + pad_l >= kernel {
        ((wd + pad_l - kernel) / stride + 1).clamp(inner_lo, ow)
    } else {
        inner_lo
    };
    let fill_row = |oy: usize, out_row: &mut [f32]| {
        for ky in 0..kernel {
            let iy = (oy * stride + ky) as isize - pad_t as isize;
            if iy < 0 || iy >= h as isize {
                for col in out_row.chunks_exact_mut(kk) {
                    col[ky * run..(ky + 1) * run].fill(0.0);
                }
                continue;
            }
            let row = (iy as usize) * wd;
            if inner_hi > inner_lo {
                let first = (row + inner_lo * stride - pad_l) * cin;
                let last = (row + (inner_hi - 1) * stride - pad_l) * cin + run;
                assert!(last <= input.len() && inner_hi * kk <= out_row.len());
                let src = input[first..].as_ptr();
                let dst = out_row[inner_lo * kk + ky * run..].as_mut_ptr();
                let count = inner_hi - inner_lo;
                // SAFETY: the last run read ends at `last` and the last one written
                // inside `out_row`, both checked above.
                unsafe {
                    if run == 9 {
                        // The stem (3×3 × RGB): fixed-size copies, not memcpy calls.
                        copy_runs::<9>(src, stride * cin, dst, kk, count);
                    } else {
                        for i in 0..count {
                            std::ptr::copy_nonoverlapping(
                                src.add(i * stride * cin),
                                dst.add(i * kk),
                                run,
                            );
                        }
                    }
                }
            }
            for ox in (0..inner_lo).chain(inner_hi..ow) {
                let ix0 = (ox * stride) as isize - pad_l as isize;
                let dst = &mut out_row[ox * kk + ky * run..ox * kk + (ky + 1) * run];
                for kx in 0..kernel {
                    let ix = ix0 + kx as isize;
                    let d = &mut dst[kx * cin..(kx + 1) * cin];
                    if ix < 0 || ix >= wd as isize {
                        d.fill(0.0);
                    } else {
                        let src = (row + ix as usize) * cin;
                        d.copy_from_slice(&input[src..src + cin]);
                    }
                }
            }
        }
    };
    if oh * ow * kk == 0 {
        return (oh, ow);
    }
    if par {
        // ~2 % of a batch-1 forward pass when left to one thread.
        let rows = oh.div_ceil(rayon::current_num_threads() * 2).max(1);
        out.par_chunks_mut(rows * ow * kk)
            .enumerate()
            .for_each(|(i, chunk)| {
                for (j, out_row) in chunk.chunks_exact_mut(ow * kk).enumerate() {
                    fill_row(i * rows + j, out_row);
                }
            });
    } else {
        for (oy, out_row) in out.chunks_exact_mut(ow * kk).enumerate() {
            fill_row(oy, out_row);
        }
    }
    (oh, ow)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_padding_matches_tensorflow() {
        // 224, k3, s2: output 112, one pixel of padding, all of it after.
        assert_eq!(same_padding(224, 3, 2), (112, 0));
        // 56, k5, s2: output 28, three pixels: one before, two after.
        assert_eq!(same_padding(56, 5, 2), (28, 1));
        // stride 1 keeps the size with symmetric padding.
        assert_eq!(same_padding(14, 5, 1), (14, 2));
        assert_eq!(same_padding(7, 3, 1), (7, 1));
    }

    #[test]
    fn depthwise_matches_direct_definition() {
        let (b, h, w, c, k) = (2, 9, 7, 5, 3);
        let input: Vec<f32> = (0..b * h * w * c)
            .map(|i| ((i * 37 % 23) as f32 - 11.0) / 7.0)
            .collect();
        let wt: Vec<f32> = (0..k * k * c)
            .map(|i| ((i * 13 % 17) as f32 - 8.0) / 9.0)
            .collect();
        let bias: Vec<f32> = (0..c).map(|i| i as f32 * 0.1).collect();
        for stride in [1, 2] {
            let mut out = Vec::new();
            let (oh, ow) = depthwise(&input, b, h, w, c, &wt, &bias, k, stride, &mut out);
            let (_, pt) = same_padding(h, k, stride);
            let (_, pl) = same_padding(w, k, stride);
            for bi in 0..b {
                for oy in 0..oh {
                    for ox in 0..ow {
                        for ch in 0..c {
                            let mut acc = bias[ch];
                            for ky in 0..k {
                                for kx in 0..k {
                                    let iy = (oy * stride + ky) as isize - pt as isize;
                                    let ix = (ox * stride + kx) as isize - pl as isize;
                                    if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w
                                    {
                                        acc += input
                                            [((bi * h + iy as usize) * w + ix as usize) * c + ch]
                                            * wt[(ky * k + kx) * c + ch];
                                    }
                                }
                            }
                            let got = out[((bi * oh + oy) * ow + ox) * c + ch];
                            assert!((got - acc.clamp(0.0, 6.0)).abs() < 1e-5, "{got} vs {acc}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn pointwise_adds_bias_and_residual() {
        let (m, k, n) = (3, 2, 2);
        let input = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let w = [1.0, 0.0, 0.0, 1.0]; // identity
        let bias = [0.5, -0.5];
        let residual = [1.0; 6];
        let mut out = Vec::new();
        pointwise(&input, m, k, &w, &bias, n, Some(&residual), false, &mut out);
        assert_eq!(out, vec![2.5, 2.5, 4.5, 4.5, 6.5, 6.5]);
        pointwise(&input, m, k, &w, &bias, n, None, true, &mut out);
        assert_eq!(out, vec![1.5, 1.5, 3.5, 3.5, 5.5, 5.5]);
    }
}
