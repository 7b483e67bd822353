"""viewer.net.operators against hand-written formulas of the ONNX spec."""

from __future__ import annotations

import numpy as np

from viewer.net.operators import compute


def test_quantize_rounds_half_to_even_and_saturates():
    x = np.array([0.5, 1.5, 2.5, -0.5, 300.0, -300.0], np.float32)
    q, = compute("QuantizeLinear", [x, np.float32(1.0), np.int8(0)], {}, 19)
    np.testing.assert_array_equal(q, [0, 2, 2, 0, 127, -128])
    assert q.dtype == np.int8


def test_qlinear_matmul_is_the_spec_integer_arithmetic():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, size=(3, 5)).astype(np.uint8)
    b = rng.integers(0, 256, size=(5, 2)).astype(np.uint8)
    sa, za, sb, zb, sy, zy = np.float32(0.02), np.uint8(120), np.float32(0.01), np.uint8(130), \
        np.float32(0.05), np.uint8(128)
    y, = compute("QLinearMatMul", [a, sa, za, b, sb, zb, sy, zy], {}, 10)
    acc = (a.astype(np.int64) - 120) @ (b.astype(np.int64) - 130)
    want = np.clip(np.rint(acc * (0.02 * 0.01 / 0.05)) + 128, 0, 255)
    np.testing.assert_array_equal(y, want)
    assert y.dtype == np.uint8


def test_resize_nearest_modes_and_linear():
    x = np.arange(4, dtype=np.float32).reshape(1, 1, 1, 4)
    scales = np.array([1, 1, 1, 2], np.float32)
    near, = compute("Resize", [x, None, scales], {"mode": "nearest", "nearest_mode": "floor",
                                                  "coordinate_transformation_mode": "asymmetric"}, 19)
    np.testing.assert_array_equal(near[0, 0, 0], [0, 0, 1, 1, 2, 2, 3, 3])
    lin, = compute("Resize", [x, None, scales], {"mode": "linear"}, 19)
    # half_pixel: source x = (o + 0.5) / 2 - 0.5, clamped at the edges.
    np.testing.assert_allclose(lin[0, 0, 0], [0, 0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3])


def test_pooling_dilation_and_same_lower():
    x = np.arange(10, dtype=np.float32).reshape(1, 1, 10)
    y, _ = compute("MaxPool", [x], {"kernel_shape": [2], "dilations": [3]}, 12)
    np.testing.assert_array_equal(y[0, 0], [3, 4, 5, 6, 7, 8, 9])
    avg, = compute("AveragePool", [x], {"kernel_shape": [3], "strides": [2], "auto_pad": "SAME_LOWER"}, 19)
    # Output 5 cells; total padding 1 goes before; padding is not counted.
    np.testing.assert_allclose(avg[0, 0], [0.5, 2, 4, 6, 8])
