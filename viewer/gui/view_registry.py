"""Views that plug into the main window: tabs, panels under them, and their commands.

A view is registered with a key, a title, a shortcut, a tip and a factory
(``factory(state) -> QWidget``, or ``"module:Class"`` imported when the view
is first shown, so a registered view costs nothing at start-up). A tab or a
panel holds a :class:`LazyPage` from the start; the real view is made inside
it the first time it is shown, so the tab's widget never changes and tabs are
tracked by that widget, never by index or title. The View menu and the
keyboard-shortcuts dialog are built from the registered actions.

Panels (``add_dock``) sit under the central tabs only, in a vertical
splitter, so the layer list and the statistics keep their full height.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable, Union

from PyQt5.QtCore import QObject, Qt, pyqtSignal
from PyQt5.QtWidgets import (QAction, QActionGroup, QHBoxLayout, QLabel, QMenu, QSplitter,
                             QStyle, QTabWidget, QToolButton, QVBoxLayout, QWidget)

Factory = Union[str, Callable[[Any], QWidget]]
#: Share of the central column a panel takes when first shown.
PANEL_SHARE = 0.5


def make_view(factory: Factory, state: Any) -> QWidget:
    """Call ``factory(state)``; a ``"module:Class"`` string is imported first."""
    if isinstance(factory, str):
        module, _, name = factory.partition(":")
        factory = getattr(importlib.import_module(module), name)
    return factory(state)


class LazyPage(QWidget):
    """A tab's or panel's page: a placeholder until :meth:`build` makes the view in it.

    Signals
    -------
    built(object)
        The view was made (the view widget).
    """

    built = pyqtSignal(object)

    def __init__(self, make: Callable[[], QWidget], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._make = make
        self.view: QWidget | None = None
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._placeholder = QLabel("Loading…")
        self._placeholder.setAlignment(Qt.AlignCenter)
        self._layout.addWidget(self._placeholder)

    def build(self) -> QWidget:
        """The view, made now if it was not yet."""
        if self.view is None:
            self.view = self._make()
            self._layout.removeWidget(self._placeholder)
            self._placeholder.deleteLater()
            self._layout.addWidget(self.view)
            self.view.show()  # now, not after the event loop's next turn
            self.built.emit(self.view)
        return self.view


class Panel(QWidget):
    """A panel under the central tabs: a title row with float and close buttons over its page.

    Floating, it is a window of its own (closing that window hides the panel).
    """

    #: Size of the panel's own window when it floats.
    FLOAT_SIZE = (1100, 640)

    def __init__(self, title: str, page: LazyPage, action: QAction) -> None:
        super().__init__()
        self.page = page
        self.action = action
        self.home: QSplitter | None = None  # where it sits when not floating
        self.setWindowTitle(f"{title} — Strata")
        head = QHBoxLayout()
        head.setContentsMargins(8, 2, 4, 0)
        label = QLabel(title)
        label.setObjectName("panelTitle")
        close = QToolButton()
        close.setIcon(self.style().standardIcon(QStyle.SP_TitleBarCloseButton))
        close.setAutoRaise(True)
        close.setToolTip(f"Hide the {title} panel ({action.shortcut().toString()})")
        close.clicked.connect(lambda: action.setChecked(False))
        self.float_button = QToolButton()
        self.float_button.setIcon(self.style().standardIcon(QStyle.SP_TitleBarNormalButton))
        self.float_button.setAutoRaise(True)
        self.float_button.setToolTip(f"Show the {title} panel in a window of its own, or back "
                                     "under the plots")
        self.float_button.clicked.connect(self.toggle_floating)
        head.addWidget(label)
        head.addStretch(1)
        head.addWidget(self.float_button)
        head.addWidget(close)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(head)
        layout.addWidget(page, 1)

    @property
    def floating(self) -> bool:
        """True while the panel is a window of its own."""
        return self.isWindow()

    def toggle_floating(self) -> None:
        """Move the panel into a window of its own, or back under the plots."""
        if self.floating:
            self.home.addWidget(self)
            self.home.setCollapsible(self.home.indexOf(self), False)
            self.show()
        else:
            self.home = self.parentWidget()
            self.setParent(None, Qt.Window)
            self.resize(*self.FLOAT_SIZE)
            self.show()

    def closeEvent(self, event: Any) -> None:
        if self.floating:  # the floating window closed: the panel is hidden, not lost
            self.toggle_floating()
            self.action.setChecked(False)
            event.ignore()
            return
        super().closeEvent(event)


@dataclass
class ViewEntry:
    """One registered view.

    Attributes
    ----------
    key, title : str
    page : LazyPage
        Holds the view once made.
    action : QAction
        Shows the view (tabs), or shows and hides it (panels).
    kind : str
        "tab" or "panel".
    follows_result : bool
        A tab that draws the state's current result and is a value of the
        state's ``view`` option (heatmap, histogram).
    panel : Panel or None
        The panel around the page (panels only).
    """

    key: str
    title: str
    page: LazyPage
    action: QAction
    kind: str
    follows_result: bool = False
    panel: Any = None


class ViewRegistry(QObject):
    """The views of one window: tabs in ``tabs``, panels in ``column`` under them.

    Parameters
    ----------
    window : QMainWindow
        Owns the actions (their shortcuts work anywhere in it).
    state : AppState
        Passed to every factory.
    tabs : QTabWidget
    column : QSplitter
        The vertical splitter whose first widget holds ``tabs``.
    menu : QMenu
        The View menu: tab actions go first, then panels and commands.

    Signals
    -------
    tabChanged(str)
        The key of the tab now current.
    built(str, object)
        A view was made: its key and widget.
    """

    tabChanged = pyqtSignal(str)
    built = pyqtSignal(str, object)

    def __init__(self, window: Any, state: Any, tabs: QTabWidget, column: QSplitter,
                 menu: QMenu) -> None:
        super().__init__(window)
        self.window, self.state, self.tabs, self.column = window, state, tabs, column
        self.entries: dict[str, ViewEntry] = {}
        self._group = QActionGroup(self)
        self._menu = menu
        first = menu.actions()[0] if menu.actions() else None
        self._tabs_end = menu.insertSeparator(first)
        self._panels_end = menu.insertSeparator(first)
        tabs.currentChanged.connect(self._on_tab)

    # -- registering ------------------------------------------------------------

    def _action(self, key: str, title: str, shortcut: str | None, tip: str) -> QAction:
        if key in self.entries:
            raise ValueError(f"a view {key!r} is registered already")
        action = QAction(title, self.window)
        if shortcut:
            action.setShortcut(shortcut)
        action.setStatusTip(tip)
        action.setToolTip(tip)
        self.window.addAction(action)  # the shortcut works without opening the menu
        return action

    def _page(self, key: str, factory: Factory) -> LazyPage:
        page = LazyPage(lambda: make_view(factory, self.state))
        page.built.connect(lambda view, key=key: self.built.emit(key, view))
        return page

    def add_view(self, key: str, title: str, factory: Factory, *, shortcut: str | None = None,
                 tip: str = "", follows_result: bool = False) -> QAction:
        """Add a tab; its view is made the first time the tab is shown. Returns its action."""
        action = self._action(key, title, shortcut, tip)
        action.setCheckable(True)
        self._group.addAction(action)
        page = self._page(key, factory)
        entry = ViewEntry(key, title.replace("&", ""), page, action, "tab", follows_result)
        self.entries[key] = entry
        self.tabs.blockSignals(True)  # adding a tab must not change the current one's option
        index = self.tabs.addTab(page, entry.title)
        self.tabs.setTabToolTip(index, tip)
        self.tabs.blockSignals(False)
        action.triggered.connect(lambda _c=False, key=key: self.show(key))
        self._menu.insertAction(self._tabs_end, action)
        return action

    def add_dock(self, key: str, title: str, factory: Factory, *, shortcut: str | None = None,
                 tip: str = "") -> QAction:
        """Add a panel under the tabs, hidden at first; its action shows and hides it."""
        action = self._action(key, title, shortcut, tip)
        action.setCheckable(True)
        page = self._page(key, factory)
        panel = Panel(title.replace("&", ""), page, action)
        panel.hide()
        self.column.addWidget(panel)
        self.column.setCollapsible(self.column.count() - 1, False)
        entry = ViewEntry(key, title.replace("&", ""), page, action, "panel", panel=panel)
        self.entries[key] = entry
        action.toggled.connect(lambda on, key=key: self._show_panel(key, on))
        self._menu.insertAction(self._panels_end, action)
        return action

    def add_command(self, key: str, text: str, slot: Callable[[], Any], *,
                    shortcut: str | None = None, tip: str = "") -> QAction:
        """Add a View menu command (with a shortcut) that belongs to a view."""
        action = self._action(key, text, shortcut, tip)
        action.triggered.connect(lambda _c=False: slot())
        self._menu.insertAction(self._panels_end, action)
        return action

    # -- showing ----------------------------------------------------------------

    def widget(self, key: str) -> Any:
        """The view of ``key`` if it was made, else None."""
        entry = self.entries.get(key)
        return None if entry is None else entry.page.view

    def build(self, key: str) -> QWidget:
        """The view of ``key``, made now if needed (without showing it)."""
        return self.entries[key].page.build()

    def show(self, key: str) -> QWidget:
        """Make view ``key`` current (tab) or visible (panel); returns the view."""
        entry = self.entries[key]
        if entry.kind == "panel":
            entry.action.setChecked(True)
        else:
            self.tabs.setCurrentWidget(entry.page)
            entry.action.setChecked(True)
        return entry.page.build()

    def current_key(self) -> str | None:
        """The key of the current tab."""
        page = self.tabs.currentWidget()
        return next((k for k, e in self.entries.items() if e.page is page), None)

    def panel_visible(self, key: str) -> bool:
        """True when panel ``key`` is on show (under the plots or floating)."""
        panel = self.entries[key].panel
        return panel.isVisible() if panel.floating else panel.isVisibleTo(self.window)

    def _on_tab(self, _index: int) -> None:
        key = self.current_key()
        if key is None:
            return
        entry = self.entries[key]
        entry.action.setChecked(True)
        entry.page.build()
        self.tabChanged.emit(key)

    def _show_panel(self, key: str, on: bool) -> None:
        entry = self.entries[key]
        if on == self.panel_visible(key):
            return
        entry.panel.setVisible(on)
        if on and not entry.panel.floating:
            entry.page.build()
            sizes = self.column.sizes()
            total = sum(sizes)
            index = self.column.indexOf(entry.panel)
            if sizes[index] == 0 and total:
                share = int(total * PANEL_SHARE)
                sizes = [max(1, s * (total - share) // max(1, total - sizes[index]))
                         for s in sizes]
                sizes[index] = share
                self.column.setSizes(sizes)

    def shutdown(self) -> None:
        """Bring floating panels home, and tell every view made with a ``shutdown`` to stop."""
        for entry in self.entries.values():
            if entry.panel is not None and entry.panel.floating:
                entry.panel.toggle_floating()
            stop = getattr(entry.page.view, "shutdown", None)
            if callable(stop):
                stop()

    def shortcut_rows(self) -> list[tuple[str, str]]:
        """(keys, what they do) of every action of the window's menus that has a shortcut."""
        rows = []
        for top in self.window.menuBar().actions():
            rows.extend(_menu_rows(top.menu()))
        return rows


def _menu_rows(menu: QMenu | None) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    if menu is None:
        return rows
    for action in menu.actions():
        if action.menu() is not None:
            rows.extend(_menu_rows(action.menu()))
        elif not action.isSeparator() and not action.shortcut().isEmpty():
            text = action.text().replace("&", "").rstrip("…")
            rows.append((action.shortcut().toString(), text))
    return rows
