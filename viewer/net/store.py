"""The strata-net HDF5 file format: writing, and a reader that trusts nothing.

Layout (format version 1)::

    /                attrs: format="strata-net", format_version=1,
                            layer_order=[names], name, source
    /layers/<key>    attrs: kind, config (JSON text), prev (list of names)
                     datasets: one per parameter array; layers sharing one
                     array (one ONNX initializer) hold hard links to one dataset
    /samples         optional: X (N, ...), labels (N,), label_names (K,)
                     attrs: layout, preprocess (JSON text)

A layer's group key is its name with "%" and "/" percent-encoded (and a
name of "." as "%2E"), because HDF5 reads "/" as a path separator and ONNX
exporters name layers like "/conv1/Conv"; layer_order and prev keep the
real names.

The reader opens files read-only, refuses links, external and virtual
datasets and datasets that declare far more data than the file holds, checks
kinds, configs, parameter shapes and the layer graph, and reports every
problem as one :class:`~viewer.errors.FileFormatError` naming the file.
No pickle, eval or exec is ever involved.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any, Mapping

import h5py
import numpy as np

from viewer import limits
from viewer.errors import FileFormatError, StrataError, file_error
from viewer.net import probe
from viewer.net.layers import Layer, layer_class
from viewer.net.network import Net
from viewer.writing import remove_stale_parts

FORMAT = "strata-net"
FORMAT_VERSION = 1
# A parameter may not declare more bytes than this many times the file's size:
# stored arrays are not compressed, so a real file is never near it.
MAX_EXPANSION = 64
SAMPLE_LAYOUTS = ("channels_first", "channels_last", "vector", "sequence")


def group_key(name: str) -> str:
    """The HDF5 group key of a layer name: "%" and "/" percent-encoded, "." as "%2E"."""
    key = name.replace("%", "%25").replace("/", "%2F")
    return "%2E" if key == "." else key


def save(net: Net, path: str | os.PathLike, *, samples: Mapping[str, Any] | None = None) -> None:
    """Write ``net`` (and optionally its samples) to a strata-net file.

    The file is written next to ``path`` and renamed into place, so an
    interrupted save never leaves half a file where a good one was.

    Parameters
    ----------
    net : Net
    path : str or PathLike
    samples : mapping, optional
        ``X`` (N, ...) raw samples; optional ``labels`` (N,) ints,
        ``label_names`` (K,) strings, ``layout`` (one of "channels_first",
        "channels_last", "vector", "sequence") and ``preprocess`` (dict with
        optional "scale", "mean", "std": net input = (X * scale - mean) / std).
    """
    net.check()
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise StrataError(f"{path}: the folder {folder} does not exist")
    if os.path.isdir(path):
        raise StrataError(f"{path}: is a folder")
    remove_stale_parts(path)
    tmp = f"{path}.{os.getpid()}.part"
    try:
        _write(net, tmp, samples)
        os.replace(tmp, path)
    except OSError as exc:
        raise StrataError(f"{path}: cannot write ({exc.strerror or exc})") from None
    except (ValueError, TypeError) as exc:  # h5py refusing a value the net holds
        raise StrataError(f"{path}: cannot write the net ({type(exc).__name__}: {exc})") from None
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _write(net: Net, tmp: str, samples: Mapping[str, Any] | None) -> None:
    """Write the file at ``tmp`` (the caller renames it into place)."""
    with h5py.File(tmp, "w") as f:
        f.attrs["format"] = FORMAT
        f.attrs["format_version"] = FORMAT_VERSION
        f.attrs["layer_order"] = [layer.name for layer in net]
        # HDF5 text cannot hold NUL; a damaged source file's text may
        f.attrs["name"] = net.name.replace("\0", "\ufffd")
        f.attrs["source"] = net.source.replace("\0", "\ufffd")
        group = f.create_group("layers")
        # id of an array -> (the array, kept so that its id stays its own; its dataset)
        written: dict[int, tuple[np.ndarray, h5py.Dataset]] = {}
        for layer in net:
            g = group.create_group(group_key(layer.name))
            g.attrs["kind"] = layer.kind
            g.attrs["config"] = json.dumps(layer.config())
            g.attrs["prev"] = [p.name for p in layer.inputs]
            for key, value in layer.params().items():
                if id(value) in written:
                    g[key] = written[id(value)][1]  # a hard link: one copy in the file
                else:
                    written[id(value)] = (value, g.create_dataset(key, data=value))
        if samples is not None:
            _write_samples(f, samples)


def _write_samples(f: h5py.File, samples: Mapping[str, Any]) -> None:
    g = f.create_group("samples")
    X = np.asarray(samples["X"])
    g.create_dataset("X", data=X)
    if samples.get("labels") is not None:
        labels = np.asarray(samples["labels"])
        if labels.shape != (X.shape[0],):
            raise StrataError(f"labels have shape {labels.shape}, samples are {X.shape[0]}")
        g.create_dataset("labels", data=labels.astype(np.int64))
    if samples.get("label_names") is not None:
        g.create_dataset("label_names", data=[str(n) for n in samples["label_names"]],
                         dtype=h5py.string_dtype())
    layout = samples.get("layout", "vector")
    if layout not in SAMPLE_LAYOUTS:
        raise StrataError(f"sample layout must be one of {SAMPLE_LAYOUTS}, not {layout!r}")
    g.attrs["layout"] = layout
    g.attrs["preprocess"] = json.dumps(samples.get("preprocess") or {})


def load(path: str | os.PathLike, *, isolate: bool = False) -> Net:
    """Read a strata-net file.

    Parameters
    ----------
    path : str or PathLike
    isolate : bool
        Read the file, with its ``/samples``, in a child process first (see
        :mod:`viewer.net.probe`), so that a damaged file on which the HDF5 library hangs or crashes
        gives an error instead of taking this process down. Costs a fraction
        of a second; the window and the command line use it for every file
        the user opens.

    Returns
    -------
    Net
        With ``net.path`` set to the file's path.

    Raises
    ------
    FileFormatError
        For anything wrong with the file; the message names the file.
    """
    path = os.fspath(path)
    _check_is_hdf5(path)
    if isolate:
        probe.check_in_child(path, "net")
    try:
        with h5py.File(path, "r") as f:
            net = _read_net(f, path)
    except StrataError as exc:
        message = str(exc)
        raise (exc if message.startswith(path) else file_error(path, message)) from None
    except Exception as exc:  # h5py reports damage as many exception types
        raise file_error(path, f"damaged file ({type(exc).__name__}: {exc})") from None
    net.path = path
    return net


def check_file(path: str) -> None:
    """Read a net file completely, with its ``/samples``: what the child process of
    :func:`load` does with ``isolate=True``.

    Raises
    ------
    StrataError
        Naming the file, for anything wrong with it.
    """
    load(path)
    from viewer.data.hdf5 import check_file as check_samples, has_samples
    if has_samples(path):
        check_samples(path)


def _check_is_hdf5(path: str) -> None:
    if not os.path.exists(path):
        raise file_error(path, "no such file")
    if os.path.isdir(path):
        raise file_error(path, "is a folder, not a net file")
    size = os.path.getsize(path)
    if size == 0:
        raise file_error(path, "empty file")
    try:
        is_hdf5 = h5py.is_hdf5(path)
    except OSError as exc:
        raise file_error(path, f"cannot be read ({exc})") from None
    if not is_hdf5:
        with open(path, "rb") as fh:
            head = fh.read(4)
        hint = " (it is a zip archive)" if head.startswith(b"PK") else ""
        raise file_error(path, f"not an HDF5 file{hint}")


def _attr(obj: h5py.HLObject, key: str, where: str) -> Any:
    """An attribute's value, after checking the size its header declares (``text_bytes``)."""
    attrs = obj.attrs  # a new manager at each access of .attrs
    try:
        aid = attrs.get_id(key)
    except KeyError:
        raise FileFormatError(f"{where} has no {key!r} attribute") from None
    declared = math.prod(aid.shape or ()) * max(aid.dtype.itemsize, 1)
    if declared > limits.get("text_bytes"):  # the message only for a refusal: files hold hundreds
        limits.check("text_bytes", declared, f"{where}: attribute {key!r} declares {declared:,.0f} bytes")
    return attrs[key]


