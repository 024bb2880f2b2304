//! EfficientNet-Lite (Tan & Le, 2019; the "Lite" variants for mobile/CPU inference:
//! no squeeze-and-excitation, ReLU6 instead of swish, stem and head kept fixed when
//! scaling) ported to Candle.
//!
//! Weights use the EfficientNet-PyTorch naming (`_conv_stem`, `_blocks.N._expand_conv`,
//! `_bn0`, ...). Batch-norm (eps 1e-3) is folded into the convolutions at load time,
//! which is exact up to float rounding. Convolutions use TensorFlow "SAME" padding:
//! on stride 2 the extra pixel goes to the bottom/right.
//!
//! Two forward paths share the folded weights:
//! * `forward_candle`: plain Candle ops in NCHW, runs on any Candle device (CUDA,
//!   Metal, CPU); the reference for the CPU kernels.
//! * `forward_cpu`: the fast NHWC SIMD kernels of `cpu.rs`, used on the CPU, for the
//!   instruction set chosen at load (`cpu::default_isa`, or `from_tensors_with_isa`).

use super::cpu;
use anyhow::{Context, Result, bail};
use candle_core::{D, DType, Device, Tensor};
use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;

/// Stage layout of EfficientNet-B0/Lite0 before scaling:
/// (kernel, stride, expand ratio, input channels, output channels, repeats).
const BASE_STAGES: [(usize, usize, usize, usize, usize, usize); 7] = [
    (3, 1, 1, 32, 16, 1),
    (3, 2, 6, 16, 24, 2),
    (5, 2, 6, 24, 40, 2),
    (3, 2, 6, 40, 80, 3),
    (5, 1, 6, 80, 112, 3),
    (5, 2, 6, 112, 192, 4),
    (3, 1, 6, 192, 320, 1),
];

const BN_EPS: f64 = 1e-3;
pub const STEM_CHANNELS: usize = 32;
pub const HEAD_CHANNELS: usize = 1280;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BlockSpec {
    pub kernel: usize,
    pub stride: usize,
    pub expand: usize,
    pub in_ch: usize,
    pub out_ch: usize,
}

/// (width multiplier, depth multiplier, input resolution) of each Lite variant.
pub fn variant_params(variant: &str) -> Result<(f64, f64, usize)> {
    Ok(match variant {
        "lite0" => (1.0, 1.0, 224),
        "lite1" => (1.0, 1.1, 240),
        "lite2" => (1.1, 1.2, 260),
        "lite3" => (1.2, 1.4, 280),
        "lite4" => (1.4, 1.8, 300),
        other => bail!("unknown EfficientNet-Lite variant {other:?}"),
    })
}

fn round_filters(filters: usize, width: f64) -> usize {
    let f = filters as f64 * width;
    let mut new = ((f + 4.0) as usize / 8 * 8).max(8);
    if (new as f64) < 0.9 * f {
        new += 8;
    }
    new
}

/// The block sequence of a variant. Lite keeps the first and last stage's repeats
/// and the stem width fixed.
pub fn block_specs(variant: &str) -> Result<Vec<BlockSpec>> {
    let (width, depth, _) = variant_params(variant)?;
    let last = BASE_STAGES.len() - 1;
    let mut blocks = Vec::new();
    for (i, &(kernel, stride, expand, cin, cout, repeats)) in BASE_STAGES.iter().enumerate() {
        let in_ch = if i == 0 {
            STEM_CHANNELS
        } else {
            round_filters(cin, width)
        };
        let out_ch = round_filters(cout, width);
        let repeats = if i == 0 || i == last {
            repeats
        } else {
            (depth * repeats as f64).ceil() as usize
        };
        for r in 0..repeats {
            blocks.push(BlockSpec {
                kernel,
                stride: if r == 0 { stride } else { 1 },
                expand,
                in_ch: if r == 0 { in_ch } else { out_ch },
                out_ch,
            });
        }
    }
    Ok(blocks)
}

