//! The SIMD CPU kernels (every instruction set this machine supports, plus the
//! portable scalar code) against direct definitions and the simple kernels.

use reelmap_model::cpu::{self, Isa, PackedGemm};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    }
    fn vec(&mut self, n: usize, scale: f32) -> Vec<f32> {
        (0..n).map(|_| self.next() * scale).collect()
    }
}

fn pool2() -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap()
}

fn isas() -> Vec<Isa> {
    let v = Isa::supported();
    assert!(v.contains(&Isa::Scalar));
    println!("testing ISAs: {:?}", v);
    v
}

#[test]
fn isa_names_round_trip() {
    for i in [Isa::Scalar, Isa::Avx2, Isa::Avx512] {
        assert_eq!(Isa::parse(i.name()), Some(i));
    }
    assert!(["avx512", "avx2", "scalar"].contains(&cpu::cpu_isa()));
    assert!(cpu::default_isa().is_supported());
}

#[test]
fn packed_gemm_matches_definition() {
    let mut rng = Rng(7);
    let pool = pool2();
    for isa in isas() {
        for &(m, k, n) in &[
            (1, 1, 1),
            (1, 32, 16),
            (1, 1280, 1000),
            (2, 64, 40),
            (3, 17, 33),
            (16, 1280, 100),
            (5, 3, 7),
            (13, 27, 32),
            (37, 16, 24),
            (49, 40, 33),
            (100, 33, 40),
            (7, 96, 17),
            (196, 64, 96),
            (61, 320, 130),
            // More columns than rows: split by column panels (the 14×14 expansions).
            (100, 80, 480),
        ] {
            let a = rng.vec(m * k, 2.0);
            let w = rng.vec(k * n, 1.0);
            let bias = rng.vec(n, 1.0);
            let res = rng.vec(m * n, 4.0);
            let pk = PackedGemm::new(isa, &w, &bias, k, n);
            for residual in [false, true] {
                for relu6 in [false, true] {
                    let mut want = vec![0f32; m * n];
                    for i in 0..m {
                        for j in 0..n {
                            let mut s = bias[j] as f64;
                            for p in 0..k {
                                s += a[i * k + p] as f64 * w[p * n + j] as f64;
                            }
                            if residual {
                                s += res[i * n + j] as f64;
                            }
                            let mut s = s as f32;
                            if relu6 {
                                s = s.clamp(0.0, 6.0);
                            }
                            want[i * n + j] = s;
                        }
                    }
                    // The simple gemm-crate kernel agrees with the definition too.
                    let mut simple = Vec::new();
                    cpu::pointwise(
                        &a,
                        m,
                        k,
                        &w,
                        &bias,
                        n,
                        residual.then_some(res.as_slice()),
                        relu6,
                        &mut simple,
                    );
                    let mut serial: Option<Vec<f32>> = None;
                    for par in [false, true] {
                        // Poison the output so that unwritten elements show.
                        let mut got = vec![f32::NAN; m * n + 3];
                        pool.install(|| {
                            pk.run(
                                &a,
                                m,
                                &mut got,
                                residual.then_some(res.as_slice()),
                                relu6,
                                par,
                            )
                        });
                        assert!(got[m * n..].iter().all(|x| x.is_nan()), "wrote past end");
                        // Split over threads or not: the same bits.
                        match &serial {
                            None => serial = Some(got.clone()),
                            Some(s) => assert!(
                                s[..m * n] == got[..m * n],
                                "{isa:?} m{m} k{k} n{n}: the split changed the results"
                            ),
                        }
                        for idx in 0..m * n {
                            let tol = 1e-5 * (1.0 + k as f32).sqrt() * 4.0;
                            assert!(
                                (got[idx] - want[idx]).abs() <= tol,
                                "{isa:?} m{m} k{k} n{n} res {residual} relu6 {relu6} par {par}: [{idx}] {} vs {}",
                                got[idx],
                                want[idx]
                            );
                            assert!((simple[idx] - want[idx]).abs() <= tol);
                        }
                    }
                }
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn depthwise_definition(
    input: &[f32],
    h: usize,
    w: usize,
    c: usize,
    wt: &[f32],
    bias: &[f32],
    k: usize,
    stride: usize,
) -> (usize, usize, Vec<f32>) {
    let (oh, pt) = cpu::same_padding(h, k, stride);
    let (ow, pl) = cpu::same_padding(w, k, stride);
    let mut out = vec![0f32; oh * ow * c];
    for oy in 0..oh {
        for ox in 0..ow {
            for ch in 0..c {
                let mut acc = bias[ch] as f64;
                for ky in 0..k {
                    for kx in 0..k {
                        let iy = (oy * stride + ky) as isize - pt as isize;
                        let ix = (ox * stride + kx) as isize - pl as isize;
                        if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w {
                            acc += input[((iy as usize) * w + ix as usize) * c + ch] as f64
                                * wt[(ky * k + kx) * c + ch] as f64;
                        }
                    }
                }
                out[(oy * ow + ox) * c + ch] = (acc as f32).clamp(0.0, 6.0);
            }
        }
    }
    (oh, ow, out)
}

#[test]
fn depthwise_matches_definition() {
    let mut rng = Rng(99);
    let pool = pool2();
    for isa in isas() {
        for &(h, w, c) in &[
            (1, 1, 8),
            (2, 3, 1),
            (7, 9, 5),
            (8, 8, 16),
            (13, 11, 40),
            (5, 6, 33),
            (14, 14, 96),
            (9, 7, 144),
            (17, 15, 200),
            // Wide rows: groups of four pixels fully inside at stride 2 and kernel 5.
            (9, 40, 24),
            (5, 37, 48),
            (6, 29, 16),
            (4, 64, 7),
        ] {
            for k in [3, 5] {
                for stride in [1, 2] {
                    let input = rng.vec(h * w * c, 6.0);
                    let wt = rng.vec(k * k * c, 1.5);
                    let bias = rng.vec(c, 2.0);
                    let (oh, ow, want) =
                        depthwise_definition(&input, h, w, c, &wt, &bias, k, stride);
                    let mut simple = Vec::new();
                    let dims =
                        cpu::depthwise(&input, 1, h, w, c, &wt, &bias, k, stride, &mut simple);
                    assert_eq!(dims, (oh, ow));
                    for par in [false, true] {
                        let mut got = vec![f32::NAN; oh * ow * c + 5];
                        let dims = pool.install(|| {
                            cpu::depthwise_image(
                                isa, &input, h, w, c, &wt, &bias, k, stride, &mut got, par,
                            )
                        });
                        assert_eq!(dims, (oh, ow));
                        assert!(
                            got[oh * ow * c..].iter().all(|x| x.is_nan()),
                            "wrote past end"
                        );
                        for i in 0..oh * ow * c {
                            assert!(
                                (got[i] - want[i]).abs() <= 1e-5,
                                "{isa:?} {h}x{w}x{c} k{k} s{stride} par {par}: [{i}] {} vs {}",
                                got[i],
                                want[i]
                            );
                            assert!((simple[i] - want[i]).abs() <= 1e-5);
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn stem_im2col_gemm_matches_dense_conv() {
    let mut rng = Rng(3);
    for isa in isas() {
        for &(h, w, k, stride) in &[
            (9, 7, 3, 2),
            (16, 16, 3, 2),
            (11, 13, 3, 1),
            (10, 9, 5, 2),
            (3, 2, 5, 1),
            (31, 40, 3, 2),
        ] {
            let cin = 3;
            let n = 32;
            let input = rng.vec(h * w * cin, 2.0);
            let wt = rng.vec(k * k * cin * n, 1.0);
            let bias = rng.vec(n, 1.0);
            let (mut scratch, mut want) = (Vec::new(), Vec::new());
            let dims = cpu::dense_conv(
                &input,
                1,
                h,
                w,
                cin,
                &wt,
                &bias,
                n,
                k,
                stride,
                &mut scratch,
                &mut want,
            );
            let mut col = Vec::new();
            let (oh, ow) = cpu::im2col_image(&input, h, w, cin, k, stride, &mut col, false);
            assert_eq!(dims, (oh, ow));
            // Split over threads: the same columns.
            let mut col_par = vec![f32::NAN; 7];
            let dims_par = pool2()
                .install(|| cpu::im2col_image(&input, h, w, cin, k, stride, &mut col_par, true));
            assert_eq!(dims_par, (oh, ow));
            assert!(col_par == col, "{isa:?}: parallel im2col differs");
            let pk = PackedGemm::new(isa, &wt, &bias, k * k * cin, n);
            let mut got = vec![0f32; oh * ow * n];
            pk.run(&col, oh * ow, &mut got, None, true, false);
            for (g, e) in got.iter().zip(&want) {
                assert!((g - e).abs() < 1e-4, "{isa:?}: {g} vs {e}");
            }
        }
    }
}

#[test]
fn fused_block_equals_layer_by_layer() {
    let mut rng = Rng(11);
    let pool = pool2();
    for isa in isas() {
        for &(h, w, cin, mid, cout) in &[
            (9, 7, 8, 48, 8),
            (23, 19, 16, 96, 24),
            (40, 36, 24, 144, 24),
            (30, 61, 5, 30, 5),
        ] {
            for k in [3, 5] {
                for stride in [1, 2] {
                    let input = rng.vec(h * w * cin, 3.0);
                    let ew = rng.vec(cin * mid, 1.0);
                    let eb = rng.vec(mid, 1.0);
                    let dw = rng.vec(k * k * mid, 1.0);
                    let db = rng.vec(mid, 1.0);
                    let pw = rng.vec(mid * cout, 0.5);
                    let pb = rng.vec(cout, 0.5);
                    let expand = PackedGemm::new(isa, &ew, &eb, cin, mid);
                    let project = PackedGemm::new(isa, &pw, &pb, mid, cout);
                    let residual = stride == 1 && cin == cout;
                    // Layer by layer.
                    let mut e = vec![0f32; h * w * mid];
                    expand.run(&input, h * w, &mut e, None, true, false);
                    let (oh, _) = cpu::same_padding(h, k, stride);
                    let (ow, _) = cpu::same_padding(w, k, stride);
                    let mut d = vec![0f32; oh * ow * mid];
                    cpu::depthwise_image(isa, &e, h, w, mid, &dw, &db, k, stride, &mut d, false);
                    let mut want = vec![0f32; oh * ow * cout];
                    let res = residual.then_some(&input[..]);
                    project.run(&d, oh * ow, &mut want, res, false, false);
                    let mb = cpu::MbConv {
                        expand: &expand,
                        dw_w: &dw,
                        dw_b: &db,
                        kernel: k,
                        stride,
                        project: &project,
                    };
                    for par in [false, true] {
                        let mut got = vec![f32::NAN; oh * ow * cout + 2];
                        let dims = pool.install(|| {
                            cpu::mbconv_fused(isa, &mb, &input, h, w, &mut got, residual, par)
                        });
                        assert_eq!(dims, (oh, ow));
                        assert!(got[oh * ow * cout..].iter().all(|x| x.is_nan()));
                        assert_eq!(
                            &got[..oh * ow * cout],
                            &want[..],
                            "{isa:?} {h}x{w} {cin}->{mid}->{cout} k{k} s{stride} par {par}"
                        );
                    }
                }
            }
        }
    }
}
