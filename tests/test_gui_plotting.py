"""The fast paths of the heatmap give the pictures matplotlib would draw."""

import matplotlib
import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.image import AxesImage

from viewer.app.colouring import to_rgba
from viewer.gui.colour import colour_table
from viewer.gui.colour_bar import tick_texts
from viewer.gui.plotting import PixelImage, area_means, quarter_samples


def render(cls, pixels, xlim, ylim, origin):
    fig = Figure(figsize=(4.1, 3.3), dpi=100)
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_axes((0.07, 0.11, 0.8, 0.8))
    ax.set_axis_off()
    image = cls(ax, interpolation="nearest", origin=origin)
    image.set_data(pixels)
    h, w = pixels.shape[:2]
    image.set_extent((-0.5, w - 0.5, h - 0.5, -0.5) if origin == "upper"
                     else (-0.5, w - 0.5, -0.5, h - 0.5))
    ax.add_image(image)
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_aspect("equal")
    canvas.draw()
    return np.asarray(canvas.buffer_rgba()).copy()


@pytest.mark.parametrize("origin", ["upper", "lower"])
@pytest.mark.parametrize("view", ["whole", "zoomed", "panned out"])
def test_pixel_image_draws_what_matplotlib_draws(origin, view):
    pixels = np.random.default_rng(1).integers(0, 256, (37, 53, 4), dtype=np.uint8)
    pixels[..., 3] = 255
    pixels[5:9, 10:20, 3] = 0  # some transparent pixels too
    xlim, ylim = {"whole": ((-0.5, 52.5), (36.5, -0.5)), "zoomed": ((5.2, 30.7), (25.3, 3.1)),
                  "panned out": ((-10, 70), (50, -12))}[view]
    if origin == "lower":
        ylim = ylim[::-1]
    ours = render(PixelImage, pixels, xlim, ylim, origin)
    np.testing.assert_array_equal(ours, render(AxesImage, pixels, xlim, ylim, origin))


def test_colours_match_normalize_and_colormap():
    rng = np.random.default_rng(2)
    image = rng.normal(size=(40, 50)).astype(np.float32)
    image[3, 4] = np.nan
    gap = np.array([10, 20, 30, 255], np.uint8)
    rgba = to_rgba(image, colour_table("RdBu_r"), -2.0, 2.0, gap)
    want = matplotlib.colormaps["RdBu_r"](Normalize(-2.0, 2.0)(image), bytes=True)
    finite = np.isfinite(image)
    same = np.all(rgba[finite] == want[finite], axis=-1)
    assert same.mean() > 0.999  # equal but for float rounding at colour boundaries
    np.testing.assert_array_equal(rgba[3, 4], gap)


def test_tick_texts_use_the_decimals_the_step_needs():
    assert tick_texts(np.array([0.0, 0.5, 1.0, 1.5])) == ["0.0", "0.5", "1.0", "1.5"]
    assert tick_texts(np.array([-0.25, 0.0, 0.25])) == ["-0.25", "0.00", "0.25"]
    assert tick_texts(np.array([0.0, 100.0, 200.0])) == ["0", "100", "200"]
    assert tick_texts(np.array([0.0, 2e5, 4e5])) == ["0", "2e+05", "4e+05"]


def test_area_means_average_the_pixels_under_each_output_pixel():
    pixels = np.random.default_rng(3).integers(0, 256, (6, 8, 4), dtype=np.uint8)
    # Halving: each output pixel is the mean of a 2x2 block, the rows taken in either order.
    halved = area_means(pixels, np.arange(0, 7, 2.0), np.arange(0, 9, 2.0))
    blocks = pixels.reshape(3, 2, 4, 2, 4).astype(float).mean(axis=(1, 3))
    assert np.abs(halved - blocks).max() <= 1  # fixed-point weights: within one level
    flipped = area_means(pixels, np.arange(6, -1, -2.0), np.arange(0, 9, 2.0))
    np.testing.assert_array_equal(flipped, halved[::-1])
    # A fractional interval weighs each pixel by the part of it covered.
    one = area_means(pixels, np.array([0.5, 2.0]), np.array([0.0, 1.0]))
    want = (0.5 * pixels[0, 0].astype(float) + pixels[1, 0]) / 1.5
    assert np.abs(one[0, 0] - want).max() <= 1
    # Intervals outside the image are transparent.
    outside = area_means(pixels, np.array([-3.0, -1.0]), np.array([0.0, 1.0]))
    np.testing.assert_array_equal(outside, np.zeros((1, 1, 4), np.uint8))


