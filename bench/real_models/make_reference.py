"""Make the stored references: what the source runtime computes for each model.

Run in a framework environment, outside CI (onnxruntime for ONNX models,
tf-keras for Keras ones, TensorFlow Lite's interpreter for .tflite ones; all
are in a TensorFlow env with onnxruntime added):

    python bench/real_models/fetch.py
    TF_USE_LEGACY_KERAS=1 python bench/real_models/make_reference.py [NAME ...]

For each model it fills the inputs as ``recipe.py`` says (seeded), runs the
source runtime and writes ``references/<name>.npz``:

- ``input_names`` and ``input_<i>``: the values fed, in the model's input order;
- ``output_names`` and ``output_<i>``: the runtime's outputs, in its order;
- ``stride_<i>``: outputs larger than :data:`MAX_STORED` values are stored as
  every ``stride``-th value of the flattened output (1: stored whole);
- ``batch_axes``: per output, where it keeps the batch axis.

Keras weights-only files get their architecture from the package's own
model-building code (``model.to_json()``), written beside the references.
"""

from __future__ import annotations

import importlib.util
import json
import os
import pickle
import sys
import zipfile

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from real_models.fetch import _archive, fetch  # noqa: E402
from real_models.recipe import MODELS, Feed, RealModel, by_name  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REFERENCES = os.path.join(HERE, "references")
MAX_STORED = 1 << 13


