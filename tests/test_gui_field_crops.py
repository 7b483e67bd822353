"""Receptive-field crops in the Dataset panel's top-k gallery, against fields worked out here."""

import numpy as np
import pytest

from viewer.app.demo import SMALL_CNN
from viewer.gui.explore.dataset_panel import DatasetPanel
from viewer.gui.sample_panel import to_image
from viewer.gui.state import AppState
from viewer.session import open_net

pytestmark = pytest.mark.skipif(not SMALL_CNN.exists(), reason="the demo net is not built")
RELU1 = 3  # digits_cnn: conv1 3x3 padding 1, so a relu1 position sees the 3x3 cells around it


@pytest.fixture
def panel(qtbot):
    state = AppState()
    state.set_net(*open_net(str(SMALL_CNN), isolate=False))
    state.set_layer(RELU1)
    p = DatasetPanel(state)
    qtbot.addWidget(p)
    with qtbot.waitSignal(p.sweeps.resultChanged, check_params_cb=lambda r: r is not None,
                          timeout=60000):
        p.resize(1200, 500)
        p.show()
        qtbot.waitExposed(p)
    yield p
    p.shutdown()
    state.shutdown()


def pixels(image):
    """A QImage's grey pixels as an array."""
    ptr = image.constBits()
    ptr.setsize(image.bytesPerLine() * image.height())
    rows = np.frombuffer(ptr, np.uint8).reshape(image.height(), image.bytesPerLine())
    return rows[:, :image.width()].copy()


def test_top_k_thumbnails_are_the_crops_each_peak_sees(qtbot, panel):
    gallery, state = panel.gallery, panel._state
    panel.sweeps.set_unit(5)
    qtbot.waitUntil(lambda: len(gallery.crops) == len(set(sum(gallery.shown_samples(), []))),
                    timeout=30000)
    for thumb in gallery.top + gallery.bottom:
        x = state.samples.batch([thumb.sample])
        channel = state.net["relu1"](x)[0, 5]  # (8, 8)
        r, c = np.unravel_index(np.argmax(channel), channel.shape)
        rows = slice(max(r - 1, 0), min(r + 2, 8))
        cols = slice(max(c - 1, 0), min(c + 2, 8))
        want = to_image(x[0], state.samples.layout)[rows, cols]
        np.testing.assert_array_equal(pixels(thumb.image), want)
        # the cross sits on the peak's cell, in the crop's pixels
        assert thumb.peak == (c - cols.start + 0.5, r - rows.start + 0.5)
        assert f"peak at ({r}, {c})" in thumb.toolTip()


def test_whole_thumbnails_without_receptive_fields(qtbot, panel):
    gallery = panel.gallery
    qtbot.waitUntil(lambda: bool(gallery.crops), timeout=30000)
    gallery.fields_box.setChecked(False)
    assert not gallery.crops
    assert all(t.image.width() == 8 and t.peak is None for t in gallery.top if t.isVisible())
