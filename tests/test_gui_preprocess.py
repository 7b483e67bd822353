"""The window's Preprocessing control, its memory per (net, samples) pair, its warnings, logits."""

import os

import numpy as np
import pytest
from PyQt5.QtCore import Qt

from viewer.data import embedded_samples
from viewer.gui.main_window import MainWindow
from viewer.gui.preprocess_panel import number_text, numbers, preview
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
