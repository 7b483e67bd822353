"""DeepDream: the activation-norm objective, octaves, clipping, cancel."""

import numpy as np
import pytest

from viewer.analysis.attribution.grid import resize_linear
from viewer.analysis.featurevis import Settings
from viewer.analysis.featurevis_dream import DREAM, dream, norm_objective
from viewer.errors import StrataError
from viewer.net import Net
from viewer.net.layers import Dense, Input
from viewer.session import choose_samples, open_net

DEMO = "resources/demo/mnist_cnn.h5"


@pytest.fixture(scope="module")
def demo():
    net, own = open_net(DEMO)
    samples, _ = choose_samples(net, own, None)
    return net, samples.batch([0, 1])


def test_norm_objective_is_half_the_mean_square_and_its_gradient():
    out = np.array([[1.0, -2.0, 3.0, 0.0], [0.5, 0.5, 0.5, 0.5]], np.float32)
    score, seed = norm_objective(out)
    np.testing.assert_allclose(score, [0.5 * (1 + 4 + 9) / 4, 0.5 * 0.25])
    np.testing.assert_allclose(seed, out / 4)
    assert seed.dtype == np.float32


def test_a_linear_layer_dreams_towards_its_weights():
    # 0.5 * mean((W^T x)^2) for one output grows fastest along W; from x = w / 2 (inside the
    # box [-1, 1]) the ascent keeps that direction until it meets the box.
    w = np.array([0.6, -0.3, 0.2])
    inp = Input(shape=(3,), name="in")
    net = Net([inp, Dense(inp, name="fc", W=w[:, None], b=np.zeros(1))])
    plain = Settings(steps=60, lr=0.05, parameterisation="pixel", jitter=0, scale=0.0,
                     rotate=0.0, blur=0.0)
    result = dream(net, w / 2, "fc", plain, low=-1.0, high=1.0)
    assert result.image.shape == (3,)
    np.testing.assert_allclose(result.image, [1.0, -1.0, 1.0], atol=1e-6)
    assert result.final[0] == pytest.approx(0.5 * 1.1 ** 2)
    assert result.start[0] == pytest.approx(0.5 * (w @ w / 2) ** 2)


def test_the_demo_dream_raises_conv2s_norm_within_the_range(demo):
    net, X = demo
    result = dream(net, X, "conv2", Settings(steps=8, lr=0.05, parameterisation="pixel",
                                             blur=0.0), octaves=2, low=0.0, high=1.0)
    assert result.images.shape == X.shape and result.scores.shape == (16, 2)
    assert np.all(result.final > result.start)
    assert result.images.min() >= 0.0 and result.images.max() <= 1.0
    assert np.abs(result.images - X).max() > 0.05   # it changed the samples
    assert result.labels == ["activation norm of conv2"]


def test_octaves_count_their_steps_for_the_callback_and_cancel_between_them(demo):
    net, X = demo
    seen = []
    settings = Settings(steps=4, every=2, lr=0.05, parameterisation="pixel", blur=0.0)
    result = dream(net, X[0], "conv1", settings, octaves=3, low=0.0, high=1.0,
                   callback=lambda step, images, scores, checks: seen.append(
                       (step, len(scores), checks[:, 0].tolist())))
    assert [s[:2] for s in seen] == [(2, 2), (4, 4), (6, 6), (8, 8), (10, 10), (12, 12)]
    assert seen[-1][2] == [2, 4, 6, 8, 10, 12]  # every octave's checks, counted over all
    np.testing.assert_array_equal(result.checks[:, 0], [2, 4, 6, 8, 10, 12])
    assert result.steps == 12 and not result.cancelled
    stopped = dream(net, X[0], "conv1", settings, octaves=3, low=0.0, high=1.0,
                    callback=lambda step, images, scores, checks: step < 6)
    assert stopped.cancelled and stopped.steps == 6 and stopped.scores.shape == (6, 1)


def test_the_coarse_octave_changes_only_what_a_smaller_image_can_hold(demo):
    net, X = demo
    settings = Settings(steps=3, lr=0.05, parameterisation="pixel", blur=0.0, jitter=0,
                        scale=0.0, rotate=0.0)
    after = {}
    dream(net, X[0], "conv2", settings, octaves=2, octave_scale=7.0, low=-10, high=10,
          callback=lambda step, images, scores, checks: after.setdefault(step, images[0]))
    # Octave 0 of 2 at scale 7 works on 28 / 7 = 4x4 cells: its change is a bilinear
    # stretch of a 4x4 picture; octave 1 works on every pixel.
    basis = np.eye(16).reshape(16, 4, 4)
    stretch = resize_linear(basis, (28, 28)).reshape(16, -1).T        # (784, 16)
    for step, full in ((3, False), (6, True)):
        change = (after[step] - X[0])[0].ravel()
        fit = stretch @ np.linalg.lstsq(stretch, change, rcond=None)[0]
        residual = np.abs(change - fit).max() / np.abs(change).max()
        assert (residual > 0.1) if full else (residual < 1e-5), (step, residual)


@pytest.mark.parametrize("kwargs, message", [
    ({"octaves": 0}, "octaves must be at least 1, not 0"),
    ({"octave_scale": 1.0}, "octave_scale must be above 1, not 1.0"),
])
def test_bad_octaves_are_refused_in_one_line(demo, kwargs, message):
    net, X = demo
    with pytest.raises(StrataError, match=message):
        dream(net, X[0], "conv2", DREAM, **kwargs)
