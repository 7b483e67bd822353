"""The window's one state object: net, samples, selection, display options.

Widgets read the state's attributes, call its methods to change them, and
listen to its signals; they never talk to each other directly. Opening files
and computing activations run on worker threads (see
:class:`~viewer.gui.worker.LatestRunner`), so every method here returns at
once and the outcome arrives later as a signal on the main thread.
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from typing import Any, Callable

from PyQt5.QtCore import QObject, pyqtSignal

from viewer.app.colouring import Colouring, LayerRanges, range_of_first, range_of_sweep
from viewer.app.compute import Request, Result, TraceCache, compute, prefetch
from viewer.app.messages import error_text, report
from viewer.app.opening import Opened, open_file, open_paths, reprocess
from viewer.app.pairs import PairMemory
from viewer.app.options import DisplayOptions
from viewer.app.selection import default_layer
from viewer.gui.worker import LatestRunner


class AppState(QObject):
    """Net, samples, selected layer and sample, display options, last result.

    Signals
    -------
    netChanged(object)
        A new net (after its samples, layer and sample were set).
    samplesChanged(object)
        New samples (a SampleSet, or None when the net has none).
    layerChanged(int), sampleChanged(int)
        The selection moved.
    channelChanged(object)
        The channel shown large (int), or None for the whole layer.
    unitChosen(int, int)
        The user picked a unit (layer, unit) in the Dataset panel's table.
    optionsChanged(object)
        New :class:`DisplayOptions`.
    resultReady(object)
        A :class:`~viewer.app.compute.Result` for the current selection, or None
        when there is nothing to compute (no net or no samples).
    computeFailed(str), openFailed(str)
        One-line messages for the user.
    fileOpened(str)
        A file was opened successfully (for recent files).
    choiceChanged(object)
        The preprocessing of the samples on show (a
        :class:`~viewer.data.proposal.Choice`, or None without samples).
    busyChanged(bool)
        Work started or all work ended.
    """

    netChanged = pyqtSignal(object)
    samplesChanged = pyqtSignal(object)
    layerChanged = pyqtSignal(int)
    sampleChanged = pyqtSignal(int)
    channelChanged = pyqtSignal(object)
    unitChosen = pyqtSignal(int, int)
    optionsChanged = pyqtSignal(object)
    resultReady = pyqtSignal(object)
    computeFailed = pyqtSignal(str)
    openFailed = pyqtSignal(str)
    fileOpened = pyqtSignal(str)
    choiceChanged = pyqtSignal(object)
    busyChanged = pyqtSignal(bool)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.loader = LatestRunner(self, "strata-open")
        self.computer = LatestRunner(self, "strata-compute")
        self.prefetcher = LatestRunner(self, "strata-prefetch")
        self.ranger = LatestRunner(self, "strata-ranges")  # dataset colour ranges
        self.cache = TraceCache()
        self.ranges = LayerRanges()  # the layers' colour ranges for the "dataset" scale
        # Set by the heatmap once matplotlib is loaded: colour option -> Colouring,
        # so the worker can colour pictures off the main thread.
        self.colouring: Callable[[str], Colouring] | None = None
        self._direction = 0  # +1 / -1 while stepping through samples
        self._range_wanted: tuple = ()  # (net, samples, layer) whose range is being found
        self.net: Any = None
        self.samples: Any = None
        self.samples_path: str | None = None
        self.net_path: str | None = None  # the file the net came from
        self.choice: Any = None  # the samples' preprocessing and why (viewer.data.proposal)
        self.memory = PairMemory()  # the window fills it from its settings
        self.layer = 0
        self.sample = 0
        self.channel: int | None = None
        self.options = DisplayOptions()
        self.result: Result | None = None
        self.loader.finished.connect(self._on_opened)
        self.loader.failed.connect(self._on_open_failed)
        self.computer.finished.connect(self._on_result)
        self.computer.failed.connect(self._on_compute_failed)
        self.ranger.finished.connect(self._on_range)
        self.ranger.failed.connect(lambda _job, exc: report(error_text(exc)))
        self.loader.busyChanged.connect(self._on_busy)
        self.computer.busyChanged.connect(self._on_busy)

    # -- opening ------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        """True while a file is being opened or an activation computed."""
        return self.loader.busy or self.computer.busy

    def open(self, path: str, samples_path: str | None = None) -> int:
        """Open a net (optionally with a samples file), or samples for the current net.

        Returns the request id; the outcome is ``netChanged``/``samplesChanged``
        and ``fileOpened``, or ``openFailed`` with the current net kept.
        """
        return self.loader.submit(partial(open_file, path, self.net, samples_path,
                                          net_file=self.net_path, memory=self.memory))

    def set_net(self, net: Any, samples: Any = None, samples_path: str | None = None) -> None:
        """Show a net already in memory (from a script or a test), with its samples."""
        self._apply(Opened(net.path or "", net, samples, samples_path))

    def open_many(self, paths: list[str]) -> int:
        """Open dropped files: the first net among them with the first samples file."""
        return self.loader.submit(partial(open_paths, list(paths), self.net,
                                          net_file=self.net_path, memory=self.memory))

    def set_preprocess(self, preprocess: dict | None) -> int | None:
        """Preprocess the samples on show anew (None: Strata's own choice); everything recomputes.

        Returns the request id; the outcome is ``samplesChanged`` and
        ``choiceChanged`` with the selection kept, or ``openFailed``.
        """
        if self.net is None or self.samples is None:
            return None
        return self.loader.submit(partial(reprocess, self.net, self.net_path, self.samples_path,
                                          preprocess))

    def _on_opened(self, _job: int, opened: Opened) -> None:
        self._apply(opened)
        if opened.path and not opened.same_samples:
            self.fileOpened.emit(opened.path)
        if opened.samples_path:
            self.fileOpened.emit(opened.samples_path)

    def _apply(self, opened: Opened) -> None:
        """Make what was opened current, and compute the selection."""
        self.loader.forget()  # an older open still running must not replace this
        if opened.net is not None:
            self.cache.clear()
            self.ranges.clear()
            self.net = opened.net
            self.net_path = opened.path or None
            self.samples = opened.samples
            self.samples_path = opened.samples_path
            self.choice = opened.choice
            self.layer = default_layer(opened.net)
            self.sample = 0
            self.channel = None
            self.netChanged.emit(self.net)
            self.samplesChanged.emit(self.samples)
            self.layerChanged.emit(self.layer)
            self.sampleChanged.emit(self.sample)
            self.channelChanged.emit(None)
            self.choiceChanged.emit(self.choice)
        else:
            self.samples = opened.samples
            self.samples_path = opened.samples_path if opened.same_samples else opened.path
            self.choice = opened.choice
            self.cache.clear()  # other samples, or the same ones preprocessed anew
            self.sample = min(self.sample, len(opened.samples) - 1) if opened.same_samples else 0
            self.samplesChanged.emit(self.samples)
            self.sampleChanged.emit(self.sample)
            self.choiceChanged.emit(self.choice)
        self.request()

    def _on_open_failed(self, _job: int, exc: BaseException) -> None:
        message = error_text(exc)
        report(message)
        self.openFailed.emit(message)

    # -- selection and options ----------------------------------------------------

    def set_layer(self, index: int) -> None:
        """Select layer ``index`` (clamped to the net)."""
        if self.net is None:
            return
        index = min(max(int(index), 0), len(self.net) - 1)
        if index == self.layer:
            return
        self.layer = index
        self.layerChanged.emit(index)
        if self.channel is not None:
            self.channel = None
            self.channelChanged.emit(None)
        self.request()

    def step_layer(self, delta: int) -> None:
        """Move the layer selection by ``delta``."""
        self.set_layer(self.layer + delta)

    def set_sample(self, index: int) -> None:
        """Select sample ``index`` (clamped to the samples)."""
        if self.samples is None:
            return
        index = min(max(int(index), 0), len(self.samples) - 1)
        if index == self.sample:
            return
        self._direction = 1 if index == self.sample + 1 else -1 if index == self.sample - 1 else 0
        self.sample = index
        self.sampleChanged.emit(index)
        self.request()

    def step_sample(self, delta: int) -> None:
        """Move the sample selection by ``delta``."""
        self.set_sample(self.sample + delta)

    def set_channel(self, channel: int | None) -> None:
        """Show one mosaic channel large, or the whole layer again (None)."""
        if channel == self.channel:
            return
        self.channel = channel
        self.channelChanged.emit(channel)
        self.request()

    def choose_unit(self, layer: int, unit: int) -> None:
        """Say that the user picked unit ``unit`` of layer ``layer`` (a units-table row, a
        gallery column), so views that explain or follow a unit can take it."""
        self.unitChosen.emit(int(layer), int(unit))

    def set_options(self, **changes: Any) -> None:
        """Change display options, e.g. ``set_options(cmap="magma", bins=80)``."""
        new = replace(self.options, **changes).checked()
        if new == self.options:
            return
        old, self.options = self.options, new
        self.optionsChanged.emit(new)
        histogram = new.view == "histogram"
        missing_hist = histogram and self.result is not None and self.result.hist is None
        # Colour maps need no recomputing: the heatmap recolours what it shows.
        if old.scale != new.scale or missing_hist or (histogram and old.bins != new.bins):
            self.request()

    # -- computing ----------------------------------------------------------------

    def request(self) -> int | None:
        """Compute the current selection off the main thread; None if nothing to do."""
        if self.net is None or self.samples is None:
            self.computer.forget()
            self.result = None
            self.resultReady.emit(None)
            return None
        opts = self.options
        colouring = self.colouring(opts.cmap) if self.colouring is not None else None
        req = Request(self.net, self.samples, self.layer, self.sample, scale=opts.scale,
                      bins=opts.bins, channel=self.channel, colouring=colouring,
                      with_hist=opts.view == "histogram")
        return self.computer.submit(partial(compute, req, self.cache, self.ranges))

    def _on_result(self, _job: int, result: Result) -> None:
        self.result = result
        self.resultReady.emit(result)
        self._prefetch(result.request)
        req = result.request
        wanted = (req.net, req.samples, req.layer)
        if (req.scale == "dataset" and result.dataset_range is None
                and not (self.ranger.busy and _same(wanted, self._range_wanted))):
            # Coloured by its own range for now; recoloured when the layer's range is known.
            self._range_wanted = wanted
            self.ranger.submit(partial(self._find_range, *wanted))

    @staticmethod
    def _find_range(net: Any, samples: Any, layer: int) -> tuple[Any, Any, int, Any]:
        return net, samples, layer, range_of_first(net, samples, layer)

    def _on_range(self, _job: int, found: tuple[Any, Any, int, Any]) -> None:
        net, samples, layer, rng = found
        self.use_range(net, samples, layer, rng)

    def use_range(self, net: Any, samples: Any, layer: int, rng: Any) -> None:
        """Colour layer ``layer`` by ``rng`` (a DatasetRange) under the "dataset" scale;
        a sweep's range replaces one of the first samples, not the reverse."""
        if rng is None or not self.ranges.put(net, samples, layer, rng):
            return
        if _same((net, samples, layer), (self.net, self.samples, self.layer)) \
                and self.options.scale == "dataset":
            self.request()

    def use_sweep(self, result: Any) -> None:
        """Take a finished sweep's range of its layer for the "dataset" scale, if it has one."""
        if self.net is not None and self.samples is not None:
            self.use_range(self.net, self.samples, result.layer, range_of_sweep(result))

    def _prefetch(self, req: Request) -> None:
        """While stepping through samples, compute the next one's trace ahead of need."""
        nxt = req.sample + self._direction
        if not self._direction or not 0 <= nxt < len(req.samples):
            return
        if self.cache.get(req.net, req.samples, nxt) is None:
            self.prefetcher.submit(partial(prefetch, req.net, req.samples, nxt, self.cache))

    def _on_compute_failed(self, _job: int, exc: BaseException) -> None:
        message = error_text(exc)
        report(message)
        self.result = None
        self.computeFailed.emit(message)

    def _on_busy(self, _busy: bool) -> None:
        self.busyChanged.emit(self.busy)

    def shutdown(self, timeout_ms: int = 5000) -> None:
        """Drop waiting work and wait for running work to end (closing the window)."""
        for runner in (self.loader, self.computer, self.prefetcher, self.ranger):
            runner.shutdown(timeout_ms)


def _same(a: tuple, b: tuple) -> bool:
    """Whether two (net, samples, layer) selections are the same objects and layer."""
    return len(a) == len(b) == 3 and a[0] is b[0] and a[1] is b[1] and a[2] == b[2]
