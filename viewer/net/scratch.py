"""Work arrays of the convolution kernels, reused from call to call.

A forward pass allocates the same padded copies, im2col matrices and
transform buffers on every call; for large ones each allocation is fresh
memory the system must map and zero, which measured as costly as the
arithmetic on a busy machine. The kernels take them from here instead: one
pool per thread (evaluations in different threads never share a buffer),
most recently used kept, bounded by :data:`BUDGET_BYTES`.

A buffer is only scratch: it never leaves the kernel that asked for it, and
results returned to callers are always new arrays.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Callable, Hashable

import numpy as np

#: Bytes of work arrays one thread keeps between calls.
BUDGET_BYTES = 96 << 20

_local = threading.local()


def _pool() -> OrderedDict:
    pool = getattr(_local, "pool", None)
    if pool is None:
        pool = _local.pool = OrderedDict()
    return pool


def buffer(tag: Hashable, shape: tuple, dtype: Any, fill: float | None = None) -> np.ndarray:
    """A work array of ``shape`` and ``dtype`` for the purpose ``tag``.

    Parameters
    ----------
    tag : hashable
        What the array is for. Two arrays used at the same time need two
        tags. With ``fill`` the tag must also hold whatever decides which
        cells the caller overwrites (e.g. the padding), because only the
        cells it never writes keep the fill value from one call to the next.
    fill : float, optional
        Value of every cell when the array is new (np.empty otherwise).
    """
    key = (tag, tuple(shape), np.dtype(dtype).str, fill)
    return _kept(key, lambda: np.empty(shape, dtype) if fill is None else np.full(shape, fill, dtype))


def reused(tag: Hashable, make: Callable[[], Any]) -> Any:
    """A work object (arrays and views of them) for the purpose ``tag``, made once.

    Kept like the arrays of :func:`buffer` (per thread, within the budget), so
    a kernel can keep the views it slices out of its work arrays instead of
    slicing them again on every call. ``make()`` returns an object with an
    ``nbytes`` attribute, the bytes of the arrays it owns; ``tag`` must hold
    everything the object depends on (shapes, padding, dtype).
    """
    return _kept(("reused", tag), make)


def _kept(key: Hashable, make: Callable[[], Any]) -> Any:
    """The pool's entry for ``key`` (made if missing), now the most recently used."""
    pool = _pool()
    entry = pool.pop(key, None)
    if entry is None:
        entry = make()
        held = sum(e.nbytes for e in pool.values())
        while pool and held + entry.nbytes > BUDGET_BYTES:
            held -= pool.popitem(last=False)[1].nbytes
    if entry.nbytes <= BUDGET_BYTES:
        pool[key] = entry
    return entry
