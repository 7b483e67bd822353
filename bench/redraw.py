"""Interaction speed: from a layer or sample change to the heatmap repainted.

Drives the real window (state object -> worker thread -> heatmap -> Qt paint)
and times each change until the canvas has painted its result, for

- the small 8x8 demo CNN and the default 28x28 demo CNN (sample steps, and
  layer steps through their image-like layers);
- a 64-channel 56x56 conv activation shown as one mosaic (sample steps, and
  steps between the conv layer and its ReLU).

The reference, measured in the same run right after each change (so both
see the same machine load), is a naive redraw of the same image: ``set_data``
+ ``set_clim`` + a full ``canvas.draw()`` and a paint of an ``imshow`` with a
colour bar, on a canvas of the same size. Prints medians,
95th percentiles and their ratios (targets: median <= 0.5x, p95 <= 1.0x).

Usage: python bench/redraw.py [--changes N]
Uses the real display when $DISPLAY is set, else Qt's offscreen platform.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
if not os.environ.get("DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from viewer.blas import limit_blas_threads  # noqa: E402

limit_blas_threads()  # as viewer.gui.app.run() does, before numpy loads

import numpy as np  # noqa: E402
from PyQt5.QtCore import QEventLoop, QSettings, QTimer  # noqa: E402

from viewer.app.demo import DEMO_NET, SMALL_CNN  # noqa: E402
from viewer.data import open_samples  # noqa: E402
from viewer.gui.app import create_application  # noqa: E402
from viewer.net import Net  # noqa: E402
from viewer.net.layers import layer_class  # noqa: E402


def wide_conv(folder: str, n: int) -> tuple[Net, object]:
    """A net whose conv layer gives 64 channels of 56x56, and ``n`` random samples."""
    rng = np.random.default_rng(0)
    inp = layer_class("Input")(name="input", shape=(3, 56, 56), data_format="channels_first")
    conv = layer_class("Conv2D")(inp, name="conv64", padding="same",
                                 W=rng.normal(0, 0.3, (64, 3, 3, 3)).astype(np.float32),
                                 b=rng.normal(0, 0.1, 64).astype(np.float32))
    relu = layer_class("Activation")(conv, name="relu64", function="relu")
    path = os.path.join(folder, "wide.npy")
    np.save(path, rng.random((n, 3, 56, 56), dtype=np.float32))
    return Net([inp, conv, relu], name="conv64x56x56"), open_samples(path)


def wait(signal, timeout_ms: int = 10000) -> list:
    """Run the event loop until ``signal`` fires; return its arguments."""
    loop, got = QEventLoop(), []

    def done(*args):
        got.extend(args)
        loop.quit()

    signal.connect(done)
    QTimer.singleShot(timeout_ms, loop.quit)
    loop.exec_()
    signal.disconnect(done)
    if not got:
        raise RuntimeError("timed out waiting for a repaint")
    return got


class Naive:
    """The reference: imshow + colour bar, fully redrawn for each image."""

    def __init__(self, app, size: tuple[int, int], image: np.ndarray) -> None:
        from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
        from matplotlib.figure import Figure
        from PyQt5.QtWidgets import QMainWindow

        self.fig = Figure()
        self.canvas = FigureCanvasQTAgg(self.fig)
        self.im = self.fig.add_subplot().imshow(image, cmap="viridis")
        self.fig.colorbar(self.im, ax=self.fig.axes[0])
        self.win = QMainWindow()
        self.win.setCentralWidget(self.canvas)
        self.win.show()
        self.canvas.setFixedSize(*size)
        app.processEvents()
        self.canvas.draw()

    def redraw(self, image: np.ndarray) -> float:
        """Seconds to show ``image``: set_data, set_clim, full draw, paint."""
        start = time.perf_counter()
        self.im.set_data(image)
        finite = image[np.isfinite(image)]
        self.im.set_clim(float(finite.min()), float(finite.max()))
        self.canvas.draw()
        self.canvas.repaint()
        return time.perf_counter() - start


def time_changes(window, naive: Naive, changes: list) -> tuple[list[float], list[float]]:
    """For each change: seconds until the heatmap painted its result, then the
    naive redraw of the same image (interleaved, so both see the same load)."""
    ours, ref = [], []
    for change in changes:
        start = time.perf_counter()
        change()
        while True:
            result = wait(window.heatmap.drawn)[0]
            s = window.state
            if (result.request.layer, result.request.sample) == (s.layer, s.sample):
                break
        ours.append(time.perf_counter() - start)
        ref.append(naive.redraw(result.image))
    return ours, ref


def summary(name: str, ours: list[float], ref: list[float]) -> str:
    med, ref_med = statistics.median(ours), statistics.median(ref)
    p95, ref_p95 = np.percentile(ours, 95), np.percentile(ref, 95)
    return (f"{name:34s} {1e3 * med:7.1f} {1e3 * p95:7.1f}   {1e3 * ref_med:7.1f} "
            f"{1e3 * ref_p95:7.1f}   {med / ref_med:5.2f} {p95 / ref_p95:5.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--changes", type=int, default=60, help="changes timed per case")
    args = parser.parse_args()
    n = args.changes
    folder = tempfile.mkdtemp(prefix="strata-bench-")
    QSettings.setPath(QSettings.IniFormat, QSettings.UserScope, folder)  # default options
    app = create_application()
    from viewer.gui.main_window import MainWindow

    window = MainWindow()
    window.show()
    results = []
    naive = None
    for label, path in (("8x8 demo CNN", SMALL_CNN), ("28x28 demo CNN", DEMO_NET)):
        window.start(str(path))
        deadline = time.monotonic() + 30
        while (window.heatmap is None or window.state.result is None or window.state.busy
               or window.state.net.path != str(path)):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the window did not show {path}")
            app.processEvents(QEventLoop.AllEvents, 50)
        app.processEvents()
        s = window.state
        size = (window.heatmap.canvas.width(), window.heatmap.canvas.height())
        if naive is None:
            naive = Naive(app, size, s.result.image)
        image_layers = [i for i, row in enumerate(s.net.summary())
                        if row.output_shape is not None and len(row.output_shape) == 3 and i]
        results.append((f"{label}, next sample",
                        time_changes(window, naive, [lambda: s.step_sample(1)] * n)))
        results.append((f"{label}, next layer",
                        time_changes(window, naive,
                                     [lambda k=k: s.set_layer(image_layers[k % len(image_layers)])
                                      for k in range(1, n + 1)])))
    net, samples = wide_conv(folder, n + 1)
    s.set_net(net, samples)
    s.set_layer(2)
    wait(window.heatmap.drawn)
    results.append(("64ch 56x56 conv, next sample",
                    time_changes(window, naive, [lambda: s.step_sample(1)] * n)))
    results.append(("64ch 56x56 conv, conv <-> relu",
                    time_changes(window, naive, [lambda k=k: s.set_layer(1 + k % 2)
                                                 for k in range(n)])))
    window.close()
    naive.win.close()

    platform = os.environ.get("QT_QPA_PLATFORM", "xcb")
    print(f"repaint after a change, {n} changes per case, canvas {size[0]}x{size[1]} px "
          f"(platform {platform}), ms:")
    print(f"{'':34s} {'strata':>15s}   {'naive redraw':>15s}   {'ratio':>11s}")
    print(f"{'':34s} {'median':>7s} {'p95':>7s}   {'median':>7s} {'p95':>7s}   "
          f"{'med':>5s} {'p95':>5s}")
    for name, (ours, ref) in results:
        print(summary(name, ours, ref))
    print("targets: median ratio <= 0.5, p95 ratio <= 1.0")


if __name__ == "__main__":
    main()
