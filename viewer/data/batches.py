"""One way to walk samples in batches: bounded size, adaptive to slow batches, cancellable.

    for batch in sample_batches(samples, batch_size=256, cancel=event):
        out = net.outputs(batch.x, [layer])[layer]
        ...                                   # batch.indices, batch.done, batch.total

Used by the sweeps, the window's predictions and the export of every sample,
so that all of them read samples the same way and stop the same way.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np

from viewer.errors import StrataError

#: Bytes of layer outputs one batch may produce (all layers its forward pass computes).
ACTIVATION_BUDGET = 32 * 2 ** 20

#: A batch (read, computed and consumed) slower than this many seconds shrinks the next ones...
SLOW_BATCH = 0.25
#: ... to take about this long, so that cancel is honoured within about a quarter second.
TARGET_BATCH = 0.15


class Cancelled(StrataError):
    """Work over the samples was cancelled between two batches."""


@dataclass(frozen=True, eq=False)
class SampleBatch:
    """One batch of samples.

    Attributes
    ----------
    rows : np.ndarray, shape (n,), int64
        Positions of these samples in the walk's order (``order[rows]``).
    indices : np.ndarray, shape (n,), int64
        The sample indices.
    x : np.ndarray, shape (n, ...)
        ``samples.batch(indices)``: the net input.
    done, total : int
        Samples walked including this batch, and in all.
    """

    rows: np.ndarray
    indices: np.ndarray
    x: np.ndarray
    done: int
    total: int


def sample_batches(samples, order: Sequence[int] | np.ndarray | None = None, *,
                   batch_size: int = 256, cancel: threading.Event | None = None,
                   adaptive: bool = True) -> Iterator[SampleBatch]:
    """Yield the samples in ``order`` (default: all, ascending) in batches.

    Parameters
    ----------
    samples : SampleSet
        Anything with ``len()`` and ``batch(indices)``.
    order : sequence of int, optional
        Sample indices to walk, in this order.
    batch_size : int
        Most samples per batch (at least 1).
    cancel : threading.Event, optional
        Checked before each batch; when set, :class:`Cancelled` is raised.
    adaptive : bool
        Shrink the batches after one took longer than :data:`SLOW_BATCH`
        (the time from reading a batch to asking for the next one, so the
        consumer's work counts too).

    Raises
    ------
    Cancelled
        When ``cancel`` is set.
    StrataError
        When ``batch_size`` is below 1, or a sample cannot be read.
    """
    if batch_size < 1:
        raise StrataError(f"batch size must be at least 1, not {batch_size}")
    indices = (np.arange(len(samples), dtype=np.int64) if order is None
               else np.asarray(order, dtype=np.int64).reshape(-1))
    total, done, size = len(indices), 0, int(batch_size)
    while done < total:
        if cancel is not None and cancel.is_set():
            raise Cancelled("cancelled")
        rows = np.arange(done, min(done + size, total), dtype=np.int64)
        began = time.perf_counter()
        idx = indices[rows]
        x = samples.batch(idx)
        done += len(rows)
        yield SampleBatch(rows, idx, x, done, total)
        took = time.perf_counter() - began
        if adaptive and took > SLOW_BATCH:
            size = max(1, int(size * TARGET_BATCH / took))
