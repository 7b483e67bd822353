"""viewer.analysis against hand-written numpy on small arrays: pictures,
statistics, colour limits and histograms."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from viewer.analysis import (
    DEFAULT_CAP, activation_stats, color_limits, histogram, mosaic_grid, to_picture,
)


def _expected_mosaic(tiles: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """The mosaic built the slow, obvious way: tile k at grid cell divmod(k, cols)."""
    n, h, w = tiles.shape
    out = np.full((rows * (h + 1) - 1, cols * (w + 1) - 1), np.nan)
    for k in range(n):
        r, c = divmod(k, cols)
        out[r * (h + 1):r * (h + 1) + h, c * (w + 1):c * (w + 1) + w] = tiles[k]
    return out


@pytest.fixture
def conv() -> np.ndarray:
    """(C, H, W) = (5, 3, 2) with distinct values, one NaN and one -inf."""
    a = np.arange(30, dtype=np.float64).reshape(5, 3, 2) - 7.5
    a[2, 1, 0] = np.nan
    a[4, 0, 1] = -np.inf
    return a


# ---------------------------------------------------------------- mosaics

def test_mosaic_matches_slow_construction(conv):
    pic = to_picture(conv, layout="channels_first")
    rows, cols = mosaic_grid(5, 3, 2)
    assert pic.kind == "mosaic" and pic.grid == (rows, cols) and pic.tile == (3, 2)
    assert pic.image.dtype == np.float64
    np.testing.assert_array_equal(pic.image, _expected_mosaic(conv, rows, cols))


def test_boxes_hold_their_channel_and_everything_else_is_nan(conv):
    pic = to_picture(conv, layout="channels_first", aspect=1.0)
    covered = np.zeros(pic.image.shape, dtype=bool)
    assert pic.channel_boxes.shape == (5, 4)
    for k, (top, left, height, width) in enumerate(pic.channel_boxes):
        np.testing.assert_array_equal(pic.image[top:top + height, left:left + width], conv[k])
        covered[top:top + height, left:left + width] = True
    assert np.isnan(pic.image[~covered]).all()
    # Gaps are exactly 1 px: tiles of 3 x 2 repeat every 4 rows and 3 columns.
    assert pic.channel_boxes[1, 1] - pic.channel_boxes[0, 1] == 3
    assert pic.image.shape == (pic.grid[0] * 4 - 1, pic.grid[1] * 3 - 1)


def test_channels_last_gives_the_same_mosaic(conv):
    first = to_picture(conv, layout="channels_first")
    last = to_picture(np.ascontiguousarray(conv.transpose(1, 2, 0)), layout="channels_last")
    np.testing.assert_array_equal(first.image, last.image)
    np.testing.assert_array_equal(first.channel_boxes, last.channel_boxes)
    for k in range(5):
        np.testing.assert_array_equal(last.channel_map(k), conv[k])


def test_locate_round_trips_every_pixel(conv):
    for layout, source in (("channels_first", conv),
                           ("channels_last", conv.transpose(1, 2, 0))):
        pic = to_picture(source, layout=layout)
        for row in range(pic.image.shape[0]):
            for col in range(pic.image.shape[1]):
                hit = pic.locate(row, col)
                shown = pic.image[row, col]
                if hit is None:
                    assert np.isnan(shown)
                    assert pic.channel_at(row, col) is None
                    continue
                k, y, x = hit["channel"], hit["y"], hit["x"]
                assert pic.channel_at(row, col) == k
                top, left = pic.channel_boxes[k, :2]
                assert (row, col) == (top + y, left + x)
                np.testing.assert_equal(hit["value"], conv[k, y, x])
                np.testing.assert_equal(source[hit["index"]], conv[k, y, x])
                np.testing.assert_equal(shown, conv[k, y, x])


def test_locate_rounds_floats_and_refuses_outside(conv):
    pic = to_picture(conv, layout="channels_first")
    assert pic.locate(1.4, 0.6) == pic.locate(1, 1)
    assert pic.locate(2, 1)["value"] == conv[0, 2, 1]
    for row, col in ((-0.6, 0), (0, -1), (pic.image.shape[0], 0), (np.nan, 0)):
        assert pic.locate(row, col) is None
    assert pic.locate(3, 0) is None  # the gap row under the first tile row
    nan_top, nan_left = pic.channel_boxes[2, :2]
    nan_unit = pic.locate(nan_top + 1, nan_left)  # a NaN unit is a unit, not a gap
    assert nan_unit["channel"] == 2 and np.isnan(nan_unit["value"])


def test_channel_map_is_the_raw_channel(conv):
    pic = to_picture(conv, layout="channels_first", scale="channel")
    np.testing.assert_array_equal(pic.channel_map(3), conv[3])
    with pytest.raises(IndexError):
        pic.channel_map(5)


def test_4d_tiles_every_channel_slice_in_c_order():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((3, 2, 4, 5))  # (C, D, H, W)
    pic = to_picture(a, layout="channels_first")
    rows, cols = pic.grid
    np.testing.assert_array_equal(pic.image, _expected_mosaic(a.reshape(6, 4, 5), rows, cols))
    last = to_picture(a.transpose(1, 2, 3, 0), layout="channels_last")  # (D, H, W, C)
    np.testing.assert_array_equal(last.image, pic.image)
    k = 2 * 1 + 1  # channel 1, depth 1
    top, left = pic.channel_boxes[k, :2]
    assert pic.locate(top + 3, left + 4)["index"] == (1, 1, 3, 4)
    assert last.locate(top + 3, left + 4)["index"] == (1, 3, 4, 1)
    np.testing.assert_array_equal(last.channel_map(k), a[1, 1])


def test_mosaic_grid_choices():
    assert mosaic_grid(64, 56, 56) == (8, 8)
    assert mosaic_grid(6, 5, 5) == (2, 3)
    assert mosaic_grid(1, 5, 5) == (1, 1)
    for n in range(1, 70):
        rows, cols = mosaic_grid(n, 4, 4)
        assert rows * cols >= n > (rows - 1) * cols
        assert cols >= rows  # a wide-ish canvas gets wide-ish mosaics
    rows, cols = mosaic_grid(12, 4, 4, aspect=1 / 3)
    assert rows > cols  # a tall canvas gets a tall one
    with pytest.raises(ValueError):
        mosaic_grid(4, 2, 2, aspect=0)


# ------------------------------------------------------ vectors, matrices

def test_vector_grid_pads_with_nan():
    v = np.arange(10, dtype=np.float32) + 1
    pic = to_picture(v)
    assert pic.kind == "grid" and pic.grid == (3, 4) and pic.image.dtype == np.float32
    expected = np.full(12, np.nan)
    expected[:10] = v
    np.testing.assert_array_equal(pic.image, expected.reshape(3, 4))
    assert pic.locate(2, 1) == {"unit": 9, "index": (9,), "value": 10.0}
    assert pic.locate(2, 2) is None and pic.locate(2, 3) is None
    assert len(pic.channel_boxes) == 0 and pic.channel_at(0, 0) is None


def test_vector_layout_flattens_any_shape():
    a = np.arange(12.0).reshape(2, 3, 2)
    pic = to_picture(a, layout="vector")
    np.testing.assert_array_equal(pic.image, np.arange(12.0).reshape(3, 4))
    assert pic.locate(1, 3) == {"unit": 7, "index": (1, 0, 1), "value": 7.0}


def test_sequence_is_shown_as_is():
    a = np.arange(15.0).reshape(5, 3)
    pic = to_picture(a)  # auto: 2-D is a sequence
    assert pic.layout == "sequence" and pic.axes == ("step", "feature")
    np.testing.assert_array_equal(pic.image, a)
    assert pic.locate(4, 2) == {"step": 4, "feature": 2, "index": (4, 2), "value": 14.0}
    b = np.arange(24.0).reshape(4, 3, 2)
    merged = to_picture(b, layout="sequence")
    np.testing.assert_array_equal(merged.image, b.reshape(4, 6))
    assert merged.locate(1, 5)["index"] == (1, 2, 1)


def test_conv1d_rows_or_columns_are_channels():
    a = np.arange(8.0).reshape(2, 4)  # (C, L)
    first = to_picture(a, layout="channels_first")
    last = to_picture(a.T, layout="channels_last")
    np.testing.assert_array_equal(first.image, a)
    np.testing.assert_array_equal(last.image, a.T)
    assert first.locate(1, 3) == {"channel": 1, "x": 3, "index": (1, 3), "value": 7.0}
    assert last.locate(3, 1) == {"x": 3, "channel": 1, "index": (3, 1), "value": 7.0}


@pytest.mark.parametrize("shape, layout", [
    ((5,), "vector"), ((), "vector"), ((4, 3), "sequence"),
    ((64, 7, 7), "channels_first"), ((7, 7, 64), "channels_last"),
    ((3, 20, 30), "channels_first"), ((20, 30, 3), "channels_last"),
    ((8, 2, 5, 5), "channels_first"), ((2, 5, 5, 8), "channels_last"),
])
def test_auto_layout(shape, layout):
    assert to_picture(np.zeros(shape)).layout == layout


def test_empty_and_scalar():
    empty = to_picture(np.zeros((0, 3)), layout="channels_first")
    assert empty.kind == "grid" and empty.image.shape == (1, 1) and np.isnan(empty.image).all()
    assert empty.locate(0, 0) is None
    assert to_picture(np.float64(2.5)).locate(0, 0)["value"] == 2.5


def test_bad_options():
    with pytest.raises(ValueError, match="layout"):
        to_picture(np.zeros(3), layout="NCHW")
    with pytest.raises(ValueError, match="scale"):
        to_picture(np.zeros(3), scale="log")


# ------------------------------------------------------- per-channel scale

def test_channel_scale_divides_by_each_channels_peak(conv):
    conv = conv.copy()
    conv[1] = 0.0  # an all-zero channel must not divide by zero
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pic = to_picture(conv, layout="channels_first", scale="channel")
    peaks = [np.abs(conv[k][np.isfinite(conv[k])]).max() for k in range(5)]
    peaks[1] = 1.0
    expected = conv / np.array(peaks)[:, None, None]
    rows, cols = pic.grid
    np.testing.assert_allclose(pic.image, _expected_mosaic(expected, rows, cols))
    assert np.nanmax(np.abs(pic.image[np.isfinite(pic.image)])) == 1.0
    assert pic.locate(0, 0)["value"] == conv[0, 0, 0]  # hover shows the raw value


def test_channel_scale_for_4d_shares_a_divisor_per_channel():
    a = np.ones((2, 3, 2, 2))
    a[0, 2] = 4.0
    a[1] = -2.0
    pic = to_picture(a, layout="channels_first", scale="channel")
    expected = a / np.array([4.0, 2.0])[:, None, None, None]
    np.testing.assert_array_equal(
        pic.image, _expected_mosaic(expected.reshape(6, 2, 2), *pic.grid))


def test_channel_scale_for_vectors_and_matrices():
    v = np.array([1.0, -4.0, 2.0])
    np.testing.assert_array_equal(
        to_picture(v, scale="channel").image, np.array([[0.25, -1.0], [0.5, np.nan]]))
    m = np.array([[1.0, 2.0, 4.0], [-3.0, 0.0, 1.5]])  # (C, L)
    np.testing.assert_allclose(to_picture(m, "channels_first", "channel").image,
                               m / np.array([[4.0], [3.0]]))
    np.testing.assert_allclose(to_picture(m, "sequence", "channel").image,
                               m / np.array([[3.0, 2.0, 4.0]]))


def test_integer_input_becomes_float32_without_overflow():
    a = np.array([[-128, 64], [0, 127]], dtype=np.int8)
    pic = to_picture(a, layout="channels_last", scale="channel")
    assert pic.image.dtype == np.float32
    np.testing.assert_allclose(pic.image, [[-1.0, 64 / 127], [0.0, 1.0]], rtol=1e-6)


# ------------------------------------------------------------- statistics

def test_stats_match_numpy_with_nan_and_inf():
    a = np.array([[0.0, -1.5, 2.0, np.nan], [np.inf, 0.0, -np.inf, 3.5]], dtype=np.float32)
    s = activation_stats(a)
    finite = np.array([0.0, -1.5, 2.0, 0.0, 3.5])
    assert (s.min, s.max) == (-1.5, 3.5)
    assert s.mean == pytest.approx(finite.mean())
    assert s.std == pytest.approx(finite.std())
    assert s.frac_zero == 2 / 8
    assert s.frac_negative == 2 / 8  # -1.5 and -inf; NaN is neither
    assert (s.n_nan, s.n_inf, s.size) == (1, 2, 8)


def test_stats_of_all_nan_and_empty_are_nan_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = activation_stats(np.full((2, 3), np.nan))
        e = activation_stats(np.zeros(0))
    assert all(np.isnan([s.min, s.max, s.mean, s.std]))
    assert (s.n_nan, s.n_inf, s.size, s.frac_zero) == (6, 0, 6, 0.0)
    assert e.size == 0 and np.isnan(e.frac_zero) and np.isnan(e.mean)


def test_stats_of_integers():
    s = activation_stats(np.array([-3, 0, 0, 7], dtype=np.int8))
    assert (s.min, s.max, s.mean, s.frac_zero, s.frac_negative) == (-3.0, 7.0, 1.0, 0.5, 0.25)
    assert s.std == pytest.approx(np.std([-3.0, 0, 0, 7]))


def test_color_limits():
    a = np.array([[-2.0, 0.5], [np.nan, 1.0]])
    lim = color_limits(a)
    assert (lim.vmin, lim.vmax, lim.both_signs) == (-2.0, 1.0, True)
    assert lim.symmetric == (-2.0, 2.0)
    assert not color_limits(np.array([0.0, 3.0])).both_signs
    x = np.concatenate([np.linspace(0, 1, 99), [1e6]])
    clipped = color_limits(x, clip=2)
    assert (clipped.vmin, clipped.vmax) == tuple(np.percentile(x, [2, 98]))
    assert color_limits(np.full(4, 2.0)) == type(lim)(1.0, 3.0, False)
    assert color_limits(np.zeros(3)) == type(lim)(-0.5, 0.5, False)
    assert color_limits(np.array([np.nan, np.inf])) == type(lim)(-0.5, 0.5, False)
    with pytest.raises(ValueError):
        color_limits(x, clip=50)


# ------------------------------------------------------------- histograms

def test_histogram_matches_numpy_and_ignores_nan_inf():
    rng = np.random.default_rng(3)
    a = rng.standard_normal(1000)
    a[::97] = np.nan
    a[5] = np.inf
    h = histogram(a, bins=17)
    finite = a[np.isfinite(a)]
    counts, edges = np.histogram(finite, bins=17)
    np.testing.assert_array_equal(h.counts, counts)
    np.testing.assert_allclose(h.edges, edges, rtol=0, atol=1e-12)
    assert h.edges.dtype == np.float64 and h.counts.dtype == np.int64
    assert (h.n_used, h.n_ignored, h.size, h.sampled) == (finite.size, 1000 - finite.size, 1000, False)
    assert h.counts.sum() == h.n_used and h.cap == DEFAULT_CAP


def test_histogram_explicit_edges():
    a = np.array([-5.0, 0.0, 0.5, 1.0, 2.0, 9.0])
    h = histogram(a, bins=[0.0, 1.0, 2.0])
    np.testing.assert_array_equal(h.counts, np.histogram(a, bins=[0.0, 1.0, 2.0])[0])
    assert h.n_used == 6 and h.counts.sum() == 4  # two fell outside the edges
    with pytest.raises(ValueError):
        histogram(a, bins=[1.0, 1.0])


def test_histogram_cap_samples_deterministically():
    a = np.random.default_rng(4).standard_normal((50, 40)).astype(np.float32)
    a[0, :10] = np.nan
    h1 = histogram(a, bins=8, cap=300, seed=7)
    h2 = histogram(a, bins=8, cap=300, seed=7)
    np.testing.assert_array_equal(h1.counts, h2.counts)
    assert (h1.sampled, h1.n_used, h1.n_ignored, h1.cap) == (True, 300, 10, 300)
    finite = a[np.isfinite(a)]
    # Edges span all finite values; counts come from the seeded subset.
    np.testing.assert_allclose(h1.edges, np.linspace(float(finite.min()), float(finite.max()), 9))
    pick = np.random.default_rng(7).choice(finite.size, size=300, replace=False)
    np.testing.assert_array_equal(
        h1.counts, np.histogram(finite[pick].astype(np.float64), bins=h1.edges)[0])
    assert h1.counts.sum() == 300
    full = histogram(a, bins=8, cap=finite.size)
    assert not full.sampled and full.n_used == finite.size


def test_histogram_of_constant_and_empty():
    h = histogram(np.full((3, 3), 4.0), bins=10)
    np.testing.assert_array_equal(h.counts, [9])
    np.testing.assert_array_equal(h.edges, [2.0, 6.0])
    z = histogram(np.array([0.0, 0.0, np.nan]))
    np.testing.assert_array_equal(z.edges, [-0.5, 0.5])
    assert z.counts.tolist() == [2] and z.n_ignored == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        e = histogram(np.array([np.nan, -np.inf]))
    assert e.counts.size == 0 and e.edges.tolist() == [0.0]
    assert (e.n_used, e.n_ignored) == (0, 2)


# ---------------------------------------------------------- dependencies

def test_analysis_imports_no_gui_libraries():
    code = ("import sys, viewer.analysis; "
            "bad = [m for m in ('PyQt5', 'matplotlib') if m in sys.modules]; "
            "print(' '.join(bad))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[1], check=True)
    assert done.stdout.strip() == "", done.stdout
