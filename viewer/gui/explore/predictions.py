"""The net's predicted class for every sample, computed in batches in the background.

The sample strip marks each thumbnail right or wrong and filters the
misclassified ones; that needs a forward pass over all samples. It runs on a
thread of its own, batch by batch in index order, and hands each batch's
classes to the main thread as it goes, so marks appear while the user
scrolls. A new net or new samples cancel it (checked between batches).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
from PyQt5.QtCore import QObject, pyqtSignal

from viewer.gui.explore.common import predicts
from viewer.gui.explore.threads import Workers, emit
from viewer.gui.jobs import error_text
from viewer.gui.state import AppState, report

BATCH = 256
#: A batch slower than this (seconds) makes the next ones smaller: cancel stays quick.
SLOW_BATCH = 0.25


class _Relay(QObject):
    chunk = pyqtSignal(int, int, object)  # generation, first index, classes (n,)
    done = pyqtSignal(int, object)  # generation, exception or None


def _predict_job(generation: int, net: Any, samples: Any, cancel: threading.Event,
                 relay: _Relay) -> None:
    """Predict every sample batch by batch (on a worker thread), reporting each batch."""
    n, last = len(samples), len(net) - 1
    start, size = 0, BATCH
    try:
        while start < n and not cancel.is_set():
            began = time.perf_counter()
            idx = np.arange(start, min(start + size, n))
            scores = net.outputs(samples.batch(idx), [last])[last]
            emit(relay.chunk, generation, start, scores.argmax(axis=1).astype(np.int64))
            start += len(idx)
            took = time.perf_counter() - began
            if took > SLOW_BATCH:
                size = max(1, int(size * SLOW_BATCH / 2 / took))
    except Exception as exc:  # shown as a message; the strip keeps its labels
        emit(relay.done, generation, exc)
        return
    emit(relay.done, generation, None)


class Predictions(QObject):
    """Predicted classes of the state's samples, filled in the background.

    Call :meth:`start` when they are needed (the strip does so when shown).

    Attributes
    ----------
    predicted : np.ndarray, shape (N,), int64, or None
        The class per sample, -1 where not known yet; None when the net does
        not predict classes (no softmax at its end) or there are no samples.
    done : int
        Samples predicted so far (a prefix: 0..done-1).

    Signals
    -------
    progressed(int, int)
        First index and end of a newly predicted range.
    finished()
        Every sample is predicted.
    failed(str)
        The forward pass failed; a one-line message.
    """

    progressed = pyqtSignal(int, int)
    finished = pyqtSignal()
    failed = pyqtSignal(str)

    def __init__(self, state: AppState, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.workers = Workers("strata-predict")
        self._relay = _Relay(self)
        self._relay.chunk.connect(self._on_chunk)
        self._relay.done.connect(self._on_done)
        self._generation = 0
        self._cancel: threading.Event | None = None
        self._started = False
        self.predicted: np.ndarray | None = None
        self.done = 0
        state.netChanged.connect(lambda _n: self._reset())
        state.samplesChanged.connect(lambda _s: self._reset())
        self._reset()

    @property
    def complete(self) -> bool:
        """True when every sample is predicted."""
        return self.predicted is not None and self.done == len(self.predicted)

    def start(self) -> None:
        """Begin predicting (once per net and samples)."""
        if self._started or self.predicted is None:
            return
        self._started = True
        cancel = self._cancel = threading.Event()
        job = (self._generation, self.state.net, self.state.samples, cancel, self._relay)
        self.workers.start(lambda: _predict_job(*job))

    def shutdown(self, timeout_ms: int = 2000) -> None:
        """Stop and wait for the thread (closing the window)."""
        if self._cancel is not None:
            self._cancel.set()
        self.workers.join(timeout_ms / 1000)

    def _reset(self) -> None:
        if self._cancel is not None:
            self._cancel.set()
        self._generation += 1
        self._started = False
        self.done = 0
        state = self.state
        ok = state.net is not None and state.samples is not None and predicts(state.net)
        self.predicted = np.full(len(state.samples), -1, np.int64) if ok else None

    def _on_chunk(self, generation: int, start: int, classes: np.ndarray) -> None:
        if generation != self._generation or self.predicted is None:
            return
        end = start + len(classes)
        self.predicted[start:end] = classes
        self.done = end
        self.progressed.emit(start, end)
        if self.complete:
            self.finished.emit()

    def _on_done(self, generation: int, error: Any) -> None:
        if generation == self._generation and error is not None:
            message = error_text(error)
            report(message)
            self.failed.emit(message)
