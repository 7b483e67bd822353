"""Mutations: byte-level damage for any file, structural edits per reader.

Every mutation takes a ``random.Random`` and the case's file paths (the
first is the one read), edits the files in place and returns a short
description, so a case is reproducible from (seed, index) alone.
"""

from __future__ import annotations

import io
import json
import os
import random
import struct
import zipfile
import zlib
from typing import Callable

import numpy as np

from fuzz.mutate_pt2 import pt2_structure
from fuzz.mutate_theano import pickle_structure, weights_structure
from fuzz.zips import patch_zip_headers, read_zip, rewrite_zip, zip_bomb

INTERESTING = [0, 1, 0x7F, 0x80, 0xFF, 0xFE, 0x40, 0x20]
WRONG_VALUES = [True, False, None, "", "x" * 40, -1, 0, 1 << 40, -(1 << 31), 1.5e300, float("nan"),
                [], [True], [[]], {}, {"class_name": 7}, "channels_sideways", 750_000_000, [1 << 30, 1 << 30]]


# ---- byte level ---------------------------------------------------------------------------------

def _bytes(path: str) -> bytearray:
    with open(path, "rb") as fh:
        return bytearray(fh.read())


def _put(path: str, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)


def _where(rng: random.Random, size: int) -> int:
    """An offset, half the time in the first 4 KB where headers live."""
    if size <= 1:
        return 0
    return rng.randrange(min(size, 4096)) if rng.random() < 0.5 else rng.randrange(size)


def flip_bits(rng: random.Random, paths: list[str]) -> str:
    data = _bytes(paths[0])
    n = rng.choice([1, 1, 2, 4, 16])
    for _ in range(n):
        i = _where(rng, len(data))
        data[i] ^= 1 << rng.randrange(8)
    _put(paths[0], data)
    return f"flip {n} bits"


def overwrite(rng: random.Random, paths: list[str]) -> str:
    data = _bytes(paths[0])
    i = _where(rng, len(data))
    n = rng.choice([1, 2, 4, 8, 64])
    value = bytes(rng.choice(INTERESTING) if rng.random() < 0.5 else rng.randrange(256) for _ in range(n))
    data[i:i + n] = value[:max(0, len(data) - i)]
    _put(paths[0], data)
    return f"overwrite {n} bytes at {i}"


def truncate(rng: random.Random, paths: list[str]) -> str:
    data = _bytes(paths[0])
    n = rng.randrange(len(data)) if rng.random() < 0.7 else _where(rng, len(data))
    _put(paths[0], data[:n])
    return f"truncate to {n}"


def zero_range(rng: random.Random, paths: list[str]) -> str:
    data = _bytes(paths[0])
    i = _where(rng, len(data))
    n = rng.choice([16, 256, 4096])
    data[i:i + n] = bytes(len(data[i:i + n]))
    _put(paths[0], data)
    return f"zero {n} at {i}"


def insert(rng: random.Random, paths: list[str]) -> str:
    data = _bytes(paths[0])
    i = _where(rng, len(data))
    n = rng.choice([1, 7, 64, 1000])
    data[i:i] = bytes(rng.randrange(256) for _ in range(n))
    _put(paths[0], data)
    return f"insert {n} at {i}"


def duplicate(rng: random.Random, paths: list[str]) -> str:
    data = _bytes(paths[0])
    i, j = sorted(rng.randrange(len(data)) for _ in range(2))
    j = min(j, i + 4096)
    k = rng.randrange(len(data))
    data[k:k] = data[i:j]
    _put(paths[0], data)
    return f"duplicate {i}:{j} at {k}"


BYTE_MUTATIONS = [flip_bits, overwrite, truncate, zero_range, insert, duplicate]


# ---- JSON ---------------------------------------------------------------------------------------

def mutate_json(rng: random.Random, value, depth: int = 0):
    """A copy of a JSON value with one element replaced, deleted or made deep."""
    nodes = []

    def walk(v, parent, key):
        nodes.append((parent, key, v))
        if isinstance(v, dict):
            for k, x in v.items():
                walk(x, v, k)
        elif isinstance(v, list):
            for k, x in enumerate(v):
                walk(x, v, k)

    value = json.loads(json.dumps(value))
    walk(value, None, None)
    parent, key, old = rng.choice(nodes)
    roll = rng.random()
    if parent is None:
        return rng.choice(WRONG_VALUES)
    if roll < 0.15 and isinstance(parent, dict):
        del parent[key]
    elif roll < 0.25:
        deep: object = 1
        for _ in range(rng.choice([50, 5000])):
            deep = [deep]
        parent[key] = deep
    elif roll < 0.45 and isinstance(old, (int, float)) and not isinstance(old, bool):
        parent[key] = rng.choice([old * 100_000, -old, 0, -1, old + 1, 1 << 31])
    else:
        parent[key] = rng.choice(WRONG_VALUES)
    return value


