"""Write the ~5 MB TFLite and .pt2 files that bench/convert_formats.py converts.

Each half runs in its framework's environment (neither is needed by the bench):

    /work/envs/tf/bin/python bench/make_format_models.py tflite        # tensorflow-cpu
    /work/envs/torchonnx/bin/python bench/make_format_models.py pt2    # torch

The files go to bench/.nets/formats/: ``cnn_float32.tflite`` (1.26 M
float32 parameters, ~5 MB), ``cnn_int8.tflite`` (the same net twice as wide,
full-integer int8 per channel, ~5 MB) and ``cnn.pt2`` (the float32 net in
PyTorch, with batch norm, ~5 MB). Weights are random; only the sizes matter.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent / ".nets" / "formats"
WIDTHS = (32, 64, 128, 128, 256, 256)


def keras_cnn(width: int):
    from tensorflow import keras

    layers = keras.layers
    x = inp = keras.Input((64, 64, 3))
    for i, w in enumerate(WIDTHS):
        x = layers.Conv2D(w * width, 3, padding="same", activation="relu")(x)
        if i % 2:
            x = layers.MaxPooling2D(2)(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(512 * width, activation="relu")(x)
    return keras.Model(inp, layers.Softmax()(layers.Dense(10)(x)))


def tflite() -> None:
    import tensorflow as tf

    rng = np.random.default_rng(0)
    converter = tf.lite.TFLiteConverter.from_keras_model(keras_cnn(1))
    (OUT / "cnn_float32.tflite").write_bytes(converter.convert())
    converter = tf.lite.TFLiteConverter.from_keras_model(keras_cnn(2))
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.representative_dataset = lambda: ([rng.normal(size=(1, 64, 64, 3)).astype(np.float32)]
                                                for _ in range(4))
    (OUT / "cnn_int8.tflite").write_bytes(converter.convert())


def pt2() -> None:
    import torch
    from torch import nn

    mods, cin = [], 3
    for i, w in enumerate(WIDTHS):
        mods += [nn.Conv2d(cin, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU()]
        if i % 2:
            mods.append(nn.MaxPool2d(2))
        cin = w
    model = nn.Sequential(*mods, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, 512), nn.ReLU(),
                          nn.Linear(512, 10), nn.Softmax(dim=-1)).eval()
    program = torch.export.export(model, (torch.randn(2, 3, 64, 64),),
                                  dynamic_shapes=({0: torch.export.Dim("batch")},))
    torch.export.save(program, OUT / "cnn.pt2")


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    {"tflite": tflite, "pt2": pt2}[sys.argv[1]]()
    for path in sorted(OUT.iterdir()):
        print(f"{path}: {path.stat().st_size / 1e6:.2f} MB")