def _text(value: Any, key: str, where: str) -> str:
    """Attribute text as str: bytes decoded, str checked to be valid UTF-8 (h5py escapes bad bytes)."""
    try:
        if isinstance(value, bytes):
            return value.decode("utf-8")
        value.encode("utf-8")
        return value
    except UnicodeError:
        raise FileFormatError(f"{where}: attribute {key!r} is not valid UTF-8 text") from None


def text_attr(obj: h5py.HLObject, key: str, where: str) -> str:
    """A string attribute, whether stored as bytes or str."""
    value = _attr(obj, key, where)
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value[()]
    if isinstance(value, (bytes, str)):
        return _text(value, key, where)
    raise FileFormatError(f"{where}: attribute {key!r} is not text")


def names_attr(obj: h5py.HLObject, key: str, where: str) -> list[str]:
    """A list-of-strings attribute, whether stored as bytes or str."""
    value = np.asarray(_attr(obj, key, where))
    if value.size == 0:  # h5py stores an empty list as an empty float array
        return []
    if value.ndim > 1 or value.dtype.kind not in "SUO":
        raise FileFormatError(f"{where}: attribute {key!r} is not a list of names")
    return [_text(v if isinstance(v, bytes) else str(v), key, where) for v in value.reshape(-1)]


def _read_net(f: h5py.File, path: str) -> Net:
    fmt = f.attrs.get("format")
    fmt = fmt.decode() if isinstance(fmt, bytes) else fmt
    if fmt != FORMAT:
        raise FileFormatError("not a strata-net file (no format=\"strata-net\" attribute); "
                              "convert models from other frameworks with 'main.py convert'")
    version = f.attrs.get("format_version")
    if not isinstance(version, (int, np.integer)):
        raise FileFormatError("format_version is missing or not a number")
    if version > FORMAT_VERSION:
        raise FileFormatError(f"written in format version {version}, newer than this Strata "
                              f"reads ({FORMAT_VERSION}); update Strata")
    order = names_attr(f, "layer_order", "the file")
    group = safe_member(f, "layers", path, h5py.Group)
    stored = set(group.keys())
    keys = {group_key(n): n for n in order}
    if len(set(order)) != len(order):
        raise FileFormatError("layer_order names a layer twice")
    if set(keys) != stored:
        missing = sorted(keys[k] for k in set(keys) - stored)
        extra = sorted(stored - set(keys))
        raise FileFormatError(f"layer_order does not match the stored layers "
                              f"(missing: {missing or 'none'}, not listed: {extra or 'none'})")
    file_size = os.path.getsize(path)
    built: dict[str, Layer] = {}
    shared: dict = {}
    for name in order:
        g = safe_member(group, group_key(name), path, h5py.Group)
        built[name] = _read_layer(g, name, built, order, file_size, path, shared)
    name = text_attr(f, "name", "the file") if "name" in f.attrs else os.path.splitext(os.path.basename(path))[0]
    source = text_attr(f, "source", "the file") if "source" in f.attrs else ""
    net = Net([built[n] for n in order], name=name, source=source)
    net.check()
    return net


