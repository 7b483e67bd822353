"""``main.py explain`` as a user runs it: the files it writes, read back, and its errors."""

import os

import numpy as np
import pytest

from viewer.analysis.attribution import (Target, cam, grad_cam_plus_plus, integrated_gradients,
                                         occlusion, rise, smoothgrad)
from viewer.cli import main
from viewer.data import embedded_samples
from viewer.net import load
from viewer.net.layers import evaluate

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MNIST = os.path.join(ROOT, "resources", "demo", "mnist_cnn.h5")
CNN = os.path.join(ROOT, "resources", "demo", "digits_cnn.h5")
MLP = os.path.join(ROOT, "resources", "demo", "digits_mlp.h5")


def test_occlusion_npy_has_the_input_shape_and_the_library_values(tmp_path, capsys):
    out = str(tmp_path / "map.npy")
    assert main(["explain", MNIST, "--sample", "5", "--method", "occlusion", "--patch", "7",
                 "--stride", "7", "--baseline", "0.5", "-o", out]) == 0
    net, samples = load(MNIST), embedded_samples(MNIST)
    want = occlusion(net, samples.batch([5])[0], patch=7, stride=7, baseline=0.5)
    got = np.load(out)
    assert got.shape == (1, 28, 28)
    np.testing.assert_allclose(got[0], want.values)
    label = samples.labels[5]
    assert capsys.readouterr().out.strip() == (
        f"wrote {out}: occlusion map of {want.target}, sample 5, shape (1, 28, 28)")
    assert want.target == f"class {label} of softmax"  # the demo gets this digit right


def test_cam_npy_has_the_input_positions(tmp_path):
    out = str(tmp_path / "cam.npy")
    assert main(["explain", MNIST, "--sample", "2", "--method", "cam", "--target", "4",
                 "-o", out]) == 0
    net, samples = load(MNIST), embedded_samples(MNIST)
    np.testing.assert_allclose(np.load(out), cam(net, samples.batch([2]), Target(unit=4)).values)
    assert np.load(out).shape == (28, 28)


def test_unit_target_and_mean_baseline(tmp_path):
    out = str(tmp_path / "unit.npy")
    assert main(["explain", CNN, "--sample", "1", "--method", "rise", "--layer", "relu2",
                 "--unit", "3", "--position", "1,2", "--masks", "64", "--cells", "2",
                 "--baseline", "mean", "-o", out]) == 0
    net, samples = load(CNN), embedded_samples(CNN)
    mean = samples.batch(np.arange(len(samples))).mean(axis=0)
    want = rise(net, samples.batch([1]), Target(layer="relu2", unit=3, position=(1, 2)),
                masks=64, cells=2, baseline=mean)
    np.testing.assert_allclose(np.load(out)[0], want.values, rtol=1e-5)


def test_dense_input_map_over_features(tmp_path):
    out = str(tmp_path / "mlp.npy")
    assert main(["explain", MLP, "--method", "occlusion", "--patch", "8", "--stride", "8",
                 "-o", out]) == 0
    got = np.load(out)
    assert got.shape == (64,) and not np.isnan(got).any()


@pytest.mark.parametrize("method", ["occlusion", "score-cam", "eigen-cam"])
def test_picture_is_written_with_a_title(tmp_path, method):
    out = str(tmp_path / "map.svg")
    assert main(["explain", MNIST, "--sample", "0", "--method", method, "--patch", "7",
                 "-o", out]) == 0
    with open(out) as f:
        svg = f.read()
    assert svg.startswith("<?xml")
    assert f"mnist_cnn · sample 0 (label {embedded_samples(MNIST).labels[0]})" in svg
    png = str(tmp_path / "map.png")
    assert main(["explain", MLP, "--method", "occlusion", "--patch", "4", "-o", png]) == 0
    with open(png, "rb") as f:
        assert f.read(8).startswith(b"\x89PNG")


@pytest.mark.parametrize("args,message", [
    (["--method", "cam", "-o", "X.txt"], "X.txt: cannot write .txt; use .npy, .png, .svg or .pdf"),
    (["--method", "cam", "--sample", "1000", "-o", "X.npy"],
     "sample 1000 is out of range: there are 1000 samples"),
    (["--method", "cam", "--unit", "2", "-o", "X.npy"], "--unit and --position choose a unit"),
    (["--method", "occlusion", "--baseline", "grey", "-o", "X.npy"],
     "--baseline must be a number or 'mean', not 'grey'"),
    (["--method", "occlusion", "--patch", "40", "-o", "X.npy"],
     "the patch (40) is larger than the input (28 positions)"),
    (["--method", "occlusion", "--layer", "relu1", "-o", "X.npy"], "--layer for occlusion needs --unit"),
    (["--method", "occlusion", "--layer", "relu9", "--unit", "1", "-o", "X.npy"],
     "the net has no layer named 'relu9'"),
    (["--method", "cam", "--target", "12", "-o", "X.npy"],
     "unit 12 is out of range: layer 'softmax' has 10 units"),
])
def test_bad_arguments_give_one_line_and_exit_2(tmp_path, capsys, args, message):
    args = [a.replace("X.", str(tmp_path / "X.")) for a in args]
    assert main(["explain", MNIST] + args) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not os.path.exists(str(tmp_path / "X.npy"))


