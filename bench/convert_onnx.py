"""Converting a ResNet-18-sized ONNX file, against onnxruntime.

Run in an environment with torch==2.13.0, onnx and onnxruntime (and Strata's
core: numpy, h5py)::

    python bench/convert_onnx.py [--repeats 5]

Builds ResNet-18 (written out here, random weights, no torchvision) in
PyTorch, exports it with the TorchScript exporter (opset 17, dynamic batch),
then times, alternately and single-threaded:

- Strata: ``convert(path)`` plus the first output for one 3x224x224 image;
- onnxruntime: ``InferenceSession(path)`` plus its first run;

and prints the median of each and their ratio (target: Strata <= 2x), then
the forward pass alone (batch 1 and 8), and the largest output difference
relative to the largest output (must be <= 1e-5).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy loads its BLAS

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import onnxruntime as ort  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from viewer.convert import convert  # noqa: E402


class Block(nn.Module):
    """ResNet's basic block: two 3x3 convs with batch norm, plus the shortcut."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + (x if self.down is None else self.down(x)))


def resnet18() -> nn.Module:
    layers = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(3, 2, 1)]
    cin = 64
    for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        layers += [Block(cin, cout, stride), Block(cout, cout, 1)]
        cin = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, 1000)]
    return nn.Sequential(*layers).eval()


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    model = resnet18()
    x1 = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
    x8 = np.random.default_rng(1).standard_normal((8, 3, 224, 224)).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "resnet18.onnx")
        torch.onnx.export(model, (torch.from_numpy(x1),), path, dynamo=False, opset_version=17,
                          input_names=["x"], dynamic_axes={"x": {0: "batch"}})
        print(f"ResNet-18: {os.path.getsize(path) / 1e6:.1f} MB of ONNX")
        options = ort.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        strata, runtime = [], []
        for _ in range(args.repeats):
            strata.append(timed(lambda: convert(path)[-1](x1)))
            runtime.append(timed(lambda: ort.InferenceSession(
                path, options, providers=["CPUExecutionProvider"]).run(None, {"x": x1})))
        s, r = statistics.median(strata), statistics.median(runtime)
        print(f"conversion + first output: strata {s:.3f} s, onnxruntime session + first run "
              f"{r:.3f} s, ratio {s / r:.2f} (target <= 2)")
        net = convert(path)
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        for x in (x1, x8):
            ours = statistics.median(timed(lambda: net[-1](x)) for _ in range(args.repeats))
            theirs = statistics.median(timed(lambda: session.run(None, {"x": x})) for _ in range(args.repeats))
            want = session.run(None, {"x": x})[0]
            error = np.max(np.abs(net[-1](x) - want)) / np.max(np.abs(want))
            print(f"forward batch {len(x)}: strata {ours:.3f} s, onnxruntime {theirs:.3f} s, "
                  f"ratio {ours / theirs:.2f}; max relative difference {error:.1e}")


if __name__ == "__main__":
    main()
