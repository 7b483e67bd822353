"""Dataset sweeps off the main thread: progress, time left, cancel, a cache.

A :class:`SweepController` runs :class:`viewer.analysis.sweep.Sweep` for the
state's net and samples on a runner of its own (see :mod:`viewer.gui.worker`), so
the window stays free for browsing while it runs. One sweep runs at a time:
starting another cancels the one running. Cancel sets the job's event the sweep checks between
its batches, which it keeps short (about 0.15 s), so it stops within half a
second. Finished sweeps are kept per (layer, subset) for as long as the net
and samples stay open: coming back to a swept layer shows its result at once.

The controller also holds the *unit* the dataset views look at (a dense
unit or a conv channel), so the table, the gallery and the class view agree.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable

from PyQt5.QtCore import QObject, pyqtSignal

from viewer.app.messages import error_text, report
from viewer.app.runner import Job
from viewer.app.sweeps import AUTO_SWEEP_LIMIT, IN_PROCESS, TOP_K, Subset
from viewer.gui.state import AppState
from viewer.gui.worker import LatestRunner


@dataclass
class _Job:
    """The sweep running now: its id, what it covers, when it began."""

    id: int
    layer: int
    subset: Subset
    began: float


def _sweep_job(make: Callable[[], Any], where: str, job: Job) -> tuple[Any, str]:
    """Run one sweep (on the runner's thread), reporting its progress: (result, where it ran).

    Off this process the sweep runs in shards on a Dask cluster started (``local:N``)
    or reached (``tcp://``) for it; cancel stops waiting and cancels the shards' futures.
    """
    sweep = make()
    if where == IN_PROCESS:
        return sweep.run(progress=lambda done, total: job.progress(done, total),
                         cancel=job.cancel), IN_PROCESS
    from viewer.cluster.dask_client import DaskCluster
    from viewer.cluster.run import run_shards

    with DaskCluster(where) as cluster:
        state, ran = run_shards(sweep, executor=cluster.executor(), cancel=job.cancel,
                                progress=lambda p: job.progress(p.done, p.total))
    return sweep.finish(state, ran.elapsed)[sweep.layer], ran.where


class SweepController(QObject):
    """Sweeps of the state's layers, their cache, and the unit being looked at.

    Parameters
    ----------
    state : AppState
    parent : QObject, optional
    k : int
        Top and bottom samples kept per unit.
    batch_size : int
        Most samples per forward pass of a sweep.

    Attributes
    ----------
    result : SweepResult or None
        The sweep of the state's current layer (and subset), when there is one.
    unit : int
        The unit (or channel) the dataset views show.
    auto : bool
        Sweep each layer the state selects without being asked.
    active : bool
        Someone looks at the results (a dataset view is on show): automatic
        sweeps run only then.
    subset : Subset
        The samples sweeps cover.
    threshold : float
        A unit is active on a sample when its peak exceeds this (see
        viewer.analysis.sweep); never active means dead in ReLU-like layers.
    where : str
        Where sweeps run: "in-process", "local:N" or "tcp://HOST:PORT".
    ran : str or None
        Where the shown result ran ("local:2 (2 worker processes)").

    Signals
    -------
    started(int)
        A sweep of this layer began.
    progress(int, int, float)
        Samples done, samples in all, estimated seconds left (NaN at first).
    finished(object)
        A sweep ended with a result (a SweepResult, now cached), whatever layer
        is selected.
    cancelled(int)
        The sweep of this layer was cancelled; it stops within half a second.
    failed(str)
        A sweep failed; a one-line message.
    runningChanged(bool)
        A sweep started, or the last one ended.
    resultChanged(object)
        The result for the current layer (a SweepResult), or None.
    unitChanged(int)
        The unit looked at changed.
    """

    started = pyqtSignal(int)
    progress = pyqtSignal(int, int, float)
    finished = pyqtSignal(object)
    cancelled = pyqtSignal(int)
    failed = pyqtSignal(str)
    runningChanged = pyqtSignal(bool)
    resultChanged = pyqtSignal(object)
    unitChanged = pyqtSignal(int)

    def __init__(self, state: AppState, parent: QObject | None = None, *, k: int = TOP_K,
                 batch_size: int = 256) -> None:
        super().__init__(parent)
        self.state = state
        self.k, self.batch_size = k, batch_size
        self.runner = LatestRunner(self, "strata-sweep")
        self.runner.progressed.connect(self._on_progress)
        self.runner.finished.connect(self._on_finished)
        self.runner.failed.connect(self._on_failed)
        self._cache: dict[tuple[int, Subset], tuple[Any, str]] = {}
        self.where = IN_PROCESS
        self.ran: str | None = None
        self._job: _Job | None = None
        self.result: Any = None
        self.unit = 0
        self.auto = True
        self.active = True
        self.subset = Subset()
        self.threshold = 0.0
        state.netChanged.connect(lambda _n: self._reset())
        state.samplesChanged.connect(lambda _s: self._reset())
        state.layerChanged.connect(lambda _i: self._follow_layer())
        state.channelChanged.connect(self._follow_channel)

    # -- what is shown ----------------------------------------------------------

    @property
    def running(self) -> bool:
        """True while a sweep that has not been cancelled runs or waits."""
        return self._job is not None

    @property
    def idle(self) -> bool:
        """True when no sweep is working (cancelled ones have ended too)."""
        return self.runner.idle

    @property
    def running_layer(self) -> int | None:
        """The layer being swept, or None."""
        return None if self._job is None else self._job.layer

    def cached(self, layer: int, subset: Subset | None = None) -> Any:
        """The finished sweep of ``layer`` over ``subset`` (default: the current one), or None."""
        return self._cache.get((layer, subset or self.subset), (None, None))[0]

    def set_where(self, where: str) -> None:
        """Run sweeps in this process, or on a Dask cluster ("local:N", "tcp://HOST:PORT"),
        from the next one on (see :func:`viewer.app.sweeps.check_where`)."""
        self.where = where

    def set_unit(self, unit: int) -> None:
        """Look at unit ``unit`` of the current result."""
        unit = int(unit)
        if self.result is not None:
            unit = min(max(unit, 0), self.result.n_units - 1)
        if unit != self.unit:
            self.unit = unit
            self.unitChanged.emit(unit)

    def set_subset(self, subset: Subset) -> None:
        """Sweep ``subset`` of the samples from now on (and now, when automatic)."""
        if subset != self.subset:
            self.subset = subset
            self._follow_layer()

    def set_threshold(self, threshold: float) -> None:
        """Count units as active above ``threshold`` from now on: earlier sweeps are forgotten."""
        threshold = float(threshold)
        if threshold != self.threshold:
            self.threshold = threshold
            self._reset()

    def set_auto(self, on: bool) -> None:
        """Sweep each selected layer without being asked (now too, when on)."""
        self.auto = bool(on)
        if self.auto:
            self._follow_layer()

    def set_active(self, on: bool) -> None:
        """Results are looked at (or no longer): automatic sweeps may run (or not)."""
        self.active = bool(on)
        if self.active:
            self._follow_layer()

    def should_auto_sweep(self) -> bool:
        """True when automatic sweeps are on, wanted, and the subset is small enough."""
        samples = self.state.samples
        if not (self.auto and self.active) or samples is None:
            return False
        n = len(samples) if self.subset.size is None else min(self.subset.size, len(samples))
        return n <= AUTO_SWEEP_LIMIT

    # -- running ------------------------------------------------------------------

    def run(self, layer: int | None = None) -> int | None:
        """Sweep ``layer`` (default: the state's) unless it is cached or running.

        Returns the job id, or None when nothing had to start.
        """
        state = self.state
        if state.net is None or state.samples is None:
            return None
        layer = state.layer if layer is None else int(layer)
        if self.cached(layer) is not None:
            self._show(layer)
            return None
        if self._job is not None and (self._job.layer, self._job.subset) == (layer, self.subset):
            return self._job.id
        self.cancel()
        net, samples, subset = state.net, state.samples, self.subset
        k, batch, threshold, where = self.k, self.batch_size, self.threshold, self.where

        def make() -> Any:
            from viewer.analysis.sweep import Sweep

            return Sweep(net, samples, layer, indices=subset.indices(len(samples)),
                         batch_size=batch, k=k, threshold=threshold)

        was_running = self.running
        job_id = self.runner.submit(partial(_sweep_job, make, where), with_job=True)
        self._job = _Job(job_id, layer, subset, time.monotonic())
        self.started.emit(layer)
        if not was_running:
            self.runningChanged.emit(True)
        return job_id

    def cancel(self, quiet: bool = False) -> None:
        """Stop the running sweep (its thread ends after the batch in hand).

        ``quiet``: no ``cancelled`` signal (the net it belonged to is gone).
        """
        if self._job is None:
            return
        job, self._job = self._job, None
        self.runner.forget()
        self.runningChanged.emit(False)
        if not quiet:  # after: the bar's "cancelled" is not replaced by its idle summary
            self.cancelled.emit(job.layer)

    def shutdown(self, timeout_ms: int = 2000) -> None:
        """Cancel and wait for the sweep thread (closing the window)."""
        self.cancel()
        self.runner.shutdown(timeout_ms)

    def _on_progress(self, job_id: int, done: int, total: int, _partial: Any) -> None:
        if self._job is None or self._job.id != job_id:
            return
        elapsed = time.monotonic() - self._job.began
        left = elapsed / done * (total - done) if done else math.nan
        self.progress.emit(done, total, left)

    def _on_finished(self, job_id: int, outcome: tuple[Any, str]) -> None:
        if self._job is None or self._job.id != job_id:
            return  # cancelled, or from a net or samples no longer open
        layer, subset = self._job.layer, self._job.subset
        self._job = None
        self._cache[(layer, subset)] = outcome
        result = outcome[0]
        self.finished.emit(result)
        if layer == self.state.layer and subset == self.subset:
            self._show(layer)
        self.runningChanged.emit(False)

    def _on_failed(self, job_id: int, error: BaseException) -> None:
        if self._job is None or self._job.id != job_id:
            return
        self._job = None
        message = error_text(error)
        report(message)
        self.failed.emit(message)
        self.runningChanged.emit(False)

    # -- following the state ----------------------------------------------------

    def _reset(self) -> None:
        """A new net or new samples: forget every result."""
        self.cancel(quiet=True)
        self._cache.clear()
        self._follow_layer()

    def _follow_layer(self) -> None:
        layer = self.state.layer
        if self.cached(layer) is not None:
            self._show(layer)
            return
        if self.result is not None:
            self.result, self.ran = None, None
            self.resultChanged.emit(None)
        if self.should_auto_sweep():
            self.run(layer)

    def _show(self, layer: int) -> None:
        result, ran = self._cache[(layer, self.subset)]
        if result is self.result:
            return
        self.result, self.ran = result, ran
        if self.unit >= result.n_units:
            self.unit = 0
        self.resultChanged.emit(result)
        self.unitChanged.emit(self.unit)

    def _follow_channel(self, channel: Any) -> None:
        """The heatmap enlarged a channel: look at that unit of a conv layer too."""
        if channel is not None and self.result is not None and len(self.result.shape) == 3:
            self.set_unit(channel)
