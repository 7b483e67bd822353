"""The Feature vis view on the 28x28 demo: the image it grows against the library's, the curve,
Cancel, the gallery, DeepDream on the current sample, the heatmap's channel click."""

import os

import numpy as np
import pytest
from PyQt5.QtCore import Qt

from viewer.analysis.attribution.target import Target
from viewer.analysis.featurevis import (Settings, gallery, input_mean, input_range, mosaic,
                                        pictures, visualise)
from viewer.analysis.featurevis_dream import DREAM, dream
from viewer.gui.featurevis_view import FeatureVisView
from viewer.gui.state import AppState
from viewer.session import open_net

MNIST = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "resources",
                     "demo", "mnist_cnn.h5")


@pytest.fixture(scope="module")
def demo():
    return open_net(MNIST, isolate=False)


@pytest.fixture
def view(qtbot, demo):
    state = AppState()
    state.set_net(*demo)
    v = FeatureVisView(state)
    qtbot.addWidget(v)
    v.resize(1000, 640)
    v.show()
    qtbot.waitExposed(v)
    yield v
    v.runner.shutdown()
    state.shutdown()


def finish(qtbot, v):
    qtbot.waitUntil(lambda: not v.runner.busy and v.frame is not None
                    and v.frame.result is not None, timeout=60000)


def test_run_grows_the_image_step_by_step_and_ends_at_the_librarys(qtbot, view):
    view.select("conv2", 10)
    view.steps.setValue(12)   # a frame every 2 steps
    view.seed.setValue(4)
    assert view.unit.maximum() == 31
    frames = []
    view.runner.progressed.connect(lambda _j, done, total, frame: frames.append(frame.step))
    qtbot.mouseClick(view.run_button, Qt.LeftButton)
    finish(qtbot, view)
    assert frames == [2, 4, 6, 8, 10, 12]
    state = view._state
    low, high = input_range(state.net, state.samples)
    want = visualise(state.net, Target(layer="conv2", unit=10),
                     Settings(steps=12, seed=4, every=2), low=low, high=high,
                     centre=input_mean(state.net, state.samples),
                     callback=lambda *_frame: None)  # with a callback: its checks too
    np.testing.assert_allclose(view.frame.result.images, want.images)
    np.testing.assert_allclose(view.image.get_array(), pictures(state.net, want.images, 0, 1)[0],
                               atol=1e-6)
    x, y = view.step_curve.get_data()
    np.testing.assert_array_equal(x, np.arange(1, 13))
    np.testing.assert_allclose(y, want.scores[:, 0])
    x, y = view.curve.get_data()  # the image itself at each frame, ending at its final score
    np.testing.assert_array_equal(x, [2, 4, 6, 8, 10, 12])
    np.testing.assert_allclose(y, want.checks[:, 1])
    np.testing.assert_allclose(y[-1], want.final[0])
    assert view.status.text() == f"{want.start[0]:.3g} → {want.final[0]:.3g} in 12 steps"
    assert view.title.text() == "<b>unit 10 of conv2</b>"
    assert view.image_axes.get_title() == "unit 10 of conv2\nstep 12 · Fourier, seed 4"
    assert not view.cancel_button.isEnabled()


def test_cancel_stops_the_ascent_and_keeps_the_image_so_far(qtbot, view):
    view.select("conv2", 3)
    view.steps.setValue(5000)
    qtbot.mouseClick(view.run_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: view.frame is not None and view.frame.step >= 4, timeout=60000)
    assert view.cancel_button.isEnabled()
    qtbot.mouseClick(view.cancel_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: not view.runner.busy, timeout=60000)
    step = view.frame.step
    assert 4 <= step < 5000 and view.frame.result is None
    assert view.status.text() == f"cancelled after {step} steps"
    assert view.progress.isHidden() and not view.cancel_button.isEnabled()


