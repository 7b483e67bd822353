"""Read what a Keras model file holds, with h5py and the standard library only.

Two containers:

- HDF5 from ``model.save("x.h5")`` (Keras 1, 2, and Keras 3's legacy
  format): attributes ``model_config`` (JSON), ``keras_version``, ``backend``
  (Keras 2+), and the group ``model_weights`` with ``layer_names`` and, per
  layer, ``weight_names`` naming datasets (possibly in nested groups). Long
  name lists are split over ``layer_names0``, ``layer_names1``, ... because an
  HDF5 attribute holds at most 64 KB. Text attributes may be bytes or str.
- Keras 3's ``.keras`` zip: ``config.json``, ``metadata.json`` and
  ``model.weights.h5``, where each layer's variables sit in
  ``layers/<key>/vars/0, 1, ...`` and those of inner objects (an RNN's cell,
  a Bidirectional's halves, a TimeDistributed's layer) in sub-groups.

Files holding weights only (``model.save_weights``: an HDF5 file with
``layer_names`` at its root, or Keras 3's ``.weights.h5`` with a ``layers``
group) are paired with the architecture from ``model.to_json()`` (or a
``.keras`` archive's ``config.json``) given separately: by layer name where
the names agree, otherwise in order over the layers that hold weights, as
Keras' own ``load_weights`` does.

Nothing in the file is executed: the config is JSON, arrays are read after
the same safety checks as Strata's own files (no links, no external or
virtual datasets, no shape bombs).
"""

from __future__ import annotations

import io
import json
import os
import zipfile
import zlib
from dataclasses import dataclass, field
import h5py
import numpy as np

from viewer import limits
from viewer.errors import FileFormatError, StrataError, file_error
from viewer.net import probe
from viewer.net.store import check_dataset, names_attr, safe_member, text_attr

# What h5py, zipfile and zlib raise on damaged bytes (zipfile: NotImplementedError for
# an unknown compression method, RuntimeError for an encrypted member).
DAMAGE = (OSError, ValueError, KeyError, TypeError, RuntimeError, OverflowError, IndexError,
          RecursionError, NotImplementedError, EOFError, zipfile.BadZipFile, zlib.error)

# Preferred order of a layer's inner objects in a .keras weights file, so that
# variables come out in the order the layer lists its weights.
_INNER_ORDER = ("vars", "cell", "forward_layer", "backward_layer", "layer")


@dataclass
class KerasFile:
    """The parts of a Keras model file the converter needs.

    Attributes
    ----------
    path : str
    config : dict
        The model's config (``{"class_name": ..., "config": ...}``).
    version : str
        keras_version as recorded ("" if absent).
    backend : str or None
        As recorded (Keras 2 and 3); None for Keras 1 files, which don't say.
    weights : dict of str -> list of ndarray
        Layer name -> its weight arrays, in the order the layer lists them.
    weight_names : dict of str -> list of str
        Layer name -> the recorded names of those arrays.
    weights_by_key : dict of str -> list of ndarray
        .keras files only: the same arrays by the layer's object key
        (``dense_1``), for files that do not record layer names.
    """

    path: str
    config: dict
    version: str
    backend: str | None
    weights: dict = field(default_factory=dict)
    weight_names: dict = field(default_factory=dict)
    weights_by_key: dict = field(default_factory=dict)

    @property
    def major(self) -> int:
        """Keras major version (1, 2 or 3), from the recorded version or the config's shape."""
        head = self.version.split(".")[0]
        if head.isdigit():
            return int(head)
        return 1


WEIGHTS_ONLY = ("holds weights only (model.save_weights); give the architecture saved with "
                "model.to_json() as --architecture model.json (architecture= in Python), or "
                "convert a file written by model.save, which includes it")


WEIGHTS_SUBCLASSED = ("holds weights only, saved by a subclassed keras.Model (its layers are "
                      "stored under the model's attribute names): its architecture is Python code, "
                      "which no JSON describes; export the model to ONNX (tf2onnx) and convert that")