def _read_layer(g: h5py.Group, name: str, built: Mapping[str, Layer], order: list[str],
                file_size: int, path: str, shared: dict) -> Layer:
    where = f"layer {name!r}"
    kind = text_attr(g, "kind", where)
    cls = layer_class(kind)
    try:
        config = json.loads(text_attr(g, "config", where))
    except json.JSONDecodeError as exc:
        raise FileFormatError(f"{where}: config is not valid JSON ({exc})") from None
    if not isinstance(config, dict):
        raise FileFormatError(f"{where}: config is not a JSON object")
    prev_names = names_attr(g, "prev", where)
    prevs = []
    for p in prev_names:
        if p in built:
            prevs.append(built[p])
        elif p in order:
            raise FileFormatError(f"{where} reads from {p!r}, which comes after it in layer_order "
                                  "(the layers form a cycle or are out of order)")
        else:
            raise FileFormatError(f"{where} reads from {p!r}, which is not a layer of this net")
    params = {key: read_array(g, key, path, file_size, shared) for key in g.keys()}
    if not prevs:
        prev: Any = None
    elif len(prevs) == 1 and not cls.is_merge:
        prev = prevs[0]
    else:
        prev = tuple(prevs)
    layer = cls.from_parts(prev, name, config, params)
    _ = layer.output_shape  # shapes must fit the config and the layers before
    return layer


def safe_member(parent: h5py.Group, key: str, path: str, expect: type) -> Any:
    """Get ``parent[key]``, refusing soft and external links and the wrong object type."""
    link = parent.get(key, getlink=True)
    if link is None:
        raise FileFormatError(f"{parent.name.rstrip('/')}/{key} is missing")
    if isinstance(link, (h5py.SoftLink, h5py.ExternalLink)):
        kind = "an external" if isinstance(link, h5py.ExternalLink) else "a soft"
        raise FileFormatError(f"{parent.name.rstrip('/')}/{key} is {kind} link; "
                              "links are refused")
    obj = parent[key]
    if not isinstance(obj, expect):
        raise FileFormatError(f"{obj.name} is not a{' group' if expect is h5py.Group else ' dataset'}")
    return obj


def check_dataset(ds: h5py.Dataset, file_size: int) -> None:
    """Refuse virtual and external datasets, non-numeric data and shape bombs."""
    if ds.is_virtual:
        raise FileFormatError(f"{ds.name} is a virtual dataset; those are refused")
    if ds.external:
        raise FileFormatError(f"{ds.name} keeps its data in an external file; those are refused")
    if ds.dtype.kind not in "fiub":
        raise FileFormatError(f"{ds.name} holds {ds.dtype}, not numbers")
    declared = int(np.prod(ds.shape, dtype=np.float64) * ds.dtype.itemsize)
    if declared > MAX_EXPANSION * file_size + (1 << 20):
        raise FileFormatError(f"{ds.name} declares shape {ds.shape} ({declared:,} bytes) in a "
                              f"file of {file_size:,} bytes: refused as a shape bomb")


def read_array(g: h5py.Group, key: str, path: str, file_size: int, shared: dict | None = None) -> np.ndarray:
    """Read one parameter dataset after the safety checks.

    ``shared`` maps datasets already read to their arrays: a dataset that
    several layers link to is read once and shared (never one read per link).
    """
    ds = safe_member(g, key, path, h5py.Dataset)
    if shared is not None and ds.id in shared:
        return shared[ds.id]
    check_dataset(ds, file_size)
    value = ds[()]
    if shared is not None:
        shared[ds.id] = value
    return value
