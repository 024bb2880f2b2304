//! The SIMD instruction set the kernels run: the best this CPU supports, unless the
//! front end asked for another one when it started ([`choose`]). Chosen once per
//! process, so that the network, t-SNE, distances and thumbnails all agree (a forced
//! `scalar` reaches every kernel) and so that results do not change during a run.

use std::sync::OnceLock;

/// An instruction set the SIMD kernels are compiled for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Isa {
    /// Portable code: auto-vectorised Rust (and the `gemm` crate's own SIMD in the
    /// model's reference path).
    Scalar,
    /// x86-64 AVX2 + FMA, 8 floats per vector.
    Avx2,
    /// x86-64 AVX-512F (+ AVX2 and FMA), 16 floats per vector.
    Avx512,
}

impl Isa {
    pub fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
        }
    }

    pub fn parse(s: &str) -> Option<Isa> {
        match s.trim().to_ascii_lowercase().as_str() {
            "scalar" | "generic" | "none" => Some(Isa::Scalar),
            "avx2" | "avx2+fma" => Some(Isa::Avx2),
            "avx512" | "avx-512" | "avx512f" => Some(Isa::Avx512),
            _ => None,
        }
    }

    /// Whether this machine can run the kernels of this instruction set.
    pub fn is_supported(self) -> bool {
        match self {
            Isa::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => is_x86_feature_detected!("avx512f") && Isa::Avx2.is_supported(),
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// Every instruction set this machine supports, best first.
    pub fn supported() -> Vec<Isa> {
        [Isa::Avx512, Isa::Avx2, Isa::Scalar]
            .into_iter()
            .filter(|i| i.is_supported())
            .collect()
    }

    /// The best instruction set this machine supports.
    pub fn best() -> Isa {
        Isa::supported()[0]
    }

    /// Whether the AVX2 + FMA kernels may run (AVX-512 machines have them too).
    pub fn has_avx2_fma(self) -> bool {
        self >= Isa::Avx2
    }

    /// Floats per SIMD vector.
    pub fn lanes(self) -> usize {
        match self {
            Isa::Scalar => 4,
            Isa::Avx2 => 8,
            Isa::Avx512 => 16,
        }
    }
}

impl std::fmt::Display for Isa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

static ACTIVE: OnceLock<Isa> = OnceLock::new();

/// The instruction set of this process: the one [`choose`] set, else the best.
pub fn active() -> Isa {
    *ACTIVE.get_or_init(Isa::best)
}

/// Why an instruction set could not be chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChooseError {
    Unsupported(Isa),
    AlreadyChosen(Isa),
}

impl std::fmt::Display for ChooseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChooseError::Unsupported(i) => write!(
                f,
                "this CPU cannot run {i} code (it supports: {})",
                Isa::supported()
                    .iter()
                    .map(|i| i.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            ChooseError::AlreadyChosen(i) => write!(f, "the instruction set is already {i}"),
        }
    }
}

impl std::error::Error for ChooseError {}

/// Sets the instruction set of this process; front ends call it once, before any
/// kernel runs. Choosing the one already active is not an error.
pub fn choose(isa: Isa) -> Result<Isa, ChooseError> {
    if !isa.is_supported() {
        return Err(ChooseError::Unsupported(isa));
    }
    let got = *ACTIVE.get_or_init(|| isa);
    if got == isa {
        Ok(got)
    } else {
        Err(ChooseError::AlreadyChosen(got))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back_and_the_best_is_supported() {
        for i in [Isa::Scalar, Isa::Avx2, Isa::Avx512] {
            assert_eq!(Isa::parse(i.name()), Some(i));
        }
        assert!(Isa::supported().contains(&Isa::Scalar));
        assert!(Isa::best().is_supported());
        assert!(active().is_supported());
        assert_eq!(choose(active()), Ok(active()));
    }
}
