"""Samples in numpy files: .npy (memory-mapped) and .npz (read per member).

Pickles are never allowed: object arrays are refused before any data is read,
with the message ``"<file>: holds Python objects (a pickled object array);
Strata never loads pickles"``.

A .npy file is memory-mapped read-only, so showing sample 5 reads sample 5
only, and several threads may read it at once. An .npz file is a zip archive
whose members cannot be memory-mapped: the samples member is read whole on
first use (a huge .npz costs its full size in memory; convert it to .npy or
HDF5 to read it lazily). Shapes are taken from the member headers, so opening
the file reads no data. A lock makes sure two threads read a member once.
"""

from __future__ import annotations

import math
import os
import struct
import threading
import tokenize
import zipfile
import zlib
from typing import IO, Mapping

import numpy as np

from viewer import limits
from viewer.data.samples import SampleSet, labels_array
from viewer.errors import SampleError, StrataError

# What numpy's header parser, zipfile and zlib raise on damaged bytes (zipfile:
# NotImplementedError for an unknown compression method, RuntimeError when encrypted).
DAMAGE = (OSError, ValueError, SyntaxError, tokenize.TokenError, OverflowError, TypeError,
          RuntimeError, NotImplementedError, EOFError, KeyError, zipfile.BadZipFile, zlib.error)


def _pickle_error(path: str) -> SampleError:
    return SampleError(f"{path}: holds Python objects (a pickled object array); "
                       f"Strata never loads pickles")


def _header(fp: IO[bytes], path: str) -> tuple[tuple, np.dtype, int]:
    """Read a .npy header: (shape, dtype, header length in bytes)."""
    fmt = np.lib.format
    try:
        start = fp.tell()
        version = fmt.read_magic(fp)
        if version not in ((1, 0), (2, 0)):  # 3.0 only differs for non-Latin-1 field names
            raise ValueError(f"unsupported .npy format version {version}")
        size_field = fp.read(2 if version == (1, 0) else 4)
        declared = struct.unpack("<H" if version == (1, 0) else "<I", size_field)[0]
        limits.check("header_bytes", declared, f"the .npy header declares {declared:,} bytes")
        fp.seek(start)
        fmt.read_magic(fp)
        read = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
        shape, _, dtype = read(fp, max_header_size=_header_limit())
    except StrataError as exc:
        raise SampleError(f"{path}: {exc}") from None
    except (*DAMAGE, struct.error) as exc:
        raise SampleError(f"{path}: not a numpy .npy array ({type(exc).__name__}: {exc})") from None
    if dtype.hasobject:
        raise _pickle_error(path)
    if not all(isinstance(d, int) and d >= 0 for d in shape):
        raise SampleError(f"{path}: not a numpy .npy array (its header's shape {shape} has "
                          f"negative sizes)")
    return tuple(shape), dtype, fp.tell()


def _header_limit() -> int:
    """numpy's max_header_size: the header_bytes limit, checked with its own message first."""
    return int(limits.get("header_bytes")) + 1


def _check_numeric(shape: tuple, dtype: np.dtype, path: str, what: str) -> None:
    if dtype.kind not in "biuf":
        raise SampleError(f"{path}: {what} holds {dtype} data; samples must be numbers")
    if len(shape) == 0:
        raise SampleError(f"{path}: {what} is a single number, not an array of samples")


class NpyReader:
    """Rows of a read-only memory-mapped .npy file."""

    def __init__(self, path: str) -> None:
        with open(path, "rb") as fp:
            shape, dtype, offset = _header(fp, path)
        _check_numeric(shape, dtype, path, "the array")
        if offset + math.prod(shape) * dtype.itemsize > os.path.getsize(path):
            raise SampleError(f"{path}: the file is shorter than its header's shape "
                              f"{shape} {dtype} says; it is truncated or hostile")
        self.path, self.shape, self.dtype = path, shape, dtype
        # mmap cannot map zero bytes; an empty array still says "no samples" later
        try:
            self._array = (np.load(path, mmap_mode="r", allow_pickle=False, max_header_size=_header_limit()) if math.prod(shape)
                           else np.empty(shape, dtype))
        except DAMAGE as exc:
            raise SampleError(f"{path}: cannot be read ({type(exc).__name__}: {exc})") from None

    def read(self, rows: np.ndarray) -> np.ndarray:
        """Rows (sorted, unique) -> array (len(rows), *sample_shape), copied out of the map."""
        return np.asarray(self._array[rows])


