"""Putting the explore views into the main window.

:func:`attach` adds, after the window's plots are built (matplotlib is
loaded by then):

- two tabs beside Heatmap and Histogram: **Compare** and **Weights**, each
  built the first time it is opened;
- a dockable **Dataset** panel (sweep, units, top-k, PCA map, classes,
  browse), hidden at first and built the first time it is shown, so it
  costs nothing at start-up; whether it is shown is remembered;
- View menu entries with the shortcuts in :data:`EXPLORE_SHORTCUTS`, and a
  "Dataset panel" button in the corner of the tab bar.

Closing the window stops the sweep and prediction threads.
"""

from __future__ import annotations

from typing import Any

from PyQt5.QtCore import QEvent, QObject, Qt
from PyQt5.QtWidgets import QAction, QDockWidget, QLabel, QMainWindow, QToolButton

#: Keys the explore views add, for Help > Keyboard shortcuts.
EXPLORE_SHORTCUTS = (
    ("Ctrl+3 / Ctrl+4", "Compare / weights"),
    ("Ctrl+P", "Compare: pin the current sample (or layer) as A"),
    ("Ctrl+D", "Show or hide the Dataset panel (sweep, top samples, PCA, classes)"),
    ("Ctrl+R", "Sweep the selected layer over the samples"),
    ("Ctrl+B", "Browse the samples as thumbnails"),
)
TAB_TITLES = ("Compare", "Weights")
DOCK_HEIGHT = 280
VISIBLE_KEY = "explore/dataset_visible"


