"""The transforms of feature visualisation against their adjoints and plain numpy."""

import numpy as np
import pytest

from viewer.analysis.featurevis_warp import Fourier, Warp, WarpDraw, blur, draw

RNG = np.random.default_rng(7)


def _dot(a, b):
    return float(np.sum(a * b))


@pytest.mark.parametrize("size", [(6, 6), (5, 8), (7, 9)])
def test_warp_adjoint_is_the_transpose(size):
    draws = [WarpDraw((1, -2), 1.07, 4.0), WarpDraw((0, 0), 0.93, -6.0)]
    warp = Warp(draws, size)
    x = RNG.normal(size=(2, 3) + size)
    g = RNG.normal(size=(2, 3) + size)
    assert _dot(warp.apply(x), g) == pytest.approx(_dot(x, warp.adjoint(g)), rel=1e-12)


def test_a_pure_shift_is_numpys_roll_and_its_adjoint_rolls_back():
    warp = Warp([WarpDraw((2, -1), 1.0, 0.0)], (5, 6))
    x = RNG.normal(size=(1, 2, 5, 6))
    np.testing.assert_allclose(warp.apply(x), np.roll(x, (2, -1), axis=(2, 3)), atol=1e-12)
    np.testing.assert_allclose(warp.adjoint(x), np.roll(x, (-2, 1), axis=(2, 3)), atol=1e-12)


def test_a_half_turn_turns_the_image():
    warp = Warp([WarpDraw((0, 0), 1.0, 180.0)], (4, 5))
    x = RNG.normal(size=(1, 1, 4, 5))
    np.testing.assert_allclose(warp.apply(x), x[:, :, ::-1, ::-1], atol=1e-9)


def test_draws_stay_within_their_bounds_and_follow_the_seed():
    a = [draw(np.random.default_rng(3), 2, 0.1, 5.0) for _ in range(1)]
    b = [draw(np.random.default_rng(3), 2, 0.1, 5.0) for _ in range(1)]
    assert a == b
    rng = np.random.default_rng(0)
    for _ in range(200):
        d = draw(rng, 2, 0.1, 5.0)
        assert max(abs(s) for s in d.shift) <= 2 and 0.9 <= d.scale <= 1.1 and abs(d.angle) <= 5


@pytest.mark.parametrize("size", [(6, 6), (5, 7), (8, 5)])
def test_fourier_adjoint_is_the_transpose(size):
    fourier = Fourier(size)
    p = RNG.normal(size=fourier.parameter_shape(2, 3))
    g = RNG.normal(size=(2, 3) + size)
    image = fourier.image(p)
    grad = fourier.adjoint(g)
    assert _dot(image, g) == pytest.approx(_dot(p, grad), rel=1e-10)


def test_fourier_damps_high_frequencies():
    fourier = Fourier((8, 8))
    assert fourier.scale.max() == 1.0
    assert fourier.scale[0, 0] == fourier.scale[0, 1] == 1.0   # DC clamped to the lowest frequency
    assert fourier.scale[4, 4] == pytest.approx(1 / 8 / np.hypot(0.5, 0.5))


def test_blur_is_a_normalised_gaussian_and_keeps_constants():
    x = np.zeros((1, 1, 9, 9))
    x[0, 0, 4, 4] = 1.0
    out = blur(x, 1.0)
    assert out.sum() == pytest.approx(1.0)
    taps = np.exp(-0.5 * np.arange(-3, 4) ** 2)
    taps /= taps.sum()
    np.testing.assert_allclose(out[0, 0, 1:8, 1:8], np.outer(taps, taps), atol=1e-12)
    np.testing.assert_allclose(blur(np.full((1, 2, 3, 4), 0.3), 2.0), 0.3)
    assert blur(x, 0.0) is x