class NpzFile:
    """An .npz archive: member shapes from the headers, data on first use."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._cache: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()
        self.members: dict[str, tuple[tuple, np.dtype]] = {}
        try:
            with zipfile.ZipFile(path) as zf:
                for info in zf.infolist():
                    if not info.filename.endswith(".npy"):
                        continue
                    try:
                        limits.check_unpack(info.file_size, info.compress_size,
                                            f"member {info.filename}")
                    except StrataError as exc:
                        raise SampleError(f"{path}: {exc}") from None
                    with zf.open(info) as fp:
                        shape, dtype, offset = _header(fp, path)
                    # A small member must not declare a huge array: numpy
                    # would allocate the declared size before reading.
                    if offset + math.prod(shape) * dtype.itemsize != info.file_size:
                        raise SampleError(f"{path}: member {info.filename} declares {shape} "
                                          f"{dtype} but stores {info.file_size:,} bytes")
                    self.members[info.filename[:-4]] = (shape, dtype)
        except DAMAGE as exc:
            raise SampleError(f"{path}: not a numpy .npz archive ({type(exc).__name__}: {exc})") from None

    def get(self, name: str) -> np.ndarray:
        """The whole member ``name`` (read once, then kept)."""
        with self._lock:
            if name not in self._cache:
                try:
                    with np.load(self.path, allow_pickle=False, max_header_size=_header_limit()) as npz:
                        self._cache[name] = npz[name]
                except DAMAGE as exc:
                    raise SampleError(f"{self.path}: cannot read member {name} "
                                      f"({type(exc).__name__}: {exc})") from None
            return self._cache[name]

    def names(self) -> str:
        return ", ".join(f"{k} {s}" for k, (s, _) in self.members.items()) or "none"


class NpzReader:
    """Rows of one .npz member; the member is read whole on first use."""

    def __init__(self, npz: NpzFile, name: str) -> None:
        self.path, self._npz, self._name = npz.path, npz, name
        self.shape, self.dtype = npz.members[name]

    def read(self, rows: np.ndarray) -> np.ndarray:
        """Rows (sorted, unique) -> array (len(rows), *sample_shape)."""
        return self._npz.get(self._name)[rows]


def _choose_member(npz: NpzFile) -> str:
    """Default member: X, else x, else the biggest one with >= 2 dimensions."""
    for name in ("X", "x"):
        if name in npz.members:
            return name
    items = {k: math.prod(s) for k, (s, _) in npz.members.items() if len(s) >= 2}
    if not items:
        raise SampleError(f"{npz.path}: no array with 2 or more dimensions to use as "
                          f"samples; members: {npz.names()}")
    best = [k for k, size in items.items() if size == max(items.values())]
    if len(best) > 1:
        raise SampleError(f"{npz.path}: several arrays could be the samples; choose one of "
                          f"{', '.join(best)}")
    return best[0]


def _labels(values: np.ndarray, n: int, what: str, path: str) -> np.ndarray:
    """Check a labels array: shape (n,) or (n, 1) of whole numbers."""
    if not (values.ndim == 1 or (values.ndim == 2 and values.shape[1] == 1)):
        raise SampleError(f"{path}: labels {what} have shape {values.shape}; "
                          f"expected one class number per sample")
    if values.shape[0] != n:
        raise SampleError(f"{path}: there are {values.shape[0]} labels in {what} for {n} samples")
    return labels_array(values.reshape(-1), what, path)


def open_npy(path: str, *, labels: str | None = None, layout: str | None = None,
             preprocess: Mapping | None = None) -> SampleSet:
    """Samples from a .npy file of shape (N, *sample_shape).

    ``labels`` is the path of another .npy file holding (N,) whole numbers.
    """
    reader = NpyReader(path)
    label_values = None
    if labels is not None:
        labels = os.fspath(labels)
        if not os.path.isfile(labels):
            raise SampleError(f"{labels}: no such file")
        NpyReader(labels)  # header checks: no pickles, not truncated
        try:
            values = np.load(labels, allow_pickle=False, max_header_size=_header_limit())
        except DAMAGE as exc:
            raise SampleError(f"{labels}: cannot be read ({type(exc).__name__}: {exc})") from None
        label_values = _labels(values, reader.shape[0], os.path.basename(labels), path)
    return SampleSet(reader, source=path, layout=layout, preprocess=preprocess,
                     labels=label_values)


def open_npz(path: str, *, dataset: str | None = None, labels: str | None = None,
             layout: str | None = None, preprocess: Mapping | None = None) -> SampleSet:
    """Samples from one member of an .npz archive.

    Parameters
    ----------
    dataset : str, optional
        Member name, shape (N, *sample_shape). Default: ``X``, ``x``, else the
        only member with the most elements among those with >= 2 dimensions.
    labels : str, optional
        Member with (N,) whole numbers. Default: ``labels`` or ``y`` if
        present with N entries.

    A ``label_names`` member of strings, if present, names the classes.
    """
    npz = NpzFile(path)
    name = dataset if dataset is not None else _choose_member(npz)
    if name not in npz.members:
        raise SampleError(f"{path}: there is no array {name}; members: {npz.names()}")
    reader = NpzReader(npz, name)
    _check_numeric(reader.shape, reader.dtype, path, name)
    n = reader.shape[0]
    label_values = None
    if labels is not None:
        if labels not in npz.members:
            raise SampleError(f"{path}: there is no labels array {labels}; members: {npz.names()}")
        label_values = _labels(npz.get(labels), n, labels, path)
    else:
        for cand in ("labels", "y"):
            shape = npz.members.get(cand, ((),))[0]
            if len(shape) in (1, 2) and shape[0] == n and shape[1:] in ((), (1,)):
                label_values = _labels(npz.get(cand), n, cand, path)
                break
    names = None
    if "label_names" in npz.members:
        values = npz.get("label_names")
        if values.ndim != 1 or values.dtype.kind not in "US":
            raise SampleError(f"{path}: label_names must be a 1-D array of strings")
        names = [limits.short_name(v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v))
                 for v in values.tolist()]
    return SampleSet(reader, source=f"{path}:{name}", layout=layout, preprocess=preprocess,
                     labels=label_values, label_names=names)
