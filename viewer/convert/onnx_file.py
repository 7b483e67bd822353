"""Read an ONNX file and the weights kept beside it (``external_data``, e.g.
PyTorch's ``model.onnx.data``), which are read only from inside the model's own folder.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from viewer.errors import ConversionError, file_error


def onnx_package() -> Any:
    """The ``onnx`` module, or a ConversionError saying how to install it."""
    try:
        import onnx
    except ImportError:  # pragma: no cover - onnx is a dev/converter requirement
        raise ConversionError("converting ONNX needs the 'onnx' package (pip install onnx)") from None
    return onnx


def load_model(path: str) -> Any:
    """Read an ONNX file and its external weights, which must sit inside its folder."""
    onnx = onnx_package()
    if not os.path.isfile(path):
        raise file_error(path, "no such file")
    if os.path.getsize(path) == 0:
        raise file_error(path, "empty file")
    try:
        model = onnx.load(path, load_external_data=False)
    except Exception as exc:  # protobuf reports damage as several exception types
        raise file_error(path, "not an ONNX model, or a truncated or damaged one (protobuf "
                               f"cannot parse it: {type(exc).__name__})") from None
    if not model.graph.node or model.ir_version <= 0:
        raise file_error(path, "not an ONNX model (no graph)")
    folder = os.path.realpath(os.path.dirname(os.path.abspath(path)))
    for tensor in _all_tensors(model):
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            _read_external(onnx, tensor, folder, path)
    return model


def _all_tensors(model: Any) -> list:
    tensors = list(model.graph.initializer)
    for node in model.graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                tensors.append(attr.t)
    return tensors


def _read_external(onnx: Any, tensor: Any, folder: str, path: str) -> None:
    info = {e.key: e.value for e in tensor.external_data}
    location = info.get("location", "")
    where = f"tensor {tensor.name!r}'s external data {location!r}"
    if "\x00" in location:  # no file name holds one; os.path raises on it
        raise file_error(path, f"{where} is not a file name (it holds a NUL character); refused")
    full = os.path.realpath(os.path.join(folder, location))
    if not location or os.path.isabs(location) or os.path.commonpath([full, folder]) != folder:
        raise file_error(path, f"{where} points outside the model's folder; refused")
    if not os.path.isfile(full):
        raise file_error(path, f"{where} is missing")
    itemsize = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(tensor.data_type)).itemsize
    need = int(np.prod(tensor.dims, dtype=np.float64)) * itemsize
    offset = _whole_number(info.get("offset", "0"), "offset", where, path)
    length = _whole_number(info.get("length", str(need)), "length", where, path)
    if length != need or offset < 0 or offset + length > os.path.getsize(full):
        raise file_error(path, f"{where}: {length:,} bytes at {offset:,} do not hold shape "
                               f"{list(tensor.dims)} in a file of {os.path.getsize(full):,} bytes")
    with open(full, "rb") as fh:
        fh.seek(offset)
        tensor.raw_data = fh.read(length)
    del tensor.external_data[:]
    tensor.data_location = onnx.TensorProto.DEFAULT


def _whole_number(text: str, key: str, where: str, path: str) -> int:
    """An external_data offset or length: decimal digits only."""
    if not (text.isascii() and text.isdigit()):
        raise file_error(path, f"{where}: {key} {text[:40]!r} is not a whole number of bytes")
    return int(text)
