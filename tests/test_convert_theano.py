"""Theano and Lasagne converters.

Theano objects exist only inside a Theano environment, so
tests/fixtures/make_theano.py converts its models there and stores Strata's
net next to Theano's own outputs; the first tests compare those with numpy
and h5py alone (CI). The tests at the end run the converter itself and are
skipped unless Theano and Lasagne are importable (run them in the Theano
venv of tests/fixtures/README.md).
"""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from viewer.convert import convert, guess_format
from viewer.convert.reference import compare
from viewer.errors import ConversionError
from viewer.net import load

FIXTURES = Path(__file__).parent / "fixtures"
REPO = Path(__file__).parent.parent


def check(net, npz: Path, step_of=None) -> None:
    result = compare(net, npz)
    assert not result.problems, result.problems
    bad = {k: v for k, v in result.errors.items() if v > 1e-5}
    assert not bad, f"layers off by more than 1e-5 relative: {bad}"
    reference = set(result.errors)
    for name in result.unmatched:  # steps inside a Lasagne layer: <layer name>_<step>
        assert step_of and any(name.startswith(f"{r}_") for r in reference), name


def test_lasagne_network_converted_in_its_environment() -> None:
    net = load(FIXTURES / "lasagne_cnn.h5")
    assert net.source.startswith("Lasagne")
    check(net, FIXTURES / "lasagne_cnn.npz", step_of=True)
    kinds = {layer.kind for layer in net}
    assert {"Conv2D", "Conv2DTranspose", "MaxPool2D", "AvgPool2D", "Upsample", "Pad", "Dense",
            "Elementwise", "Dropout", "Concatenate"} <= kinds


@pytest.mark.parametrize("graph", ["theano_symbolic", "theano_compiled"])
def test_theano_graph_converted_in_its_environment(graph: str) -> None:
    net = load(FIXTURES / f"{graph}.h5")
    check(net, FIXTURES / f"{graph}.npz")
    assert net["conv"].kind == "Conv2D"


def test_flip_filters_is_honoured() -> None:
    net = load(FIXTURES / "lasagne_cnn.h5")
    with np.load(FIXTURES / "lasagne_cnn.npz") as ref:
        flipped, plain = ref["W_conv_flip"], ref["W_conv_noflip"]
    # flip_filters=True (Conv2DLayer's default) convolves: Strata gets the kernel flipped.
    np.testing.assert_array_equal(net["conv_flip_conv"].W, flipped[:, :, ::-1, ::-1])
    np.testing.assert_array_equal(net["conv_noflip_conv"].W, plain)


def test_pickles_are_refused_without_trust(tmp_path: Path) -> None:
    path = tmp_path / "net.pkl"
    # Loading this would fail on an unknown module: the refusal must come first.
    path.write_bytes(b"\x80\x04\x95\x1a\x00\x00\x00\x00\x00\x00\x00\x8c\x0cnot_a_module\x94\x8c\x03Net"
                     b"\x94\x93\x94.")
    assert guess_format(path) == "theano"
    with pytest.raises(ConversionError, match="runs code chosen by whoever wrote the file.*--trust-pickle"):
        convert(path)


def test_command_line_refuses_pickles_without_trust(tmp_path: Path) -> None:
    path = tmp_path / "net.pkl"
    path.write_bytes(pickle.dumps({"weights": [1, 2, 3]}))
    run = subprocess.run([sys.executable, "-m", "viewer.convert", str(path), "-o", str(tmp_path / "o.h5")],
                         cwd=REPO, capture_output=True, text=True)
    assert run.returncode == 2
    assert "--trust-pickle" in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "o.h5").exists()


# -- inside a Theano environment only ------------------------------------------------

def _theano():
    from viewer.convert.theano_graph import theano_modules
    try:
        module = theano_modules()
        import lasagne  # noqa: F401
    except (ConversionError, ImportError):
        pytest.skip("needs the Theano environment (tests/fixtures/README.md)")
    return module


def _small_lasagne():
    import lasagne
    from lasagne.layers import Conv2DLayer, DenseLayer, InputLayer, MaxPool2DLayer
    x = InputLayer((None, 1, 6, 6), name="x")
    c = Conv2DLayer(x, 2, 3, name="conv")
    p = MaxPool2DLayer(c, 2, name="pool")
    return x, DenseLayer(p, 3, nonlinearity=lasagne.nonlinearities.softmax, name="out")


def test_live_lasagne_network_and_trusted_pickle(tmp_path: Path) -> None:
    th = _theano()
    from lasagne.layers import get_output
    x, out = _small_lasagne()
    X = np.random.RandomState(0).standard_normal((2, 1, 6, 6)).astype("float32")
    want = th.function([x.input_var], get_output(out, deterministic=True))(X)
    np.testing.assert_allclose(convert(out)["out"](X), want, rtol=1e-5, atol=1e-6)
    path = tmp_path / "net.pkl"
    with open(path, "wb") as fh:
        pickle.dump(out, fh)
    net = convert(path, trust_pickle=True)
    np.testing.assert_allclose(net[-1](X), want, rtol=1e-5, atol=1e-6)


def test_unsupported_theano_ops_are_all_listed() -> None:
    th = _theano()
    import theano.tensor as T
    x = T.matrix("x")
    y = T.sort(T.extra_ops.cumsum(x, axis=1), axis=1)
    with pytest.raises(ConversionError) as info:
        convert(y, input_shape=(4,))
    text = str(info.value)
    assert "2 nodes" in text and "CumOp" in text and "SortOp" in text
    assert th is not None
