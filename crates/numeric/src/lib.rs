//! Numeric building blocks shared by the model, t-SNE, clustering and thumbnails:
//!
//! - [`isa`]: the SIMD instruction set, chosen once per process;
//! - [`gemm`]: a register-blocked f32 matrix product on strided operands;
//! - [`vector`]: dot products, distances, normalisation;
//! - [`rng`]: a small seedable generator, so that results are reproducible for a seed.

pub mod gemm;
pub mod isa;
pub mod rng;
pub mod vector;

pub use isa::Isa;
pub use rng::SplitMix64;
pub use vector::{dot, l2_normalize, squared_distance};
