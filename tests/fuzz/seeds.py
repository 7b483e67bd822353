"""The good files every fuzz case starts from, one group per reader.

Each seed is made into a fresh folder (never a fixture's own path), so a
case that writes to its input is seen and the repository stays untouched.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
DEMO = os.path.join(ROOT, "resources", "demo")


@dataclass(frozen=True)
class Seed:
    """One good input file and how the command line reads it.

    Attributes
    ----------
    reader : str
        The reader group: "net", "keras-h5", "keras-zip", "onnx", "npy",
        "npz", "hdf5-samples", "image", "tflite", "pt2", "theano" (Lasagne and
        Theano: their pickles, which must be refused unread, Lasagne's
        ``np.savez`` weights, and the nets converted from them).
    files : tuple of str
        Source files copied into the case folder (the first is the one read;
        the others sit beside it, e.g. ONNX external data).
    command : str
        "info", "export" (the file as a net), "convert" (a model) or
        "samples" (the file as samples for the demo CNN).
    """

    reader: str
    files: tuple
    command: str


def _fixture(name: str) -> str:
    return os.path.join(FIXTURES, name)


def sample_seed_paths(folder: str) -> dict[str, str]:
    """Where :func:`make_sample_seeds` puts each generated sample file."""
    out = {"npy": "samples.npy", "npz": "samples.npz", "hdf5": "samples.h5"}
    out.update({ext: f"digit.{ext}" for ext in ("png", "jpg", "bmp", "gif")})
    return {k: os.path.join(folder, v) for k, v in out.items()}


def theano_seed_paths(folder: str) -> dict[str, str]:
    """Where :func:`make_theano_seeds` puts each generated Lasagne/Theano file."""
    names = {"lasagne": "lasagne_cnn.h5", "symbolic": "theano_symbolic.h5", "pickle": "lasagne_params.pkl"}
    return {k: os.path.join(folder, "theano", v) for k, v in names.items()}


def make_theano_seeds(folder: str) -> dict[str, str]:
    """Write the Lasagne/Theano seeds into ``folder``/theano.

    The converted nets of the fixtures get their reference inputs as embedded
    samples (so ``export`` runs them); the pickle holds weights the way
    Lasagne code often saves them.
    """
    from fuzz.mutate_theano import lasagne_params
    from viewer.net.store import load, save
    out = theano_seed_paths(folder)
    os.makedirs(os.path.dirname(out["pickle"]), exist_ok=True)
    for key in ("lasagne", "symbolic"):
        name = os.path.basename(out[key])
        with np.load(_fixture(name[:-3] + ".npz")) as ref:
            X = ref["input_0"]
        save(load(_fixture(name)), out[key], samples={"X": X, "layout": "channels_first"})
    with open(out["pickle"], "wb") as fh:
        fh.write(lasagne_params())
    return out


def make_sample_seeds(folder: str) -> dict[str, str]:
    """Write the sample files (for the demo CNN's (1, 8, 8) input) into ``folder``."""
    import h5py

    with h5py.File(os.path.join(DEMO, "digits_cnn.h5"), "r") as f:
        X = f["samples/X"][:40]
        labels = f["samples/labels"][:40]
        names = [s.decode() if isinstance(s, bytes) else s for s in f["samples/label_names"][()]]
    os.makedirs(folder, exist_ok=True)
    out = sample_seed_paths(folder)
    np.save(out["npy"], X[:, 0])
    np.savez_compressed(out["npz"], X=X, labels=labels, label_names=np.array(names))
    with h5py.File(out["hdf5"], "w") as f:
        f.create_dataset("X", data=X, chunks=(8, 1, 8, 8), compression="gzip")
        f.create_dataset("labels", data=labels)
        f.create_dataset("label_names", data=names, dtype=h5py.string_dtype())
        f.attrs["layout"] = "channels_first"
    from PIL import Image
    for ext in ("png", "jpg", "bmp", "gif"):
        Image.fromarray((X[3, 0] * 16).astype(np.uint8)).resize((16, 16)).save(out[ext])
    return out


def all_seeds(folder: str) -> list[Seed]:
    """Every seed; the generated ones are those :func:`make_sample_seeds` made in ``folder``."""
    samples = sample_seed_paths(folder)
    theano = theano_seed_paths(folder)
    seeds = [Seed("net", (os.path.join(DEMO, "digits_cnn.h5"),), "export"),
             Seed("net", (os.path.join(DEMO, "digits_mlp.h5"),), "info"),
             Seed("net", (os.path.join(DEMO, "digits_mlp.h5"),), "export")]
    for name in ("keras2_theano_cl_cnn.h5", "keras3_cnn.h5", "keras1_theano_rnn.h5",
                 "keras2_theano_merge.h5", "keras3_rnn.h5"):
        seeds.append(Seed("keras-h5", (_fixture(name),), "convert"))
    for name in ("keras3_cnn.keras", "keras3_merge.keras", "keras3_rnn.keras"):
        seeds.append(Seed("keras-zip", (_fixture(name),), "convert"))
    seeds.append(Seed("onnx", (_fixture("onnx_cnn_op17.onnx"),), "convert"))
    seeds.append(Seed("onnx", (_fixture("onnx_cnn_op20.onnx"), _fixture("onnx_cnn_op20.onnx.data")),
                      "convert"))
    seeds.append(Seed("onnx", (_fixture("onnx_rnn_op20.onnx"), _fixture("onnx_rnn_op20.onnx.data")),
                      "convert"))
    for name in ("tflite_cnn.tflite", "tflite_cnn_int8_per_tensor.tflite", "tflite_lstm.tflite",
                 "tflite_ops.tflite"):
        if os.path.exists(_fixture(name)):
            seeds.append(Seed("tflite", (_fixture(name),), "convert"))
    for name in ("pt2_cnn.pt2", "pt2_seq.pt2"):
        seeds.append(Seed("pt2", (_fixture(name),), "convert"))
    seeds.append(Seed("pt2", (_fixture("pt2_cnn.pt2"),), "info"))
    seeds.append(Seed("npy", (samples["npy"],), "samples"))
    seeds.append(Seed("npz", (samples["npz"],), "samples"))
    seeds.append(Seed("hdf5-samples", (samples["hdf5"],), "samples"))
    for ext in ("png", "jpg", "bmp", "gif"):
        seeds.append(Seed("image", (samples[ext],), "samples"))
    seeds += [Seed("theano", (theano["lasagne"],), "export"), Seed("theano", (theano["symbolic"],), "export"),
              Seed("theano", (_fixture("theano_compiled.h5"),), "info"),
              Seed("theano", (theano["pickle"],), "convert"), Seed("theano", (theano["pickle"],), "info"),
              Seed("theano", (_fixture("lasagne_cnn.npz"),), "convert")]
    return seeds


def copy_seed(seed: Seed, folder: str) -> list[str]:
    """Copy a seed's files into ``folder``; returns their new paths."""
    paths = []
    for src in seed.files:
        dst = os.path.join(folder, os.path.basename(src))
        shutil.copyfile(src, dst)
        paths.append(dst)
    return paths
