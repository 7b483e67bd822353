"""The ``.pt2`` archive of ``torch.export.save``, read with zipfile, json and numpy.

The archive is a zip: ``<name>/models/model.json`` holds the serialized
ExportedProgram (graph, signature, tensor metadata) as JSON;
``<name>/data/weights/`` and ``<name>/data/constants/`` hold each tensor's
raw little-endian storage, described by ``model_weights_config.json`` and
``model_constants_config.json``. Nothing is extracted to disk and nothing is
unpickled: a tensor the archive stores as a pickle (``use_pickle``, or the
older archives' ``serialized_state_dict.pt``) is refused by name.

Every member is checked before it is read: names (no absolute paths, no
``..``), declared sizes against budgets and against what the archive holds
compressed (zip bombs), tensor extents against their storage.
"""

from __future__ import annotations

import json
import lzma
import os
import posixpath
import zipfile
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from viewer import limits
from viewer.errors import FileFormatError, file_error
from viewer.limits import LimitExceeded

MAX_JSON_BYTES = 256 << 20
MAX_TENSOR_BYTES = 4 << 30
MAX_TOTAL_BYTES = 8 << 30
# Uncompressed / compressed size beyond which a member is a zip bomb: torch.export.save
# stores members uncompressed, and deflate cannot pass about 1000.
MAX_RATIO = 200
# ScalarType of torch's export schema -> numpy dtype
DTYPES = {1: np.uint8, 2: np.int8, 3: np.int16, 4: np.int32, 5: np.int64, 6: np.float16, 7: np.float32,
          8: np.float64, 12: np.bool_}
DTYPE_NAMES = {9: "complex32", 10: "complex64", 11: "complex128"}
BFLOAT16 = 13  # read as its 16 bits, widened to float32 (its upper half): Strata computes in float32


@dataclass
class Archive:
    """What a ``.pt2`` holds, ready for the graph converter.

    Attributes
    ----------
    program : dict
        The ExportedProgram JSON (``graph_module``, ``schema_version``, ...).
    tensors : dict
        Fully qualified name (``layer1.0.conv1.weight``) -> ndarray, for
        parameters, buffers and tensor constants.
    widened : list of str
        The tensors stored as bfloat16, given here as float32.
    """

    program: dict
    tensors: dict
    widened: list = field(default_factory=list)


def read_archive(path: str | os.PathLike) -> Archive:
    """Open and check a ``.pt2`` archive; read its program and tensors.

    Raises
    ------
    FileFormatError
        Not a torch.export archive, a damaged or hostile one, or one that
        needs unpickling; one line naming the file and the member.
    """
    path = os.fspath(path)
    try:
        with zipfile.ZipFile(path) as z:
            return _read(path, z)
    except (KeyError, TypeError, AttributeError, IndexError, StopIteration) as exc:
        raise refuse(path, f"unexpected structure ({type(exc).__name__}: {exc})") from None
    except zipfile.BadZipFile as exc:
        raise file_error(path, f"not a readable zip archive ({exc})") from None
    except (OSError, EOFError, ValueError, zipfile.LargeZipFile, NotImplementedError, RuntimeError,
            zlib.error, lzma.LZMAError) as exc:
        # ValueError covers member names that are not UTF-8 and damaged compressed data;
        # zlib and lzma raise their own errors for a damaged deflate or LZMA stream
        raise file_error(path, f"cannot read the archive ({type(exc).__name__}: {exc})") from None


def _read(path: str, z: zipfile.ZipFile) -> Archive:
    infos = {}
    total = 0
    for info in z.infolist():
        name = info.filename
        parts = name.split("/")
        if name.startswith("/") or "\\" in name or ".." in parts or (len(name) > 1 and name[1] == ":"):
            raise file_error(path, f"member {name!r} points outside the archive (path traversal)")
        if info.file_size > max(info.compress_size, 1) * MAX_RATIO and info.file_size > 1 << 20:
            raise file_error(path, f"member {name!r} claims {info.file_size:,} bytes from "
                                   f"{info.compress_size:,} compressed: a zip bomb")
        total += info.file_size
        infos[name] = info
    if total > MAX_TOTAL_BYTES:
        raise file_error(path, f"the archive unpacks to {total:,} bytes, more than Strata reads "
                               f"({MAX_TOTAL_BYTES:,})")
    prefix = _prefix(path, infos)
    models = sorted(n for n in infos if n.startswith(prefix + "models/") and n.endswith(".json"))
    if not models:
        raise file_error(path, f"no {prefix}models/*.json (the serialized program) in the archive")
    program = _json(path, z, infos[models[0]])
    if not isinstance(program, dict) or not isinstance(program.get("graph_module"), dict):
        raise file_error(path, f"{models[0]} is not a serialized ExportedProgram")
    byteorder = infos.get(prefix + "byteorder")
    if byteorder is not None and _bytes(path, z, byteorder, 64).strip() not in (b"little", b""):
        raise file_error(path, "tensors stored big-endian are not supported")
    tensors: dict[str, np.ndarray] = {}
    widened: list[str] = []
    for folder, config in (("weights", "model_weights_config.json"), ("constants", "model_constants_config.json")):
        member = infos.get(f"{prefix}data/{folder}/{config}")
        if member is None:
            continue
        entries = _json(path, z, member)
        entries = entries.get("config", {}) if isinstance(entries, dict) else None
        if not isinstance(entries, dict):
            raise file_error(path, f"{member.filename} is not a tensor table")
        for fqn, entry in entries.items():
            tensors[fqn] = _tensor(path, z, infos, f"{prefix}data/{folder}/", fqn, entry)
            if entry.get("tensor_meta", {}).get("dtype") == BFLOAT16:
                widened.append(fqn)
    return Archive(program, tensors, widened)


