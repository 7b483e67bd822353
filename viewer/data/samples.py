"""SampleSet: a lazy, read-only list of input samples, and the fit check.

A SampleSet wraps a *reader*: a small object that knows one source (an HDF5
dataset, a .npy memory map, an .npz member, image files) and has

    reader.path    the file named in error messages (str)
    reader.shape   (N, *sample_shape) of the raw samples
    reader.dtype   the raw dtype
    reader.read(rows) -> np.ndarray (len(rows), *sample_shape)
                   rows: int64 array, sorted ascending, no duplicates

so each source reads only the rows asked for. SampleSet adds what is the
same for every source: index checks, reordering, the channel axis the net may
need, and the net's preprocessing.

Thread safety: a SampleSet never changes after it is made, and every reader
is safe to call from several threads (see each reader), so the GUI may read
from a worker thread while the main thread reads labels and shapes.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from viewer.data.preprocess import Preprocess, check_layout, guess_layout
from viewer.errors import SampleError


class SampleSet:
    """Input samples read lazily from one source.

    Parameters
    ----------
    reader : object
        The source, see the module docstring.
    source : str
        What to show the user, e.g. ``"data.h5:/test/X"``.
    layout : str or None
        One of ``viewer.data.preprocess.LAYOUTS``; None guesses from the shape.
    preprocess : mapping, Preprocess or None
        Turns raw samples into net input (see :mod:`viewer.data.preprocess`);
        None is the identity.
    preprocess_from_file : bool
        True when ``preprocess`` is what the samples file itself states.
    labels : np.ndarray, shape (N,), optional
        One integer class per sample.
    label_names : list of str, optional
        Class names; ``label_names[labels[i]]`` names sample i's class.
    input_shape : tuple of int, optional
        Per-sample shape of :meth:`batch` output when it differs from the raw
        shape by an added channel axis of size 1 (set by :func:`check_fits`).

    Attributes
    ----------
    path : str
        The file (or folder) the samples come from.
    sample_shape : tuple of int
        Shape of one raw sample, as stored.
    input_shape : tuple of int
        Shape of one sample in :meth:`batch` output.
    dtype : np.dtype
        The raw dtype.
    preprocess : Preprocess
    is_images : bool
        The samples are decoded image files (raw values 0..255 by definition).
    resize_note : str or None
        How images were made to fit the net, when they had to be
        (``"images of 28x28 resized to 8x8 (bilinear)"``).
    """

    def __init__(self, reader: Any, *, source: str, layout: str | None = None,
                 preprocess: Mapping | Preprocess | None = None,
                 labels: np.ndarray | None = None, label_names: Sequence[str] | None = None,
                 input_shape: tuple | None = None, preprocess_from_file: bool = False) -> None:
        self._reader = reader
        self.path = reader.path
        self.source = source
        self.sample_shape = tuple(int(s) for s in reader.shape[1:])
        self.input_shape = tuple(input_shape) if input_shape is not None else self.sample_shape
        self.dtype = np.dtype(reader.dtype)
        self._n = int(reader.shape[0])
        if self._n == 0:
            raise SampleError(f"{self.path}: there are no samples ({source} is empty)")
        self.layout = check_layout(layout, self.path) if layout else guess_layout(self.input_shape)
        self.preprocess = Preprocess.from_spec(preprocess, self.input_shape, self.layout, self.path)
        self.preprocess_from_file = bool(preprocess_from_file)
        self.is_images = bool(getattr(reader, "is_images", False))
        self.resize_note = getattr(reader, "resize_note", None)
        if labels is not None and len(labels) != self._n:
            raise SampleError(f"{self.path}: there are {len(labels)} labels "
                              f"for {self._n} samples")
        if labels is not None:
            labels.flags.writeable = False  # shared between threads and fitted copies
        self.labels = labels
        self.label_names = list(label_names) if label_names is not None else None

    def __len__(self) -> int:
        return self._n

    def __repr__(self) -> str:
        return (f"SampleSet({self.source!r}, n={self._n}, shape={self.input_shape}, "
                f"layout={self.layout!r})")

    def _row(self, i: int) -> int:
        """Check one index; negative ones count from the end like a list."""
        if not -self._n <= i < self._n:
            raise IndexError(f"sample {i} out of range 0..{self._n - 1}")
        return i % self._n

    def raw(self, i: int) -> np.ndarray:
        """One raw sample as stored.

        Parameters
        ----------
        i : int
            Sample index; negative counts from the end.

        Returns
        -------
        np.ndarray, shape sample_shape, dtype :attr:`dtype`
        """
        row = self._row(int(i))
        return self._reader.read(np.array([row], dtype=np.int64))[0]

    def raw_batch(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """Several raw samples as stored, in the order asked for.

        Returns
        -------
        np.ndarray, shape (n, *sample_shape), dtype :attr:`dtype`
        """
        idx = np.array([self._row(int(i)) for i in np.asarray(indices).reshape(-1)], dtype=np.int64)
        rows, inverse = np.unique(idx, return_inverse=True)
        return self._reader.read(rows)[inverse.reshape(-1)]

    def batch(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """Net input for some samples, in the order asked for.

        Parameters
        ----------
        indices : sequence of int, shape (n,)
            Any order; repeats and negative indices are allowed.

        Returns
        -------
        np.ndarray, float32, shape (n, *input_shape)
            The samples with the channel axis the net needs and the
            preprocessing applied.
        """
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if idx.size and (idx.min() < -self._n or idx.max() >= self._n):
            bad = idx[(idx < -self._n) | (idx >= self._n)][0]
            raise IndexError(f"sample {bad} out of range 0..{self._n - 1}")
        idx = idx % self._n
        # Readers want sorted unique rows (h5py fancy indexing demands it);
        # `inverse` puts the rows back in the order asked for.
        rows, inverse = np.unique(idx, return_inverse=True)
        return self.prepare(self._reader.read(rows)[inverse.reshape(-1)])

    def prepare(self, raw: np.ndarray) -> np.ndarray:
        """Net input from raw samples of this set.

        Parameters
        ----------
        raw : np.ndarray, shape (n, *sample_shape)
            From :meth:`raw_batch`.

        Returns
        -------
        np.ndarray, float32, shape (n, *input_shape)
        """
        raw = raw.reshape((len(raw),) + self.input_shape)
        return self.preprocess.apply(raw, self.layout)

    def with_preprocess(self, preprocess: Mapping | Preprocess | None) -> SampleSet:
        """The same samples with another preprocessing (validated against their shape).

        Raises
        ------
        SampleError
            When ``preprocess`` does not fit the samples (per-channel lengths,
            BGR without 3 channels, unknown keys).
        """
        preprocess = Preprocess.from_spec(preprocess, self.input_shape, self.layout, self.path)
        reader = self._reader
        if hasattr(reader, "with_resize"):  # images are resized as they are decoded
            reader = reader.with_resize(preprocess.resize)
        return self._copy(reader=reader, preprocess=preprocess, preprocess_from_file=False)

    def with_label_names(self, names: Sequence[str] | None) -> SampleSet:
        """The same samples with other class names (``names[k]`` names class k)."""
        return self._copy(label_names=names)

    def _fitted(self, input_shape: tuple, layout: str) -> SampleSet:
        """A SampleSet over the same reader whose batches have ``input_shape``."""
        return self._copy(input_shape=input_shape, layout=layout)

    def _copy(self, **changes) -> SampleSet:
        args = dict(reader=self._reader, source=self.source, layout=self.layout,
                    preprocess=self.preprocess, labels=self.labels, label_names=self.label_names,
                    input_shape=self.input_shape, preprocess_from_file=self.preprocess_from_file)
        args.update(changes)
        return SampleSet(args.pop("reader"), **args)


def labels_array(values: np.ndarray, name: str, path: str) -> np.ndarray:
    """Check labels are whole numbers and return them as int64, shape (N,)."""
    if values.dtype.kind in "biu":
        return values.astype(np.int64)
    if values.dtype.kind == "f" and np.all(np.isfinite(values)) and np.all(values == np.round(values)):
        return values.astype(np.int64)
    raise SampleError(f"{path}: the labels ({name!r}) are not whole class numbers ({values.dtype})")


def _matches(have: tuple, want: tuple) -> bool:
    """Shapes equal, where None in ``want`` matches any length."""
    return len(have) == len(want) and all(w is None or h == w for h, w in zip(have, want))


def check_fits(samples: SampleSet, input_shape: Sequence[int | None]) -> SampleSet:
    """Check that samples fit a net's input, and return the set to use.

    Samples fit when their shape equals the net's per-sample input shape
    (None in ``input_shape`` matches any length), or when only a channel
    axis of size 1 is missing: (N, 8, 8) data fits a (1, 8, 8) or (8, 8, 1)
    input, and the returned set's batches get that axis. Where both places
    would do, the samples' layout decides (channels_last: at the end).

    Parameters
    ----------
    samples : SampleSet
        The samples the user opened.
    input_shape : sequence of int or None
        The net's input shape without the batch axis.

    Returns
    -------
    SampleSet
        ``samples`` itself when they fit as they are, else a set over the
        same data whose :meth:`SampleSet.batch` adds the channel axis.

    Raises
    ------
    SampleError
        ``"FILE: samples have shape (28, 28) but the net expects (1, 8, 8)"``.
    """
    want = tuple(None if s is None else int(s) for s in input_shape)
    have = samples.input_shape
    if _matches(have, want):
        return samples
    if _matches(samples.sample_shape, want):
        return samples._fitted(samples.sample_shape, samples.layout)
    have = samples.sample_shape
    if len(want) == len(have) + 1:
        front = (1,) + have, "channels_first"
        back = have + (1,), "channels_last"
        order = (back, front) if samples.layout == "channels_last" else (front, back)
        for shape, layout in order:
            if _matches(shape, want):
                return samples._fitted(shape, layout)
    raise SampleError(f"{samples.path}: samples have shape {have} "
                      f"but the net expects {want}")
