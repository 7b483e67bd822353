"""Which preprocessing a samples file gets beside a net, why, and what looks wrong.

A net's stored preprocessing was made for its own samples: the demo stores
``x / 16`` for raw digits 0..16. Another file of the same digits as floats
0..1, or as 8-bit pictures 0..255, needs another transform to give the net
the same input. :func:`choose` picks one, in this order:

1. the preprocessing the user gave (the command line's ``--preprocess``,
   the window's Preprocessing control);
2. the stored one, for the net's own samples;
3. the one the samples file itself states (an HDF5 ``preprocess`` attribute);
4. a proposal: the file's *nominal range* (from its dtype and values: 0..1,
   -1..1, 0..16, 0..255 or 0..65535; images are 0..255 by definition) is
   mapped onto the nominal range of the net's own raw samples, followed by
   their stored transform, so both arrive at the net as the same numbers.
   Without samples of the net's own to compare with, 8-bit images and 0..255
   data are scaled to 0..1 (the usual convention); anything else is used as
   it is.

Each choice says why in one line, and carries warnings (not errors) when
the net input's range is more than :data:`FAR` times off the range the net's
own samples give, or when images had to be resized. Ranges are measured on
up to :data:`RANGE_SAMPLES` evenly spaced samples.

No Qt; numpy only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Optional

import numpy as np

from viewer.data.preprocess import Preprocess

#: Samples read to measure a range (evenly spaced over the set).
RANGE_SAMPLES = 128
#: A net input range this many times wider, narrower or larger than the reference warns.
FAR = 4.0
#: The nominal full-scale values of data that starts at 0, smallest first.
FULL_SCALES = (1.0, 16.0, 255.0, 65535.0)


@dataclass(frozen=True)
class Range:
    """A closed range of values; NaN bounds when nothing finite was seen."""

    lo: float
    hi: float

    def __str__(self) -> str:
        if not self.finite:
            return "no finite values"
        return f"{self.lo:.4g}..{self.hi:.4g}"

    @property
    def finite(self) -> bool:
        return math.isfinite(self.lo) and math.isfinite(self.hi)

    @property
    def span(self) -> float:
        return self.hi - self.lo

    @property
    def size(self) -> float:
        """The largest magnitude in the range."""
        return max(abs(self.lo), abs(self.hi))


@dataclass(frozen=True)
class Choice:
    """The preprocessing chosen for one (net, samples) pair, with its reasons.

    Attributes
    ----------
    preprocess : Preprocess
    how : str
        "given", "stored", "file" or "proposed" (see the module docstring).
    why : str
        Why, in a few words (:attr:`reason` is the whole line).
    path : str
        The samples file.
    images : bool
        The samples are image files (so the resize policy applies).
    raw : Range
        The samples' values as stored.
    net_input : Range
        The values after the preprocessing.
    reference : Range or None
        The net input the net's own samples give; None without own samples.
    warnings : tuple of str
        One line each, naming the file and both ranges or sizes.
    """

    preprocess: Preprocess
    how: str
    why: str
    path: str
    images: bool
    raw: Range
    net_input: Range
    reference: Optional[Range]
    warnings: tuple[str, ...]

    @property
    def description(self) -> str:
        """The preprocessing in plain words."""
        return self.preprocess.describe(self.images)

    @property
    def reason(self) -> str:
        """One line: ``"FILE: preprocessing x / 255 (uint8 values 0..255, ...)"``."""
        return f"{self.path}: preprocessing {self.description} ({self.why})"

    @property
    def ranges(self) -> str:
        """``"values 0..255 -> net input 0..1 (the net's own samples give 0..1)"``."""
        own = "" if self.reference is None else f" (the net's own samples give {self.reference})"
        return f"values {self.raw} -> net input {self.net_input}{own}"


def range_rows(n: int, count: int = RANGE_SAMPLES) -> np.ndarray:
    """Up to ``count`` evenly spaced row indices of ``n`` samples, ascending."""
    rows = np.linspace(0, n - 1, min(n, count)).round().astype(np.int64)
    # Ascending already: drop repeats without np.unique, which imports numpy.ma (~10 ms at start-up).
    return rows[np.concatenate((rows[:1] == rows[:1], rows[1:] != rows[:-1]))]


def _range(values: np.ndarray) -> Range:
    finite = values[np.isfinite(values)] if values.dtype.kind == "f" else values
    if finite.size == 0:
        return Range(math.nan, math.nan)
    return Range(float(finite.min()), float(finite.max()))


def measure(samples: Any, preprocess: Preprocess | None = None,
            count: int = RANGE_SAMPLES) -> tuple[Range, Range]:
    """The raw range and the net-input range of some samples.

    Parameters
    ----------
    samples : SampleSet
    preprocess : Preprocess, optional
        Default: the samples' own.
    count : int
        Most samples read (evenly spaced).

    Returns
    -------
    (Range, Range)
        Raw values, and the values after ``preprocess``.
    """
    raw = samples.raw_batch(range_rows(len(samples), count))
    if preprocess is not None and preprocess != samples.preprocess:
        net_input = preprocess.apply(raw.reshape((len(raw),) + samples.input_shape), samples.layout)
    else:
        net_input = samples.prepare(raw)
    return _range(raw), _range(net_input)


def nominal_range(samples: Any, raw: Range) -> Range | None:
    """The range the samples' values are meant to span, or None when no usual one fits.

    Images are 0..255. Data from 0 up goes to the smallest of
    :data:`FULL_SCALES` that holds its maximum; data within -1..1 with
    negative values is -1..1.
    """
    if samples.is_images:
        return Range(0.0, 255.0)
    if not raw.finite:
        return None
    slack = 1e-6
    if raw.lo >= 0:
        for top in FULL_SCALES:
            if raw.hi <= top * (1 + slack):
                return Range(0.0, top)
        return None
    if raw.lo >= -1 - slack and raw.hi <= 1 + slack:
        return Range(-1.0, 1.0)
    return None


def _kind(samples: Any, raw: Range) -> str:
    """What the values are, for a reason line: "float32 values 0..1", "8-bit images"."""
    if samples.is_images:
        return "8-bit images (0..255)"
    return f"{samples.dtype} values {raw}"


def mapped(stored: Preprocess, source: Range, target: Range) -> Preprocess:
    """``stored`` after the affine map taking ``source`` onto ``target``.

    With ``x' = a x + b`` mapping source onto target,
    ``(x' * scale - mean) / std = (x * (a scale) - (mean - b scale)) / std``:
    the same three numbers, so the result is a plain Preprocess again.
    """
    a = target.span / source.span
    b = target.lo - source.lo * a
    mean = stored.mean
    if b != 0.0:
        mean = (tuple(m - b * stored.scale for m in mean) if isinstance(mean, tuple)
                else mean - b * stored.scale)
    return stored.with_changes(scale=stored.scale * a, mean=mean)


def _ratio(a: Range, b: Range) -> float:
    """How far apart two ranges are: the larger of their span and size ratios (>= 1)."""
    worst = 1.0
    for x, y in ((a.span, b.span), (a.size, b.size)):
        if x > 0 and y > 0:
            worst = max(worst, x / y, y / x)
        elif x != y:
            return math.inf
    return worst


def range_warning(samples: Any, net_input: Range, reference: Range | None,
                  preprocess: Preprocess) -> str | None:
    """The warning for a net input range more than :data:`FAR` times off the reference."""
    if reference is None or not reference.finite or not net_input.finite:
        return None
    ratio = _ratio(net_input, reference)
    if ratio <= FAR:
        return None
    times = "far" if math.isinf(ratio) else f"{ratio:.0f}x"
    return (f"{samples.path}: the net input ranges {net_input} after preprocessing "
            f"({preprocess.describe()}), {times} off the {reference} the net's own samples "
            f"give; check the preprocessing")


def choose(samples: Any, own: Any = None, *, given: Mapping | Preprocess | None = None,
           is_own: bool = False) -> tuple[Any, Choice]:
    """Pick the preprocessing for ``samples`` beside a net whose own samples are ``own``.

    Parameters
    ----------
    samples : SampleSet
        Opened with the preprocessing the file states, if any (else identity).
    own : SampleSet, optional
        The net's embedded samples, with their stored preprocessing.
    given : mapping or Preprocess, optional
        The user's choice; ``{}`` is the identity.
    is_own : bool
        ``samples`` are the net's own samples.

    Returns
    -------
    (SampleSet, Choice)
        The samples with the chosen preprocessing, and the choice.

    Raises
    ------
    SampleError
        When ``given`` does not fit the samples.
    """
    reference = None
    own_raw = None
    if own is not None:
        own_raw, reference = measure(own)
    if given is not None:
        chosen = samples.with_preprocess(given)
        how, reason = "given", "as given"
    elif is_own:
        chosen = samples
        how, reason = "stored", "the net's stored preprocessing for its own samples"
    elif samples.preprocess_from_file:
        chosen = samples
        how, reason = "file", "as the samples file states"
    else:
        chosen, how, reason = _propose(samples, own, own_raw)
    raw, net_input = (own_raw, reference) if chosen is own else measure(chosen)
    warnings = [w for w in (range_warning(chosen, net_input, reference, chosen.preprocess),
                            _resize_warning(chosen)) if w]
    return chosen, Choice(preprocess=chosen.preprocess, how=how, why=reason, path=chosen.path,
                          images=chosen.is_images, raw=raw, net_input=net_input,
                          reference=reference, warnings=tuple(warnings))


def _resize_warning(samples: Any) -> str | None:
    note = samples.resize_note
    return None if note is None else f"{samples.path}: {note} to fit the net's input"


def _propose(samples: Any, own: Any, own_raw: Range | None) -> tuple[Any, str, str]:
    """The proposal of the module docstring's step 4: (samples, "proposed", reason)."""
    raw, _ = measure(samples)
    nominal = nominal_range(samples, raw)
    kind = _kind(samples, raw)
    keep = {"resize": samples.preprocess.resize, "channel_order": samples.preprocess.channel_order}
    if own is None:
        if nominal is not None and nominal.hi == 255.0 and nominal.lo == 0.0:
            proposal = Preprocess(scale=1 / 255, **keep)
            why = f"{kind}; the net has no samples of its own to compare with, so 0..255 " \
                  f"becomes 0..1, the usual convention"
        else:
            proposal = Preprocess(**keep)
            why = f"{kind}; the net has no samples of its own to compare with"
        return samples.with_preprocess(proposal), "proposed", why
    # The stored channel order and resize policy were made for the net, not for its samples.
    stored = own.preprocess
    own_nominal = nominal_range(own, own_raw)
    own_kind = f"the net's own samples are {_kind(own, own_raw)}"
    if nominal is None or own_nominal is None:
        why = f"{kind} in no usual range; {own_kind}: their stored preprocessing"
        return samples.with_preprocess(stored), "proposed", why
    if nominal == own_nominal:
        why = f"{kind} like the net's own samples ({own_nominal}): their stored preprocessing"
        return samples.with_preprocess(stored), "proposed", why
    proposal = mapped(stored, nominal, own_nominal)
    taken = "" if samples.is_images or nominal == raw else f", taken as {nominal}"
    why = (f"{kind}{taken}; {own_kind} with {stored.formula()}: "
           f"{nominal} mapped onto their {own_nominal}")
    return samples.with_preprocess(proposal), "proposed", why
