"""The demo nets are really trained, and Strata computes what PyTorch computed."""

import os

import numpy as np
import pytest

from viewer.data import embedded_samples
from viewer.net import load

DEMO = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "resources", "demo")
# stem -> (reference file, held-out samples, raw pixel maximum, input shape, minimum accuracy)
DEMOS = {
    "mnist_cnn": ("mnist_reference", 1000, 255, (1, 28, 28), 0.95),
    "digits_cnn": ("digits_reference", 540, 16, (1, 8, 8), 0.9),
    "digits_mlp": ("digits_reference", 540, 16, (64,), 0.9),
}


def reference(stem: str) -> np.lib.npyio.NpzFile:
    return np.load(os.path.join(DEMO, DEMOS[stem][0] + ".npz"))


@pytest.mark.parametrize("stem", sorted(DEMOS))
def test_accuracy_on_embedded_held_out_digits(stem):
    _, count, raw_max, shape, minimum = DEMOS[stem]
    path = os.path.join(DEMO, stem + ".h5")
    net, samples = load(path), embedded_samples(path)
    assert len(samples) == count and samples.label_names == [str(d) for d in range(10)]
    assert net[0].output_shape == shape
    x = samples.batch(np.arange(len(samples)))
    # The preprocessing is the stored one: raw pixels 0..raw_max divided by raw_max.
    assert x.shape == (count,) + shape and x.min() == 0.0
    np.testing.assert_allclose(x.max(), 1.0)
    step = np.diff(np.unique(x))
    np.testing.assert_allclose(step.min(), 1.0 / raw_max, rtol=1e-4)
    probs = net[-1](x)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    accuracy = (probs.argmax(axis=1) == samples.labels).mean()
    assert accuracy >= minimum


@pytest.mark.parametrize("stem", sorted(DEMOS))
def test_every_layer_matches_pytorch(stem):
    net, ref = load(os.path.join(DEMO, stem + ".h5")), reference(stem)
    x = ref[f"{stem}/input"]
    assert sorted(k for k in ref if k.startswith(stem + "/")) == sorted(f"{stem}/{l.name}" for l in net)
    for layer, out in zip(net, net.trace(x)):
        want = ref[f"{stem}/{layer.name}"]
        assert out.shape == want.shape
        np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())


@pytest.mark.parametrize("stem", ["mnist_cnn", "digits_cnn"])
def test_reference_inputs_are_the_embedded_samples(stem):
    x = reference(stem)[f"{stem}/input"]
    samples = embedded_samples(os.path.join(DEMO, stem + ".h5"))
    np.testing.assert_array_equal(samples.batch(np.arange(len(x))), x)


def test_mnist_demo_holds_out_every_digit_equally_and_ends_in_global_pooling():
    """100 held-out digits per class (the split is stratified); class activation maps need
    conv, global average pool, dense, softmax."""
    path = os.path.join(DEMO, "mnist_cnn.h5")
    net, samples = load(path), embedded_samples(path)
    np.testing.assert_array_equal(np.bincount(samples.labels, minlength=10), [100] * 10)
    assert [l.kind for l in net][-4:] == ["Activation", "GlobalAvgPool2D", "Dense", "Activation"]
    assert net["relu3"].output_shape == (64, 7, 7)
