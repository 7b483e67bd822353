"""The window's ways to take a result away: export a picture or the values, copy.

A mixin of :class:`~viewer.gui.main_window.MainWindow`: it uses the window's
``state``, ``settings``, ``banner``, ``status`` and ``heatmap``. The export
code itself (viewer.gui.export) is imported on first use.
"""

from __future__ import annotations

import os
from typing import Any

from PyQt5.QtGui import QImage
from PyQt5.QtWidgets import QApplication, QFileDialog

from viewer.app.compute import Result
from viewer.app.messages import report
from viewer.data.formats import ACTIVATION_FORMATS, PICTURE_FORMATS, file_filter
from viewer.gui import settings as cfg

#: Save dialogs' filters: filter text -> extension.
PICTURE_FILTERS = {file_filter(label, (ext,)): ext for ext, label in PICTURE_FORMATS.items()}
ACTIVATION_FILTERS = {file_filter(label, (ext,)): ext for ext, label in ACTIVATION_FORMATS.items()}


class ExportActions:
    """File > Export picture…, Export activation…, Copy picture."""

    def _enable_exports(self, on: bool) -> None:
        for a in (self.export_picture_action, self.export_activation_action, self.copy_action):
            a.setEnabled(on)

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
        self.status.show_file_message("Saved", path)
        return True

    def copy_picture(self) -> None:
        """Put the visible plot of the current result on the clipboard."""
        from viewer.gui.export import picture_png

        result = self.state.result
        if result is None:
            return
        image = QImage.fromData(picture_png(result, self.state.options, self.picture_kind(result)))
        QApplication.clipboard().setImage(image)
        self.status.show_message("Copied the picture to the clipboard")
