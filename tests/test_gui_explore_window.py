"""The explore views inside the main window: tabs, menu entries, shortcuts, the Dataset panel."""

import pytest
from PyQt5.QtCore import Qt

from viewer.gui.app import DEMO_NET
from viewer.gui.explore.attach import EXPLORE_SHORTCUTS
from viewer.gui.main_window import MainWindow

pytestmark = [pytest.mark.skipif(not DEMO_NET.exists(), reason="the demo net is not built"),
              pytest.mark.usefixtures("isolated_settings")]


def tab_titles(w):
    return [w.tabs.tabText(i) for i in range(w.tabs.count())]


def test_tabs_and_menu_entries(qtbot, window):
    assert tab_titles(window) == ["Heatmap", "Histogram", "Compare", "Weights"]
    view_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&View")
    texts = [a.text() for a in view_menu.actions()]
    for text in ("&Compare", "&Weights", "&Dataset panel", "&Sweep the layer",
                 "&Browse samples", "&Pin as A"):
        assert text in texts
    shortcuts = {a.shortcut().toString() for a in window.explore.actions.values()}
    assert shortcuts == {"Ctrl+3", "Ctrl+4", "Ctrl+P", "Ctrl+D", "Ctrl+R", "Ctrl+B"}
    documented = " ".join(keys for keys, _ in EXPLORE_SHORTCUTS)
    assert all(key in documented for key in shortcuts)


def test_compare_and_weights_tabs_with_keys(qtbot, window):
    assert window.explore.compare is None  # built the first time it is opened
    qtbot.keyClick(window.layers.tree, Qt.Key_3, Qt.ControlModifier)
    assert window.tabs.currentWidget() is window.explore.compare
    assert window.state.options.view == "heatmap"  # the tab leaves the option alone
    qtbot.waitUntil(lambda: window.explore.compare.comparison is not None)
    qtbot.keyClick(window.layers.tree, Qt.Key_Right)
    qtbot.waitUntil(lambda: window.explore.compare.comparison is not None
                    and window.explore.compare.comparison.pair.b_sample == 1)
    qtbot.keyClick(window.layers.tree, Qt.Key_4, Qt.ControlModifier)
    assert window.tabs.currentWidget() is window.explore.weights
    qtbot.keyClick(window.layers.tree, Qt.Key_1, Qt.ControlModifier)
    assert window.tabs.currentIndex() == 0  # back to the heatmap, its option unchanged
    qtbot.keyClick(window.layers.tree, Qt.Key_2, Qt.ControlModifier)
    qtbot.waitUntil(lambda: window.tabs.currentIndex() == 1)
    assert window.state.options.view == "histogram"


def test_dataset_panel_sweeps_and_gallery_opens_the_sample(qtbot, window):
    assert not window.explore.dock.isVisible()
    qtbot.keyClick(window.layers.tree, Qt.Key_D, Qt.ControlModifier)
    panel = window.explore.dataset
    assert window.explore.dock.isVisible() and panel is not None
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
    window.explore.show_dataset()
    sweeps = window.explore.dataset.sweeps
    qtbot.waitUntil(lambda: sweeps.result is not None)
    window.close()
    assert sweeps.idle
    assert window.settings.value("explore/dataset_visible") in (True, "true")


def test_the_dataset_panel_comes_back_after_the_first_heatmap(qtbot):
    first = MainWindow()
    qtbot.addWidget(first)
    first.show()
    first.start(str(DEMO_NET))
    qtbot.waitUntil(lambda: first.explore is not None)
    first.explore.show_dataset()
    first.close()
    again = MainWindow()
    qtbot.addWidget(again)
    again.show()
    again.start(str(DEMO_NET))
    qtbot.waitUntil(lambda: again.explore is not None and again.explore.dock.isVisible())
    assert again.explore.dataset is not None
    again.close()