def test_the_gallery_fills_a_mosaic_of_every_channel(qtbot, view):
    view.select("conv1", mode="gallery")
    view.steps.setValue(4)
    assert not view.unit.isEnabled()
    qtbot.mouseClick(view.run_button, Qt.LeftButton)
    finish(qtbot, view)
    state = view._state
    want = gallery(state.net, "conv1", None, Settings(steps=4, every=2), low=0.0, high=1.0,
                   centre=input_mean(state.net, state.samples))
    assert view.frame.picture.shape == (115, 115)       # 4 x 4 channels of 28 with gaps of 1
    np.testing.assert_allclose(view.frame.picture, mosaic(pictures(state.net, want.images, 0, 1)),
                               atol=1e-5)
    assert view.status.text().startswith("median of 16: ")
    assert view.status.text().endswith(" in 4 steps")
    assert view.title.text() == "<b>every channel of conv1</b>"
    assert view.curve_axes.get_title() == "activation (median)"
    x, y = view.curve.get_data()  # the images' median at each frame, ending at the final one
    np.testing.assert_array_equal(x, [2, 4])
    np.testing.assert_allclose(y[-1], np.median(want.final), rtol=1e-5)
    # As narrow as it goes (under the tabs of a 1280x800 window it has 561 pixels): the
    # heading, the outcome and the controls show whole.
    from test_gui_layout import clipped_labels

    narrowest = max(view.minimumSizeHint().width(), 561)
    view.resize(narrowest, 400)
    qtbot.waitUntil(lambda: view.width() == narrowest)
    assert clipped_labels(view) == []


def test_deepdream_works_on_the_current_sample(qtbot, view):
    state = view._state
    state.set_sample(3)
    view.select("conv2", mode="dream")
    view.steps.setValue(4)
    view.octaves.setValue(2)
    assert view.octaves.isEnabled() and not view.param_box.isEnabled()
    qtbot.mouseClick(view.run_button, Qt.LeftButton)
    finish(qtbot, view)
    x = state.samples.batch([3])[0]
    settings = Settings(steps=4, lr=DREAM.lr, parameterisation="pixel", blur=0.0, every=2,
                        anneal=False)
    want = dream(state.net, x, "conv2", settings, octaves=2, low=0.0, high=1.0)
    np.testing.assert_allclose(view.frame.result.images, want.images)
    assert view.frame.result.steps == 8
    assert view.image_axes.get_title().startswith("DeepDream of conv2 on sample 3\nstep 8 · ")


def test_a_channel_clicked_in_the_heatmap_becomes_the_unit(view):
    state = view._state
    state.set_layer(state.net.index("relu1"))
    state.set_channel(7)
    assert view.layer_box.currentText() == "relu1" and view.unit.value() == 7
    assert view.unit.maximum() == 15


def test_the_panel_running_leaves_the_1280_window_its_layout(qtbot, isolated_settings):
    from viewer.app.demo import DEMO_NET
    from viewer.gui.main_window import MainWindow

    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    w.start(str(DEMO_NET))
    qtbot.waitUntil(lambda: w.heatmap is not None and w.state.result is not None
                    and not w.state.busy)
    w.activateWindow()
    w.layers.tree.setFocus()
    qtbot.waitUntil(lambda: w.layers.tree.hasFocus())
    qtbot.keyClick(w.layers.tree, Qt.Key_G, Qt.ControlModifier)
    view = w.views.widget("featurevis")
    assert view is not None and w.views.panel_visible("featurevis")
    view.select("conv2", 3)
    view.steps.setValue(400)
    qtbot.mouseClick(view.run_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: view.frame is not None and view.progress.isVisible(), timeout=60000)
    view.status.setText("median of 512: -0.523 → -3.7e+03 in 10000 steps")  # the longest
    qtbot.wait(50)
    assert (w.width(), w.height()) == (1280, 800)
    tree = w.layers.tree
    for column in range(tree.columnCount()):
        assert tree.columnWidth(column) >= tree.sizeHintForColumn(column)
    assert tree.horizontalScrollBar().maximum() == 0
    view.cancel()
    w.close()


