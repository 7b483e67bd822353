"""``main.py explain`` as a user runs it: the files it writes, read back, and its errors."""

import os

import numpy as np
import pytest

from viewer.analysis.attribution import Target, cam, occlusion, rise
from viewer.cli import main
from viewer.data import embedded_samples
from viewer.net import load

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
    (["--method", "occlusion", "--layer", "relu1", "-o", "X.npy"], "--layer for occlusion and RISE needs --unit"),
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
