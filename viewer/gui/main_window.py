"""The main window: panels, menus, keyboard navigation, files, errors.

Layout: a splitter with the net's layers and the sample picker on the left,
the views in the middle (tabs, registered in :mod:`viewer.app.views`; panels
such as the Dataset panel open under them) and the statistics on the right;
a status bar with a busy indicator below.

The plots need matplotlib, whose import takes a noticeable moment, so the
window first shows with placeholders and builds the heatmap right after its
first paint.
"""

from __future__ import annotations

from typing import Any

from PyQt5.QtCore import QEvent, QObject, Qt, QTimer
from PyQt5.QtGui import QCloseEvent, QGuiApplication
from PyQt5.QtWidgets import QMainWindow, QSplitter, QTabWidget, QVBoxLayout, QWidget

from viewer.app.compute import Result
from viewer.app.marks import mark
from viewer.app.messages import report
from viewer.app.options import VIEWS
from viewer.app.views import register_views
from viewer.gui import main_thread_gc
from viewer.gui import settings as cfg
from viewer.gui.banner import Banner
from viewer.gui.dialogs import ShortcutsDialog
from viewer.gui.layer_list import LayerList
from viewer.gui.menus import build_menus
from viewer.gui.sample_panel import SamplePanel
from viewer.gui.state import AppState
from viewer.gui.stats_panel import PANEL_WIDTH, StatsPanel
from viewer.gui.status import StatusLine
from viewer.gui.style import apply_style
from viewer.gui.view_registry import Factory, ViewRegistry
from viewer.gui.window_export import ExportActions
from viewer.gui.window_files import FileActions

DEFAULT_SIZE = (1280, 800)
# The left column widens for its layer table up to this share of the window: at
# 1280 pixels the demo's table fits, and the tabs keep room for their titles.
LEFT_SHARE = 0.38
PANELS_KEY = "window/panels"  # the panels on show at the last close


