"""Defects a new user saw, each driven through the window: stale plots and text, wrong
statistics, wrong status, formats refused, exceptions that killed the process."""

import os
import subprocess
import sys
import threading

import numpy as np
import pytest
from matplotlib.backend_bases import MouseEvent
from PyQt5.QtCore import Qt
from PyQt5.QtWidgets import QPushButton

from test_gui_window import custom_net, press, small_samples, wait_for
from viewer.analysis import activation_stats
from viewer.app.demo import DEMO_NET, SMALL_CNN
from viewer.app.opening import kind_by_name, open_filters, samples_filters
from viewer.data import open_samples
from viewer.data.formats import SAMPLE_EXTENSIONS
from viewer.gui import safety
from viewer.gui.stats_panel import number
from viewer.net import Net
from viewer.net.layers import layer_class

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KERAS_MODEL = os.path.join(ROOT, "tests", "fixtures", "keras3_cnn.h5")

pytestmark = [pytest.mark.skipif(not SMALL_CNN.exists(), reason="the demo net is not built"),
              pytest.mark.usefixtures("isolated_settings")]


def hover_over(view, row, col):
    """Move the mouse over image pixel (row, col) of a heatmap, as matplotlib reports it."""
    x, y = view.axes.transData.transform((col, row))
    MouseEvent("motion_notify_event", view.canvas, x, y)._process()


# -- the safety net -----------------------------------------------------------------

def test_an_exception_in_a_slot_shows_in_the_strip_and_the_window_carries_on(qtbot, window,
                                                                             capfd):
    wait_for(qtbot, window)
    capfd.readouterr()
    uninstall = safety.install(window)
    try:
        button = QPushButton("break", window)

        def broken():
            raise ZeroDivisionError("a slot that divides by zero")

        button.clicked.connect(broken)
        button.click()
        assert window.banner.isVisible()
        text = window.banner.text.text()
        assert "unexpected error" in text and "ZeroDivisionError" in text and "broken" in text
        err = capfd.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("strata: unexpected error")

        def thread_fails():
            raise RuntimeError("a worker thread that fails")

        thread = threading.Thread(target=thread_fails)
        thread.start()
        thread.join()
        qtbot.waitUntil(lambda: "a worker thread that fails" in window.banner.text.text())
    finally:
        uninstall()
    press(qtbot, window, Qt.Key_Right)
    wait_for(qtbot, window, sample=1)  # still usable


SLOT_RAISES = r"""
import sys
from PyQt5.QtCore import QTimer
from viewer.gui.app import create_application
from viewer.gui import safety
from viewer.gui.main_window import MainWindow
app = create_application()
w = MainWindow()
if sys.argv[1] == "hooked":
    safety.install(w)
def broken():
    raise ValueError("from a slot")
QTimer.singleShot(0, broken)
QTimer.singleShot(300, app.quit)
sys.exit(app.exec_())
"""


