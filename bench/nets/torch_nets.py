"""Image nets shaped like widely used architectures, exported from PyTorch to ONNX.

Run in an environment with torch (2.x) and onnx::

    python bench/nets/torch_nets.py OUT_DIR

Writes one ``<name>.onnx`` per net (random weights from a fixed seed, batch
norm statistics randomised so folding them is not a no-op, TorchScript
exporter, opset 17, dynamic batch). The nets are written out here, so no
torchvision is needed:

- ``resnet18``: ResNet-18 at 3x224x224 (7x7 stem, basic blocks, residual adds);
- ``mobilenet_v2``: MobileNetV2 1.0 at 3x224x224 (inverted residuals, ReLU6,
  depthwise 3x3);
- ``mobilenet_v3``: MobileNetV3-Small at 3x224x224 (hard-swish, squeeze-and-
  excitation blocks, depthwise 5x5);
- ``ocr_rec``: a CRNN-style text-line recogniser at 3x32x320 (VGG-ish convs,
  (2, 1) pools, per-column class scores);
- ``ocr_det``: a DB-style text detector at 3x320x320 (small backbone, feature
  pyramid with nearest upsampling and concatenation, probability map);
- ``yolo_head``: a YOLOv8n-shaped detector at 3x320x320 (SiLU, C2f split and
  concat blocks, SPPF max pools, neck with upsampling, 1x1 box/class heads
  flattened and joined into one output).
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch import nn

SEED = 0


def conv_bn(cin: int, cout: int, k: int = 3, s: int = 1, groups: int = 1,
            act: type[nn.Module] | None = nn.ReLU) -> nn.Sequential:
    """Conv (no bias) + batch norm + an optional activation."""
    mods: list[nn.Module] = [nn.Conv2d(cin, cout, k, s, k // 2, groups=groups, bias=False),
                             nn.BatchNorm2d(cout)]
    if act is not None:
        mods.append(act())
    return nn.Sequential(*mods)


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(conv_bn(cin, cout, 3, stride), conv_bn(cout, cout, 3, 1, act=None))
        self.down = None if stride == 1 and cin == cout else conv_bn(cin, cout, 1, stride, act=None)

    def forward(self, x):
        return torch.relu(self.body(x) + (x if self.down is None else self.down(x)))


def resnet18() -> nn.Module:
    layers: list[nn.Module] = [conv_bn(3, 64, 7, 2), nn.MaxPool2d(3, 2, 1)]
    cin = 64
    for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        layers += [BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1)]
        cin = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, 1000)]
    return nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expand: int) -> None:
        super().__init__()
        mid = cin * expand
        mods: list[nn.Module] = [] if expand == 1 else [conv_bn(cin, mid, 1, act=nn.ReLU6)]
        mods += [conv_bn(mid, mid, 3, stride, groups=mid, act=nn.ReLU6), conv_bn(mid, cout, 1, act=None)]
        self.body = nn.Sequential(*mods)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        y = self.body(x)
        return x + y if self.residual else y


def mobilenet_v2() -> nn.Module:
    layers: list[nn.Module] = [conv_bn(3, 32, 3, 2, act=nn.ReLU6)]
    cin = 32
    for t, c, n, s in ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                       (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)):
        for i in range(n):
            layers.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
            cin = c
    layers += [conv_bn(cin, 1280, 1, act=nn.ReLU6), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
               nn.Dropout(0.2), nn.Linear(1280, 1000)]
    return nn.Sequential(*layers)


class SqueezeExcite(nn.Module):
    def __init__(self, c: int, squeeze: int) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(c, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, c, 1)

    def forward(self, x):
        s = nn.functional.adaptive_avg_pool2d(x, 1)
        return x * nn.functional.hardsigmoid(self.fc2(torch.relu(self.fc1(s))))


class V3Block(nn.Module):
    def __init__(self, cin: int, k: int, mid: int, cout: int, se: bool, act, stride: int) -> None:
        super().__init__()
        mods: list[nn.Module] = [] if mid == cin else [conv_bn(cin, mid, 1, act=act)]
        mods.append(conv_bn(mid, mid, k, stride, groups=mid, act=act))
        if se:
            mods.append(SqueezeExcite(mid, max(8, (mid // 4 + 4) // 8 * 8)))
        mods.append(conv_bn(mid, cout, 1, act=None))
        self.body = nn.Sequential(*mods)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        y = self.body(x)
        return x + y if self.residual else y


def mobilenet_v3() -> nn.Module:
    hs, re = nn.Hardswish, nn.ReLU
    spec = ((3, 16, 16, True, re, 2), (3, 72, 24, False, re, 2), (3, 88, 24, False, re, 1),
            (5, 96, 40, True, hs, 2), (5, 240, 40, True, hs, 1), (5, 240, 40, True, hs, 1),
            (5, 120, 48, True, hs, 1), (5, 144, 48, True, hs, 1), (5, 288, 96, True, hs, 2),
            (5, 576, 96, True, hs, 1), (5, 576, 96, True, hs, 1))
    layers: list[nn.Module] = [conv_bn(3, 16, 3, 2, act=hs)]
    cin = 16
    for k, mid, cout, se, act, s in spec:
        layers.append(V3Block(cin, k, mid, cout, se, act, s))
        cin = cout
    layers += [conv_bn(cin, 576, 1, act=hs), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
               nn.Linear(576, 1024), nn.Hardswish(), nn.Linear(1024, 1000)]
    return nn.Sequential(*layers)


class CRNNHead(nn.Module):
    """Per-column class scores of a (N, C, 1, W) feature row: (N, W, classes)."""

    def __init__(self, c: int, classes: int) -> None:
        super().__init__()
        self.fc = nn.Conv2d(c, classes, 1)

    def forward(self, x):
        return self.fc(x).squeeze(2).permute(0, 2, 1).softmax(-1)


def ocr_rec() -> nn.Module:
    return nn.Sequential(
        conv_bn(3, 32), nn.MaxPool2d(2), conv_bn(32, 64), nn.MaxPool2d(2),
        conv_bn(64, 128), conv_bn(128, 128), nn.MaxPool2d((2, 1)),
        conv_bn(128, 256), conv_bn(256, 256), nn.MaxPool2d((2, 1)),
        conv_bn(256, 256, 3), nn.MaxPool2d((2, 1)), CRNNHead(256, 97))


class DBNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        widths = (16, 24, 48, 96)
        self.stem = conv_bn(3, 16, 3, 2)
        stages, cin = [], 16
        for c in widths:
            stages.append(nn.Sequential(conv_bn(cin, c, 3, 2), conv_bn(c, c, 3, 1)))
            cin = c
        self.stages = nn.ModuleList(stages)
        self.lateral = nn.ModuleList(nn.Conv2d(c, 64, 1) for c in widths)
        self.smooth = nn.ModuleList(nn.Conv2d(64, 16, 3, padding=1) for _ in widths)
        self.head = nn.Sequential(conv_bn(64, 16, 3), nn.Upsample(scale_factor=4, mode="nearest"),
                                  nn.Conv2d(16, 1, 1), nn.Sigmoid())

    def forward(self, x):
        feats = []
        x = self.stem(x)
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        lat = [conv(f) for conv, f in zip(self.lateral, feats)]
        for i in range(len(lat) - 2, -1, -1):
            lat[i] = lat[i] + nn.functional.interpolate(lat[i + 1], scale_factor=2, mode="nearest")
        outs = []
        for i, (conv, f) in enumerate(zip(self.smooth, lat)):
            y = conv(f)
            if i:
                y = nn.functional.interpolate(y, scale_factor=2 ** i, mode="nearest")
            outs.append(y)
        return self.head(torch.cat(outs, 1))


def silu_conv(cin: int, cout: int, k: int = 3, s: int = 1) -> nn.Sequential:
    return conv_bn(cin, cout, k, s, act=nn.SiLU)


class C2f(nn.Module):
    def __init__(self, cin: int, cout: int, n: int, shortcut: bool) -> None:
        super().__init__()
        self.c = cout // 2
        self.cv1 = silu_conv(cin, 2 * self.c, 1)
        self.m = nn.ModuleList(nn.Sequential(silu_conv(self.c, self.c), silu_conv(self.c, self.c))
                               for _ in range(n))
        self.shortcut = shortcut
        self.cv2 = silu_conv((2 + n) * self.c, cout, 1)

    def forward(self, x):
        y = list(self.cv1(x).split((self.c, self.c), 1))
        for m in self.m:
            y.append(y[-1] + m(y[-1]) if self.shortcut else m(y[-1]))
        return self.cv2(torch.cat(y, 1))


class SPPF(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.cv1 = silu_conv(c, c // 2, 1)
        self.pool = nn.MaxPool2d(5, 1, 2)
        self.cv2 = silu_conv(c * 2, c, 1)

    def forward(self, x):
        x = self.cv1(x)
        y1 = self.pool(x)
        y2 = self.pool(y1)
        return self.cv2(torch.cat((x, y1, y2, self.pool(y2)), 1))


class Yolo(nn.Module):
    def __init__(self, classes: int = 80) -> None:
        super().__init__()
        self.b1 = nn.Sequential(silu_conv(3, 16, 3, 2), silu_conv(16, 32, 3, 2), C2f(32, 32, 1, True),
                                silu_conv(32, 64, 3, 2), C2f(64, 64, 2, True))
        self.b2 = nn.Sequential(silu_conv(64, 128, 3, 2), C2f(128, 128, 2, True))
        self.b3 = nn.Sequential(silu_conv(128, 256, 3, 2), C2f(256, 256, 1, True), SPPF(256))
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.n1 = C2f(256 + 128, 128, 1, False)
        self.n2 = C2f(128 + 64, 64, 1, False)
        self.heads = nn.ModuleList(
            nn.Sequential(silu_conv(c, 64), silu_conv(64, 64), nn.Conv2d(64, 4 * 16 + classes, 1))
            for c in (64, 128))

    def forward(self, x):
        p3 = self.b1(x)
        p4 = self.b2(p3)
        p5 = self.b3(p4)
        n4 = self.n1(torch.cat((self.up(p5), p4), 1))
        n3 = self.n2(torch.cat((self.up(n4), p3), 1))
        # One (N, boxes + classes, cells) output, as YOLOv8's export gives.
        return torch.cat([head(f).flatten(2) for head, f in zip(self.heads, (n3, n4))], 2)


#: name -> (module factory, per-sample input shape)
NETS = {
    "resnet18": (resnet18, (3, 224, 224)),
    "mobilenet_v2": (mobilenet_v2, (3, 224, 224)),
    "mobilenet_v3": (mobilenet_v3, (3, 224, 224)),
    "ocr_rec": (ocr_rec, (3, 32, 320)),
    "ocr_det": (DBNet, (3, 320, 320)),
    "yolo_head": (Yolo, (3, 320, 320)),
}


def randomise_norms(model: nn.Module, gen: torch.Generator) -> None:
    """Non-trivial batch norm statistics, so that folding them is really tested."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            m.running_mean.copy_(torch.randn(c, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(c, generator=gen) * 0.5 + 0.75)
            m.weight.data.copy_(torch.rand(c, generator=gen) * 0.5 + 0.75)
            m.bias.data.copy_(torch.randn(c, generator=gen) * 0.1)


def export(name: str, out_dir: Path) -> Path:
    factory, shape = NETS[name]
    torch.manual_seed(SEED)
    model = factory()
    randomise_norms(model, torch.Generator().manual_seed(SEED))
    model.eval()
    path = out_dir / f"{name}.onnx"
    x = torch.randn((1,) + shape)
    torch.onnx.export(model, (x,), str(path), dynamo=False, opset_version=17, input_names=["x"],
                      output_names=["y"], dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
    return path


def main() -> None:
    out_dir = Path(sys.argv[1])
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in (sys.argv[2:] or NETS):
        print(export(name, out_dir))


if __name__ == "__main__":
    main()