def _prefix(path: str, infos: dict) -> str:
    """The folder every member sits in (the archive's name), with a trailing '/'."""
    for name in infos:
        if name.split("/")[-1] == "archive_format":
            return name[:-len("archive_format")]
    old = [n for n in infos if n.endswith("serialized_exported_program.json")]
    if old:
        raise file_error(path, "an older torch.export archive whose weights are a pickle "
                               "(serialized_state_dict.pt), which Strata never loads; save it "
                               "again with torch 2.6 or newer")
    raise file_error(path, "no archive_format member: not a torch.export .pt2 archive")


def _bytes(path: str, z: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    if info.file_size > limit:
        raise file_error(path, f"member {info.filename!r} is {info.file_size:,} bytes, more than "
                               f"Strata reads ({limit:,})")
    with z.open(info) as fh:
        data = fh.read(limit + 1)
    if len(data) != info.file_size:
        raise file_error(path, f"member {info.filename!r} holds {len(data):,} bytes, "
                               f"not the {info.file_size:,} it declares")
    return data


def _json(path: str, z: zipfile.ZipFile, info: zipfile.ZipInfo) -> Any:
    try:
        return json.loads(_bytes(path, z, info, MAX_JSON_BYTES))
    except (ValueError, RecursionError) as exc:
        raise file_error(path, f"{info.filename} is not valid JSON ({exc})") from None


def _ints(values: Any, what: str, path: str) -> list[int]:
    """``[{"as_int": n}, ...]`` (the schema's SymInt list) as ints; symbolic sizes are refused."""
    if not isinstance(values, list):
        raise file_error(path, f"{what} is not a list")
    out = []
    for v in values:
        n = v.get("as_int") if isinstance(v, dict) else None
        if not isinstance(n, int) or isinstance(n, bool):
            raise file_error(path, f"{what} holds {v!r}, not a stored size")
        out.append(n)
    return out


def _tensor(path: str, z: zipfile.ZipFile, infos: dict, folder: str, fqn: str, entry: Any) -> np.ndarray:
    if not isinstance(entry, dict):
        raise file_error(path, f"tensor {fqn!r}: bad table entry")
    if entry.get("use_pickle"):
        raise file_error(path, f"tensor {fqn!r} is stored as a pickle, which Strata never loads")
    meta = entry.get("tensor_meta")
    name = entry.get("path_name")
    if not isinstance(meta, dict) or not isinstance(name, str):
        raise file_error(path, f"tensor {fqn!r}: no path_name or tensor_meta")
    code = meta.get("dtype")
    if code == BFLOAT16:
        bits = _tensor(path, z, infos, folder, fqn, {**entry, "tensor_meta": {**meta, "dtype": 3}})
        return (bits.astype(np.uint16).astype(np.uint32) << 16).view(np.float32)
    if not isinstance(code, int) or code not in DTYPES:
        raise file_error(path, f"tensor {fqn!r} has dtype {DTYPE_NAMES.get(code, code)}, which Strata "
                               "does not compute with")
    dtype = np.dtype(DTYPES[code]).newbyteorder("<")
    sizes = _ints(meta.get("sizes"), f"tensor {fqn!r} sizes", path)
    strides = _ints(meta.get("strides"), f"tensor {fqn!r} strides", path)
    offset = meta.get("storage_offset", {"as_int": 0})
    offset = _ints([offset], f"tensor {fqn!r} storage offset", path)[0]
    if len(strides) != len(sizes) or min(sizes + strides + [offset], default=0) < 0:
        raise file_error(path, f"tensor {fqn!r}: sizes {sizes}, strides {strides} do not fit")
    count = int(np.prod(sizes, dtype=np.float64))
    if count * dtype.itemsize > MAX_TENSOR_BYTES:
        raise file_error(path, f"tensor {fqn!r} declares shape {sizes} ({count * dtype.itemsize:,.0f} "
                               f"bytes), more than Strata reads ({MAX_TENSOR_BYTES:,})")
    member = infos.get(posixpath.join(folder, name))
    if member is None:
        raise file_error(path, f"tensor {fqn!r}: no member {folder}{name}")
    needed = 0 if count == 0 else (offset + sum((s - 1) * st for s, st in zip(sizes, strides)) + 1)
    if needed * dtype.itemsize > member.file_size:
        raise file_error(path, f"tensor {fqn!r} of shape {sizes} needs {needed * dtype.itemsize:,} bytes; "
                               f"its storage {member.filename} holds {member.file_size:,}")
    wanted = count * dtype.itemsize
    if wanted > limits.RATIO_FLOOR:  # zero strides make a view far larger than its storage, like a zip bomb
        ratio = wanted / max(member.file_size, 1)
        try:
            limits.check("unpack_ratio", ratio, f"tensor {fqn!r} of shape {sizes} spreads "
                                                f"{member.file_size:,} stored bytes over {wanted:,} "
                                                f"(strides {strides}, {ratio:.0f} times)")
        except LimitExceeded as exc:
            raise file_error(path, str(exc)) from None
    storage = np.frombuffer(_bytes(path, z, member, MAX_TENSOR_BYTES), dtype,
                            member.file_size // dtype.itemsize)
    view = np.lib.stride_tricks.as_strided(storage[offset:], shape=sizes,
                                           strides=[s * dtype.itemsize for s in strides], writeable=False)
    return np.ascontiguousarray(view).astype(dtype.newbyteorder("="), copy=False)


def refuse(path: str, problem: str) -> FileFormatError:
    """The error for a program JSON that does not say what the schema says it should."""
    return file_error(path, f"damaged torch.export program: {problem}")
