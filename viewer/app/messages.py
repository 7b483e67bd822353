"""Messages for the user: one line of text per problem, logged as one stderr line.

The window shows the same text in its message strip. Everything goes through
the ``strata`` logger; :func:`setup_logging` gives it a handler that writes
``strata: <message>`` to the current ``sys.stderr`` (so redirecting stderr,
as tests do, is honoured), and ``STRATA_LOG=debug`` shows the details.
"""

from __future__ import annotations

import logging
import os
import sys

from viewer.errors import StrataError

log = logging.getLogger("strata")


class _StderrLines(logging.Handler):
    """Writes each record as one ``strata: ...`` line to the stderr of the moment."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = " ".join(self.format(record).split())
            sys.stderr.write(f"strata: {text}\n")
            sys.stderr.flush()
        except Exception:
            self.handleError(record)


def setup_logging() -> None:
    """Give the ``strata`` logger its stderr handler (once); level from ``STRATA_LOG``."""
    if any(isinstance(h, _StderrLines) for h in log.handlers):
        return
    log.addHandler(_StderrLines())
    level = os.environ.get("STRATA_LOG", "warning").upper()
    log.setLevel(getattr(logging, level, logging.WARNING))
    log.propagate = False


def report(message: str) -> None:
    """Log a problem the window also shows: one line on stderr."""
    log.error(message)


def error_text(exc: BaseException) -> str:
    """One line for the user: a StrataError's own message, else type and message."""
    text = str(exc) if isinstance(exc, StrataError) else f"{type(exc).__name__}: {exc}"
    return " ".join(text.split())
