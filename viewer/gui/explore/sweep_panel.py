"""The sweep's controls: what to sweep, start, progress with time left, cancel.

One line above the dataset views. It names the layer being swept and the
samples, shows a progress bar with an estimate of the time left while a
sweep runs, and a summary of the result (units, dead units, time, where it
ran) after. Where sweeps run (this process, local worker processes, a Dask
cluster's address) is remembered in the settings.
"""

from __future__ import annotations

import math
from typing import Any

from PyQt5.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QHBoxLayout, QLabel,
                             QProgressBar, QPushButton, QStyle, QVBoxLayout, QWidget)

from viewer.app.messages import error_text
from viewer.app.sweeps import AUTO_SWEEP_LIMIT, IN_PROCESS, RUN_CHOICES, WHERE_KEY, Subset, \
    check_where
from viewer.errors import StrataError
from viewer.gui.elided_label import ElidedLabel
from viewer.gui.explore.sweep_worker import SweepController
from viewer.gui.settings import open_settings
from viewer.gui.state import AppState

SUBSET_SIZES = (1_000, 10_000)


def time_text(seconds: float) -> str:
    """Seconds left as short text: "about 8 s left", "about 2 min left"."""
    if math.isnan(seconds):
        return "estimating time left…"
    if seconds < 1:
        return "less than a second left"
    if seconds < 90:
        return f"about {seconds:.0f} s left"
    return f"about {seconds / 60:.0f} min left"


