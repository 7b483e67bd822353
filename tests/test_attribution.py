"""Attribution maps against direct loops and the published formulas, written out here in numpy."""

import itertools
import os
import threading

import numpy as np
import pytest

from viewer.analysis.attribution import (METHODS, AttributionCancelled, Target, ablation_cam, cam,
                                         eigen_cam, explain, occlusion, resize_linear, rise,
                                         score_cam)
from viewer.data import embedded_samples
from viewer.errors import StrataError
from viewer.net import Net, load
from viewer.net.layers import (Activation, Add, Conv2D, Dense, Flatten, GlobalAvgPool2D, Input,
                               MaxPool2D)
from viewer.net.layers.conv_extra import Conv1D

DEMO = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "resources",
                    "demo", "mnist_cnn.h5")


def image_net(fmt: str, seed: int = 0, size: int = 12) -> Net:
    """conv-relu-pool-conv-relu, global average pooling, dense, softmax, in either layout."""
    rng = np.random.default_rng(seed)
    shape = (2, size, size) if fmt == "channels_first" else (size, size, 2)
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


def residual_net(seed: int = 1) -> Net:
    """A skip connection around conv2, so ablating conv1's channels reaches the output two ways."""
    rng = np.random.default_rng(seed)
    x = Input(shape=(1, 8, 8), name="input", data_format="channels_first")
    c1 = Conv2D(x, name="conv1", W=rng.normal(size=(3, 1, 3, 3)), padding=1)
    r1 = Activation(c1, name="relu1", function="relu")
    c2 = Conv2D(r1, name="conv2", W=rng.normal(size=(3, 3, 3, 3)) * 0.3, padding=1)
    add = Add((c2, r1), name="add")
    gap = GlobalAvgPool2D(add, name="gap")
    fc = Dense(gap, name="fc", W=rng.normal(size=(3, 4)))
    return Net([x, c1, r1, c2, add, gap, fc, Activation(fc, name="softmax", function="softmax")])


def sequence_net(seed: int = 2) -> Net:
    """(T, F) sequences: a 1-D convolution over time, mean over time, dense."""
    rng = np.random.default_rng(seed)
    x = Input(shape=(10, 3), name="input")
    conv = Conv1D(x, name="conv", W=rng.normal(size=(4, 3, 3)), padding="same")
    relu = Activation(conv, name="relu", function="relu")
    flat = Flatten(relu, name="flatten")
    fc = Dense(flat, name="fc", W=rng.normal(size=(40, 2)))
    return Net([x, conv, relu, flat, fc])


def dense_net(seed: int = 3) -> Net:
    rng = np.random.default_rng(seed)
    x = Input(shape=(9,), name="input")
    h = Dense(x, name="fc1", W=rng.normal(size=(9, 6)))
    r = Activation(h, name="relu", function="relu")
    out = Dense(r, name="fc2", W=rng.normal(size=(6, 3)))
    return Net([x, h, r, out, Activation(out, name="softmax", function="softmax")])


def sample(net: Net, seed: int = 10) -> np.ndarray:
    return np.random.default_rng(seed).random((1,) + net.input.output_shape).astype(np.float32)


# -- occlusion: a direct loop over windows ----------------------------------------------------

def occlusion_loop(net, x, unit, patch, stride, baseline, position_axes):
    """The issue's definition, one window at a time through net[-1]."""
    sizes = [x.shape[1 + a] for a in position_axes]
    starts = []
    for n in sizes:
        axis_starts, s = [], 0
        while s <= n - patch:
            axis_starts.append(s)
            s += stride
        starts.append(axis_starts)
    original = net[-1](x)[0, unit]
    total, count = np.zeros(sizes), np.zeros(sizes)
    for window in itertools.product(*starts):
        occluded = x.copy()
        index = [0] + [slice(None)] * (x.ndim - 1)
        for a, s in zip(position_axes, window):
            index[1 + a] = slice(s, s + patch)
        occluded[tuple(index)] = np.broadcast_to(baseline, x.shape[1:])[tuple(index[1:])]
        drop = original - net[-1](occluded)[0, unit]
        region = tuple(slice(s, s + patch) for s in window)
        total[region] += drop
        count[region] += 1
    with np.errstate(invalid="ignore"):
        return np.where(count > 0, total / count, np.nan)


