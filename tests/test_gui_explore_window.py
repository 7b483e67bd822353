"""The explore views inside the main window: tabs, menu entries, shortcuts, the Dataset panel."""

import pytest
from PyQt5.QtCore import Qt

from viewer.app.demo import SMALL_CNN
from viewer.gui.main_window import MainWindow

pytestmark = [pytest.mark.skipif(not SMALL_CNN.exists(), reason="the demo net is not built"),
              pytest.mark.usefixtures("isolated_settings")]


def tab_titles(w):
    return [w.tabs.tabText(i) for i in range(w.tabs.count())]


def test_tabs_and_menu_entries(qtbot, window):
    assert tab_titles(window) == ["Heatmap", "Histogram", "Compare", "Weights", "Explain"]
    texts = [a.text() for a in window.view_menu.actions()]
    for text in ("&Heatmap", "H&istogram", "&Compare", "&Weights", "&Dataset panel",
                 "&Sweep the layer", "&Browse samples", "&Pin as A"):
        assert text in texts
    keys = {a.text(): a.shortcut().toString() for a in window.view_menu.actions()}
    assert [keys[t] for t in ("&Compare", "&Weights", "&Pin as A", "&Dataset panel",
                              "&Sweep the layer", "&Browse samples")] == \
        ["Ctrl+3", "Ctrl+4", "Ctrl+P", "Ctrl+D", "Ctrl+R", "Ctrl+B"]
    documented = dict(window.views.shortcut_rows())
    assert documented["Ctrl+3"] == "Compare" and documented["Ctrl+B"] == "Browse samples"


def test_compare_and_weights_tabs_with_keys(qtbot, window):
    assert window.views.widget("compare") is None  # built the first time it is opened
    qtbot.keyClick(window.layers.tree, Qt.Key_3, Qt.ControlModifier)
    compare = window.views.widget("compare")
    assert window.views.current_key() == "compare" and compare.isVisible()
    assert window.state.options.view == "heatmap"  # the tab leaves the option alone
    qtbot.waitUntil(lambda: compare.comparison is not None)
    qtbot.keyClick(window.layers.tree, Qt.Key_Right)
    qtbot.waitUntil(lambda: compare.comparison is not None
                    and compare.comparison.pair.b_sample == 1)
    qtbot.keyClick(window.layers.tree, Qt.Key_4, Qt.ControlModifier)
    assert window.views.current_key() == "weights" and window.views.widget("weights").isVisible()
    qtbot.keyClick(window.layers.tree, Qt.Key_1, Qt.ControlModifier)
    assert window.views.current_key() == "heatmap"  # back to the heatmap, its option unchanged
    assert window.heatmap.isVisible()
    qtbot.keyClick(window.layers.tree, Qt.Key_2, Qt.ControlModifier)
    qtbot.waitUntil(lambda: window.views.current_key() == "histogram")
    assert window.state.options.view == "histogram"


def test_dataset_panel_sweeps_and_gallery_opens_the_sample(qtbot, window):
    assert not window.views.panel_visible("dataset")
    qtbot.keyClick(window.layers.tree, Qt.Key_D, Qt.ControlModifier)
    panel = window.views.widget("dataset")
    assert window.views.panel_visible("dataset") and panel is not None
    qtbot.waitUntil(lambda: panel.sweeps.result is not None)
    assert panel.sweeps.result.layer == window.state.layer
    panel.sweeps.set_unit(3)
    target = int(panel.sweeps.result.top_samples[3][0])
    qtbot.mouseClick(panel.gallery.top[0], Qt.LeftButton)
    qtbot.waitUntil(lambda: window.state.result is not None
                    and window.state.result.request.sample == target)
    assert window.samples.spin.value() == target
    assert window.state.channel == 3  # the heatmap shows the channel large
    qtbot.keyClick(window.layers.tree, Qt.Key_B, Qt.ControlModifier)
    assert panel.tabs.currentWidget().isAncestorOf(panel.strip)


def test_closing_stops_the_threads_and_remembers_the_panel(qtbot, window):
    sweeps = window.show_view("dataset").sweeps
    qtbot.waitUntil(lambda: sweeps.result is not None)
    window.close()
    assert sweeps.idle
    assert window.settings.value("window/panels") in (["dataset"], "dataset")


def test_the_dataset_panel_comes_back_after_the_first_heatmap(qtbot):
    first = MainWindow()
    qtbot.addWidget(first)
    first.show()
    first.start(str(SMALL_CNN))
    qtbot.waitUntil(lambda: first.heatmap is not None)
    first.show_view("dataset")
    first.close()
    again = MainWindow()
    qtbot.addWidget(again)
    again.show()
    again.start(str(SMALL_CNN))
    qtbot.waitUntil(lambda: again.heatmap is not None and again.views.panel_visible("dataset"))
    assert again.views.widget("dataset") is not None
    again.close()
