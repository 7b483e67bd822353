"""Start-up time of the window, against reference programs run alongside.

Measures, over several interleaved runs, the wall time from launching a
fresh Python process to:

- bare:   a plain PyQt5 window painted (no numpy);
- numpy:  ``python -c "import numpy"`` finished;
- pyplot: the minimal script ``plt.imshow(a); plt.show()`` painted;
- embed:  a minimal PyQt5 window embedding one matplotlib Figure with an
          ``imshow`` (no pyplot), painted: the leanest way to show one;
- strata: (a) Strata's window painted with its layer list, and
          (b) its first heatmap painted, on the bundled demo net.

and prints the medians and the ratios the issue sets targets for:
(a) / (bare + numpy) <= 2 and (b) / pyplot <= 1 (also (b) / embed). The
programs report the moment they painted on stdout; Strata does so only with
STRATA_BENCH_MARKERS=1.

Usage: python bench/startup.py [--runs N] [--net NET]
       python bench/startup.py --compare CHECKOUT [--compare-net NET] [--runs N] [--net NET]
The second form alternates Strata's launches with another checkout's (a git
worktree of an older commit, say) and prints the three marks of each: a
before/after comparison measured side by side.
Runs on $DISPLAY if set, else on a private Xvfb screen if Xvfb is installed
(pyplot needs a real display), else on Qt's offscreen platform (no pyplot).
"""

from __future__ import annotations

import argparse
import os
import queue
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

BARE = r"""
import sys, time
from PyQt5.QtWidgets import QApplication, QLabel
from PyQt5.QtCore import QTimer
app = QApplication(sys.argv[:1])
class Window(QLabel):
    def paintEvent(self, event):
        super().paintEvent(event)
        print("MARK painted", time.time(), flush=True)
        QTimer.singleShot(0, app.quit)
w = Window("bare window"); w.resize(1280, 800); w.show()
app.exec_()
"""

PYPLOT = r"""
import time
import numpy as np
import matplotlib.pyplot as plt
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
paint = FigureCanvasQTAgg.paintEvent
def painted(self, event):
    paint(self, event)
    if hasattr(self, "renderer"):
        print("MARK painted", time.time(), flush=True)
        plt.close("all")
FigureCanvasQTAgg.paintEvent = painted
plt.imshow(np.random.default_rng(0).random((8, 8)))
plt.show()
"""

NUMPY = r"""
import time
import numpy
print("MARK painted", time.time(), flush=True)
"""

EMBED = r"""
import sys, time
import numpy as np
from PyQt5.QtWidgets import QApplication, QMainWindow
from PyQt5.QtCore import QTimer
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
app = QApplication(sys.argv[:1])
class Canvas(FigureCanvasQTAgg):
    def paintEvent(self, event):
        super().paintEvent(event)
        if hasattr(self, "renderer"):
            print("MARK painted", time.time(), flush=True)
            QTimer.singleShot(0, app.quit)
fig = Figure()
fig.add_subplot().imshow(np.random.default_rng(0).random((8, 8)))
w = QMainWindow(); w.setCentralWidget(Canvas(fig)); w.resize(1280, 800); w.show()
app.exec_()
"""

# As a user starts it: main.py with no arguments (its parser and all), or with one net.
STRATA = r"""
import runpy, sys
sys.argv[:] = ["main.py"] + {args!r}
runpy.run_path("main.py", run_name="__main__")
"""


def launch(code: str, marks: tuple[str, ...], env: dict[str, str],
           timeout: float = 60.0, attempts: int = 3, cwd: Path = ROOT) -> dict[str, float]:
    """Run ``python -c code``; seconds from launch to each marker named in ``marks``.

    A run that could not reach the display (a loaded X server refuses a
    connection now and then) is tried again, up to ``attempts`` times.
    """
    for _ in range(attempts - 1):
        try:
            return _launch_once(code, marks, env, timeout, cwd)
        except RuntimeError as exc:
            if "display" not in str(exc).lower():
                raise
    return _launch_once(code, marks, env, timeout, cwd)


def _launch_once(code: str, marks: tuple[str, ...], env: dict[str, str],
                 timeout: float, cwd: Path) -> dict[str, float]:
    start = time.time()
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout] + [lines.put("")],
                     daemon=True).start()
    found: dict[str, float] = {}
    try:
        while len(found) < len(marks):
            line = lines.get(timeout=max(0.0, start + timeout - time.time()))
            if not line:
                break  # the program ended
            parts = line.split()
            if len(parts) == 3 and parts[0] in ("MARK", "STRATA_MARK") and parts[1] in marks:
                found[parts[1]] = float(parts[2]) - start
    except queue.Empty:
        pass
    finally:
        proc.kill()
        proc.wait()
    missing = set(marks) - set(found)
    if missing:
        last = (proc.stderr.read().strip().splitlines() or ["nothing on stderr"])[-1]
        raise RuntimeError(f"no marker {sorted(missing)} from: {code.strip()[:60]!r} ({last})")
    return found


