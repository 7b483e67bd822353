"""The window's menus and their keyboard shortcuts.

Every action is also added to the window itself, so its shortcut works
wherever the focus is in the window (the arrow keys step through samples and
layers even while the layer table has the focus).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PyQt5.QtCore import Qt
from PyQt5.QtWidgets import QAction

from viewer.data.formats import describe
from viewer.gui.dialogs import show_about

if TYPE_CHECKING:
    from viewer.gui.main_window import MainWindow


def _action(window: MainWindow, text: str, slot: Any, shortcut: Any = None,
            tip: str = "") -> QAction:
    action = QAction(text, window)
    if shortcut is not None:
        action.setShortcut(shortcut)
    if tip:
        action.setStatusTip(tip)
    action.triggered.connect(slot)
    window.addAction(action)  # the shortcut works without opening the menu
    return action


def build_menus(window: MainWindow) -> None:
    """Make the File, View and Help menus of ``window``.

    Sets ``window.recent_menu``, ``window.view_menu`` (the views register
    their entries at its top, see :class:`~viewer.gui.view_registry.ViewRegistry`)
    and the export actions ``window.export_picture_action``,
    ``window.export_activation_action`` and ``window.copy_action``.
    """
    s = window.state
    menu = window.menuBar().addMenu("&File")
    menu.addAction(_action(window, "&Open…", window.open_dialog, "Ctrl+O",
                           "Open a net file, or samples for the current net"))
    menu.addAction(_action(window, "Open &samples…", window.open_samples_dialog, "Ctrl+Shift+O",
                           "Open a samples file for this net (" + describe() + ")"))
    menu.addAction(_action(window, "Open sample &folder…", window.open_folder_dialog, None,
                           "Open a folder of images as samples for this net"))
    window.recent_menu = menu.addMenu("Open &recent")
    window.recent_menu.aboutToShow.connect(window.fill_recent)
    menu.addSeparator()
    window.export_picture_action = _action(window, "&Export picture…",
                                           window.export_picture_dialog, "Ctrl+E",
                                           "Save the plot as PNG, SVG or PDF")
    window.export_activation_action = _action(
        window, "Export &activation…", window.export_activation_dialog, "Ctrl+Shift+E",
        "Save the layer's output for this sample as .npy or .csv")
    window.copy_action = _action(window, "&Copy picture", window.copy_picture, "Ctrl+Shift+C",
                                 "Copy the plot to the clipboard as an image")
    for a in (window.export_picture_action, window.export_activation_action, window.copy_action):
        a.setEnabled(False)
        menu.addAction(a)
    menu.addSeparator()
    menu.addAction(_action(window, "&Quit", window.close, "Ctrl+Q", "Quit Strata"))

    menu = window.view_menu = window.menuBar().addMenu("&View")
    steps = (("Next sample", lambda: s.step_sample(1), Qt.Key_Right),
             ("Previous sample", lambda: s.step_sample(-1), Qt.Key_Left),
             ("Ten samples forward", lambda: s.step_sample(10), Qt.Key_PageDown),
             ("Ten samples back", lambda: s.step_sample(-10), Qt.Key_PageUp),
             ("First sample", lambda: s.set_sample(0), Qt.Key_Home),
             ("Last sample", lambda: s.set_sample(len(s.samples or ()) - 1), Qt.Key_End),
             (None, None, None),
             ("Next layer", lambda: s.step_layer(1), Qt.Key_Down),
             ("Previous layer", lambda: s.step_layer(-1), Qt.Key_Up),
             ("All channels", lambda: s.set_channel(None), Qt.Key_Escape))
    for text, slot, key in steps:
        if text is None:
            menu.addSeparator()
        else:
            menu.addAction(_action(window, text, slot, key))

    menu = window.menuBar().addMenu("&Help")
    menu.addAction(_action(window, "&Keyboard shortcuts", window.show_shortcuts, "F1",
                           "This list of keys"))
    menu.addAction(_action(window, "&About Strata", lambda: show_about(window)))
