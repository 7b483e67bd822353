"""The window driven as a user would: keys, widgets, views, options, errors.

Every test asserts on what is shown: the heatmap's image data and colour
limits, the histogram's bar heights, the statistics labels, the banner text.
"""

import numpy as np
import pytest
from matplotlib.backend_bases import MouseEvent
from PyQt5.QtCore import Qt

from viewer.analysis import activation_stats, color_limits, histogram, to_picture
from viewer.analysis.reading import picture_layout
from viewer.app.colouring import to_rgba
from viewer.app.demo import SMALL_CNN, SMALL_MLP
from viewer.app.options import colormap_for
from viewer.app.selection import default_layer
from viewer.data import open_samples
from viewer.gui.colour import colour_table
from viewer.net import Net, load
from viewer.net.layers import layer_class

pytestmark = [pytest.mark.skipif(not SMALL_CNN.exists(), reason="the demo net is not built"),
              pytest.mark.usefixtures("isolated_settings")]


def wait_for(qtbot, w, layer=None, sample=None, channel="any"):
    """Wait until the result for this selection is on show and no work is pending."""
    def ready():
        r = w.state.result
        return (r is not None and not w.state.busy
                and (layer is None or r.request.layer == layer)
                and (sample is None or r.request.sample == sample)
                and (channel == "any" or r.request.channel == channel))
    qtbot.waitUntil(ready)
    return w.state.result


def expected_activation(w, layer, sample):
    net, samples = w.state.net, w.state.samples
    return net.trace(samples.batch([sample]))[layer][0]


def press(qtbot, w, key, times=1):
    """Key presses as the focused widget (the layer table) receives them."""
    for _ in range(times):
        qtbot.keyClick(w.layers.tree, key)


def shown_image(w):
    """The values behind the heatmap's pixels, after checking the pixels show them."""
    heatmap = w.heatmap
    lo, hi = heatmap.clim
    assert heatmap.colorbar.limits == (lo, hi)
    pixels = np.asarray(heatmap.image.get_array())
    gap = pixels[np.isnan(heatmap.values)]
    np.testing.assert_array_equal(
        pixels, to_rgba(heatmap.values, colour_table(heatmap.cmap_name), lo, hi,
                        gap[0] if len(gap) else np.zeros(4, np.uint8)))
    return heatmap.values


# -- opening on the demo -------------------------------------------------------------

def test_opens_on_the_demo_with_a_layer_and_heatmap(qtbot, window):
    net = load(str(SMALL_CNN))
    assert window.layers.tree.topLevelItemCount() == len(net)
    assert window.layers.title.text() == net.name
    assert f"{len(net)} layers" in window.layers.totals.text()
    assert f"{net.n_params:,} parameters" in window.layers.totals.text()
    layer = default_layer(net)
    result = wait_for(qtbot, window, layer=layer, sample=0)
    current = window.layers.tree.currentItem()
    assert window.layers.tree.indexOfTopLevelItem(current) == layer
    assert current.text(1) == net[layer].name
    act = expected_activation(window, layer, 0)
    picture = to_picture(act, layout=picture_layout(net, layer, act.ndim), aspect=4 / 3)
    np.testing.assert_array_equal(shown_image(window), picture.image)
    limits = color_limits(picture.image)
    _, lo, hi = colormap_for("auto", limits.vmin, limits.vmax)
    assert window.heatmap.clim == pytest.approx((lo, hi))
    assert result.picture.kind == "mosaic"
    assert window.stats.values["layer"].text() == net[layer].name


def test_prediction_and_label_shown_for_softmax_net(qtbot, window):
    result = wait_for(qtbot, window, sample=0)
    probs = expected_activation(window, len(window.state.net) - 1, 0)
    k = int(np.argmax(probs))
    assert result.prediction == (k, pytest.approx(float(probs[k])))
    assert f"{100 * probs[k]:.1f} %" in window.samples.prediction.text()
    label = int(window.state.samples.labels[0])
    assert window.samples.label.text().startswith(str(label))


# -- navigation with keys and widgets ---------------------------------------------------

def test_arrow_keys_step_samples_and_layers(qtbot, window):
    start_layer = window.state.layer
    press(qtbot, window, Qt.Key_Right, 2)
    wait_for(qtbot, window, layer=start_layer, sample=2)
    np.testing.assert_array_equal(
        shown_image(window),
        to_picture(expected_activation(window, start_layer, 2), "channels_first",
                   aspect=4 / 3).image)
    assert window.samples.spin.value() == 2 and window.samples.slider.value() == 2
    press(qtbot, window, Qt.Key_Left)
    wait_for(qtbot, window, sample=1)
    press(qtbot, window, Qt.Key_Down)
    wait_for(qtbot, window, layer=start_layer + 1, sample=1)
    current = window.layers.tree.currentItem()
    assert window.layers.tree.indexOfTopLevelItem(current) == start_layer + 1
    press(qtbot, window, Qt.Key_Up, 2)
    wait_for(qtbot, window, layer=start_layer - 1, sample=1)


