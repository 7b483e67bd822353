"""Feature visualisation view: the input a channel, unit or class responds to most, grown live.

Pick a layer and a unit (a channel's mean for conv maps, an element of a
vector; the last layer's units are its classes, ascended on the logit when it
is a softmax), the steps, the regularisers and the seed, and Run: the image
grows step by step beside the curve of the target's activation, computed off
the main thread (:class:`~viewer.gui.worker.LatestRunner`) with progress and
Cancel. "Gallery" does every channel of the layer, the mosaic filling in as
it goes; "DeepDream" amplifies the layer's activations in the current sample.
The numbers are :mod:`viewer.analysis.featurevis`'s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Any, Optional

import numpy as np
from PyQt5.QtWidgets import (QComboBox, QDoubleSpinBox, QHBoxLayout, QLabel, QProgressBar,
                             QPushButton, QSizePolicy, QSpinBox, QWidget)

from viewer.analysis.attribution import takes_any_size
from viewer.analysis.attribution.grid import layer_grid
from viewer.analysis.attribution.target import Target
from viewer.analysis.featurevis import (PARAMETERISATIONS, Settings, at_sample_size, gallery,
                                        input_range, input_statistics, mosaic, pictures,
                                        visualise)
from viewer.analysis.featurevis_dream import DREAM, dream
from viewer.app.messages import error_text
from viewer.errors import StrataError
from viewer.gui.plot_panel import PlotPanel
from viewer.gui.plotting import text_colour, window_colour
from viewer.gui.state import AppState
from viewer.gui.worker import LatestRunner

#: What Run does, in the order the mode box lists it.
MODES = {"unit": "Unit", "gallery": "Gallery", "dream": "Dream"}
PARAM_TITLES = {"fourier": "Fourier", "pixel": "Pixels"}


@dataclass(frozen=True)
class Request:
    """One run: what to ascend, how, and for which sample (DeepDream)."""

    mode: str
    layer: int
    unit: int
    settings: Settings
    octaves: int
    sample: int


@dataclass(frozen=True, eq=False)
class Frame:
    """What a run shows: pictures in [0, 1] (one picture or a mosaic), the activation curve."""

    request: Request
    picture: np.ndarray
    scores: np.ndarray      # (steps,): the unit's score, or the median over a gallery's batch
    step: int
    total: int
    result: Any = None      # the featurevis Result once finished
    # (K, 2): step and score of the untransformed image at each frame (median, as scores)
    checks: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))


def run_request(net: Any, samples: Any, request: Request, job: Any) -> Frame:
    """Worker-thread job: the ascent of ``request``, a :class:`Frame` every few steps."""
    s = request.settings
    if samples is None:     # a net without samples: from mid-grey noise over 0..1
        low, high, centre, colours = 0.0, 1.0, None, None
    else:
        low, high = input_range(net, samples)
        centre, colours = input_statistics(net, samples, low, high)
        colours = colours if s.decorrelate else None
    # A gallery's steps count within each batch (a layer's channels mostly fit one).
    total = s.steps * (request.octaves if request.mode == "dream" else 1)

    def show(step: int, images: np.ndarray, scores: np.ndarray, checks: np.ndarray) -> bool:
        picture = mosaic(pictures(net, images, low, high))
        return job.progress(step, total, Frame(request, picture, np.median(scores, axis=1),
                                               step, total, checks=_median_checks(checks)))

    if request.mode == "dream":
        x = samples.batch([request.sample])[0]
        result = dream(net, x, request.layer, s, octaves=request.octaves, low=low, high=high,
                       callback=show, cancel=job.cancel.is_set)
    elif request.mode == "gallery":
        result = gallery(net, request.layer, None, s, low=low, high=high, centre=centre,
                         colours=colours, callback=show, cancel=job.cancel.is_set)
    else:
        result = visualise(net, Target(layer=request.layer, unit=request.unit), s, low=low,
                           high=high, centre=centre, colours=colours, callback=show,
                           cancel=job.cancel.is_set,
                           class_names=getattr(samples, "label_names", None))
    job.check()
    picture = mosaic(pictures(net, result.images, low, high))
    return Frame(request, picture, np.median(result.scores, axis=1) if len(result.scores)
                 else np.zeros(0), result.steps, total, result, _median_checks(result.checks))


def _median_checks(checks: np.ndarray) -> np.ndarray:
    """Checks (K, 1 + B) as (K, 2): each step and the median of the batch's scores."""
    # NaN where a gallery's batch stopped early (never a whole row: the longest has them all).
    middle = np.nanmedian(checks[:, 1:], axis=1) if len(checks) else np.zeros(0)
    return np.column_stack((checks[:, 0], middle))


