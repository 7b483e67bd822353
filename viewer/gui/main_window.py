"""The main window: panels, menus, keyboard navigation, files, errors.

Layout: a splitter with the net's layers and the sample picker on the left,
the plots (heatmap and histogram tabs) in the middle and the statistics on
the right; a status bar with a busy indicator below.

The plots need matplotlib, whose import takes a noticeable moment, so the
window first shows with placeholders and builds the plots right after its
first paint.
"""

from __future__ import annotations

import os
from typing import Any

from PyQt5.QtCore import QEvent, QObject, Qt, QTimer
from PyQt5.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent, QGuiApplication, QImage
from PyQt5.QtWidgets import (QApplication, QFileDialog, QLabel, QMainWindow, QProgressBar,
                             QSplitter, QTabWidget, QVBoxLayout, QWidget)

from viewer.gui import settings as cfg
from viewer.gui.banner import Banner
from viewer.gui.dialogs import ShortcutsDialog
from viewer.gui.jobs import Result
from viewer.gui.layer_list import LayerList
from viewer.gui.marks import mark
from viewer.gui.menus import build_menus
from viewer.gui.sample_panel import SamplePanel
from viewer.gui.state import AppState, report
from viewer.gui.stats_panel import StatsPanel
from viewer.gui.style import STYLE

NET_FILTER = ("Nets, models and samples (*.h5 *.hdf5 *.hdf *.keras *.onnx *.npy *.npz *.png "
              "*.jpg *.jpeg);;Strata nets (*.h5 *.hdf5);;Keras and ONNX models (*.h5 *.keras *.onnx);;"
              "All files (*)")
SAMPLES_FILTER = ("Samples (*.h5 *.hdf5 *.hdf *.npy *.npz *.png *.jpg *.jpeg);;All files (*)")
PICTURE_FILTERS = {"PNG image (*.png)": ".png", "SVG drawing (*.svg)": ".svg",
                   "PDF document (*.pdf)": ".pdf"}
