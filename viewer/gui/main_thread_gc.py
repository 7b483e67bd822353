"""Python's cyclic garbage collector runs on the main thread only.

CPython collects reference cycles on whichever thread happens to allocate when
a generation's threshold is crossed: a sweep's worker, a Dask thread. A Qt
object caught in a cycle (a closed dialog, a view whose signals hold lambdas
that name it) is then destroyed on that thread while the main thread may be
delivering a queued signal to it, and the process dies with a segmentation
fault. :func:`install` turns the automatic collector off and collects from a
timer on the main thread instead, by the same generation thresholds, so every
Qt object is destroyed where it lives. Reference counting still frees
everything outside cycles at once.
"""

from __future__ import annotations

import gc

from PyQt5.QtCore import QObject, QTimer

#: How often the main thread looks at the collector's counts.
INTERVAL_MS = 500

_timer: QTimer | None = None
_frozen = False


def collect_if_due() -> int:
    """Collect the oldest generation whose threshold is crossed, as CPython would.

    Returns
    -------
    int
        The generation collected, or -1 when none was due.
    """
    counts, thresholds = gc.get_count(), gc.get_threshold()
    if counts[0] <= thresholds[0]:
        return -1
    generation = 0
    for gen in (1, 2):
        if counts[gen] > thresholds[gen]:
            generation = gen
    gc.collect(generation)
    return generation


def freeze_start_up() -> None:
    """Set aside the objects start-up made: the collector skips them from now on.

    Modules, classes and matplotlib's tables live as long as the program;
    left in the young generation, the first collection looks at all of them
    in one ~50 ms stop of the window. Once per process (a test session opens
    many windows).
    """
    global _frozen
    if not _frozen:
        _frozen = True
        gc.freeze()


def install(app: QObject) -> None:
    """Stop automatic collection; collect on ``app``'s (the main) thread from now on."""
    global _timer
    gc.disable()
    if _timer is None:
        _timer = QTimer(app)
        _timer.setInterval(INTERVAL_MS)
        _timer.timeout.connect(collect_if_due)
        _timer.destroyed.connect(_forget_timer)
        _timer.start()


def _forget_timer(_obj: object = None) -> None:
    """The application is gone, and with it every Qt object: collect as Python does."""
    global _timer
    _timer = None
    gc.enable()