@pytest.mark.parametrize("fmt,axes", [("channels_first", (1, 2)), ("channels_last", (0, 1))])
@pytest.mark.parametrize("patch,stride,baseline", [(3, 2, 0.0), (4, 4, 0.5), (5, 3, "mean"),
                                                   (1, 1, -1.0)])
def test_occlusion_equals_a_direct_loop_over_windows(fmt, axes, patch, stride, baseline):
    net = image_net(fmt)
    x = sample(net)
    if baseline == "mean":  # an array baseline, like the samples' mean input
        baseline = np.random.default_rng(5).random(x.shape[1:]).astype(np.float32)
    predicted = int(net[-1](x)[0].argmax())
    result = occlusion(net, x, patch=patch, stride=stride, baseline=baseline, rows=7)
    want = occlusion_loop(net, x, predicted, patch, stride, baseline, axes)
    np.testing.assert_array_equal(np.isnan(result.values), np.isnan(want))
    np.testing.assert_allclose(result.values, want, rtol=1e-5, atol=1e-7, equal_nan=True)
    assert result.target == f"class {predicted} of softmax"
    # channels share the value in the per-sample map, laid out like the input
    full = result.per_sample()
    assert full.shape == x.shape[1:]
    channel = 0 if fmt == "channels_first" else 2
    np.testing.assert_array_equal(np.take(full, 1, axis=channel), result.values)


def test_occlusion_leaves_uncovered_positions_empty():
    net = image_net("channels_first", size=12)
    result = occlusion(net, sample(net), patch=5, stride=5)  # windows at 0 and 5: 0..9 covered
    assert np.isnan(result.values[10:]).all() and np.isnan(result.values[:, 10:]).all()
    assert not np.isnan(result.values[:10, :10]).any()


@pytest.mark.parametrize("make,axes,unit", [(sequence_net, (0,), 1), (dense_net, (0,), 2)])
def test_occlusion_of_sequences_and_dense_inputs(make, axes, unit):
    net = make()
    x = sample(net)
    result = occlusion(net, x, Target(unit=unit), patch=2, stride=1, baseline=0.25)
    want = occlusion_loop(net, x, unit, 2, 1, 0.25, axes)
    np.testing.assert_allclose(result.values, want, rtol=1e-5, atol=1e-7)
    assert result.values.shape == (x.shape[1],)
    assert result.per_sample().shape == x.shape[1:]


def test_occlusion_of_a_unit_of_an_inner_layer():
    net = image_net("channels_first")
    x = sample(net)
    # one position of channel 2 of relu1 (12 x 12): only the windows over its 3x3 field matter
    result = occlusion(net, x, Target(layer="relu1", unit=2, position=(5, 6)), patch=2, stride=1)
    original = net["relu1"](x)[0, 2, 5, 6]
    want = np.zeros((12, 12))
    count = np.zeros((12, 12))
    for r, c in itertools.product(range(11), range(11)):
        occluded = x.copy()
        occluded[0, :, r:r + 2, c:c + 2] = 0
        want[r:r + 2, c:c + 2] += original - net["relu1"](occluded)[0, 2, 5, 6]
        count[r:r + 2, c:c + 2] += 1
    np.testing.assert_allclose(result.values, want / count, rtol=1e-5, atol=1e-7)
    assert np.all(result.values[:3] == 0) and np.all(result.values[:, 9:] == 0)


def test_batches_progress_and_cancel():
    net = image_net("channels_first")
    x = sample(net)
    seen = []
    one = occlusion(net, x, patch=2, stride=1, rows=1, progress=lambda d, t: seen.append((d, t)))
    many = occlusion(net, x, patch=2, stride=1)
    np.testing.assert_allclose(one.values, many.values, rtol=1e-6)
    assert seen[0] == (1, 121) and seen[-1] == (121, 121) and len(seen) == 121
    with pytest.raises(AttributionCancelled):
        occlusion(net, x, patch=2, stride=1, rows=10, progress=lambda d, t: d < 30)
    stop = threading.Event()
    stop.set()
    with pytest.raises(AttributionCancelled):
        rise(net, x, masks=50, cancel=stop)


