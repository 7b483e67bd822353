"""Read an HDF5 file in a child process before trusting it in this one.

The HDF5 C library can loop forever or crash on a damaged file (a flipped
byte in an object header is enough), and no Python code can interrupt it once
it is inside: in a thread it holds the GIL, so a window would freeze. Every
HDF5 file a user opens - a net with its ``/samples``, a Keras model (``.h5``,
or the weights inside a ``.keras`` zip), a samples file - is therefore read
completely in a short-lived child process first. If the child hangs it is
killed after a time limit; if it dies or finds a problem, the user gets one
clear line naming the file, and Strata keeps running. The caller waits in
``subprocess`` (which releases the GIL), so a window's timers keep ticking.

The child runs one of the :data:`CHECKS`: the reader's own full read. A
single-threaded process (the command line) forks it, which costs
milliseconds; a process with other threads (the window) starts a fresh
interpreter instead, because a forked copy of a multi-threaded process may
inherit a lock another thread held.
"""

from __future__ import annotations

import importlib
import os
import signal
import subprocess
import sys
import threading
import time

from viewer import limits
from viewer.errors import FileFormatError, StrataError, file_error

# Exit code of a child that read the file and found a problem it could name.
FOUND_PROBLEM = 3
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
#: What the child can check: name -> "module:function", called with (path, *args).
CHECKS = {
    "net": "viewer.net.store:check_file",
    "keras": "viewer.convert.keras_file:check_file",
    "samples": "viewer.data.hdf5:check_file",
}


def check_in_child(path: str, what: str = "net", *args: str, timeout: float | None = None,
                   error: type[StrataError] = FileFormatError) -> None:
    """Read the file at ``path`` fully in a child process.

    Parameters
    ----------
    path : str
    what : str
        One of :data:`CHECKS`: how to read it.
    *args : str
        Passed on to the check (e.g. a samples dataset path; "" for none).
    timeout : float, optional
        Seconds before the child counts as hung; by default the
        ``check_seconds`` limit plus 1 s per 20 MB, far above what reading a
        sound file takes.
    error : type
        The exception class to raise (the caller's reader's).

    Raises
    ------
    StrataError
        Of class ``error``, with the child's message when the file is bad, or
        saying that the HDF5 library hung or crashed on it.
    """
    if timeout is None:
        timeout = limits.get("check_seconds") + os.path.getsize(path) / 20e6
    try:
        run = _forked if _may_fork() else _spawned
        code, message, detail = run(what, path, args, timeout)
    except subprocess.TimeoutExpired:
        raise error(f"{path}: damaged file (reading it did not finish in {timeout:.0f} s; if it "
                    f"is only large and slow, raise --limit check_seconds)") from None
    except OSError as exc:
        raise error(f"{path}: could not be checked ({exc.strerror or exc})") from None
    if code == 0:
        return
    if code == FOUND_PROBLEM and message:
        raise error(message.splitlines()[-1])
    if code < 0:
        name = signal.Signals(-code).name
        raise error(f"{path}: damaged file (the HDF5 library crashed reading it: {name})")
    if "MemoryError" in detail or "memory" in detail.lower():
        limit = limits.get("check_bytes")
        raise error(f"{path}: reading it needs more memory than the check_bytes limit ("
                    f"{limit / (1 << 20):.0f}M beyond twice the file's size) allows; if you trust "
                    f"the file, raise it with --limit check_bytes={2 * limit / (1 << 30):.3g}G")
    raise error(f"{path}: damaged file (reading it failed: {detail or 'no message'})")


def _may_fork() -> bool:
    """Only a process that is surely single-threaded: no other Python thread, no Qt."""
    return (hasattr(os, "fork") and threading.current_thread() is threading.main_thread()
            and threading.active_count() == 1 and "PyQt5.QtCore" not in sys.modules)


def _cap_memory(path: str) -> None:
    """In the child: cap its address space at what it has plus the ``check_bytes`` budget.

    A damaged HDF5 file can declare a string or a chunk of gigabytes, which the
    library allocates before it finds the damage; capped, the allocation fails
    and the child reports it instead of taking the machine's memory.
    """
    try:
        import resource
        with open("/proc/self/statm") as fh:
            have = int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        cap = int(have + limits.get("check_bytes") + 2 * os.path.getsize(path))
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        if soft == resource.RLIM_INFINITY or cap < soft:
            resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    except (ImportError, OSError, ValueError):
        pass  # no /proc or no rlimits on this system: the time limit still holds


def _check(what: str, path: str, args: tuple) -> None:
    _cap_memory(path)
    module, function = CHECKS[what].split(":")
    getattr(importlib.import_module(module), function)(path, *args)


def _forked(what: str, path: str, args: tuple, timeout: float) -> tuple[int, str, str]:
    """Run the check in a fork; (exit code, problem found, last line of any other failure)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: check, report through the pipe, exit without cleanup
        code, text = 0, ""
        try:
            os.close(read_end)
            _check(what, path, args)
        except StrataError as exc:
            code, text = FOUND_PROBLEM, str(exc)
        except BaseException as exc:  # the child only reports; the parent decides
            code, text = 1, f"{type(exc).__name__}: {exc}"
        finally:
            try:
                os.write(write_end, text.encode("utf-8", "replace")[:16384])  # below the pipe's buffer
            finally:
                os._exit(code)
    os.close(write_end)
    try:
        deadline = time.monotonic() + timeout
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                raise subprocess.TimeoutExpired("check", timeout)
            time.sleep(0.01)
        with os.fdopen(read_end, "rb") as fh:
            read_end = -1
            text = fh.read().decode("utf-8", "replace").strip()
    finally:
        if read_end >= 0:
            os.close(read_end)
    code = os.waitstatus_to_exitcode(status)
    return code, text, "" if code in (0, FOUND_PROBLEM) else text


def _spawned(what: str, path: str, args: tuple, timeout: float) -> tuple[int, str, str]:
    """Run the check in a fresh interpreter; (exit code, problem found, last stderr line)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    done = subprocess.run([sys.executable, "-m", "viewer.net.probe", what, path, *args],
                          env=env, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, errors="replace")
    lines = done.stderr.strip().splitlines()
    return done.returncode, done.stdout.strip(), (lines or [""])[-1]


def _main(what: str, path: str, *args: str) -> int:
    try:
        _check(what, path, args)
    except StrataError as exc:
        print(exc)
        return FOUND_PROBLEM
    return 0


if __name__ == "__main__":
    sys.exit(_main(*sys.argv[1:]))
