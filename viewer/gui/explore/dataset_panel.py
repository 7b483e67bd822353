"""The Dataset panel: a sweep of the selected layer and everything it shows.

Above, the sweep's controls (:class:`~.sweep_panel.SweepBar`); below, tabs:

- **Units**: the per-unit table, the same numbers as a picture laid out like
  the heatmap, and the top-k gallery of the selected unit;
- **PCA map**: the samples by the layer's two principal components;
- **Classes**: the mean of each unit per class;
- **Browse**: every sample as a thumbnail, with filters.

Automatic sweeps run only while the panel is on show.
"""

from __future__ import annotations

from typing import Any

from PyQt5.QtCore import Qt
from PyQt5.QtWidgets import QSplitter, QTabWidget, QVBoxLayout, QWidget

from viewer.gui.explore.class_view import ClassView
from viewer.gui.explore.gallery import TopGallery
from viewer.gui.explore.pca_view import PCAView
from viewer.gui.explore.predictions import Predictions
from viewer.gui.explore.sample_strip import SampleStrip
from viewer.gui.explore.sweep_panel import SweepBar
from viewer.gui.explore.sweep_worker import SweepController
from viewer.gui.explore.unit_table import UnitPicture, UnitTable
from viewer.gui.state import AppState

TABS = ("units", "pca", "classes", "browse")


class DatasetPanel(QWidget):
    """Sweep controls over tabs of unit statistics, top-k, PCA, class means and browsing.

    Parameters
    ----------
    state : AppState

    Attributes
    ----------
    sweeps : SweepController
    predictions : Predictions
    bar : SweepBar
    table : UnitTable
    picture : UnitPicture
    gallery : TopGallery
    pca : PCAView
    classes : ClassView
    strip : SampleStrip
    tabs : QTabWidget
    """

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._state = state
        self.sweeps = SweepController(state, self)
        self.sweeps.active = False  # until the panel is on show
        self.predictions = Predictions(state, self)
        self.bar = SweepBar(state, self.sweeps)
        self.table = UnitTable(self.sweeps)
        self.picture = UnitPicture(self.sweeps)
        self.gallery = TopGallery(state, self.sweeps)
        self.pca = PCAView(state, self.sweeps)
        self.classes = ClassView(state, self.sweeps)
        self.strip = SampleStrip(state, self.predictions)

        # The table left; the unit's picture over its top samples right, so the panel
        # fits under the central view of a 1280-pixel window.
        right = QSplitter(Qt.Vertical)
        right.setChildrenCollapsible(False)
        right.addWidget(self.picture)
        right.addWidget(self.gallery)
        right.setSizes([200, 200])
        right.setStretchFactor(0, 1)  # the picture grows with the panel; the samples keep a row
        right.setStretchFactor(1, 0)
        units = QSplitter(Qt.Horizontal)
        units.setChildrenCollapsible(False)
        units.addWidget(self.table)
        units.addWidget(right)
        units.setStretchFactor(0, 0)
        units.setStretchFactor(1, 1)
        units.setSizes([300, 700])
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        for widget, title in ((units, "Units"), (self.pca, "PCA map"),
                              (self.classes, "Classes"), (self.strip, "Browse")):
            page = QWidget()
            inner = QVBoxLayout(page)
            inner.setContentsMargins(6, 4, 6, 4)
            inner.addWidget(widget)
            self.tabs.addTab(page, title)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.bar)
        layout.addWidget(self.tabs, 1)

    def show_tab(self, name: str) -> None:
        """Show tab "units", "pca", "classes" or "browse"."""
        self.tabs.setCurrentIndex(TABS.index(name))

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        self.sweeps.set_active(True)

    def hideEvent(self, event: Any) -> None:
        super().hideEvent(event)
        self.sweeps.set_active(False)

    def shutdown(self, timeout_ms: int = 2000) -> None:
        """Stop the sweep and prediction threads (closing the window)."""
        self.sweeps.shutdown(timeout_ms)
        self.predictions.shutdown(timeout_ms)
