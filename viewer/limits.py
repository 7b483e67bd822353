"""The resources a file may ask for: every budget in one place.

A small file must not make Strata allocate gigabytes, spin for minutes or
print pages: each reader checks what a file *declares* against these limits
before allocating, and refuses with one line naming the file, the limit and
how to raise it. A user who trusts a file raises a limit with
``--limit NAME=VALUE`` on the command line (any command, and the window),
or with the environment variable ``STRATA_LIMITS="NAME=VALUE,..."``; the
option sets the variable, so child processes (the HDF5 check) see it too.

Values accept the suffixes k, M, G (powers of 1024) for bytes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from viewer.errors import StrataError

ENV = "STRATA_LIMITS"


@dataclass(frozen=True)
class Limit:
    """One budget.

    Attributes
    ----------
    name : str
        What ``--limit`` calls it.
    default : float
        The value in force unless raised.
    unit : str
        "bytes", "ratio", "chars", "pixels" or "seconds" (for messages).
    what : str
        What it bounds, for ``--help`` and the README.
    """

    name: str
    default: float
    unit: str
    what: str


def _memory_bytes() -> int:
    """The machine's physical memory (8 GB when the system does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 8 << 30


LIMITS = {limit.name: limit for limit in (
    Limit("fold_bytes", 256 << 20, "bytes",
          "bytes one constant folded during ONNX conversion may take"),
    Limit("fold_total", 512 << 20, "bytes",
          "bytes all constants folded in one ONNX conversion may take together "
          "(beyond four times the model's own size)"),
    Limit("unpack_ratio", 100, "ratio",
          "how many times its stored size a compressed member (.npz, .keras, a "
          "compressed HDF5 dataset), or a .pt2 tensor viewed over its storage, may "
          "unpack to, once it is over 16 MB"),
    Limit("layer_bytes", max(256 << 20, _memory_bytes() // 64), "bytes",
          "bytes one layer's output may take per sample (1/64 of this machine's memory)"),
    Limit("header_bytes", 64 << 10, "bytes", "length of a .npy header"),
    Limit("text_bytes", 64 << 20, "bytes", "length of a config or other text stored in a file"),
    Limit("image_pixels", 64_000_000, "pixels", "pixels of one image to decode"),
    Limit("check_bytes", 512 << 20, "bytes",
          "memory the child process checking an HDF5 file may take beyond twice the file's size"),
    Limit("check_seconds", 15, "seconds",
          "time the child process checking an HDF5 file may take (plus 1 s per 20 MB)"),
)}

#: A compressed member smaller than this when unpacked is never refused for its ratio.
RATIO_FLOOR = 16 << 20
#: Label names longer than this are shortened for display.
NAME_CHARS = 200

_SUFFIX = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_value(text: str) -> float:
    """``"512M"`` -> 536870912.0; plain numbers as they are."""
    text = text.strip()
    scale = _SUFFIX.get(text[-1:].lower(), 1)
    number = text[:-1] if scale != 1 else text
    try:
        value = float(number) * scale
    except ValueError:
        raise StrataError(f"limit value {text!r} is not a number (e.g. 2G, 500M, 300)") from None
    if not value > 0:
        raise StrataError(f"limit value {text!r} must be above 0")
    return value


def _overrides() -> dict[str, float]:
    out = {}
    for item in filter(None, (p.strip() for p in os.environ.get(ENV, "").split(","))):
        name, _, value = item.partition("=")
        if name.strip() not in LIMITS:
            raise StrataError(f"{ENV}: unknown limit {name.strip()!r} (known: {', '.join(LIMITS)})")
        out[name.strip()] = parse_value(value)
    return out


def get(name: str) -> float:
    """The value of limit ``name`` in force now."""
    return _overrides().get(name, LIMITS[name].default)


def apply(settings: list[str] | None) -> None:
    """Apply ``--limit NAME=VALUE`` options (for this process and its children)."""
    if not settings:
        return
    current = _overrides()
    for item in settings:
        name, sep, value = item.partition("=")
        if not sep or name not in LIMITS:
            raise StrataError(f"--limit {item}: expected NAME=VALUE with NAME one of {', '.join(LIMITS)}")
        current[name] = parse_value(value)
    os.environ[ENV] = ",".join(f"{k}={int(v) if v.is_integer() else v!r}" for k, v in current.items())


def add_argument(parser) -> None:
    """Add the ``--limit NAME=VALUE`` option to an argparse parser."""
    parser.add_argument("--limit", action="append", metavar="NAME=VALUE",
                        help="raise a safety limit for a file you trust; NAME is one of "
                             + ", ".join(LIMITS) + " (see the README)")


def _show(value: float, unit: str) -> str:
    """A limit value as ``--limit`` takes it: 256M, 2.5G, 1000."""
    suffix, scale = "", 1
    if unit == "bytes":
        suffix, scale = next(((s, k) for s, k in (("G", 1 << 30), ("M", 1 << 20), ("k", 1 << 10))
                              if value >= k), ("", 1))
    number = value / scale
    return (f"{number:.0f}" if number >= 100 else f"{number:.3g}") + suffix


class LimitExceeded(StrataError):
    """A file asks for more than a limit allows; the message says how to raise it."""


def check(name: str, wanted: float, what: str) -> None:
    """Raise :class:`LimitExceeded` when ``wanted`` is over limit ``name``.

    Parameters
    ----------
    name : str
        A key of :data:`LIMITS`.
    wanted : float
        What the file asks for, in the limit's unit.
    what : str
        The request in words, e.g. ``"member X.npy unpacks to 1.1 GB"``;
        the caller's error handling puts the file's name in front.
    """
    limit = LIMITS[name]
    allowed = get(name)
    if wanted <= allowed:
        return
    suggestion = _show(max(wanted * 1.25, allowed * 2), limit.unit)
    raise LimitExceeded(f"{what}, over the limit {name}={_show(allowed, limit.unit)}; "
                        f"if you trust the file, raise it with --limit {name}={suggestion}")


def check_unpack(unpacked: int, stored: int, what: str) -> None:
    """Refuse compressed data that unpacks to more than ``unpack_ratio`` times its size."""
    if unpacked <= RATIO_FLOOR:
        return
    ratio = unpacked / max(stored, 1)
    check("unpack_ratio", ratio, f"{what} unpacks to {unpacked:,} bytes from {stored:,} "
                                 f"({ratio:.0f} times): refused as a zip bomb")


def short_name(text: str) -> str:
    """A label name cut to :data:`NAME_CHARS` characters for display."""
    return text if len(text) <= NAME_CHARS else text[:NAME_CHARS - 1] + "…"