def json_text(rng: random.Random, text: str) -> str:
    try:
        value = json.loads(text)
    except ValueError:
        return text[:-1]
    return json.dumps(mutate_json(rng, value), allow_nan=True)


# ---- HDF5 ---------------------------------------------------------------------------------------

def _h5_items(f) -> tuple[list, list]:
    import h5py
    groups, datasets = [f], []

    def visit(name, obj):
        (groups if isinstance(obj, h5py.Group) else datasets).append(obj)

    f.visititems(visit)
    return groups, datasets


def _bomb_dataset(parent, name: str, shape: tuple, dtype, rng: random.Random) -> str:
    """A chunked gzip dataset whose every chunk is the same few bytes of zeros."""
    chunk = (max(1, (1 << 22) // (int(np.prod(shape[1:])) * np.dtype(dtype).itemsize)),) + shape[1:]
    chunk = (min(chunk[0], shape[0]),) + chunk[1:]
    ds = parent.create_dataset(name, shape=shape, dtype=dtype, chunks=chunk, compression="gzip")
    packed = zlib.compress(bytes(int(np.prod(chunk)) * np.dtype(dtype).itemsize), 9)
    for start in range(0, shape[0], chunk[0]):
        ds.id.write_direct_chunk((start,) + (0,) * (len(shape) - 1), packed)
    return f"compressed bomb {name} {shape}"


def h5_structure(rng: random.Random, paths: list[str]) -> str:
    """One structural edit of an HDF5 file with h5py."""
    import h5py
    with h5py.File(paths[0], "r+") as f:
        groups, datasets = _h5_items(f)
        roll = rng.randrange(12)
        attr_owners = [o for o in groups + datasets if len(o.attrs)]
        if roll <= 2 and attr_owners:
            obj = rng.choice(attr_owners)
            key = rng.choice(list(obj.attrs))
            value = obj.attrs[key]
            if isinstance(value, bytes):
                value = value.decode("utf-8", "replace")
            if isinstance(value, str) and value[:1] in "{[":
                obj.attrs[key] = json_text(rng, value)
                return f"json {obj.name}@{key}"
            obj.attrs[key] = rng.choice([np.int64(7), np.array([1.5, 2.0]), "x" * 200_000, b"\xff\xfe",
                                         np.array([], dtype=np.float64), ["a", "a"], True])
            return f"attr {obj.name}@{key}"
        if roll == 3 and datasets:
            ds = rng.choice(datasets)
            full = ds.name
            parent, name = ds.parent, ds.name.rsplit("/", 1)[1]
            shape = (ds.shape or (1,))
            del parent[name]
            big = (rng.choice([1 << 20, 1 << 26, 1 << 31]),) + tuple(shape[1:])
            parent.create_dataset(name, shape=big, dtype=ds.dtype if ds.dtype.kind in "fiu" else "f4",
                                  chunks=True)
            return f"shape bomb {full} {big}"
        if roll == 4 and datasets:
            ds = rng.choice(datasets)
            full = ds.name
            parent, name = ds.parent, ds.name.rsplit("/", 1)[1]
            shape = tuple(ds.shape or (1,))
            dtype = ds.dtype if ds.dtype.kind in "fiu" else np.int64
            n = max(1, int(rng.choice([1.2e9, 3e8]) // (max(1, int(np.prod(shape[1:]))) * np.dtype(dtype).itemsize)))
            del parent[name]
            return _bomb_dataset(parent, name, (n,) + shape[1:], dtype, rng)
        if roll == 5 and datasets:
            ds = rng.choice(datasets)
            full = ds.name
            parent, name = ds.parent, ds.name.rsplit("/", 1)[1]
            del parent[name]
            choice = rng.randrange(4)
            if choice == 0:
                parent[name] = h5py.SoftLink("/" + rng.choice(["layers", "nowhere", "samples"]))
            elif choice == 1:
                parent[name] = h5py.ExternalLink("/etc/hostname", "/")
            elif choice == 2:
                parent.create_dataset(name, data=["x" * rng.choice([10, 200_000])] * 3, dtype=h5py.string_dtype())
            else:
                parent.create_dataset(name, data=np.float64(3.0))
            return f"replace {full} ({choice})"
        if roll == 6:
            obj = rng.choice(groups[1:] + datasets or groups)
            if obj is f:
                return "no-op"
            full = obj.name
            del f[full]
            return f"delete {full}"
        if roll == 7 and datasets:
            ds = rng.choice(datasets)
            full = ds.name
            if ds.dtype.kind in "fiu" and ds.size:
                data = ds[()]
                flat = data.reshape(-1)
                flat[rng.randrange(flat.size)] = rng.choice([-1, 1 << 30, -(1 << 30)] if ds.dtype.kind in "iu"
                                                            else [np.nan, np.inf, -1e38])
                ds[()] = data
                return f"value {full}"
        if roll == 8:
            names = ["x" * rng.choice([300, 200_000]) for _ in range(rng.choice([2, 10]))]
            g = f.require_group("samples") if "samples" in f or rng.random() < 0.5 else f
            if "label_names" in g:
                del g["label_names"]
            g.create_dataset("label_names", data=names, dtype=h5py.string_dtype())
            return f"long label names in {g.name}"
        if roll == 9:
            g = rng.choice(groups)
            target = rng.choice(groups)
            key = f"loop{rng.randrange(100)}"
            if key not in g:
                g[key] = target
            return f"hard link loop {g.name}/{key}"
        if roll == 10 and datasets:
            ds = rng.choice(datasets)
            full = ds.name
            parent, name = ds.parent, ds.name.rsplit("/", 1)[1]
            data = ds[()]
            del parent[name]
            ct = np.dtype([("a", "f4"), ("b", "i2")])
            parent.create_dataset(name, shape=np.shape(data) or (1,), dtype=rng.choice([ct, "c16", "f2", "S4", "?"]))
            return f"dtype {full}"
        if roll == 11 and "samples" in f:
            g = f["samples"]
            if "labels" in g:
                n = g["labels"].shape[0]
                del g["labels"]
                return _bomb_dataset(g, "labels", (max(n, 150_000_000),), np.int64, rng)
    return flip_bits(rng, paths)


# ---- zip (.keras, .npz) -------------------------------------------------------------------------

def npy_header(shape: tuple, dtype: str = "<f8") -> bytes:
    text = "{'descr': '%s', 'fortran_order': False, 'shape': %r, }" % (dtype, shape)
    text = text.ljust(118) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text.encode()


def keras_zip_structure(rng: random.Random, paths: list[str]) -> str:
    roll = rng.randrange(7)
    if roll == 0:
        return patch_zip_headers(paths[0], "method", rng)
    if roll == 1:
        return patch_zip_headers(paths[0], "flag", rng)
    members = read_zip(paths[0])
    if roll == 2:
        zip_bomb(paths[0], "config.json", b"{\"a\": \"", 1 << 30 if rng.random() < 0.5 else 60 << 20)
        return "config.json bomb"
    if roll in (3, 4):
        key = "config.json" if roll == 3 or "metadata.json" not in members else "metadata.json"
        members[key] = json_text(rng, members[key].decode()).encode()
        rewrite_zip(paths[0], members)
        return f"json {key}"
    if roll == 5 and "model.weights.h5" in members:
        inner = paths[0] + ".inner.h5"
        _put(inner, members["model.weights.h5"])
        what = h5_structure(rng, [inner]) if rng.random() < 0.6 else rng.choice(BYTE_MUTATIONS)(rng, [inner])
        members["model.weights.h5"] = _bytes(inner)
        os.remove(inner)
        rewrite_zip(paths[0], members, rng.choice([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]))
        return f"weights.h5: {what}"
    zip_bomb(paths[0], "model.weights.h5", b"\x89HDF\r\n\x1a\n", 1 << 30)
    return "weights bomb"


def npz_structure(rng: random.Random, paths: list[str]) -> str:
    roll = rng.randrange(8)
    if roll == 0:
        return patch_zip_headers(paths[0], "method", rng)
    if roll == 1:
        return patch_zip_headers(paths[0], "flag", rng)
    if roll == 2:
        size = rng.choice([1 << 30, 1 << 31])
        n = size // (8 * 8 * 8)
        zip_bomb(paths[0], "X.npy", npy_header((n, 1, 8, 8)), size)
        return f"X.npy bomb {size}"
    if roll == 3:
        n = 150_000_000
        zip_bomb(paths[0], "labels.npy", npy_header((n,), "<i8"), n * 8)
        return "labels.npy bomb"
    members = read_zip(paths[0])
    name = rng.choice(sorted(members))
    if roll == 4:
        members[name] = npy_mutated_bytes(rng, members[name])
        rewrite_zip(paths[0], members)
        return f"npy header of {name}"
    if roll == 5:
        members["label_names.npy"] = _npy_bytes(np.array(["y" * 200_000] * 10))
        rewrite_zip(paths[0], members)
        return "long label names"
    if roll == 6:
        data = _bytes(paths[0])  # damage the deflate stream of the first member
        i = 30 + data[26] + data[28] + rng.randrange(1, 50)
        data[i] ^= 0xFF
        _put(paths[0], data)
        return f"deflate byte {i}"
    members[name] = _npy_bytes(np.array([{"a": 1}], dtype=object))
    rewrite_zip(paths[0], members)
    return f"object array {name}"


def _npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=True)
    return buf.getvalue()


# ---- .npy ---------------------------------------------------------------------------------------

def npy_mutated_bytes(rng: random.Random, data: bytes) -> bytes:
    """An .npy whose header is edited: shapes, dtypes, lengths, versions."""
    data = bytearray(data)
    if not data.startswith(b"\x93NUMPY"):
        return bytes(data)
    hlen = struct.unpack("<H", data[8:10])[0]
    header = data[10:10 + hlen].decode("latin1")
    body = data[10 + hlen:]
    roll = rng.randrange(8)
    if roll == 0:
        header = header.replace("'shape': (", "'shape': (-" + rng.choice(["1", "5", "99999"]) + ", ")
    elif roll == 1:
        header = header.replace("'shape': (", "'shape': (" + rng.choice(["1<<40, ", "10**12, ", "3000000000, "]))
    elif roll == 2:
        header = rng.choice(["{'descr': <f8", "{]", "not a dict", "{'descr': '|O', 'fortran_order': False, 'shape': (3,), }",
                             "{'descr': 'V8', 'fortran_order': 2, 'shape': (3,), }",
                             "{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': (2,), }",
                             "{'descr': '<f8', 'fortran_order': False, 'shape': (" + "1," * 5000 + "), }"])
    elif roll == 3:  # version 2.0 with a huge declared header length
        return b"\x93NUMPY\x02\x00" + struct.pack("<I", rng.choice([0xFFFFFFF0, 1 << 30, 70000])) + bytes(body[:1000])
    elif roll == 4:
        data[6] = rng.choice([3, 4, 0, 255])
        return bytes(data)
    elif roll == 5:
        header = header.replace("<f8", rng.choice(["<U5", ">i8", "<c16", "|b1", "<M8[s]"]))
        header = header.replace("|u1", rng.choice(["<U5", ">i8", "<c16", "|S3", "<m8"]))
    elif roll == 6:
        header = header.replace("False", "True")
    else:
        body = body[:rng.randrange(len(body) + 1)]
    raw = header.encode("latin1")
    return bytes(data[:8]) + struct.pack("<H", len(raw)) + raw + bytes(body)


def npy_structure(rng: random.Random, paths: list[str]) -> str:
    _put(paths[0], npy_mutated_bytes(rng, bytes(_bytes(paths[0]))))
    return "npy header"


# ---- images -------------------------------------------------------------------------------------

_IMAGE_CACHE: dict[tuple, bytes] = {}


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bomb_png(side: int, channels: int) -> bytes:
    """A black side x side PNG, made a row at a time (never the whole image in memory)."""
    c = zlib.compressobj(9)
    row = bytes(1 + side * channels)  # filter byte 0, then the pixels
    packed = [c.compress(row) for _ in range(side)] + [c.flush()]
    header = struct.pack(">IIBBBBB", side, side, 8, 0 if channels == 1 else 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", b"".join(packed))
            + _png_chunk(b"IEND", b""))


def image_structure(rng: random.Random, paths: list[str]) -> str:
    """A decompression-bomb PNG (whatever the file's name says it is)."""
    side = rng.choice([9500, 13000, 20000])
    channels = rng.choice([1, 3])
    key = (side, channels)
    if key not in _IMAGE_CACHE:
        _IMAGE_CACHE[key] = bomb_png(side, channels)
    _put(paths[0], _IMAGE_CACHE[key])
    return f"bomb png {side}x{side}x{channels}"


# ---- ONNX ---------------------------------------------------------------------------------------

def onnx_structure(rng: random.Random, paths: list[str]) -> str:
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    model = onnx.load(paths[0], load_external_data=False)
    graph = model.graph
    roll = rng.randrange(10)
    nodes = list(graph.node)
    if roll == 0 and nodes:
        node = rng.choice(nodes)
        if node.input:
            node.input[rng.randrange(len(node.input))] = rng.choice(["", "nowhere", node.output[0]])
        what = f"input of {node.op_type}"
    elif roll == 1 and nodes:
        node = rng.choice([n for n in nodes if n.attribute] or nodes)
        if node.attribute:
            attr = rng.choice(list(node.attribute))
            if attr.ints:
                attr.ints[rng.randrange(len(attr.ints))] = rng.choice([0, -1, 1 << 40, -(1 << 40), 100000])
            elif attr.type == onnx.AttributeProto.INT:
                attr.i = rng.choice([0, -1, 1 << 40, 99])
            elif attr.type == onnx.AttributeProto.FLOAT:
                attr.f = rng.choice([float("nan"), float("inf"), -1.0])
            else:
                attr.type = rng.choice([1, 2, 3, 7])
            what = f"attribute {attr.name} of {node.op_type}"
        else:
            node.op_type = rng.choice(["Tile", "Expand", "Upsample", "Resize", "Loop", "Foo", ""])
            what = "op type"
    elif roll == 2 and graph.initializer:
        init = rng.choice(list(graph.initializer))
        if init.dims:
            init.dims[rng.randrange(len(init.dims))] = rng.choice([0, -1, 1 << 33, 1000])
        what = f"dims of {init.name}"
    elif roll in (3, 4):  # external data fields
        ext = [t for t in graph.initializer if t.data_location == TensorProto.EXTERNAL]
        if not ext:
            t = rng.choice(list(graph.initializer))
            t.data_location = TensorProto.EXTERNAL
            del t.external_data[:]
            t.external_data.add(key="location", value=rng.choice(["w.bin", "../../etc/passwd", ""]))
            what = f"external {t.name}"
        else:
            t = rng.choice(ext)
            entry = rng.choice(list(t.external_data))
            entry.value = rng.choice(["abc", "-5", "1e9", "0x10", " 12", "99999999999999999999", "",
                                      "/etc/passwd", "..", "nul\x00l", "١٢"])
            what = f"external {entry.key}={entry.value!r}"
    elif roll == 5:  # fold to a huge broadcast
        n = rng.choice([1 << 16, 40000, 1 << 20])
        op = rng.choice(["Add", "MatMul", "Where", "Mul", "Tile", "Expand", "Concat"])
        a = numpy_helper.from_array(np.ones((n, 1), np.float32), "fz_a")
        b = numpy_helper.from_array(np.ones((1, n), np.float32), "fz_b")
        graph.initializer.extend([a, b])
        if op == "Where":
            c = numpy_helper.from_array(np.ones((n, 1, 1), bool), "fz_c")
            graph.initializer.append(c)
            node = helper.make_node("Where", ["fz_c", "fz_a", "fz_b"], ["fz_out"])
        elif op == "Tile":
            r = numpy_helper.from_array(np.array([n, n], np.int64), "fz_r")
            graph.initializer.append(r)
            node = helper.make_node("Tile", ["fz_a", "fz_r"], ["fz_out"])
        elif op == "Expand":
            r = numpy_helper.from_array(np.array([n, n], np.int64), "fz_r")
            graph.initializer.append(r)
            node = helper.make_node("Expand", ["fz_a", "fz_r"], ["fz_out"])
        elif op == "Concat":
            node = helper.make_node("Concat", ["fz_a"] * 2000, ["fz_out"], axis=0)
        else:
            node = helper.make_node(op, ["fz_a", "fz_b"], ["fz_out"])
        _use(graph, node, helper)
        what = f"fold bomb {op} {n}"
    elif roll == 6:  # many ConstantOfShape nodes, each under a per-constant limit
        count = rng.choice([10, 40])
        for k in range(count):
            shape = numpy_helper.from_array(np.array([1 << 13, 1 << 13], np.int64), f"cs_shape{k}")
            graph.initializer.append(shape)
            node = helper.make_node("ConstantOfShape", [f"cs_shape{k}"], [f"cs_out{k}"])
            _use(graph, node, helper, suffix=str(k))
        what = f"{count} ConstantOfShape"
    elif roll == 7 and graph.input:
        dims = graph.input[0].type.tensor_type.shape.dim
        if dims:
            d = dims[rng.randrange(len(dims))]
            d.dim_value = rng.choice([0, 1 << 40, 100000, 7])
        what = "input dims"
    elif roll == 8:
        model.opset_import[0].version = rng.choice([0, 1, 7, 99, -3])
        what = "opset"
    else:
        for node in rng.sample(nodes, min(len(nodes), 3)):
            node.op_type = rng.choice(["Tile", "Expand", "Reshape", "Gather", "Constant", "If", "Scan"])
        what = "op types"
    onnx.save(model, paths[0])
    return what


def _use(graph, node, helper, suffix: str = "") -> None:
    """Put ``node`` first and feed its output into the first data node by an Add-with-zero."""
    graph.node.insert(0, node)
    out = node.output[0]
    first = next((n for n in graph.node if n is not node and n.input), None)
    if first is None:
        return
    shaped = f"fz_used{suffix}"
    graph.node.insert(1, helper.make_node("Shape", [out], [shaped]))
    graph.output.append(helper.make_tensor_value_info(shaped, 7, None))


# ---- flatbuffers (TFLite) -----------------------------------------------------------------------

def flatbuffer_fields(rng: random.Random, paths: list[str]) -> str:
    """Overwrite aligned 32-bit words (offsets, lengths, indices) with hostile values."""
    data = _bytes(paths[0])
    n = rng.choice([1, 1, 2, 4])
    for _ in range(n):
        i = rng.randrange(max(1, len(data) // 4)) * 4
        value = rng.choice([0, 1, 0x7FFFFFFF, 0xFFFFFFFF, 0x80000000, len(data), len(data) - 4,
                            1 << 20, 0xFFFFFFF0, rng.randrange(1 << 32)])
        data[i:i + 4] = struct.pack("<I", value)[:max(0, len(data) - i)]
    _put(paths[0], data)
    return f"flatbuffer {n} words"


def theano_structure(rng: random.Random, paths: list[str]) -> str:
    """The Lasagne/Theano group's files: converted nets (HDF5), weights (.npz), pickles."""
    if paths[0].endswith(".h5"):
        return h5_structure(rng, paths)
    if paths[0].endswith(".npz"):
        return npz_structure(rng, paths) if rng.random() < 0.5 else weights_structure(rng, paths)
    return pickle_structure(rng, paths)


STRUCTURAL: dict[str, Callable] = {
    "tflite": flatbuffer_fields, "pt2": pt2_structure,
    "net": h5_structure, "keras-h5": h5_structure, "hdf5-samples": h5_structure,
    "keras-zip": keras_zip_structure, "npz": npz_structure, "npy": npy_structure,
    "image": image_structure, "onnx": onnx_structure, "theano": theano_structure,
}


def mutate(rng: random.Random, reader: str, paths: list[str]) -> str:
    """Apply one or two mutations to a case's files; returns what was done."""
    done = []
    damaged = False  # libhdf5 may spin forever opening a byte-damaged file: no structural edit after
    for _ in range(1 if rng.random() < 0.8 else 2):
        if len(paths) > 1 and rng.random() < 0.25:
            done.append("data: " + rng.choice(BYTE_MUTATIONS)(rng, paths[1:]))
            continue
        structural = rng.random() < (0.15 if reader == "image" else 0.55) and not damaged
        damaged |= not structural
        try:
            if structural:
                done.append(STRUCTURAL[reader](rng, paths))
            else:
                done.append(rng.choice(BYTE_MUTATIONS)(rng, paths))
        except Exception as exc:  # an earlier mutation left the file unreadable to the mutator itself
            done.append(f"{'structural' if structural else 'byte'} skipped ({type(exc).__name__})")
            done.append(rng.choice(BYTE_MUTATIONS)(rng, paths))
    return "; ".join(done)
