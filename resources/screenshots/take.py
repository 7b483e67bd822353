"""Screenshots of every view of the window, at the sizes people use.

    python resources/screenshots/take.py [--sizes 1280x800,1920x1080] [--out DIR]

Drives the real window (offscreen, so no display is needed) on the bundled
28x28 demo net and saves one PNG per view and size into ``DIR`` (default:
this folder), named ``<view>-<width>x<height>.png``; ``<view>.png`` (at the
first size) is what the README shows.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PyQt5.QtCore import QEventLoop, QSettings, QTimer  # noqa: E402
from PyQt5.QtWidgets import QApplication  # noqa: E402

from viewer.app.demo import DEMO_NET  # noqa: E402
from viewer.gui.app import create_application  # noqa: E402



def folder_for_samples() -> Path:
    """A scratch folder for the sequence samples."""
    return Path(tempfile.mkdtemp(prefix="strata-shots-"))


def gru_net(folder: Path) -> tuple[Any, Any]:
    """A GRU over 40 steps of 6 features (seeded random weights), and 8 random sequences."""
    import numpy as np

    from viewer.data import open_samples
    from viewer.net import Net
    from viewer.net.layers import layer_class

    rng = np.random.default_rng(0)
    inp = layer_class("Input")(name="input", shape=(40, 6))
    gru = layer_class("GRU")(inp, name="gru", W=rng.normal(0, 0.5, (6, 36)).astype(np.float32),
                             U=rng.normal(0, 0.3, (12, 36)).astype(np.float32))
    t = np.linspace(0, 6 * np.pi, 40, dtype=np.float32)
    x = np.stack([np.stack([np.sin(t * (1 + k / 3) + i) for k in range(6)], axis=1)
                  for i in range(8)]).astype(np.float32)
    np.save(folder / "sequences.npy", x)
    return Net([inp, gru], name="gru_demo"), open_samples(str(folder / "sequences.npy"))


def settle(app: QApplication, until: Callable[[], bool] = lambda: True,
           seconds: float = 30.0) -> None:
    """Run the event loop until ``until()`` holds and nothing is busy, then a little more."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not until():
        app.processEvents(QEventLoop.AllEvents, 50)
    for _ in range(20):  # let queued paints and layouts finish
        app.processEvents(QEventLoop.AllEvents, 20)
        time.sleep(0.02)