class Explore(QObject):
    """The explore views of one main window.

    Attributes
    ----------
    compare : CompareView or None
    weights : WeightsView or None
        Built the first time their tab is opened.
    dock : QDockWidget
        Holds the Dataset panel.
    dataset : DatasetPanel or None
        Built the first time the dock is shown.
    actions : dict of str to QAction
        "compare", "weights", "pin", "dataset", "sweep", "browse".
    """

    def __init__(self, window: QMainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.compare: Any = None
        self.weights: Any = None
        tabs = window.tabs
        tabs.blockSignals(True)  # adding tabs must not change the heatmap/histogram option
        for title in TAB_TITLES:
            placeholder = QLabel("Loading…")
            placeholder.setAlignment(Qt.AlignCenter)
            tabs.addTab(placeholder, title)
        tabs.blockSignals(False)
        tabs.currentChanged.connect(self._on_tab)

        self.dataset: Any = None
        self.dock = QDockWidget("Dataset", window)
        self.dock.setObjectName("datasetDock")
        placeholder = QLabel("Loading…")
        placeholder.setAlignment(Qt.AlignCenter)
        self.dock.setWidget(placeholder)
        window.addDockWidget(Qt.BottomDockWidgetArea, self.dock)
        self.dock.hide()
        self.dock.visibilityChanged.connect(self._on_dock_visible)

        self.actions = self._make_actions()
        corner = QToolButton()
        corner.setDefaultAction(self.actions["dataset"])
        tabs.setCornerWidget(corner, Qt.TopRightCorner)
        corner.show()
        window.installEventFilter(self)
        if _truthy(window.settings.value(VISIBLE_KEY, False)):
            # Shown again once the first heatmap is on screen, not before it.
            window.heatmap.drawn.connect(self._restore_dataset)

    def _make_actions(self) -> dict[str, Any]:
        w = self.window
        view_menu = next(a.menu() for a in w.menuBar().actions() if a.text() == "&View")
        first = view_menu.actions()[0] if view_menu.actions() else None
        actions = {}

        def add(key: str, text: str, slot: Any, shortcut: str, tip: str,
                action: QAction | None = None) -> None:
            if action is None:
                action = QAction(text, w)
                action.triggered.connect(slot)
            action.setText(text)
            action.setShortcut(shortcut)
            action.setStatusTip(tip)
            action.setToolTip(tip)
            w.addAction(action)  # the shortcut works without opening the menu
            actions[key] = action

        add("compare", "&Compare", lambda: self.show_tab("Compare"), "Ctrl+3",
            "Compare two samples, or two layers of one shape, and their difference")
        add("weights", "&Weights", lambda: self.show_tab("Weights"), "Ctrl+4",
            "The selected layer's parameters as pictures and histograms")
        add("pin", "&Pin as A", self._pin, "Ctrl+P",
            "Compare: make the current sample (or layer) A")
        add("dataset", "&Dataset panel", None, "Ctrl+D",
            "Sweep the selected layer over the samples: unit statistics, the samples that "
            "drive each unit, PCA map, class means, and a browser of all samples",
            self.dock.toggleViewAction())
        add("sweep", "&Sweep the layer", self._sweep, "Ctrl+R",
            "Run the selected layer over the samples")
        add("browse", "&Browse samples", lambda: self.show_dataset("browse"), "Ctrl+B",
            "Every sample as a thumbnail, with its label and whether the net got it right")
        # Heatmap and Histogram leave these tabs even when their option is already set.
        for i, key in enumerate(("heatmap", "histogram")):
            w.view_actions[key].triggered.connect(
                lambda _c=False, i=i: w.tabs.setCurrentIndex(i))
        view_menu.insertActions(first, [actions["compare"], actions["weights"]])
        at = view_menu.actions()[view_menu.actions().index(actions["weights"]) + 1]
        view_menu.insertSeparator(at)
        view_menu.insertActions(at, [actions["dataset"], actions["sweep"], actions["browse"],
                                     actions["pin"]])
        view_menu.insertSeparator(at)
        return actions

    # -- showing --------------------------------------------------------------------

    def show_tab(self, title: str) -> Any:
        """Make tab "Compare" or "Weights" current; returns its view."""
        tabs = self.window.tabs
        tabs.setCurrentIndex(self._index(title))
        self._build_tab(title)
        return self.compare if title == "Compare" else self.weights

    def _index(self, title: str) -> int:
        tabs = self.window.tabs
        return next(i for i in range(tabs.count()) if tabs.tabText(i) == title)

    def _on_tab(self, index: int) -> None:
        title = self.window.tabs.tabText(index)
        if title in TAB_TITLES:
            self._build_tab(title)

    def _build_tab(self, title: str) -> None:
        """Put the real view in place of the tab's placeholder (once)."""
        if (self.compare if title == "Compare" else self.weights) is not None:
            return
        if title == "Compare":
            from viewer.gui.explore.compare_view import CompareView

            view = self.compare = CompareView(self.window.state)
        else:
            from viewer.gui.explore.weights_view import WeightsView

            view = self.weights = WeightsView(self.window.state)
        tabs = self.window.tabs
        index = self._index(title)
        tabs.blockSignals(True)
        current = tabs.currentIndex()
        old = tabs.widget(index)
        tabs.removeTab(index)
        tabs.insertTab(index, view, title)
        tabs.setCurrentIndex(current)
        tabs.blockSignals(False)
        old.deleteLater()

    def show_dataset(self, tab: str | None = None) -> Any:
        """Show the Dataset panel (and one of its tabs); returns the panel."""
        self.dock.show()
        self.dock.raise_()
        self._build_dataset()
        if tab is not None:
            self.dataset.show_tab(tab)
        return self.dataset

    def _build_dataset(self) -> None:
        if self.dataset is not None:
            return
        from viewer.gui.explore.dataset_panel import DatasetPanel

        self.dataset = DatasetPanel(self.window.state)
        old = self.dock.widget()
        self.dock.setWidget(self.dataset)
        old.deleteLater()
        self.window.resizeDocks([self.dock], [DOCK_HEIGHT], Qt.Vertical)

    def _restore_dataset(self, _result: Any) -> None:
        self.window.heatmap.drawn.disconnect(self._restore_dataset)
        self.show_dataset()

    def _on_dock_visible(self, visible: bool) -> None:
        if visible:
            self._build_dataset()

    def _pin(self) -> None:
        self.show_tab("Compare").pin()

    def _sweep(self) -> None:
        self.show_dataset().sweeps.run()

    # -- closing --------------------------------------------------------------------

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if obj is self.window and event.type() == QEvent.Close:
            self.window.settings.setValue(VISIBLE_KEY, self.dock.isVisible())
            self.shutdown()
        return super().eventFilter(obj, event)

    def shutdown(self, timeout_ms: int = 2000) -> None:
        """Stop the sweep and prediction threads and wait for them."""
        if self.dataset is not None:
            self.dataset.shutdown(timeout_ms)


def _truthy(value: Any) -> bool:
    """A QSettings boolean (INI files give it back as text)."""
    return value is True or str(value).lower() == "true"


def attach(window: QMainWindow) -> Explore:
    """Add the explore views to ``window`` (a MainWindow whose plots are built)."""
    return Explore(window)