def test_spin_box_slider_and_table_select(qtbot, window):
    window.samples.spin.setValue(7)
    wait_for(qtbot, window, sample=7)
    window.samples.slider.setValue(11)
    r = wait_for(qtbot, window, sample=11)
    assert window.samples.spin.value() == 11
    stats = activation_stats(expected_activation(window, r.request.layer, 11))
    assert window.stats.values["max"].text() == f"{stats.max:.4g}"
    assert window.stats.values["mean"].text() == f"{stats.mean:.4g}"
    # flatten: 128 values, a grid (vectors of at most 64 values are drawn as bars)
    window.layers.tree.setCurrentItem(window.layers.tree.topLevelItem(9))
    r = wait_for(qtbot, window, layer=9, sample=11)
    assert r.picture.kind == "grid"  # a vector's units as a grid
    assert shown_image(window).shape == r.picture.image.shape


def test_holding_right_never_queues_work(qtbot, window):
    runner = window.state.computer
    started = runner.started
    press(qtbot, window, Qt.Key_Right, 300)
    wait_for(qtbot, window, sample=300)
    # One job may run and one wait; everything in between was replaced, not queued.
    assert runner.max_in_flight <= 2
    assert runner.started - started < 300
    np.testing.assert_array_equal(
        shown_image(window),
        to_picture(expected_activation(window, window.state.layer, 300), "channels_first",
                   aspect=4 / 3).image)


def test_two_fast_requests_deliver_only_the_last(qtbot, window):
    wait_for(qtbot, window)
    delivered = []
    window.state.resultReady.connect(lambda r: delivered.append(r.request.sample))
    window.state.set_sample(3)
    window.state.set_sample(4)
    wait_for(qtbot, window, sample=4)
    assert delivered == [4]


def test_plots_are_updated_in_place(qtbot, window):
    image, bar = window.heatmap.image, window.heatmap.colorbar
    for key in (Qt.Key_Right, Qt.Key_Down, Qt.Key_Down, Qt.Key_Right):
        press(qtbot, window, key)
        wait_for(qtbot, window)
    assert window.heatmap.image is image and window.heatmap.colorbar is bar
    assert list(window.heatmap.axes.images) == [image]
    assert window.heatmap.figure.axes == [window.heatmap.axes]


# -- display options ----------------------------------------------------------------

def test_diverging_map_centred_on_zero_for_both_signs(qtbot, window):
    window.state.set_layer(1)  # conv1: values of both signs
    r = wait_for(qtbot, window, layer=1)
    assert r.vmin < 0 < r.vmax
    assert window.heatmap.cmap_name == "RdBu_r"
    lo, hi = window.heatmap.clim
    assert lo == pytest.approx(-hi) and hi == pytest.approx(max(-r.vmin, r.vmax))
    shown_image(window)
    window.heatmap.cmap_box.setCurrentText("magma")
    assert window.heatmap.cmap_name == "magma"
    assert window.heatmap.clim == pytest.approx((r.vmin, r.vmax))
    shown_image(window)  # the pixels were recoloured at once
    ticks = [v for v, _ in window.heatmap.colorbar.ticks()]
    assert ticks and r.vmin <= min(ticks) and max(ticks) <= r.vmax


def test_per_channel_scale(qtbot, window):
    layer = window.state.layer
    window.heatmap.scale_box.setCurrentIndex(window.heatmap.scale_box.findData("channel"))
    wait_for(qtbot, window)
    qtbot.waitUntil(lambda: window.state.result.request.scale == "channel")
    act = expected_activation(window, layer, 0)
    want = to_picture(act, "channels_first", scale="channel", aspect=4 / 3).image
    np.testing.assert_array_equal(shown_image(window), want)
    assert np.nanmax(np.abs(shown_image(window))) <= 1.0


