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

import os
from typing import Any

from PyQt5.QtCore import QEvent, QObject, Qt, QTimer
from PyQt5.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent, QGuiApplication, QImage
from PyQt5.QtWidgets import (QApplication, QFileDialog, QLabel, QMainWindow, QProgressBar,
                             QSplitter, QTabWidget, QToolButton, QVBoxLayout, QWidget)

from viewer.app.compute import Result
from viewer.app.messages import report, setup_logging
from viewer.app.opening import open_filters, samples_filters
from viewer.app.options import VIEWS
from viewer.app.pairs import PairMemory
from viewer.data.formats import file_filter
from viewer.export import ACTIVATION_FORMATS
from viewer.gui import settings as cfg
from viewer.gui.banner import Banner
from viewer.gui.dialogs import ShortcutsDialog
from viewer.gui.layer_list import LayerList
from viewer.app.marks import mark
from viewer.gui.menus import build_menus
from viewer.gui.render import PICTURE_FORMATS
from viewer.gui.sample_panel import SamplePanel
from viewer.gui.state import AppState
from viewer.gui.stats_panel import PANEL_WIDTH, StatsPanel
from viewer.gui.style import apply_style
from viewer.gui.view_registry import Factory, ViewRegistry
from viewer.app.views import register_views

#: Save dialogs' filters: filter text -> extension.
PICTURE_FILTERS = {file_filter(label, (ext,)): ext for ext, label in PICTURE_FORMATS.items()}
ACTIVATION_FILTERS = {file_filter(label, (ext,)): ext for ext, label in ACTIVATION_FORMATS.items()}
BUSY_DELAY_MS = 200  # show the busy indicator only for work that is noticeably slow
DEFAULT_SIZE = (1280, 800)
# The left column widens for its layer table up to this share of the window: at
# 1280 pixels the demo's table fits, and the tabs keep room for their titles.
LEFT_SHARE = 0.38
PANELS_KEY = "window/panels"  # the panels on show at the last close


