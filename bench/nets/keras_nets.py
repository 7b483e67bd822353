"""A mini-Xception face-expression net in Keras, saved as .h5 and exported to ONNX.

Run in an environment with tensorflow, tf-keras (Keras 2) and tf2onnx::

    python bench/nets/keras_nets.py OUT_DIR [NAME=MODEL.h5 ...]

Writes ``mini_xception.h5`` and ``mini_xception.onnx`` (tf2onnx, opset 17):
one net with one set of random weights (fixed seed, randomised batch norm
statistics), so the Keras route (channels last) and the ONNX route (which
tf2onnx turns into channels first) of the same model can be compared. The
architecture is the classic 48x48x1 emotion classifier: two 3x3 convs, four
separable-conv residual modules with 3x3 stride-2 max pools and 1x1 stride-2
shortcuts, a 3x3 conv to 7 classes, global average pooling, softmax.

Each ``NAME=MODEL.h5`` argument also exports that Keras model file (a trained
one, say) to ``OUT_DIR/NAME.onnx`` the same way.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402
import tf2onnx  # noqa: E402

L = keras.layers
SEED = 0


def mini_xception(classes: int = 7, shape: tuple[int, int, int] = (48, 48, 1)) -> keras.Model:
    reg = dict(use_bias=False)
    x_in = L.Input(shape, name="image")
    x = L.Conv2D(8, 3, **reg)(x_in)
    x = L.Activation("relu")(L.BatchNormalization()(x))
    x = L.Conv2D(8, 3, **reg)(x)
    x = L.Activation("relu")(L.BatchNormalization()(x))
    for width in (16, 32, 64, 128):
        shortcut = L.BatchNormalization()(L.Conv2D(width, 1, strides=2, padding="same", **reg)(x))
        x = L.SeparableConv2D(width, 3, padding="same", **reg)(x)
        x = L.Activation("relu")(L.BatchNormalization()(x))
        x = L.SeparableConv2D(width, 3, padding="same", **reg)(x)
        x = L.BatchNormalization()(x)
        x = L.MaxPooling2D(3, strides=2, padding="same")(x)
        x = L.Add()([x, shortcut])
    x = L.Conv2D(classes, 3, padding="same")(x)
    x = L.GlobalAveragePooling2D()(x)
    return keras.Model(x_in, L.Activation("softmax", name="predictions")(x))


def randomise_norms(model: keras.Model, rng: np.random.Generator) -> None:
    for layer in model.layers:
        if isinstance(layer, L.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            c = gamma.shape[0]
            layer.set_weights([rng.uniform(0.75, 1.25, c), rng.normal(0, 0.1, c),
                               rng.normal(0, 0.1, c), rng.uniform(0.75, 1.25, c)])


def export_onnx(model: keras.Model, path: Path) -> None:
    """tf2onnx export, opset 17, open batch size."""
    spec = (tf.TensorSpec((None,) + tuple(model.input_shape[1:]), tf.float32, name=model.input_names[0]),)
    tf2onnx.convert.from_keras(model, input_signature=spec, opset=17, output_path=str(path))


def main() -> None:
    out_dir = Path(sys.argv[1])
    out_dir.mkdir(parents=True, exist_ok=True)
    for item in sys.argv[2:]:
        name, _, source = item.partition("=")
        export_onnx(keras.models.load_model(source, compile=False), out_dir / f"{name}.onnx")
        print(out_dir / f"{name}.onnx")
    if sys.argv[2:]:
        return
    keras.utils.set_random_seed(SEED)
    model = mini_xception()
    randomise_norms(model, np.random.default_rng(SEED))
    h5 = out_dir / "mini_xception.h5"
    model.save(str(h5))
    onnx_path = out_dir / "mini_xception.onnx"
    export_onnx(model, onnx_path)
    print(h5)
    print(onnx_path)


if __name__ == "__main__":
    main()
