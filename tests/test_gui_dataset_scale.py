"""The "dataset" colour scale: one range per layer, from a sweep or the first samples."""

import numpy as np
import pytest

from viewer.analysis.sweep import Sweep
from viewer.app.colouring import DatasetRange, LayerRanges, range_of_first, range_of_sweep
from viewer.app.compute import Request, TraceCache, compute
from viewer.app.demo import SMALL_CNN
from viewer.data import embedded_samples
from viewer.net import load

pytestmark = pytest.mark.skipif(not SMALL_CNN.exists(), reason="the demo net is not built")


@pytest.fixture(scope="module")
def demo():
    return load(str(SMALL_CNN)), embedded_samples(str(SMALL_CNN))


def outputs(net, samples, layer, rows):
    return np.asarray(net.outputs(samples.batch(rows), [layer])[layer])


def test_range_of_the_first_samples_is_their_min_and_max(demo):
    net, samples = demo
    layer = net.index("conv2")
    found = range_of_first(net, samples, layer, n=40)
    out = outputs(net, samples, layer, np.arange(40))
    assert (found.limits.vmin, found.limits.vmax) == (float(out.min()), float(out.max()))
    assert found.source == "the first 40 samples" and not found.swept
    assert found.limits.both_signs  # a conv layer before its ReLU


def test_range_of_a_sweep_is_exact_where_the_sweep_holds_it(demo):
    net, samples = demo
    everything = np.arange(len(samples))
    fc = net.index("fc1")  # dense: every element is a unit with its own min and max
    found = range_of_sweep(Sweep(net, samples, fc).run())
    out = outputs(net, samples, fc, everything)
    assert found.limits.vmin == pytest.approx(out.min()) and found.limits.vmax == pytest.approx(out.max())
    assert found.source == "a sweep of 540 samples" and found.swept
    relu = net.index("relu2")  # ReLU-like channels: 0 up to the largest peak
    found = range_of_sweep(Sweep(net, samples, relu).run())
    assert found.limits.vmin == 0.0
    assert found.limits.vmax == pytest.approx(outputs(net, samples, relu, everything).max())
    # A signed conv layer's sweep keeps no minimum over positions.
    assert range_of_sweep(Sweep(net, samples, net.index("conv2")).run()) is None


def test_a_sweep_range_is_not_replaced_by_one_of_the_first_samples(demo):
    net, samples = demo
    ranges = LayerRanges()
    first = range_of_first(net, samples, 3, n=8)
    swept = DatasetRange(first.limits, "a sweep of 540 samples", swept=True)
    assert ranges.get(net, samples, 3) is None
    assert ranges.put(net, samples, 3, first) and ranges.get(net, samples, 3) is first
    assert ranges.put(net, samples, 3, swept) and ranges.get(net, samples, 3) is swept
    assert not ranges.put(net, samples, 3, first) and ranges.get(net, samples, 3) is swept
    other = embedded_samples(str(SMALL_CNN))  # other samples: nothing known for them
    assert ranges.get(net, other, 3) is None


def test_compute_colours_every_sample_and_channel_by_the_layer_range(demo):
    net, samples = demo
    layer = net.index("conv2")
    ranges, cache = LayerRanges(), TraceCache()
    request = Request(net, samples, layer, 0, scale="dataset")
    pending = compute(request, cache, ranges)
    assert pending.dataset_range is None  # not known yet: the sample's own range
    found = range_of_first(net, samples, layer)
    ranges.put(net, samples, layer, found)
    shown = [compute(Request(net, samples, layer, i, scale="dataset", channel=c), cache, ranges)
             for i, c in ((0, None), (5, None), (9, 3))]
    for r in shown:
        assert r.dataset_range is found
        assert (r.vmin, r.vmax) == (found.limits.vmin, found.limits.vmax)
        assert r.cmap == "RdBu_r" and r.clim == found.limits.symmetric


def test_window_keeps_the_colour_bar_while_stepping_and_zooming(qtbot, window):
    from viewer.gui.colour import colour_table

    s = window.state
    heatmap = window.heatmap
    bar = heatmap.colorbar
    s.set_layer(s.net.index("conv2"))
    s.set_options(scale="dataset")
    qtbot.waitUntil(lambda: s.result is not None and s.result.dataset_range is not None
                    and s.result.request.layer == s.net.index("conv2")
                    and heatmap.current() is s.result, timeout=30_000)
    found = s.result.dataset_range
    assert found.source == "the first 64 samples"
    assert "colours over the first 64 samples" in heatmap.title.text()
    shown = (bar.limits, bar.ticks())
    assert bar.limits == found.limits.symmetric  # a diverging map centred on zero
    assert bar.table is colour_table("RdBu_r")
    for _ in range(3):
        s.step_sample(1)
        qtbot.waitUntil(lambda: s.result.request.sample == s.sample
                        and heatmap.current() is s.result)
        assert (bar.limits, bar.ticks()) == shown and bar.table is colour_table("RdBu_r")
    s.set_channel(4)  # one channel large: the same map and range
    qtbot.waitUntil(lambda: s.result.request.channel == 4 and heatmap.current() is s.result)
    assert (bar.limits, bar.ticks()) == shown and bar.table is colour_table("RdBu_r")


def test_a_sweep_in_the_dataset_panel_gives_the_heatmap_its_range(qtbot, window):
    s = window.state
    relu = s.net.index("relu2")
    s.set_layer(relu)
    s.set_options(scale="dataset")
    panel = window.show_view("dataset")
    qtbot.waitUntil(lambda: panel.sweeps.result is not None
                    and panel.sweeps.result.layer == relu, timeout=60_000)
    qtbot.waitUntil(lambda: s.result.dataset_range is not None
                    and s.result.dataset_range.swept, timeout=30_000)
    everything = np.arange(len(s.samples))
    assert s.result.vmax == pytest.approx(outputs(s.net, s.samples, relu, everything).max())
    assert s.result.vmin == 0.0
    qtbot.waitUntil(lambda: window.heatmap.current() is s.result)
    assert "colours over a sweep of 540 samples" in window.heatmap.title.text()
