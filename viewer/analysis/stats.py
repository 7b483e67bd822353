"""Summary statistics and colour limits of one activation, safe with NaN and Inf.

Everything here reduces an array of any shape to a few Python floats; the
window shows them beside the heatmap and uses the colour limits for its
colour bar. Pure numpy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np


@dataclass(frozen=True)
class ActivationStats:
    """Statistics of one activation (see :func:`activation_stats`).

    Attributes
    ----------
    min, max, mean, std : float
        Over the finite values only; NaN when there are none.
    frac_zero : float
        Fraction of all ``size`` values that are exactly 0 (NaN if ``size`` is 0).
    frac_negative : float
        Fraction of all ``size`` values below 0, ``-inf`` included.
    n_nan, n_inf : int
        How many values are NaN, and how many are +inf or -inf.
    size : int
        Number of values in the array.
    """

    min: float
    max: float
    mean: float
    std: float
    frac_zero: float
    frac_negative: float
    n_nan: int
    n_inf: int
    size: int


@dataclass(frozen=True)
class ColorLimits:
    """Colour limits for an image of values (see :func:`color_limits`).

    Attributes
    ----------
    vmin, vmax : float
        Limits for a sequential colour map; always ``vmin < vmax`` and finite.
    both_signs : bool
        True when the values reach both below and above zero, i.e. a diverging
        colour map centred on zero suits them.
    """

    vmin: float
    vmax: float
    both_signs: bool

    @property
    def symmetric(self) -> tuple[float, float]:
        """``(-m, m)`` with ``m = max(|vmin|, |vmax|)``: limits centred on zero."""
        m = max(abs(self.vmin), abs(self.vmax))
        return (-m, m)


def activation_stats(a: np.ndarray) -> ActivationStats:
    """Summarise an activation: range, moments, zeros, negatives, NaN and Inf.

    Parameters
    ----------
    a : np.ndarray, any shape
        Real (float, integer or bool) values, e.g. one sample's layer output.

    Returns
    -------
    ActivationStats
        min, max, mean and std (population, ``ddof=0``) over the finite values,
        accumulated in float64; all four NaN when no value is finite, without
        a RuntimeWarning.
    """
    a = np.asarray(a)
    size = int(a.size)
    finite = np.isfinite(a)
    n_finite = int(np.count_nonzero(finite))
    n_nan = int(np.count_nonzero(np.isnan(a))) if n_finite < size else 0
    # Only touch (copy) the finite subset when there is something to drop.
    values = a if n_finite == size else a[finite]
    if n_finite:
        lo, hi = float(values.min()), float(values.max())
        mean = float(np.mean(values, dtype=np.float64))
        std = float(np.std(values, dtype=np.float64))
    else:
        lo = hi = mean = std = float("nan")
    if size:
        frac_zero = np.count_nonzero(a == 0) / size
        frac_negative = np.count_nonzero(a < 0) / size
    else:
        frac_zero = frac_negative = float("nan")
    return ActivationStats(
        min=lo, max=hi, mean=mean, std=std,
        frac_zero=float(frac_zero), frac_negative=float(frac_negative),
        n_nan=n_nan, n_inf=size - n_finite - n_nan, size=size,
    )


def color_limits(a: np.ndarray, clip: Optional[float] = None) -> ColorLimits:
    """Robust colour limits of the finite values of ``a``.

    Parameters
    ----------
    a : np.ndarray, any shape
        Values to colour, e.g. ``Picture.image`` (its NaN gaps are ignored).
    clip : float, optional
        Percent to cut from each end: the limits become the ``clip`` and
        ``100 - clip`` percentiles instead of the min and max, so a few
        outliers do not wash out the rest. Must be in [0, 50).

    Returns
    -------
    ColorLimits
        ``vmin < vmax`` always: a constant (or empty) input gets a range
        around its value (see :func:`around`), ``(-0.5, 0.5)`` when nothing
        is finite. ``both_signs`` is decided on the clipped limits, and
        ``.symmetric`` gives the zero-centred limits for a diverging map.
    """
    if clip is not None and not 0 <= clip < 50:
        raise ValueError(f"clip must be a percentage in [0, 50), got {clip!r}")
    a = np.asarray(a)
    finite = np.isfinite(a)
    values = a if finite.all() else a[finite]
    if values.size == 0:
        return ColorLimits(-0.5, 0.5, both_signs=False)
    if clip:
        lo, hi = (float(p) for p in np.percentile(values, [clip, 100 - clip]))
    else:
        lo, hi = float(values.min()), float(values.max())
    both_signs = lo < 0 < hi  # before widening: a constant 0 is not signed
    if lo == hi:
        lo, hi = around(lo)
    return ColorLimits(lo, hi, both_signs=both_signs)


def around(v: float) -> tuple[float, float]:
    """A non-empty range centred on ``v`` for constant data.

    Half-width ``|v| / 2``, so the range keeps the sign of ``v`` (a constant
    positive layer does not appear to straddle zero); 0.5 when that is too
    small to move ``v`` in float64 (``v == 0`` or tiny).

    Returns
    -------
    (float, float)
        ``(v - h, v + h)`` with ``v - h < v < v + h``.
    """
    v = float(v)
    h = abs(v) / 2
    if not v - h < v < v + h:
        h = 0.5
    return (v - h, v + h)