def test_unknown_method_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["explain", MNIST, "--method", "gradcam", "-o", "x.npy"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'gradcam'" in err and err.count("\n") == 1


def test_cam_on_a_net_without_global_pooling_says_why(capsys, tmp_path):
    assert main(["explain", CNN, "--method", "cam", "-o", str(tmp_path / "c.npy")]) == 2
    assert capsys.readouterr().err == (
        "error: CAM needs global average pooling before the dense layer 'fc2'; it reads "
        "'relu3' (Activation)\n")


# -- gradient methods -------------------------------------------------------------------------

def central_differences(net, x, unit, eps=1e-4):
    """d softmax[unit] / d x for one sample x (1, ...) by central differences, float64, unfused."""
    head = net[-1]
    cells = list(np.ndindex(x.shape[1:]))
    plus = np.repeat(x.astype(np.float64), len(cells), axis=0)
    minus = plus.copy()
    for k, cell in enumerate(cells):
        plus[(k,) + cell] += eps
        minus[(k,) + cell] -= eps
    f = lambda X: evaluate(head, X, keep=lambda layer: False)[head][:, unit]  # noqa: E731
    return ((f(plus) - f(minus)) / (2 * eps)).reshape(x.shape[1:])


def test_gradient_npy_is_d_score_d_input_by_central_differences(tmp_path, capsys):
    """Off the kinks: a digit with a little noise, given as net input (--preprocess none). A
    digit the net is sure of has a gradient near float32 rounding: p (1 - p) with p ~ 1."""
    net, samples = load(CNN), embedded_samples(CNN)
    noise = np.random.default_rng(0).normal(size=(1, 1, 8, 8)).astype(np.float32) * 0.01
    x = samples.batch([52]) + noise  # the least sure digit of the first 100: p = 0.93
    path = str(tmp_path / "x.npy")
    np.save(path, x.astype(np.float32))
    out = str(tmp_path / "g.npy")
    assert main(["explain", CNN, "--samples", path, "--preprocess", "none", "--method",
                 "gradient", "-o", out]) == 0
    got = np.load(out)
    assert got.shape == (1, 8, 8)
    unit = int(np.argmax(net[-1](x)[0]))
    assert capsys.readouterr().out.strip() == (
        f"wrote {out}: gradient map of class {unit} of softmax, sample 0, shape (1, 8, 8)")
    want = central_differences(net, x.astype(np.float32), unit)
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4 * np.abs(want).max())


def test_at_a_raw_digit_central_differences_straddle_max_pool_ties():
    """Why a gradient and central differences at the digits' own samples disagree: their zero
    background makes every 2x2 pooling window there a tie, so the score has a kink at the sample
    and its left and right derivatives differ. The gradient takes the forward pass's choice of
    the maximum, as PyTorch does (tests/test_backward.py compares with autograd)."""
    net, samples = load(MNIST), embedded_samples(MNIST)
    x = samples.batch([3]).astype(np.float64)
    unit = int(np.argmax(net[-1](x)[0]))
    head, cell, eps = net[-1], (0, 0, 19, 4), 1e-6
    f = lambda X: evaluate(head, X, keep=lambda layer: False)[head][0, unit]  # noqa: E731
    plus, minus = x.copy(), x.copy()
    plus[cell] += eps
    minus[cell] -= eps
    right, left = (f(plus) - f(x)) / eps, (f(x) - f(minus)) / eps
    assert x[cell] == 0 and abs(right - left) > 0.5 * abs(left)
    noisy = x + np.random.default_rng(0).normal(size=x.shape) * 0.01  # off the ties: they agree
    plus, minus = noisy.copy(), noisy.copy()
    plus[cell] += eps
    minus[cell] -= eps
    g = net.gradient(noisy, Target(unit=unit)).input_grad
    assert g[cell] == pytest.approx((f(plus) - f(minus)) / (2 * eps), rel=1e-5)


def test_integrated_gradients_npy_and_its_completeness(tmp_path, capsys):
    out = str(tmp_path / "ig.npy")
    assert main(["explain", CNN, "--sample", "2", "--method", "integrated-gradients", "--steps",
                 "32", "--quadrature", "trapezoid", "--baseline", "blur", "--sigma", "1.5",
                 "-o", out]) == 0
    net, samples = load(CNN), embedded_samples(CNN)
    want = integrated_gradients(net, samples.batch([2])[0], steps=32, quadrature="trapezoid",
                                baseline="blur", sigma=1.5)
    np.testing.assert_allclose(np.load(out), want.raw, rtol=1e-6)
    lines = capsys.readouterr().out.strip().splitlines()
    r = want.report
    assert lines[1] == (f"completeness: sum of attributions - (f(x) - f(baseline)) = "
                        f"{r['completeness_error']:.2g} ({100 * r['relative_error']:.2g}% of "
                        f"{r['f_x'] - r['f_baseline']:.3g})")


