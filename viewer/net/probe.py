"""Read a net file in a child process before trusting it in this one.

The HDF5 C library can loop forever or crash on a damaged file (a flipped
byte in an object header is enough), and no Python code can interrupt it once
it is inside. The window and the command line therefore read a file the user
opens in a short-lived child process first: if the child hangs or dies, the
user gets a clear message and Strata keeps running.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from viewer.errors import FileFormatError, StrataError, file_error

# Exit code of a child that read the file and found a problem it could name.
FOUND_PROBLEM = 3
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def check_in_child(path: str, timeout: float | None = None) -> None:
    """Read the net file at ``path`` fully in a child process.

    Parameters
    ----------
    path : str
    timeout : float, optional
        Seconds before the child counts as hung; by default 15 s plus 1 s per
        20 MB, far above what reading a sound file takes.

    Raises
    ------
    FileFormatError
        With the child's message when the file is bad, or saying that the
        HDF5 library hung or crashed on it.
    """
    if timeout is None:
        timeout = 15.0 + os.path.getsize(path) / 20e6
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    try:
        done = subprocess.run([sys.executable, "-m", "viewer.net.probe", path], env=env,
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise file_error(path, f"damaged file (reading it did not finish in {timeout:.0f} s)") from None
    if done.returncode == 0:
        return
    message = done.stdout.strip()
    if done.returncode == FOUND_PROBLEM and message:
        raise FileFormatError(message)
    if done.returncode < 0:
        name = signal.Signals(-done.returncode).name
        raise file_error(path, f"damaged file (the HDF5 library crashed reading it: {name})")
    last = (done.stderr.strip().splitlines() or ["no message"])[-1]
    raise file_error(path, f"could not be checked ({last})")


def _main(path: str) -> int:
    from viewer.net.store import load
    try:
        load(path)
    except StrataError as exc:
        print(exc)
        return FOUND_PROBLEM
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1]))
