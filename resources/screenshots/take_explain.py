"""Screenshots of the Explain view's gradient methods, at the sizes people use.

    python resources/screenshots/take_explain.py [--sizes 1280x800,1920x1080] [--out DIR]

Drives the real window (offscreen) on the bundled 28x28 demo net, as take.py
does, and saves ``explain-<method>-<width>x<height>.png`` for integrated
gradients (with its completeness error), SmoothGrad beside the gradient,
Grad-CAM++ beside Grad-CAM, and guided backprop beside deconvnet.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

# take sets the offscreen platform and the path.
from take import run_shots, save, settle  # noqa: E402

from PyQt5.QtWidgets import QApplication  # noqa: E402

from viewer.app.demo import DEMO_NET  # noqa: E402

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


if __name__ == "__main__":
    run_shots(__doc__.split("\n")[0], lambda app, size, folder, _primary: shoot(app, size, folder))
