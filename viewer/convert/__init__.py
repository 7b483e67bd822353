"""Convert models from other frameworks into Strata nets.

``net = convert(path_or_object, **options)`` returns a :class:`~viewer.net.Net`
whose every layer computes what the source framework computes for that layer,
in the source's own layout. Sources:

- Keras model files (Keras 1, 2, 3: .h5, .keras), read with h5py alone;
- ONNX files (PyTorch's exporters and others), read with the ``onnx`` package;
- TFLite files (float32 and int8), read with Strata's own FlatBuffers reader;
- torch.export ``.pt2`` archives, read with zipfile, json and numpy (no torch, no pickle);
- Theano/Lasagne objects, converted inside the user's own Theano
  environment (pickles only with ``trust_pickle=True``).

Nothing here imports Qt or matplotlib; heavy or optional imports (onnx,
theano) happen only when that source is converted.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from viewer.convert.formats import FORMATS, check_format, guess_format
from viewer.errors import ConversionError, StrataError

if TYPE_CHECKING:  # importing the package (the CLI's parser does) must not load numpy and h5py
    from viewer.net import Net

__all__ = ["convert", "guess_format", "FORMATS"]


def convert(source: Any, *, source_format: str | None = None, **options: Any) -> Net:
    """Convert a model file or a live model object to a :class:`Net`.

    Parameters
    ----------
    source : str, PathLike or object
        A model file, or an object: an ``onnx.ModelProto``, a Lasagne layer
        (the network's output layer), Theano output variables, or a compiled
        ``theano.function``.
    source_format : str, optional
        One of :data:`FORMATS`; guessed from the file when absent.
    **options
        Passed to the converter: ``keras_backend`` (Keras 1 files),
        ``architecture`` (a ``model.to_json()`` file for a Keras weights file),
        ``trust_pickle`` and ``input_shape`` (Theano/Lasagne).

    Raises
    ------
    FileFormatError
        The file cannot be read as the format.
    ConversionError
        The model cannot be converted; the message names everything unsupported.
    """
    if isinstance(source, (str, os.PathLike)):
        try:
            return _convert_file(source, source_format, options)
        except MemoryError:  # a size in the file no budget foresaw; numpy refused to allocate it
            raise ConversionError(f"{os.fspath(source)}: converting it needs more memory than this "
                                  f"machine has (a size in the file is far too large)") from None
    kind = type(source).__module__.split(".")[0]
    if kind == "onnx":
        from viewer.convert.onnx_model import convert_onnx
        return convert_onnx(source, **options)
    if kind in ("lasagne", "theano") or _is_theano_list(source):
        from viewer.convert.theano_graph import convert_object
        return convert_object(source, **options)
    raise ConversionError(f"cannot convert a {type(source).__name__} object; pass a file path, "
                          "an onnx.ModelProto, a Lasagne layer or Theano variables")


def _convert_file(source: str | os.PathLike, source_format: str | None, options: dict) -> Net:
    """:func:`convert` for a file."""
    fmt = check_format(source_format) if source_format else guess_format(source)
    _check_options(fmt, options)
    if fmt == "keras":
        from viewer.convert.keras_h5 import convert_keras
        return _checked(convert_keras(source, **options), source)
    if fmt == "onnx":
        from viewer.convert.onnx_model import convert_onnx
        return _checked(convert_onnx(source, **options), source)
    if fmt == "tflite":
        from viewer.convert.tflite_model import convert_tflite
        return _checked(convert_tflite(source), source)
    if fmt == "pt2":
        from viewer.convert.pt2_model import convert_pt2
        return _checked(convert_pt2(source), source)
    from viewer.convert.theano_graph import convert_pickle
    return _checked(convert_pickle(source, source_format=fmt, **options), source)


def _checked(net: Net, path: str | os.PathLike) -> Net:
    """The converted net after the size checks of :meth:`Net.check`, errors naming the file."""
    try:
        net.check()
    except StrataError as exc:
        raise type(exc)(f"{os.fspath(path)}: {exc}") from None
    return net


_OPTIONS = {"keras": {"keras_backend", "architecture"}, "onnx": {"inputs"}, "tflite": set(),
            "pt2": set(), "lasagne": {"trust_pickle", "input_shape"}, "theano": {"trust_pickle", "input_shape"}}


def _check_options(fmt: str, options: dict) -> None:
    wrong = sorted(set(options) - _OPTIONS[fmt])
    if wrong:
        raise ConversionError(f"option(s) {', '.join(wrong)} do not apply to {fmt} models")


def _is_theano_list(source: Any) -> bool:
    return isinstance(source, (list, tuple)) and bool(source) and all(
        type(s).__module__.split(".")[0] in ("theano", "lasagne") for s in source)
