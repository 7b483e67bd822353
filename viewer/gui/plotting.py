"""Matplotlib inside Qt: the canvas, a trimmed navigation toolbar, colours.

Importing this module imports matplotlib (about a third of a second), so the
window imports it only after its first paint.
"""

from __future__ import annotations

import math
import sys
import warnings

import numpy as np


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
from matplotlib.image import AxesImage  # noqa: E402
from matplotlib.transforms import Bbox, TransformedBbox  # noqa: E402
from PyQt5.QtCore import QSize, Qt, pyqtSignal  # noqa: E402
from PyQt5.QtGui import QIcon, QPaintEvent, QPalette  # noqa: E402
from PyQt5.QtWidgets import QLabel, QStackedLayout, QWidget  # noqa: E402

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
        self.setIconSize(QSize(18, 18))
        self.setMovable(False)
        self._freeze_icons()

    def _freeze_icons(self) -> None:
        """Render each button's icon once: matplotlib's icon engine reads and renders its SVG
        file on every paint of the button (about 3 ms each, five buttons, on every redraw
        that repaints the control bar)."""
        for action in self.actions():
            icon = action.icon()
            if icon.isNull():
                continue
            # The engine scales by the screen's pixel ratio itself; Qt greys the disabled look.
            frozen = QIcon(icon.pixmap(self.iconSize()))
            action.setIcon(frozen)

    @property
    def navigating(self) -> bool:
        """True while pan or zoom mode is on (clicks belong to the toolbar)."""
        return bool(self.mode.value)

    def reset_history(self) -> None:
        """Forget the zoom history (after the picture changed shape)."""
        self._nav_stack.clear()
        self.set_history_buttons()


class PixelImage(AxesImage):
    """An image of ready-made RGBA pixels, drawn by nearest-neighbour lookup or area means.

    matplotlib's general resampler turns the pixels to floats, resamples four
    channels and turns them back, some 7 ms for a 600-pixel heatmap on every
    redraw, and about 20 ms when it smooths a picture shrunk a little to fit.
    With nearest-neighbour sampling each screen pixel just takes the colour of
    the image pixel under its centre: one numpy lookup. A shrunk opaque
    picture under "antialiased" gets, for each screen pixel, the mean of four
    samples at the quarter points of the image area it covers when shrunk
    at most twofold (:func:`quarter_samples`, as fast as the lookup), else
    its mean over that area (:func:`area_means`). Anything else (rotation,
    magnified output, transparency when smoothing) goes the general way.
    """

    def make_image(self, renderer, magnification=1.0, unsampled=False):
        A = self._A
        trans = self.get_transform()
        matrix = trans.get_affine().get_matrix() if trans.is_affine else None
        mode = self.get_interpolation()
        if (unsampled or magnification != 1.0 or mode not in ("nearest", "antialiased")
                or A is None or A.ndim != 3 or A.dtype != np.uint8 or A.shape[2] != 4
                or matrix is None or matrix[0, 1] or matrix[1, 0]):
            return super().make_image(renderer, magnification, unsampled)
        left, right, bottom, top = self.get_extent()
        shown = TransformedBbox(Bbox([[left, bottom], [right, top]]), trans)
        clip = ((self.get_clip_box() or self.axes.bbox) if self.get_clip_on()
                else self.get_figure(root=True).bbox)
        box = Bbox.intersection(shown, clip)
        if box is None:
            return None, 0, 0, None
        # Pixel-aligned output box, rounded as AxesImage rounds it.
        x0 = math.floor(box.x0 + 0.5)
        y0 = math.ceil(box.y0 - 0.5 - 1e-8)
        x1 = math.floor(box.x1 + 0.5 + 1e-8)
        y1 = math.ceil(box.y1 - 0.5)
        width, height = x1 - x0, y1 - y0
        if width <= 0 or height <= 0:
            return None, 0, 0, None
        (sx, _, tx), (_, sy, ty) = matrix[0], matrix[1]
        h, w = A.shape[:2]
        first_row = top if self.origin == "upper" else bottom
        last_row = bottom if self.origin == "upper" else top

        def image_cols(display_x: np.ndarray) -> np.ndarray:
            return ((display_x - tx) / sx - left) / (right - left) * w

        def image_rows(display_y: np.ndarray) -> np.ndarray:
            return ((display_y - ty) / sy - first_row) / (last_row - first_row) * h

        # The renderer takes rows bottom first, as display y counts.
        if mode == "antialiased":
            shrunk = (abs(sx) * (right - left) / w < 1 and abs(sy) * abs(top - bottom) / h < 1)
            if not shrunk or A[..., 3].min() < 255:
                return super().make_image(renderer, magnification, unsampled)
            row_edges = image_rows(y0 + np.arange(height + 1.0))
            col_edges = image_cols(x0 + np.arange(width + 1.0))
            if max(np.abs(np.diff(row_edges)).max(), np.abs(np.diff(col_edges)).max()) <= 2:
                return quarter_samples(A, row_edges, col_edges), x0, y0, None
            return area_means(A, row_edges, col_edges), x0, y0, None
        # Image coordinates of the centres of the output's columns and rows.
        cols = np.floor(image_cols(x0 + 0.5 + np.arange(width))).astype(np.intp)
        rows = np.floor(image_rows(y0 + 0.5 + np.arange(height))).astype(np.intp)
        packed = np.ascontiguousarray(A).view(np.uint32).reshape(h, w)
        out = packed[np.clip(rows, 0, h - 1)[:, None], np.clip(cols, 0, w - 1)[None, :]]
        outside = ((rows < 0) | (rows >= h))[:, None] | ((cols < 0) | (cols >= w))[None, :]
        if outside.any():
            out[outside] = 0
        return out.view(np.uint8).reshape(height, width, 4), x0, y0, None