class MainWindow(FileActions, ExportActions, QMainWindow):
    """Strata's window around one :class:`AppState`.

    Parameters
    ----------
    state : AppState, optional
        A new one by default.

    Attributes
    ----------
    state : AppState
    layers : LayerList
    samples : SamplePanel
    stats : StatsPanel
    banner : Banner
        The message strip above the plots (errors and warnings).
    status : StatusLine
        The status bar's messages and permanent widgets.
    views : ViewRegistry
        The registered tabs and panels (see :meth:`add_view`).
    """

    def __init__(self, state: AppState | None = None) -> None:
        super().__init__()
        self.state = state or AppState(self)
        self.settings = cfg.open_settings()
        self._painted_once = False
        self._shown_option = ""  # the view option whose tab was last made current
        self.setWindowTitle("Strata")
        self.setAcceptDrops(True)
        apply_style(self)

        self.layers = LayerList(self.state)
        self.samples = SamplePanel(self.state)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(10, 10, 4, 10)
        left_layout.setSpacing(10)
        left_layout.addWidget(self.layers, 1)
        left_layout.addWidget(self.samples)

        self.banner = Banner()
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(4, 6, 4, 4)
        top_layout.setSpacing(6)
        top_layout.addWidget(self.banner)
        top_layout.addWidget(self.tabs, 1)
        # Panels open under the tabs only: the layer list and statistics keep their height.
        self.column = QSplitter(Qt.Vertical)
        self.column.setChildrenCollapsible(False)
        self.column.addWidget(top)
        middle = self.column

        self.stats = StatsPanel(self.state)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(4, 10, 10, 10)
        right_layout.addWidget(self.stats)

        self.splitter = QSplitter(Qt.Horizontal)
        self.splitter.setChildrenCollapsible(False)
        for w in (left, middle, right):
            self.splitter.addWidget(w)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setStretchFactor(2, 0)
        self.splitter.setSizes([370, 650, PANEL_WIDTH + 14])
        self.setCentralWidget(self.splitter)

        self.status = StatusLine(self.statusBar(), self.state)
        self.busy, self.where = self.status.busy, self.status.where

        build_menus(self)
        self.views = ViewRegistry(self, self.state, self.tabs, self.column, self.view_menu)
        register_views(self)
        self._dataset_button()
        self._connect_state()
        self.layers.tree.painted.connect(self._on_layers_painted)
        self.splitter.installEventFilter(self)
        self._restore()

    # -- construction -----------------------------------------------------------

    def _connect_state(self) -> None:
        s = self.state
        s.netChanged.connect(self._on_net)
        s.resultReady.connect(self._on_result)
        s.computeFailed.connect(self._on_compute_failed)
        s.openFailed.connect(self._on_open_failed)
        s.fileOpened.connect(self._on_file_opened)
        s.choiceChanged.connect(self._on_choice)
        s.optionsChanged.connect(self._on_options)
        self.views.tabChanged.connect(self._on_tab)
        self.views.built.connect(self._on_view_built)

    # -- views ----------------------------------------------------------------------

    def add_view(self, key: str, title: str, factory: Factory, *, shortcut: str | None = None,
                 tip: str = "", follows_result: bool = False) -> Any:
        """Register a tab: ``factory(state)`` (or ``"module:Class"``) makes it when first shown.

        ``follows_result``: the tab draws the state's current result and is a
        value of its ``view`` option. Returns the tab's QAction.
        """
        return self.views.add_view(key, title, factory, shortcut=shortcut, tip=tip,
                                   follows_result=follows_result)

    def add_dock(self, key: str, title: str, factory: Factory, *, shortcut: str | None = None,
                 tip: str = "") -> Any:
        """Register a panel under the tabs, shown and hidden by its QAction (returned)."""
        return self.views.add_dock(key, title, factory, shortcut=shortcut, tip=tip)

    def add_command(self, key: str, text: str, slot: Any, *, shortcut: str | None = None,
                    tip: str = "") -> Any:
        """Register a View menu command with a shortcut (listed in Help > Keyboard shortcuts)."""
        return self.views.add_command(key, text, slot, shortcut=shortcut, tip=tip)

    def show_view(self, key: str) -> Any:
        """Show view ``key`` (a tab or a panel), made now if needed; returns it."""
        return self.views.show(key)

    @property
    def heatmap(self) -> Any:
        """The heatmap view, or None before it is built (after the first paint)."""
        return self.views.widget("heatmap")

    @property
    def histogram(self) -> Any:
        """The histogram view, or None before it is first shown."""
        return self.views.widget("histogram")

    def _dataset_button(self) -> None:
        """The Dataset panel's toggle at the bottom right, below where the panel opens.

        Not in the tab bar's corner: at 1280 pixels the tabs need all of its width.
        """
        self.status.add_toggle(self.views.entries["dataset"].action, "Dataset panel ▴",
                               "datasetToggle")  # the menu says "Dataset panel" too

    def _on_tab(self, key: str) -> None:
        if self.views.entries[key].follows_result:
            self.state.set_options(view=key)
            self._show_current()
        # A view with statistics of its own (Weights) shows them while it is current.
        view = self.views.widget(key)
        self.stats.show_view_stats(getattr(view, "stats_shown", lambda: None)())

    def _on_view_built(self, key: str, view: Any) -> None:
        if key == "heatmap":
            view.drawn.connect(lambda _r: mark("heatmap"))
            view.fieldHovered.connect(self.samples.thumb.show_field)
        if key == "dataset":  # a sweep's range serves the heatmap's "dataset" scale
            view.sweeps.finished.connect(self.state.use_sweep)
        changed = getattr(view, "statsChanged", None)
        if changed is not None:
            changed.connect(lambda own, key=key: self.views.current_key() == key
                            and self.stats.show_view_stats(own))

    def _restore(self) -> None:
        geometry = self.settings.value("window/geometry")
        if geometry is None or not self.restoreGeometry(geometry):
            self.resize(*DEFAULT_SIZE)
            screen = QGuiApplication.primaryScreen()
            if screen is not None:
                frame = self.frameGeometry()
                frame.moveCenter(screen.availableGeometry().center())
                self.move(frame.topLeft())
        splitter = self.settings.value("window/splitter")
        if splitter is not None:
            self.splitter.restoreState(splitter)
        self.state.set_options(**vars(cfg.load_options(self.settings)))
        self._on_options(self.state.options)

    # -- start-up -----------------------------------------------------------------

    def start(self, net_path: str, samples_path: str | None = None) -> None:
        """Open the first net (and samples); the window is already showing."""
        self.status.show_file_message("Opening", net_path, 0)
        self.state.open(net_path, samples_path)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if obj is self.splitter and event.type() == QEvent.Paint and not self._painted_once:
            self._painted_once = True
            mark("window")
        return super().eventFilter(obj, event)

    def _on_layers_painted(self) -> None:
        if self.heatmap is None:
            mark("layer_list")
            # The layer list is on screen: only now pay for matplotlib.
            QTimer.singleShot(0, self.build_plots)

    def build_plots(self) -> None:
        """Import matplotlib and make the heatmap (the other views follow on use)."""
        if self.heatmap is not None:
            return
        heatmap = self.views.build("heatmap")
        main_thread_gc.freeze_start_up()  # matplotlib is in: start-up's objects are all made
        self._show_current()
        panels = self.settings.value(PANELS_KEY) or []
        panels = [panels] if isinstance(panels, str) else list(panels)
        if panels:
            # Shown again once the first heatmap is on screen, not before it.
            def restore(_result: Any) -> None:
                heatmap.drawn.disconnect(restore)
                for key in panels:
                    if self.views.entries.get(key) and self.views.entries[key].kind == "panel":
                        self.views.show(key)

            heatmap.drawn.connect(restore)

    # -- following the state ------------------------------------------------------

    def _on_net(self, net: Any) -> None:
        self.setWindowTitle(f"{net.name} — Strata")
        self._fit_layer_list()
        self.banner.hide_kind("open")
        self.status.show_file_message("Opened", net.path or net.name)

    def _on_choice(self, choice: Any) -> None:
        """The samples' preprocessing warnings (range far off, images resized) in the strip."""
        if choice is not None and choice.warnings:
            self.banner.show_message(" ".join(choice.warnings), "preprocess", warning=True)
        else:
            self.banner.hide_kind("preprocess")

    def _fit_layer_list(self) -> None:
        """Widen the left column to show the layer table in full, up to LEFT_SHARE of the window."""
        sizes = self.splitter.sizes()
        if len(sizes) != 3 or not sum(sizes):
            return
        margins = self.splitter.widget(0).layout().contentsMargins()
        want = self.layers.wanted_width() + margins.left() + margins.right()
        want = min(want, int(LEFT_SHARE * sum(sizes)))
        if want > sizes[0]:
            self.splitter.setSizes([want, max(sizes[1] - (want - sizes[0]), 200), sizes[2]])

    def _on_open_failed(self, message: str) -> None:
        self.banner.show_message(message, "open")
        self.statusBar().clearMessage()
        if self.state.net is None:
            self.layers.title.setText("No net open")
        if self.heatmap is None:
            QTimer.singleShot(0, self.build_plots)
        else:
            self._show_current()

    def _on_options(self, opts: Any) -> None:
        if opts.view != self._shown_option:
            # The option changed (a key, the menu, restored settings): show its tab.
            self._shown_option = opts.view
            if self.views.current_key() != opts.view:
                self.views.tabs.setCurrentWidget(self.views.entries[opts.view].page)
        self._show_current()

    def _on_result(self, result: Result | None) -> None:
        has = result is not None
        self._enable_exports(has)
        if has:
            self.banner.hide_kind("compute")
            st = result.stats
            if st.size and st.n_nan == st.size:
                req = result.request
                message = (f"layer {req.net[req.layer].name!r} gives only NaN for sample "
                           f"{req.sample}: there is nothing to draw")
                report(message)
                self.banner.show_message(message, "compute", warning=True)
        self._show_current()

    def _on_compute_failed(self, message: str) -> None:
        self._enable_exports(False)
        self.banner.show_message(message, "compute")
        for key in VIEWS:
            view = self.views.widget(key)
            if view is not None:
                view.show_message("Nothing to show: see the message above.")

    def current_view(self) -> Any:
        """The result view of the state's ``view`` option, or None before the plots exist."""
        if self.heatmap is None:
            return None
        return self.views.build(self.state.options.view)

    def _show_current(self) -> None:
        """Draw the latest result in the visible plot (only that one: half the work)."""
        view = self.current_view()
        if view is None:
            return
        result = self.state.result
        if result is not None:
            if view.current() is not result:
                view.show_result(result)
        elif self.state.net is None and not self.state.loader.busy:
            view.show_message("No net is open.\n"
                              "Open one with File > Open… or drop a net file here.")
        elif self.state.net is not None and self.state.samples is None:
            view.show_message("This net has no samples.\n"
                              "Open some with File > Open samples… or drop a file here.")

    # -- help and closing ---------------------------------------------------------

    def show_shortcuts(self) -> None:
        """Help > Keyboard shortcuts."""
        ShortcutsDialog(self.views.shortcut_rows(), self).exec_()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/splitter", self.splitter.saveState())
        self.settings.setValue(PANELS_KEY, [k for k, e in self.views.entries.items()
                                            if e.kind == "panel" and self.views.panel_visible(k)])
        cfg.save_options(self.settings, self.state.options)
        self.settings.sync()
        self.views.shutdown()
        self.state.shutdown()
        super().closeEvent(event)
