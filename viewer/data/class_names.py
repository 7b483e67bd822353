"""Class names from a text file: one name per line (``--labels FILE``)."""

from __future__ import annotations

import os

from viewer.errors import SampleError

#: A names file larger than this is not a list of class names.
MAX_BYTES = 8 * 2 ** 20


def read_class_names(path: str | os.PathLike) -> list[str]:
    """The class names in a UTF-8 text file, one per line, in class order.

    Surrounding spaces are stripped and trailing empty lines dropped; an
    empty line inside the list stays (that class has no name then).

    Raises
    ------
    SampleError
        ``"FILE: no such file"``, too large, not UTF-8 text, or no names.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise SampleError(f"{path}: no such file (--labels wants a text file, one class name per line)")
    if os.path.getsize(path) > MAX_BYTES:
        raise SampleError(f"{path}: {os.path.getsize(path):,} bytes is too large for a list "
                          f"of class names (at most {MAX_BYTES:,})")
    with open(path, "rb") as fh:
        data = fh.read()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SampleError(f"{path}: not UTF-8 text; class names are one per line") from None
    if "\0" in text:
        raise SampleError(f"{path}: not a text file; class names are one per line")
    names = [line.strip() for line in text.splitlines()]
    while names and not names[-1]:
        names.pop()
    if not names:
        raise SampleError(f"{path}: holds no class names (one per line)")
    return names