class MainWindow(QMainWindow):
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
    views : ViewRegistry
        The registered tabs and panels (see :meth:`add_view`).
    """

    def __init__(self, state: AppState | None = None) -> None:
        super().__init__()
        self.state = state or AppState(self)
        self.settings = cfg.open_settings()
        setup_logging()
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

        self.busy = QProgressBar()
        self.busy.setRange(0, 0)
        self.busy.setMaximumWidth(120)
        self.busy.setMaximumHeight(14)
        self.busy.setTextVisible(False)
        self.busy.hide()
        self.where = QLabel("")
        self.statusBar().addPermanentWidget(self.busy)
        self.statusBar().addPermanentWidget(self.where)
        # The tooltip names the file of the message on show, and goes with it.
        self.statusBar().messageChanged.connect(
            lambda text: text or self.statusBar().setToolTip(""))
        self._busy_timer = QTimer(self)
        self._busy_timer.setSingleShot(True)
        self._busy_timer.setInterval(BUSY_DELAY_MS)
        self._busy_timer.timeout.connect(lambda: self.busy.setVisible(self.state.busy))

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
        s.busyChanged.connect(self._on_busy)
        s.samplesChanged.connect(lambda _s: self._update_where())
        s.layerChanged.connect(lambda _i: self._update_where())
        s.sampleChanged.connect(lambda _i: self._update_where())
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
        button = QToolButton()
        button.setObjectName("datasetToggle")
        button.setAutoRaise(True)
        action = self.views.entries["dataset"].action
        action.setIconText("Dataset panel ▴")  # the menu says "Dataset panel" too
        button.setDefaultAction(action)
        self.statusBar().addPermanentWidget(button)

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
        self.show_file_message("Opening", net_path, 0)
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
        self.show_file_message("Opened", net.path or net.name)

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

    def _on_file_opened(self, path: str) -> None:
        samples = path == self.state.samples_path
        cfg.add_recent(self.settings, path, "samples" if samples else "nets")
        cfg.set_last_folder(self.settings, path)
        if samples:
            self.banner.hide_kind("open")
            self.show_file_message("Opened samples", path)

    def _on_options(self, opts: Any) -> None:
        if opts.view != self._shown_option:
            # The option changed (a key, the menu, restored settings): show its tab.
            self._shown_option = opts.view
            if self.views.current_key() != opts.view:
                self.views.tabs.setCurrentWidget(self.views.entries[opts.view].page)
        self._show_current()

    def _on_busy(self, busy: bool) -> None:
        if busy:
            self._busy_timer.start()
        else:
            self._busy_timer.stop()
            self.busy.hide()

    def _on_result(self, result: Result | None) -> None:
        has = result is not None
        for a in (self.export_picture_action, self.export_activation_action, self.copy_action):
            a.setEnabled(has)
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
        for a in (self.export_picture_action, self.export_activation_action, self.copy_action):
            a.setEnabled(False)
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

    def show_file_message(self, verb: str, path: str, timeout_ms: int = 5000) -> None:
        """"<verb> <file name>" in the status bar, the full path in its tooltip.

        A worktree or home folder path would push the text off a 1280-pixel window.
        """
        self.statusBar().showMessage(f"{verb} {os.path.basename(path) or path}", timeout_ms)
        self.statusBar().setToolTip(path)

    def _update_where(self) -> None:
        s = self.state
        if s.net is None:
            self.where.setText("")
            return
        text = f"{s.net.name} · layer {s.layer}: {s.net[s.layer].name}"
        if s.samples is not None:
            text += f" · sample {s.sample} in 0–{len(s.samples) - 1:,}"
        self.where.setText(text)

    # -- files ----------------------------------------------------------------------

    def open_dialog(self) -> None:
        """File > Open: a net, or samples for the current net."""
        path, _ = QFileDialog.getOpenFileName(self, "Open a net or samples",
                                              cfg.last_folder(self.settings), open_filters())
        if path:
            self.state.open(path)

    def open_samples_dialog(self) -> None:
        """File > Open samples: samples for the current net."""
        path, _ = QFileDialog.getOpenFileName(self, "Open samples",
                                              cfg.last_folder(self.settings), samples_filters())
        if path:
            self.state.open(path)

    def open_folder_dialog(self) -> None:
        """File > Open sample folder: a folder of images as samples for the current net."""
        path = QFileDialog.getExistingDirectory(self, "Open a folder of images",
                                                cfg.last_folder(self.settings))
        if path:
            self.state.open(path)

    def open_recent(self, path: str) -> None:
        """Open a file from the recent list, forgetting it if it is gone."""
        if not os.path.exists(path):
            cfg.remove_recent(self.settings, path)
            message = f"{path}: no such file any more; removed from the recent files"
            report(message)
            self.banner.show_message(message, "open")
            return
        self.state.open(path)

    def fill_recent(self) -> None:
        """Rebuild File > Open recent from the settings (just before it opens)."""
        self.recent_menu.clear()
        count = 0
        for kind, title in zip(cfg.RECENT_KINDS, ("Nets and models", "Samples")):
            files = cfg.recent_files(self.settings, kind)
            self.recent_menu.addSection(title)
            for path in files:
                count += 1
                a = self.recent_menu.addAction(f"&{count % 10}  {os.path.basename(path)}")
                a.setToolTip(path)
                a.setStatusTip(path)
                a.triggered.connect(lambda _c=False, p=path: self.open_recent(p))
            if not files:
                self.recent_menu.addAction(f"No recent {title.lower()}").setEnabled(False)
        self.recent_menu.addSeparator()
        clear = self.recent_menu.addAction("Clear the lists")
        clear.setEnabled(count > 0)
        clear.triggered.connect(self.clear_recent)

    def clear_recent(self) -> None:
        """Forget the recent files, and the samples and preprocessing remembered with them."""
        cfg.clear_recent(self.settings)
        self.state.memory = PairMemory()

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.state.open_many(paths)

    # -- taking results away ------------------------------------------------------

    def _protected(self) -> list[str | None]:
        net = self.state.net
        return [net.path if net is not None else None, self.state.samples_path]

    def _save_name(self, title: str, filters: dict[str, str], result: Result) -> str | None:
        from viewer.gui.export import default_name

        first = next(iter(filters.values()))
        start = os.path.join(cfg.export_folder(self.settings), default_name(result, first))
        path, chosen = QFileDialog.getSaveFileName(self, title, start, ";;".join(filters))
        if not path:
            return None
        if not os.path.splitext(path)[1]:
            path += filters.get(chosen, first)
        cfg.set_last_folder(self.settings, path)
        return path

    def export_picture_dialog(self) -> None:
        """File > Export picture."""
        result = self.state.result
        if result is not None:
            path = self._save_name("Export picture", PICTURE_FILTERS, result)
            if path:
                self.export_picture(path)

    def export_activation_dialog(self) -> None:
        """File > Export activation."""
        result = self.state.result
        if result is not None:
            path = self._save_name("Export activation", ACTIVATION_FILTERS, result)
            if path:
                self.export_activation(path)

    def export_picture(self, path: str) -> bool:
        """Save the visible plot of the current result to ``path``; False on error."""
        from viewer.gui.export import export_picture

        return self._export(lambda r: export_picture(path, r, self.state.options,
                                                     self.picture_kind(r), self._protected()),
                            path)

    def picture_kind(self, result: Result) -> str:
        """What a saved picture of ``result`` shows: the visible view, or "bars" where the
        heatmap draws the layer as bars."""
        view = self.state.options.view
        if view == "heatmap" and self.heatmap is not None and self.heatmap.bars.wanted(result):
            return "bars"
        return view

    def export_activation(self, path: str) -> bool:
        """Save the current activation (or channel) to ``path``; False on error."""
        from viewer.gui.export import export_activation

        return self._export(lambda r: export_activation(path, r.values, self._protected()), path)

    def _export(self, write: Any, path: str) -> bool:
        from viewer.errors import StrataError

        result = self.state.result
        if result is None:
            return False
        try:
            write(result)
        except StrataError as exc:
            report(str(exc))
            self.banner.show_message(str(exc), "export")
            return False
        self.banner.hide_kind("export")
        self.show_file_message("Saved", path)
        return True

    def copy_picture(self) -> None:
        """Put the visible plot of the current result on the clipboard."""
        from viewer.gui.export import picture_png

        result = self.state.result
        if result is None:
            return
        image = QImage.fromData(picture_png(result, self.state.options, self.picture_kind(result)))
        QApplication.clipboard().setImage(image)
        self.statusBar().showMessage("Copied the picture to the clipboard", 5000)
        self.statusBar().setToolTip("")

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
