"""Samples in HDF5 files: any HDF5 file, and the /samples group of a net file.

Only the rows asked for are read. The file is opened read-only, checked once,
and then reopened for every read (about half a millisecond): nothing stays
open, so the file is never locked while the viewer shows it, and the reader
is thread-safe (h5py serialises all calls with its global lock). If the file
changes on disk after it was checked, reads stop with a SampleError instead of
trusting the new content.

The file is not trusted: soft and external links, external and virtual
datasets, non-numeric data and "shape bombs" (datasets declaring far more data
than the file holds) are refused with a SampleError naming the file.
h5py is imported on first use, so importing viewer.data stays quick.
"""

from __future__ import annotations

import math
import os
from typing import Any, Mapping

import numpy as np

from viewer import limits
from viewer.data.preprocess import parse_preprocess
from viewer.data.samples import SampleSet, labels_array
from viewer.errors import SampleError, StrataError

#: Uncompressed data may declare at most this many times the file size; more
#: can only be unwritten space that reads back as fill values.
BOMB_FACTOR = 64
_LABEL_NAMES = ("labels", "y")
_MAX_LISTED = 12  # candidates named in one error message
_CHECK_BLOCK = 64 << 20  # bytes read at a time when the whole dataset is checked
# What h5py raises on damaged bytes, besides the errors it maps to OSError.
DAMAGE = (OSError, RuntimeError, KeyError, ValueError, TypeError, OverflowError, IndexError)


def _h5py():
    import h5py  # on first use: h5py takes a while to import
    return h5py


def _open(path: str):
    """Open an HDF5 file read-only, or raise SampleError naming it."""
    h5py = _h5py()
    if not os.path.isfile(path):
        raise SampleError(f"{path}: no such file")
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise SampleError(f"{path}: not an HDF5 file, or unreadable ({exc})") from None


def _get(f, name: str, path: str):
    """Follow ``name`` through hard links only; None if any part is missing."""
    h5py = _h5py()
    obj = f
    for part in [p for p in name.split("/") if p]:
        if not isinstance(obj, h5py.Group):
            return None
        link = obj.get(part, getlink=True)
        if link is None:
            return None
        if not isinstance(link, h5py.HardLink):
            raise SampleError(f"{path}: {name} goes through a soft or external link, "
                              f"which Strata does not follow")
        obj = obj[part]
    return obj


def _datasets(f) -> list[tuple[str, tuple]]:
    """Every hard-linked dataset in the file as (path, shape)."""
    h5py = _h5py()
    found = []

    def visit(name, obj):  # visititems skips soft/external links and loops
        if isinstance(obj, h5py.Dataset) and obj.shape is not None:
            found.append(("/" + name, obj.shape))

    f.visititems(visit)
    return found


def _listing(items: list[tuple[str, tuple]]) -> str:
    shown = ", ".join(f"{name} {shape}" for name, shape in items[:_MAX_LISTED])
    more = len(items) - _MAX_LISTED
    return shown + (f" and {more} more" if more > 0 else "") if items else "none"


