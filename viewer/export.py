"""Writing activations to .npy and .csv files for scripts and notebooks.

Two CSV layouts, each suited to what it holds:

- one sample (:func:`save_activation`): one row per value, with one index
  column per axis and the value (``i0,i1,i2,value``), so any shape reads
  back with its indices (:func:`read_activation_csv`);
- every sample (:func:`export_all`): one row per sample and one column per
  unit in C order of the per-sample shape; the header names each unit by its
  index along the axes, e.g. ``2_0_1`` for channel 2, row 0, column 1.

Files are written beside their target and renamed into place, so a failed
or cancelled export never leaves half a file where a good one was.
"""

from __future__ import annotations

import os
from typing import Any, Callable

import numpy as np

from viewer.data.batches import sample_batches
from viewer.data.formats import ACTIVATION_FORMATS
from viewer.errors import StrataError
from viewer.writing import remove_stale_parts


def _check_path(path: str) -> str:
    ext = os.path.splitext(path)[1].lower()
    if ext not in ACTIVATION_FORMATS:
        raise StrataError(f"{path}: cannot write {ext or 'a file without extension'}; "
                          f"use {' or '.join(ACTIVATION_FORMATS)}")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise StrataError(f"{path}: the folder {folder} does not exist")
    if os.path.isdir(path):
        raise StrataError(f"{path}: is a folder")
    return ext


def csv_header(sample_shape: tuple[int, ...]) -> str:
    """Column names for units of ``sample_shape``, in C order: ``0_0_0,0_0_1,...``."""
    return ",".join("_".join(map(str, idx)) for idx in np.ndindex(*sample_shape))


def save_activation(act: np.ndarray, path: str) -> None:
    """Write one sample's activation (no batch axis) to .npy, or to .csv as index/value rows.

    Parameters
    ----------
    act : ndarray (...)
        The per-sample activation.
    path : str
    """
    ext = _check_path(path)
    act = np.asarray(act)
    remove_stale_parts(path)
    tmp = f"{path}.{os.getpid()}.part"
    try:
        if ext == ".npy":
            with open(tmp, "wb") as fh:
                np.save(fh, act, allow_pickle=False)
        else:
            index = np.indices(act.shape).reshape(act.ndim, -1).T
            # Enough digits for each value to read back exactly in its own dtype.
            digits = 9 if act.dtype.itemsize <= 4 else 17
            table = np.column_stack([index, act.reshape(-1, 1).astype(np.float64)])
            header = ",".join([f"i{k}" for k in range(act.ndim)] + ["value"])
            np.savetxt(tmp, table, delimiter=",", header=header, comments="",
                       fmt=["%d"] * act.ndim + [f"%.{digits}g"])
        os.replace(tmp, path)
    except OSError as exc:
        raise StrataError(f"{path}: cannot write ({exc.strerror or exc})") from None
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def read_activation_csv(path: str) -> np.ndarray:
    """Read back a one-sample CSV written by :func:`save_activation`.

    Returns
    -------
    ndarray, float64
        The activation in its original shape.
    """
    table = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    ndim = table.shape[1] - 1
    if ndim == 0:
        return table[0, 0].reshape(())
    idx = table[:, :ndim].astype(np.int64)
    out = np.empty(tuple(idx.max(axis=0) + 1), dtype=np.float64)
    out[tuple(idx.T)] = table[:, ndim]
    return out


def export_all(net: Any, samples: Any, layer: int, path: str, *, batch_size: int = 256,
               progress: Callable[[int, int], bool] | None = None) -> tuple[int, ...]:
    """Compute layer ``layer`` for every sample in batches and write the result.

    Memory stays bounded: each batch is written as soon as it is computed.

    Parameters
    ----------
    net : Net
    samples : SampleSet
    layer : int
    path : str
        .npy gets an (N, ...) array; .csv one row per sample.
    batch_size : int
    progress : callable, optional
        ``progress(done, total)`` after each batch; returning False cancels
        (nothing is written then).

    Returns
    -------
    tuple of int
        The shape written, (N, ...).
    """
    ext = _check_path(path)
    if batch_size < 1:  # before the temporary file is made
        raise StrataError(f"batch size must be at least 1, not {batch_size}")
    total = len(samples)
    remove_stale_parts(path)
    tmp = f"{path}.{os.getpid()}.part"
    out = None
    try:
        with open(tmp, "w" if ext == ".csv" else "wb") as csv:
            for batch in sample_batches(samples, batch_size=batch_size, adaptive=False):
                start, stop = batch.done - len(batch.rows), batch.done
                acts = net.outputs(batch.x, [layer])[layer]
                if ext == ".npy":
                    if out is None:
                        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=acts.dtype,
                                                        shape=(total,) + acts.shape[1:])
                    out[start:stop] = acts
                else:
                    if out is None:
                        out = acts.shape[1:]
                        csv.write(csv_header(out) + "\n")
                    np.savetxt(csv, acts.reshape(len(acts), -1), delimiter=",", fmt="%.9g")
                if progress is not None and progress(stop, total) is False:
                    raise StrataError("export cancelled")
        shape = (total,) + (out.shape[1:] if ext == ".npy" else tuple(out))
        if ext == ".npy":
            out.flush()
            del out
        os.replace(tmp, path)
        return shape
    except OSError as exc:
        raise StrataError(f"{path}: cannot write ({exc.strerror or exc})") from None
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
