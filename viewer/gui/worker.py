"""The runner of :mod:`viewer.app.runner` with its outcomes as Qt signals.

One :class:`Relay`, living as long as the application, carries every runner's
callbacks from worker threads to the main thread (a queued signal), where
widgets and matplotlib may be touched. :class:`LatestRunner` is what every
view uses for background work. A worker never emits on an object that a view
can take with it when it closes, and an outcome whose view has gone is dropped
on the main thread.
"""

from __future__ import annotations

import weakref
from functools import partial
from typing import Any, Callable

from PyQt5 import sip
from PyQt5.QtCore import QCoreApplication, QObject, pyqtSignal

from viewer.app.runner import Runner


class Relay(QObject):
    """Runs callables posted from any thread on the thread this object lives in."""

    call = pyqtSignal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.call.connect(lambda fn: fn())

    def post(self, fn: Callable[[], None]) -> None:
        """Run ``fn()`` soon on this object's thread (raises RuntimeError once it is deleted)."""
        self.call.emit(fn)


_main_relay: Relay | None = None


def main_thread_relay() -> Relay:
    """The application's relay (made on first use, which must be on the main thread)."""
    global _main_relay
    if _main_relay is None or sip.isdeleted(_main_relay):
        _main_relay = Relay(QCoreApplication.instance())
    return _main_relay


def _deliver_if_alive(owner: "weakref.ref[LatestRunner]", fn: Callable[[], None]) -> None:
    runner = owner()
    if runner is None or sip.isdeleted(runner):
        return  # its view closed: nobody to tell
    fn()


class LatestRunner(QObject):
    """Run submitted callables off the main thread; deliver only the newest.

    Parameters
    ----------
    parent : QObject, optional
    name : str
        The worker thread's name.

    Signals
    -------
    finished(int, object)
        Job id and its return value, for the newest job only.
    failed(int, object)
        Job id and the exception it raised, for the newest job only.
    progressed(int, int, int, object)
        Job id, done, total and a partial result, from the newest job.
    busyChanged(bool)
        True when a job starts while none was running, False when the last ends.
    """

    finished = pyqtSignal(int, object)
    failed = pyqtSignal(int, object)
    progressed = pyqtSignal(int, int, int, object)
    busyChanged = pyqtSignal(bool)

    def __init__(self, parent: QObject | None = None, name: str = "strata-worker") -> None:
        super().__init__(parent)
        relay, owner = main_thread_relay(), weakref.ref(self)
        self.runner = Runner(lambda fn: relay.post(partial(_deliver_if_alive, owner, fn)), name)
        self.runner.on_finished = self.finished.emit
        self.runner.on_failed = self.failed.emit
        self.runner.on_progress = self.progressed.emit
        self.runner.on_busy = self.busyChanged.emit

    def submit(self, fn: Callable[..., Any], *, with_job: bool = False) -> int:
        """Schedule ``fn()`` (``fn(job)`` with ``with_job``: progress and cancel). Returns its id."""
        return self.runner.submit(fn, with_job=with_job)

    def forget(self) -> None:
        """Drop the waiting job and make the running one stale (and cancelled)."""
        self.runner.forget()

    def shutdown(self, timeout_ms: int = 5000) -> bool:
        """Forget all work and wait for the thread; True if it ended in time."""
        return self.runner.shutdown(timeout_ms / 1000)

    @property
    def latest_id(self) -> int:
        """Id of the newest submission (0 before any)."""
        return self.runner.latest_id

    @property
    def busy(self) -> bool:
        """True while a job runs or waits."""
        return self.runner.busy

    @property
    def idle(self) -> bool:
        """True when the worker thread runs nothing (cancelled jobs have ended too)."""
        return self.runner.idle

    @property
    def started(self) -> int:
        return self.runner.started

    @property
    def dropped(self) -> int:
        return self.runner.dropped

    @property
    def max_in_flight(self) -> int:
        return self.runner.max_in_flight