@pytest.mark.parametrize("kwargs,message", [
    ({"patch": 13}, "larger than the input"),
    ({"patch": 0}, "patch must be a whole number of at least 1"),
    ({"target": Target(unit=3)}, "unit 3 is out of range: layer 'softmax' has 3 units"),
    ({"target": Target(layer="relu1")}, "say which unit of layer 'relu1'"),
    ({"target": Target(layer="relu1", unit=0, position=(12, 0))}, "position (12, 0) is not in"),
    ({"baseline": np.zeros(5)}, "the baseline of shape (5,) does not fit"),
])
def test_bad_parameters_say_what_is_wrong(kwargs, message):
    net = image_net("channels_first")
    target = kwargs.pop("target", Target())
    with pytest.raises(StrataError) as err:
        occlusion(net, sample(net), target, **kwargs)
    assert message in str(err.value)


# -- RISE -------------------------------------------------------------------------------------

def one_pixel_net(size: int = 16, pixel: tuple = (5, 9)) -> Net:
    """Reads one pixel: its output is x[pixel] (and 0 for a second class)."""
    W = np.zeros((size * size, 2))
    W[pixel[0] * size + pixel[1], 0] = 1.0
    x = Input(shape=(1, size, size), name="input", data_format="channels_first")
    flat = Flatten(x, name="flatten", data_format="channels_first")
    return Net([x, flat, Dense(flat, name="fc", W=W)])


def test_rise_is_reproducible_with_its_seed():
    net = image_net("channels_last")
    x = sample(net)
    a = rise(net, x, masks=300, cells=4, seed=3, rows=32)
    b = rise(net, x, masks=300, cells=4, seed=3, rows=300)
    c = rise(net, x, masks=300, cells=4, seed=4)
    # Batches of 32 and of 300 rows take different BLAS blockings of the same
    # float32 convolutions, so equal means equal up to float32 rounding.
    np.testing.assert_allclose(a.values, b.values, rtol=1e-6)
    assert not np.allclose(a.values, c.values)


def test_rise_formula_on_its_own_masks():
    """S = sum_i f(x * M_i) M_i / (N p), with the masks the method draws."""
    from viewer.analysis.attribution.rise import MaskSource
    net = image_net("channels_first")
    x = sample(net)
    n, cells, keep = 40, 3, 0.4
    source = MaskSource((12, 12), n, cells, keep, np.random.default_rng(0))
    masks = source.masks(0, n)
    assert masks.shape == (n, 12, 12) and masks.min() >= 0 and masks.max() <= 1
    unit = int(net[-1](x)[0].argmax())
    want = sum(net[-1](x * m)[0, unit] * m for m in masks) / (n * keep)
    got = rise(net, x, masks=n, cells=cells, keep=keep, seed=0)
    np.testing.assert_allclose(got.values, want, rtol=1e-5)


def test_rise_converges_to_the_pixel_a_net_reads():
    """Its map peaks on the one pixel read, approaches its many-mask limit as N grows, and then
    matches occlusion with a window about a RISE cell wide."""
    net = one_pixel_net()
    x = np.full((1, 1, 16, 16), 0.8, np.float32)
    target = Target(unit=0)
    limit = rise(net, x, target, masks=16000, cells=4, seed=1).values
    errors = []
    for n in (250, 4000):
        values = rise(net, x, target, masks=n, cells=4, seed=0).values
        assert np.unravel_index(values.argmax(), values.shape) == (5, 9)
        errors.append(np.abs(values - limit).mean())
    assert errors[1] < 0.7 * errors[0]
    exact = occlusion(net, x, target, patch=5, stride=1).values
    assert np.unravel_index(np.nanargmax(exact), exact.shape) == (5, 9)
    assert np.corrcoef(values.ravel(), exact.ravel())[0, 1] > 0.9


# -- the CAM family against their published formulas -----------------------------------------

def bilinear(a, size):
    """Half-pixel bilinear resize written cell by cell (PyTorch's align_corners=False)."""
    h, w = a.shape[-2:]
    out = np.zeros(a.shape[:-2] + tuple(size))
    for i, j in itertools.product(range(size[0]), range(size[1])):
        y = min(max((i + 0.5) * h / size[0] - 0.5, 0), h - 1)
        x = min(max((j + 0.5) * w / size[1] - 0.5, 0), w - 1)
        y0, x0 = int(np.floor(y)), int(np.floor(x))
        y1, x1 = min(y0 + 1, h - 1), min(x0 + 1, w - 1)
        fy, fx = y - y0, x - x0
        out[..., i, j] = ((1 - fy) * (1 - fx) * a[..., y0, x0] + (1 - fy) * fx * a[..., y0, x1]
                          + fy * (1 - fx) * a[..., y1, x0] + fy * fx * a[..., y1, x1])
    return out


