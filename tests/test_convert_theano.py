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
import warnings
from pathlib import Path

import numpy as np
import pytest

from viewer.convert import convert, guess_format
from viewer.convert.command import parse_input_shape
from viewer.convert.reference import compare
from viewer.errors import ConversionError, StrataError
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


def test_nested_composite_converted_in_its_environment() -> None:
    """batch_normalization_test then activations: Theano fuses the batch norm's own
    Composite into the activations' one (make_theano.py checks that it did)."""
    net = load(FIXTURES / "theano_fused.h5")
    check(net, FIXTURES / "theano_fused.npz")
    assert [layer.kind for layer in net] == ["Input", "Elementwise"]


def test_gemm_converted_in_its_environment() -> None:
    """b * z + a * dot(x, W), which Theano's optimiser makes of a sum of products."""
    net = load(FIXTURES / "theano_gemm.h5")
    result = compare(net, FIXTURES / "theano_gemm.npz")  # the function's output only
    assert not result.problems and list(result.errors) == [net[-1].name]
    assert result.worst() < 1e-5, result.errors
    assert [layer.name for layer in net.inputs] == ["a", "b"]
    assert sum(layer.kind == "Dense" for layer in net) == 2


def test_reductions_and_slices_converted_in_its_environment() -> None:
    net = load(FIXTURES / "theano_slices.h5")
    result = compare(net, FIXTURES / "theano_slices.npz")
    assert not result.problems and result.worst() == 0.0, result.errors
    assert {"Reduce", "Slice", "Reshape", "Concatenate"} <= {layer.kind for layer in net}


def test_no_array_is_allocated_to_the_batch_size() -> None:
    th = _theano(lasagne=False)
    import theano.tensor as T
    warnings.simplefilter("ignore")  # compiling scan's C code warns about Theano's own imports
    x = T.tensor3("x")
    rnn, _ = th.scan(lambda a, h: T.tanh(a + h), sequences=x.dimshuffle(2, 0, 1),
                     outputs_info=T.zeros_like(x[:, :, 0]))
    with pytest.raises(ConversionError, match="an array allocated to the batch size"):
        convert(th.function([x], rnn[-1]), input_shape=(3, 4))


@pytest.mark.parametrize("values, shape", [
    (["1,8,8"], (1, 8, 8)), (["3"], (3,)), (["1x28x28"], (1, 28, 28)),
    (["a=1,8,8", "b=3"], {"a": (1, 8, 8), "b": (3,)}), (["s="], {"s": ()}),
    (["1,8,8", "4"], [(1, 8, 8), (4,)]),
])
def test_input_shape_option(values: list, shape) -> None:
    assert parse_input_shape(values) == shape


@pytest.mark.parametrize("values, message", [
    (["1,a,8"], "whole numbers"), (["0,8"], "at least 1"), (["=1,2"], "no input name"),
    (["a=1", "a=2"], "input 'a' twice"), (["a=1", "2"], "name every input"),
])
def test_bad_input_shape_option(values: list, message: str) -> None:
    with pytest.raises(StrataError, match=message):
        parse_input_shape(values)


def test_input_shape_applies_to_theano_only(tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, "-m", "viewer.convert", str(FIXTURES / "keras3_cnn.h5"),
                          "--input-shape", "1,8,8", "-o", str(tmp_path / "o.h5")],
                         cwd=REPO, capture_output=True, text=True)
    assert run.returncode == 2 and "input_shape do not apply to keras models" in run.stderr


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

def _theano(lasagne: bool = True):
    from viewer.convert.theano_graph import theano_modules
    # Theano 1.0.5 uses numpy aliases that numpy 1.20+ deprecates, and its lazily
    # imported modules hold escapes Python 3.9 deprecates when compiling them.
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    try:
        module = theano_modules()
        if lasagne:
            import lasagne  # noqa: F401
    except (ConversionError, ImportError):
        pytest.skip("needs the Theano environment (tests/fixtures/README.md)")
    return module


def _convert_command(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "viewer.convert", *map(str, args)], cwd=REPO,
                          capture_output=True, text=True)


def _pickled_function(tmp_path: Path) -> tuple[Path, object]:
    th = _theano(lasagne=False)
    import theano.tensor as T
    x = T.tensor4("image")
    W = th.shared(np.random.RandomState(1).standard_normal((2, 1, 3, 3)).astype("float32"))
    f = th.function([x], T.nnet.relu(T.nnet.conv2d(x, W)))
    path = tmp_path / "f.pkl"
    path.write_bytes(pickle.dumps(f))
    return path, f