/// A convolution with batch-norm folded in. `w` is in PyTorch layout
/// `[out, in/groups, k, k]`; the CPU path keeps its own re-laid-out copy.
struct FoldedConv {
    w: Tensor,
    b: Tensor,
    stride: usize,
    kernel: usize,
    groups: usize,
    /// Weights for the CPU kernels: `[k*k*in][out]` for dense/1×1, `[k][k][c]` for depthwise.
    cpu_w: Vec<f32>,
    cpu_b: Vec<f32>,
    /// `cpu_w`/`cpu_b` packed for the GEMM micro-kernel (dense and 1×1 convolutions).
    packed: Option<cpu::PackedGemm>,
    out_ch: usize,
    in_ch: usize,
}

impl FoldedConv {
    fn packed(&self) -> &cpu::PackedGemm {
        self.packed
            .as_ref()
            .expect("dense convolution has packed weights")
    }
}

struct Block {
    spec: BlockSpec,
    expand: Option<FoldedConv>,
    depthwise: FoldedConv,
    project: FoldedConv,
}

pub struct EfficientNetLite {
    pub variant: String,
    pub resolution: usize,
    stem: FoldedConv,
    blocks: Vec<Block>,
    head: FoldedConv,
    fc_w: Tensor,
    fc_b: Tensor,
    /// `[1280][classes]` packed, for the CPU path.
    fc_packed: cpu::PackedGemm,
    pub num_classes: usize,
    device: Device,
    isa: cpu::Isa,
    /// Whether the CPU path fuses the layers of blocks with large expanded
    /// activations (yes, unless [`EfficientNetLite::set_fused_blocks`] said no, for
    /// comparisons).
    fuse: bool,
}

/// Per-thread activation buffers of the CPU path, kept between calls.
#[derive(Default)]
struct Workspace {
    a: Vec<f32>,
    b: Vec<f32>,
    d: Vec<f32>,
    spare: Vec<f32>,
    col: Vec<f32>,
}

thread_local! {
    static WORKSPACE: RefCell<Workspace> = RefCell::default();
}

/// Blocks whose expanded activations have at least this many values (1 MB) run
/// fused in bands of rows (`cpu::mbconv_fused`); smaller ones already fit in L2.
const FUSE_MIN_FLOATS: usize = 256 * 1024;

fn grow(v: &mut Vec<f32>, n: usize) -> &mut [f32] {
    if v.len() < n {
        v.resize(n, 0.0);
    }
    &mut v[..n]
}

/// Output of a forward pass: pooled features and class logits, row per image.
pub struct Output {
    pub features: Vec<Vec<f32>>,
    pub logits: Vec<Vec<f32>>,
}

fn take(ts: &mut HashMap<String, Tensor>, name: &str) -> Result<Tensor> {
    ts.remove(name)
        .with_context(|| format!("weights file lacks tensor {name}"))
}