def test_histogram_view_bins_log_and_zero_line(qtbot, window):
    window.state.set_layer(1)
    wait_for(qtbot, window, layer=1)
    qtbot.keyClick(window.layers.tree, Qt.Key_2, Qt.ControlModifier)
    qtbot.waitUntil(lambda: window.histogram is not None
                    and window.views.current_key() == "histogram"
                    and window.histogram.current() is window.state.result)
    act = expected_activation(window, 1, 0)
    heights, edges = window.histogram.bars.get_data()[:2]
    want = histogram(act, bins=window.state.options.bins)
    np.testing.assert_array_equal(heights, want.counts)
    np.testing.assert_allclose(edges, want.edges)
    assert window.histogram.zero_line.get_visible()
    window.histogram.bins_box.setValue(20)
    qtbot.waitUntil(lambda: window.state.result.hist.counts.size == 20 and not window.state.busy)
    np.testing.assert_array_equal(window.histogram.bars.get_data()[0],
                                  histogram(act, bins=20).counts)
    window.histogram.log_box.setChecked(True)
    assert window.histogram.axes.get_yscale() == "log"
    qtbot.keyClick(window.layers.tree, Qt.Key_1, Qt.ControlModifier)
    assert window.views.current_key() == "heatmap"


# -- the mouse ----------------------------------------------------------------------

def mouse(canvas, name, row, col, button=None):
    """Send a matplotlib mouse event at image pixel (row, col) of the heatmap."""
    ax = canvas.figure.axes[0]
    x, y = ax.transData.transform((col, row))
    MouseEvent(name, canvas, x, y, button=button)._process()


def test_hover_names_channel_position_value(qtbot, window):
    r = wait_for(qtbot, window)
    canvas = window.heatmap.canvas
    canvas.draw()
    top, left = r.picture.channel_boxes[5][:2]
    mouse(canvas, "motion_notify_event", top + 2, left + 3)
    value = float(r.picture.channel_map(5)[2, 3])
    assert window.heatmap.hover.text() == f"channel 5 · y 2, x 3 · value {value:.4g}"


