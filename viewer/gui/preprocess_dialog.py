"""The preprocessing editor: scale, mean, std, channel order and resize of the samples.

Opened by the Sample panel's "Preprocessing…" button
(:class:`viewer.gui.preprocess_panel.PreprocessRow`); the range after the edit
is previewed as you type, and applying it preprocesses the samples anew so
everything shown recomputes.
"""

from __future__ import annotations

import math
from typing import Any

from PyQt5.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFormLayout, QLabel, QLineEdit,
                             QVBoxLayout, QWidget)

from viewer.data.preprocess import CHANNEL_ORDERS, RESIZE_POLICIES, Preprocess
from viewer.data.proposal import Range
from viewer.errors import StrataError
from viewer.gui.preprocess_panel import HOW
from viewer.gui.state import AppState

RESIZE_TEXT = {"crop": "centre-crop", "refuse": "refuse other sizes"}


def numbers(text: str) -> float | tuple[float, ...]:
    """``"0.5"`` -> 0.5, ``"1/255"`` -> 0.00392..., ``"0.485, 0.456, 0.406"`` -> a tuple.

    Raises
    ------
    ValueError
        For anything else, with the text that could not be read.
    """
    parts = [p.strip() for p in text.replace(";", ",").split(",") if p.strip()]
    if not parts:
        raise ValueError("empty")
    values = []
    for part in parts:
        top, _, bottom = part.partition("/")
        value = float(top) / float(bottom) if bottom else float(top)
        if not math.isfinite(value):
            raise ValueError(part)
        values.append(value)
    return values[0] if len(values) == 1 else tuple(values)


def number_text(value: float | tuple) -> str:
    """The inverse of :func:`numbers`: ``1/255`` style where that is exact and shorter."""
    if isinstance(value, tuple):
        return ", ".join(number_text(v) for v in value)
    decimal = f"{value:.6g}"
    if value and float(f"{1 / value:.6g}").is_integer() and len(f"1/{1 / value:.6g}") < len(decimal):
        return f"1/{1 / value:.6g}"
    return decimal


def preview(raw: Range, p: Preprocess) -> Range:
    """The net-input range ``p`` makes of values in ``raw`` (over all channels)."""
    means = p.mean if isinstance(p.mean, tuple) else (p.mean,)
    stds = p.std if isinstance(p.std, tuple) else (p.std,)
    n = max(len(means), len(stds))
    means, stds = (means * n if len(means) == 1 else means), (stds * n if len(stds) == 1 else stds)
    ends = [(v * p.scale - m) / s for v in (raw.lo, raw.hi) for m, s in zip(means, stds)]
    return Range(min(ends), max(ends))


