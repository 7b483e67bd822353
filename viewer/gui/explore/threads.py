"""Background threads for long jobs (sweeps, predictions) that never block Qt.

Why not a QThreadPool: destroying one waits for its running jobs while the
destroying thread holds Python's GIL, and a job still finishing Python code
then waits for the GIL forever (a hang when a view is deleted right after a
job ended). Plain daemon threads are never waited for by Qt; :meth:`Workers.join`
bounds the wait when the window closes, and releases the GIL while it waits.
Results go back to the main thread through queued Qt signals (:func:`emit`).
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable


def emit(signal: Any, *args: Any) -> None:
    """Emit a Qt signal from a worker thread; nothing happens if its object is gone."""
    try:
        signal.emit(*args)
    except RuntimeError:  # the relay was deleted with its view: nobody is listening
        pass


class Workers:
    """The daemon threads one controller started, so it can wait for them on close."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._threads: list[threading.Thread] = []

    def start(self, target: Callable[[], None]) -> threading.Thread:
        """Run ``target()`` on a new daemon thread."""
        self._threads = [t for t in self._threads if t.is_alive()]
        thread = threading.Thread(target=target, name=self._name, daemon=True)
        self._threads.append(thread)
        thread.start()
        return thread

    def join(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds in all for the threads; True if all ended."""
        end = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, end - time.monotonic()))
        self._threads = [t for t in self._threads if t.is_alive()]
        return not self._threads
