"""Start-up markers for bench/startup.py, printed only when asked for.

With ``STRATA_BENCH_MARKERS=1`` in the environment the window prints one line
``STRATA_MARK <name> <unix time>`` on stdout the first time each milestone is
reached ("window", "layer_list", "heatmap"); otherwise nothing happens.
"""

from __future__ import annotations

import os
import sys
import time

ENABLED = os.environ.get("STRATA_BENCH_MARKERS") == "1"
_seen: set[str] = set()


def mark(name: str) -> None:
    """Report milestone ``name`` once, if markers are enabled."""
    if ENABLED and name not in _seen:
        _seen.add(name)
        # One write per line: marks may come from several threads.
        sys.stdout.write(f"STRATA_MARK {name} {time.time():.6f}\n")
        sys.stdout.flush()