fn fold(
    ts: &mut HashMap<String, Tensor>,
    conv: &str,
    bn: &str,
    stride: usize,
    groups: usize,
    device: &Device,
    isa: cpu::Isa,
) -> Result<FoldedConv> {
    let w = take(ts, &format!("{conv}.weight"))?.to_dtype(DType::F32)?;
    let gamma = take(ts, &format!("{bn}.weight"))?.to_dtype(DType::F32)?;
    let beta = take(ts, &format!("{bn}.bias"))?.to_dtype(DType::F32)?;
    let mean = take(ts, &format!("{bn}.running_mean"))?.to_dtype(DType::F32)?;
    let var = take(ts, &format!("{bn}.running_var"))?.to_dtype(DType::F32)?;
    let (out_ch, in_per_group, kh, kw) = w.dims4()?;
    if kh != kw {
        bail!("{conv}: non-square kernel {kh}x{kw}");
    }
    // Fold in f64 so that folding adds no rounding of its own beyond the final cast.
    let wv: Vec<f32> = w.flatten_all()?.to_vec1()?;
    let g: Vec<f32> = gamma.to_vec1()?;
    let bt: Vec<f32> = beta.to_vec1()?;
    let mu: Vec<f32> = mean.to_vec1()?;
    let va: Vec<f32> = var.to_vec1()?;
    let per_out = in_per_group * kh * kw;
    let mut wf = vec![0f32; wv.len()];
    let mut bf = vec![0f32; out_ch];
    for o in 0..out_ch {
        let scale = g[o] as f64 / (va[o] as f64 + BN_EPS).sqrt();
        for j in 0..per_out {
            wf[o * per_out + j] = (wv[o * per_out + j] as f64 * scale) as f32;
        }
        bf[o] = (bt[o] as f64 - mu[o] as f64 * scale) as f32;
    }
    let in_ch = in_per_group * groups;
    let cpu_w = if groups == 1 {
        // [out][in][ky][kx] → [ky][kx][in][out]
        let mut t = vec![0f32; wf.len()];
        for o in 0..out_ch {
            for i in 0..in_per_group {
                for ky in 0..kh {
                    for kx in 0..kw {
                        t[((ky * kw + kx) * in_per_group + i) * out_ch + o] =
                            wf[((o * in_per_group + i) * kh + ky) * kw + kx];
                    }
                }
            }
        }
        t
    } else {
        // Depthwise [c][1][ky][kx] → [ky][kx][c]
        let mut t = vec![0f32; wf.len()];
        for c in 0..out_ch {
            for ky in 0..kh {
                for kx in 0..kw {
                    t[(ky * kw + kx) * out_ch + c] = wf[(c * kh + ky) * kw + kx];
                }
            }
        }
        t
    };
    let packed = (groups == 1)
        .then(|| cpu::PackedGemm::new(isa, &cpu_w, &bf, kh * kw * in_per_group, out_ch));
    Ok(FoldedConv {
        w: Tensor::from_vec(wf, (out_ch, in_per_group, kh, kw), device)?,
        b: Tensor::from_vec(bf.clone(), out_ch, device)?,
        stride,
        kernel: kh,
        groups,
        cpu_w,
        cpu_b: bf,
        packed,
        out_ch,
        in_ch,
    })
}

impl EfficientNetLite {
    pub fn load(weights: &Path, variant: &str, device: &Device) -> Result<Self> {
        let ts = candle_core::safetensors::load(weights, &Device::Cpu)
            .with_context(|| format!("cannot read weights {}", weights.display()))?;
        Self::from_tensors(ts, variant, device)
    }

    pub fn from_tensors(
        ts: HashMap<String, Tensor>,
        variant: &str,
        device: &Device,
    ) -> Result<Self> {
        Self::from_tensors_with_isa(ts, variant, device, cpu::default_isa())
    }

