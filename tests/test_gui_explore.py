"""The explore views driven on the demo CNN: compare, sweep, cancel, gallery, PCA, strip, weights.

Every test asserts on what is shown (image arrays and colour limits of the
drawn artists, table text, counts) against numbers computed here with numpy
or with viewer.analysis.sweep directly; waiting is by signals and
``waitUntil``, never by sleeping.
"""

import numpy as np
import pytest
from matplotlib.backend_bases import MouseEvent
from PyQt5.QtCore import Qt

from viewer.analysis import histogram, to_picture
from viewer.analysis.reading import picture_layout
from viewer.analysis.sweep import Sweep
from viewer.app.demo import SMALL_CNN, SMALL_MLP
from viewer.gui.explore.compare_view import CompareView
from viewer.gui.explore.dataset_panel import DatasetPanel
from viewer.gui.explore.sample_strip import SampleStrip
from viewer.gui.explore.sweep_worker import SweepController
from viewer.gui.explore.unit_table import unit_picture
from viewer.gui.explore.weights_view import WeightsView
from viewer.gui.state import AppState
from viewer.session import open_net, samples_for

pytestmark = pytest.mark.skipif(not SMALL_CNN.exists(), reason="the demo net is not built")

RELU1, BN1, CONV2, RELU2, FC1, RELU3 = 3, 2, 5, 7, 10, 11


@pytest.fixture(scope="module")
def demo():
    return open_net(str(SMALL_CNN), isolate=False)


@pytest.fixture
def state(qtbot, demo):
    s = AppState()
    s.set_net(*demo)
    yield s
    s.shutdown()


def activation(state, layer, sample):
    return state.net.trace(state.samples.batch([sample]))[layer][0]


def click(canvas, axes, x, y, name="button_press_event"):
    """A matplotlib mouse event at data point (x, y) of ``axes``."""
    px, py = axes.transData.transform((x, y))
    MouseEvent(name, canvas, px, py, button=1)._process()


def shown(qtbot, widget):
    widget.resize(1000, 640)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


# -- compare ------------------------------------------------------------------------

def test_compare_shows_a_b_and_their_difference(qtbot, state):
    state.set_layer(1)  # conv1: values of both signs
    view = shown(qtbot, CompareView(state))
    qtbot.addWidget(view)
    view.pin(0)
    with qtbot.waitSignal(view.drawn, check_params_cb=lambda c: c.pair.b_sample == 9):
        state.set_sample(9)
    a, b = activation(state, 1, 0), activation(state, 1, 9)
    layout = picture_layout(state.net, 1, 3)
    diff = to_picture(b.astype(np.float64) - a, layout=layout, aspect=4 / 3).image
    np.testing.assert_array_equal(view.images["a"].get_array().filled(np.nan),
                                  to_picture(a, layout=layout, aspect=4 / 3).image)
    np.testing.assert_array_equal(view.images["b"].get_array().filled(np.nan),
                                  to_picture(b, layout=layout, aspect=4 / 3).image)
    np.testing.assert_allclose(view.images["diff"].get_array().filled(np.nan), diff,
                               equal_nan=True)
    lo, hi = view.images["diff"].get_clim()
    assert lo == -hi and hi == pytest.approx(np.nanmax(np.abs(diff)))
    assert view.images["diff"].get_cmap().name.startswith("RdBu_r")
    assert view.images["a"].get_clim() == view.images["b"].get_clim()
    # Overlaid histograms over shared bins.
    heights_a, edges_a = view.bars["a"].get_data()[:2]
    heights_b, edges_b = view.bars["b"].get_data()[:2]
    np.testing.assert_array_equal(edges_a, edges_b)
    np.testing.assert_array_equal(heights_a, histogram(a, bins=edges_a).counts)
    np.testing.assert_array_equal(heights_b, histogram(b, bins=edges_b).counts)
    assert "A · sample 0" in view.image_axes["a"].get_title()
    assert "B · sample 9" in view.image_axes["b"].get_title()


def test_compare_two_layers_of_one_shape(qtbot, state):
    state.set_layer(RELU1)
    view = shown(qtbot, CompareView(state))
    qtbot.addWidget(view)
    with qtbot.waitSignal(view.drawn, check_params_cb=lambda c: c.pair.a_layer != c.pair.b_layer):
        view.set_mode("layers")  # pins the nearest earlier layer of the same shape: bn1
    c = view.comparison
    assert (c.pair.a_layer, c.pair.b_layer) == (BN1, RELU1)
    trace = state.net.trace(state.samples.batch([state.sample]))
    expected = trace[RELU1][0].astype(np.float64) - trace[BN1][0]
    np.testing.assert_allclose(c.diff.source, expected)
    # A layer of another shape cannot be compared: the view says which layers can.
    state.set_layer(CONV2)
    qtbot.waitUntil(lambda: view.comparison is None)
    assert "same shape" in view.message.text() and "relu1" in view.message.text()


