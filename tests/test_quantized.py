"""The integer arithmetic of quantized layers against hand-written formulas.

``QUANTIZED_EXAMPLES`` has one example per kind of quantized.py,
quantized_ops.py, quantized_hybrid.py and resampling.py, in the form of test_store.py's ``EXAMPLES``.
"""

from __future__ import annotations

import numpy as np
import pytest

from viewer.errors import LayerError
from viewer.net import fixed_point as fp
from viewer.net.layers import Conv2D, Dense, Input
from viewer.net.layers.conv_extra import Conv2DTranspose
from viewer.net.layers.quantized import (Dequantize, QArithmetic, QAvgPool2D, QConv2D, QDense, Quantize,
                                         dequantize, recover)
from viewer.net.layers.quantized_hybrid import HybridConv2D, HybridDense, asymmetric_quantize, symmetric_quantize
from viewer.net.layers.quantized_ops import QConv2DTranspose, QLookup, QMean, QPReLU, QSoftmax, lookup_table
from viewer.net.layers.resampling import Resize2D, Tile
from viewer.net.quantization import quantization_of

RNG = np.random.default_rng(13)
QUANT = {"in_scale": 0.05, "in_zero": -3, "out_scale": 0.1, "out_zero": 5}


def _image():
    return Input(shape=(5, 6, 3), name="in", data_format="channels_last")


def _pair(make):
    first = _image()
    return make(first, Quantize(first, name="second", out_scale=0.03, out_zero=4))


def _ints(*shape, low=-128, high=128):
    return RNG.integers(low, high, size=shape)


QUANTIZED_EXAMPLES = {
    "Quantize": lambda: Quantize(_image(), name="L", out_scale=0.02, out_zero=-7),
    "Dequantize": lambda: Dequantize(_image(), name="L", in_scale=0.02, in_zero=-7),
    "QConv2D": lambda: QConv2D(_image(), name="L", W=_ints(4, 3, 3, 3).astype(np.int8),
                               w_scale=np.linspace(0.001, 0.004, 4), b=_ints(4, low=-999, high=999).astype(np.int32),
                               stride=(2, 1), padding="same", act_min=-20, **QUANT),
    "QDense": lambda: QDense(Input(shape=(6,), name="in"), name="L", W=_ints(6, 3).astype(np.int8),
                             w_scale=[0.003], b=_ints(3).astype(np.int32), rounding="reference", **QUANT),
    "QArithmetic": lambda: _pair(lambda a, b: QArithmetic((a, b), name="L", op="sub", in_scale=[0.05, 0.03],
                                                          in_zero=[-3, 4], out_scale=0.1, out_zero=5)),
    "QAvgPool2D": lambda: QAvgPool2D(_image(), name="L", pool_size=3, stride=2, padding="same", **QUANT),
    "QMean": lambda: QMean(_image(), name="L", axes=[1, 2], **QUANT),
    "QSoftmax": lambda: QSoftmax(Input(shape=(7,), name="in"), name="L", beta=1.5, in_scale=0.1, in_zero=3,
                                 out_scale=1 / 256, out_zero=-128),
    "QLookup": lambda: QLookup(_image(), name="L", table=lookup_table(np.tanh, 0.05, -3, 1 / 128, 0), op="tanh",
                               in_scale=0.05, in_zero=-3, out_scale=1 / 128, out_zero=0),
    "QPReLU": lambda: QPReLU(_image(), name="L", alpha=_ints(1, 1, 3).astype(np.int8), alpha_scale=0.01,
                             alpha_zero=2, **QUANT),
    "QConv2DTranspose": lambda: QConv2DTranspose(_image(), name="L", W=_ints(3, 2, 3, 3).astype(np.int8),
                                                 w_scale=[0.002, 0.003], b=_ints(2).astype(np.int32), stride=2,
                                                 crop=((1, 0), (0, 1)), output_padding=(1, 0), **QUANT),
    "HybridConv2D": lambda: HybridConv2D(_image(), name="L", W=_ints(3, 1, 3, 3).astype(np.int8),
                                         w_scale=np.linspace(0.01, 0.03, 3), b=np.arange(3, dtype=np.float32),
                                         groups=3, padding="same", rescale="stepwise"),
    "HybridDense": lambda: HybridDense(Input(shape=(6,), name="in"), name="L", W=_ints(6, 3).astype(np.int8),
                                       w_scale=[0.02], b=np.ones(3, np.float32), asymmetric=False),
    "Resize2D": lambda: Resize2D(_image(), name="L", size=(7, 9), mode="bilinear", half_pixel_centers=True),
    "Tile": lambda: Tile(_image(), name="L", reps=(2, 1, 3)),
}


