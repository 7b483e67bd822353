"""At the default 1280x800 the window shows every tab title, table column and control in full."""

import pytest
from PyQt5.QtWidgets import QApplication, QToolButton

from viewer.app.demo import DEMO_NET
from viewer.gui.main_window import DEFAULT_SIZE


@pytest.fixture
def demo_window(qtbot, isolated_settings):
    """The window at its default size on the default 28x28 demo net, heatmap drawn."""
    from viewer.gui.main_window import MainWindow

    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    assert (w.width(), w.height()) == DEFAULT_SIZE == (1280, 800)
    w.start(str(DEMO_NET))
    qtbot.waitUntil(lambda: w.heatmap is not None and w.state.result is not None
                    and not w.state.busy)
    QApplication.processEvents()
    yield w
    w.close()


def test_every_tab_title_shows_without_scroll_buttons(demo_window):
    bar = demo_window.tabs.tabBar()
    assert bar.count() >= 5
    assert bar.sizeHint().width() <= bar.width()
    scrollers = [b for b in bar.findChildren(QToolButton) if b.isVisible()]
    assert scrollers == []


def test_the_layer_table_shows_every_column_in_full(demo_window):
    tree = demo_window.layers.tree
    header = tree.header()
    for column in range(tree.columnCount()):  # each column as wide as its contents
        assert tree.columnWidth(column) >= tree.sizeHintForColumn(column)
        assert tree.columnWidth(column) >= header.sectionSizeHint(column)
    assert header.length() <= tree.viewport().width()
    assert tree.horizontalScrollBar().maximum() == 0


def test_the_statistics_values_and_the_heatmap_controls_fit(demo_window):
    for key, label in demo_window.stats.values.items():
        if not label.wordWrap():
            assert label.sizeHint().width() <= label.width(), key
    shape = demo_window.stats.values["shape"]
    assert shape.fontMetrics().horizontalAdvance(shape.text()) <= shape.width()
    heatmap = demo_window.heatmap
    toolbar = heatmap.toolbar
    # A toolbar too narrow for its buttons hides the last ones behind a "»" button.
    assert toolbar.width() >= toolbar.sizeHint().width()
    for box in (heatmap.cmap_box, heatmap.scale_box):
        assert box.width() >= box.sizeHint().width()


def test_the_dataset_panel_toggle_is_in_the_status_bar(demo_window):
    button = demo_window.statusBar().findChild(QToolButton, "datasetToggle")
    assert button is not None and button.isVisible()
    assert demo_window.tabs.cornerWidget() is None
    button.click()
    assert demo_window.views.widget("dataset") is not None
    assert demo_window.views.entries["dataset"].action.isChecked()
