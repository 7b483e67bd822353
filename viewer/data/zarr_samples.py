"""Samples in a zarr array (a ``.zarr`` folder, or any fsspec URL zarr can open).

    samples = open_samples("mnist.zarr")            # its array, or the group's X
    samples = open_samples("data.zarr", dataset="train/X", labels="train/y")

zarr is optional (requirements-cluster.txt): it is imported only when a
zarr input is opened, and its absence is one line naming it. Only the rows
asked for are read (a run of rows as one slice, scattered rows by an
orthogonal selection), so a worker of a sweep reads only its shard. The
array is opened read-only; its shape and dtype are checked as HDF5's are
(numbers, at least one axis).
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from viewer.data.samples import SampleSet, labels_array
from viewer.errors import SampleError

MISSING = "reading zarr arrays needs zarr: pip install -r requirements-cluster.txt"
_LABEL_NAMES = ("labels", "y")


def _zarr(path: str) -> Any:
    try:
        import zarr
    except ImportError:
        raise SampleError(f"{path}: {MISSING}") from None
    return zarr


class ZarrReader:
    """Rows of one zarr array; opened again in each process it is sent to.

    Parameters
    ----------
    path : str
        The store.
    name : str
        The array's path inside it ("" for an array store).
    shape : tuple of int
    dtype : np.dtype
    """

    def __init__(self, path: str, name: str, shape: tuple, dtype: np.dtype) -> None:
        self.path, self.name, self.shape, self.dtype = path, name, tuple(shape), dtype
        self._array = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_array": None}

    def read(self, rows: np.ndarray) -> np.ndarray:
        """Read ``rows`` (sorted, unique) -> array (len(rows), *sample_shape)."""
        if len(rows) == 0:
            return np.empty((0,) + self.shape[1:], dtype=self.dtype)
        if self._array is None:
            self._array = _open(self.path, self.name)
        try:
            if rows[-1] - rows[0] + 1 == len(rows):
                return np.asarray(self._array[int(rows[0]):int(rows[-1]) + 1])
            return np.asarray(self._array.get_orthogonal_selection(
                (rows,) + (slice(None),) * (len(self.shape) - 1)))
        except Exception as exc:  # zarr and its codecs raise many kinds on damaged chunks
            raise SampleError(f"{self.path}: cannot read {self.name or 'the array'} "
                              f"({type(exc).__name__}: {exc})") from None


def _open(path: str, name: str = "") -> Any:
    """The zarr array or group at ``path``/``name``, read-only."""
    zarr = _zarr(path)
    try:
        node = zarr.open(path, mode="r")
        return node[name] if name else node
    except KeyError:
        raise SampleError(f"{path}: there is no array {name}") from None
    except Exception as exc:
        raise SampleError(f"{path}: not a zarr array or group, or unreadable "
                          f"({type(exc).__name__}: {exc})") from None


def _is_array(node: Any) -> bool:
    return hasattr(node, "shape") and hasattr(node, "dtype")


def open_zarr(path: str, *, dataset: str | None = None, labels: str | None = None,
              layout: str | None = None, preprocess: Mapping | None = None) -> SampleSet:
    """Samples from a zarr array, or from an array in a zarr group.

    Parameters
    ----------
    path : str
        The store: a ``.zarr`` folder or an fsspec URL.
    dataset : str, optional
        The array's path in a group; default the store's own array, else ``X``.
    labels : str, optional
        Labels array in the group, shape (N,); default ``labels`` or ``y``
        when present with N entries.
    layout, preprocess
        As :func:`viewer.data.hdf5.open_hdf5`.

    Raises
    ------
    SampleError
        zarr missing, no such array, not numbers, or labels that do not fit.
    """
    root = _open(path)
    if _is_array(root):
        if dataset or labels:
            raise SampleError(f"{path}: holds one array; there is no dataset or labels to choose")
        name, array, group = "", root, None
    else:
        name, group = dataset or "X", root
        array = _open(path, name)
        if not _is_array(array):
            raise SampleError(f"{path}: {name} is a group, not an array")
    shape, dtype = tuple(int(s) for s in array.shape), np.dtype(array.dtype)
    shown = name or "the array"
    if len(shape) < 1 or dtype.kind not in "biuf":
        raise SampleError(f"{path}: {shown} holds {dtype} {shape}; samples must be an array "
                          f"of numbers with a first axis of samples")
    label_values = None if group is None else _labels(path, group, labels, shape[0])
    source = f"{path}:{name}" if name else path
    return SampleSet(ZarrReader(path, name, shape, dtype), source=source, layout=layout,
                     preprocess=preprocess, labels=label_values)


def _labels(path: str, group: Any, name: str | None, n: int) -> np.ndarray | None:
    for candidate in ([name] if name else _LABEL_NAMES):
        try:
            node = group[candidate]
        except KeyError:
            if name:
                raise SampleError(f"{path}: there is no labels array {name}") from None
            continue
        values = np.asarray(node[...]).reshape(-1) if _is_array(node) else None
        if values is not None and len(values) == n:
            return labels_array(values, candidate, path)
        if name:
            raise SampleError(f"{path}: there are {0 if values is None else len(values)} "
                              f"labels in {name} for {n} samples")
    return None
