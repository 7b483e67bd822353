"""Train the demo nets on scikit-learn's handwritten digits and write them as strata-net files.

Run from the repository root, in an environment with resources/requirements-demo.txt::

    pip install -r resources/requirements-demo.txt
    python resources/make_demo.py

Writes, in resources/demo/:

- digits_cnn.h5: conv, batch norm, relu, pooling, dense, softmax (channels first).
- digits_mlp.h5: three dense layers on the 64 pixels.
- digits_reference.npz: PyTorch's own output of every CNN and MLP layer for
  the first 16 test samples, so tests can check Strata's runtime against it.

Each net file embeds its held-out test samples (raw pixel values 0..16) with
their labels and the preprocessing (divide by 16) that turns them into net
input. Training is seeded and single-threaded, so a rerun gives the same nets.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from viewer.net import Net, save  # noqa: E402
from viewer.net.layers import (Activation, BatchNorm, Conv2D, Dense, Dropout, Flatten,  # noqa: E402
                               Input, MaxPool2D)

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "demo")
SCALE = 1.0 / 16.0  # digits pixels are 0..16
N_REFERENCE = 16


def digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Train/test split of the 1,797 digits: images (N, 8, 8) uint8 and labels (N,)."""
    data = load_digits()
    images = data.images.astype(np.uint8)
    return train_test_split(images, data.target, test_size=0.3, random_state=0, stratify=data.target)


def cnn() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 2 * 2, 64), nn.ReLU(), nn.Dropout(0.3),
        nn.Linear(64, 10), nn.Softmax(dim=1))


def mlp() -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(),
        nn.Linear(64, 10), nn.Softmax(dim=1))


def train(model: nn.Sequential, x: np.ndarray, y: np.ndarray, epochs: int) -> None:
    """Adam on cross-entropy; the softmax layer is skipped so the loss sees logits."""
    torch.manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
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
    model.eval()


def to_numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().numpy().astype(np.float32)


def convert(model: nn.Sequential, input_shape: tuple, names: list[str], data_format: str | None) -> Net:
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


def main() -> None:
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    x_train, x_test, y_train, y_test = digits()
    label_names = [str(d) for d in range(10)]
    reference: dict[str, np.ndarray] = {}
    specs = [
        ("digits_cnn", cnn, (1, 8, 8), "channels_first", 30,
         ["conv1", "bn1", "relu1", "pool1", "conv2", "bn2", "relu2", "pool2",
          "flatten", "fc1", "relu3", "dropout", "fc2", "softmax"]),
        ("digits_mlp", mlp, (64,), None, 40,
         ["fc1", "relu1", "fc2", "relu2", "fc3", "softmax"]),
    ]
    for stem, build, shape, data_format, epochs, names in specs:
        torch.manual_seed(0)  # same initial weights on every run
        model = build()
        raw_train = x_train.reshape((-1,) + shape)
        raw_test = x_test.reshape((-1,) + shape)
        train(model, raw_train.astype(np.float32) * SCALE, y_train, epochs)
        net = convert(model, shape, names, data_format)
        net.name = stem
        net.source = ("PyTorch 2.13 model trained by resources/make_demo.py on scikit-learn's "
                      "8x8 handwritten digits (70% train, 30% held out)")
        x_ref = raw_test[:N_REFERENCE].astype(np.float32) * SCALE
        for name, out in zip(["input"] + names, reference_outputs(model, x_ref)):
            reference[f"{stem}/{name}"] = out
        probs = net[-1](raw_test.astype(np.float32) * SCALE)
        accuracy = float((probs.argmax(1) == y_test).mean())
        save(net, os.path.join(OUT, stem + ".h5"), samples={
            "X": raw_test, "labels": y_test, "label_names": label_names,
            "layout": "channels_first" if data_format else "vector",
            "preprocess": {"scale": SCALE}})
        print(f"{stem}: {len(net)} layers, {net.n_params:,} parameters, "
              f"test accuracy {accuracy:.3f} on {len(y_test)} held-out digits")
    np.savez_compressed(os.path.join(OUT, "digits_reference.npz"), **reference)


if __name__ == "__main__":
    main()