def test_click_channel_opens_it_large_and_escape_goes_back(qtbot, window):
    r = wait_for(qtbot, window)
    canvas = window.heatmap.canvas
    canvas.draw()
    top, left, h, w = r.picture.channel_boxes[3]
    mouse(canvas, "button_press_event", top + h // 2, left + w // 2, button=1)
    r = wait_for(qtbot, window, channel=3)
    np.testing.assert_array_equal(shown_image(window), r.picture.channel_map(3))
    assert "channel 3 of" in window.heatmap.title.text()
    press(qtbot, window, Qt.Key_Right)
    r = wait_for(qtbot, window, sample=1, channel=3)  # the channel stays while browsing
    np.testing.assert_array_equal(shown_image(window),
                                  expected_activation(window, r.request.layer, 1)[3])
    press(qtbot, window, Qt.Key_Escape)
    r = wait_for(qtbot, window, channel=None)
    assert shown_image(window).shape == r.picture.image.shape


# -- errors --------------------------------------------------------------------------

def test_bad_file_shows_message_and_keeps_the_net(qtbot, window, tmp_path, capfd):
    wait_for(qtbot, window)
    bad = tmp_path / "broken.h5"
    bad.write_bytes(b"this is not HDF5 at all" * 10)
    before = window.layers.tree.topLevelItemCount()
    with qtbot.waitSignal(window.state.openFailed):
        window.state.open(str(bad))
    assert window.banner.isVisible()
    assert str(bad) in window.banner.text.text()
    assert window.layers.tree.topLevelItemCount() == before
    assert window.state.net.path == str(SMALL_CNN)
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(bad) in err[0]
    press(qtbot, window, Qt.Key_Right)  # still usable
    wait_for(qtbot, window, sample=1)


def test_samples_that_do_not_fit_keep_the_old_ones(qtbot, window, tmp_path):
    wait_for(qtbot, window)
    path = tmp_path / "wrong.npy"
    np.save(path, np.zeros((4, 5, 5), dtype=np.float32))
    old = window.state.samples
    with qtbot.waitSignal(window.state.openFailed):
        window.state.open(str(path))
    assert "wrong.npy" in window.banner.text.text()
    assert window.state.samples is old


def test_open_samples_file_for_the_net(qtbot, window, tmp_path):
    wait_for(qtbot, window)
    path = tmp_path / "digits.npy"
    x = np.random.default_rng(0).integers(0, 16, size=(6, 1, 8, 8)).astype(np.uint8)
    np.save(path, x)
    with qtbot.waitSignal(window.state.samplesChanged):
        window.state.open(str(path))
    wait_for(qtbot, window, sample=0)
    assert window.samples.spin.maximum() == 5
    assert window.samples.source.text() == "6 samples · digits.npy"
    one = tmp_path / "one.npy"
    np.save(one, x[:1])
    with qtbot.waitSignal(window.state.samplesChanged):
        window.state.open(str(one))
    assert window.samples.source.text() == "1 sample · one.npy"


def custom_net(kind):
    """A 3-layer net whose last layer raises or gives only NaN."""
    Input, Dense = layer_class("Input"), layer_class("Dense")
    inp = Input(name="input", shape=(4,))
    dense = Dense(inp, name="dense", W=np.eye(4, dtype=np.float32))

    class Boom(Dense):  # not registered: lives only in this test
        def forward(self, x):
            raise FloatingPointError("overflow in the test layer")

    W = np.full((4, 3), np.nan, dtype=np.float32)
    last = (Boom if kind == "boom" else Dense)(dense, name=kind, W=W)
    return Net([inp, dense, last], name=f"{kind}_net")


def small_samples(tmp_path):
    path = tmp_path / "vectors.npy"
    np.save(path, np.arange(12, dtype=np.float32).reshape(3, 4))
    return open_samples(str(path))


def test_layer_that_raises_is_reported_and_window_stays_usable(qtbot, window, tmp_path, capfd):
    wait_for(qtbot, window)
    window.state.set_net(custom_net("boom"), small_samples(tmp_path))
    wait_for(qtbot, window, layer=1)  # the layers before the failing one still show
    assert not window.banner.isVisible()
    with qtbot.waitSignal(window.state.computeFailed):
        window.state.set_layer(2)
    text = window.banner.text.text()
    assert "'boom'" in text and "overflow in the test layer" in text
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "boom" in err[0]
    assert window.layers.tree.topLevelItemCount() == 3
    press(qtbot, window, Qt.Key_Up)
    wait_for(qtbot, window, layer=1)
    assert not window.banner.isVisible()


def test_nan_only_layer_warns(qtbot, window, tmp_path):
    wait_for(qtbot, window)
    window.state.set_net(custom_net("nan"), small_samples(tmp_path))
    window.state.set_layer(2)
    r = wait_for(qtbot, window, layer=2)
    assert r.stats.n_nan == r.stats.size == 3
    assert window.banner.isVisible() and "only NaN" in window.banner.text.text()
    assert window.stats.values["nan"].text() == "3"
    window.state.set_layer(1)
    wait_for(qtbot, window, layer=1)
    assert not window.banner.isVisible()


def test_stepping_computes_the_next_sample_ahead(qtbot, window):
    press(qtbot, window, Qt.Key_Right)
    wait_for(qtbot, window, sample=1)
    s = window.state
    qtbot.waitUntil(lambda: not s.prefetcher.busy)
    assert s.cache.get(s.net, s.samples, 2) is not None
    press(qtbot, window, Qt.Key_Right)
    r = wait_for(qtbot, window, sample=2)
    assert r.cached


def test_busy_indicator_while_a_slow_layer_computes(qtbot, window, tmp_path):
    import threading

    wait_for(qtbot, window)
    gate = threading.Event()
    Input, Dense = layer_class("Input"), layer_class("Dense")

    class Slow(Dense):  # not registered: lives only in this test
        def forward(self, x):
            gate.wait(10)
            return super().forward(x)

    inp = Input(name="input", shape=(4,))
    net = Net([inp, Slow(inp, name="slow", W=np.eye(4, dtype=np.float32))], name="slow_net")
    window.state.set_net(net, small_samples(tmp_path))
    qtbot.waitUntil(window.busy.isVisible)
    press(qtbot, window, Qt.Key_Right)  # the window still answers while it computes
    assert window.samples.spin.value() == 1
    gate.set()
    wait_for(qtbot, window, sample=1)
    qtbot.waitUntil(lambda: not window.busy.isVisible())


def test_thumbnail_shows_images_as_images_and_vectors_as_plots():
    from viewer.gui.sample_panel import to_image

    x = np.arange(64, dtype=np.float32).reshape(1, 8, 8)
    img = to_image(x, "channels_first")
    assert img.shape == (8, 8) and img.dtype == np.uint8 and img.min() == 0 and img.max() == 255
    assert to_image(np.zeros((8, 8, 3)), "channels_last").shape == (8, 8, 3)
    assert to_image(np.zeros(64), "vector") is None
    assert to_image(np.zeros((20, 3)), "sequence") is None  # a few features: lines
    assert to_image(np.zeros((20, 40)), "sequence").shape == (20, 40)  # many: an image


MLP = SMALL_MLP


@pytest.mark.skipif(not MLP.exists(), reason="the demo MLP is not built")
def test_open_the_mlp_demo(qtbot, window):
    wait_for(qtbot, window)
    with qtbot.waitSignal(window.state.netChanged):
        window.state.open(str(MLP))
    r = wait_for(qtbot, window, sample=0)
    assert window.layers.title.text() == "digits_mlp"
    assert r.picture.kind == "grid"
    assert window.samples.thumb._curve is not None  # a vector input: drawn as a plot
    shown_image(window)
