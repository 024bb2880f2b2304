//! Vector maths on f32 slices.
//!
//! The plain functions sum in order, one element after the other: the same bits on
//! every machine, which is what clustering needs (a library clusters the same
//! everywhere, for a seed). [`squared_distance_simd`] is the fast one for t-SNE.

/// Scales `v` to unit Euclidean length in place; a zero vector stays zero.
pub fn l2_normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        let inv = 1.0 / norm;
        v.iter_mut().for_each(|x| *x *= inv);
    }
}

pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

pub fn squared_distance(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// Sum of 8 lanes in a fixed order (pairs 4 apart, as a SIMD reduction does).
pub fn hsum8(v: &[f32; 8]) -> f32 {
    ((v[0] + v[4]) + (v[1] + v[5])) + ((v[2] + v[6]) + (v[3] + v[7]))
}

/// Squared Euclidean distance with the process's SIMD ([`crate::isa::active`]):
/// blocked sums, so the last bits depend on the instruction set. For the t-SNE
/// neighbour search, where speed matters and the machine's own rounding is fine.
pub fn squared_distance_simd(a: &[f32], b: &[f32]) -> f32 {
    let len = a.len().min(b.len());
    #[cfg(target_arch = "x86_64")]
    {
        if crate::isa::active().has_avx2_fma() {
            // SAFETY: features detected; the kernel reads a[..len], b[..len].
            return unsafe { squared_distance_avx2(&a[..len], &b[..len]) };
        }
    }
    squared_distance_blocked(&a[..len], &b[..len])
}

fn squared_distance_blocked(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            let t = x[l] - y[l];
            acc[l] += t * t;
        }
    }
    let mut s = hsum8(&acc);
    for (x, y) in ra.iter().zip(rb) {
        s += (x - y) * (x - y);
    }
    s
}

/// Four independent accumulators hide the FMA latency.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn squared_distance_avx2(a: &[f32], b: &[f32]) -> f32 {
    use std::arch::x86_64::*;
    let len = a.len();
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut i = 0;
    // SAFETY (all blocks): every load reads 8 floats below `len`.
    while i + 32 <= len {
        for (t, acc) in acc.iter_mut().enumerate() {
            unsafe {
                let d = _mm256_sub_ps(
                    _mm256_loadu_ps(pa.add(i + 8 * t)),
                    _mm256_loadu_ps(pb.add(i + 8 * t)),
                );
                *acc = _mm256_fmadd_ps(d, d, *acc);
            }
        }
        i += 32;
    }
    while i + 8 <= len {
        unsafe {
            let d = _mm256_sub_ps(_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)));
            acc[0] = _mm256_fmadd_ps(d, d, acc[0]);
        }
        i += 8;
    }
    let v = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
    let mut l = [0f32; 8];
    // SAFETY: l has 8 elements.
    unsafe { _mm256_storeu_ps(l.as_mut_ptr(), v) };
    let mut s = hsum8(&l);
    while i < len {
        let d = a[i] - b[i];
        s += d * d;
        i += 1;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalising_gives_unit_length() {
        let mut v = vec![3.0f32, 4.0];
        l2_normalize(&mut v);
        assert!((dot(&v, &v) - 1.0).abs() < 1e-6);
        let mut z = vec![0.0f32; 3];
        l2_normalize(&mut z);
        assert_eq!(z, vec![0.0; 3]);
    }

    #[test]
    fn simd_distance_matches_the_plain_one() {
        let a: Vec<f32> = (0..77).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..77).map(|i| (i as f32 * 0.11).cos()).collect();
        let (p, s) = (squared_distance(&a, &b), squared_distance_simd(&a, &b));
        assert!((p - s).abs() <= 1e-5 * p, "{p} vs {s}");
        assert_eq!(
            squared_distance_blocked(&a, &b),
            squared_distance_blocked(&a, &b)
        );
    }
}
