"""The window's file glue: the open dialogs, the recent files, dropped files.

A mixin of :class:`~viewer.gui.main_window.MainWindow`: it uses the window's
``state``, ``settings``, ``banner``, ``status`` and ``recent_menu``.
"""

from __future__ import annotations

import os

from PyQt5.QtGui import QDragEnterEvent, QDropEvent
from PyQt5.QtWidgets import QFileDialog

from viewer.app.messages import report
from viewer.app.opening import open_filters, samples_filters
from viewer.app.pairs import PairMemory
from viewer.gui import settings as cfg


class FileActions:
    """File > Open…, Open samples…, Open sample folder…, Open recent, and drops."""

    def _on_file_opened(self, path: str) -> None:
        samples = path == self.state.samples_path
        cfg.add_recent(self.settings, path, "samples" if samples else "nets")
        cfg.set_last_folder(self.settings, path)
        if samples:
            self.banner.hide_kind("open")
            self.status.show_file_message("Opened samples", path)

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