    /// Like `from_tensors`, with the CPU kernels of a given instruction set (which
    /// must be supported by this CPU: see `cpu::Isa::supported`).
    pub fn from_tensors_with_isa(
        mut ts: HashMap<String, Tensor>,
        variant: &str,
        device: &Device,
        isa: cpu::Isa,
    ) -> Result<Self> {
        if !isa.is_supported() {
            bail!("this CPU cannot run the {} kernels", isa.name());
        }
        let (_, _, resolution) = variant_params(variant)?;
        let specs = block_specs(variant)?;
        let stem = fold(&mut ts, "_conv_stem", "_bn0", 2, 1, device, isa)?;
        let mut blocks = Vec::with_capacity(specs.len());
        for (i, spec) in specs.iter().enumerate() {
            let p = format!("_blocks.{i}");
            let mid = spec.in_ch * spec.expand;
            let expand = if spec.expand != 1 {
                Some(fold(
                    &mut ts,
                    &format!("{p}._expand_conv"),
                    &format!("{p}._bn0"),
                    1,
                    1,
                    device,
                    isa,
                )?)
            } else {
                None
            };
            let depthwise = fold(
                &mut ts,
                &format!("{p}._depthwise_conv"),
                &format!("{p}._bn1"),
                spec.stride,
                mid,
                device,
                isa,
            )?;
            let project = fold(
                &mut ts,
                &format!("{p}._project_conv"),
                &format!("{p}._bn2"),
                1,
                1,
                device,
                isa,
            )?;
            if depthwise.kernel != spec.kernel
                || project.out_ch != spec.out_ch
                || depthwise.out_ch != mid
            {
                bail!(
                    "block {i}: weights do not match EfficientNet-{variant} (kernel {} channels {}→{})",
                    depthwise.kernel,
                    mid,
                    project.out_ch
                );
            }
            blocks.push(Block {
                spec: *spec,
                expand,
                depthwise,
                project,
            });
        }
        if ts
            .keys()
            .any(|k| k.starts_with(&format!("_blocks.{}.", specs.len())))
        {
            bail!("the weights have more blocks than EfficientNet-{variant}");
        }
        let head = fold(&mut ts, "_conv_head", "_bn1", 1, 1, device, isa)?;
        let fc_w = take(&mut ts, "_fc.weight")?.to_dtype(DType::F32)?;
        let fc_b = take(&mut ts, "_fc.bias")?.to_dtype(DType::F32)?;
        let (num_classes, feat) = fc_w.dims2()?;
        if feat != HEAD_CHANNELS {
            bail!("classifier expects {feat} features, not {HEAD_CHANNELS}");
        }
        let fc_w_t: Vec<f32> = fc_w.t()?.contiguous()?.flatten_all()?.to_vec1()?;
        let fc_b_vec: Vec<f32> = fc_b.to_vec1()?;
        let fc_packed = cpu::PackedGemm::new(isa, &fc_w_t, &fc_b_vec, feat, num_classes);
        Ok(EfficientNetLite {
            variant: variant.to_string(),
            resolution,
            stem,
            blocks,
            head,
            fc_w: fc_w.to_device(device)?,
            fc_b: fc_b.to_device(device)?,
            fc_packed,
            num_classes,
            device: device.clone(),
            isa,
            fuse: true,
        })
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Instruction set of the CPU kernels of this model ("avx512", "avx2", "scalar").
    pub fn cpu_isa(&self) -> &'static str {
        self.isa.name()
    }

    /// Whether the CPU path runs blocks with large expanded activations fused in
    /// bands of rows (the default) or layer by layer (for comparisons: the results
    /// are the same to rounding).
    pub fn set_fused_blocks(&mut self, fuse: bool) {
        self.fuse = fuse;
    }

    /// Runs the network on a batch of preprocessed images (NHWC, `resolution`² × 3
    /// floats each) with the path that suits the device.
    /// `images` are 224×224×3 (HWC) network inputs: `Vec<f32>`s or borrowed slices.
    pub fn forward<T: AsRef<[f32]> + Sync>(&self, images: &[T]) -> Result<Output> {
        if self.device.is_cpu() {
            self.forward_cpu(images)
        } else {
            self.forward_candle(images)
        }
    }

    /// Plain Candle implementation (NCHW); works on every device.
    pub fn forward_candle<T: AsRef<[f32]>>(&self, images: &[T]) -> Result<Output> {
        let n = images.len();
        if n == 0 {
            return Ok(Output {
                features: vec![],
                logits: vec![],
            });
        }
        let r = self.resolution;
        let flat: Vec<f32> = images
            .iter()
            .flat_map(|v| v.as_ref().iter().copied())
            .collect();
        let x = Tensor::from_vec(flat, (n, r, r, 3), &self.device)?
            .permute((0, 3, 1, 2))?
            .contiguous()?;
        let mut x = conv_candle(&x, &self.stem, true)?;
        for b in &self.blocks {
            let input = x.clone();
            if let Some(e) = &b.expand {
                x = conv_candle(&x, e, true)?;
            }
            x = conv_candle(&x, &b.depthwise, true)?;
            x = conv_candle(&x, &b.project, false)?;
            if b.spec.stride == 1 && b.spec.in_ch == b.spec.out_ch {
                x = (x + input)?;
            }
        }
        let x = conv_candle(&x, &self.head, true)?;
        let features = x.mean(D::Minus1)?.mean(D::Minus1)?; // [n, 1280]
        let logits = features
            .matmul(&self.fc_w.t()?)?
            .broadcast_add(&self.fc_b)?;
        Ok(Output {
            features: features.to_device(&Device::Cpu)?.to_vec2()?,
            logits: logits.to_device(&Device::Cpu)?.to_vec2()?,
        })
    }

