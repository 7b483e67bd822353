"""The Dataset panel's choice of where sweeps run: typed or picked in the bar, checked,
remembered in the settings, passed to the sweep; a sweep on `local:1` shows the in-process
numbers and says where it ran."""

import numpy as np
import pytest
from PyQt5.QtCore import Qt

from viewer.analysis.sweep import Sweep
from viewer.app.demo import SMALL_CNN
from viewer.app.sweeps import WHERE_KEY
from viewer.gui.explore.dataset_panel import DatasetPanel
from viewer.gui.explore.sweep_worker import SweepController
from viewer.gui.settings import open_settings
from viewer.gui.state import AppState
from viewer.session import open_net

pytestmark = pytest.mark.skipif(not SMALL_CNN.exists(), reason="the demo net is not built")

RELU2 = 7


@pytest.fixture
def state(qtbot):
    s = AppState()
    s.set_net(*open_net(str(SMALL_CNN), isolate=False))
    s.set_layer(RELU2)
    yield s
    s.shutdown()


def _panel(qtbot, state):
    panel = DatasetPanel(state)
    qtbot.addWidget(panel, before_close_func=lambda p: p.shutdown())  # no sweep outlives it
    panel.sweeps.set_auto(False)
    return panel


def _type(qtbot, box, text):
    box.lineEdit().selectAll()
    qtbot.keyClicks(box.lineEdit(), text)
    qtbot.keyClick(box.lineEdit(), Qt.Key_Return)


def test_where_sweeps_run_is_checked_and_remembered(qtbot, state, isolated_settings):
    panel = _panel(qtbot, state)
    bar = panel.bar
    assert bar.run_box.currentText() == "in-process" and panel.sweeps.where == "in-process"
    _type(qtbot, bar.run_box, "tcp://127.0.0.1:8786")
    assert panel.sweeps.where == "tcp://127.0.0.1:8786"
    assert open_settings().value(WHERE_KEY) == "tcp://127.0.0.1:8786"
    _type(qtbot, bar.run_box, "local:0")
    assert bar.status.text() == "--cluster local:0: local:N needs a number of workers N >= 1"
    assert panel.sweeps.where == "tcp://127.0.0.1:8786"
    assert bar.run_box.currentText() == "tcp://127.0.0.1:8786"
    bar.run_box.setCurrentIndex(bar.run_box.findText("local:2"))
    bar.run_box.activated.emit(bar.run_box.currentIndex())
    assert panel.sweeps.where == "local:2" and open_settings().value(WHERE_KEY) == "local:2"
    panel.shutdown()
    again = _panel(qtbot, state)  # a new window remembers it
    assert again.bar.run_box.currentText() == "local:2" and again.sweeps.where == "local:2"
    again.shutdown()


def test_a_sweep_on_local_workers_shows_the_in_process_numbers_and_where(qtbot, state):
    sweeps = SweepController(state)
    sweeps.auto = False
    sweeps.set_where("local:1")
    with qtbot.waitSignal(sweeps.finished, timeout=180_000):
        sweeps.run(RELU2)
    qtbot.waitUntil(lambda: sweeps.idle)
    result = sweeps.result
    want = Sweep(state.net, state.samples, RELU2, k=sweeps.k).run()
    np.testing.assert_allclose(result.mean, want.mean, rtol=1e-6)
    np.testing.assert_array_equal(result.top_samples, want.top_samples)
    assert sweeps.ran == "local:1 (1 worker process)"
    sweeps.shutdown()


def test_the_bar_says_where_the_shown_sweep_ran(qtbot, state, isolated_settings):
    panel = _panel(qtbot, state)
    bar, sweeps = panel.bar, panel.sweeps
    with qtbot.waitSignal(sweeps.finished, timeout=60_000):
        bar.sweep_button.click()
    assert bar.ran_label.text() == "in-process"
    _type(qtbot, bar.run_box, "local:1")
    state.set_layer(RELU2 + 1)  # not swept yet
    with qtbot.waitSignal(sweeps.finished, timeout=180_000):
        bar.sweep_button.click()
    qtbot.waitUntil(lambda: sweeps.idle)
    assert bar.ran_label.text() == "local:1 (1 worker process)"
    _type(qtbot, bar.run_box, "in-process")
    state.set_layer(RELU2)  # its cached sweep: where that one ran, not the box's choice
    assert bar.ran_label.text() == "in-process"
    state.set_layer(RELU2 + 1)
    assert bar.ran_label.text() == "local:1 (1 worker process)"
    assert bar.status.toolTip() == "ran local:1 (1 worker process)"  # where the label has no room
    state.set_layer(RELU2 + 2)  # not swept: nothing ran
    assert bar.ran_label.text() == ""
    panel.shutdown()
