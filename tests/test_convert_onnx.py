"""ONNX converter: every layer against onnxruntime's values, folding, external data, refusals.

Fixtures come from tests/fixtures/make_onnx.py (PyTorch's two exporters);
each .npz holds the value of every tensor the graph computes. Needs only
numpy and onnx.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")

from viewer.convert import convert, guess_format  # noqa: E402
from viewer.convert.reference import compare, load_reference  # noqa: E402
from viewer.errors import ConversionError, FileFormatError  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures"
MODELS = ["onnx_cnn_op17.onnx", "onnx_cnn_op20.onnx", "onnx_rnn_op17.onnx", "onnx_rnn_op20.onnx",
          "onnx_cnn_static_op17.onnx"]
COMPARISONS = ("greater", "less", "equal", "greater_equal", "less_equal")


@pytest.mark.parametrize("model", MODELS)
def test_every_layer_equals_the_onnx_graph(model: str) -> None:
    net = convert(FIXTURES / model)
    result = compare(net, FIXTURES / model.replace(".onnx", ".npz"))
    # Tensors of the graph without a layer are folded constants (weights, shape arithmetic).
    assert all("no such layer" in p for p in result.problems), result.problems
    bad = {k: v for k, v in result.errors.items() if v > 1e-5}
    assert not bad, f"layers off by more than 1e-5 relative: {bad}"
    # Every layer is checked, except true/false masks (the reference holds float tensors).
    assert all(net[n].config().get("op") in COMPARISONS for n in result.unmatched), result.unmatched
    assert len(result.errors) >= 15


def test_shape_arithmetic_is_folded_not_shown() -> None:
    model = onnx.load(FIXTURES / "onnx_cnn_op17.onnx")
    shape_nodes = [n.name for n in model.graph.node if n.op_type in ("Shape", "Gather", "Constant",
                                                                      "ConstantOfShape", "Cast")]
    assert shape_nodes
    net = convert(FIXTURES / "onnx_cnn_op17.onnx")
    names = {layer.name for layer in net}
    assert not names & set(shape_nodes)
    assert net["Reshape_3"].kind == "Reshape"  # the reshape(size(0), -1) the shapes fed


@pytest.mark.parametrize("model", ["onnx_cnn_op17.onnx", "onnx_rnn_op20.onnx", "onnx_cnn_static_op17.onnx"])
def test_the_batch_size_is_free(model: str) -> None:
    net = convert(FIXTURES / model)
    inputs, _ = load_reference(FIXTURES / model.replace(".onnx", ".npz"))
    x = inputs[0]
    whole = net[-1](x)
    np.testing.assert_allclose(net[-1](x[1:2]), whole[1:2], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(net[-1](np.concatenate([x, x])), np.concatenate([whole, whole]),
                               rtol=1e-5, atol=1e-6)


def test_recurrent_ops_become_recurrent_layers() -> None:
    net = convert(FIXTURES / "onnx_rnn_op17.onnx")
    kinds = {layer.kind for layer in net}
    assert {"LSTM", "GRU", "SimpleRNN"} <= kinds
    lstm = net["lstm"]
    assert lstm.bidirectional and lstm.config()["merge_mode"] == "stack"


def test_model_object_converts_like_the_file() -> None:
    model = onnx.load(FIXTURES / "onnx_cnn_op20.onnx")  # external data loaded by onnx itself
    net = convert(model)
    assert len(net) == len(convert(FIXTURES / "onnx_cnn_op20.onnx"))


def test_guess_format() -> None:
    assert guess_format(FIXTURES / "onnx_cnn_op17.onnx") == "onnx"


# -- external data -------------------------------------------------------------------

def _op20_copy(tmp_path: Path, data: bool = True) -> Path:
    model = tmp_path / "model.onnx"
    shutil.copy(FIXTURES / "onnx_cnn_op20.onnx", model)
    if data:
        shutil.copy(FIXTURES / "onnx_cnn_op20.onnx.data", tmp_path / "onnx_cnn_op20.onnx.data")
    return model


def _relocate(model: Path, location: str) -> None:
    proto = onnx.load(model, load_external_data=False)
    for tensor in proto.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = location
    onnx.save(proto, model)


def test_external_data_beside_the_model(tmp_path: Path) -> None:
    model = _op20_copy(tmp_path)
    assert len(convert(model)) > 10


def test_missing_external_data(tmp_path: Path) -> None:
    with pytest.raises(FileFormatError, match="external data .* is missing"):
        convert(_op20_copy(tmp_path, data=False))


@pytest.mark.parametrize("where", ["../outside.data", "/etc/passwd", "sub/../../outside.data"])
def test_external_data_outside_the_folder_is_refused(tmp_path: Path, where: str) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    model = _op20_copy(folder)
    shutil.copy(FIXTURES / "onnx_cnn_op20.onnx.data", tmp_path / "outside.data")
    _relocate(model, where)
    with pytest.raises(FileFormatError, match="points outside the model's folder; refused"):
        convert(model)


def test_symlink_out_of_the_folder_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    model = _op20_copy(folder, data=False)
    shutil.copy(FIXTURES / "onnx_cnn_op20.onnx.data", tmp_path / "outside.data")
    (folder / "onnx_cnn_op20.onnx.data").symlink_to(tmp_path / "outside.data")
    with pytest.raises(FileFormatError, match="outside the model's folder"):
        convert(model)


def test_external_data_too_short(tmp_path: Path) -> None:
    model = _op20_copy(tmp_path)
    data = tmp_path / "onnx_cnn_op20.onnx.data"
    data.write_bytes(data.read_bytes()[:100])
    with pytest.raises(FileFormatError, match="do not hold shape"):
        convert(model)


# -- refusals and bad files ----------------------------------------------------------

def test_unknown_ops_are_all_listed(tmp_path: Path) -> None:
    h = onnx.helper
    nodes = [h.make_node("Relu", ["x"], ["a"], name="ok"),
             h.make_node("Fancy", ["a"], ["b"], name="custom", domain="com.example"),
             h.make_node("DeformConv", ["a", "kernel", "offsets"], ["c"], name="warp"),
             h.make_node("Add", ["b", "c"], ["y"], name="sum")]
    graph = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["n", 2, 4, 4])],
                         [h.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)],
                         [onnx.numpy_helper.from_array(np.zeros((2, 2, 1, 1), np.float32), "kernel"),
                          onnx.numpy_helper.from_array(np.zeros((1, 2, 4, 4), np.float32), "offsets")])
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", 17), h.make_opsetid("com.example", 1)])
    path = tmp_path / "mixed.onnx"
    onnx.save(model, path)
    with pytest.raises(ConversionError) as info:
        convert(path)
    text = str(info.value)
    assert text.startswith(str(path)) and "2 nodes" in text
    assert "Fancy 'custom' (an op of domain 'com.example')" in text
    assert "DeformConv 'warp' (not supported)" in text


def test_ops_without_a_kind_of_their_own_convert(tmp_path: Path) -> None:
    """CumSum and TopK (refused before they had numpy implementations) now run, per sample."""
    net = convert(FIXTURES / "onnx_unknown_op17.onnx")
    assert "CumSum '/CumSum'" in net.source
    x = np.random.default_rng(0).normal(size=(3,) + tuple(net.input.output_shape)).astype(np.float32)
    together = net[-1](x)
    alone = np.concatenate([net[-1](x[i:i + 1]) for i in range(3)])
    np.testing.assert_array_equal(together, alone)


def test_batch_mixing_reshape_runs_one_sample_at_a_time(tmp_path: Path) -> None:
    h = onnx.helper
    nodes = [h.make_node("Reshape", ["x", "flat"], ["y"], name="flatten_all")]
    graph = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["n", 3])],
                         [h.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)],
                         [onnx.numpy_helper.from_array(np.array([-1], np.int64), "flat")])
    path = tmp_path / "mix.onnx"
    onnx.save(h.make_model(graph, opset_imports=[h.make_opsetid("", 17)]), path)
    net = convert(path)
    assert "runs one sample at a time" in net.source and "flatten_all" in net.source
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    # Each sample alone is a batch of one: (1, 3) reshaped to (3,).
    np.testing.assert_array_equal(net[-1](x), x)
    assert net[-1].output_shape == (3,)


def test_truncated_and_random_onnx(tmp_path: Path) -> None:
    data = (FIXTURES / "onnx_rnn_op17.onnx").read_bytes()
    cut = tmp_path / "cut.onnx"
    cut.write_bytes(data[: len(data) // 3])
    noise = tmp_path / "noise.onnx"
    noise.write_bytes(np.random.default_rng(1).bytes(3000))
    for path in (cut, noise):
        with pytest.raises(FileFormatError, match=path.name):
            convert(path)


def _symbolic_cnn(tmp_path: Path) -> Path:
    """Conv, BatchNorm, Relu, MaxPool, global pooling, Gemm on a 3 x H x W input."""
    h, nh = onnx.helper, onnx.numpy_helper
    rng = np.random.default_rng(4)
    inits = [nh.from_array(rng.normal(size=(4, 3, 3, 3)).astype(np.float32), "W"),
             nh.from_array(rng.normal(size=4).astype(np.float32), "b"),
             nh.from_array(rng.normal(size=(4, 5)).astype(np.float32), "G")]
    inits += [nh.from_array(rng.normal(size=4).astype(np.float32), k) for k in ("s", "bb", "m")]
    inits.append(nh.from_array((rng.random(4) + 0.5).astype(np.float32), "v"))
    nodes = [h.make_node("Conv", ["x", "W", "b"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             h.make_node("BatchNormalization", ["c", "s", "bb", "m", "v"], ["n"], name="bn"),
             h.make_node("Relu", ["n"], ["r"], name="relu"),
             h.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2], name="pool"),
             h.make_node("GlobalAveragePool", ["p"], ["g"], name="gap"),
             h.make_node("Flatten", ["g"], ["f"], name="flat"),
             h.make_node("Gemm", ["f", "G"], ["y"], name="fc")]
    graph = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["n", 3, "h", "w"])],
                         [h.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)], inits)
    path = tmp_path / "symbolic.onnx"
    onnx.save(h.make_model(graph, opset_imports=[h.make_opsetid("", 17)]), path)
    return path


def test_symbolic_height_and_width_stay_unknown_and_run_on_any_size(tmp_path: Path) -> None:
    from viewer.net import load, save
    net = convert(_symbolic_cnn(tmp_path))
    assert "one sample at a time" not in net.source
    assert net["conv"].output_shape == (4, None, None) and net["fc"].output_shape == (5,)
    save(net, tmp_path / "net.h5")
    back = load(tmp_path / "net.h5")
    assert back["pool"].output_shape == (4, None, None)
    model = onnx.load(tmp_path / "symbolic.onnx")
    W, b, G, s, bb, m, v = (onnx.numpy_helper.to_array(t).astype(np.float64) for t in model.graph.initializer)
    for shape in [(2, 3, 8, 10), (1, 3, 7, 5)]:
        x = np.random.default_rng(1).normal(size=shape).astype(np.float32)
        # The same net in plain numpy: 3x3 convolution (padding 1), batch norm, ReLU, 2x2 max, mean, matmul.
        xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (1, 1), (1, 1)))
        conv = sum(np.einsum("nchw,oc->nohw", xp[:, :, i:i + shape[2], j:j + shape[3]], W[:, :, i, j])
                   for i in range(3) for j in range(3)) + b[None, :, None, None]
        norm = np.maximum((conv - m[None, :, None, None]) / np.sqrt(v[None, :, None, None] + 1e-5)
                          * s[None, :, None, None] + bb[None, :, None, None], 0)
        hh, ww = shape[2] // 2, shape[3] // 2
        pooled = norm[:, :, :2 * hh, :2 * ww].reshape(shape[0], 4, hh, 2, ww, 2).max(axis=(3, 5))
        want = pooled.mean(axis=(2, 3)) @ G
        np.testing.assert_allclose(back[-1](x), want, rtol=1e-4, atol=1e-5)


def test_integer_division_truncates_toward_zero(tmp_path: Path) -> None:
    h = onnx.helper
    graph = h.make_graph([h.make_node("Div", ["a", "d"], ["y"], name="div")], "g",
                         [h.make_tensor_value_info("a", onnx.TensorProto.INT32, ["n", 4])],
                         [h.make_tensor_value_info("y", onnx.TensorProto.INT32, None)],
                         [onnx.numpy_helper.from_array(np.array([2, -2, 3, 4], np.int32), "d")])
    net = convert(h.make_model(graph, opset_imports=[h.make_opsetid("", 17)]))
    out = net[-1](np.array([[7, 7, -7, -9]], np.int32))
    np.testing.assert_array_equal(out, [[3, -3, -2, -2]])
    assert out.dtype.kind == "i"


def _side_input_model(tmp_path: Path) -> Path:
    """y = x * 2 if rate == 16000 else x * 3, with rate a scalar side input."""
    h, nh = onnx.helper, onnx.numpy_helper
    then = h.make_graph([h.make_node("Mul", ["x", "two"], ["t"], name="double")], "then", [],
                        [h.make_tensor_value_info("t", onnx.TensorProto.FLOAT, None)],
                        [nh.from_array(np.array(2, np.float32), "two")])
    other = h.make_graph([h.make_node("Mul", ["x", "three"], ["e"], name="triple")], "else", [],
                         [h.make_tensor_value_info("e", onnx.TensorProto.FLOAT, None)],
                         [nh.from_array(np.array(3, np.float32), "three")])
    nodes = [h.make_node("Equal", ["rate", "k16"], ["is16"], name="check"),
             h.make_node("If", ["is16"], ["y"], name="branch", then_branch=then, else_branch=other)]
    graph = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["n", 4]),
                                      h.make_tensor_value_info("rate", onnx.TensorProto.INT64, [])],
                         [h.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)],
                         [nh.from_array(np.array(16000, np.int64), "k16")])
    path = tmp_path / "side.onnx"
    onnx.save(h.make_model(graph, opset_imports=[h.make_opsetid("", 17)]), path)
    return path


def test_side_input_values_fold_an_if_into_its_taken_branch(tmp_path: Path) -> None:
    path = _side_input_model(tmp_path)
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    net = convert(path, inputs={"rate": 16000})
    assert [layer.name for layer in net] == ["x", "double"]
    assert "rate=16000" in net.source
    np.testing.assert_array_equal(net[-1](x), 2 * x)
    np.testing.assert_array_equal(convert(path, inputs={"rate": 8000})[-1](x), 3 * x)


def test_side_input_left_open_makes_an_if_run_at_run_time(tmp_path: Path) -> None:
    from viewer.convert.onnx_model import convert_onnx_layout
    from viewer.net.layers.base import evaluate
    net, layout = convert_onnx_layout(_side_input_model(tmp_path))
    assert "one sample at a time" in net.source
    x = np.arange(4, dtype=np.float32).reshape(1, 4)
    for rate, factor in ((16000, 2), (8000, 3)):
        values = evaluate(list(net), layout.feed({"x": x, "rate": np.array(rate)}))
        y = layout.fetch("y", values[net[layout.outputs["y"][0]]])
        np.testing.assert_array_equal(y, factor * x)


def test_side_inputs_wrong_give_one_clear_line(tmp_path: Path) -> None:
    path = _side_input_model(tmp_path)
    with pytest.raises(ConversionError, match=r"--input names \['sr'\], which the graph does not have"):
        convert(path, inputs={"sr": 1})
    with pytest.raises(ConversionError, match=r"--input rate: shape \(2,\) does not fit"):
        convert(path, inputs={"rate": [1, 2]})


def test_convert_command_takes_input_values(tmp_path: Path, capsys) -> None:
    from viewer.convert.command import parse_inputs
    assert parse_inputs(["sr=16000", "state=[[0, 1]]"]) == {"sr": 16000, "state": [[0, 1]]}
    from viewer.errors import StrataError
    with pytest.raises(StrataError, match="not JSON"):
        parse_inputs(["sr=abc"])
    from viewer.cli import main
    out = tmp_path / "net.h5"
    assert main(["convert", str(_side_input_model(tmp_path)), "-o", str(out), "--input", "rate=8000"]) == 0
    from viewer.net import load
    x = np.ones((1, 4), np.float32)
    np.testing.assert_array_equal(load(out)[-1](x), 3 * x)


@pytest.mark.parametrize("model", ["onnx_cnn_op17.onnx", "onnx_cnn_op20.onnx"])
def test_layers_are_named_after_the_modules_the_exporter_recorded(model: str) -> None:
    """TorchScript's /conv2/Conv and torch.export's name_scopes both give the module name."""
    net = convert(FIXTURES / model)
    names = [layer.name for layer in net]
    assert len(set(names)) == len(names)
    assert {"bn0", "conv2", "prelu", "deconv", "ln", "fc1", "fc3"} <= set(names), names
    assert not any(n.startswith(("/", "node_")) for n in names), names
    assert net["conv2"].kind == "Conv2D" and net["prelu"].kind == "PReLU"


def test_names_of_nodes_sharing_a_module() -> None:
    from viewer.convert.onnx_names import layer_names
    h = onnx.helper
    scopes = "pkg.torch.onnx.name_scopes"
    nodes = [h.make_node("Relu", ["x"], ["a"], name="/layer1/0/Relu"),
             h.make_node("Conv", ["a", "w"], ["b"], name="/layer1/0/conv1/Conv"),
             h.make_node("Relu", ["b"], ["c"], name="/layer1/0/Relu_1"),
             h.make_node("Relu", ["c"], ["d"], name="/Relu"),
             h.make_node("Relu", ["d"], ["e"], name="node_relu_3"),
             h.make_node("Relu", ["e"], ["f"])]
    nodes[4].metadata_props.add(key=scopes, value="['', 'layer2', 'relu_3']")
    graph = h.make_graph(nodes, "g", [], [])
    names = layer_names(graph, {"x"})
    assert [names[(n, 0)] for n in range(6)] == ["layer1.0", "layer1.0.conv1", "layer1.0.Relu_1", "Relu",
                                                 "layer2", "f"]


def test_nodes_reading_one_initializer_share_one_copy_in_the_net_and_the_file(tmp_path: Path) -> None:
    import h5py
    from viewer.net import store
    h, nh = onnx.helper, onnx.numpy_helper
    W = np.random.default_rng(0).standard_normal((64, 64)).astype(np.float32)
    nodes = [h.make_node("Gemm", [src, "W"], [dst], transB=1)
             for src, dst in (("x", "h1"), ("h1", "h2"), ("h2", "y"))]
    graph = h.make_graph(nodes, "unrolled", [h.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["n", 64])],
                         [h.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["n", 64])],
                         [nh.from_array(W, "W")])
    net = convert(h.make_model(graph, opset_imports=[h.make_opsetid("", 17)]))
    dense = [layer for layer in net if layer.kind == "Dense"]
    assert len(dense) == 3 and len({id(layer.W) for layer in dense}) == 1
    path = tmp_path / "shared.strata"
    store.save(net, path)
    with h5py.File(path, "r") as f:
        datasets = {f["layers"][layer.name]["W"].id for layer in dense}
    assert len(datasets) == 1 and path.stat().st_size < 2 * W.nbytes
    back = store.load(path)
    assert len({id(layer.W) for layer in back if layer.kind == "Dense"}) == 1
    x = np.random.default_rng(1).standard_normal((2, 64)).astype(np.float32)
    np.testing.assert_allclose(back[-1](x), x @ W.T @ W.T @ W.T, rtol=1e-4, atol=1e-4)


def test_folding_a_vgg_size_weight_built_by_an_op_converts() -> None:
    """A (4096, 25088) float32 weight (411 MB, over fold_bytes=256M) dequantized from the file's
    int8 one: folding only re-shapes the file's own data, so it is not a fold bomb."""
    h, nh = onnx.helper, onnx.numpy_helper
    rng = np.random.default_rng(0)
    Wq = rng.integers(-127, 128, (4096, 25088), dtype=np.int8)
    nodes = [h.make_node("DequantizeLinear", ["Wq", "scale"], ["W"]),
             h.make_node("Gemm", ["x", "W"], ["y"], transB=1, alpha=0.5)]
    graph = h.make_graph(nodes, "vgg_fc6", [h.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["n", 25088])],
                         [h.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["n", 4096])],
                         [nh.from_array(Wq, "Wq"), nh.from_array(np.array(0.01, np.float32), "scale")])
    net = convert(h.make_model(graph, opset_imports=[h.make_opsetid("", 17)]))
    x = rng.standard_normal((1, 25088)).astype(np.float32)
    want = 0.5 * (x.astype(np.float64) @ (Wq.astype(np.float64) * np.float64(np.float32(0.01))).T)
    np.testing.assert_allclose(net[-1](x), want, rtol=1e-4, atol=1e-3)