def _q(shape, scale, zero):
    """Dequantized values of random int8 integers, and the integers."""
    q = _ints(*shape)
    return dequantize(q, scale, zero), q


def test_fixed_point_helpers_match_their_definitions():
    assert fp.quantize_multiplier(0.5) == (1 << 30, 0)
    assert fp.quantize_multiplier(0.75) == (3 << 29, 0)
    assert fp.quantize_multiplier(3.0) == (3 << 29, 2)
    m, s = fp.quantize_multiplier(0.0123)
    assert abs(m * 2.0 ** (s - 31) - 0.0123) < 1e-9
    # 2 * a * b / 2**32 = +-1.5: the nudge (2**30, or 1 - 2**30 below zero) rounds both up
    assert fp.saturating_rounding_doubling_high_mul(np.array([3, -3]), 1 << 30).tolist() == [2, -1]
    assert fp.rounding_divide_by_pot(np.array([5, -5, 6, -6, 7]), 1).tolist() == [3, -3, 3, -3, 4]
    assert fp.multiply_by_quantized_multiplier_gemm(np.array([-5, 5]), 1 << 30, -0).tolist() == [-2, 3]
    assert fp.rounded_mean(np.array([7, -7, 5]), 2).tolist() == [4, -4, 3]
    x = np.arange(-1000, 1000)
    m, s = fp.quantize_multiplier(0.37)
    err = np.abs(fp.multiply_by_quantized_multiplier(x, m, s) - x * 0.37)
    # two roundings (the high multiply, then the shift by one bit): at most 0.5 + 0.25
    assert err.max() <= 0.75 + 1e-6 and err.max() > 0.5


def test_qconv2d_is_the_integer_convolution_requantised():
    layer = QUANTIZED_EXAMPLES["QConv2D"]()
    x, q = _q((2, 5, 6, 3), 0.05, -3)
    got = recover(layer(x), 0.1, 5)
    acc = Conv2D(layer.prev, name="f", W=layer.W.astype(np.float64), stride=(2, 1), padding="same",
                 data_format="channels_last").forward((q + 3).astype(np.float64))
    acc = np.rint(acc).astype(np.int64) + layer.b
    real = 0.05 * layer.w_scale.astype(np.float64) / 0.1
    want = np.clip(np.floor(acc * real + 0.5) + 5, -20, 127)  # ties upward, as the matrix kernels
    np.testing.assert_array_equal(got, want)


def test_qdense_and_qarithmetic_against_formulas():
    dense = QUANTIZED_EXAMPLES["QDense"]()
    x, q = _q((4, 6), 0.05, -3)
    acc = (q + 3) @ dense.W.astype(np.int64) + dense.b
    want = np.clip(fp.round_half_away(acc * (0.05 * 0.003 / 0.1)) + 5, -128, 127)
    np.testing.assert_array_equal(recover(dense(x), 0.1, 5), want)
    sub = QArithmetic((_image(), Input(shape=(5, 6, 3), name="b")), name="L", op="sub", in_scale=[0.05, 0.03],
                      in_zero=[-3, 4], out_scale=0.1, out_zero=5)
    (a, qa), (b, qb) = _q((2, 5, 6, 3), 0.05, -3), _q((2, 5, 6, 3), 0.03, 4)
    got = recover(sub.forward((a, b)), 0.1, 5)
    real = np.clip(fp.round_half_away((0.05 * (qa + 3) - 0.03 * (qb - 4)) / 0.1) + 5, -128, 127)
    assert np.max(np.abs(got - real)) <= 1  # 20 bits of headroom: off by one only at ties


