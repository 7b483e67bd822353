"""open_samples: pick the reader for a path by its format (see :mod:`viewer.data.formats`)."""

from __future__ import annotations

import os
from typing import Mapping, Sequence

from viewer.data.arrays import open_npy, open_npz
from viewer.data.formats import describe, sample_format
from viewer.data.hdf5 import open_hdf5
from viewer.data.hdf5_shards import is_pattern, open_hdf5_shards
from viewer.data.images import open_images
from viewer.data.samples import SampleSet, check_fits
from viewer.data.zarr_samples import open_zarr
from viewer.errors import SampleError


def open_samples(path: str | os.PathLike, *, dataset: str | None = None,
                 labels: str | None = None, input_shape: Sequence[int | None] | None = None,
                 data_format: str | None = None,
                 preprocess: Mapping | None = None) -> SampleSet:
    """Open input samples lazily: nothing but headers is read until asked for.

    Parameters
    ----------
    path : str or os.PathLike
        ``.h5``/``.hdf5``/``.hdf``, ``.npy``, ``.npz``, an image file
        (``.png``, ``.jpg``, ``.jpeg``, ...) or a folder of images; or a glob
        pattern of HDF5 files (``data/part-*.h5``, see :mod:`viewer.data.hdf5_shards`),
        or a zarr array (``.zarr``, see :mod:`viewer.data.zarr_samples`).
    dataset : str, optional
        HDF5 dataset path or .npz member holding the samples, shape
        (N, *sample_shape). Defaults are described in ``open_hdf5`` and
        ``open_npz``.
    labels : str, optional
        HDF5 dataset path or .npz member holding (N,) class numbers; for a
        .npy file, the path of another .npy file.
    input_shape : sequence of int or None, optional
        The net's input shape without batch axis. Images are converted to
        it; other samples are checked against it with
        :func:`~viewer.data.samples.check_fits`.
    data_format : str, optional
        The samples' layout ("channels_first", "channels_last", "vector",
        "sequence"); overrides what the file says or what the shape suggests.
    preprocess : mapping, optional
        ``{"scale", "mean", "std"}``, normally the net's stored one;
        overrides what the file says. None: the file's, else identity.

    Returns
    -------
    SampleSet
        ``batch(indices)`` gives float32 (n, *input_shape).

    Raises
    ------
    SampleError
        The file is missing, of an unknown kind, unreadable or hostile, or
        its samples do not fit ``input_shape``.
    """
    path = os.fspath(path)
    fmt = sample_format(path)
    ext = os.path.splitext(path)[1].lower()
    if fmt is not None and fmt.key == "hdf5" and not os.path.exists(path) and is_pattern(path):
        samples = open_hdf5_shards(path, dataset=dataset, labels=labels, layout=data_format,
                                   preprocess=preprocess)
        return samples if input_shape is None else check_fits(samples, input_shape)
    url = fmt is not None and fmt.key == "zarr" and "://" in path  # fsspec: s3://, gs://
    if not os.path.exists(path) and not url:
        raise SampleError(f"{path}: no such file or folder")
    if fmt is None:
        raise SampleError(f"{path}: unknown kind of sample file {ext or '(no extension)'!r}; "
                          f"Strata reads {describe()}")
    if fmt.key == "images":
        if dataset is not None or labels is not None:
            raise SampleError(f"{path}: images have no datasets or labels to choose")
        return open_images(path, input_shape=input_shape, data_format=data_format,
                           preprocess=preprocess)
    if fmt.key == "zarr":
        samples = open_zarr(path, dataset=dataset, labels=labels, layout=data_format,
                            preprocess=preprocess)
    elif fmt.key == "hdf5":
        samples = open_hdf5(path, dataset=dataset, labels=labels, layout=data_format,
                            preprocess=preprocess)
    elif fmt.key == "npy":
        if dataset is not None:
            raise SampleError(f"{path}: a .npy file holds one array; there is no dataset to choose")
        samples = open_npy(path, labels=labels, layout=data_format, preprocess=preprocess)
    else:
        samples = open_npz(path, dataset=dataset, labels=labels, layout=data_format,
                           preprocess=preprocess)
    return samples if input_shape is None else check_fits(samples, input_shape)