@pytest.mark.parametrize("mode", ["hooked", "bare"])
def test_with_the_hooks_a_slot_exception_no_longer_aborts_the_process(tmp_path, mode):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=ROOT,
               XDG_CONFIG_HOME=str(tmp_path))
    done = subprocess.run([sys.executable, "-c", SLOT_RAISES, mode], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    if mode == "hooked":
        assert done.returncode == 0
        lines = [x for x in done.stderr.splitlines() if x.startswith("strata:")]
        assert len(lines) == 1 and "ValueError: from a slot" in lines[0]
    else:  # what the hooks prevent: PyQt5 aborts on an exception in a slot
        assert done.returncode != 0


# -- stale plots and text -----------------------------------------------------------

def test_the_hover_readout_never_keeps_another_layers_text(qtbot, window, tmp_path):
    wait_for(qtbot, window)
    heatmap = window.heatmap
    hover_over(heatmap, 0, 0)
    first = heatmap.hover.text()
    assert first.startswith("channel 0 · y 0, x 0")
    window.state.set_net(custom_net("nan"), small_samples(tmp_path))
    wait_for(qtbot, window, layer=1)
    # The same pointer position now describes the new layer (a dense unit), or nothing:
    # a small dense layer is drawn as bars, with no readout until the pointer moves.
    assert heatmap.hover.text() != first and heatmap.hover.text() == ""
    heatmap.bars.box.setChecked(False)  # as a grid of units again
    assert heatmap.hover.text() == heatmap.describe(*heatmap._pointer)
    assert heatmap.hover.text().startswith("unit")


def test_the_classes_tab_forgets_the_previous_nets_plot(qtbot, window, tmp_path):
    wait_for(qtbot, window)
    panel = window.show_view("dataset")
    panel.show_tab("classes")
    qtbot.waitUntil(lambda: panel.classes.means is not None, timeout=30_000)
    assert panel.classes.axes.get_xlabel().startswith("channel of")
    # A net whose samples have no labels and that predicts no classes: no class means.
    window.state.set_net(custom_net("nan"), small_samples(tmp_path))
    qtbot.waitUntil(lambda: panel.sweeps.idle and panel.classes.means is None, timeout=30_000)
    classes = panel.classes
    assert classes.axes.get_xlabel() == "" and classes.axes.get_ylabel() == ""
    assert len(classes.axes.get_yticks()) == 0 and not classes.colorbar.ax.get_visible()
    assert classes.values.size == 0


def test_the_weights_tab_shows_the_weights_statistics(qtbot, window):
    wait_for(qtbot, window)
    s = window.state
    conv = s.net.index("conv2")
    s.set_layer(conv)
    wait_for(qtbot, window, layer=conv)
    activation_max = window.stats.values["max"].text()
    weights = window.show_view("weights")
    qtbot.waitUntil(lambda: weights.param == "W")
    W = s.net[conv].params()["W"]
    expected = activation_stats(W)
    assert window.stats.values["max"].text() == number(expected.max) != activation_max
    assert window.stats.values["mean"].text() == number(expected.mean)
    assert window.stats.values["kind"].text() == "parameter"
    assert "W" in window.stats.scope.text()
    window.show_view("heatmap")  # back to the activation's statistics
    assert window.stats.values["max"].text() == activation_max


def test_opening_a_keras_model_does_not_say_samples(qtbot, window):
    wait_for(qtbot, window)
    messages = []
    window.statusBar().messageChanged.connect(messages.append)
    with qtbot.waitSignal(window.state.netChanged, timeout=30_000):
        window.state.open(KERAS_MODEL)
    qtbot.waitUntil(lambda: any("Opened" in m for m in messages))
    assert not any("samples" in m for m in messages)
    assert any(m.startswith("Opened") for m in messages)


# -- formats ------------------------------------------------------------------------

def test_a_webp_sample_opens_through_the_windows_open_path(qtbot, window, tmp_path):
    Image = pytest.importorskip("PIL.Image")
    if "WEBP" not in Image.registered_extensions().values():
        pytest.skip("this Pillow has no WebP")
    wait_for(qtbot, window)
    path = tmp_path / "digit.webp"
    pixels = np.zeros((8, 8), np.uint8)
    pixels[2:6, 3:5] = 255
    Image.fromarray(pixels).save(path, lossless=True)
    assert kind_by_name(str(path)) == "samples"
    with qtbot.waitSignal(window.state.samplesChanged):
        window.state.open(str(path))
    wait_for(qtbot, window, sample=0)
    assert len(window.state.samples) == 1
    np.testing.assert_array_equal(window.state.samples.raw(0).reshape(8, 8), pixels)


def test_every_sample_extension_is_in_the_dialogs_filters():
    for ext in SAMPLE_EXTENSIONS:
        assert f"*{ext}" in open_filters() and f"*{ext}" in samples_filters()


def test_the_default_demo_is_the_28x28_net():
    from viewer.gui import app as gui_app

    assert gui_app.DEMO_NET == DEMO_NET and DEMO_NET.name == "mnist_cnn.h5"


# -- labels -----------------------------------------------------------------------------

def test_mosaic_tiles_carry_their_channel_numbers(qtbot, window):
    r = wait_for(qtbot, window)
    numbers = window.heatmap.tile_numbers
    n = len(r.picture.channel_boxes)
    assert numbers.isVisible() and [k for k, _x, _y in numbers.places] == list(range(n))
    # Channel 5's number sits at its tile's top-left corner on screen.
    top, left = r.picture.channel_boxes[5][:2]
    x, y = window.heatmap.axes.transData.transform((left - 0.5, top - 0.5))
    _k, qx, qy = numbers.places[5]
    ratio = window.heatmap.canvas.device_pixel_ratio
    assert abs(qx - x / ratio) < 2 and abs(qy - (window.heatmap.canvas.height() - y / ratio)) < 2
    window.heatmap.axes.set_xlim(0, 3)  # zoomed in: the numbers would be in the wrong places
    assert not numbers.isVisible()
    window.state.set_channel(2)
    r = wait_for(qtbot, window, channel=2)
    assert not numbers.isVisible()
    assert window.heatmap.axes.get_xlabel() == "x" and window.heatmap.axes.get_ylabel() == "y"
    assert "1 channel " not in window.heatmap.title.text()


def test_sequence_layers_name_their_axes(qtbot, window, tmp_path):
    wait_for(qtbot, window)
    Input, Dense = layer_class("Input"), layer_class("Dense")
    inp = Input(name="input", shape=(5, 3))
    seq = Dense(inp, name="per_step", W=np.eye(3, dtype=np.float32))
    path = tmp_path / "seq.npy"
    np.save(path, np.arange(30, dtype=np.float32).reshape(2, 5, 3))
    window.state.set_net(Net([inp, seq], name="seq_net"), open_samples(str(path)))
    r = wait_for(qtbot, window, layer=1)
    assert r.picture.kind == "matrix"
    assert (window.heatmap.axes.get_ylabel(), window.heatmap.axes.get_xlabel()) == r.picture.axes