ACTIVATION_FILTERS = {"NumPy array (*.npy)": ".npy", "CSV table (*.csv)": ".csv"}
BUSY_DELAY_MS = 200  # show the busy indicator only for work that is noticeably slow
DEFAULT_SIZE = (1280, 800)


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
    heatmap, histogram : HeatmapView, HistogramView or None
        None until the plots are built after the first paint.
    explore : viewer.gui.explore.attach.Explore or None
        The Compare and Weights tabs and the Dataset panel, added with the plots.
    """

    def __init__(self, state: AppState | None = None) -> None:
        super().__init__()
        self.state = state or AppState(self)
        self.settings = cfg.open_settings()
        self.heatmap: Any = None
        self.histogram: Any = None
        self.explore: Any = None
        self._painted_once = False
        self.setWindowTitle("Strata")
        self.setAcceptDrops(True)
        self.setStyleSheet(STYLE)

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
        for title in ("Heatmap", "Histogram"):
            placeholder = QLabel("Loading the plots…")
            placeholder.setAlignment(Qt.AlignCenter)
            self.tabs.addTab(placeholder, title)
        middle = QWidget()
        middle_layout = QVBoxLayout(middle)
        middle_layout.setContentsMargins(4, 6, 4, 4)
        middle_layout.setSpacing(6)
        middle_layout.addWidget(self.banner)
        middle_layout.addWidget(self.tabs, 1)

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
        self.splitter.setSizes([370, 650, 260])
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
        self._busy_timer = QTimer(self)
        self._busy_timer.setSingleShot(True)
        self._busy_timer.setInterval(BUSY_DELAY_MS)
        self._busy_timer.timeout.connect(lambda: self.busy.setVisible(self.state.busy))

        build_menus(self)
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
        s.optionsChanged.connect(self._on_options)
        s.busyChanged.connect(self._on_busy)
        s.samplesChanged.connect(lambda _s: self._update_where())
        s.layerChanged.connect(lambda _i: self._update_where())
        s.sampleChanged.connect(lambda _i: self._update_where())
        # Tabs after these two (Compare, Weights) leave the view option as it is.
        self.tabs.currentChanged.connect(
            lambda i: i < 2 and s.set_options(view=("heatmap", "histogram")[i]))

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
        self.statusBar().showMessage(f"Opening {os.path.basename(net_path)}…")
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
        """Import matplotlib and put the heatmap in its tab (the histogram follows on use)."""
        if self.heatmap is not None:
            return
        from viewer.gui.heatmap_view import HeatmapView

        self.heatmap = HeatmapView(self.state)
        self.heatmap.drawn.connect(lambda _r: mark("heatmap"))
        self._put_tab(0, self.heatmap)
        self._show_current()
        from viewer.gui.explore.attach import attach

        self.explore = attach(self)

    def _histogram_view(self) -> Any:
        """The histogram view, made the first time it is needed."""
        if self.histogram is None:
            from viewer.gui.histogram_view import HistogramView

            self.histogram = HistogramView(self.state)
            self._put_tab(1, self.histogram)
        return self.histogram

    def _put_tab(self, index: int, widget: QWidget) -> None:
        """Replace tab ``index``'s placeholder with ``widget``."""
        self.tabs.blockSignals(True)
        old = self.tabs.widget(index)
        self.tabs.removeTab(index)
        self.tabs.insertTab(index, widget, ("Heatmap", "Histogram")[index])
        old.deleteLater()
        self.tabs.setCurrentIndex(0 if self.state.options.view == "heatmap" else 1)
        self.tabs.blockSignals(False)

    # -- following the state ------------------------------------------------------

    def _on_net(self, net: Any) -> None:
        self.setWindowTitle(f"{net.name} — Strata")
        self.banner.hide_kind("open")
        self.statusBar().showMessage(f"Opened {net.path or net.name}", 5000)

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
        cfg.add_recent(self.settings, path)
        cfg.set_last_folder(self.settings, path)
        if self.state.net is not None and path != self.state.net.path:
            self.banner.hide_kind("open")
            self.statusBar().showMessage(f"Opened samples {path}", 5000)

    def _on_options(self, opts: Any) -> None:
        self.view_actions[opts.view].setChecked(True)
        index = 0 if opts.view == "heatmap" else 1
        if self.tabs.currentIndex() != index:
            self.tabs.setCurrentIndex(index)
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
        for view in (self.heatmap, self.histogram):
            if view is not None:
                view.show_message("Nothing to show: see the message above.")

    def current_view(self) -> Any:
        """The plot on show (HeatmapView or HistogramView), or None before the plots exist."""
        if self.heatmap is None:
            return None
        return self.heatmap if self.state.options.view == "heatmap" else self._histogram_view()

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

    def _update_where(self) -> None:
        s = self.state
        if s.net is None:
            self.where.setText("")
            return
        text = f"{s.net.name} · layer {s.layer}: {s.net[s.layer].name}"
        if s.samples is not None:
            text += f" · sample {s.sample} of {len(s.samples) - 1}"
        self.where.setText(text)

    # -- files ----------------------------------------------------------------------

    def open_dialog(self) -> None:
        """File > Open: a net, or samples for the current net."""
        path, _ = QFileDialog.getOpenFileName(self, "Open a net or samples",
                                              cfg.last_folder(self.settings), NET_FILTER)
        if path:
            self.state.open(path)

    def open_samples_dialog(self) -> None:
        """File > Open samples: samples for the current net."""
        path, _ = QFileDialog.getOpenFileName(self, "Open samples",
                                              cfg.last_folder(self.settings), SAMPLES_FILTER)
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
        files = cfg.recent_files(self.settings)
        for i, path in enumerate(files):
            a = self.recent_menu.addAction(f"&{(i + 1) % 10}  {os.path.basename(path)}")
            a.setToolTip(path)
            a.setStatusTip(path)
            a.triggered.connect(lambda _c=False, p=path: self.open_recent(p))
        if not files:
            self.recent_menu.addAction("No recent files").setEnabled(False)
        self.recent_menu.addSeparator()
        clear = self.recent_menu.addAction("Clear the list")
        clear.setEnabled(bool(files))
        clear.triggered.connect(lambda: cfg.clear_recent(self.settings))

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
        start = os.path.join(cfg.last_folder(self.settings), default_name(result, first))
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
                                                     self.state.options.view,
                                                     self._protected()), path)

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
        self.statusBar().showMessage(f"Saved {path}", 5000)
        return True

    def copy_picture(self) -> None:
        """Put the visible plot of the current result on the clipboard."""
        from viewer.gui.export import picture_png

        result = self.state.result
        if result is None:
            return
        image = QImage.fromData(picture_png(result, self.state.options, self.state.options.view))
        QApplication.clipboard().setImage(image)
        self.statusBar().showMessage("Copied the picture to the clipboard", 5000)

    # -- help and closing ---------------------------------------------------------

    def show_shortcuts(self) -> None:
        """Help > Keyboard shortcuts."""
        ShortcutsDialog(self).exec_()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/splitter", self.splitter.saveState())
        cfg.save_options(self.settings, self.state.options)
        self.settings.sync()
        self.state.shutdown()
        super().closeEvent(event)