def read_keras(path: str, architecture: str | os.PathLike | None = None, *,
               isolate: bool = True) -> KerasFile:
    """Read a Keras .h5 or .keras file; FileFormatError naming the file on any problem.

    Parameters
    ----------
    path : str
        A model file (``model.save``), or with ``architecture`` a weights file
        (``model.save_weights``, legacy HDF5 or Keras 3 ``.weights.h5``).
    architecture : str or PathLike, optional
        A JSON file from ``model.to_json()`` (or a ``.keras`` archive's
        ``config.json``): the model's config, replacing any in ``path``.
    isolate : bool
        Read ``path`` completely in a child process first
        (:mod:`viewer.net.probe`): the HDF5 library can hang or crash on a
        damaged file, in a ``.h5`` as in the weights inside a ``.keras``.
    """
    config = _read_architecture(os.fspath(architecture)) if architecture is not None else None
    if not os.path.isfile(path):
        raise file_error(path, "no such file")
    if os.path.getsize(path) == 0:
        raise file_error(path, "empty file")
    if isolate:
        probe.check_in_child(path, "keras", "weights" if config is not None else "")
    result = _read_container(path, config is not None)
    if config is not None:
        result.config = config
        version = config.get("keras_version")
        if isinstance(version, str) and version:
            result.version = version  # the Keras that would build and run the architecture
        if result.backend is None and isinstance(config.get("backend"), str):
            result.backend = config["backend"]
    return result


def _read_container(path: str, weights_only: bool) -> KerasFile:
    """The .h5 or .keras file's contents; FileFormatError naming the file on any damage."""
    try:
        if zipfile.is_zipfile(path):
            return _read_zip(path)
        if not h5py.is_hdf5(path):
            raise file_error(path, "neither an HDF5 file nor a .keras zip archive")
        with h5py.File(path, "r") as f:
            return _read_h5(f, path, os.path.getsize(path), weights_only)
    except StrataError as exc:
        text = str(exc)
        raise (exc if text.startswith(path) else file_error(path, text)) from None
    except DAMAGE as exc:
        raise file_error(path, f"damaged file ({type(exc).__name__}: {exc})") from None


def check_file(path: str, weights_only: str = "") -> None:
    """Read a Keras file completely: what the child process of :func:`read_keras` runs."""
    _read_container(path, bool(weights_only))


def _read_architecture(path: str) -> dict:
    """The model config in a ``model.to_json()`` file."""
    if not os.path.isfile(path):
        raise file_error(path, "no such file (the --architecture JSON)")
    try:
        limits.check("text_bytes", os.path.getsize(path),
                     f"is {os.path.getsize(path):,} bytes, too large for a model's JSON")
    except StrataError as exc:
        raise file_error(path, str(exc)) from None
    try:
        with open(path, "rb") as fh:
            config = _json(fh.read().decode("utf-8"), "the architecture")
    except (FileFormatError, UnicodeDecodeError) as exc:
        raise file_error(path, f"not a Keras architecture ({exc})") from None
    if not isinstance(config.get("class_name"), str) or "config" not in config:
        raise file_error(path, "not a Keras architecture: no class_name and config "
                               "(write it with model.to_json())")
    return config


