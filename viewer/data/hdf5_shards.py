"""Samples spread over several HDF5 files: a glob such as ``data/part-*.h5``.

    samples = open_samples("data/part-*.h5")   # rows of part-000.h5, then part-001.h5, ...

The files matching the pattern are taken in sorted name order and their rows
concatenated: sample indices are global (row 0 of the second file is the
first file's length). Each file is opened and checked as one HDF5 samples
file (:func:`viewer.data.hdf5.open_hdf5`, the same dataset and labels
paths in each); they must agree on the sample shape and dtype, on having
labels or not, on the class names, layout and preprocessing. A read of
rows spanning several files reads each file's part in one go. This is how
large datasets are usually written for a cluster: each worker can reach
every part on a shared filesystem.
"""

from __future__ import annotations

import glob
import os
from typing import Mapping

import numpy as np

from viewer.data.hdf5 import open_hdf5
from viewer.data.samples import SampleSet
from viewer.errors import SampleError

#: Characters that make a samples path a glob pattern.
MAGIC = "*?["


def is_pattern(path: str) -> bool:
    """The path is a glob pattern (``*``, ``?`` or ``[`` in its name)."""
    return any(c in path for c in MAGIC)


class ShardsReader:
    """Rows of several HDF5 sample sets, concatenated (see the module docstring).

    Parameters
    ----------
    pattern : str
        Named in error messages (``reader.path``).
    parts : list of SampleSet
        One per file, in order.
    """

    def __init__(self, pattern: str, parts: list[SampleSet]) -> None:
        self.path = pattern
        self.files = [part.path for part in parts]
        self._readers = [part._reader for part in parts]
        lengths = np.array([len(part) for part in parts], dtype=np.int64)
        self._starts = np.concatenate([[0], np.cumsum(lengths)])
        self.shape = (int(self._starts[-1]),) + tuple(parts[0].sample_shape)
        self.dtype = parts[0].dtype

    def read(self, rows: np.ndarray) -> np.ndarray:
        """Read ``rows`` (sorted, unique, global) -> array (len(rows), *sample_shape)."""
        out = np.empty((len(rows),) + self.shape[1:], dtype=self.dtype)
        cuts = np.searchsorted(rows, self._starts)
        for i, reader in enumerate(self._readers):
            begin, end = cuts[i], cuts[i + 1]
            if end > begin:
                out[begin:end] = reader.read(rows[begin:end] - self._starts[i])
        return out


def open_hdf5_shards(pattern: str, *, dataset: str | None = None, labels: str | None = None,
                     layout: str | None = None,
                     preprocess: Mapping | None = None) -> SampleSet:
    """Samples from the HDF5 files matching ``pattern``, in sorted name order.

    Parameters
    ----------
    pattern : str
        A glob pattern (``*``, ``?``, ``[...]``) of HDF5 files.
    dataset, labels, layout, preprocess
        As :func:`viewer.data.hdf5.open_hdf5`, the same for every file.

    Returns
    -------
    SampleSet
        ``path`` is the pattern; ``source`` names it with the number of files.

    Raises
    ------
    SampleError
        No file matches, one of them is not usable samples, or they disagree.
    """
    files = sorted(p for p in glob.glob(pattern) if os.path.isfile(p))
    if not files:
        raise SampleError(f"{pattern}: no file matches this pattern")
    parts = [open_hdf5(path, dataset=dataset, labels=labels, layout=layout,
                       preprocess=preprocess) for path in files]
    first = parts[0]
    for part in parts[1:]:
        for what, mine, theirs in (
                ("sample shape", part.sample_shape, first.sample_shape),
                ("dtype", part.dtype, first.dtype),
                ("labels", part.labels is not None, first.labels is not None),
                ("class names", part.label_names, first.label_names),
                ("layout", part.layout, first.layout),
                ("preprocessing", part.preprocess, first.preprocess)):
            if mine != theirs:
                raise SampleError(f"{pattern}: {part.path} has another {what} than "
                                  f"{first.path} ({_shown(mine)} against {_shown(theirs)})")
    reader = ShardsReader(pattern, parts)
    label_values = (None if first.labels is None
                    else np.concatenate([part.labels for part in parts]))
    name = first.source[len(first.path) + 1:]
    return SampleSet(reader, source=f"{pattern}:{name} ({len(files)} files)",
                     layout=first.layout, preprocess=first.preprocess, labels=label_values,
                     label_names=first.label_names,
                     preprocess_from_file=first.preprocess_from_file)


def _shown(value: object) -> str:
    if isinstance(value, bool):
        return "labels" if value else "none"
    return str(value)
