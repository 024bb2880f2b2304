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
//! (`crates/model/tests/cpu_kernels.rs`, `efficientnet.rs`); `bench/PROFILING.md` has the
//! numbers.

mod depthwise;
mod fused;
mod gemm;
mod im2col;
mod reference;
mod threads;
#[cfg(target_arch = "x86_64")]
mod x86;

pub use depthwise::depthwise_image;
pub use fused::{MbConv, mbconv_fused};
pub use gemm::PackedGemm;
pub use im2col::im2col_image;
pub use reference::{dense_conv, depthwise, global_average_pool, pointwise};
pub(crate) use threads::pool;
pub use threads::{OwnThread, cpu_threads, set_cpu_threads};

// The SIMD kernels of `x86` name these as `super::…`.
#[cfg(target_arch = "x86_64")]
use depthwise::{DwArgs, Px, depthwise_pixel_scalar};
#[cfg(target_arch = "x86_64")]
use gemm::GemmTile;

/// TensorFlow "SAME" padding: output = ceil(input / stride); any odd padding goes to
/// the bottom/right. Returns (output size, padding before).
pub fn same_padding(input: usize, kernel: usize, stride: usize) -> (usize, usize) {
    let out = input.div_ceil(stride);
    let total = ((out - 1) * stride + kernel).saturating_sub(input);
    (out, total / 2)
}

#[inline]
pub(super) fn relu6_in_place(v: &mut [f32]) {
    for x in v {
        *x = x.clamp(0.0, 6.0);
    }
}

// ---------------------------------------------------------------------------------
// Instruction set selection
// ---------------------------------------------------------------------------------

pub use reelmap_numeric::Isa;

/// The instruction set of models built with the default: the process's
/// ([`reelmap_numeric::isa::active`], which the front end may have chosen).
pub fn default_isa() -> Isa {
    reelmap_numeric::isa::active()
}

/// Name of the default instruction set: "avx512", "avx2" or "scalar".
pub fn cpu_isa() -> &'static str {
    default_isa().name()
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
}