def private_display() -> tuple[subprocess.Popen | None, str | None]:
    """Start Xvfb on a free display number; (None, None) when Xvfb is missing."""
    if not shutil.which("Xvfb"):
        return None, None
    n = 90
    while os.path.exists(f"/tmp/.X11-unix/X{n}") or os.path.exists(f"/tmp/.X{n}-lock"):
        n += 1
    server = subprocess.Popen(["Xvfb", f":{n}", "-screen", "0", "1400x900x24", "-nolisten", "tcp"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):  # a loaded machine may take seconds
        if os.path.exists(f"/tmp/.X11-unix/X{n}"):
            break
        time.sleep(0.1)
    return server, f":{n}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=9, help="measured runs of each program")
    parser.add_argument("--net", help="open this net (default: none, so the bundled demo)")
    parser.add_argument("--compare", type=Path, metavar="CHECKOUT",
                        help="instead: alternate Strata's launches with another checkout's "
                             "(e.g. a git worktree of an older commit) and print both's marks")
    parser.add_argument("--compare-net", help="the net the other checkout opens (default: its demo)")
    args = parser.parse_args()
    strata = STRATA.format(args=[args.net] if args.net else [])

    # MPLBACKEND: pyplot in the reference script must draw with Qt, never fall back to Agg.
    env = dict(os.environ, STRATA_BENCH_MARKERS="1", PYTHONPATH=str(ROOT), MPLBACKEND="QtAgg")
    # As a user runs it: compiled once, then from the bytecode cache (the warm-up run writes it).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="strata-bench-")  # fresh settings
    server = None
    if not env.get("DISPLAY"):
        server, display = private_display()
        if display:
            env["DISPLAY"] = display
        else:
            env["QT_QPA_PLATFORM"] = "offscreen"
    try:
        if args.compare:
            compare(args, env)
            return
        programs = {"bare": BARE, "numpy": NUMPY, "embed": EMBED}
        if env.get("QT_QPA_PLATFORM") != "offscreen":
            programs["pyplot"] = PYPLOT  # pyplot refuses Qt's offscreen platform
        times: dict[str, list[float]] = {k: [] for k in (*programs, "a", "b")}
        for code in programs.values():  # warm the disk cache, not measured
            launch(code, ("painted",), env)
        launch(strata, ("layer_list", "heatmap"), env)
        for _ in range(args.runs):
            for name, code in programs.items():
                times[name].append(launch(code, ("painted",), env)["painted"])
            got = launch(strata, ("layer_list", "heatmap"), env)
            times["a"].append(got["layer_list"])
            times["b"].append(got["heatmap"])
    finally:
        if server is not None:
            server.kill()
            server.wait()

    med = {k: statistics.median(v) for k, v in times.items() if v}
    platform = env.get("QT_QPA_PLATFORM") or f"xcb on {env['DISPLAY']}"
    print(f"start-up, median of {args.runs} runs ({platform}), seconds from launch, "
          f"net: {args.net or 'the bundled demo'}:")
    print(f"  bare PyQt5 window painted             {med['bare']:.3f}")
    print(f"  python -c 'import numpy'              {med['numpy']:.3f}")
    if "pyplot" in med:
        print(f"  minimal pyplot imshow script painted  {med['pyplot']:.3f}")
    print(f"  embedded Figure imshow painted        {med['embed']:.3f}")
    print(f"  strata (a) window with layer list     {med['a']:.3f}")
    print(f"  strata (b) first heatmap              {med['b']:.3f}")
    anchor = med["bare"] + med["numpy"]
    print(f"ratio (a) / (bare + numpy) = {med['a'] / anchor:.2f}   (target <= 2.0)")
    if "pyplot" in med:
        print(f"ratio (b) / pyplot script  = {med['b'] / med['pyplot']:.2f}   (target <= 1.0)")
    print(f"ratio (b) / embedded imshow = {med['b'] / med['embed']:.2f}   (the leaner reference)")


def compare(args: argparse.Namespace, env: dict[str, str]) -> None:
    """Median marks of this checkout and ``args.compare``, launched in turn ``args.runs`` times."""
    marks = ("window", "layer_list", "heatmap")
    sides = [(ROOT, args.net), (args.compare.resolve(), args.compare_net)]
    times = {root: {m: [] for m in marks} for root, _ in sides}
    for run in range(args.runs + 1):  # the first round warms the caches, not measured
        for root, net in sides if run % 2 else sides[::-1]:  # neither always goes first
            got = launch(STRATA.format(args=[net] if net else []), marks,
                         dict(env, PYTHONPATH=str(root)), cwd=root)
            for m in marks:
                if run:
                    times[root][m].append(got[m])
    print(f"start-up marks, median of {args.runs} alternated runs, seconds from launch:")
    for root, net in sides:
        cells = "  ".join(f"{m} {statistics.median(times[root][m]):.3f}" for m in marks)
        print(f"  {root} ({net or 'its demo'}): {cells}")


if __name__ == "__main__":
    main()