def test_quarter_samples_average_the_four_pixels_under_the_quarter_points():
    pixels = np.random.default_rng(4).integers(0, 256, (6, 8, 4), dtype=np.uint8)
    halved = quarter_samples(pixels, np.arange(0, 7, 2.0), np.arange(0, 9, 2.0))
    blocks = pixels.reshape(3, 2, 4, 2, 4).astype(float).mean(axis=(1, 3))
    assert np.abs(halved - blocks).max() <= 1
    flipped = quarter_samples(pixels, np.arange(6, -1, -2.0), np.arange(0, 9, 2.0))
    np.testing.assert_array_equal(flipped, halved[::-1])
    # Shrunk 6 -> 4 rows: output row 1 covers rows 1.5..3, its quarter points 1.875 and 2.625.
    rows = quarter_samples(pixels, np.linspace(0, 6, 5), np.arange(0, 9.0))
    assert np.abs(rows[1] - pixels[1:3].astype(float).mean(axis=0)).max() <= 1


@pytest.mark.parametrize("origin", ["upper", "lower"])
def test_a_shrunk_opaque_picture_is_drawn_as_area_means(origin):
    """Smoothing a picture shrunk to fit: close to matplotlib's own filter, no stray colours."""
    pixels = np.zeros((300, 240, 4), np.uint8)
    pixels[..., 3] = 255
    pixels[:, 120:, 0] = 255  # red right half, black left half
    pixels[150:, :, 2] = 255  # blue bottom half
    xlim, ylim = (-0.5, 239.5), ((299.5, -0.5) if origin == "upper" else (-0.5, 299.5))

    def drawn(cls):
        fig = Figure(figsize=(2.4, 2.4), dpi=100)  # about 190 pixels for 300 rows
        canvas = FigureCanvasAgg(fig)
        ax = fig.add_axes((0.1, 0.1, 0.8, 0.8))
        ax.set_axis_off()
        image = cls(ax, interpolation="antialiased", origin=origin)
        image.set_data(pixels)
        image.set_extent((-0.5, 239.5, 299.5, -0.5) if origin == "upper"
                         else (-0.5, 239.5, -0.5, 299.5))
        ax.add_image(image)
        ax.set_xlim(*xlim)
        ax.set_ylim(*ylim)
        ax.set_aspect("equal")
        canvas.draw()
        return np.asarray(canvas.buffer_rgba()).astype(int)

    ours, theirs = drawn(PixelImage), drawn(AxesImage)
    differs = np.abs(ours - theirs).max(axis=-1) > 2
    assert differs.mean() < 0.01  # only along the colour boundaries, where the filters differ
    quadrant = ours[60, 60] if origin == "upper" else ours[180, 60]  # top left: black
    np.testing.assert_array_equal(quadrant[:3], [0, 0, 0])


def test_toolbar_icons_are_rendered_once_not_on_every_paint(qtbot, monkeypatch):
    import matplotlib.backends.backend_qt as backend_qt

    from viewer.gui.plotting import Canvas, NavToolbar

    from PyQt5.QtWidgets import QVBoxLayout, QWidget

    host = QWidget()
    qtbot.addWidget(host)
    canvas = Canvas(Figure())
    toolbar = NavToolbar(canvas, host)
    layout = QVBoxLayout(host)
    layout.addWidget(toolbar)
    layout.addWidget(canvas)
    host.show()
    qtbot.waitExposed(host)
    renders = []
    engine = backend_qt._IconEngine
    real = engine._create_pixmap_from_svg
    monkeypatch.setattr(engine, "_create_pixmap_from_svg",
                        lambda *a: renders.append(1) or real(*a))
    for _ in range(3):
        host.grab()  # paints the toolbar's buttons
    # matplotlib's icon engine reads and renders each SVG on every paint.
    assert renders == []
    icons = [a.icon() for a in toolbar.actions() if not a.icon().isNull()]
    assert len(icons) == 5 and all(not i.pixmap(toolbar.iconSize()).isNull() for i in icons)


def test_tile_numbers_are_drawn_once_per_layout_at_their_places(qtbot):
    from PyQt5.QtWidgets import QWidget

    from viewer.gui.tile_numbers import TileNumbers

    host = QWidget()
    host.resize(200, 100)
    qtbot.addWidget(host)
    numbers = TileNumbers(host)
    numbers.set_places([(0, 10.0, 10.0), (1, 110.0, 10.0)])
    picture = numbers._render()
    assert picture.pixelColor(12, 12).alpha() > 0 and picture.pixelColor(112, 12).alpha() > 0
    assert picture.pixelColor(60, 60).alpha() == 0
    numbers._picture = cached = picture
    numbers.set_places([(0, 10.0, 10.0), (1, 110.0, 10.0)])  # the same places: kept
    assert numbers._picture is cached
    numbers.set_places([(0, 20.0, 10.0)])
    assert numbers._picture is None
