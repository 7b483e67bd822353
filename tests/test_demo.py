"""The demo nets are really trained, and Strata computes what PyTorch computed."""

import os

import numpy as np
import pytest

from viewer.data import embedded_samples
from viewer.net import load

DEMO = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "resources", "demo")
REFERENCE = np.load(os.path.join(DEMO, "digits_reference.npz"))


@pytest.mark.parametrize("stem,minimum", [("digits_cnn", 0.9), ("digits_mlp", 0.9)])
def test_accuracy_on_embedded_held_out_digits(stem, minimum):
    path = os.path.join(DEMO, stem + ".h5")
    net, samples = load(path), embedded_samples(path)
    assert len(samples) == 540 and samples.label_names == [str(d) for d in range(10)]
    x = samples.batch(np.arange(len(samples)))
    # The preprocessing is the stored one: raw pixels 0..16 divided by 16.
    np.testing.assert_allclose(x.reshape(len(x), -1)[:, :64].max(), 1.0)
    probs = net[-1](x)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    accuracy = (probs.argmax(axis=1) == samples.labels).mean()
    assert accuracy >= minimum


@pytest.mark.parametrize("stem", ["digits_cnn", "digits_mlp"])
def test_every_layer_matches_pytorch(stem):
    net = load(os.path.join(DEMO, stem + ".h5"))
    x = REFERENCE[f"{stem}/input"]
    for layer, out in zip(net, net.trace(x)):
        want = REFERENCE[f"{stem}/{layer.name}"]
        assert out.shape == want.shape
        np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())


def test_reference_inputs_are_the_embedded_samples():
    samples = embedded_samples(os.path.join(DEMO, "digits_cnn.h5"))
    np.testing.assert_array_equal(samples.batch(np.arange(16)), REFERENCE["digits_cnn/input"])
