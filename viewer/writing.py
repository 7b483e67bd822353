"""Files written beside their target and renamed into place: cleaning up after dead writers.

Strata writes ``<target>.<pid>.part`` and renames it over the target, so an
interrupted write never damages a good file. A writer killed mid-write
(``kill -9``, power loss) cannot remove its part; the next write to the same
target does, so they never pile up.
"""

from __future__ import annotations

import glob
import os


def remove_stale_parts(path: str) -> None:
    """Remove ``<path>.<pid>.part`` files left by writers of ``path`` that died.

    A writer killed mid-write (kill -9, power loss) cannot clean up after
    itself; the next write to the same target does, so they never pile up.
    Parts of writers still running are left alone.
    """
    for part in glob.glob(glob.escape(path) + ".*.part"):
        pid = part[len(path) + 1:-len(".part")]
        if not pid.isdigit() or _alive(int(pid)):
            continue
        try:
            os.remove(part)
        except OSError:
            pass  # not ours to remove (another user's), or already gone


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # a part of this process is never in use when a new write starts
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
