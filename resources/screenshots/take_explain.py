"""Screenshots of the Explain view's gradient methods, at the sizes people use.

    python resources/screenshots/take_explain.py [--sizes 1280x800,1920x1080] [--out DIR]

Drives the real window (offscreen) on the bundled 28x28 demo net, as take.py
does, and saves ``explain-<method>-<width>x<height>.png`` for integrated
gradients (with its completeness error), SmoothGrad beside the gradient,
Grad-CAM++ beside Grad-CAM, and guided backprop beside deconvnet.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from take import save, settle  # noqa: E402  (take sets the offscreen platform and the path)

from PyQt5.QtCore import QSettings, QTimer  # noqa: E402
from PyQt5.QtWidgets import QApplication  # noqa: E402

from viewer.app.demo import DEMO_NET  # noqa: E402
from viewer.gui.app import create_application  # noqa: E402

#: (file name, first method, second method or None)
SHOTS = (("explain-integrated-gradients", "integrated-gradients", None),
         ("explain-smoothgrad", "smoothgrad", "gradient"),
         ("explain-grad-cam", "grad-cam++", "grad-cam"),
         ("explain-guided-backprop", "guided-backprop", "deconvnet"))


def shoot(app: QApplication, size: tuple[int, int], folder: Path) -> None:
    from viewer.gui.main_window import MainWindow

    window = MainWindow()
    window.show()
    window.resize(*size)
    window.start(str(DEMO_NET))
    settle(app, lambda: window.heatmap is not None and window.state.result is not None)
    s = window.state
    s.set_sample(3)
    view = window.show_view("explain")
    for name, first, second in SHOTS:
        view.compare_box.setChecked(second is not None)
        view.method_box.setCurrentIndex(view.method_box.findData(first))
        if second is not None:
            view.method2_box.setCurrentIndex(view.method2_box.findData(second))
        wanted = [first] + ([second] if second else [])
        settle(app, lambda: not view.runner.busy and view.outcome is not None
               and [r.method for r in view.outcome.results] == wanted, seconds=300)
        save(window, app, folder, name, size, False)
    window.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1280x800,1920x1080")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent))
    args = parser.parse_args()
    QSettings.setPath(QSettings.IniFormat, QSettings.UserScope,
                      tempfile.mkdtemp(prefix="strata-shots-"))  # default options
    app = create_application()
    folder = Path(args.out)
    folder.mkdir(parents=True, exist_ok=True)
    for text in args.sizes.split(","):
        width, height = (int(v) for v in text.lower().split("x"))
        shoot(app, (width, height), folder)
    QTimer.singleShot(0, app.quit)


if __name__ == "__main__":
    main()
