"""If nodes whose condition is known only at run time, and onnxruntime's DynamicQuantizeLSTM,
against onnxruntime's own outputs (tests/fixtures/make_onnx_runtime_ops.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")

from viewer.convert.onnx_model import convert_onnx_layout  # noqa: E402
from viewer.errors import LayerError  # noqa: E402
from viewer.net import store  # noqa: E402
from viewer.net.layers.base import evaluate  # noqa: E402
from viewer.net.layers.operator import Operator  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures"


def _cases(name: str) -> list[tuple[list, list]]:
    with np.load(FIXTURES / f"{name}.npz") as data:
        stored = {k: data[k] for k in data.files}
    cases = []
    for k in range(len({key.split("_")[1] for key in stored})):
        ins = [stored[f"inputs_{k}_{i}"] for i in range(sum(f"inputs_{k}_" in s for s in stored))]
        outs = [stored[f"outputs_{k}_{i}"] for i in range(sum(f"outputs_{k}_" in s for s in stored))]
        cases.append((ins, outs))
    return cases


def _run(net, layout, names: list[str], inputs: list) -> list:
    values = evaluate(list(net), layout.feed(dict(zip(layout.inputs, inputs))))
    layers = {layer.name: layer for layer in net}
    return [layout.fetch(n, values[layers[layout.outputs[n][0]]]) for n in names]


def _relative(got: np.ndarray, want: np.ndarray) -> float:
    return float(np.max(np.abs(got - want)) / np.max(np.abs(want)))


def test_if_on_a_run_time_size_runs_its_taken_branch_as_onnxruntime_does(tmp_path):
    net, layout = convert_onnx_layout(FIXTURES / "onnx_runtime_if.onnx")
    ifs = [layer for layer in net if isinstance(layer, Operator) and layer.op == "If"]
    assert len(ifs) == 1 and "one sample at a time" in net.source
    # The branches differ in rank: the net is converted for the squeezing one, which the MatMul fits.
    assert ifs[0].output_shape == (1, 3)
    (x,), (want,) = _cases("onnx_runtime_if")[0]
    got, = _run(net, layout, ["y"], [x])
    assert got.shape == want.shape and _relative(got, want) < 1e-5
    store.save(net, tmp_path / "if.strata")
    back, = _run(store.load(tmp_path / "if.strata"), layout, ["y"], [x])
    assert np.array_equal(back, got)


def test_if_taking_the_branch_the_net_was_not_converted_for_says_so():
    net, layout = convert_onnx_layout(FIXTURES / "onnx_runtime_if.onnx")
    with pytest.raises(LayerError, match=r"the If took a branch whose output has 3 axes; the net was "
                                         r"converted for the branch giving 2"):
        _run(net, layout, ["y"], [np.ones((1, 3, 4), np.float32)])


@pytest.mark.parametrize("case", [0, 1], ids=["then", "else"])
def test_if_whose_branches_agree_in_rank_runs_either(case):
    net, layout = convert_onnx_layout(FIXTURES / "onnx_runtime_if_same_rank.onnx")
    (x,), (want,) = _cases("onnx_runtime_if_same_rank")[case]
    got, = _run(net, layout, ["y"], [x])
    assert got.shape == want.shape and _relative(got, want) < 1e-6


def test_an_if_layer_whose_branch_reads_an_unknown_name_is_refused():
    net, _ = convert_onnx_layout(FIXTURES / "onnx_runtime_if_same_rank.onnx")
    layer = next(layer for layer in net if isinstance(layer, Operator) and layer.op == "If")
    config = layer.config()
    config["attrs"]["then_branch"]["nodes"][0][1] = ["nowhere"]
    with pytest.raises(LayerError, match=r"a branch's Squeeze reads \['nowhere'\], which nothing before it makes"):
        Operator.from_parts(layer.prev, layer.name, config, layer.params())


@pytest.mark.parametrize("case", [0, 1])
def test_dynamic_quantize_lstm_is_onnxruntimes_integer_arithmetic(case):
    net, layout = convert_onnx_layout(FIXTURES / "onnx_dq_lstm.onnx")
    (x,), wants = _cases("onnx_dq_lstm")[case]
    gots = _run(net, layout, ["Y", "Y_h", "Y_c"], [x])
    for got, want in zip(gots, wants):
        assert got.shape == want.shape and _relative(got, want) < 1e-6