def test_input_shape_from_the_command_line(tmp_path: Path) -> None:
    path, f = _pickled_function(tmp_path)
    out = tmp_path / "net.h5"
    run = _convert_command(path, "--trust-pickle", "-o", out)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert f"{path}: give the per-sample shape of input 'image', 3 sizes" in run.stderr
    assert "--input-shape" in run.stderr
    for given in ("1,7,9", "image=1,7,9"):
        run = _convert_command(path, "--trust-pickle", "--input-shape", given, "-o", out)
        assert run.returncode == 0, run.stderr
        X = np.random.RandomState(2).standard_normal((3, 1, 7, 9)).astype("float32")
        np.testing.assert_allclose(load(out)[-1](X), f(X), rtol=1e-5, atol=1e-6)
    run = _convert_command(path, "--trust-pickle", "--input-shape", "7,9", "-o", out)
    assert run.returncode == 2 and "3 sizes without the batch, not 2 (7,9)" in run.stderr
    run = _convert_command(path, "--trust-pickle", "--input-shape", "x=1,7,9", "-o", out)
    assert run.returncode == 2 and "input_shape names x; the graph's inputs are 'image'" in run.stderr


def test_input_shapes_of_several_inputs(tmp_path: Path) -> None:
    th = _theano(lasagne=False)
    import theano.tensor as T
    a, b = T.matrix("a"), T.matrix("b")
    W = th.shared(np.random.RandomState(5).standard_normal((3, 2)).astype("float32"))
    f = th.function([a, b], T.tanh(T.dot(a, W)) + T.dot(b, W))
    path = tmp_path / "two.pkl"
    path.write_bytes(pickle.dumps(f))
    out = tmp_path / "net.h5"
    A, B = (np.random.RandomState(i).standard_normal((4, 3)).astype("float32") for i in (6, 7))
    for given in (["a=3", "b=3"], ["3", "3"]):
        flags = [x for g in given for x in ("--input-shape", g)]
        run = _convert_command(path, "--trust-pickle", *flags, "-o", out)
        assert run.returncode == 0, run.stderr
        np.testing.assert_allclose(load(out)[-1]({"a": A, "b": B}), f(A, B), rtol=1e-5, atol=1e-6)
    run = _convert_command(path, "--trust-pickle", "--input-shape", "3", "-o", out)
    assert run.returncode == 2 and "the graph has 2 inputs; give a shape for each" in run.stderr


def test_input_shape_taken_from_the_samples(tmp_path: Path) -> None:
    path, f = _pickled_function(tmp_path)
    X = np.random.RandomState(3).standard_normal((4, 1, 6, 5)).astype("float32")
    np.save(tmp_path / "x.npy", X)
    out = tmp_path / "net.h5"
    run = _convert_command(path, "--trust-pickle", "--samples", tmp_path / "x.npy", "-o", out)
    assert run.returncode == 0, run.stderr
    net = load(out)
    assert net.input.output_shape == (1, 6, 5)
    np.testing.assert_allclose(net[-1](X), f(X), rtol=1e-5, atol=1e-6)


def test_input_shape_taken_from_images_is_channels_first(tmp_path: Path) -> None:
    from PIL import Image
    path, f = _pickled_function(tmp_path)
    Image.fromarray(np.arange(35, dtype=np.uint8).reshape(5, 7)).save(tmp_path / "digit.png")
    out = tmp_path / "net.h5"
    run = _convert_command(path, "--trust-pickle", "--samples", tmp_path / "digit.png", "-o", out)
    assert run.returncode == 0, run.stderr
    assert load(out).input.output_shape == (1, 5, 7)


def test_nested_composite_converts() -> None:
    th = _theano(lasagne=False)
    import theano.tensor as T
    from theano.tensor.nnet import bn
    rng = np.random.RandomState(4)
    x = T.tensor4("x")
    stats = [th.shared(rng.uniform(0.5, 1.5, (1, 2, 1, 1)).astype("float32")) for _ in range(4)]
    h = bn.batch_normalization_test(x, *stats, axes=(0, 2, 3))
    f = th.function([x], T.nnet.sigmoid(h) * h - abs(h))
    X = rng.standard_normal((2, 2, 3, 3)).astype("float32")
    np.testing.assert_allclose(convert(f, input_shape=(2, 3, 3))[-1](X), f(X), rtol=1e-5, atol=1e-6)


def test_pickle_that_is_not_a_graph_gives_one_line(tmp_path: Path) -> None:
    """chars2vec 0.1.7 (PyPI) pickles its vocabulary beside its Keras weights: [50, {...}]."""
    _theano(lasagne=False)
    real = FIXTURES / "chars2vec_eng_50_model.pkl"
    run = _convert_command(real, "--trust-pickle", "-o", tmp_path / "o.h5")
    assert run.returncode == 2 and "Traceback" not in run.stderr
    ours = [line for line in run.stderr.splitlines() if not line.startswith("WARNING (theano")]
    assert ours == [f"error: {real}: not a Theano graph or Lasagne network: it holds "
                                  "a list of 2 (int, dict); Strata converts pickles of a Lasagne "
                                  "network (its output layer), Theano output variables or a "
                                  "compiled theano.function"]
    zoo = tmp_path / "vgg.pkl"  # how Lasagne's model zoo shipped nets: values without code
    zoo.write_bytes(pickle.dumps({"param values": [np.zeros((2, 2))] * 3, "synset words": ["a"]}))
    with pytest.raises(ConversionError, match=r"holds a dict with keys 'param values', 'synset "
                                              r"words'; weights only: build the network in Lasagne"):
        convert(zoo, trust_pickle=True)


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
