"""Gradient attribution methods against the formulas written out here in numpy."""

import os
import threading

import numpy as np
import pytest

from viewer.analysis.attribution import (AttributionCancelled, Target, deconvnet, explain,
                                         grad_cam, grad_cam_plus_plus, gradient, gradient_x_input,
                                         guided_backprop, integrated_gradients, saliency,
                                         smoothgrad)
from viewer.analysis.attribution.integrated import (blurred, quadrature_points, stretch_errors,
                                                    trapezoid_weights)
from viewer.analysis.attribution.result import input_grid
from viewer.data import embedded_samples
from viewer.errors import StrataError
from viewer.net import Net, load
from viewer.net.layers import (Activation, Add, Conv2D, Dense, GlobalAvgPool2D, Input, MaxPool2D)
from viewer.net.layers.tensor import ConstArithmetic, PReLU

DEMO = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "resources", "demo")
DEMOS = ["digits_mlp.h5", "digits_cnn.h5", "mnist_cnn.h5"]


def relu_net(seed: int = 0) -> tuple[Net, list]:
    """Dense-ReLU-Dense-ReLU-Dense, no softmax: the gradient is W1 m1 W2 m2 W3[:, c]."""
    rng = np.random.default_rng(seed)
    Ws = [rng.normal(size=(6, 8)), rng.normal(size=(8, 7)), rng.normal(size=(7, 3))]
    bs = [rng.normal(size=8) * 0.3, rng.normal(size=7) * 0.3, np.zeros(3)]
    x = Input(shape=(6,), name="input")
    h1 = Dense(x, name="fc1", W=Ws[0], b=bs[0])
    r1 = Activation(h1, name="relu1", function="relu")
    h2 = Dense(r1, name="fc2", W=Ws[1], b=bs[1])
    r2 = Activation(h2, name="relu2", function="relu")
    out = Dense(r2, name="fc3", W=Ws[2], b=bs[2])
    return Net([x, h1, r1, h2, r2, out]), list(zip(Ws, bs))


def hand_gradient(params, x, unit, rule="standard"):
    """d out[unit] / d x for each row of x (B, 6), by hand; rule as the backward's ReLU rules."""
    (W1, b1), (W2, b2), (W3, _) = params
    x = np.asarray(x, np.float64)
    m1 = x @ W1 + b1 > 0
    m2 = np.maximum(x @ W1 + b1, 0) @ W2 + b2 > 0

    def through(g, mask):
        if rule == "standard":
            return g * mask
        if rule == "guided":
            return np.maximum(g, 0) * mask
        return np.maximum(g, 0)

    g = np.broadcast_to(W3[:, unit], m2.shape)
    g = through(g, m2) @ W2.T
    g = through(g, m1) @ W1.T
    return g


def point(net, seed=5):
    return np.random.default_rng(seed).normal(size=(1,) + net.input.output_shape).astype(np.float32)