def test_resize_linear_is_half_pixel_bilinear():
    np.testing.assert_allclose(resize_linear(np.array([1.0, 3.0]), (4,)), [1.0, 1.5, 2.5, 3.0])
    a = np.random.default_rng(0).random((3, 5, 4))
    np.testing.assert_allclose(resize_linear(a, (12, 7)), bilinear(a, (12, 7)))
    np.testing.assert_allclose(resize_linear(a, (3, 2)), bilinear(a, (3, 2)))


def channels(net, x, layer):
    """(K, ...) activations of ``layer``: channels first whatever the net's layout."""
    out = net[layer](x)[0]
    return out if net["conv1"].data_format == "channels_first" else np.moveaxis(out, -1, 0)


@pytest.mark.parametrize("fmt", ["channels_first", "channels_last"])
def test_cam_is_the_dense_weighted_sum_and_averages_to_the_logit(fmt):
    net = image_net(fmt)
    x = sample(net)
    result = cam(net, x, Target(unit=1))
    A = channels(net, x, "relu2")  # (5, 6, 6)
    want = np.einsum("k,khw->hw", net["fc"].W[:, 1], A)
    np.testing.assert_allclose(result.layer_values, want, rtol=1e-5)
    # Zhou et al.: the class score is the map's spatial mean plus the bias
    np.testing.assert_allclose(result.layer_values.mean() + net["fc"].b[1], net["fc"](x)[0, 1],
                               rtol=1e-5)
    np.testing.assert_allclose(result.values, bilinear(want, (12, 12)), rtol=1e-5, atol=1e-9)
    assert result.layer == "relu2" and result.signed


def test_cam_refuses_nets_without_global_pooling_and_dense():
    with pytest.raises(StrataError, match="CAM needs global average pooling before the dense"):
        cam(sequence_net(), sample(sequence_net()))
    with pytest.raises(StrataError, match="CAM works on the layer the global pooling reads"):
        cam(image_net("channels_first"), sample(image_net("channels_first")), layer="conv1")


