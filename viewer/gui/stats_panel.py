"""The side panel: statistics of the selected activation, always visible.

Plain Qt labels (no matplotlib), so they show as soon as a result arrives and
tests can read them as text.
"""

from __future__ import annotations

import math
from typing import Any

from PyQt5.QtCore import Qt
from PyQt5.QtGui import QFontMetrics
from PyQt5.QtWidgets import (QFormLayout, QFrame, QGroupBox, QLabel, QSizePolicy, QVBoxLayout,
                             QWidget)

from viewer.app.compute import Result
from viewer.gui.layer_list import shape_text
from viewer.gui.state import AppState

PANEL_WIDTH = 212  # the longest values ("16×28×28", "108.8 ms") beside their names
FIELDS = (
    ("layer", "Layer"), ("kind", "Kind"), ("shape", "Shape"), ("size", "Values"),
    ("min", "Min"), ("max", "Max"), ("mean", "Mean"), ("std", "Std"),
    ("zero", "Zero"), ("negative", "Negative"), ("nan", "NaN"), ("inf", "Inf"),
    ("time", "Time"),
)


def number(v: float) -> str:
    """A statistic as text: 4 significant digits, "–" when undefined."""
    return "–" if math.isnan(v) else f"{v:.4g}"


def percent(f: float) -> str:
    """A fraction as a percentage with one decimal."""
    return "–" if math.isnan(f) else f"{100 * f:.1f} %"


def breakable(name: str) -> str:
    """``name`` with a zero-width space after each ``_ / . -``, so a long name wraps there."""
    for c in "_/.-":
        name = name.replace(c, c + "\u200b")
    return name


def duration(seconds: float, cached: bool) -> str:
    """Compute time in ms, noting a forward pass served from the cache."""
    text = f"{seconds * 1e3:.1f} ms" if seconds < 10 else f"{seconds:.1f} s"
    return text + (" (cached)" if cached else "")


class FittedLabel(QLabel):
    """A one-line label whose font shrinks (down to ``MIN_POINTS``) until its text fits.

    For values such as a 4-D weight shape ("32×16×3×3"): wrapping would cut
    the shape at a "×", and eliding would hide a size.
    """

    MIN_POINTS = 6.0

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        self._points = self.font().pointSizeF()

    def setText(self, text: str) -> None:
        super().setText(text)
        self._fit()

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        width = self.contentsRect().width()
        font = self.font()
        points = self._points
        font.setPointSizeF(points)
        while (points > self.MIN_POINTS and width > 0
               and QFontMetrics(font).horizontalAdvance(self.text()) > width):
            points = max(points - 0.5, self.MIN_POINTS)
            font.setPointSizeF(points)
        if font != self.font():
            self.setFont(font)


class StatsPanel(QWidget):
    """Statistics of the current result, one labelled value per row.

    Attributes
    ----------
    values : dict of str to QLabel
        The value labels by field key (see :data:`FIELDS`).
    """

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        box = QGroupBox("Statistics")
        form = QFormLayout(box)
        form.setLabelAlignment(Qt.AlignRight)
        form.setFormAlignment(Qt.AlignTop)
        form.setHorizontalSpacing(6)
        form.setVerticalSpacing(6)
        self.values: dict[str, QLabel] = {}
        for key, text in FIELDS:
            if key == "min" or key == "time":
                line = QFrame()
                line.setFrameShape(QFrame.HLine)
                line.setFrameShadow(QFrame.Sunken)
                form.addRow(line)
            label = FittedLabel("–") if key == "shape" else QLabel("–")
            label.setTextInteractionFlags(Qt.TextSelectableByMouse)
            # Text width must not resize the panel (and so the plot) on every step.
            label.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
            label.setObjectName(f"stat_{key}")
            if key in ("layer", "kind", "time"):  # long texts wrap instead of being cut
                label.setWordWrap(True)
            if key == "time":
                label.setToolTip("Time spent computing what is shown: the forward pass "
                                 "(unless cached), the picture and the statistics")
            self.values[key] = label
            form.addRow(text, label)
        self.scope = QLabel("")
        self.scope.setObjectName("statsScope")
        self.scope.setWordWrap(True)
        self.scope.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        self.setMinimumWidth(PANEL_WIDTH)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(box)
        layout.addWidget(self.scope)
        layout.addStretch(1)
        self.own_stats: Any = None  # (title, shape, stats) a view shows instead of the result's
        self._result: Result | None = None
        state.resultReady.connect(self._on_result)

    def _on_result(self, result: Result | None) -> None:
        self._result = result
        if self.own_stats is None:
            self.show_result(result)

    def show_view_stats(self, own: Any) -> None:
        """Show a view's own statistics, ``(title, shape, ActivationStats)``; None: the result's."""
        self.own_stats = own
        if own is None:
            self.show_result(self._result)
            return
        title, shape, st = own
        texts = {
            "layer": breakable(title), "kind": "parameter", "shape": shape_text(shape),
            "size": f"{st.size:,}",
            "min": number(st.min), "max": number(st.max),
            "mean": number(st.mean), "std": number(st.std),
            "zero": percent(st.frac_zero), "negative": percent(st.frac_negative),
            "nan": f"{st.n_nan:,}", "inf": f"{st.n_inf:,}", "time": "–",
        }
        for key, text in texts.items():
            self.values[key].setText(text)
        self.values["layer"].setToolTip(title)
        self.scope.setText(f"Over the parameter {title}, not an activation.")

    def clear(self) -> None:
        """Show no values."""
        for label in self.values.values():
            label.setText("–")
        self.scope.setText("")

    def show_result(self, result: Result | None) -> None:
        """Fill in the statistics of ``result`` (clear for None)."""
        if result is None:
            self.clear()
            return
        req = result.request
        layer = req.net[req.layer]
        st = result.stats
        texts = {
            "layer": breakable(layer.name), "kind": layer.kind,
            "shape": shape_text(result.values.shape), "size": f"{st.size:,}",
            "min": number(st.min), "max": number(st.max),
            "mean": number(st.mean), "std": number(st.std),
            "zero": percent(st.frac_zero), "negative": percent(st.frac_negative),
            "nan": f"{st.n_nan:,}", "inf": f"{st.n_inf:,}",
            "time": duration(result.seconds, result.cached),
        }
        for key, text in texts.items():
            self.values[key].setText(text)
        self.values["layer"].setToolTip(layer.name)
        self.scope.setText(f"Over channel {req.channel} of sample {req.sample}."
                           if req.channel is not None else f"Over all of sample {req.sample}'s "
                           f"output of this layer.")
