"""The window's Preprocessing control, its memory per (net, samples) pair, its warnings, logits."""

import os

import numpy as np
import pytest
from PyQt5.QtCore import Qt

from viewer.data import embedded_samples
from viewer.gui.main_window import MainWindow
from viewer.gui.preprocess_dialog import number_text, numbers, preview
from viewer.data.preprocess import Preprocess
from viewer.data.proposal import Range

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CNN = os.path.join(ROOT, "resources", "demo", "digits_cnn.h5")
LOGITS = os.path.join(ROOT, "tests", "fixtures", "digits_logits_op17.onnx")

pytestmark = pytest.mark.usefixtures("isolated_settings")


@pytest.fixture(scope="module")
def raw():
    own = embedded_samples(CNN)
    return own.raw_batch(np.arange(len(own))), own.labels


@pytest.fixture
def float_npz(tmp_path, raw):
    path = tmp_path / "float01.npz"
    np.savez(path, X=(raw[0][:, 0] / 16).astype(np.float32), labels=raw[1])
    return str(path)


def open_window(qtbot, net, samples=None):
    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    w.start(net, samples)
    qtbot.waitUntil(lambda: w.heatmap is not None and w.state.result is not None
                    and not w.state.busy, timeout=20000)
    return w


def wait_choice(qtbot, w, how):
    qtbot.waitUntil(lambda: w.state.choice is not None and w.state.choice.how == how
                    and w.state.result is not None
                    and w.state.result.request.samples is w.state.samples
                    and not w.state.busy, timeout=20000)


def test_numbers_in_the_fields():
    assert numbers("1/255") == pytest.approx(1 / 255) and numbers(" 0.5 ") == 0.5
    assert numbers("0.485, 0.456; 0.406") == (0.485, 0.456, 0.406)
    for bad in ("", "x", "1/0", "inf"):
        with pytest.raises((ValueError, ZeroDivisionError)):
            numbers(bad)
    assert number_text(1 / 255) == "1/255" and number_text(0.0625) == "1/16"
    assert number_text(0.3) == "0.3" and number_text((0.5, 1.0)) == "0.5, 1"
    p = Preprocess(scale=1 / 255, mean=(0.5, 0.4), std=(0.25, 0.5))
    assert preview(Range(0, 255), p) == Range(pytest.approx(-2.0), pytest.approx(2.0))


def test_the_sample_panel_shows_the_proposal(qtbot, float_npz, raw):
    w = open_window(qtbot, CNN, float_npz)
    row = w.samples.preprocessing
    assert row.isVisible() and row.button.isEnabled()
    assert row.summary.text() == ("Preprocessing <b>x (unchanged)</b> (proposed) · values 0..1 "
                                  "→ 0..1")
    assert "the net's own samples are uint8 values 0..16 with x / 16" in row.summary.toolTip()
    assert not w.banner.isVisible()
    np.testing.assert_allclose(w.state.result.net_input, raw[0][0] / 16)


def test_editing_the_preprocessing_recomputes_and_warns(qtbot, float_npz, raw):
    w = open_window(qtbot, CNN, float_npz)
    w.state.set_layer(1)
    qtbot.waitUntil(lambda: w.state.result.request.layer == 1)
    w.state.set_sample(5)
    qtbot.waitUntil(lambda: w.state.result.request.sample == 5)
    before = w.state.result.activation.copy()
    qtbot.mouseClick(w.samples.preprocessing.button, Qt.LeftButton)
    dialog = w.samples.preprocessing.dialog
    assert dialog.isVisible() and dialog.scale.text() == "1" and dialog.mean.text() == "0"
    assert not dialog.apply_button.isEnabled()  # nothing changed yet
    dialog.scale.setText("16")
    assert "net input <b>0..16</b>" in dialog.ranges.text()
    assert "own samples give <b>0..1</b>" in dialog.ranges.text()
    dialog.mean.setText("1, 2")
    assert dialog.problem.text().startswith("preprocess 'mean' has 2 values but the samples "
                                            "have 1 channels")
    assert not dialog.apply_button.isEnabled()
    dialog.mean.setText("0")
    qtbot.mouseClick(dialog.apply_button, Qt.LeftButton)
    wait_choice(qtbot, w, "given")
    # Everything shown follows: the same sample and layer, its input 16x.
    assert w.state.sample == 5 and w.state.result.request.layer == 1
    np.testing.assert_allclose(w.state.result.net_input, raw[0][5].astype(np.float32))
    assert not np.allclose(w.state.result.activation, before)
    assert w.banner.isVisible() and w.banner.kind == "preprocess"
    assert "the net input ranges 0..16 after preprocessing (x * 16), 16x off the 0..1" in \
        w.banner.text.text()
    assert w.samples.preprocessing.summary.text().startswith("⚠ Preprocessing <b>x * 16</b> (chosen)")
    qtbot.mouseClick(dialog.proposed_button, Qt.LeftButton)
    wait_choice(qtbot, w, "proposed")
    np.testing.assert_allclose(w.state.result.net_input, raw[0][5] / 16)
    assert not w.banner.isVisible()


