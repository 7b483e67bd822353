"""Start-up time of the window, against two reference programs run alongside.

Measures, over several interleaved runs, the wall time from launching a
fresh Python process to:

- bare:   a plain PyQt5 window (after ``import numpy``) painted;
- mpl:    a minimal PyQt5 window with one matplotlib ``imshow`` painted;
- strata: (a) Strata's window painted with its layer list, and
          (b) its first heatmap painted, on the bundled demo net.

and prints the medians and the ratios the issue sets targets for:
(a) / bare <= 2 and (b) / mpl <= 1. The three programs report the moment
they painted on stdout; Strata does so only with STRATA_BENCH_MARKERS=1.

Usage: python bench/startup.py [--runs N]
Uses the real display when $DISPLAY is set, else Qt's offscreen platform.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

BARE = r"""
import sys, time
import numpy
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

MPL = r"""
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

STRATA = "from viewer.gui.app import run; run(None, None)"


def launch(code: str, marks: tuple[str, ...], env: dict[str, str]) -> dict[str, float]:
    """Run ``python -c code``; seconds from launch to each marker named in ``marks``."""
    start = time.time()
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    found: dict[str, float] = {}
    try:
        for line in proc.stdout:
            parts = line.split()
            if len(parts) == 3 and parts[0] in ("MARK", "STRATA_MARK") and parts[1] in marks:
                found[parts[1]] = float(parts[2]) - start
                if len(found) == len(marks):
                    break
    finally:
        proc.kill()
        proc.wait()
    missing = set(marks) - set(found)
    if missing:
        raise RuntimeError(f"no marker {sorted(missing)} from: {code[:60]!r}")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="measured runs of each program")
    args = parser.parse_args()

    env = dict(os.environ, STRATA_BENCH_MARKERS="1", PYTHONPATH=str(ROOT))
    if not env.get("DISPLAY"):
        env["QT_QPA_PLATFORM"] = "offscreen"
    config = tempfile.mkdtemp(prefix="strata-bench-")
    env["XDG_CONFIG_HOME"] = config  # fresh settings: default geometry, no user state

    programs = {
        "bare": (BARE, ("painted",)),
        "mpl": (MPL, ("painted",)),
        "strata": (STRATA, ("layer_list", "heatmap")),
    }
    times: dict[str, list[float]] = {"bare": [], "mpl": [], "a": [], "b": []}
    for name, (code, marks) in programs.items():  # warm the disk cache, not measured
        launch(code, marks, env)
    for _ in range(args.runs):
        times["bare"].append(launch(BARE, ("painted",), env)["painted"])
        times["mpl"].append(launch(MPL, ("painted",), env)["painted"])
        got = launch(STRATA, ("layer_list", "heatmap"), env)
        times["a"].append(got["layer_list"])
        times["b"].append(got["heatmap"])

    med = {k: statistics.median(v) for k, v in times.items()}
    platform = env.get("QT_QPA_PLATFORM", "xcb")
    print(f"start-up, median of {args.runs} runs (platform {platform}), seconds from launch:")
    print(f"  bare PyQt5 window + numpy         {med['bare']:.3f}")
    print(f"  minimal matplotlib imshow window  {med['mpl']:.3f}")
    print(f"  strata (a) window + layer list    {med['a']:.3f}")
    print(f"  strata (b) first heatmap          {med['b']:.3f}")
    print(f"ratio (a) / bare = {med['a'] / med['bare']:.2f}   (target <= 2.0)")
    print(f"ratio (b) / mpl  = {med['b'] / med['mpl']:.2f}   (target <= 1.0)")


if __name__ == "__main__":
    main()
