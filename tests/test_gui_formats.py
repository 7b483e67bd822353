"""File > Open on TFLite and torch.export files, whatever their names, in the real window."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
from PyQt5.QtWidgets import QFileDialog

from viewer.app.opening import open_file
from viewer.gui.main_window import MainWindow

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")

pytestmark = pytest.mark.usefixtures("isolated_settings")


def test_open_file_converts_by_content(tmp_path):
    renamed = tmp_path / "model.bin"
    shutil.copy(os.path.join(FIXTURES, "tflite_cnn_int8_per_tensor.tflite"), renamed)
    opened = open_file(str(renamed), None)
    assert opened.net[2].kind == "QConv2D" and opened.samples is None
    archive = tmp_path / "exported.zip"
    shutil.copy(os.path.join(FIXTURES, "pt2_seq.pt2"), archive)
    assert open_file(str(archive), None).net["embed"].kind == "Embedding"


def _open_with_the_dialog(qtbot, w, monkeypatch, path):
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (str(path), "")))
    with qtbot.waitSignal(w.state.netChanged, timeout=30000):
        w.open_dialog()


def test_file_open_shows_int8_layers_and_real_values(qtbot, monkeypatch, tmp_path):
    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    _open_with_the_dialog(qtbot, w, monkeypatch, os.path.join(FIXTURES, "tflite_cnn_int8_per_channel.tflite"))
    tree = w.layers.tree
    conv = tree.topLevelItem(2)
    assert conv.text(2) == "QConv2D · int8"
    assert "scale 0.0175632, zero point -128" in conv.toolTip(2) and "real values" in conv.toolTip(2)
    assert tree.topLevelItem(0).text(2) == "Input"
    samples = tmp_path / "x.npy"
    np.save(samples, np.random.default_rng(0).normal(size=(4, 12, 12, 3)).astype(np.float32))
    with qtbot.waitSignal(w.state.samplesChanged, timeout=30000):
        w.state.open(str(samples))
    qtbot.waitUntil(lambda: w.state.result is not None and not w.state.busy, timeout=30000)
    w.state.set_layer(2)
    qtbot.waitUntil(lambda: w.state.result is not None and w.state.layer == 2 and not w.state.busy,
                    timeout=30000)
    shown = np.asarray(w.state.result.activation)
    # real values: whole multiples of the layer's scale, not integers
    steps = shown / np.float32(0.017563218)
    assert np.abs(steps - np.rint(steps)).max() < 1e-3 and np.abs(shown).max() < 10
    _open_with_the_dialog(qtbot, w, monkeypatch, os.path.join(FIXTURES, "pt2_cnn.pt2"))
    names = [tree.topLevelItem(i).text(1) for i in range(tree.topLevelItemCount())]
    assert names[:4] == ["x", "stem", "relu", "layer1.0.conv1"]
    w.close()
