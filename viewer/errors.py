"""The exceptions Strata raises for bad input.

Every problem a user can cause (a broken file, a layer that does not fit,
samples of the wrong shape, a model that cannot be converted) is one of these.
``str(error)`` is a single line meant for the user: it names the file where
there is one, and says what is wrong.
"""

from __future__ import annotations

import os


class StrataError(Exception):
    """Base class: a problem with the user's input, reported in one line."""


class FileFormatError(StrataError):
    """A file that is not what it claims to be: unreadable, broken or hostile."""


class LayerError(StrataError):
    """A layer that cannot exist as described: unknown kind, bad config or shapes."""


class SampleError(StrataError):
    """Samples that cannot be read, or that do not fit the net's input."""


class ConversionError(StrataError):
    """A model that cannot be converted; the message lists everything unsupported."""


def file_error(path: str | os.PathLike, problem: str) -> FileFormatError:
    """Make a :class:`FileFormatError` whose message is ``"<path>: <problem>"``."""
    return FileFormatError(f"{os.fspath(path)}: {problem}")