def test_the_choice_is_remembered_per_pair(qtbot, float_npz, raw):
    w = open_window(qtbot, CNN, float_npz)
    w.state.set_preprocess({"scale": 0.5})
    wait_choice(qtbot, w, "given")
    w.close()
    # Reopening the net alone brings back its samples and their preprocessing.
    again = open_window(qtbot, CNN)
    wait_choice(qtbot, again, "given")
    assert again.state.samples_path == os.path.abspath(float_npz)
    assert again.state.choice.preprocess == Preprocess(scale=0.5)
    np.testing.assert_allclose(again.state.result.net_input, raw[0][0] / 32)
    again.close()


def test_a_logits_onnx_net_gets_predictions_in_the_window(qtbot, tmp_path, raw):
    np.savez(tmp_path / "digits.npz", X=raw[0], labels=raw[1])
    w = open_window(qtbot, LOGITS, str(tmp_path / "digits.npz"))
    net, samples = w.state.net, w.state.samples
    logits = net[-1](samples.batch([0]))[0].astype(np.float64)
    probs = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    k = int(probs.argmax())
    assert w.samples.prediction.text().startswith(f"{k} · {100 * probs[k]:.1f} %")


# ---------------------------------------------------------------- bar charts

def test_small_vectors_are_drawn_as_labelled_bars(qtbot, tmp_path, raw):
    import h5py
    names = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    with h5py.File(tmp_path / "named.h5", "w") as f:
        f["X"] = raw[0]
        f["labels"] = raw[1]
        f["label_names"] = names
    w = open_window(qtbot, LOGITS, str(tmp_path / "named.h5"))
    view = w.heatmap
    w.state.set_layer(len(w.state.net) - 1)  # the logits
    w.state.set_sample(3)
    qtbot.waitUntil(lambda: w.state.result.request.sample == 3
                    and w.state.result.request.layer == len(w.state.net) - 1)
    chart = view.bars.chart
    assert view.bars.box.isChecked() and view._pages.currentWidget() is chart
    logits = w.state.result.activation
    heights = [rect.get_height() for rect in chart.container]
    np.testing.assert_allclose(heights, logits, rtol=1e-6)
    assert [t.get_text() for t in chart.axes.get_xticklabels()] == names
    assert chart.axes.get_ylabel() == "logit" and chart.axes.get_xlabel() == "class"
    k, label = int(np.argmax(logits)), int(raw[1][3])
    colour = "#1a7f37" if k == label else "#c62828"
    from matplotlib.colors import to_hex
    assert to_hex(chart.container[k].get_facecolor()) == colour
    assert chart.container[label].get_linewidth() == pytest.approx(1.6)
    # The next sample updates the same bars in place.
    first = list(chart.container)
    w.state.set_sample(4)
    qtbot.waitUntil(lambda: w.state.result.request.sample == 4)
    assert list(chart.container) == first
    np.testing.assert_allclose([r.get_height() for r in chart.container],
                               w.state.result.activation, rtol=1e-6)
    # Untick: the grid again; tick a conv layer: one bar per channel, its mean.
    view.bars.box.setChecked(False)
    assert view._pages.currentWidget() is view.canvas
    w.state.set_layer(1)
    qtbot.waitUntil(lambda: w.state.result.request.layer == 1)
    assert not view.bars.box.isChecked() and view._pages.currentWidget() is view.canvas
    view.bars.box.setChecked(True)
    assert view._pages.currentWidget() is chart
    act = w.state.result.activation
    np.testing.assert_allclose([r.get_height() for r in chart.container],
                               act.reshape(len(act), -1).mean(axis=1), rtol=1e-5)
    assert chart.axes.get_xlabel() == "channel (mean)"
    assert chart.axes.get_ylabel() == "value"


# ---------------------------------------------------------------- dead, or never above