def save(window: Any, app: QApplication, folder: Path, name: str, size: tuple[int, int],
         primary: bool) -> None:
    settle(app, lambda: not window.state.busy)
    for path in [folder / f"{name}-{size[0]}x{size[1]}.png"] + ([folder / f"{name}.png"]
                                                               if primary else []):
        window.grab().save(str(path))
        print(f"saved {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


def shoot(app: QApplication, size: tuple[int, int], folder: Path, primary: bool) -> None:
    from viewer.gui.main_window import MainWindow

    window = MainWindow()
    window.show()
    window.resize(*size)
    window.start(str(DEMO_NET))
    settle(app, lambda: window.heatmap is not None and window.state.result is not None)
    s = window.state
    net = s.net
    s.set_layer(net.index("relu1"))
    s.set_sample(3)
    settle(app, lambda: s.result is not None and s.result.request.sample == 3)
    save(window, app, folder, "heatmap", size, primary)

    from viewer.gui.dialogs import ShortcutsDialog

    dialog = ShortcutsDialog(window.views.shortcut_rows(), window)
    dialog.show()
    settle(app)
    path = folder / f"shortcuts-{size[0]}x{size[1]}.png"
    dialog.grab().save(str(path))
    print(f"saved {path}")
    dialog.close()

    s.set_channel(5)
    settle(app, lambda: s.result is not None and s.result.request.channel == 5)
    save(window, app, folder, "channel", size, primary)
    s.set_channel(None)

    s.set_layer(net.index("fc"))
    settle(app, lambda: s.result is not None and s.result.request.layer == net.index("fc"))
    save(window, app, folder, "dense", size, primary)

    s.set_layer(net.index("relu2"))
    window.show_view("histogram")
    settle(app, lambda: window.histogram is not None and window.histogram.current() is s.result)
    save(window, app, folder, "histogram", size, primary)

    s.set_layer(net.index("relu2"))
    compare = window.show_view("compare")
    s.set_sample(7)
    settle(app, lambda: compare.comparison is not None
           and compare.comparison.pair.b_sample == 7)
    save(window, app, folder, "compare", size, primary)

    s.set_layer(net.index("conv2"))
    weights = window.show_view("weights")
    settle(app, lambda: weights.param is not None)
    save(window, app, folder, "weights", size, primary)
    s.set_layer(net.index("fc"))
    settle(app, lambda: weights.param is not None and weights.picture.kind == "matrix")
    save(window, app, folder, "weights-dense", size, primary)

    window.show_view("heatmap")
    s.set_layer(net.index("relu3"))
    panel = window.show_view("dataset")
    settle(app, lambda: panel.sweeps.result is not None, seconds=180)
    for tab in ("units", "pca", "classes", "browse"):
        panel.show_tab(tab)
        if tab == "browse":
            settle(app, lambda: panel.predictions.complete, seconds=180)
        save(window, app, folder, f"dataset-{tab}", size, primary)
    window.show_view("dataset")  # the toggle: hide it again
    window.views.entries["dataset"].action.setChecked(False)

    shoot_featurevis(window, app, folder, size, primary)

    net, samples = gru_net(folder_for_samples())
    s.set_net(net, samples)
    settle(app, lambda: s.net is net and s.result is not None)
    s.set_layer(1)
    settle(app, lambda: s.result is not None and s.result.request.layer == 1)
    save(window, app, folder, "sequence", size, primary)
    window.close()


def shoot_featurevis(window: Any, app: QApplication, folder: Path, size: tuple[int, int],
                     primary: bool) -> None:
    """The Feature vis panel: one conv2 channel halfway and done, conv2's gallery, a dream."""
    s = window.state
    s.set_layer(s.net.index("conv2"))
    s.set_sample(3)
    view = window.show_view("featurevis")
    column = window.views.column
    total = sum(column.sizes())
    column.setSizes([total * 2 // 5, total - total * 2 // 5])  # the panel gets the most room
    view.select("conv2", 10)
    view.steps.setValue(256)
    growing = folder / f"featurevis-grow-{size[0]}x{size[1]}.png"

    def grab_growing(_job: int, _done: int, _total: int, frame: Any) -> None:
        if frame.step == 96:  # the view has drawn the frame (its slot runs first)
            view.canvas.draw()
            for path in [growing] + ([folder / "featurevis-grow.png"] if primary else []):
                window.grab().save(str(path))
                print(f"saved {path}")

    view.runner.progressed.connect(grab_growing)
    view.run()
    settle(app, lambda: not view.runner.busy and view.frame is not None
           and view.frame.result is not None, seconds=600)
    view.runner.progressed.disconnect(grab_growing)
    save(window, app, folder, "featurevis", size, primary)
    for mode, steps in (("gallery", 128), ("dream", 32)):
        view.select("conv2", mode=mode)
        view.steps.setValue(steps)
        view.run()
        settle(app, lambda: not view.runner.busy and view.frame is not None
               and view.frame.result is not None and view.frame.request.mode == mode,
               seconds=1200)
        save(window, app, folder, f"featurevis-{mode}", size, primary)
    window.views.entries["featurevis"].action.setChecked(False)


def run_shots(description: str,
              shoot_size: Callable[[QApplication, tuple[int, int], Path, bool], None]) -> None:
    """The command line of a screenshot script: ``--sizes`` and ``--out``, default
    settings, then ``shoot_size(app, (width, height), folder, primary)`` per size (the
    first size is the primary one)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--sizes", default="1280x800,1920x1080")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent))
    args = parser.parse_args()
    QSettings.setPath(QSettings.IniFormat, QSettings.UserScope,
                      tempfile.mkdtemp(prefix="strata-shots-"))  # default options
    app = create_application()
    folder = Path(args.out)
    folder.mkdir(parents=True, exist_ok=True)
    for i, text in enumerate(args.sizes.split(",")):
        width, height = (int(v) for v in text.lower().split("x"))
        shoot_size(app, (width, height), folder, i == 0)
    QTimer.singleShot(0, app.quit)


if __name__ == "__main__":
    run_shots(__doc__.split("\n")[0], shoot)