def test_a_colour_nets_image_moves_along_its_samples_colours(qtbot, tmp_path):
    # Grey samples of a net whose unit likes red and dislikes green: the view's ascent moves
    # along the samples' colour axes, as the library's does with their colour mixing, so the
    # image stays grey (independent channels would pull red and green apart).
    from viewer.analysis.featurevis import colour_mixing
    from viewer.net import Net
    from viewer.net.layers import Conv2D, Input
    from viewer.net.store import save
    W = np.zeros((1, 3, 3, 3))
    W[0, 0], W[0, 1] = 1.0, -1.0
    inp = Input(shape=(3, 8, 8), name="in", data_format="channels_first")
    grey = np.repeat(np.random.default_rng(0).uniform(size=(16, 1, 8, 8)), 3, axis=1)
    path = tmp_path / "rgb.h5"
    save(Net([inp, Conv2D(inp, name="c", W=W, padding="same", data_format="channels_first")]),
         path, samples={"X": grey.astype(np.float32), "layout": "channels_first"})
    state = AppState()
    state.set_net(*open_net(str(path), isolate=False))
    v = FeatureVisView(state)
    qtbot.addWidget(v)
    v.show()
    try:
        v.select("c", 0)
        v.steps.setValue(32)
        qtbot.mouseClick(v.run_button, Qt.LeftButton)
        finish(qtbot, v)
        low, high = input_range(state.net, state.samples)
        want = visualise(state.net, Target(layer="c", unit=0), Settings(steps=32, every=2),
                         low=low, high=high, centre=input_mean(state.net, state.samples),
                         colours=colour_mixing(state.net, state.samples, low, high))
        np.testing.assert_allclose(v.frame.result.images, want.images)
        image = v.frame.result.images[0]
        assert np.abs(image[0] - image[1]).mean() < 0.02
    finally:
        v.runner.shutdown()
        state.shutdown()


def test_a_net_of_any_input_size_grows_its_image_at_its_samples_size(qtbot, tmp_path):
    from viewer.net import Net
    from viewer.net.layers import Conv2D, Input
    from viewer.net.store import save
    inp = Input(shape=(1, None, None), name="in", data_format="channels_first")
    W = np.random.default_rng(2).normal(size=(3, 1, 3, 3))
    save(Net([inp, Conv2D(inp, name="c", W=W, padding="same", data_format="channels_first")]),
         tmp_path / "any.h5", samples={"X": np.random.default_rng(3).uniform(
             size=(5, 1, 12, 10)).astype(np.float32), "layout": "channels_first"})
    state = AppState()
    state.set_net(*open_net(str(tmp_path / "any.h5"), isolate=False))
    v = FeatureVisView(state)
    qtbot.addWidget(v)
    v.show()
    try:
        assert v.layer_box.findData(1) >= 0 and v.unit.maximum() == 2   # "c" listed, 3 units
        v.select("c", 2)
        v.steps.setValue(8)
        qtbot.mouseClick(v.run_button, Qt.LeftButton)
        finish(qtbot, v)
        assert v.frame.result.images.shape == (1, 1, 12, 10)
        low, high = input_range(state.net.sized((1, 12, 10)), state.samples)
        want = visualise(state.net.sized((1, 12, 10)), Target(layer="c", unit=2),
                         Settings(steps=8, every=2), low=low, high=high,
                         centre=input_mean(state.net.sized((1, 12, 10)), state.samples))
        np.testing.assert_allclose(v.frame.result.images, want.images)
    finally:
        v.runner.shutdown()
        state.shutdown()


def test_a_net_without_samples_grows_its_image_in_0_to_1_but_does_not_dream(qtbot, tmp_path):
    from viewer.net import Net
    from viewer.net.layers import Conv2D, Input
    from viewer.net.store import save
    inp = Input(shape=(1, 8, 8), name="in", data_format="channels_first")
    W = np.random.default_rng(4).normal(size=(2, 1, 3, 3))
    save(Net([inp, Conv2D(inp, name="c", W=W, padding="same", data_format="channels_first")]),
         tmp_path / "bare.h5")
    state = AppState()
    state.set_net(*open_net(str(tmp_path / "bare.h5"), isolate=False))
    assert state.samples is None
    v = FeatureVisView(state)
    qtbot.addWidget(v)
    v.show()
    try:
        assert "Without samples the image grows in 0..1" in v.message.text()
        v.select("c", 1)
        v.steps.setValue(8)
        qtbot.mouseClick(v.run_button, Qt.LeftButton)
        finish(qtbot, v)
        want = visualise(state.net, Target(layer="c", unit=1), Settings(steps=8, every=2),
                         low=0.0, high=1.0)
        np.testing.assert_allclose(v.frame.result.images, want.images)
        v.select("c", 1, mode="dream")
        assert v.run() is None and "open samples first" in v.message.text()
    finally:
        v.runner.shutdown()
        state.shutdown()