    /// Fast CPU implementation (NHWC SIMD kernels), on the CPU inference thread pool
    /// (`cpu::set_cpu_threads`). Whole rounds of one image per thread run
    /// independently; the remaining images run one at a time with each layer split
    /// over the threads. Either way an image's result does not depend on its batch.
    pub fn forward_cpu<T: AsRef<[f32]> + Sync>(&self, images: &[T]) -> Result<Output> {
        let n = images.len();
        if n == 0 {
            return Ok(Output {
                features: vec![],
                logits: vec![],
            });
        }
        let r = self.resolution;
        for img in images {
            let img = img.as_ref();
            if img.len() != r * r * 3 {
                bail!("image has {} values, expected {}", img.len(), r * r * 3);
            }
        }
        let fd = self.head.out_ch;
        let mut feats = vec![0f32; n * fd];
        let mut logits = vec![0f32; n * self.num_classes];
        cpu::pool().install(|| {
            use rayon::prelude::*;
            let threads = rayon::current_num_threads();
            let rounds = if threads > 1 {
                n / threads * threads
            } else {
                0
            };
            feats[..rounds * fd]
                .par_chunks_mut(fd)
                .with_max_len(1)
                .enumerate()
                .for_each(|(i, f)| self.forward_image(images[i].as_ref(), f, false));
            for (i, f) in feats.chunks_exact_mut(fd).enumerate().skip(rounds) {
                self.forward_image(images[i].as_ref(), f, true);
            }
            self.fc_packed
                .run(&feats, n, &mut logits, None, false, true);
        });
        Ok(Output {
            features: feats.chunks_exact(fd).map(|v| v.to_vec()).collect(),
            logits: logits
                .chunks_exact(self.num_classes)
                .map(|v| v.to_vec())
                .collect(),
        })
    }

    /// One image through stem, blocks, head and pooling into `feat` (1280 values).
    fn forward_image(&self, img: &[f32], feat: &mut [f32], par: bool) {
        WORKSPACE.with(|cell| match cell.try_borrow_mut() {
            Ok(mut ws) => self.forward_image_in(img, feat, par, &mut ws),
            // Re-entered on this thread (a nested call while waiting for a split
            // layer): use fresh buffers.
            Err(_) => self.forward_image_in(img, feat, par, &mut Workspace::default()),
        })
    }

    fn forward_image_in(&self, img: &[f32], feat: &mut [f32], par: bool, ws: &mut Workspace) {
        let Workspace {
            a,
            b,
            d,
            spare,
            col,
        } = ws;
        let r = self.resolution;
        let s = &self.stem;
        let (mut h, mut w) = cpu::im2col_image(img, r, r, 3, s.kernel, s.stride, col, par);
        let mut c = s.out_ch;
        s.packed()
            .run(col, h * w, grow(a, h * w * c), None, true, par);
        for blk in &self.blocks {
            let dw = &blk.depthwise;
            let mid = dw.out_ch;
            let residual = blk.spec.stride == 1 && blk.spec.in_ch == blk.spec.out_ch;
            if let Some(e) = &blk.expand
                && h * w * mid >= FUSE_MIN_FLOATS
                && self.fuse
            {
                // Large expanded activations: the whole block in bands of rows.
                let p = &blk.project;
                let mb = cpu::MbConv {
                    expand: e.packed(),
                    dw_w: &dw.cpu_w,
                    dw_b: &dw.cpu_b,
                    kernel: dw.kernel,
                    stride: dw.stride,
                    project: p.packed(),
                };
                let (oh, _) = cpu::same_padding(h, dw.kernel, dw.stride);
                let (ow, _) = cpu::same_padding(w, dw.kernel, dw.stride);
                let dst = grow(spare, oh * ow * p.out_ch);
                cpu::mbconv_fused(self.isa, &mb, &a[..h * w * c], h, w, dst, residual, par);
                std::mem::swap(a, spare);
                h = oh;
                w = ow;
                c = p.out_ch;
                continue;
            }
            let src: &[f32] = match &blk.expand {
                Some(e) => {
                    e.packed()
                        .run(a, h * w, grow(b, h * w * mid), None, true, par);
                    b
                }
                None => a,
            };
            let (oh, _) = cpu::same_padding(h, dw.kernel, dw.stride);
            let (ow, _) = cpu::same_padding(w, dw.kernel, dw.stride);
            cpu::depthwise_image(
                self.isa,
                &src[..h * w * mid],
                h,
                w,
                mid,
                &dw.cpu_w,
                &dw.cpu_b,
                dw.kernel,
                dw.stride,
                grow(d, oh * ow * mid),
                par,
            );
            let p = &blk.project;
            let residual = residual.then_some(&a[..h * w * c]);
            p.packed().run(
                d,
                oh * ow,
                grow(spare, oh * ow * p.out_ch),
                residual,
                false,
                par,
            );
            std::mem::swap(a, spare);
            h = oh;
            w = ow;
            c = p.out_ch;
        }
        let hd = &self.head;
        debug_assert_eq!(hd.in_ch, c);
        let fd = hd.out_ch;
        let out = grow(b, h * w * fd);
        hd.packed().run(a, h * w, out, None, true, par);
        feat.fill(0.0);
        for px in out.chunks_exact(fd) {
            for (f, v) in feat.iter_mut().zip(px) {
                *f += v;
            }
        }
        let inv = 1.0 / (h * w) as f32;
        feat.iter_mut().for_each(|f| *f *= inv);
    }
}