def test_the_dataset_panel_threshold_and_never_above(qtbot):
    from viewer.analysis.sweep import Sweep
    from viewer.gui.explore.dataset_panel import DatasetPanel
    from viewer.gui.state import AppState
    from viewer.session import open_net

    state = AppState()
    state.set_net(*open_net(CNN, isolate=False))
    fc2, relu3 = 13, 11
    state.set_layer(fc2)  # a Dense layer: its negative units are not dead
    panel = DatasetPanel(state)
    qtbot.addWidget(panel)
    with qtbot.waitSignal(panel.sweeps.resultChanged, check_params_cb=lambda r: r is not None):
        panel.resize(1000, 640)
        panel.show()
    bar = panel.bar
    with qtbot.waitSignal(panel.sweeps.resultChanged, timeout=20000,
                          check_params_cb=lambda r: r is not None and r.threshold == 30.0):
        bar.threshold_box.setValue(30.0)
    result = panel.sweeps.result
    want = Sweep(state.net, state.samples, fc2, threshold=30.0).run()
    np.testing.assert_array_equal(result.never_active, want.never_active)
    assert want.never_active.any() and not result.dead.any() and not result.rectified
    table = panel.table.units
    assert table.headerData(4, Qt.Horizontal) == "Never active"
    cells = [table.data(table.index(u, 4)) for u in range(result.n_units)]
    assert cells == ["never above 30" if n else "" for n in want.never_active]
    assert f"{int(want.never_active.sum())} never above 30" in bar.status.text()
    # A ReLU layer at the same threshold: never active is dead.
    with qtbot.waitSignal(panel.sweeps.resultChanged, timeout=20000,
                          check_params_cb=lambda r: r is not None and r.layer == relu3):
        state.set_layer(relu3)
    result = panel.sweeps.result
    assert result.rectified and table.headerData(4, Qt.Horizontal) == "Dead"
    np.testing.assert_array_equal(result.dead, result.never_active)
    assert f"{int(result.dead.sum())} dead" in bar.status.text()
    panel.shutdown()
    state.shutdown()


def test_pair_memory_round_trip_and_clearing(qtbot, tmp_path, float_npz):
    from viewer.app.pairs import MAX_PAIRS, PairMemory
    memory = PairMemory().remember(CNN, float_npz, {"scale": 0.5}).remember(CNN, None, None)
    again = PairMemory.from_json(memory.to_json())
    assert again.preprocess_for(CNN, float_npz) == {"scale": 0.5}
    assert again.preprocess_for(CNN, None) is None
    assert again.last_samples(CNN) is None  # the newest pair: the net's own samples
    assert again.remember(CNN, float_npz, None).last_samples(CNN) == os.path.abspath(float_npz)
    assert PairMemory.from_json("not json").pairs == () and PairMemory.from_json("[3]").pairs == ()
    many = PairMemory()
    for i in range(MAX_PAIRS + 5):
        many = many.remember(f"/nets/{i}.h5", None, None)
    assert len(many.pairs) == MAX_PAIRS and many.pairs[0].net == f"/nets/{MAX_PAIRS + 4}.h5"
    # File > Open recent > Clear the list forgets the pairs too.
    w = open_window(qtbot, CNN, float_npz)
    w.state.set_preprocess({"scale": 0.5})
    wait_choice(qtbot, w, "given")
    w.clear_recent()
    assert w.state.memory.pairs == ()
    w.close()
    again = open_window(qtbot, CNN)
    assert again.state.samples_path is None and again.state.choice.how == "stored"
    again.close()


def test_exported_picture_shows_the_bars_on_show(qtbot, tmp_path):
    w = open_window(qtbot, CNN)
    w.state.set_layer(len(w.state.net) - 1)
    qtbot.waitUntil(lambda: w.state.result.request.layer == len(w.state.net) - 1)
    assert w.picture_kind(w.state.result) == "bars"
    assert w.export_picture(str(tmp_path / "bars.svg"))
    svg = (tmp_path / "bars.svg").read_text()
    assert "probability" in svg and "class" in svg
    w.heatmap.bars.box.setChecked(False)
    assert w.picture_kind(w.state.result) == "heatmap"
    assert w.export_picture(str(tmp_path / "grid.svg"))
    assert "probability" not in (tmp_path / "grid.svg").read_text()
    w.close()


def test_browse_predicts_the_classes_of_a_logits_onnx_net(qtbot, tmp_path, raw):
    from viewer.gui.explore.predictions import Predictions
    from viewer.gui.state import AppState
    from viewer.session import choose_samples, open_net

    np.savez(tmp_path / "digits.npz", X=raw[0], labels=raw[1])
    net, _ = open_net(LOGITS)
    samples, _ = choose_samples(net, None, str(tmp_path / "digits.npz"),
                                preprocess={"scale": 0.0625})
    state = AppState()
    state.set_net(net, samples)
    predictions = Predictions(state)
    predictions.start()
    qtbot.waitUntil(lambda: predictions.complete, timeout=20000)
    want = net[-1](samples.batch(np.arange(len(samples)))).argmax(axis=1)
    np.testing.assert_array_equal(predictions.predicted, want)
    assert (want == raw[1]).mean() >= 0.95  # the misclassified filter has something to show
    predictions.shutdown()
    state.shutdown()