def test_gradient_saliency_and_gradient_x_input_are_the_hand_gradient():
    net, params = relu_net()
    x = point(net)
    want = hand_gradient(params, x, 2)[0]
    result = gradient(net, x, Target(unit=2))
    np.testing.assert_allclose(result.raw, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(result.values, want, rtol=1e-5, atol=1e-6)  # a vector: no channels
    assert result.signed and result.target == "class 2 of fc3"
    np.testing.assert_allclose(saliency(net, x, Target(unit=2)).values, np.abs(want), rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_allclose(gradient_x_input(net, x, Target(unit=2)).raw, want * x[0],
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("method,rule", [(guided_backprop, "guided"), (deconvnet, "deconvnet")])
def test_guided_backprop_and_deconvnet_pass_positive_gradients(method, rule):
    net, params = relu_net()
    differs = 0
    for seed in range(6):
        x = point(net, seed)
        want = hand_gradient(params, x, 1, rule)[0]
        got = method(net, x, Target(unit=1))
        np.testing.assert_allclose(got.raw, want, rtol=1e-5, atol=1e-6)
        differs += not np.allclose(want, hand_gradient(params, x, 1)[0])
    assert differs >= 3  # the rule matters on these points


def test_modified_rules_refuse_rectifiers_they_do_not_reach():
    x = Input(shape=(4,), name="input")
    h = Dense(x, name="fc", W=np.eye(4))
    p = PReLU(h, name="prelu", alpha=np.full(4, 0.1))
    m = ConstArithmetic(p, name="floor", c=np.zeros((1, 4)), op="max")
    net = Net([x, h, p, m])
    sample = np.ones((1, 4), np.float32)
    for method, rule in ((guided_backprop, "guided"), (deconvnet, "deconvnet")):
        with pytest.raises(StrataError) as err:
            method(net, sample, Target(unit=0))
        assert str(err.value) == (f"{rule} backprop modifies ReLU activation layers only, and "
                                  f"these layers rectify otherwise: 'prelu' (PReLU), 'floor' "
                                  f"(ConstArithmetic max)")
    np.testing.assert_allclose(gradient(net, sample, Target(unit=0)).raw, [1, 0, 0, 0])


def test_smoothgrad_is_the_mean_gradient_over_its_seeded_noise():
    net, params = relu_net()
    x = point(net)
    noise, n, seed = 0.3, 20, 7
    sigma = noise * (x.max() - x.min())
    noisy = x + sigma * np.random.default_rng(seed).standard_normal((n, 6), dtype=np.float32)
    want = hand_gradient(params, noisy.astype(np.float32), 0).mean(axis=0)
    one = smoothgrad(net, x, Target(unit=0), noise=noise, n=n, seed=seed)
    np.testing.assert_allclose(one.raw, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(one.values, np.abs(want), rtol=1e-5, atol=1e-6)
    batched = smoothgrad(net, x, Target(unit=0), noise=noise, n=n, seed=seed, rows=3)
    np.testing.assert_allclose(batched.raw, one.raw, rtol=1e-6)
    other = smoothgrad(net, x, Target(unit=0), noise=noise, n=n, seed=seed + 1)
    assert not np.allclose(other.raw, one.raw)


@pytest.mark.parametrize("quadrature", ["gauss-legendre", "trapezoid", "midpoint", "left-riemann"])
def test_integrated_gradients_is_the_quadrature_of_the_hand_gradient(quadrature):
    net, params = relu_net()
    x = point(net)
    base = np.linspace(-1, 1, 6).astype(np.float32)
    alphas, weights = quadrature_points(quadrature, 16)
    path = base + alphas[:, None].astype(np.float32) * (x - base)
    want = (x[0] - base) * (weights[:, None] * hand_gradient(params, path, 1)).sum(axis=0)
    result = integrated_gradients(net, x, Target(unit=1), baseline=base, steps=16,
                                  quadrature=quadrature)
    np.testing.assert_allclose(result.raw, want, rtol=1e-5, atol=1e-6)
    f_x = float(net[-1](x)[0, 1])
    f_b = float(net[-1](base[None])[0, 1])
    assert result.report["f_x"] == pytest.approx(f_x, rel=1e-6)
    assert result.report["f_baseline"] == pytest.approx(f_b, rel=1e-6)
    assert result.report["completeness_error"] == pytest.approx(want.sum() - (f_x - f_b), abs=1e-5)


def test_stretch_errors_and_trapezoid_weights():
    t = np.array([0.0, 0.25, 0.5, 1.0])
    f = t ** 2
    errors = stretch_errors(t, 2 * t, f)  # the trapezoid is exact for a linear slope
    np.testing.assert_allclose(errors, 0, atol=1e-15)
    np.testing.assert_allclose(stretch_errors(t, np.ones(4), f), np.diff(t) - np.diff(f))
    np.testing.assert_allclose(trapezoid_weights(t), [0.125, 0.25, 0.375, 0.25])


def test_adaptive_integrated_gradients_is_a_trapezoid_rule_refined_where_it_errs():
    net, params = relu_net()
    x = point(net)
    result = integrated_gradients(net, x, Target(unit=1), steps=24)
    t = result.report["points"]
    assert len(t) == 24 and t[0] == 0 and t[-1] == 1 and np.all(np.diff(t) > 0)
    assert set(np.linspace(0, 1, 13)) <= set(t)  # half of them evenly spaced
    path = (t[:, None] * x).astype(np.float32)
    want = x[0] * (trapezoid_weights(t)[:, None] * hand_gradient(params, path, 1)).sum(axis=0)
    np.testing.assert_allclose(result.raw, want, rtol=1e-5, atol=1e-6)
    assert result.params == {"baseline": 0.0, "steps": 24, "quadrature": "adaptive"}
    uniform = integrated_gradients(net, x, Target(unit=1), steps=24, quadrature="trapezoid")
    assert abs(result.report["completeness_error"]) < abs(uniform.report["completeness_error"]) / 3


def test_integrated_gradients_of_a_linear_net_is_complete():
    x = Input(shape=(5,), name="input")
    fc = Dense(x, name="fc", W=np.arange(10.0).reshape(5, 2) - 3)
    net = Net([x, fc])
    sample = np.arange(5, dtype=np.float32)[None]
    result = integrated_gradients(net, sample, Target(unit=1), steps=3, quadrature="left-riemann")
    np.testing.assert_allclose(result.raw, sample[0] * fc.W[:, 1], rtol=1e-6)
    assert abs(result.report["completeness_error"]) < 1e-5


@pytest.mark.parametrize("name", DEMOS)
def test_integrated_gradients_completeness_on_the_demo_nets(name):
    """Under 1% at 64 steps (bench/integrated_gradients.py measures every quadrature on more digits)."""
    path = os.path.join(DEMO, name)
    net, samples = load(path), embedded_samples(path)
    for i in (1, 2):
        result = explain(net, samples.batch([i])[0], "integrated-gradients", steps=64)
        report = result.report
        change = report["f_x"] - report["f_baseline"]
        assert abs(change) > 0.5  # the zero image is not this digit
        assert report["relative_error"] < 0.01
        assert report["relative_error"] == pytest.approx(abs(result.raw.sum() - change) / abs(change))


def test_blur_baseline_is_a_gaussian_per_channel():
    net = cam_net("channels_last")
    x = np.zeros((1, 10, 10, 2), np.float32)
    x[0, 5, 4, 1] = 1.0
    b = blurred(input_grid(net), x, 1.5)[0]
    assert b.shape == x.shape[1:] and b[..., 0].max() == 0
    for d in (1, 2):  # exp(-d^2 / (2 sigma^2)) of the peak, the same along rows and columns
        assert b[5 + d, 4, 1] / b[5, 4, 1] == pytest.approx(np.exp(-0.5 * (d / 1.5) ** 2), rel=1e-5)
        assert b[5, 4 - d, 1] == pytest.approx(b[5 - d, 4, 1], rel=1e-5)
    flat = blurred(input_grid(net), np.ones_like(x), 1.5)  # reflected edges keep a constant
    np.testing.assert_allclose(flat, 1.0, rtol=1e-5)


# -- Grad-CAM ---------------------------------------------------------------------------------

def cam_net(fmt: str, seed: int = 0) -> Net:
    """conv-relu-pool-conv-relu, global average pooling, dense, softmax."""
    rng = np.random.default_rng(seed)
    shape = (2, 10, 10) if fmt == "channels_first" else (10, 10, 2)
    x = Input(shape=shape, name="input", data_format=fmt)
    c1 = Conv2D(x, name="conv1", W=rng.normal(size=(4, 2, 3, 3)), b=rng.normal(size=4) * 0.1,
                padding=1, data_format=fmt)
    r1 = Activation(c1, name="relu1", function="relu")
    p1 = MaxPool2D(r1, name="pool1", pool_size=2, data_format=fmt)
    c2 = Conv2D(p1, name="conv2", W=rng.normal(size=(5, 4, 3, 3)) * 0.5, b=rng.normal(size=5) * 0.1,
                padding=1, data_format=fmt)
    r2 = Activation(c2, name="relu2", function="relu")
    gap = GlobalAvgPool2D(r2, name="gap", data_format=fmt)
    fc = Dense(gap, name="fc", W=rng.normal(size=(5, 3)), b=rng.normal(size=3) * 0.1)
    return Net([x, c1, r1, p1, c2, r2, gap, fc, Activation(fc, name="softmax", function="softmax")])


def channels(net, x, layer, fmt):
    out = net.outputs(x, [layer])[net.resolve(layer)]
    return np.moveaxis(out[0], -1, 0) if fmt == "channels_last" else out[0]


@pytest.mark.parametrize("fmt", ["channels_first", "channels_last"])
@pytest.mark.parametrize("layer", ["relu2", "conv2"])
def test_grad_cam_and_grad_cam_plus_plus_formulas(fmt, layer):
    """logit_c = W[:, c] . mean(relu2) + b, so dlogit/dA_k = W[k, c] / 25 (times conv2 > 0 there)."""
    net = cam_net(fmt)
    x = np.random.default_rng(4).random((1,) + net.input.output_shape).astype(np.float32)
    unit = int(np.argmax(net[-1](x)[0]))
    A = channels(net, x, layer, fmt).astype(np.float64)
    G = np.broadcast_to(net["fc"].W[:, unit][:, None, None] / 25.0, A.shape)
    if layer == "conv2":
        G = G * (A > 0)
    gc = np.maximum(np.tensordot(G.mean(axis=(1, 2)), A, axes=(0, 0)), 0)
    result = grad_cam(net, x, layer=layer)
    np.testing.assert_allclose(result.layer_values, gc, rtol=1e-5, atol=1e-7)
    assert result.values.shape == (10, 10) and result.layer == layer
    logit = float(net["fc"](x)[0, unit])
    assert result.score == pytest.approx(logit, rel=1e-5)
    assert result.target == f"class {unit} logit in fc"

    g2, g3 = G ** 2, G ** 3
    den = 2 * g2 + A.sum(axis=(1, 2))[:, None, None] * g3
    alpha = np.where(den != 0, g2 / np.where(den != 0, den, 1), 0)
    w = (alpha * np.maximum(G, 0)).sum(axis=(1, 2))
    pp = np.maximum(np.tensordot(w, A, axes=(0, 0)), 0)
    np.testing.assert_allclose(grad_cam_plus_plus(net, x, layer=layer).layer_values, pp,
                               rtol=1e-5, atol=1e-7)


def test_grad_cam_of_an_inner_unit_and_with_skips():
    rng = np.random.default_rng(2)
    x = Input(shape=(1, 8, 8), name="input", data_format="channels_first")
    c1 = Conv2D(x, name="conv1", W=rng.normal(size=(3, 1, 3, 3)), padding=1)
    r1 = Activation(c1, name="relu1", function="relu")
    c2 = Conv2D(r1, name="conv2", W=rng.normal(size=(3, 3, 1, 1)))
    add = Add((c2, r1), name="add")
    net = Net([x, c1, r1, c2, add])
    sample = rng.random((1, 1, 8, 8)).astype(np.float32)
    # unit 1 of add at (2, 3) = conv2[1] + relu1[1] there: d/d relu1_k = W2[1, k] + (k == 1)
    result = grad_cam(net, sample, Target(layer="add", unit=1, position=(2, 3)), layer="relu1")
    A = net.outputs(sample, ["relu1"])[2][0].astype(np.float64)
    w = (c2.W[1, :, 0, 0] + np.eye(3)[1]) / 64.0
    np.testing.assert_allclose(result.layer_values, np.maximum(np.tensordot(w, A, (0, 0)), 0),
                               rtol=1e-5, atol=1e-8)
    assert result.target == "unit 1 of add at (2, 3)"


# -- batches, cancel, errors ------------------------------------------------------------------

def test_progress_and_cancel():
    net = cam_net("channels_first")
    x = np.random.default_rng(1).random((1, 2, 10, 10)).astype(np.float32)
    seen = []
    integrated_gradients(net, x, steps=10, quadrature="midpoint", rows=4,
                         progress=lambda d, t: seen.append((d, t)))
    assert seen == [(4, 10), (8, 10), (10, 10)]
    with pytest.raises(AttributionCancelled):
        smoothgrad(net, x, n=10, rows=2, progress=lambda d, t: d < 4)
    stop = threading.Event()
    stop.set()
    with pytest.raises(AttributionCancelled):
        integrated_gradients(net, x, steps=8, cancel=stop)


@pytest.mark.parametrize("method,kwargs,message", [
    (smoothgrad, {"n": 0}, "n must be a whole number of at least 1, not 0"),
    (smoothgrad, {"noise": -0.1}, "the noise level must be a fraction of the input range >= 0, not -0.1"),
    (integrated_gradients, {"steps": 0}, "steps must be a whole number of at least 1, not 0"),
    (integrated_gradients, {"steps": 2}, "adaptive integrated gradients needs at least 3 steps, not 2"),
    (integrated_gradients, {"quadrature": "simpson"}, "unknown quadrature 'simpson'; use one of "
                                                      "adaptive, gauss-legendre, trapezoid, midpoint, "
                                                      "left-riemann"),
    (integrated_gradients, {"baseline": "noise"}, "the baseline must be a number, an array or 'blur', "
                                                  "not 'noise'"),
    (integrated_gradients, {"baseline": "blur", "sigma": 0}, "the blur sigma must be a positive "
                                                            "number of positions, not 0"),
    (grad_cam, {"layer": "fc"}, "layer 'fc' has no positions (output (3,)); choose a "
                                "convolution-like layer"),
])
def test_bad_parameters_say_what_is_wrong(method, kwargs, message):
    net = cam_net("channels_first")
    x = np.zeros((1, 2, 10, 10), np.float32)
    with pytest.raises(StrataError) as err:
        method(net, x, **kwargs)
    assert str(err.value) == message


def test_every_gradient_method_runs_on_the_demo_through_explain():
    path = os.path.join(DEMO, "digits_cnn.h5")
    net, samples = load(path), embedded_samples(path)
    x = samples.batch([3])[0]
    label = samples.labels[3]
    for method in ("gradient", "saliency", "gradient-x-input", "smoothgrad",
                   "integrated-gradients", "grad-cam", "grad-cam++", "guided-backprop",
                   "deconvnet"):
        result = explain(net, x, method, Target(), **({"n": 4} if method == "smoothgrad" else {}))
        assert result.method == method and result.values.shape == (8, 8)
        assert np.isfinite(result.values).all() and np.abs(result.values).max() > 0
        assert result.target.startswith(f"class {label} ")