class SweepBar(QWidget):
    """Start, follow and cancel sweeps of the state's layer.

    Attributes
    ----------
    subset_box : QComboBox
        All samples or a random subset.
    auto_box : QCheckBox
        Sweep each selected layer without being asked.
    threshold_box : QDoubleSpinBox
        Active means a peak above this; never active is "dead" in ReLU-like layers.
    run_box : QComboBox
        Where sweeps run: in-process, local:N worker processes, or a typed
        ``tcp://HOST:PORT`` (editable; remembered in the settings).
    sweep_button, cancel_button : QPushButton
    progress : QProgressBar
    status : ElidedLabel
        Progress with time left, or the summary of the shown result.
    ran_label : ElidedLabel
        Where the shown result ran: "in-process", "local:2 (2 worker processes)".
    """

    def __init__(self, state: AppState, sweeps: SweepController,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._state = state
        self.sweeps = sweeps
        self.layer_label = QLabel("")
        self.subset_box = QComboBox()
        self.subset_box.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.subset_box.setMinimumContentsLength(14)
        self.subset_box.setToolTip("Sweep all samples, or a random subset (fixed seed) of a "
                                   "large file")
        self.auto_box = QCheckBox("Auto")
        self.auto_box.setToolTip(f"Sweep every layer you select (up to "
                                 f"{AUTO_SWEEP_LIMIT:,} samples); otherwise use Sweep")
        self.auto_box.setChecked(sweeps.auto)
        self.threshold_box = QDoubleSpinBox()
        self.threshold_box.setRange(-1e6, 1e6)
        self.threshold_box.setDecimals(3)
        self.threshold_box.setSingleStep(0.1)
        self.threshold_box.setKeyboardTracking(False)
        self.threshold_box.setValue(sweeps.threshold)
        self.threshold_box.setToolTip("A unit is active on a sample when its peak exceeds this. "
                                      "Never active is \"dead\" in ReLU-like layers and "
                                      "\"never above\" the threshold in others (tanh, linear)")
        self.run_box = QComboBox()
        self.run_box.setEditable(True)
        self.run_box.setInsertPolicy(QComboBox.NoInsert)
        self.run_box.addItems(RUN_CHOICES)
        # Wide enough for the longest choice, no wider: the status beside it needs the room.
        longest = max(self.run_box.fontMetrics().horizontalAdvance(c) for c in RUN_CHOICES)
        self.run_box.setFixedWidth(longest + 2 * self.run_box.style().pixelMetric(
            QStyle.PM_ScrollBarExtent) + 8)  # the text, the arrow, the frame
        self.run_box.setToolTip("Where sweeps run: in this process, in N local worker processes "
                                "(local:N), or on a Dask scheduler (type tcp://HOST:PORT); "
                                "needs requirements-cluster.txt for all but in-process")
        self.sweep_button = QPushButton("Sweep")
        self.sweep_button.setToolTip("Run the selected layer over the samples: per-unit "
                                     "statistics, top samples, PCA and class means")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(90)
        self.progress.setMaximumHeight(16)
        self.progress.setTextVisible(False)
        self.progress.hide()
        self.status = ElidedLabel("")
        self.status.setObjectName("hoverText")
        self.ran_label = ElidedLabel("")
        self.ran_label.setObjectName("hoverText")
        self.ran_label.setToolTip("Where the sweep shown ran")

        # Two rows, so the bar fits under the central view of a 1280-pixel window:
        # the controls, then the progress and what the sweep found.
        self.threshold_box.setMaximumWidth(90)
        controls = QHBoxLayout()
        controls.setSpacing(8)
        for widget in (self.layer_label, self.subset_box, self.sweep_button, self.auto_box):
            controls.addWidget(widget)
        # Where the result ran, in this row's spare room (the summary below has none).
        controls.addWidget(self.ran_label, 1)
        progress = QHBoxLayout()
        progress.setSpacing(8)
        progress.addWidget(QLabel("Active >"))
        progress.addWidget(self.threshold_box)
        progress.addWidget(self.run_box)
        progress.addWidget(self.progress)
        progress.addWidget(self.cancel_button)
        progress.addWidget(self.status, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 2)
        layout.setSpacing(2)
        layout.addLayout(controls)
        layout.addLayout(progress)

        self.sweep_button.clicked.connect(lambda: sweeps.run())
        self.cancel_button.clicked.connect(lambda: sweeps.cancel())
        self.auto_box.toggled.connect(sweeps.set_auto)
        self.threshold_box.valueChanged.connect(sweeps.set_threshold)
        self.subset_box.currentIndexChanged.connect(self._on_subset)
        self.run_box.activated.connect(lambda _i: self._on_where())
        self.run_box.lineEdit().editingFinished.connect(self._on_where)
        sweeps.started.connect(self._on_started)
        sweeps.progress.connect(self._on_progress)
        sweeps.runningChanged.connect(self._on_running)
        sweeps.cancelled.connect(self._on_cancelled)
        sweeps.failed.connect(self._on_failed)
        sweeps.resultChanged.connect(lambda _r: self._show_status())
        state.samplesChanged.connect(self._fill_subsets)
        state.layerChanged.connect(lambda _i: self._show_status())
        state.netChanged.connect(lambda _n: self._show_status())
        self._fill_subsets(state.samples)
        self._set_where(str(open_settings().value(WHERE_KEY, IN_PROCESS) or IN_PROCESS))

    def _set_where(self, text: str) -> None:
        """Show and use ``text`` as where sweeps run (in-process when it is not valid)."""
        try:
            where = check_where(text)
        except StrataError:
            where = IN_PROCESS
        if self.run_box.findText(where) < 0:
            self.run_box.addItem(where)
        self.run_box.setCurrentText(where)
        self.sweeps.set_where(where)

    def _on_where(self) -> None:
        """The user chose or typed where sweeps run: check it, use it, remember it."""
        text = self.run_box.currentText()
        try:
            where = check_where(text)
        except StrataError as exc:
            self.status.setText(error_text(exc))
            self.run_box.setCurrentText(self.sweeps.where)
            return
        if where != self.sweeps.where:
            self._set_where(where)
            open_settings().setValue(WHERE_KEY, where)

    def _fill_subsets(self, samples: Any) -> None:
        n = len(samples) if samples is not None else 0
        self.subset_box.blockSignals(True)
        self.subset_box.clear()
        self.subset_box.addItem(f"all {n:,} samples" if n else "all samples", None)
        for size in SUBSET_SIZES:
            if size < n:
                self.subset_box.addItem(f"a random {size:,}", size)
        self.subset_box.setCurrentIndex(max(0, self.subset_box.findData(self.sweeps.subset.size)))
        self.subset_box.setEnabled(self.subset_box.count() > 1)
        self.subset_box.blockSignals(False)
        self.sweep_button.setEnabled(samples is not None)
        self._show_status()

    def _on_subset(self, index: int) -> None:
        self.sweeps.set_subset(Subset(self.subset_box.itemData(index)))
        self._show_status()

    def _on_started(self, layer: int) -> None:
        self.progress.setRange(0, 0)  # busy until the first batch says how far
        self.progress.show()
        self.ran_label.setText("")
        net = self._state.net
        self.status.setText(f"sweeping {net[layer].name}… estimating time left…")

    def _on_progress(self, done: int, total: int, seconds_left: float) -> None:
        self.progress.setRange(0, total)
        self.progress.setValue(done)
        layer = self.sweeps.running_layer
        name = self._state.net[layer].name if layer is not None else ""
        self.status.setText(f"sweeping {name}: {done:,} of {total:,} samples · "
                            f"{time_text(seconds_left)}")

    def _on_running(self, running: bool) -> None:
        self.cancel_button.setEnabled(running)
        if not running:
            self.progress.hide()
            self._show_status()

    def _on_cancelled(self, layer: int) -> None:
        self.status.setText(f"sweep of {self._state.net[layer].name} cancelled")

    def _on_failed(self, message: str) -> None:
        self.status.setText(f"sweep failed: {message}")
        self.status.setToolTip(message)

    def _show_status(self) -> None:
        """The layer's name and, when swept, a summary of the result."""
        s = self._state
        if s.net is None:
            self.layer_label.setText("")
            self.status.setText("")
            self.ran_label.setText("")
            return
        self.layer_label.setText(f"Sweep <b>{s.net[s.layer].name}</b> over")
        if self.sweeps.running:
            return
        result = self.sweeps.result
        self.status.setToolTip("")
        self.ran_label.setText("" if result is None else self.sweeps.ran or IN_PROCESS)
        if result is None:
            self.status.setText("not swept yet: press Sweep" if s.samples is not None
                                else "no samples to sweep")
            return
        what = "channels" if result.unit_axis is not None and len(result.shape) == 3 else "units"
        off = int(result.never_active.sum())
        self.status.setText(f"{result.n_samples:,} samples · {result.n_units:,} {what} · "
                            f"{off:,} {result.inactive_name} · {result.elapsed:.2f} s")
        # Where it ran is also on hover: at 1280 pixels the label for it has no room.
        self.status.setToolTip(f"ran {self.ran_label.text()}")
