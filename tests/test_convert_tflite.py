"""TFLite files -> Strata nets, checked against the TFLite interpreter's stored outputs.

The fixtures (tests/fixtures/make_tflite.py, tensorflow-cpu 2.21) store every
tensor an operator wrote; for int8 models the integers of the builtin
kernels. No TensorFlow here.
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys

import numpy as np
import pytest

from viewer.convert import convert, guess_format
from viewer.convert.tflite_model import short_name
from viewer.errors import ConversionError, FileFormatError
from viewer.net import load, save
from viewer.net.layers.base import evaluate
from viewer.net.layers.quantized import recover
from viewer.net.quantization import quantization_of

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")
FLOAT = ("tflite_cnn", "tflite_ops", "tflite_lstm")
HYBRID = ("tflite_hybrid_dynamic", "tflite_hybrid_pt_dynamic_per_tensor")  # int8 weights, float data
INT8 = ("tflite_cnn_int8_per_channel", "tflite_cnn_int8_per_tensor", "tflite_act_int8_per_channel",
        "tflite_deconv_int8_per_channel")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _fixture(name):
    net = convert(os.path.join(FIXTURES, name + ".tflite"))
    with np.load(os.path.join(FIXTURES, name + ".npz"), allow_pickle=False) as f:
        ref = {k: f[k] for k in f.files}
    return net, ref


def _layers(net, ref):
    """The layer for each stored tensor. TFLite tensor names need not be unique (an int8
    tensor and its DEQUANTIZE'd copy may share one); Strata's then end in #2, #3, ...,
    and the one whose output is quantized like the tensor is its layer."""
    out = []
    for i, full in enumerate(ref["layer_names"]):
        name = short_name(str(full))
        candidates = [layer for layer in net if layer.name == name or layer.name.startswith(name + "#")]
        quantized = f"quantized_{i}" in ref
        out.append(next(layer for layer in candidates if (quantization_of(layer) is not None) == quantized))
    return out


def _pairs(net, ref, values):
    """(layer, index in the reference, Strata's output, the interpreter's) for every stored tensor."""
    for i, layer in enumerate(_layers(net, ref)):
        got, want = values[layer], ref[f"output_{i}"]
        if got.shape != want.shape:  # Keras' Tensordot: TFLite merges the batch with the rows
            want = want.reshape(got.shape)
        yield layer, i, got, want


@pytest.mark.parametrize("name", FLOAT + HYBRID)
def test_float_nets_match_the_interpreter_at_every_tensor(name):
    net, ref = _fixture(name)
    values = evaluate(list(net), ref["input_0"])
    seen = 0
    for layer, _, got, want in _pairs(net, ref, values):
        scale = max(float(np.abs(want).max()), 1e-30)
        assert np.abs(got - want).max() / scale < 1e-5, layer.name
        seen += 1
    assert seen == len(ref["layer_names"]) >= 3


@pytest.mark.parametrize("name", INT8)
def test_int8_layers_compute_the_interpreters_integers(name):
    """Each layer fed the interpreter's own input integers returns exactly its output integers.

    MEAN keeping its axes (the squeeze of a squeeze-and-excitation block) is the
    exception: it may be one step off the x86 kernel (at most one, checked);
    every other MEAN is exact.
    """
    expected = {"QConv2D", "QDense", "QArithmetic", "QAvgPool2D", "QSoftmax", "MaxPool2D", "Concatenate",
                "Tile", "Pad"} if "cnn" in name else {"QConv2D", "QPReLU", "QConv2DTranspose"} if "deconv" in name \
        else {"QConv2D", "QLookup", "QArithmetic", "Quantize"}
    net, ref = _fixture(name)
    index = {layer.name: i for i, layer in enumerate(_layers(net, ref))}
    kinds = set()
    for layer in net:
        if layer.name not in index or not all(p.name in index for p in layer.inputs):
            continue
        ins = tuple(ref[f"output_{index[p.name]}"] for p in layer.inputs)
        got = layer.forward(ins if layer.is_merge else ins[0])
        info = quantization_of(layer)
        if info is None:  # DEQUANTIZE exactly as the interpreter rounds it; float ops within 1e-5
            want = ref[f"output_{index[layer.name]}"]
            if layer.kind == "Dequantize":
                np.testing.assert_array_equal(got, want, err_msg=layer.name)
            else:
                assert np.abs(got - want).max() <= 1e-5 * np.abs(want).max(), layer.name
            continue
        diff = np.abs(recover(got, info["scale"], info["zero_point"])
                      - ref[f"quantized_{index[layer.name]}"].astype(np.int64))
        assert diff.max() <= (1 if layer.kind == "QMean" and layer.keepdims else 0), layer.name
        kinds.add(layer.kind)
    assert expected <= kinds


@pytest.mark.parametrize("name", INT8)
def test_int8_nets_end_to_end(name):
    """Whole nets from the real input: exact (the CNNs, MEAN without keepdims included),
    within one step from a MEAN keeping its axes on."""
    net, ref = _fixture(name)
    values = evaluate(list(net), ref["input_0"])
    after_mean = False
    for layer, i, got, _ in _pairs(net, ref, values):
        after_mean |= layer.kind == "QMean" and layer.keepdims
        info = quantization_of(layer)
        if info is None:  # the final DEQUANTIZE
            continue
        diff = np.abs(recover(got, info["scale"], info["zero_point"]) - ref[f"quantized_{i}"].astype(np.int64))
        assert diff.max() <= (1 if after_mean else 0), layer.name
    assert after_mean == ("act" in name)


@pytest.mark.parametrize("name", HYBRID)
def test_hybrid_layers_compute_the_interpreters_floats_exactly(name):
    """Dynamic-range quantized ops, fed the interpreter's own input, return its output bit for bit:
    the input quantized on the fly per sample (convolutions) or per row (fully connected)."""
    net, ref = _fixture(name)
    index = {layer.name: i for i, layer in enumerate(_layers(net, ref))}
    seen = set()
    for layer in net:
        if layer.kind.startswith("Hybrid") and layer.inputs[0].name in index:
            got = layer.forward(ref[f"output_{index[layer.inputs[0].name]}"])
            after = next(n for n in net if layer in n.inputs)  # the fused activation, when there is one
            if layer.name not in index:
                got = after.forward(got)
            want = ref[f"output_{index[layer.name if layer.name in index else after.name]}"]
            np.testing.assert_array_equal(got, want.reshape(got.shape), err_msg=layer.name)
            seen.add((layer.kind, layer.asymmetric, layer.groups if layer.kind == "HybridConv2D" else 1))
    if "per_tensor" in name:  # symmetric input quantisation: one weight scale per tensor
        assert seen == {("HybridConv2D", False, 1), ("HybridDense", True, 1)}
    else:  # asymmetric: per-channel conv and depthwise, fully connected with asymmetric_quantize_inputs
        assert seen == {("HybridConv2D", True, 1), ("HybridConv2D", True, 128), ("HybridDense", True, 1)}


def test_hybrid_layers_say_what_is_quantized():
    net, _ = _fixture("tflite_hybrid_dynamic")
    rows = {row.name: row for row in net.summary()}
    text = rows["tflite_hybrid_1/dw_1/BiasAdd"].quantization
    assert text.startswith("int8 weights, float32 activations; weights per channel (128 scales")
    assert text.endswith("input quantized per sample (asymmetric) as it runs")
    assert rows["tflite_hybrid_1/conv_1/Relu"].quantization == ""  # the fused ReLU: float in, float out


def test_int8_lookups_cover_the_element_wise_ops():
    net, _ = _fixture("tflite_act_int8_per_channel")
    ops = {layer.op for layer in net if layer.kind == "QLookup"}
    assert ops == {"logistic", "tanh", "gelu", "hard_swish", "leaky_relu"}


def test_quantized_nets_round_trip_through_the_net_file(tmp_path):
    net, ref = _fixture("tflite_cnn_int8_per_channel")
    save(net, tmp_path / "q.h5")
    back = load(tmp_path / "q.h5")
    x = ref["input_0"]
    np.testing.assert_array_equal(back[-1](x), net[-1](x))
    assert back["tflite_cnn_1/conv1_1/Relu"].W.dtype == np.int8
    assert net.input.data_format == "channels_last" and net.input.output_shape == (12, 12, 3)


def test_int8_input_gets_a_quantize_layer():
    net, _ = _fixture("tflite_cnn_int8_per_tensor")
    assert net[0].kind == "Input" and net[1].kind == "Quantize"
    assert net[1].name == "serving_default_image:0" and net[0].name == "serving_default_image:0_real"


def test_the_format_is_sniffed_from_the_content(tmp_path):
    renamed = tmp_path / "model.bin"
    renamed.write_bytes(_bytes())
    assert guess_format(renamed) == "tflite"
    assert len(convert(renamed, source_format="tflite")) == 4
    with pytest.raises(FileFormatError, match="not a readable TFLite file: no 'TFL3' file identifier"):
        convert(os.path.join(FIXTURES, "keras3_cnn.h5"), source_format="tflite")


def test_info_shows_quantisation_and_convert_writes_a_net(tmp_path):
    out = tmp_path / "net.h5"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    run = subprocess.run([sys.executable, "main.py", "convert", os.path.join(FIXTURES, INT8[0] + ".tflite"),
                          "-o", str(out)], cwd=ROOT, capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "quantisation" in run.stdout
    assert "tflite_cnn_1/conv1_1/Relu: int8, scale 0.0175632, zero point -128; weights per channel" \
        in run.stdout
    info = subprocess.run([sys.executable, "main.py", "info", str(out)], cwd=ROOT, capture_output=True,
                          text=True, env=env, timeout=120)
    assert info.returncode == 0 and "QConv2D" in info.stdout and "zero point -128" in info.stdout


# -- hostile and broken files --------------------------------------------------------------

def _bytes(name="tflite_lstm"):
    with open(os.path.join(FIXTURES, name + ".tflite"), "rb") as fh:
        return bytearray(fh.read())


def _fails(tmp_path, data, match, error=FileFormatError):
    path = tmp_path / "bad.tflite"
    path.write_bytes(bytes(data))
    with pytest.raises(error, match=match) as info:
        convert(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_truncated_files_give_one_line(tmp_path):
    data = _bytes()
    for cut in (3, 7, 40, len(data) // 2, len(data) - 9):
        _fails(tmp_path, data[:cut], "not a readable TFLite file|damaged TFLite file|outside the file|"
                                     "no 'TFL3'")


def test_root_offset_and_vtable_outside_the_buffer(tmp_path):
    data = _bytes()
    data[0:4] = struct.pack("<I", len(data) + 100)
    _fails(tmp_path, data, "Model table lies outside the file")
    data = _bytes()
    root = struct.unpack_from("<I", data, 0)[0]
    data[root:root + 4] = struct.pack("<i", -(1 << 30))  # vtable far past the end
    _fails(tmp_path, data, "Model vtable lies outside the file")


def test_huge_declared_shape_is_refused_without_allocating(tmp_path):
    data = _bytes()
    # the LSTM's first weight tensor (6, 5): declare it (600000, 500000)
    at = data.find(struct.pack("<iii", 2, 6, 5))
    assert at > 0
    data[at + 4:at + 12] = struct.pack("<ii", 600000, 500000)
    _fails(tmp_path, data, r"shape \[600000, 500000\] has 120 bytes of data", error=(FileFormatError,
                                                                                    ConversionError))


def test_unsupported_operators_are_listed(tmp_path):
    data = _bytes()
    # Rename the LSTM's operator code (44) to SVDF (27): refused by name, with its tensor.
    from viewer.convert.tflite_flatbuffer import root
    code = root(bytes(data), "Model").tables(1, "OperatorCode")[0]
    at = code._field(3)
    assert struct.unpack_from("<i", data, at)[0] == 44
    data[at:at + 4] = struct.pack("<i", 27)
    data[code._field(0)] = 27  # the deprecated one-byte code too
    _fails(tmp_path, data, r"cannot convert 1 operator\(s\): SVDF \(tfl.unidirectional_sequence_lstm\)",
           error=ConversionError)


def test_random_damage_gives_one_line_errors(tmp_path):
    """Bytes changed or cut anywhere: a net or one StrataError line, never another exception."""
    from viewer.errors import StrataError

    rng = np.random.default_rng(5)
    data = _bytes("tflite_cnn_int8_per_channel")
    path = tmp_path / "damaged.tflite"
    for _ in range(80):
        damaged = bytearray(data)
        for _ in range(int(rng.integers(1, 8))):
            damaged[int(rng.integers(0, len(damaged)))] = int(rng.integers(0, 256))
        if rng.random() < 0.2:
            damaged = damaged[:int(rng.integers(0, len(damaged)))]
        path.write_bytes(bytes(damaged))
        try:
            convert(path)
        except StrataError as exc:
            assert "\n" not in str(exc) and str(path) in str(exc)