fn conv_candle(x: &Tensor, c: &FoldedConv, relu6: bool) -> Result<Tensor> {
    let (_, _, h, w) = x.dims4()?;
    let (_, pt) = cpu::same_padding(h, c.kernel, c.stride);
    let (oh, _) = cpu::same_padding(h, c.kernel, c.stride);
    let (_, pl) = cpu::same_padding(w, c.kernel, c.stride);
    let (ow, _) = cpu::same_padding(w, c.kernel, c.stride);
    let total_h = ((oh - 1) * c.stride + c.kernel).saturating_sub(h);
    let total_w = ((ow - 1) * c.stride + c.kernel).saturating_sub(w);
    let x = if total_h > 0 || total_w > 0 {
        x.pad_with_zeros(2, pt, total_h - pt)?
            .pad_with_zeros(3, pl, total_w - pl)?
    } else {
        x.clone()
    };
    let y = x.conv2d(&c.w, 0, c.stride, 1, c.groups)?;
    let y = y.broadcast_add(&c.b.reshape((1, c.out_ch, 1, 1))?)?;
    Ok(if relu6 { y.clamp(0f32, 6f32)? } else { y })
}

/// Softmax of one row of logits.
pub fn softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f32> = logits.iter().map(|l| (l - max).exp()).collect();
    let sum: f32 = exps.iter().sum();
    exps.into_iter().map(|e| e / sum).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lite0_and_lite2_block_layouts() {
        let b0 = block_specs("lite0").unwrap();
        assert_eq!(b0.len(), 16);
        assert_eq!(b0[15].out_ch, 320);
        let b2 = block_specs("lite2").unwrap();
        assert_eq!(b2.len(), 21);
        assert_eq!(b2[0].in_ch, 32);
        assert_eq!(b2[20].out_ch, 352);
        assert_eq!(b2.iter().filter(|b| b.stride == 2).count(), 4);
    }

    /// A small random network run through both paths must agree: this checks every
    /// CPU kernel (stem, expand, depthwise 3×3/5×5 at strides 1 and 2, residuals,
    /// head, pooling, classifier) against plain Candle.
    #[test]
    fn cpu_kernels_match_plain_candle() {
        let specs = block_specs("lite0").unwrap();
        let mut ts = HashMap::new();
        let dev = Device::Cpu;
        let mut seed = 12345u64;
        let mut rnd = |shape: &[usize], scale: f32, offset: f32| {
            let n: usize = shape.iter().product();
            let v: Vec<f32> = (0..n)
                .map(|_| {
                    seed = seed
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    ((seed >> 33) as f32 / (1u64 << 31) as f32 - 0.5) * scale + offset
                })
                .collect();
            Tensor::from_vec(v, shape, &dev).unwrap()
        };
        let bn = |ts: &mut HashMap<String, Tensor>,
                  name: &str,
                  c: usize,
                  rnd: &mut dyn FnMut(&[usize], f32, f32) -> Tensor| {
            ts.insert(format!("{name}.weight"), rnd(&[c], 0.4, 1.0));
            ts.insert(format!("{name}.bias"), rnd(&[c], 0.2, 0.1));
            ts.insert(format!("{name}.running_mean"), rnd(&[c], 0.2, 0.0));
            ts.insert(format!("{name}.running_var"), rnd(&[c], 0.5, 1.0));
        };
        ts.insert("_conv_stem.weight".into(), rnd(&[32, 3, 3, 3], 0.5, 0.0));
        bn(&mut ts, "_bn0", 32, &mut rnd);
        for (i, s) in specs.iter().enumerate() {
            let mid = s.in_ch * s.expand;
            if s.expand != 1 {
                ts.insert(
                    format!("_blocks.{i}._expand_conv.weight"),
                    rnd(&[mid, s.in_ch, 1, 1], 0.5, 0.0),
                );
                bn(&mut ts, &format!("_blocks.{i}._bn0"), mid, &mut rnd);
            }
            ts.insert(
                format!("_blocks.{i}._depthwise_conv.weight"),
                rnd(&[mid, 1, s.kernel, s.kernel], 0.6, 0.0),
            );
            bn(&mut ts, &format!("_blocks.{i}._bn1"), mid, &mut rnd);
            ts.insert(
                format!("_blocks.{i}._project_conv.weight"),
                rnd(&[s.out_ch, mid, 1, 1], 0.3, 0.0),
            );
            bn(&mut ts, &format!("_blocks.{i}._bn2"), s.out_ch, &mut rnd);
        }
        ts.insert(
            "_conv_head.weight".into(),
            rnd(&[1280, 320, 1, 1], 0.3, 0.0),
        );
        bn(&mut ts, "_bn1", 1280, &mut rnd);
        ts.insert("_fc.weight".into(), rnd(&[10, 1280], 0.1, 0.0));
        ts.insert("_fc.bias".into(), rnd(&[10], 0.1, 0.0));
        let img: Vec<f32> = rnd(&[224 * 224 * 3], 2.0, 0.0).to_vec1().unwrap();
        let img2: Vec<f32> = img.iter().rev().copied().collect();
        let images = [img.clone(), img2, img];
        let reference = EfficientNetLite::from_tensors(ts.clone(), "lite0", &dev).unwrap();
        let a = reference.forward_candle(&images).unwrap();
        // Every instruction set this CPU has; batch 3 on two threads runs two images
        // one per thread and the third with its layers split over the threads.
        cpu::set_cpu_threads(2);
        for isa in cpu::Isa::supported() {
            let net =
                EfficientNetLite::from_tensors_with_isa(ts.clone(), "lite0", &dev, isa).unwrap();
            assert_eq!(net.cpu_isa(), isa.name());
            for n in [1, 3] {
                let b = net.forward_cpu(&images[..n]).unwrap();
                let mut max_diff = 0f32;
                let mut max_val = 0f32;
                for (x, y) in a.features.iter().flatten().zip(b.features.iter().flatten()) {
                    max_diff = max_diff.max((x - y).abs());
                    max_val = max_val.max(x.abs());
                }
                for (x, y) in a.logits.iter().flatten().zip(b.logits.iter().flatten()) {
                    max_diff = max_diff.max((x - y).abs());
                }
                assert!(max_val > 0.01, "degenerate test network");
                assert!(
                    max_diff < 1e-3,
                    "{isa:?} batch {n}: CPU kernels differ from Candle by {max_diff}"
                );
                // The first image must not depend on the batch it is in.
                assert_eq!(
                    b.features[0],
                    net.forward_cpu(&images[..1]).unwrap().features[0]
                );
            }
        }
    }
}