def test_smoothgrad_options_and_grad_cam_map(tmp_path):
    net, samples = load(CNN), embedded_samples(CNN)
    x = samples.batch([4])[0]
    out = str(tmp_path / "sg.npy")
    assert main(["explain", CNN, "--sample", "4", "--method", "smoothgrad", "--noise", "0.2",
                 "--copies", "6", "--seed", "3", "--batch-size", "4", "-o", out]) == 0
    np.testing.assert_allclose(np.load(out), smoothgrad(net, x, noise=0.2, n=6, seed=3).raw,
                               rtol=1e-6)
    out = str(tmp_path / "gc.npy")
    assert main(["explain", CNN, "--sample", "4", "--method", "grad-cam++", "--layer", "relu1",
                 "--target", "2", "-o", out]) == 0
    want = grad_cam_plus_plus(net, x, Target(unit=2), layer="relu1")
    np.testing.assert_allclose(np.load(out), want.values, rtol=1e-6)
    assert np.load(out).shape == (8, 8)
    png = str(tmp_path / "gb.png")
    assert main(["explain", MNIST, "--method", "guided-backprop", "--layer", "relu2", "--unit",
                 "3", "-o", png]) == 0
    with open(png, "rb") as f:
        assert f.read(8).startswith(b"\x89PNG")


@pytest.mark.parametrize("args,message", [
    (["--method", "gradient", "--steps", "8"],
     "--steps is an option of integrated-gradients, not of gradient"),
    (["--method", "integrated-gradients", "--copies", "8"],
     "--copies is an option of smoothgrad, not of integrated-gradients"),
    (["--method", "smoothgrad", "--quadrature", "midpoint"],
     "--quadrature is an option of integrated-gradients, not of smoothgrad"),
    (["--method", "saliency", "--baseline", "0.5"],
     "--baseline is an option of occlusion, rise, score-cam, integrated-gradients, not of saliency"),
    (["--method", "occlusion", "--baseline", "blur"], "--baseline must be a number or 'mean', not 'blur'"),
    (["--method", "integrated-gradients", "--baseline", "grey"],
     "--baseline must be a number, 'mean' or 'blur', not 'grey'"),
    (["--method", "integrated-gradients", "--sigma", "2"], "--sigma sets the blur of --baseline blur"),
    (["--method", "integrated-gradients", "--steps", "2"],
     "adaptive integrated gradients needs at least 3 steps, not 2"),
    (["--method", "smoothgrad", "--noise", "-1"],
     "the noise level must be a fraction of the input range >= 0, not -1.0"),
    (["--method", "gradient", "--batch-size", "4"], "--batch-size is an option of occlusion, rise, "
     "score-cam, ablation-cam, smoothgrad, integrated-gradients, not of gradient"),
    (["--method", "grad-cam", "--unit", "1"], "--unit and --position choose a unit"),
    (["--method", "grad-cam", "--layer", "fc"], "layer 'fc' has no positions"),
])
def test_bad_gradient_options_give_one_line_and_exit_2(tmp_path, capsys, args, message):
    out = str(tmp_path / "X.npy")
    assert main(["explain", MNIST] + args + ["-o", out]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {message}\n" or (message in err and err.count("\n") == 1)
    assert not os.path.exists(out)


def test_method_lists_agree_with_the_library():
    from viewer.analysis.attribution import LAYER_METHODS, METHODS, QUADRATURES
    from viewer.explain_command import CAM_NAMES, METHOD_NAMES, QUADRATURE_NAMES
    assert METHOD_NAMES == tuple(METHODS)
    assert CAM_NAMES == LAYER_METHODS
    assert QUADRATURE_NAMES == QUADRATURES


def test_a_long_title_is_broken_between_its_parts_and_stays_inside_the_picture():
    from viewer.analysis.attribution import Target, explain
    from viewer.app.messages import wrapped_title
    from viewer.gui.attribution_render import TITLE_WIDTH, attribution_figure
    net = load(MNIST)
    x = embedded_samples(MNIST).batch([0])[0]
    result = explain(net, x, "saliency", Target())
    title = ("emotion_model · sample 0\nintegrated-gradients · class 3 of predictions · "
             "score 0.795 · completeness error 2.1%")
    assert wrapped_title(title, TITLE_WIDTH) == ("emotion_model · sample 0\nintegrated-gradients · class 3 of "
                                    "predictions · score 0.795\ncompleteness error 2.1%")
    assert wrapped_title("a · b", width=3) == "a\nb"
    assert wrapped_title("x" * 80, TITLE_WIDTH) == "x" * 80                  # one part stays whole
    fig = attribution_figure(result, x, title=title)
    fig.canvas.draw()
    box = fig.axes[0].title.get_window_extent()
    assert 0 <= box.x0 and box.x1 <= fig.bbox.width
