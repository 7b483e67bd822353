"""The net's predicted class for every sample, computed in batches in the background.

The sample strip marks each thumbnail right or wrong and filters the
misclassified ones; that needs a forward pass over all samples. It runs on a
runner of its own (:func:`viewer.app.predictions.predict_all`), batch by batch
in index order, and hands each batch's classes to the main thread as it goes,
so marks appear while the user scrolls. A new net or new samples cancel it
(checked between batches).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
from PyQt5.QtCore import QObject, pyqtSignal

from viewer.analysis.reading import predicts_classes
from viewer.app.messages import error_text, report
from viewer.app.predictions import predict_all
from viewer.gui.state import AppState
from viewer.gui.worker import LatestRunner


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
        self.runner = LatestRunner(self, "strata-predict")
        self.runner.progressed.connect(self._on_chunk)
        self.runner.failed.connect(self._on_failed)
        self._job = 0
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
        self._job = self.runner.submit(partial(predict_all, self.state.net, self.state.samples),
                                       with_job=True)

    def shutdown(self, timeout_ms: int = 2000) -> None:
        """Stop and wait for the thread (closing the window)."""
        self.runner.shutdown(timeout_ms)

    def _reset(self) -> None:
        self.runner.forget()
        self._started = False
        self.done = 0
        state = self.state
        ok = state.net is not None and state.samples is not None and predicts_classes(state.net)
        self.predicted = np.full(len(state.samples), -1, np.int64) if ok else None

    def _on_chunk(self, job: int, _done: int, _total: int, chunk: Any) -> None:
        if job != self._job or self.predicted is None:
            return
        start, classes = chunk
        end = start + len(classes)
        self.predicted[start:end] = classes
        self.done = end
        self.progressed.emit(start, end)
        if self.complete:
            self.finished.emit()

    def _on_failed(self, job: int, error: BaseException) -> None:
        if job == self._job:
            message = error_text(error)
            report(message)
            self.failed.emit(message)
