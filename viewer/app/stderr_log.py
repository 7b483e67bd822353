"""The ``strata`` logger's handler: each record as one ``strata: ...`` line on stderr.

Loaded by :func:`viewer.app.messages.setup_logging` with the first message.
"""

from __future__ import annotations

import logging
import os
import sys


class StderrLines(logging.Handler):
    """Writes each record as one ``strata: ...`` line to the stderr of the moment."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = " ".join(self.format(record).split())
            sys.stderr.write(f"strata: {text}\n")
            sys.stderr.flush()
        except Exception:
            self.handleError(record)


def attach(name: str) -> None:
    """Give logger ``name`` a :class:`StderrLines` handler (once); level from ``STRATA_LOG``."""
    log = logging.getLogger(name)
    if any(isinstance(h, StderrLines) for h in log.handlers):
        return
    log.addHandler(StderrLines())
    level = os.environ.get("STRATA_LOG", "warning").upper()
    log.setLevel(getattr(logging, level, logging.WARNING))
    log.propagate = False