def _json(text: str, where: str) -> dict:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise FileFormatError(f"{where} is not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise FileFormatError(f"{where} is not a JSON object")
    return value


def _chunked_names(g: h5py.Group, key: str) -> list[str]:
    """A name-list attribute, joining Keras' chunks ``key0, key1, ...`` when split."""
    if key in g.attrs:
        return names_attr(g, key, g.name)
    names: list[str] = []
    i = 0
    while f"{key}{i}" in g.attrs:
        names += names_attr(g, f"{key}{i}", g.name)
        i += 1
    if i == 0:
        raise FileFormatError(f"{g.name} has no {key!r} attribute")
    return names


def _dataset(g: h5py.Group, path: str, file_size: int) -> np.ndarray:
    """Read dataset ``path`` (slash-separated, inside g) after the safety checks."""
    parts = [p for p in path.split("/") if p]
    if not parts:
        raise FileFormatError(f"{g.name}: empty weight name")
    for part in parts[:-1]:
        g = safe_member(g, part, "", h5py.Group)
    ds = safe_member(g, parts[-1], "", h5py.Dataset)
    check_dataset(ds, file_size)
    return np.asarray(ds[()])


def weights_layout(f: h5py.File) -> str:
    """How ``model.save_weights`` laid out an open HDF5 file: "legacy" (Keras 1/2),
    "keras3", "subclassed" (Keras 3, a subclassed Model), or "" for none of these."""
    if "layer_names" in f.attrs or "layer_names0" in f.attrs:
        return "legacy"
    if "layers" in f and isinstance(f.get("layers", getlink=True), h5py.HardLink):
        return "keras3"
    # Keras 3 writes the model's own variables in "vars", and its layers under the
    # model's attribute names (a subclassed Model: block1, head, ...) or "layers".
    if "vars" in f and isinstance(f.get("vars", getlink=True), h5py.HardLink):
        return "subclassed"
    return ""


def _read_h5(f: h5py.File, path: str, file_size: int, paired: bool = False) -> KerasFile:
    """Read an HDF5 model file, or with ``paired`` (an architecture given) a weights file."""
    layout = weights_layout(f)
    legacy_weights, keras3_weights = layout == "legacy", layout == "keras3"
    subclassed = layout == "subclassed"
    if "model_config" not in f.attrs and not paired:
        if legacy_weights or keras3_weights:
            raise FileFormatError(WEIGHTS_ONLY)
        if subclassed:
            raise FileFormatError(WEIGHTS_SUBCLASSED)
        raise FileFormatError("not a Keras model file (no 'model_config' attribute)")
    config = _json(text_attr(f, "model_config", "the file"), "model_config") \
        if "model_config" in f.attrs else {}
    version = text_attr(f, "keras_version", "the file") if "keras_version" in f.attrs else ""
    backend = text_attr(f, "backend", "the file") if "backend" in f.attrs else None
    result = KerasFile(path, config, version, backend)
    if "model_weights" in f:
        g = safe_member(f, "model_weights", path, h5py.Group)
    elif paired and legacy_weights:
        g = f  # model.save_weights writes the layer groups at the root
    elif paired and keras3_weights:
        result.version = result.version or "3"
        _read_keras3_weights(f, result, file_size)
        return result
    elif paired and subclassed:
        raise FileFormatError(WEIGHTS_SUBCLASSED)
    elif paired:
        raise FileFormatError("holds no Keras weights (no layer_names, no layers group)")
    else:
        return result  # a model without weights (never trained or built)
    for layer in _chunked_names(g, "layer_names"):
        lg = safe_member(g, layer, path, h5py.Group)
        names = _chunked_names(lg, "weight_names") if ("weight_names" in lg.attrs or
                                                       "weight_names0" in lg.attrs) else []
        result.weight_names[layer] = names
        result.weights[layer] = [_dataset(lg, name, file_size) for name in names]
    return result


def _zip_member(z: zipfile.ZipFile, name: str, limit: str | None = None) -> bytes:
    try:
        info = z.getinfo(name)
    except KeyError:
        raise FileFormatError(f"the .keras archive has no {name}") from None
    limits.check_unpack(info.file_size, info.compress_size, name)
    if limit is not None:
        limits.check(limit, info.file_size, f"{name} holds {info.file_size:,} bytes")
    return z.read(name)


def _read_zip(path: str) -> KerasFile:
    with zipfile.ZipFile(path) as z:
        names = set(z.namelist())
        if "config.json" not in names:
            raise FileFormatError("a zip archive, but not a .keras model (no config.json)")
        config = _json(_zip_member(z, "config.json", "text_bytes").decode("utf-8"), "config.json")
        version = ""
        if "metadata.json" in names:
            meta = _json(_zip_member(z, "metadata.json", "text_bytes").decode("utf-8"),
                         "metadata.json")
            version = str(meta.get("keras_version", ""))
        result = KerasFile(path, config, version or "3", None)
        if "model.weights.h5" not in names:
            if any(n.startswith("model.weights") for n in names):
                raise FileFormatError("weights are stored sharded or as npz; only model.weights.h5 "
                                      "is supported")
            return result
        data = _zip_member(z, "model.weights.h5")
    with h5py.File(io.BytesIO(data), "r") as f:
        _read_keras3_weights(f, result, len(data))
    return result


def _read_keras3_weights(f: h5py.File, result: KerasFile, size: int) -> None:
    """Collect each layer's variables from a .keras weights file, keyed by layer name."""
    if "layers" not in f:
        return
    layers = safe_member(f, "layers", "", h5py.Group)
    for key in layers:
        names: list[str] = []
        arrays: list[np.ndarray] = []
        _collect(safe_member(layers, key, "", h5py.Group), key, names, arrays, size)
        result.weights_by_key[key] = arrays
        vars_link = layers[key].get("vars", getlink=True)
        if isinstance(vars_link, h5py.HardLink) and "name" in layers[key]["vars"].attrs:
            # Newer Keras 3 records the layer's name; older files are matched by key.
            layer_name = text_attr(layers[key]["vars"], "name", f"layers/{key}/vars")
            result.weight_names[layer_name] = names
            result.weights[layer_name] = arrays


def _collect(g: h5py.Group, where: str, names: list, arrays: list, size: int) -> None:
    """Variables of g's own ``vars`` then of its inner objects, in a fixed order."""
    children = list(g)
    children.sort(key=lambda k: (_INNER_ORDER.index(k) if k in _INNER_ORDER else len(_INNER_ORDER), k))
    for key in children:
        child = safe_member(g, key, "", h5py.Group)
        if key == "vars":
            indices = sorted((k for k in child), key=lambda k: int(k) if k.isdigit() else 1 << 30)
            for k in indices:
                names.append(f"{where}/vars/{k}")
                arrays.append(_dataset(child, k, size))
        else:
            _collect(child, f"{where}/{key}", names, arrays, size)
