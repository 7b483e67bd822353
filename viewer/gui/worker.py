"""Running slow work off the main thread, keeping only the newest request.

A :class:`LatestRunner` takes callables and runs them on a thread pool, one at
a time. Each submission gets a rising id. While a job runs, newer submissions
replace each other in a single "pending" slot, so holding a key down through
hundreds of samples never builds a queue: at most one job runs and one waits,
and the latest always wins. A finished job whose id is no longer the newest is
dropped instead of delivered.

Results are handed back through a Qt signal, so slots run on the main thread,
where widgets and matplotlib may be touched.
"""

from __future__ import annotations

from typing import Any, Callable

from PyQt5.QtCore import QObject, QRunnable, QThreadPool, pyqtSignal


class _Relay(QObject):
    """Carries a job's outcome from the pool thread to the main thread."""

    done = pyqtSignal(int, object, object)  # job id, result, exception


class _Job(QRunnable):
    def __init__(self, job_id: int, fn: Callable[[], Any], relay: _Relay) -> None:
        super().__init__()
        self.setAutoDelete(True)
        self._id = job_id
        self._fn = fn
        self._relay = relay

    def run(self) -> None:
        try:
            result, error = self._fn(), None
        except Exception as exc:  # every failure is reported, never lost in the pool
            result, error = None, exc
        try:
            self._relay.done.emit(self._id, result, error)
        except RuntimeError:  # the window that asked was closed meanwhile: nobody to tell
            pass


class LatestRunner(QObject):
    """Run submitted callables off the main thread; deliver only the newest.

    Parameters
    ----------
    pool : QThreadPool
        Where jobs run.
    parent : QObject, optional

    Signals
    -------
    finished(int, object)
        Job id and its return value, for the newest job only.
    failed(int, object)
        Job id and the exception it raised, for the newest job only.
    busyChanged(bool)
        True when a job starts while none was running, False when the last ends.
    """

    finished = pyqtSignal(int, object)
    failed = pyqtSignal(int, object)
    busyChanged = pyqtSignal(bool)

    def __init__(self, pool: QThreadPool, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = pool
        self._relay = _Relay(self)
        self._relay.done.connect(self._on_done)
        self._latest = 0
        self._running: int | None = None
        self._pending: tuple[int, Callable[[], Any]] | None = None
        self._busy = False
        # Counters the tests and benchmarks read.
        self.started = 0
        self.dropped = 0
        self.max_in_flight = 0

    @property
    def latest_id(self) -> int:
        """Id of the newest submission (0 before any)."""
        return self._latest

    @property
    def busy(self) -> bool:
        """True while a job runs or waits."""
        return self._running is not None

    def submit(self, fn: Callable[[], Any]) -> int:
        """Schedule ``fn()``; replace any job still waiting. Returns the new id."""
        self._latest += 1
        job_id = self._latest
        if self._running is None:
            self._start(job_id, fn)
        else:
            if self._pending is not None:
                self.dropped += 1
            self._pending = (job_id, fn)
        self.max_in_flight = max(self.max_in_flight,
                                 (self._running is not None) + (self._pending is not None))
        return job_id

    def forget(self) -> None:
        """Drop the waiting job and make the running one stale."""
        if self._pending is not None:
            self._pending = None
            self.dropped += 1
        self._latest += 1

    def _start(self, job_id: int, fn: Callable[[], Any]) -> None:
        self._running = job_id
        self.started += 1
        self._pool.start(_Job(job_id, fn, self._relay))
        self._set_busy(True)

    def _set_busy(self, busy: bool) -> None:
        if busy != self._busy:
            self._busy = busy
            self.busyChanged.emit(busy)

    def _on_done(self, job_id: int, result: Any, error: Any) -> None:
        self._running = None
        if self._pending is not None:
            next_id, fn = self._pending
            self._pending = None
            self._start(next_id, fn)
        if job_id != self._latest:
            self.dropped += 1
        elif error is not None:
            self.failed.emit(job_id, error)
        else:
            self.finished.emit(job_id, result)
        if self._running is None:
            self._set_busy(False)