def fill(feed: Feed, rng: np.random.Generator) -> np.ndarray:
    """The input values for ``feed`` (see recipe.py for the fillings)."""
    shape = tuple(feed.shape)
    if feed.fill == "value":
        return np.asarray(feed.value, dtype=feed.dtype).reshape(shape)
    if feed.fill == "zeros":
        return np.zeros(shape, feed.dtype)
    if feed.fill == "ints":
        return rng.integers(feed.low, feed.high, size=shape).astype(feed.dtype)
    if feed.fill == "onehot":
        hot = rng.integers(0, shape[-1], size=shape[:-1])
        return np.eye(shape[-1], dtype=feed.dtype)[hot]
    if feed.fill == "audio":
        n = shape[-2] if len(shape) == 3 else shape[-1]
        t = np.arange(n) / 16000.0
        sweep = 0.5 * np.sin(2 * np.pi * (200 + 2000 * t) * t)
        wave = sweep + 0.1 * rng.standard_normal(shape[:1] + (n,))
        return np.clip(wave, -1, 1).astype(feed.dtype).reshape(shape)
    if feed.fill == "image":
        if len(shape) == 4 and shape[-1] in (1, 3):  # channels last
            coarse = (shape[0], -(-shape[1] // 8), -(-shape[2] // 8), shape[3])
            block = rng.integers(0, 256, size=coarse).repeat(8, 1).repeat(8, 2)[:, :shape[1], :shape[2]]
        else:
            coarse = shape[:-2] + (-(-shape[-2] // 8), -(-shape[-1] // 8))
            block = rng.integers(0, 256, size=coarse).repeat(8, -2).repeat(8, -1)
            block = block[..., :shape[-2], :shape[-1]]
        return ((block / 255.0 - feed.mean) / feed.std).astype(feed.dtype)
    raise ValueError(f"unknown filling {feed.fill!r}")


def run_onnx(model: RealModel, path: str, inputs: list) -> tuple[list, list]:
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    feeds = {f.name: x for f, x in zip(model.feeds, inputs)}
    return names, session.run(names, feeds)


def _keras():
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    import tf_keras
    return tf_keras


def _load_module(archive: str, member: str, name: str, aliases: dict):
    """Import one module file of a release from its archive, with some imports aliased."""
    if archive.endswith(".whl"):
        with zipfile.ZipFile(archive) as z:
            source = z.read(member).decode("utf-8")
    else:
        import tarfile
        with tarfile.open(archive) as t:
            source = t.extractfile(member).read().decode("utf-8")
    saved = {k: sys.modules.get(k) for k in aliases}
    sys.modules.update(aliases)
    try:
        spec = importlib.util.spec_from_loader(name, loader=None)
        module = importlib.util.module_from_spec(spec)
        exec(compile(source, f"{archive}:{member}", "exec"), module.__dict__)
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v
    return module


class _DataOnly(pickle.Unpickler):
    """Unpickles plain data only: any class or function reference is refused."""

    def find_class(self, module: str, name: str):
        raise pickle.UnpicklingError(f"refusing {module}.{name}")


def _architecture(model: RealModel, path: str):
    """The Keras model a weights-only file belongs to, built by its package's own code."""
    keras = _keras()
    archive = _archive(model)
    if model.name == "deepcut":
        import tensorflow as tf  # noqa: F401 - deepcut imports tensorflow.keras (legacy: tf-keras)
        code = _load_module(archive, "deepcut/model.py", "deepcut_model", {})
        net = code.get_convo_nn2()
    elif model.name.startswith("chars2vec"):
        import tarfile
        with tarfile.open(archive) as t:
            folder = os.path.dirname(model.member)
            emb_dim, char_to_ix = _DataOnly(t.extractfile(f"{folder}/model.pkl")).load()
        code = _load_module(archive, "chars2vec-0.1.7/chars2vec/model.py", "chars2vec_model",
                            {"keras": keras})
        net = code.Chars2Vec(emb_dim, char_to_ix).embedding_model
    else:
        raise ValueError(f"no architecture recipe for {model.name}")
    net.load_weights(path)
    return net


def run_tflite(model: RealModel, path: str, inputs: list) -> tuple[list, list]:
    """The interpreter's own (builtin) kernels: the default XNNPACK delegate computes
    dynamic-range quantized ops with its own on-the-fly quantisation, which differs."""
    import tensorflow as tf
    interpreter = tf.lite.Interpreter(
        model_path=path, num_threads=1,
        experimental_op_resolver_type=tf.lite.experimental.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interpreter.allocate_tensors()
    by_name = {d["name"]: d["index"] for d in interpreter.get_input_details()}
    for feed, x in zip(model.feeds, inputs):
        interpreter.set_tensor(by_name[feed.name], x)
    interpreter.invoke()
    details = interpreter.get_output_details()
    return [d["name"] for d in details], [interpreter.get_tensor(d["index"]).copy() for d in details]


def run_keras(model: RealModel, path: str, inputs: list) -> tuple[list, list]:
    keras = _keras()
    if model.architecture:
        net = _architecture(model, path)
        with open(os.path.join(REFERENCES, model.architecture), "w") as fh:
            fh.write(json.dumps(json.loads(net.to_json()), indent=1))
    else:
        net = keras.models.load_model(path, compile=False)
    outs = net.predict(inputs if len(inputs) > 1 else inputs[0], verbose=0)
    outs = outs if isinstance(outs, list) else [outs]
    return [t.name.split("/")[0] for t in net.outputs], [np.asarray(o) for o in outs]


def make(model: RealModel, path: str) -> str:
    rng = np.random.default_rng(_seed(model.name))
    inputs = [fill(feed, rng) for feed in model.feeds]
    runner = {"onnx": run_onnx, "keras": run_keras, "tflite": run_tflite}[model.framework]
    names, outs = runner(model, path, inputs)
    data = {"input_names": np.array([f.name for f in model.feeds]),
            "output_names": np.array(names),
            "batch_axes": np.array([model.batch_axes.get(i, 0) for i in range(len(outs))])}
    for i, x in enumerate(inputs):
        data[f"input_{i}"] = x
    for i, y in enumerate(outs):
        y = np.asarray(y)
        stride = max(1, -(-y.size // MAX_STORED))
        data[f"output_{i}"] = y if stride == 1 else y.reshape(-1)[::stride]
        data[f"stride_{i}"] = np.array(stride)
        data[f"shape_{i}"] = np.array(y.shape, np.int64)
    os.makedirs(REFERENCES, exist_ok=True)
    target = os.path.join(REFERENCES, f"{model.name}.npz")
    np.savez_compressed(target, **data)
    return target


def _seed(name: str) -> int:
    """A seed from the model's name, the same in every Python (unlike hash())."""
    return int.from_bytes(name.encode("utf-8")[:8].ljust(8, b"\0"), "little")


def main(argv: list[str] | None = None) -> int:
    names = sys.argv[1:] if argv is None else argv
    chosen = [by_name(n) for n in names] if names else [m for m in MODELS if m.graph]
    paths = fetch([m.name for m in chosen])
    for model in chosen:
        target = make(model, paths[model.name])
        print(f"{model.name:26s} {os.path.getsize(target):>9,d} bytes  {os.path.relpath(target)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