def test_an_if_without_its_branches_is_refused_in_one_line(tmp_path: Path) -> None:
    # bench/fuzz.py --seed 5 cases 827, 2567, 3997: a node retyped to If, no sub-graphs.
    h = onnx.helper
    nodes = [h.make_node("Constant", [], ["cond"], value=h.make_tensor("c", onnx.TensorProto.BOOL, [], [True])),
             h.make_node("If", ["cond"], ["y"], name="choose")]
    graph = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["n", 2])],
                         [h.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)])
    path = tmp_path / "if.onnx"
    onnx.save(h.make_model(graph, opset_imports=[h.make_opsetid("", 17)]), path)
    with pytest.raises(ConversionError) as info:
        convert(path)
    text = str(info.value)
    assert text.startswith(str(path)) and "\n" not in text
    assert "If 'choose' (If without its then_branch and else_branch sub-graph)" in text


def test_refused_nodes_are_named_once_per_op_and_reason(tmp_path):
    from onnx import TensorProto, helper

    # Five nodes of an op no converter knows, then one Relu: the five share op and reason.
    names = [f"mystery_{i}" for i in range(5)]
    nodes = [helper.make_node("Mystery", [f"v{i}"], [f"v{i + 1}"], name=n, domain="test.strata")
             for i, n in enumerate(names)]
    graph = helper.make_graph(
        nodes, "refusals", [helper.make_tensor_value_info("v0", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("v5", TensorProto.FLOAT, [1, 4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("test.strata", 1)])
    path = tmp_path / "mystery.onnx"
    onnx.save(model, path)
    with pytest.raises(ConversionError) as caught:
        convert(str(path))
    message = str(caught.value)
    assert "\n" not in message
    assert message.count("Mystery") == 1, message
    assert "cannot convert 5 nodes: Mystery 'mystery_0', 'mystery_1', 'mystery_2' and 2 more (" \
        in message, message
