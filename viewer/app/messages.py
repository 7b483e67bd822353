"""Messages for the user: one line of text per problem, logged as one stderr line.

The window shows the same text in its message strip. Everything goes through
the ``strata`` logger; :func:`setup_logging` gives it a handler that writes
``strata: <message>`` to the current ``sys.stderr`` (so redirecting stderr,
as tests do, is honoured), and ``STRATA_LOG=debug`` shows the details. The
logging package loads with the first message (its import costs the window's
start-up ~7 ms otherwise).
"""

from __future__ import annotations

from typing import Any

from viewer.errors import StrataError

LOGGER = "strata"


def plural(n: int, word: str) -> str:
    """A count and its noun: "1 channel", "16 channels", "1,797 samples"."""
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


def wrapped_title(title: str, width: int) -> str:
    """``title`` with each line over ``width`` characters broken between its " · " parts.

    A part longer than ``width`` stays whole on its own line.
    """
    lines = []
    for line in title.split("\n"):
        current = ""
        for part in line.split(" · "):
            if current and len(current) + 3 + len(part) > width:
                lines.append(current)
                current = part
            else:
                current = f"{current} · {part}" if current else part
        lines.append(current)
    return "\n".join(lines)


def setup_logging() -> None:
    """Give the ``strata`` logger its stderr handler (once); level from ``STRATA_LOG``."""
    from viewer.app.stderr_log import attach

    attach(LOGGER)


def _logger() -> Any:  # -> logging.Logger, set up
    import logging

    setup_logging()
    return logging.getLogger(LOGGER)


def report(message: str) -> None:
    """Log a problem the window also shows: one line on stderr."""
    _logger().error(message)


def warn(message: str) -> None:
    """Log a warning: one line on stderr."""
    _logger().warning(message)


def debug(message: str, *args: Any, exc_info: Any = None) -> None:
    """Log details shown only with ``STRATA_LOG=debug`` (``%`` formatting, as logging does)."""
    _logger().debug(message, *args, exc_info=exc_info)


def error_text(exc: BaseException) -> str:
    """One line for the user: a StrataError's own message, else type and message."""
    text = str(exc) if isinstance(exc, StrataError) else f"{type(exc).__name__}: {exc}"
    return " ".join(text.split())