# -- sweep ----------------------------------------------------------------------------

@pytest.fixture
def panel(qtbot, state):
    state.set_layer(RELU2)
    p = DatasetPanel(state)
    qtbot.addWidget(p)
    with qtbot.waitSignal(p.sweeps.resultChanged, check_params_cb=lambda r: r is not None):
        shown(qtbot, p)  # on show, the selected layer is swept
    yield p
    p.shutdown()


def test_sweep_table_shows_the_sweep_numbers(qtbot, state, panel):
    expected = Sweep(state.net, state.samples, RELU2, k=panel.sweeps.k).run()
    result = panel.sweeps.result
    np.testing.assert_allclose(result.mean, expected.mean)
    np.testing.assert_array_equal(result.top_samples, expected.top_samples)
    table = panel.table
    assert table.column_values(0) == [str(u) for u in range(expected.n_units)]
    assert table.column_values(1) == [f"{v:.4g}" for v in expected.mean]
    assert table.column_values(2) == [f"{v:.4g}" for v in expected.std]
    assert table.column_values(3) == [f"{100 * v:.1f}" for v in expected.frac_active]
    assert table.column_values(4) == ["dead" if d else "" for d in expected.dead]
    table.sortByColumn(1, Qt.DescendingOrder)  # sorted by the number, not its text
    assert table.column_values(0)[0] == str(int(np.argmax(expected.mean)))
    assert f"{expected.n_units} channels" in panel.bar.status.text()


def test_unit_picture_is_laid_out_like_the_heatmap(qtbot, state, panel):
    result = panel.sweeps.result
    act = activation(state, RELU2, 0)
    heat = to_picture(act, layout="channels_first", aspect=4 / 3)
    pic = unit_picture(result, result.mean)
    np.testing.assert_array_equal(pic.channel_boxes, heat.channel_boxes)
    top, left, h, w = pic.channel_boxes[4]
    assert np.all(pic.image[top:top + h, left:left + w] == result.mean[4])
    np.testing.assert_array_equal(panel.picture.image.get_array().filled(np.nan), pic.image)


def test_dead_units_of_a_dense_layer(qtbot, state, panel):
    with qtbot.waitSignal(panel.sweeps.resultChanged, check_params_cb=lambda r: r is not None):
        state.set_layer(RELU3)
    result = panel.sweeps.result
    expected = Sweep(state.net, state.samples, RELU3).run()
    np.testing.assert_array_equal(result.dead, expected.dead)
    assert expected.dead.any()
    xs, ys = panel.picture.dead_marks.get_data()
    cols = panel.picture.picture.grid[1]
    assert sorted((np.asarray(ys) * cols + np.asarray(xs)).astype(int).tolist()) == \
        np.flatnonzero(expected.dead).tolist()


def test_results_are_cached_per_layer(qtbot, state, panel):
    first = panel.sweeps.result
    with qtbot.waitSignal(panel.sweeps.resultChanged, check_params_cb=lambda r: r is not None):
        state.set_layer(FC1)
    started = []
    panel.sweeps.started.connect(started.append)
    state.set_layer(RELU2)
    assert panel.sweeps.result is first and not started


def test_gallery_click_opens_the_sample_and_its_channel(qtbot, state, panel):
    panel.sweeps.set_unit(6)
    result = panel.sweeps.result
    most, least = panel.gallery.shown_samples()
    assert most == result.top_samples[6].tolist()
    assert least == result.bottom_samples[6].tolist()
    thumb = panel.gallery.top[2]
    qtbot.mouseClick(thumb, Qt.LeftButton)
    assert state.sample == result.top_samples[6][2]
    assert state.channel == 6
    assert thumb.current