def _axis_means(pixels: np.ndarray, edges: np.ndarray, axis: int) -> np.ndarray:
    """Means of RGBA ``pixels`` along ``axis`` between consecutive fractional ``edges``.

    Pixel ``k`` covers ``[k, k + 1)`` and counts by the part of it inside an
    interval. An interval spans at most ``K`` pixels, so the means are ``K``
    weighted gathers, each the size of the output (about one pass over the
    input in all). The gathers move one 4-byte item per pixel; the weights
    are fixed point (eighths of a byte, summing to 256 per interval) so the
    sums stay in 16 bits. Edges are clipped to the image; an interval with
    nothing left is zero.
    """
    n = pixels.shape[axis]
    e = np.clip(edges, 0, n)
    lo, hi = np.minimum(e[:-1], e[1:]), np.maximum(e[:-1], e[1:])
    span = hi - lo
    first = np.minimum(np.floor(lo).astype(np.intp), n - 1)
    reach = int(np.ceil(span.max())) + 1 if len(span) else 0
    packed = np.ascontiguousarray(pixels).view(np.uint32)[..., 0]
    shape = [1, 1, 1]
    shape[axis] = -1
    total = np.zeros(packed.shape[:axis] + (len(span),) + packed.shape[axis + 1:] + (4,), np.uint16)
    covered = np.zeros_like(span)
    given = np.zeros(len(span), np.uint16)
    for j in range(reach):
        k = first + j
        covered += np.clip(np.minimum(hi, k + 1) - np.maximum(lo, k), 0, None)
        upto = np.rint(256 * np.divide(covered, span, out=np.zeros_like(span),
                                       where=span > 0)).astype(np.uint16)
        weight, given = upto - given, upto
        gathered = packed.take(np.minimum(k, n - 1), axis=axis).view(np.uint8)
        total += gathered.reshape(total.shape) * weight.reshape(shape)
    return ((total + 128) >> 8).astype(np.uint8)


def _byte_means(a: np.ndarray, b: np.ndarray, up: bool) -> np.ndarray:
    """Per-byte means of packed RGBA pixels (uint32), rounded down or up, without unpacking."""
    half = ((a ^ b) & np.uint32(0xFEFEFEFE)) >> np.uint32(1)
    return (a | b) - half if up else (a & b) + half


def quarter_samples(pixels: np.ndarray, row_edges: np.ndarray,
                    col_edges: np.ndarray) -> np.ndarray:
    """Shrink RGBA ``pixels`` at most twofold: each output pixel the mean of four samples.

    The samples are the image pixels under the quarter points (1/4 and 3/4
    along each axis) of the area the output pixel covers; shrunk at most
    twofold, that area spans at most two pixels each way, so the four see
    what it covers. Arguments and result as :func:`area_means` (the means
    within one level: rounded up between rows, down between columns).
    """
    h, w = pixels.shape[:2]
    packed = np.ascontiguousarray(pixels).view(np.uint32).reshape(h, w)

    def quarters(edges: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        lo, span = edges[:-1], np.diff(edges)
        return tuple(np.clip(np.floor(lo + f * span), 0, n - 1).astype(np.intp)
                     for f in (0.25, 0.75))

    (r1, r2), (c1, c2) = quarters(row_edges, h), quarters(col_edges, w)
    rows = _byte_means(packed[r1], packed[r2], up=True)  # whole rows: contiguous copies
    both = _byte_means(rows.take(c1, axis=1), rows.take(c2, axis=1), up=False)
    return both.view(np.uint8).reshape(len(r1), len(c1), 4)


def area_means(pixels: np.ndarray, row_edges: np.ndarray, col_edges: np.ndarray) -> np.ndarray:
    """Shrink RGBA ``pixels`` by averaging the image area under each output pixel.

    Parameters
    ----------
    pixels : np.ndarray, shape (H, W, 4), uint8
    row_edges : np.ndarray, shape (h + 1,)
        Image row coordinates (pixel ``k`` spans ``[k, k + 1)``) of the output
        rows' edges, in output order (either direction).
    col_edges : np.ndarray, shape (w + 1,)
        The same for the output columns.

    Returns
    -------
    np.ndarray, shape (h, w, 4), uint8
        Means rounded to within one level; output pixels wholly outside the
        image are zero (transparent).
    """
    return _axis_means(_axis_means(pixels, row_edges, axis=0), col_edges, axis=1)


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


def canvas_or_message(canvas: QWidget) -> tuple[QStackedLayout, QLabel]:
    """A stack showing ``canvas``, or in its place a centred message (page 1).

    Returns
    -------
    (QStackedLayout, QLabel)
        The layout to add to the view, and the message label.
    """
    message = QLabel("")
    message.setObjectName("plotMessage")
    message.setAlignment(Qt.AlignCenter)
    message.setWordWrap(True)
    pages = QStackedLayout()
    pages.addWidget(canvas)
    pages.addWidget(message)
    return pages, message
