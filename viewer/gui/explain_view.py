"""Explain view: which parts of the sample drive a class or a unit, as a map over the input.

The map (occlusion, RISE, the CAMs, the gradient methods and integrated
gradients, from :mod:`viewer.analysis.attribution`) is drawn over the sample,
partly transparent, diverging around zero for signed maps; integrated
gradients gives its completeness error in the title. The option row shows the
options of the methods chosen. The target is the
predicted class by default; clicking a bar of the class chart beside the map
picks a class, and clicking a channel in the heatmap's mosaic picks that
channel of that layer. "Compare" draws a second method or target beside the
first. The maps follow the sample as the user browses (newest wins); the
slow methods show progress and can be cancelled.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
from matplotlib.backend_bases import MouseEvent
from PyQt5.QtCore import Qt
from PyQt5.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QHBoxLayout, QLabel,
                             QProgressBar, QPushButton, QSizePolicy, QSlider, QSpinBox, QWidget)

from viewer.analysis.attribution import (BATCHED_METHODS, LAYER_METHODS, METHODS, Target,
                                         explain, sized_for, takes_any_size)
from viewer.analysis.attribution.cam import spatial_grid
from viewer.analysis.attribution.occlusion import default_patch
from viewer.analysis.attribution.result import input_grid
from viewer.app.messages import error_text, wrapped_title
from viewer.errors import StrataError
from viewer.gui.attribution_render import attribution_cmap
from viewer.gui.plot_panel import PlotPanel
from viewer.gui.plotting import text_colour, window_colour
from viewer.gui.state import AppState
from viewer.gui.worker import LatestRunner

TITLES = {"occlusion": "Occlusion", "rise": "RISE", "score-cam": "Score-CAM",
          "ablation-cam": "Ablation-CAM", "eigen-cam": "EigenCAM", "cam": "CAM",
          "gradient": "Gradient", "saliency": "Saliency", "gradient-x-input": "Gradient × input",
          "smoothgrad": "SmoothGrad", "integrated-gradients": "Integrated gradients",
          "grad-cam": "Grad-CAM", "grad-cam++": "Grad-CAM++", "guided-backprop": "Guided backprop",
          "deconvnet": "Deconvnet"}
#: Methods reading the baseline, and the one of them that may start from the blurred sample.
BASELINE_METHODS = ("occlusion", "rise", "score-cam", "integrated-gradients")
BLUR_METHOD = "integrated-gradients"
#: Most classes listed as targets and drawn as bars.
MAX_CLASSES = 100
#: The "samples' mean" baseline averages at most this many samples.
MEAN_SAMPLES = 2000


@dataclass(frozen=True)
class Spec:
    """One map to compute: method, target and parameters."""

    method: str
    target: Target
    params: tuple  # (name, value) pairs


@dataclass(frozen=True, eq=False)
class Outcome:
    """What one job computed for one sample."""

    sample: int
    x: np.ndarray
    output: np.ndarray  # the last layer's output for the sample
    results: tuple


def compute_maps(net: Any, samples: Any, sample: int, specs: tuple, mean: Any, job: Any) -> Outcome:
    """Worker-thread job: the maps of ``specs`` for one sample, with progress and cancel."""
    x = samples.batch([sample])[0]
    output = net.outputs(x[None], [len(net) - 1])[len(net) - 1][0]
    results = []
    for i, spec in enumerate(specs):
        params = dict(spec.params)
        if params.get("baseline") == "mean":
            params["baseline"] = mean()
        if spec.method in BATCHED_METHODS:
            params["progress"] = (lambda done, total, i=i:
                                  job.progress(i * total + done, total * len(specs)))
            params["cancel"] = job.cancel
        if spec.method == "eigen-cam":
            params.pop("class_names", None)
        results.append(explain(net, x, spec.method, spec.target, **params))
    return Outcome(sample, x, output, tuple(results))


def mean_input(samples: Any) -> np.ndarray:
    """The mean net input of the first :data:`MEAN_SAMPLES` samples, read in batches."""
    n = min(len(samples), MEAN_SAMPLES)
    total = None
    for start in range(0, n, 256):
        part = samples.batch(np.arange(start, min(start + 256, n))).sum(axis=0, dtype=np.float64)
        total = part if total is None else total + part
    return (total / n).astype(np.float32)


class ExplainView(PlotPanel):
    """The Explain tab: a :class:`PlotPanel` with the method's controls above the maps.

    Attributes
    ----------
    outcome : Outcome or None
        What is on show.
    runner : LatestRunner
    """

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(state, parent, toolbar=False)
        self.outcome: Outcome | None = None
        self._stale = True
        self._mean: tuple[Any, np.ndarray] | None = None
        self.runner = LatestRunner(self, "strata-explain")
        self.method_box = self._method_box()
        self.target_box = QComboBox()
        self.target_box.setToolTip("What to explain: a class of the last layer (or click a bar "
                                   "of the class chart), or a channel clicked in the heatmap")
        self.layer_box = QComboBox()
        self.layer_box.setToolTip("The layer the CAM methods work on")
        self.patch = self._spin(1, 512, 4, "Occlusion window size, in input positions")
        self.stride = self._spin(1, 512, 2, "Occlusion window step")
        self.masks = self._spin(10, 100000, 1000, "RISE: number of random masks")
        self.masks.setSingleStep(100)
        self.noise = QDoubleSpinBox()
        self.noise.setRange(0.0, 1.0)
        self.noise.setSingleStep(0.05)
        self.noise.setValue(0.15)
        self.noise.setToolTip("SmoothGrad: noise level, a fraction of the sample's range")
        self.copies = self._spin(1, 10000, 50, "SmoothGrad: number of noisy copies")
        self.steps = self._spin(3, 4096, 64, "Integrated gradients: points along the path")
        self.baseline_box = QComboBox()
        self.baseline_box.addItem("baseline 0", 0.0)
        self.baseline_box.addItem("baseline: samples' mean", "mean")
        self.baseline_box.addItem("baseline: blurred sample", "blur")
        self.baseline_box.setToolTip("What hides the input where it is occluded or masked, or "
                                     "where integrated gradients' path starts (the blurred "
                                     "sample is for integrated gradients; a method compared "
                                     "with it uses 0)")
        self.compare_box = QCheckBox("Compare with")
        self.method2_box = self._method_box()
        self.target2_box = QComboBox()
        self.alpha = QSlider(Qt.Horizontal)
        self.alpha.setRange(0, 100)
        self.alpha.setValue(60)
        self.alpha.setFixedWidth(90)
        self.alpha.setToolTip("Opacity of the map over the input")
        self.progress = QProgressBar()
        self.progress.setFixedWidth(100)
        self.progress.hide()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.hide()
        self.status = QLabel("")
        self.status.setObjectName("hoverText")
        self.status.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)

        self.figure.set_layout_engine("constrained")
        self.maps: list[Any] = []
        self._build_axes(1)

        # Narrow enough for a 1280-pixel window; the first row has room for whole names.
        widths = {self.method_box: 13, self.target_box: 11, self.method2_box: 6,
                  self.target2_box: 6, self.layer_box: 6, self.baseline_box: 6}
        for box, letters in widths.items():
            box.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
            box.setMinimumContentsLength(letters)
        # Short rows: the view must leave the layer list and sample panel their width at 1280.
        self.add_controls("Method", self.method_box, "Target", self.target_box)
        #: The option row's widgets by the methods they are for (shown when one is chosen).
        self.options = {"occlusion": (QLabel("Patch"), self.patch, QLabel("Stride"), self.stride),
                        "rise": (QLabel("Masks"), self.masks),
                        "smoothgrad": (QLabel("Noise"), self.noise, QLabel("N"),
                                       self.copies),
                        "integrated-gradients": (QLabel("Steps"), self.steps)}
        rows = [(QLabel("Layer"), self.layer_box, self.baseline_box, QLabel("Opacity"), self.alpha),
                tuple(w for widgets in self.options.values() for w in widgets),
                (self.compare_box, self.method2_box, self.target2_box, self.progress,
                 self.cancel_button)]
        for at, widgets in enumerate(rows, start=1):  # under the control bar
            row = QHBoxLayout()
            for w in widgets:
                row.addWidget(w)
            if widgets[0] is self.compare_box:
                row.addWidget(self.status, 1)
            else:
                row.addStretch(1)
            self.layout().insertLayout(at, row)

        for box in (self.method_box, self.target_box, self.layer_box, self.baseline_box,
                    self.method2_box, self.target2_box):
            box.currentIndexChanged.connect(lambda _i: self._changed())
        for spin in (self.patch, self.stride, self.masks, self.noise, self.copies, self.steps):
            spin.valueChanged.connect(lambda _v: self._changed())
        self.compare_box.toggled.connect(self._on_compare)
        self.alpha.valueChanged.connect(lambda _v: self._draw())
        self.cancel_button.clicked.connect(self.cancel)
        self.runner.finished.connect(self._on_finished)
        self.runner.failed.connect(self._on_failed)
        self.runner.progressed.connect(self._on_progress)
        self.canvas.mpl_connect("button_press_event", self._on_click)
        state.netChanged.connect(lambda _n: self._on_net())
        state.samplesChanged.connect(lambda _s: self._changed())
        state.sampleChanged.connect(lambda _i: self._changed())
        state.channelChanged.connect(self._on_channel)
        state.unitChosen.connect(self._on_unit)
        self._show_options({self.method_box.currentData()})  # before any map is asked for
        self._on_compare(False)
        self._on_net()

    # -- controls -----------------------------------------------------------------

    def _method_box(self) -> QComboBox:
        box = QComboBox()
        for key in METHODS:
            box.addItem(TITLES[key], key)
        return box

    @staticmethod
    def _spin(low: int, high: int, value: int, tip: str) -> QSpinBox:
        spin = QSpinBox()
        spin.setRange(low, high)
        spin.setValue(value)
        spin.setToolTip(tip)
        return spin

    def _on_net(self) -> None:
        """New net: its classes as targets, its layers with positions for the CAM methods."""
        net = self._state.net
        self.outcome = None
        for box in (self.target_box, self.target2_box, self.layer_box):
            box.blockSignals(True)
            box.clear()
        if net is not None:
            names = self._class_names()
            for box in (self.target_box, self.target2_box):
                box.addItem("predicted class", Target())
                for k, name in enumerate(names):
                    box.addItem(f"class {k}" + ("" if name == str(k) else f" · {name}"),
                                Target(unit=k))
            sized = self._sized(net)   # sizes an input that takes any size from the sample's
            self._default_window(sized)
            self.layer_box.addItem("auto", None)
            for i, layer in enumerate(sized):
                try:
                    spatial_grid(sized, i)
                except StrataError:
                    continue
                self.layer_box.addItem(layer.name, i)
        for box in (self.target_box, self.target2_box, self.layer_box):
            box.blockSignals(False)
        self._changed()

    def _sized(self, net: Any) -> Any:
        """``net``, its input's unknown sizes taken from the current sample (as the maps are
        computed: :func:`viewer.analysis.attribution.sized_for`)."""
        samples = self._state.samples
        if samples is None or not takes_any_size(net):   # no sample read for a sized net
            return net
        try:
            return sized_for(net, samples.batch([self._state.sample]))
        except StrataError:        # a sample that does not fit: the map's own error says so
            return net

    def _default_window(self, net: Any) -> None:
        """Occlusion's patch and stride for this net's input: about 14 windows a side (a
        fixed 4-cell patch would take 12,544 forward passes of a 224x224 image net)."""
        try:
            patch = default_patch(input_grid(net).positions)
        except StrataError:        # an input without positions: its own error comes later
            return
        for spin, value in ((self.patch, patch), (self.stride, max(1, patch // 2))):
            spin.blockSignals(True)
            spin.setValue(value)
            spin.blockSignals(False)

    def _class_names(self) -> list[str]:
        """The last layer's classes: the samples' label names where they fit, else numbers."""
        net, samples = self._state.net, self._state.samples
        shape = net[-1].output_shape
        if len(shape) != 1 or shape[0] is None or shape[0] > MAX_CLASSES:
            return []
        names = list(getattr(samples, "label_names", None) or [])
        return [names[k] if k < len(names) else str(k) for k in range(shape[0])]

    def _on_channel(self, channel: Any) -> None:
        """A channel clicked in the heatmap's mosaic becomes the target."""
        if channel is None or self._state.net is None:
            return
        self._target_unit(self._state.layer, int(channel), "channel")

    def _on_unit(self, layer: int, unit: int) -> None:
        """A row picked in the Dataset panel's units table becomes the target."""
        if self._state.net is not None and 0 <= layer < len(self._state.net):
            self._target_unit(layer, unit, "unit")

    def _target_unit(self, layer: int, unit: int, word: str) -> None:
        target = Target(layer=layer, unit=unit)
        found = [i for i in range(self.target_box.count()) if self.target_box.itemData(i) == target]
        index = found[0] if found else -1
        if index < 0:
            self.target_box.addItem(f"{word} {unit} of {self._state.net[layer].name}", target)
            index = self.target_box.count() - 1
        self.target_box.setCurrentIndex(index)

    def _on_compare(self, on: bool) -> None:
        self.method2_box.setEnabled(on)
        self.target2_box.setEnabled(on)
        self._build_axes(2 if on else 1)
        self._changed()

    def select_class(self, k: int, second: bool = False) -> None:
        """Explain class ``k`` (in the second map with ``second``)."""
        box = self.target2_box if second else self.target_box
        for i in range(box.count()):
            target = box.itemData(i)
            if target.layer is None and target.unit == k:
                box.setCurrentIndex(i)
                return

    # -- computing ----------------------------------------------------------------

    def specs(self) -> tuple:
        """The maps the controls ask for."""
        names = self._class_names() or None
        common = {"class_names": names}
        out = []
        pairs = [(self.method_box, self.target_box)]
        if self.compare_box.isChecked():
            pairs.append((self.method2_box, self.target2_box))
        for method_box, target_box in pairs:
            method = method_box.currentData()
            target = target_box.currentData() or Target()
            params = dict(common)
            if method in LAYER_METHODS:
                params["layer"] = self.layer_box.currentData()
            if method in BASELINE_METHODS:
                baseline = self.baseline_box.currentData()
                params["baseline"] = 0.0 if baseline == "blur" and method != BLUR_METHOD else baseline
            if method == "occlusion":
                params.update(patch=self.patch.value(), stride=self.stride.value())
            if method == "rise":
                params["masks"] = self.masks.value()
            if method == "smoothgrad":
                params.update(noise=self.noise.value(), n=self.copies.value())
            if method == "integrated-gradients":
                params["steps"] = self.steps.value()
            out.append(Spec(method, target, tuple(params.items())))
        self._show_options({s.method for s in out})
        return tuple(out)

    def _show_options(self, methods: set) -> None:
        """Show the options of the chosen methods only, and the baselines they accept."""
        for method, widgets in self.options.items():
            for w in widgets:
                w.setVisible(method in methods)
        self.layer_box.setEnabled(bool(methods & set(LAYER_METHODS)))
        self.baseline_box.setEnabled(bool(methods & set(BASELINE_METHODS)))
        blur = self.baseline_box.model().item(self.baseline_box.findData("blur"))
        blur.setEnabled(BLUR_METHOD in methods)
        if BLUR_METHOD not in methods and self.baseline_box.currentData() == "blur":
            self.baseline_box.blockSignals(True)  # the maps asked for already use 0
            self.baseline_box.setCurrentIndex(0)
            self.baseline_box.blockSignals(False)

    def _changed(self) -> None:
        self._stale = True
        if self.isVisible():
            self.request()

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        if self._stale:
            self.request()

    def request(self) -> int | None:
        """Compute the maps for the current sample off the main thread (newest wins)."""
        state = self._state
        self._stale = False
        if state.net is None or state.samples is None:
            self.runner.forget()
            self._show_message("Open a net with samples to explain its predictions.")
            return None
        specs = self.specs()
        samples = state.samples
        job = self.runner.submit(partial(compute_maps, state.net, samples, state.sample, specs,
                                         partial(self._mean_of, samples)), with_job=True)
        self.progress.setValue(0)
        self.status.setText(f"computing sample {state.sample}…")
        return job

    def _mean_of(self, samples: Any) -> np.ndarray:
        """The samples' mean input, kept for the samples it was made for (worker thread)."""
        kept = self._mean
        if kept is None or kept[0] is not samples:
            kept = self._mean = (samples, mean_input(samples))
        return kept[1]

    def cancel(self) -> None:
        """Stop the running computation; the maps on show stay."""
        self.runner.forget()
        self.progress.hide()
        self.cancel_button.hide()
        self.status.setText("cancelled")

    def _on_progress(self, _job: int, done: int, total: int, _partial: Any) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.progress.show()
        self.cancel_button.show()

    def _on_finished(self, _job: int, outcome: Outcome) -> None:
        self.progress.hide()
        self.cancel_button.hide()
        self.outcome = outcome
        self.status.setText("")
        self._draw()

    def _on_failed(self, _job: int, exc: BaseException) -> None:
        self.progress.hide()
        self.cancel_button.hide()
        self.outcome = None
        self._show_message(error_text(exc))

    def _show_message(self, text: str) -> None:
        self.status.setText(text)
        self.show_message(text)

    # -- drawing --------------------------------------------------------------------

    def _build_axes(self, n: int) -> None:
        """``n`` map axes (each with a colour bar) and the class chart; made when the count changes."""
        import matplotlib

        self.figure.clear()
        grid = self.figure.add_gridspec(1, n + 1, width_ratios=[1.0] * n + [0.45])
        ink = text_colour(self)
        self.maps = []
        for k in range(n):
            ax = self.figure.add_subplot(grid[0, k])
            ax.set_xticks([])
            ax.set_yticks([])
            base = ax.imshow(np.zeros((1, 1)), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            cmap = matplotlib.colormaps["RdBu_r"].with_extremes(bad=(0, 0, 0, 0))
            over = ax.imshow(np.full((1, 1), np.nan), cmap=cmap, interpolation="nearest")
            bar = self.figure.colorbar(over, ax=ax, shrink=0.6, pad=0.02)
            bar.ax.tick_params(labelsize=7, colors=ink)
            self.maps.append((ax, base, over, bar))
        self.bars_axes = self.figure.add_subplot(grid[0, n])
        self.bars_axes.tick_params(labelsize=7, colors=ink)
        self.bars_axes.set_facecolor(window_colour(self))
        self.canvas.draw_idle()

    def _draw(self) -> None:
        outcome = self.outcome
        if outcome is None or len(outcome.results) != len(self.maps):
            return
        import matplotlib

        ink = text_colour(self)
        alpha = self.alpha.value() / 100
        for (ax, base, over, bar), result in zip(self.maps, outcome.results):
            picture, values = result.overlay(outcome.x)
            h, w = values.shape
            extent = (-0.5, w - 0.5, h - 0.5, -0.5)
            base.set_data(picture)
            base.set_extent(extent)
            over.set_data(np.ma.masked_invalid(values))
            over.set_extent(extent)
            over.set_cmap(matplotlib.colormaps[attribution_cmap(result)].with_extremes(
                bad=(0, 0, 0, 0)))
            over.set_clim(*result.limits())
            over.set_alpha(alpha)
            ax.set_xlim(-0.5, w - 0.5)
            ax.set_ylim(h - 0.5, -0.5)
            ax.set_aspect("equal" if result.grid.layout in ("channels_first", "channels_last")
                          else "auto")
            bar.set_label(f"{TITLES[result.method]} map", color=ink, fontsize=8)
            parts = [TITLES[result.method]]
            if result.layer:
                parts.append(f"on {result.layer}")
            if result.target:
                parts.append(result.target)
            numbers = []
            if result.score == result.score:
                numbers.append(f"score {result.score:.3g}")
            relative = result.report.get("relative_error")
            if relative is not None:
                numbers.append("completeness error " + ("n/a: f(x) = f(baseline)"
                                                        if relative != relative
                                                        else f"{100 * relative:.2g}%"))
            title = " · ".join(parts) + ("\n" + " · ".join(numbers) if numbers else "")
            ax.set_title(wrapped_title(title, _title_chars(ax, TITLE_POINTS)),
                         fontsize=TITLE_POINTS, color=ink)
        self._draw_classes(outcome)
        self.show_plot()
        self.canvas.draw_idle()

    def _draw_classes(self, outcome: Outcome) -> None:
        """The last layer's output as horizontal bars; the explained classes highlighted."""
        ax = self.bars_axes
        ax.clear()
        names = self._class_names()
        values = np.asarray(outcome.output, dtype=np.float64).reshape(-1)
        if not names or len(values) != len(names):
            ax.set_visible(False)
            return
        ax.set_visible(True)
        explained = {int(r.target.split()[1]) for r in outcome.results
                     if r.target.startswith("class ")}  # "class 3 (cat) of softmax"
        colours = ["C3" if k in explained else "0.6" for k in range(len(values))]
        ax.barh(np.arange(len(values)), values, color=colours)
        ax.set_yticks(np.arange(len(values)), names, fontsize=7)
        ax.set_ylim(len(values) - 0.5, -0.5)
        ink = text_colour(self)
        ax.set_title("output\n(click to explain)", fontsize=7, color=ink)
        ax.tick_params(labelsize=7, colors=ink)

    def _on_click(self, event: MouseEvent) -> None:
        if event.inaxes is not self.bars_axes or event.ydata is None or event.button != 1:
            return
        k = int(np.floor(event.ydata + 0.5))
        if 0 <= k < len(self._class_names()):
            self.select_class(k)

    def closeEvent(self, event: Any) -> None:
        self.runner.shutdown()
        super().closeEvent(event)


#: Font size of a map's title, points.
TITLE_POINTS = 8


def _title_chars(ax: Any, points: float) -> int:
    """About how many characters of a ``points``-point title fit over ``ax`` as it is drawn."""
    ax.apply_aspect()    # an image's axes shrink to its aspect: measure what is drawn
    figure = ax.get_figure()
    width = ax.get_position().width * figure.bbox.width
    return max(12, int(width / (0.6 * points * figure.dpi / 72)))
