"""Matplotlib inside Qt: the canvas, a trimmed navigation toolbar, colours.

Importing this module imports matplotlib (about a third of a second), so the
window imports it only after its first paint.
"""

from __future__ import annotations

import sys
import warnings


def _import_matplotlib_without_3d() -> None:
    """Import matplotlib's figure and Qt backend, skipping the 3-D toolkit.

    ``matplotlib.projections`` imports mpl_toolkits.mplot3d eagerly, about a
    fifth of matplotlib's import time; the window never draws in 3-D. The
    toolkit is hidden only during this import, so later code can still import it.
    """
    if "matplotlib.projections" in sys.modules:
        return
    hidden = "mpl_toolkits.mplot3d" not in sys.modules
    if hidden:
        sys.modules["mpl_toolkits.mplot3d"] = None  # type: ignore[assignment]
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Unable to import Axes3D")
            import matplotlib.figure  # noqa: F401
    finally:
        if hidden:
            del sys.modules["mpl_toolkits.mplot3d"]


_import_matplotlib_without_3d()

import matplotlib  # noqa: E402

matplotlib.use("QtAgg")  # before any backend import; no pyplot anywhere in the window

from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg, NavigationToolbar2QT  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from PyQt5.QtCore import QSize, pyqtSignal  # noqa: E402
from PyQt5.QtGui import QPaintEvent, QPalette  # noqa: E402
from PyQt5.QtWidgets import QWidget  # noqa: E402

# Small, readable text inside the plots; the Qt labels around them carry titles.
matplotlib.rcParams.update({
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "image.interpolation": "nearest",
    "svg.fonttype": "none",
    "pdf.fonttype": 42,
})


class Canvas(FigureCanvasQTAgg):
    """A matplotlib canvas that says when it has painted.

    Signals
    -------
    painted()
        After each paint of the widget (benchmarks and tests wait for it).
    """

    painted = pyqtSignal()

    def __init__(self, figure: Figure) -> None:
        super().__init__(figure)
        self.setMinimumSize(200, 160)

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        self.painted.emit()

    def sizeHint(self) -> QSize:
        return QSize(640, 480)


def _trimmed_toolitems(items: list, keep: tuple[str, ...]) -> list:
    """The toolbar entries named in ``keep``, with a separator before "Pan"."""
    kept = [t for t in items if t[0] in keep]
    at = [t[0] for t in kept].index("Pan")
    return kept[:at] + [(None, None, None, None)] + kept[at:]


class NavToolbar(NavigationToolbar2QT):
    """Matplotlib's navigation toolbar with only Home, Back, Forward, Pan and Zoom.

    Saving goes through the window's File > Export instead, which knows the
    net, layer and sample to name the file after.
    """

    toolitems = _trimmed_toolitems(NavigationToolbar2QT.toolitems,
                                   ("Home", "Back", "Forward", "Pan", "Zoom"))

    def __init__(self, canvas: Canvas, parent: QWidget | None = None) -> None:
        super().__init__(canvas, parent, coordinates=False)
        self.setIconSize(QSize(20, 20))
        self.setMovable(False)

    @property
    def navigating(self) -> bool:
        """True while pan or zoom mode is on (clicks belong to the toolbar)."""
        return bool(self.mode.value)

    def reset_history(self) -> None:
        """Forget the zoom history (after the picture changed shape)."""
        self._nav_stack.clear()
        self.set_history_buttons()


def window_colour(widget: QWidget) -> str:
    """The widget's window background as ``#rrggbb``, for seamless figures."""
    return widget.palette().color(QPalette.Window).name()


def text_colour(widget: QWidget) -> str:
    """The widget's text colour as ``#rrggbb``."""
    return widget.palette().color(QPalette.WindowText).name()


def new_figure(widget: QWidget) -> Figure:
    """A figure coloured like ``widget``'s window, with matching text colour."""
    fig = Figure(dpi=100, facecolor=window_colour(widget))
    fig.patch.set_linewidth(0)
    return fig