def test_qavgpool_rounds_the_mean_of_the_cells_inside():
    layer = QUANTIZED_EXAMPLES["QAvgPool2D"]()
    x, q = _q((1, 5, 6, 3), 0.05, -3)
    got = recover(layer(x), 0.1, 5)
    # bottom-right window of "same" 3x3 stride 2 on 5x6: rows 3..4, columns 4..5
    cells = q[0, 3:5, 4:6, :].reshape(-1, 3)
    want = [int(np.sign(s) * ((abs(s) + len(cells) // 2) // len(cells))) for s in cells.sum(0)]
    assert got[0, 2, 2].tolist() == want


def test_qsoftmax_sums_to_one_in_output_steps():
    layer = QUANTIZED_EXAMPLES["QSoftmax"]()
    x, q = _q((3, 7), 0.1, 3)
    got = layer(x)
    real = np.exp(1.5 * 0.1 * (q - q.max(1, keepdims=True)))
    real /= real.sum(1, keepdims=True)
    assert np.max(np.abs(got - real)) <= 1 / 256


def test_lookup_is_the_rounded_function_of_each_integer():
    layer = QUANTIZED_EXAMPLES["QLookup"]()
    x, q = _q((2, 5, 6, 3), 0.05, -3)
    want = np.clip(fp.round_half_away(np.tanh(0.05 * (q + 3)) * 128), -128, 127)
    assert np.max(np.abs(recover(layer(x), 1 / 128, 0) - want)) <= 1  # float32 ties may round apart
    assert np.mean(recover(layer(x), 1 / 128, 0) == want) > 0.99
    with pytest.raises(LayerError, match="one value per int8 integer"):
        QLookup(_image(), name="L", table=np.zeros(10, np.int16), **QUANT)


def test_quantize_rounds_half_away_and_requantises():
    layer = Quantize(Input(shape=(4,), name="in"), name="q", out_scale=0.5, out_zero=1)
    got = layer(np.array([[0.25, -0.25, 100.0, -0.74]], np.float32))
    assert recover(got, 0.5, 1).tolist() == [[2, 0, 127, 0]]
    requant = Quantize(layer, name="r", in_scale=0.5, in_zero=1, out_scale=0.25, out_zero=0)
    assert recover(requant(np.array([[0.25, -0.25, 1.0, -0.74]], np.float32)), 0.25, 0).tolist() == \
        [[2, -2, 4, -2]]


def test_quantization_of_follows_value_moving_layers():
    from viewer.net.layers import Reshape
    conv = QUANTIZED_EXAMPLES["QConv2D"]()
    flat = Reshape(conv, name="flat", target_shape=(-1,))
    assert quantization_of(conv)["weight_scales"].size == 4
    assert quantization_of(flat) == {"dtype": "int8", "scale": float(np.float32(0.1)), "zero_point": 5}
    assert quantization_of(Dense(flat, name="d", W=np.ones((36, 2)))) is None


def test_bad_quantisation_is_refused():
    with pytest.raises(LayerError, match="bad quantisation"):
        Quantize(_image(), name="q", out_scale=0.0, out_zero=0)
    with pytest.raises(LayerError, match="outside int8"):
        QDense(Input(shape=(2,), name="in"), name="L", W=np.full((2, 2), 300), w_scale=[1.0], **QUANT)


def test_resize_follows_tflite_coordinates():
    x = np.arange(4, dtype=np.float32).reshape(1, 1, 4, 1)
    half = Resize2D(Input(shape=(1, 4, 1), name="in"), name="r", size=(1, 8), mode="bilinear",
                    half_pixel_centers=True)
    # output cell i samples (i + 0.5) / 2 - 0.5, clamped below at 0
    want = np.clip((np.arange(8) + 0.5) / 2 - 0.5, 0, 3)
    np.testing.assert_allclose(half(x)[0, 0, :, 0], want, rtol=1e-6)
    nearest = Resize2D(Input(shape=(1, 4, 1), name="in"), name="n", size=(1, 6), mode="nearest")
    assert nearest(x)[0, 0, :, 0].tolist() == [0, 0, 1, 2, 2, 3]


def test_inputs_are_quantized_on_the_fly_as_the_hybrid_kernels_do():
    # symmetric: scale max|x| / 127, values rounded half away from zero
    q, scale = symmetric_quantize(np.array([[0.5, -1.27, 0.005], [0.0, 0.0, 0.0]], np.float32))
    assert q.tolist() == [[50, -127, 1], [0, 0, 0]] and scale.tolist() == [np.float32(0.01), 1.0]
    # asymmetric over [-64/256, 191/256]: 1/256 a step, zero point -64; -64 + 1.5 rounds away from zero to -63;
    # a row of positives gets zero point -128
    row = np.array([-64, 191, 0, 1.5, 128], np.float32) / 256
    q, scale, zero = asymmetric_quantize(np.stack([row, np.full(5, 2, np.float32)]))
    assert q[0].tolist() == [-128, 127, -64, -63, 64] and zero.tolist() == [-64, -128]
    assert scale[0] == 1 / 256 and q[1].tolist() == [127] * 5
    q, scale, zero = asymmetric_quantize(np.zeros((1, 3), np.float32))
    assert q.tolist() == [[0, 0, 0]] and scale.tolist() == [1.0] and zero.tolist() == [0]


def test_hybrid_dense_rescales_each_row_with_its_own_scale():
    W = np.array([[1, -2], [3, 4]], np.int8)
    layer = HybridDense(Input(shape=(2,), name="in"), name="L", W=W, w_scale=[0.5, 0.25],
                        b=np.array([1.0, -1.0], np.float32))
    x = np.array([[1.27, -0.635], [0.0, 0.0]], np.float32)  # row scales 0.01 and 1: q = [127, -64], [0, 0]
    acc = np.array([127 - 3 * 64, -2 * 127 - 4 * 64])
    want = acc * np.array([0.5, 0.25]) * 0.01 + np.array([1.0, -1.0])
    np.testing.assert_allclose(layer(x)[0], want, rtol=1e-6)
    assert layer(x)[1].tolist() == [1.0, -1.0]


def test_mean_rescales_the_centred_sum_in_fixed_point():
    # 4 values of scale 0.5, zero point 2, into scale 0.25, zero point -1: multiplier 0.5 / (4 * 0.25)
    # = 0.5 exactly, so the output integer is (sum - 4 * 2) / 2 (4.5 rounds up), minus 1
    layer = QMean(Input(shape=(4,), name="in"), name="L", axes=[1], in_scale=0.5, in_zero=2,
                  out_scale=0.25, out_zero=-1)
    q = np.array([[2, 3, 5, 7], [0, 0, 1, 1]])  # centred sums 9 and -6
    got = recover(layer(dequantize(q, 0.5, 2)), 0.25, -1)
    assert got.tolist() == [5 - 1, -3 - 1]


def test_prelu_rescales_each_side_with_its_own_multiplier():
    # input scale 0.5 zero 0 -> output scale 0.25 zero 0: identity x2; slopes scale 0.125 zero 0:
    # the negative side is x * alpha * 0.5 * 0.125 / 0.25 = x * alpha / 4
    layer = QPReLU(Input(shape=(3,), name="in"), name="L", alpha=np.array([4, 2, 6], np.int8), alpha_scale=0.125,
                   alpha_zero=0, in_scale=0.5, in_zero=0, out_scale=0.25, out_zero=0)
    q = np.array([[3, -3, -2]])
    assert recover(layer(dequantize(q, 0.5, 0)), 0.25, 0).tolist() == [[6, -2, -3]]  # -1.5 rounds away


def test_transposed_conv_sums_are_the_float_layers_on_integers():
    W = _ints(3, 2, 3, 3).astype(np.int8)
    layer = QConv2DTranspose(_image(), name="L", W=W, w_scale=[1.0, 1.0], stride=2, in_scale=1.0, in_zero=0,
                             out_scale=1.0, out_zero=0, act_min=-128, act_max=127)
    q = _ints(2, 5, 6, 3, low=-3, high=4)
    want = Conv2DTranspose(_image(), name="f", W=W.astype(np.float64), stride=2, data_format="channels_last")(q)
    np.testing.assert_array_equal(layer(q.astype(np.float32)), np.clip(want, -128, 127))
