"""Freed arrays are kept for the next forward pass: a large array comes from malloc's heap,
where a freed block is reused, not from a mapping of its own returned to the system when freed."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: Prints how many more bytes malloc holds in mappings of their own (mallinfo's hblkhd) while
#: a 64 MiB array is alive than before it, and the free bytes its heap keeps (fordblks) once
#: the array is freed; ``setup`` runs first.
PROBE = """
import ctypes, runpy, sys
sys.path.insert(0, {root!r})
{setup}
import numpy as np


class Info(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
                 "uordblks", "fordblks", "keepcost")]


libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = Info
before = libc.mallinfo2().hblkhd
array = np.ones(16 << 20, np.float32)
mapped = libc.mallinfo2().hblkhd - before
del array
print(mapped, libc.mallinfo2().fordblks)
"""


def _probe(setup: str) -> tuple[int, int]:
    """(bytes mapped for the live array, free heap bytes kept after it was freed)."""
    done = subprocess.run([sys.executable, "-c", PROBE.format(root=ROOT, setup=setup)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    mapped, kept = done.stdout.split()[-2:]
    return int(mapped), int(kept)


def _has_mallinfo2() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    import ctypes
    try:
        ctypes.CDLL("libc.so.6").mallinfo2
    except (OSError, AttributeError):   # not glibc, or glibc before 2.33
        return False
    return True


pytestmark = pytest.mark.skipif(not _has_mallinfo2(), reason="the thresholds are glibc's")


def test_a_large_array_comes_from_the_heap_where_freed_blocks_are_reused():
    # 64 MiB is above glibc's own mmap threshold (at most 32 MiB): by default the array is a
    # mapping of its own, unmapped when freed, whose pages fault in again on every call.
    mapped, kept = _probe("")
    assert mapped >= 64 << 20 and kept < 64 << 20
    mapped, kept = _probe("from viewer.allocator import keep_freed_memory\n"
                          "assert keep_freed_memory() and keep_freed_memory()")
    assert mapped == 0 and kept >= 64 << 20     # freed, and kept for the next call


def test_main_py_keeps_freed_memory_before_any_command_runs():
    # Runs main.py's module code (its start-up settings) without calling main().
    mapped, kept = _probe(f"runpy.run_path({os.path.join(ROOT, 'main.py')!r}, run_name='probe')")
    assert mapped == 0 and kept >= 64 << 20