def _channels(net: Any, index: int) -> int:
    grid = layer_grid(net, index)
    return grid.shape[0] if grid.channel_axis is None else grid.channels


class FeatureVisView(PlotPanel):
    """The Feature vis panel: controls over the growing image and its activation curve.

    Attributes
    ----------
    frame : Frame or None
        What is on show.
    runner : LatestRunner
    """

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(state, parent, toolbar=False)
        self.frame: Optional[Frame] = None
        self._net: Any = None        # the state's net, at its samples' size if it takes any
        self._sized = False          # the state's net takes inputs of any size
        self.runner = LatestRunner(self, "strata-featurevis")
        self.mode_box = QComboBox()
        for key, title in MODES.items():
            self.mode_box.addItem(title, key)
        self.mode_box.setToolTip("Unit: one unit; Gallery: every channel of the layer; Dream: "
                                 "DeepDream, amplify the layer in the current sample")
        self.layer_box = QComboBox()
        self.layer_box.setToolTip("The layer to visualise")
        self.unit = self._spin(0, 0, 0, "The channel (its mean over positions) or unit; for the "
                               "last layer, the class")
        self.steps = self._spin(1, 10000, 256, "Ascent steps (DeepDream: per octave)")
        self.seed = self._spin(0, 9999, 0, "Seed of the starting noise and the random "
                               "transforms")
        self.octaves = self._spin(1, 8, 3, "DeepDream: octaves, coarse to fine")
        self.param_box = QComboBox()
        for key in PARAMETERISATIONS:
            self.param_box.addItem(PARAM_TITLES[key], key)
        self.param_box.setToolTip("Fourier: a frequency-scaled spectrum (smooth images); "
                                  "Pixels: plain pixels, blurred every few steps")
        self.jitter = self._spin(0, 64, 2, "Largest random roll each step, pixels")
        self.rotate = self._dspin(0, 90, 5.0, 1.0, 0, "Largest random rotation each step, degrees")
        self.scale = self._dspin(0, 0.5, 0.05, 0.01, 2, "Random zoom each step within 1 ± this")
        self.blur = self._dspin(0, 9, 0.5, 0.1, 1, "Pixels: blur sigma every 4 steps")
        self.decay = self._dspin(0, 0.5, 0.0, 0.001, 3, "L2 decay: the share of the way back to "
                                 "the start's mean each step")
        self.run_button = QPushButton("Run")
        self.run_button.setToolTip("Start the ascent (off the window's thread)")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        for button in (self.run_button, self.cancel_button):
            button.setFixedWidth(button.fontMetrics().horizontalAdvance("Cancel") + 16)
        self.progress = QProgressBar()
        self.progress.setFixedWidth(80)
        self.progress.hide()
        self.status = QLabel("")
        self.status.setObjectName("hoverText")
        self.status.setSizePolicy(QSizePolicy.Preferred, QSizePolicy.Preferred)
        self.status.setWordWrap(True)  # a long outcome takes two lines, not the window's width
        for box in (self.mode_box, self.layer_box, self.param_box):
            box.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
            box.setMinimumContentsLength(5)

        # Short rows: at 1280 pixels the panel is about 640 wide.
        self.add_controls(self.mode_box, "Layer", self.layer_box, "Unit", self.unit,
                          self.run_button, self.cancel_button)
        rows = [(QLabel("Steps"), self.steps, QLabel("Seed"), self.seed, QLabel("Octaves"),
                 self.octaves, self.param_box),
                (QLabel("Jitter"), self.jitter, QLabel("Rotate"), self.rotate, QLabel("Zoom"),
                 self.scale, QLabel("Blur"), self.blur, QLabel("L2"), self.decay)]
        for at, widgets in enumerate(rows, start=1):
            row = QHBoxLayout()
            for w in widgets:
                row.addWidget(w)
            row.addStretch(1)
            self.layout().insertLayout(at, row)
        self.heading.addWidget(self.progress)
        self.heading.addWidget(self.status)  # in full; the title gives way

        self.figure.set_layout_engine("constrained")
        self._build_axes()
        self.mode_box.currentIndexChanged.connect(lambda _i: self._on_mode())
        self.layer_box.currentIndexChanged.connect(lambda _i: self._on_layer())
        self.param_box.currentIndexChanged.connect(lambda _i: self._on_mode())
        self.run_button.clicked.connect(self.run)
        self.cancel_button.clicked.connect(self.cancel)
        self.runner.progressed.connect(self._on_progress)
        self.runner.finished.connect(self._on_finished)
        self.runner.failed.connect(self._on_failed)
        state.netChanged.connect(lambda _n: self._on_net())
        # A net of any input size grows at its samples' size: new samples may change its layers'.
        state.samplesChanged.connect(lambda _s: self._on_net() if self._sized else None)
        state.channelChanged.connect(self._on_channel)
        self._on_net()

    @staticmethod
    def _spin(low: int, high: int, value: int, tip: str) -> QSpinBox:
        spin = QSpinBox()
        spin.setRange(low, high)
        spin.setValue(value)
        spin.setToolTip(tip)
        return spin

    @staticmethod
    def _dspin(low: float, high: float, value: float, step: float, decimals: int,
               tip: str) -> QDoubleSpinBox:
        spin = QDoubleSpinBox()
        spin.setDecimals(decimals)
        spin.setRange(low, high)
        spin.setSingleStep(step)
        spin.setValue(value)
        spin.setToolTip(tip)
        return spin

    # -- controls -------------------------------------------------------------------

    def _on_net(self) -> None:
        """New net: its layers with units to pick (every layer but the inputs)."""
        self._sized = self._state.net is not None and takes_any_size(self._state.net)
        try:
            self._net = None if self._state.net is None else \
                at_sample_size(self._state.net, self._state.samples)
        except StrataError:     # samples that do not fit: the run's own error says so
            self._net = self._state.net
        net = self._net
        self.runner.forget()
        self.frame = None
        self.layer_box.blockSignals(True)
        self.layer_box.clear()
        if net is not None:
            for i, layer in enumerate(net):
                if layer.inputs:
                    try:
                        layer_grid(net, i)
                    except StrataError:
                        continue
                    self.layer_box.addItem(layer.name, i)
        self.layer_box.blockSignals(False)
        self._on_layer()
        self._show_idle()

    def _on_layer(self) -> None:
        """The unit box spans the chosen layer's units."""
        net, index = self._net, self.layer_box.currentData()
        self.unit.setMaximum(max(0, _channels(net, index) - 1) if index is not None else 0)

    def _on_mode(self) -> None:
        mode = self.mode_box.currentData()
        self.unit.setEnabled(mode == "unit")
        self.octaves.setEnabled(mode == "dream")
        self.param_box.setEnabled(mode != "dream")
        self.blur.setEnabled(mode != "dream" and self.param_box.currentData() == "pixel")

    def _on_channel(self, channel: Any) -> None:
        """A channel clicked in the heatmap's mosaic becomes the unit to visualise."""
        if channel is None or self._state.net is None:
            return
        found = self.layer_box.findData(self._state.layer)
        if found >= 0:
            self.layer_box.setCurrentIndex(found)
            self.unit.setValue(int(channel))

    def select(self, layer: Any, unit: int = 0, mode: str = "unit") -> None:
        """Pick a layer (index or name), a unit and a mode in the controls."""
        net = self._state.net
        self.layer_box.setCurrentIndex(self.layer_box.findData(net.resolve(layer)))
        self.unit.setValue(unit)
        self.mode_box.setCurrentIndex(self.mode_box.findData(mode))

    def request(self) -> Request:
        """What the controls ask for."""
        mode = self.mode_box.currentData()
        dreaming = mode == "dream"
        base = DREAM if dreaming else Settings()
        settings = Settings(steps=self.steps.value(), lr=base.lr,
                            parameterisation=base.parameterisation if dreaming
                            else self.param_box.currentData(),
                            jitter=self.jitter.value(), scale=self.scale.value(),
                            rotate=self.rotate.value(), blur=0.0 if dreaming else self.blur.value(),
                            decay=self.decay.value(), anneal=base.anneal, every=self._every(),
                            seed=self.seed.value())
        return Request(mode, int(self.layer_box.currentData()), self.unit.value(), settings,
                       self.octaves.value(), self._state.sample)

    def _every(self) -> int:
        """Show a frame about 64 times a run, and at most every 2 steps."""
        return max(2, self.steps.value() // 64)

    # -- running ----------------------------------------------------------------------

    def run(self) -> Optional[int]:
        """Start the run the controls ask for (a running one is cancelled)."""
        state = self._state
        if state.net is None or self.layer_box.currentData() is None:
            self.show_message("Open a net to see what its units respond to.")
            return None
        if state.samples is None and self.mode_box.currentData() == "dream":
            self.show_message("DeepDream amplifies a layer in a sample: open samples first.")
            return None
        request = self.request()
        job = self.runner.submit(partial(run_request, self._net, state.samples, request),
                                 with_job=True)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.show()
        self.cancel_button.setEnabled(True)
        self.status.setText("starting…")
        return job

    def cancel(self) -> None:
        """Stop the running ascent; the image so far stays."""
        self.runner.forget()
        self.progress.hide()
        self.cancel_button.setEnabled(False)
        step = self.frame.step if self.frame is not None else 0
        self.status.setText(f"cancelled after {step} steps")

    def _on_progress(self, _job: int, done: int, total: int, frame: Any) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        if isinstance(frame, Frame):
            self.frame = frame
            self.status.setText(f"step {frame.step} of {frame.total}")
            self._draw()

    def _on_finished(self, _job: int, frame: Frame) -> None:
        self.progress.hide()
        self.cancel_button.setEnabled(False)
        self.frame = frame
        result = frame.result
        start, final = np.median(result.start), np.median(result.final)
        median = "" if len(result.units) == 1 else f"median of {len(result.units)}: "
        self.status.setText(f"{median}{start:.3g} → {final:.3g} in {result.steps} steps")
        self._draw()

    def _on_failed(self, _job: int, exc: BaseException) -> None:
        self.progress.hide()
        self.cancel_button.setEnabled(False)
        self.status.setText(error_text(exc))
        self.show_message(error_text(exc))

    # -- drawing ----------------------------------------------------------------------

    def _build_axes(self) -> None:
        """The picture and the activation curve, made once and updated."""
        grid = self.figure.add_gridspec(1, 2, width_ratios=[1.2, 1.0])
        ink = text_colour(self)
        self.image_axes = self.figure.add_subplot(grid[0, 0])
        self.image_axes.set_xticks([])
        self.image_axes.set_yticks([])
        self.image = self.image_axes.imshow(np.zeros((1, 1)), cmap="gray", vmin=0, vmax=1,
                                            interpolation="nearest")
        self.curve_axes = self.figure.add_subplot(grid[0, 1])
        self.curve_axes.set_facecolor(window_colour(self))
        self.curve_axes.tick_params(labelsize=7, colors=ink)
        self.curve_axes.set_xlabel("step", fontsize=8, color=ink)
        self.curve_axes.set_ylabel("activation", fontsize=8, color=ink)
        # Each step's score is that of its jittered, rotated, zoomed copy: faint. The line is
        # the image itself, scored at each frame.
        (self.step_curve,) = self.curve_axes.plot([], [], color="C0", lw=0.8, alpha=0.35,
                                                  label="each step's transformed copy")
        (self.curve,) = self.curve_axes.plot([], [], color="C0", lw=1.5, label="the image")
        self.curve_axes.legend(loc="best", fontsize=6, frameon=False, labelcolor=ink)

    def _show_idle(self) -> None:
        if self._state.net is None:
            self.show_message("Open a net to see what its units respond to.")
        elif self._state.samples is None:
            self.show_message("Pick a layer and a unit, then Run. Without samples the image "
                              "grows in 0..1 from mid-grey; open samples for your data's range.")
        else:
            self.show_message("Pick a layer and a unit, then Run.")

    def _draw(self) -> None:
        frame = self.frame
        if frame is None:
            return
        ink = text_colour(self)
        picture = frame.picture
        h, w = picture.shape[:2]
        self.image.set_data(picture)
        self.image.set_extent((-0.5, w - 0.5, h - 0.5, -0.5))
        self.image_axes.set_xlim(-0.5, w - 0.5)
        self.image_axes.set_ylim(h - 0.5, -0.5)
        net = self._state.net
        r = frame.request
        name = net[r.layer].name
        title = {"unit": f"unit {r.unit} of {name}", "gallery": f"every channel of {name}",
                 "dream": f"DeepDream of {name} on sample {r.sample}"}[r.mode]
        settings = f"{PARAM_TITLES[r.settings.parameterisation]}, seed {r.settings.seed}"
        self.image_axes.set_title(f"{title}\nstep {frame.step} · {settings}", fontsize=8,
                                  color=ink)
        steps = np.arange(1, len(frame.scores) + 1)
        self.step_curve.set_data(steps, frame.scores)
        self.curve.set_data(frame.checks[:, 0], frame.checks[:, 1])
        shown = np.concatenate((frame.scores, frame.checks[:, 1]))
        if len(frame.scores):
            low, high = float(np.nanmin(shown)), float(np.nanmax(shown))
            pad = 0.05 * (high - low) or 0.05 * abs(high) or 0.05
            self.curve_axes.set_xlim(0, max(len(frame.scores), 2))
            self.curve_axes.set_ylim(low - pad, high + pad)
        median = "" if r.mode == "unit" else " (median)" if r.mode == "gallery" else " norm"
        self.curve_axes.set_title(f"activation{median}", fontsize=8, color=ink)
        # The settings go under the picture: beside the outcome at 1280 pixels the heading
        # has room for what is shown, no more.
        self.set_title(f"<b>{title}</b>")
        self.show_plot()
        self.canvas.draw_idle()

    def shutdown(self) -> None:
        """Stop the worker (the window is closing)."""
        self.runner.shutdown()

    def closeEvent(self, event: Any) -> None:
        self.runner.shutdown()
        super().closeEvent(event)