class PreprocessDialog(QDialog):
    """The editor: scale, mean, std, channel order, resize; the ranges before and after.

    Attributes
    ----------
    scale, mean, std : QLineEdit
        Numbers; ``1/255`` works, lists are comma-separated (one per channel).
    channel_order, resize : QComboBox
    ranges : QLabel
        The values' range, the range after the edited preprocessing, and
        what the net's own samples give.
    problem : QLabel
        Why the edit cannot be applied (empty when it can).
    """

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Preprocessing")
        self._state = state
        self._choice: Any = None
        self.why = QLabel("")
        self.why.setWordWrap(True)
        self.why.setObjectName("preprocessWhy")
        self.scale, self.mean, self.std = QLineEdit(), QLineEdit(), QLineEdit()
        for edit, tip in ((self.scale, "Multiplies the values first, e.g. 1/255"),
                          (self.mean, "Subtracted after scaling: one number, or one per channel"),
                          (self.std, "Divides last: one number, or one per channel")):
            edit.setToolTip(tip)
            edit.textChanged.connect(self._update)
        self.channel_order = QComboBox()
        self.channel_order.addItems(CHANNEL_ORDERS)
        self.channel_order.setToolTip("BGR swaps red and blue (3-channel samples)")
        self.resize_box = QComboBox()
        for policy in RESIZE_POLICIES:
            self.resize_box.addItem(RESIZE_TEXT.get(policy, f"resize ({policy})"), policy)
        self.resize_box.setToolTip("What happens to images of another size than the net's input")
        for box in (self.channel_order, self.resize_box):
            box.currentIndexChanged.connect(self._update)
        self.ranges = QLabel("")
        self.ranges.setObjectName("preprocessRanges")
        self.ranges.setWordWrap(True)
        self.problem = QLabel("")
        self.problem.setStyleSheet("color: #c62828;")
        self.problem.setWordWrap(True)

        form = QFormLayout()
        form.addRow("Scale", self.scale)
        form.addRow("Mean", self.mean)
        form.addRow("Std", self.std)
        form.addRow("Channel order", self.channel_order)
        form.addRow("Images", self.resize_box)
        self.buttons = QDialogButtonBox(QDialogButtonBox.Apply | QDialogButtonBox.Close)
        self.proposed_button = self.buttons.addButton("Strata's choice", QDialogButtonBox.ResetRole)
        self.proposed_button.setToolTip("Back to the stored or proposed preprocessing")
        self.identity_button = self.buttons.addButton("Values as they are",
                                                      QDialogButtonBox.ResetRole)
        self.apply_button = self.buttons.button(QDialogButtonBox.Apply)
        self.apply_button.clicked.connect(self.apply)
        self.proposed_button.clicked.connect(lambda: state.set_preprocess(None))
        self.identity_button.clicked.connect(lambda: state.set_preprocess({}))
        self.buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.why)
        layout.addLayout(form)
        layout.addWidget(self.ranges)
        layout.addWidget(self.problem)
        layout.addWidget(self.buttons)
        self.setMinimumWidth(460)

    def show_choice(self, choice: Any) -> None:
        """Fill the fields from the preprocessing in force."""
        self._choice = choice
        if choice is None:
            self.close()
            return
        p = choice.preprocess
        self.why.setText(f"<b>{choice.description}</b> ({HOW[choice.how]}): {choice.why}")
        for edit, value in ((self.scale, p.scale), (self.mean, p.mean), (self.std, p.std)):
            edit.blockSignals(True)
            edit.setText(number_text(value))
            edit.blockSignals(False)
        for box, value in ((self.channel_order, p.channel_order), (self.resize_box, p.resize)):
            box.blockSignals(True)
            box.setCurrentIndex(max(0, box.findData(value) if box is self.resize_box
                                    else box.findText(value)))
            box.blockSignals(False)
        self.resize_box.setEnabled(choice.images)
        self._update()

    def edited(self) -> Preprocess:
        """The preprocessing the fields describe, checked against the samples on show.

        Raises
        ------
        StrataError
            Naming the field or the problem.
        """
        values = {}
        for key, edit in (("scale", self.scale), ("mean", self.mean), ("std", self.std)):
            try:
                values[key] = numbers(edit.text())
            except (ValueError, ZeroDivisionError):
                raise StrataError(f"{key}: {edit.text()!r} is not a number or a list of "
                                  f"numbers") from None
        values["channel_order"] = self.channel_order.currentText()
        values["resize"] = self.resize_box.currentData()
        samples = self._state.samples
        return Preprocess.from_spec(values, samples.input_shape, samples.layout, "preprocessing")

    def _update(self) -> None:
        choice = self._choice
        if choice is None or self._state.samples is None:
            return
        try:
            p = self.edited()
        except StrataError as exc:
            self.problem.setText(str(exc).replace("preprocessing: ", ""))
            self.apply_button.setEnabled(False)
            return
        self.problem.setText("")
        self.apply_button.setEnabled(p != choice.preprocess)
        own = "" if choice.reference is None else \
            f"<br>The net's own samples give <b>{choice.reference}</b>."
        after = preview(choice.raw, p) if choice.raw.finite else choice.net_input
        self.ranges.setText(f"Values <b>{choice.raw}</b> → net input <b>{after}</b>{own}")

    def apply(self) -> None:
        """Preprocess the samples with the edited fields."""
        try:
            p = self.edited()
        except StrataError as exc:
            self.problem.setText(str(exc))
            return
        self._state.set_preprocess(p.to_dict())