def _check_dataset(ds, name: str, path: str, *, numeric: bool = True) -> None:
    """Refuse datasets that point outside the file or declare a shape bomb."""
    if ds.is_virtual or ds.external:
        raise SampleError(f"{path}: {name} is a virtual or external dataset "
                          f"(its data lives in other files); Strata refuses those")
    if ds.shape is None or ds.ndim == 0:
        raise SampleError(f"{path}: {name} is a scalar or empty, not an array of samples")
    if numeric and ds.dtype.kind not in "biuf":
        raise SampleError(f"{path}: {name} holds {ds.dtype} data; samples must be numbers")
    declared = math.prod(ds.shape) * ds.dtype.itemsize
    file_size = max(os.path.getsize(path), 1)
    if declared <= BOMB_FACTOR * file_size:
        return
    if ds.chunks is not None:
        # Compressed chunks may legitimately hold much more than the file
        # size, within the unpack_ratio budget; what cannot be real is chunks
        # that were never written.
        total = math.prod(-(-s // c) for s, c in zip(ds.shape, ds.chunks))
        if ds.id.get_num_chunks() >= total:
            try:
                limits.check_unpack(declared, ds.id.get_storage_size(), name)
            except StrataError as exc:
                raise SampleError(f"{path}: {exc}") from None
            return
    raise SampleError(f"{path}: {name} declares {ds.shape} {ds.dtype} ({declared:,} bytes) "
                      f"but the file holds only {file_size:,} bytes; refusing it")


class HDF5Reader:
    """Rows of one dataset, reopening the file for every read.

    Parameters
    ----------
    path : str
        The HDF5 file.
    name : str
        Dataset path inside the file, already checked by :func:`_check_dataset`.
    shape : tuple of int
        Its shape (N, *sample_shape).
    dtype : np.dtype
        Its dtype.
    """

    def __init__(self, path: str, name: str, shape: tuple, dtype: np.dtype) -> None:
        self.path, self.name, self.shape, self.dtype = path, name, tuple(shape), dtype
        self._stamp = self._stat()

    def _stat(self) -> tuple[int, int]:
        st = os.stat(self.path)
        return st.st_size, st.st_mtime_ns

    def read(self, rows: np.ndarray) -> np.ndarray:
        """Read ``rows`` (sorted, unique) -> array (len(rows), *sample_shape)."""
        if len(rows) == 0:
            return np.empty((0,) + self.shape[1:], dtype=self.dtype)
        try:
            changed = self._stat() != self._stamp
        except OSError:
            changed = True
        if changed:
            raise SampleError(f"{self.path}: the file changed or vanished since it was "
                              f"opened; open the samples again")
        with _open(self.path) as f:
            ds = f[self.name]
            try:
                if rows[-1] - rows[0] + 1 == len(rows):  # a run: one hyperslab
                    return ds[int(rows[0]):int(rows[-1]) + 1]
                return ds[rows.tolist()]
            except DAMAGE as exc:
                raise SampleError(f"{self.path}: cannot read {self.name} ({exc})") from None


def _read_labels(f, name: str, n: int, path: str, explicit: bool) -> np.ndarray | None:
    """Read a labels dataset as int64 (N,); None if a default does not fit."""
    h5py = _h5py()
    ds = _get(f, name, path)
    if ds is None or not isinstance(ds, h5py.Dataset):
        if explicit:
            raise SampleError(f"{path}: there is no labels dataset {name}; datasets: "
                              f"{_listing(_datasets(f))}")
        return None
    shape = ds.shape or ()
    one_per_row = len(shape) == 1 or (len(shape) == 2 and shape[1] == 1)
    if not explicit and not (one_per_row and shape[0] == n):
        return None  # a default name used for something else
    _check_dataset(ds, name, path)
    if not one_per_row:
        raise SampleError(f"{path}: labels {name} have shape {shape}; "
                          f"expected one class number per sample")
    if shape[0] != n:
        raise SampleError(f"{path}: there are {shape[0]} labels in {name} for {n} samples")
    return labels_array(ds[()].reshape(-1), name, path)


def _read_names(f, name: str, path: str) -> list[str] | None:
    """Read a 1-D string dataset of class names, or None if absent."""
    h5py = _h5py()
    ds = _get(f, name, path)
    if ds is None or not isinstance(ds, h5py.Dataset):
        return None
    _check_dataset(ds, name, path, numeric=False)
    if ds.ndim != 1 or h5py.check_string_dtype(ds.dtype) is None:
        raise SampleError(f"{path}: {name} must be a 1-D list of strings")
    return [limits.short_name(str(s)) for s in ds.asstr(errors="replace")[()]]


def _attr(obj, key: str) -> Any:
    """An attribute as str (h5py may give bytes), or None."""
    value = obj.attrs.get(key)
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _choose_dataset(f, path: str) -> str:
    """Default dataset: /samples/X of a net file, else X, else the biggest >= 2-D one."""
    if _attr(f, "format") == "strata-net":
        if _get(f, "/samples/X", path) is None:
            raise SampleError(f"{path}: this net file has no embedded samples (/samples/X)")
        return "/samples/X"
    if _get(f, "/X", path) is not None:
        return "/X"
    items = [(n, s) for n, s in _datasets(f) if len(s) >= 2]
    if not items:
        raise SampleError(f"{path}: no dataset with 2 or more dimensions to use as samples; "
                          f"datasets: {_listing(_datasets(f))}")
    biggest = max(math.prod(s) for _, s in items)
    best = [(n, s) for n, s in items if math.prod(s) == biggest]
    if len(best) > 1:
        raise SampleError(f"{path}: several datasets could be the samples; choose one of "
                          f"{_listing(best)}")
    return best[0][0]


def open_hdf5(path: str, *, dataset: str | None = None, labels: str | None = None,
              layout: str | None = None, preprocess: Mapping | None = None,
              isolate: bool = True) -> SampleSet:
    """Samples from a dataset in an HDF5 file.

    Parameters
    ----------
    path : str
        The HDF5 file.
    dataset : str, optional
        Dataset path inside the file, shape (N, *sample_shape). Default:
        ``/samples/X`` in a strata-net file, else ``X``, else the only
        dataset with the most elements among those with >= 2 dimensions.
    labels : str, optional
        Labels dataset path, shape (N,) or (N, 1), whole numbers. Default:
        ``labels`` or ``y`` beside the dataset, then at the root, then
        ``/samples/labels``, whichever is first present with N entries.
    layout, preprocess
        Override the ``layout`` / ``preprocess`` attributes that the dataset
        or its group may carry.
    isolate : bool
        Read the whole dataset, labels and names in a child process first
        (:mod:`viewer.net.probe`), so that a damaged file on which the HDF5
        library hangs or crashes gives an error instead. Off only for files
        already checked that way (a net file's own ``/samples``).

    Returns
    -------
    SampleSet
    """
    if isolate:
        from viewer.net import probe
        if not os.path.isfile(path):
            raise SampleError(f"{path}: no such file")
        probe.check_in_child(path, "samples", dataset or "", labels or "", error=SampleError)
    try:
        return _open_hdf5(path, dataset, labels, layout, preprocess)
    except DAMAGE as exc:
        raise SampleError(f"{path}: damaged file ({type(exc).__name__}: {exc})") from None


def _open_hdf5(path: str, dataset: str | None, labels: str | None, layout: str | None,
               preprocess: Mapping | None) -> SampleSet:
    h5py = _h5py()
    with _open(path) as f:
        name = "/" + "/".join(p for p in (dataset or _choose_dataset(f, path)).split("/") if p)
        ds = _get(f, name, path)
        if not isinstance(ds, h5py.Dataset):
            what = "no dataset" if ds is None else "a group, not a dataset,"
            raise SampleError(f"{path}: there is {what} {name}; datasets: "
                              f"{_listing(_datasets(f))}")
        _check_dataset(ds, name, path)
        group = ds.parent
        n = ds.shape[0]
        if labels is not None:
            label_values = _read_labels(f, labels, n, path, explicit=True)
        else:
            base = group.name.rstrip("/")
            tries = [f"{base}/{k}" for k in _LABEL_NAMES] + [f"/{k}" for k in _LABEL_NAMES]
            label_values = None
            for cand in dict.fromkeys(tries + ["/samples/labels"]):
                label_values = _read_labels(f, cand, n, path, explicit=False)
                if label_values is not None:
                    break
        names = _read_names(f, group.name.rstrip("/") + "/label_names", path)
        if names is None and group.name != "/":
            names = _read_names(f, "/label_names", path)
        layout = layout or _attr(ds, "layout") or _attr(group, "layout")
        stated = False
        if preprocess is None:
            text = _attr(ds, "preprocess") or _attr(group, "preprocess")
            preprocess = parse_preprocess(text, path) if text else None
            stated = preprocess is not None
        reader = HDF5Reader(path, name, ds.shape, ds.dtype)
    return SampleSet(reader, source=f"{path}:{name}", layout=layout, preprocess=preprocess,
                     labels=label_values, label_names=names, preprocess_from_file=stated)


def embedded_samples(path: str | os.PathLike) -> SampleSet | None:
    """The samples stored in a strata-net file's ``/samples`` group.

    Parameters
    ----------
    path : str or os.PathLike
        A net file written by ``viewer.net.save``.

    Returns
    -------
    SampleSet or None
        ``/samples/X`` (N, ...) with ``labels`` (N,), ``label_names`` (K,)
        and the group's ``layout`` and ``preprocess`` attributes, or None
        when the file has no ``/samples`` group.

    Read it after the net file was checked in a child process
    (``viewer.net.load(path, isolate=True)`` reads ``/samples`` too).
    """
    path = os.fspath(path)
    if not has_samples(path):
        return None
    return open_hdf5(path, dataset="/samples/X", isolate=False)


def has_samples(path: str) -> bool:
    """Whether a net file has a ``/samples`` group; SampleError if it is not a usable one."""
    try:
        with _open(path) as f:
            if f.get("samples", getlink=True) is None:
                return False
            group = _get(f, "/samples", path)
            if not isinstance(group, _h5py().Group) or _get(f, "/samples/X", path) is None:
                raise SampleError(f"{path}: /samples has no X dataset")
            return True
    except DAMAGE as exc:
        raise SampleError(f"{path}: damaged file ({type(exc).__name__}: {exc})") from None


def check_file(path: str, dataset: str = "", labels: str = "") -> None:
    """Open samples as :func:`open_hdf5` does and read every row, a block at a time.

    What the child process of ``open_hdf5(..., isolate=True)`` runs: if the
    HDF5 library hangs or crashes anywhere in the data, it does so there.
    """
    samples = open_hdf5(path, dataset=dataset or None, labels=labels or None, isolate=False)
    row_bytes = max(1, math.prod(samples.sample_shape) * samples.dtype.itemsize)
    step = max(1, _CHECK_BLOCK // row_bytes)
    for start in range(0, len(samples), step):
        samples.raw_batch(np.arange(start, min(start + step, len(samples))))