def test_scatter_click_opens_the_sample_and_hover_shows_it(qtbot, state, panel):
    panel.show_tab("pca")
    view = panel.pca
    result = panel.sweeps.result
    view.canvas.draw()
    # The sample nearest no other: the one furthest from the centre of the map.
    at = int(np.nanargmax(np.linalg.norm(result.pca.coords, axis=1)))
    sample = int(result.indices[at])
    x, y = result.pca.coords[at]
    click(view.canvas, view.axes, x, y, "motion_notify_event")
    assert view.popup.isVisible() and f"sample {sample}" in view.title.text()
    click(view.canvas, view.axes, x, y)
    assert state.sample == sample
    ratio = result.pca.explained_variance_ratio
    assert f"{100 * ratio[0]:.1f} %" in view.axes.get_xlabel()
    assert result.pca.description in view.note.text()


def test_class_view_shows_the_class_means(qtbot, state, panel):
    panel.show_tab("classes")
    means = panel.sweeps.result.by_label
    np.testing.assert_allclose(panel.classes.values, means.means)
    panel.classes.scale_box.setChecked(True)
    peak = np.abs(means.means).max(axis=0)
    np.testing.assert_allclose(panel.classes.values, means.means / np.where(peak > 0, peak, 1))


@pytest.fixture
def many(tmp_path, demo):
    """20,000 samples for the demo net (its own 540, repeated), in a .npz file."""
    net, samples = demo
    raw = np.stack([samples.raw(i) for i in range(len(samples))])
    reps = -(-20_000 // len(raw))
    path = tmp_path / "many.npz"
    np.savez(path, X=np.tile(raw, (reps,) + (1,) * (raw.ndim - 1))[:20_000],
             labels=np.tile(samples.labels, reps)[:20_000])
    return samples_for(net, str(path), dataset="X", labels="labels")


def test_cancel_stops_the_sweep(qtbot, demo, many):
    state = AppState()
    state.set_net(demo[0], many)
    sweeps = SweepController(state, batch_size=16)
    sweeps.auto = False
    cancelled = []
    sweeps.cancelled.connect(cancelled.append)
    with qtbot.waitSignal(sweeps.progress):
        sweeps.run(RELU2)
    assert sweeps.running
    sweeps.cancel()
    assert not sweeps.running and cancelled == [RELU2]
    qtbot.waitUntil(lambda: sweeps.idle)  # the thread ended after its batch in hand
    assert sweeps.result is None and sweeps.cached(RELU2) is None
    state.shutdown()


def test_progress_reports_time_left(qtbot, demo, many):
    state = AppState()
    state.set_net(demo[0], many)
    sweeps = SweepController(state, batch_size=512)
    sweeps.auto = False
    seen = []
    sweeps.progress.connect(lambda done, total, left: seen.append((done, total, left)))
    with qtbot.waitSignal(sweeps.finished, timeout=60_000):
        sweeps.run(FC1)
    assert seen[-1][:2] == (len(many), len(many)) and seen[-1][2] == 0
    assert all(left >= 0 for _, _, left in seen)
    state.shutdown()


# -- browse -------------------------------------------------------------------------

def test_strip_filters_show_the_right_count(qtbot, state):
    strip = shown(qtbot, SampleStrip(state))
    qtbot.addWidget(strip)
    qtbot.waitUntil(lambda: strip.predictions.complete)
    labels = np.asarray(state.samples.labels)
    probs = state.net[-1](state.samples.batch(np.arange(len(labels))))
    predicted = probs.argmax(axis=1)
    np.testing.assert_array_equal(strip.predictions.predicted, predicted)
    assert strip.model.rowCount() == len(labels)
    strip.set_filters(label=3)
    assert strip.model.rowCount() == int((labels == 3).sum())
    assert all(strip.model.index(r).data(Qt.UserRole + 1) in np.flatnonzero(labels == 3)
               for r in range(strip.model.rowCount()))
    strip.set_filters(wrong_only=True)
    wrong = np.flatnonzero(predicted != labels)
    assert strip.model.rows.tolist() == wrong.tolist()
    assert f"{len(wrong):,} of 540 samples" in strip.count.text()
    strip.set_filters(label=int(labels[wrong[0]]), wrong_only=True)
    assert strip.model.rows.tolist() == [i for i in wrong if labels[i] == labels[wrong[0]]]
    # Clicking a thumbnail selects its sample.
    rect = strip.view.visualRect(strip.model.index(0))
    qtbot.mouseClick(strip.view.viewport(), Qt.LeftButton, pos=rect.center())
    assert state.sample == wrong[0]


def test_strip_makes_thumbnails_only_for_what_is_seen(qtbot, demo, many):
    state = AppState()
    state.set_net(demo[0], many)
    strip = shown(qtbot, SampleStrip(state))
    qtbot.addWidget(strip)
    qtbot.waitUntil(lambda: strip.model.thumbs is not None and len(strip.model.thumbs) > 0)
    assert strip.model.rowCount() == 20_000
    assert len(strip.model.thumbs) < 1_000
    state.set_sample(15_000)  # the strip scrolls there and draws only that part
    qtbot.waitUntil(lambda: strip.model.thumbs.peek(15_000) is not None, timeout=30_000)
    assert len(strip.model.thumbs) < 2_000
    strip.predictions.shutdown()
    state.shutdown()


# -- weights ------------------------------------------------------------------------

def test_weights_view_shows_the_kernel_mosaic(qtbot, state):
    view = shown(qtbot, WeightsView(state))
    qtbot.addWidget(view)
    state.set_layer(CONV2)
    W = state.net[CONV2].params()["W"]
    assert view.param == "W" and view.picture.kind == "kernels"
    image = view.image.get_array().filled(np.nan)
    o, c, kh, kw = W.shape
    for out in range(o):
        for inp in range(c):
            top, left = out * (kh + 1), inp * (kw + 1)
            np.testing.assert_array_equal(image[top:top + kh, left:left + kw], W[out, inp])
    assert np.isnan(image[kh, :]).all()  # 1-pixel gaps between kernels
    lo, hi = view.image.get_clim()
    assert lo == -hi  # centred on zero
    heights, edges = view.bars.get_data()[:2]
    np.testing.assert_array_equal(heights, histogram(W, bins=edges).counts)


def test_weights_view_first_layer_filters_and_batch_norm_scales(qtbot, state):
    view = shown(qtbot, WeightsView(state))
    qtbot.addWidget(view)
    state.set_layer(1)
    W = state.net[1].params()["W"]  # (16, 1, 3, 3): filters as images
    assert view.picture.kind == "filters"
    for k in range(W.shape[0]):
        top, left, h, w = view.picture.tile_box(k)
        np.testing.assert_array_equal(view.picture.image[top:top + h, left:left + w], W[k, 0])
    state.set_layer(BN1)
    assert view.param == "gamma"
    gamma = state.net[BN1].params()["gamma"]
    tops = [path.vertices[1:3, 1].max() for path in view.values.get_paths()]
    np.testing.assert_allclose(tops, np.maximum(gamma, 0))
    state.set_layer(RELU1)
    assert view.picture is None and "no parameters" in view.message.text()


# -- the same numbers as the command line; subsets; another net --------------------------

def test_window_sweep_matches_the_sweep_command(qtbot, state, panel, tmp_path):
    import csv

    from viewer.cli import main

    assert main(["sweep", str(SMALL_CNN), "--layer", "relu2", "-o", str(tmp_path)]) == 0
    with open(tmp_path / "units.csv") as fh:
        rows = list(csv.DictReader(fh))
    result = panel.sweeps.result
    np.testing.assert_allclose([float(r["mean"]) for r in rows], result.mean, rtol=1e-8)
    np.testing.assert_allclose([float(r["frac_active"]) for r in rows], result.frac_active)
    with open(tmp_path / "top_k.csv") as fh:
        top = [int(r["sample"]) for r in csv.DictReader(fh) if r["unit"] == "6"]
    assert top == result.top_samples[6].tolist()
    panel.sweeps.set_unit(6)
    assert panel.gallery.shown_samples()[0] == top


def test_sweep_of_a_random_subset(qtbot, state, panel):
    from viewer.app.sweeps import Subset

    with qtbot.waitSignal(panel.sweeps.resultChanged, check_params_cb=lambda r: r is not None):
        panel.sweeps.set_subset(Subset(100))
    result = panel.sweeps.result
    assert result.n_samples == 100
    np.testing.assert_array_equal(result.indices, Subset(100).indices(len(state.samples)))
    expected = Sweep(state.net, state.samples, RELU2, indices=result.indices).run()
    np.testing.assert_allclose(result.mean, expected.mean)


def test_views_follow_a_new_net(qtbot, state, panel):
    mlp = SMALL_MLP
    net, samples = open_net(str(mlp), isolate=False)
    with qtbot.waitSignal(panel.sweeps.resultChanged, check_params_cb=lambda r: r is not None):
        state.set_net(net, samples)
    result = panel.sweeps.result
    assert result.layer == state.layer and result.unit_axis is None  # dense units
    expected = Sweep(net, samples, state.layer).run()
    np.testing.assert_allclose(result.mean, expected.mean)
    assert panel.table.units.rowCount() == expected.n_units
    assert panel.picture.picture.kind == "grid"