@pytest.mark.parametrize("fmt", ["channels_first", "channels_last"])
def test_score_cam_formula(fmt):
    net = image_net(fmt)
    x = sample(net)
    base = 0.2
    result = score_cam(net, x, Target(unit=2), layer="relu2", baseline=base, rows=2)
    A = channels(net, x, "relu2")
    up = bilinear(A, (12, 12))
    alphas = []
    f_b = net[-1](np.full_like(x, base))[0, 2]
    for H in up:
        H = (H - H.min()) / (H.max() - H.min()) if H.max() > H.min() else np.zeros_like(H)
        mask = H[None] if fmt == "channels_first" else H[:, :, None]
        alphas.append(net[-1](x * mask + base * (1 - mask))[0, 2] - f_b)
    want = np.maximum(np.einsum("k,khw->hw", np.array(alphas), A), 0)
    np.testing.assert_allclose(result.layer_values, want, rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(result.values, bilinear(want, (12, 12)), rtol=1e-5, atol=1e-9)


def evaluate_with(net, replaced_layer, value, x):
    """The net's output with one layer's output replaced, by plain recursion over the graph."""
    memo = {}

    def out(layer):
        if layer.name == replaced_layer:
            return value
        if layer.name not in memo:
            if not layer.inputs:
                memo[layer.name] = x
            elif len(layer.inputs) == 1 and not layer.is_merge:
                memo[layer.name] = layer.forward(out(layer.inputs[0]))
            else:
                memo[layer.name] = layer.forward(tuple(out(p) for p in layer.inputs))
        return memo[layer.name]
    return out(net[-1])


@pytest.mark.parametrize("make,layer", [(lambda: image_net("channels_last"), "relu2"),
                                        (lambda: image_net("channels_first"), "pool1"),
                                        (residual_net, "relu1")])
def test_ablation_cam_formula(make, layer):
    net = make()
    x = sample(net)
    unit = int(net[-1](x)[0].argmax())
    result = ablation_cam(net, x, layer=layer, rows=3)
    out = net[layer](x)
    last = net["conv1"].data_format == "channels_last"
    A = channels(net, x, layer)
    y = net[-1](x)[0, unit]
    weights = []
    for k in range(len(A)):
        ablated = out.copy()
        if last:
            ablated[..., k] = 0
        else:
            ablated[:, k] = 0
        weights.append((y - evaluate_with(net, layer, ablated, x)[0, unit]) / y)
    want = np.maximum(np.einsum("k,k...->...", np.array(weights), A), 0)
    np.testing.assert_allclose(result.layer_values, want, rtol=1e-5, atol=1e-9)


def test_eigen_cam_is_the_first_principal_projection():
    net = image_net("channels_first")
    x = sample(net)
    result = eigen_cam(net, x, layer="relu2")
    A = net["relu2"](x)[0].astype(np.float64)  # (5, 6, 6)
    M = A.reshape(5, -1).T  # positions x channels
    vals, vecs = np.linalg.eigh(M.T @ M)  # right singular vectors of M
    proj = M @ vecs[:, np.argmax(vals)]
    proj = proj if proj.sum() > 0 else -proj
    np.testing.assert_allclose(result.layer_values, proj.reshape(6, 6), rtol=1e-6, atol=1e-9)
    assert result.target == "" and np.isnan(result.score)


def test_cam_methods_on_sequences():
    net = sequence_net()
    x = sample(net)
    result = score_cam(net, x, Target(unit=0), layer="relu")
    A = net["relu"](x)[0].T  # (4 features, 10 steps)
    alphas = []
    f_b = net[-1](np.zeros_like(x))[0, 0]
    for H in A:  # a constant channel (a dead relu) masks everything out
        H = (H - H.min()) / (H.max() - H.min()) if H.max() > H.min() else np.zeros_like(H)
        alphas.append(net[-1](x * H[None, :, None])[0, 0] - f_b)
    np.testing.assert_allclose(result.values, np.maximum(np.array(alphas) @ A, 0), rtol=1e-5)
    assert eigen_cam(net, x).values.shape == (10,)


def test_cam_methods_need_positions():
    with pytest.raises(StrataError, match="no layer has channels over positions"):
        score_cam(dense_net(), sample(dense_net()))
    with pytest.raises(StrataError, match="layer 'gap' has no positions"):
        eigen_cam(image_net("channels_first"), sample(image_net("channels_first")), layer="gap")


def test_every_method_runs_through_explain():
    net = image_net("channels_first")
    x = sample(net)
    for method in METHODS:
        result = explain(net, x, method)
        assert result.method == method and result.values.shape == (12, 12)
    with pytest.raises(StrataError, match="unknown attribution method 'gradcam'"):
        explain(net, x, "gradcam")


# -- the demo: maps of correctly classified digits sit on the strokes ---------------------------

@pytest.mark.parametrize("method,params", [("occlusion", {"patch": 6, "stride": 4}),
                                           ("ablation-cam", {}), ("cam", {})])
def test_demo_maps_concentrate_on_strokes(method, params):
    """A few digits here; bench/explain.py --strokes measures every method on 100."""
    from viewer.analysis.attribution.strokes import stroke_contrast
    net, samples = load(DEMO), embedded_samples(DEMO)
    report = stroke_contrast(net, samples, method, count=6, **params)
    assert report.samples == 6 and report.wins == 6
    assert report.stroke_mean > 1.5 * report.background_mean


def test_the_default_occlusion_window_is_a_seventh_of_the_smallest_side():
    from viewer.analysis.attribution.occlusion import default_patch
    assert [default_patch(s) for s in ((28, 28), (224, 224), (8, 8), (64,), (3, 300))] == \
        [4, 32, 1, 9, 1]
    net = load("resources/demo/mnist_cnn.h5")
    x = embedded_samples("resources/demo/mnist_cnn.h5").batch([0])[0]
    default = occlusion(net, x)
    assert default.params["patch"] == (4, 4) and default.params["stride"] == (2, 2)
    np.testing.assert_allclose(default.values, occlusion(net, x, patch=4, stride=2).values)
