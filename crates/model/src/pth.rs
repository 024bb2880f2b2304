//! Reader for the legacy (non-zip) `torch.save` format, converting to safetensors.
//!
//! Candle reads only the zip-based format that PyTorch writes since 1.6. The
//! EfficientNet-Lite weights we can obtain are older: a sequence of pickles followed by
//! raw storages. Layout of such a file:
//!   1. pickle: magic number 0x1950a86a20f9469cfc6c
//!   2. pickle: protocol version (1001)
//!   3. pickle: system info dict (endianness, type sizes)
//!   4. pickle: the object itself (a state dict); tensors refer to storages through
//!      persistent ids ('storage', StorageType, key, location, numel, view_metadata)
//!   5. pickle: the list of storage keys, in the order their data follows
//!   6. per key: u64 little-endian element count, then the raw little-endian elements
//!
//! The pickle opcodes are interpreted by candle's own pickle machine.

use anyhow::{Context, Result, bail};
use candle_core::pickle::{Object, Stack};
use candle_core::{DType, Device, Tensor};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

const MAGIC: [u8; 10] = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];

fn read_pickle<R: BufRead>(r: &mut R) -> Result<Object> {
    let mut stack = Stack::empty();
    stack.read_loop(r)?;
    Ok(stack.finalize()?)
}

/// Reads every tensor of a legacy `.pth` state dict, as f32 tensors on the CPU
/// (in file order).
pub fn read_legacy_pth(path: &Path) -> Result<Vec<(String, Tensor)>> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut r = BufReader::new(file);

    // 1. The magic number, checked byte for byte: PROTO 2, LONG1 of 10 bytes, STOP.
    let mut head = [0u8; 15];
    r.read_exact(&mut head)
        .context("file too short to be a PyTorch checkpoint")?;
    if head[0] != 0x80
        || head[2] != 0x8a
        || head[3] != 10
        || head[4..14] != MAGIC
        || head[14] != b'.'
    {
        if head.starts_with(b"PK") {
            bail!(
                "{} is a zip-format PyTorch file; this importer reads the legacy format",
                path.display()
            );
        }
        bail!(
            "{} is not a legacy PyTorch checkpoint (bad magic number)",
            path.display()
        );
    }
    // 2. protocol version, 3. system info.
    let proto = read_pickle(&mut r)?;
    if !matches!(proto, Object::Int(1001)) {
        bail!("unsupported legacy protocol version {proto:?}");
    }
    let sys_info = read_pickle(&mut r)?;
    if let Object::Dict(entries) = &sys_info {
        for (k, v) in entries {
            if *k == Object::Unicode("little_endian".into()) && *v == Object::Bool(false) {
                bail!("big-endian checkpoints are not supported");
            }
        }
    }
    // 4. The state dict.
    let obj = read_pickle(&mut r)?;
    let Object::Dict(entries) = obj else {
        bail!("the checkpoint does not hold a state dict");
    };
    let mut infos = Vec::with_capacity(entries.len());
    for (name, value) in entries {
        let Object::Unicode(name_str) = &name else {
            continue;
        };
        let name_str = name_str.clone();
        // `into_tensor_info` understands `_rebuild_tensor_v2` and gives the storage key
        // (as "<dir>/<key>"), dtype and strided layout.
        if let Some(info) = value.into_tensor_info(name, Path::new(""))? {
            let key = info.path.trim_start_matches('/').to_string();
            infos.push((name_str, key, info));
        }
    }
    // 5. Storage keys in data order.
    let keys = match read_pickle(&mut r)? {
        Object::List(v) | Object::Tuple(v) => v
            .into_iter()
            .map(|o| match o {
                Object::Unicode(s) => Ok(s),
                other => bail!("unexpected storage key {other:?}"),
            })
            .collect::<Result<Vec<_>>>()?,
        other => bail!("unexpected storage key list {other:?}"),
    };
    let dtype_of: HashMap<&str, DType> = infos
        .iter()
        .map(|(_, k, i)| (k.as_str(), i.dtype))
        .collect();
    // 6. Storages.
    let mut storages: HashMap<String, Vec<u8>> = HashMap::new();
    for key in &keys {
        let mut n = [0u8; 8];
        r.read_exact(&mut n)
            .with_context(|| format!("truncated before storage {key}"))?;
        let numel = u64::from_le_bytes(n) as usize;
        let dtype = *dtype_of.get(key.as_str()).unwrap_or(&DType::F32);
        let mut data = vec![0u8; numel * dtype.size_in_bytes()];
        r.read_exact(&mut data)
            .with_context(|| format!("truncated in storage {key}"))?;
        storages.insert(key.clone(), data);
    }
    let mut out = Vec::with_capacity(infos.len());
    for (name, key, info) in infos {
        let data = storages
            .get(&key)
            .with_context(|| format!("tensor {name} refers to missing storage {key}"))?;
        let elem = info.dtype.size_in_bytes();
        let shape = info.layout.shape().dims().to_vec();
        let strides = info.layout.stride().to_vec();
        let offset = info.layout.start_offset() / elem;
        let numel: usize = shape.iter().product();
        // Gather through the strides: storages may be shared or non-contiguous views.
        let mut values = Vec::with_capacity(numel);
        let mut idx = vec![0usize; shape.len()];
        for _ in 0..numel {
            let pos = offset + idx.iter().zip(&strides).map(|(i, s)| i * s).sum::<usize>();
            let b = data
                .get(pos * elem..(pos + 1) * elem)
                .with_context(|| format!("tensor {name} reads past its storage"))?;
            values.push(match info.dtype {
                DType::F32 => f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
                DType::F64 => f64::from_le_bytes(b.try_into().unwrap()) as f32,
                DType::F16 => half::f16::from_le_bytes([b[0], b[1]]).to_f32(),
                DType::BF16 => half::bf16::from_le_bytes([b[0], b[1]]).to_f32(),
                DType::I64 => i64::from_le_bytes(b.try_into().unwrap()) as f32,
                DType::U8 => b[0] as f32,
                other => bail!("unsupported dtype {other:?} in {name}"),
            });
            for d in (0..shape.len()).rev() {
                idx[d] += 1;
                if idx[d] < shape[d] {
                    break;
                }
                idx[d] = 0;
            }
        }
        out.push((name, Tensor::from_vec(values, shape, &Device::Cpu)?));
    }
    Ok(out)
}

/// SHA-256 of a file, hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    use sha2::{Digest, Sha256};
    let mut f =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Converts a legacy `.pth` to safetensors, dropping bookkeeping entries
/// (`num_batches_tracked`) that inference does not use.
pub fn convert_to_safetensors(pth: &Path, out: &Path) -> Result<usize> {
    let tensors = read_legacy_pth(pth)?;
    let kept: Vec<(String, Tensor)> = tensors
        .into_iter()
        .filter(|(n, _)| !n.ends_with("num_batches_tracked"))
        .collect();
    let n = kept.len();
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let map: HashMap<String, Tensor> = kept.into_iter().collect();
    // Write to a temporary name first so that an interrupted import leaves no half file.
    let tmp = out.with_extension("safetensors.partial");
    candle_core::safetensors::save(&map, &tmp)?;
    std::fs::rename(&tmp, out)?;
    Ok(n)
}
