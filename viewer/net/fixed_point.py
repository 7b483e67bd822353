"""The integer arithmetic of TFLite's quantized kernels, vectorised with numpy.

A quantized kernel accumulates in int32 and rescales the sum to the output's
scale with a fixed-point multiplier: a real factor ``m`` becomes an int32
``multiplier`` and a power-of-two ``shift`` (``m ~ multiplier * 2**(shift -
31)``), applied by a rounding doubling high multiply and a rounding right
shift. Reproducing the interpreter's results to the last integer means
reproducing these roundings exactly; the functions here follow the
definitions of gemmlowp's fixed-point helpers as TFLite uses them (the
default "double rounding" build).

All functions take and return int64 arrays holding int32 values.
"""

from __future__ import annotations

import math

import numpy as np

INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1


def quantize_multiplier(real: float) -> tuple[int, int]:
    """``real`` as (int32 multiplier, shift) with ``real ~ multiplier * 2**(shift - 31)``."""
    if real == 0.0:
        return 0, 0
    fraction, shift = math.frexp(real)
    q = _round_half_away(fraction * (1 << 31))
    if q == 1 << 31:
        q //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    if shift > 30:
        return INT32_MAX, 30
    return int(q), int(shift)


def quantize_multipliers(reals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`quantize_multiplier` for each value: (multipliers, shifts) as int64 arrays."""
    pairs = [quantize_multiplier(float(r)) for r in np.asarray(reals, np.float64).reshape(-1)]
    return (np.array([p[0] for p in pairs], np.int64), np.array([p[1] for p in pairs], np.int64))


def _round_half_away(x: float) -> int:
    return int(math.floor(abs(x) + 0.5)) * (1 if x >= 0 else -1)


def round_half_away(x: np.ndarray) -> np.ndarray:
    """Round to nearest, ties away from zero (C's ``round``, TFLite's ``TfLiteRound``)."""
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def saturating_rounding_doubling_high_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The high 32 bits of ``2 * a * b``, rounded to nearest (gemmlowp's SRDHM)."""
    a = np.asarray(a, np.int64)
    b = np.asarray(b, np.int64)
    ab = a * b
    sign = ab >> 63  # -1 where negative, else 0
    total = ab + ((1 << 30) + sign * ((1 << 31) - 1))  # the nudge: 2**30, or 1 - 2**30 below zero
    high = (total + (sign & ((1 << 31) - 1))) >> 31  # divides by 2**31 truncating, as C does
    if np.any(b == INT32_MIN):  # the one product that overflows: only with a negative multiplier
        high = np.where((a == INT32_MIN) & (b == INT32_MIN), INT32_MAX, high)
    return high


def rounding_divide_by_pot(x: np.ndarray, exponent: np.ndarray | int) -> np.ndarray:
    """``x / 2**exponent`` rounded to nearest, ties away from zero."""
    x = np.asarray(x, np.int64)
    exponent = np.asarray(exponent, np.int64)
    mask = (np.int64(1) << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> exponent) + (remainder > threshold)


def multiply_by_quantized_multiplier(x: np.ndarray, multiplier: np.ndarray | int,
                                     shift: np.ndarray | int) -> np.ndarray:
    """``x * multiplier * 2**(shift - 31)`` with TFLite's roundings (per channel if arrays)."""
    shift = np.asarray(shift, np.int64)
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    scaled = np.asarray(x, np.int64) * (np.int64(1) << left)
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(scaled, multiplier), right)


def multiply_by_quantized_multiplier_gemm(x: np.ndarray, multiplier: np.ndarray | int,
                                          shift: np.ndarray | int) -> np.ndarray:
    """The same product as the interpreter's x86 matrix kernels round it (CONV_2D, FULLY_CONNECTED).

    The rounding doubling high multiply is followed by a right shift that rounds
    ties upward (toward +inf) instead of away from zero; the two differ only
    on negative values that fall exactly halfway.
    """
    shift = np.asarray(shift, np.int64)
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    high = saturating_rounding_doubling_high_mul(np.asarray(x, np.int64) * (np.int64(1) << left), multiplier)
    half = np.where(right > 0, np.int64(1) << np.maximum(right - 1, 0), 0)
    return (high + half) >> right


ROUNDINGS = {"reference": multiply_by_quantized_multiplier, "gemm": multiply_by_quantized_multiplier_gemm}


def truncating_divide(x: np.ndarray, d: np.ndarray | int) -> np.ndarray:
    """C integer division (rounds toward zero)."""
    x = np.asarray(x, np.int64)
    q = np.abs(x) // d
    return np.where(x < 0, -q, q)


def rounded_mean(total: np.ndarray, count: np.ndarray | int) -> np.ndarray:
    """``total / count`` rounded half away from zero in integers, as TFLite's pooling does."""
    half = np.asarray(count, np.int64) // 2
    return truncating_divide(np.where(total > 0, total + half, total - half), count)
