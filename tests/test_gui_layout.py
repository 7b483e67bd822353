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
                    and not w.state.busy, timeout=30_000)
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


def clipped_labels(root):
    """The visible labels under ``root`` whose text does not fit them, as "name: text".

    One-line labels must be as wide as their text (rich text measured as laid
    out); wrapping labels as tall as their wrapped text.
    """
    from PyQt5.QtCore import Qt
    from PyQt5.QtGui import QTextDocument
    from PyQt5.QtWidgets import QLabel

    from viewer.gui.elided_label import ElidedLabel

    found = []
    for label in root.findChildren(QLabel):
        text = label.text()
        if not text or not label.isVisibleTo(root) or label.pixmap() is not None \
                or isinstance(label, ElidedLabel):   # shortens itself with "…"
            continue
        box = label.contentsRect()
        if label.wordWrap():
            too_small = label.heightForWidth(box.width()) > box.height() + 1
        elif label.textFormat() == Qt.RichText or (label.textFormat() == Qt.AutoText
                                                   and Qt.mightBeRichText(text)):
            doc = QTextDocument()
            doc.setDocumentMargin(0)
            doc.setDefaultFont(label.font())
            doc.setHtml(text)
            too_small = doc.idealWidth() > box.width() + 1
        else:
            widest = max(label.fontMetrics().horizontalAdvance(line) for line in text.split("\n"))
            too_small = widest > box.width() + 1
        if too_small:
            found.append(f"{label.objectName() or type(label.parent()).__name__}: {text!r}")
    return found


def test_the_status_bar_names_the_file_with_its_path_in_the_tooltip(demo_window):
    status = demo_window.statusBar()
    assert status.currentMessage() == "Opened mnist_cnn.h5"
    assert status.toolTip() == str(DEMO_NET)
    status.clearMessage()
    assert status.toolTip() == ""


def test_no_label_is_cut_in_the_heatmap_weights_and_dataset_views(qtbot, demo_window, tmp_path):
    import numpy as np

    from viewer.data import open_samples

    w = demo_window
    s = w.state
    # The first 100 samples, so that the sweep below is quick.
    first = np.arange(100)
    np.savez(tmp_path / "first.npz", X=s.samples.batch(first), labels=s.samples.labels[first])
    s.set_net(s.net, open_samples(str(tmp_path / "first.npz")))
    qtbot.waitUntil(lambda: s.result is not None and not s.busy, timeout=30_000)
    QApplication.processEvents()
    assert clipped_labels(w) == []
    s.set_layer(s.net.index("conv2"))
    weights = w.show_view("weights")
    shape = w.stats.values["shape"]
    qtbot.waitUntil(lambda: weights.param is not None and shape.text() == "32×16×3×3")
    QApplication.processEvents()
    assert shape.fontMetrics().horizontalAdvance(shape.text()) <= shape.contentsRect().width()
    assert clipped_labels(w) == []

    w.show_view("heatmap")
    s.set_layer(s.net.index("relu3"))
    panel = w.show_view("dataset")
    qtbot.waitUntil(lambda: panel.sweeps.result is not None and not panel.sweeps.running,
                    timeout=60_000)
    QApplication.processEvents()
    table = panel.table
    header = table.horizontalHeader()
    metrics = table.fontMetrics()
    for column in range(table.model().columnCount()):
        assert header.sectionSize(column) >= table.column_width(column), column
        for row in range(10):  # the numbers on show fit their column
            text = table.model().index(row, column).data() or ""
            assert metrics.horizontalAdvance(text) + 6 <= header.sectionSize(column), (row, text)
    # The panel's needs do not squeeze the layer table.
    assert w.layers.tree.horizontalScrollBar().maximum() == 0
    assert table.horizontalScrollBar().maximum() == 0
    # The sweep bar's summary shares its row with the controls: where it is wider than the
    # room left it ends in "…" (an ElidedLabel), never cut mid-letter.
    status = panel.bar.status
    assert status.text()
    assert status.shown_text() == status.text() or status.shown_text().endswith("…")
    assert status.fontMetrics().horizontalAdvance(status.shown_text()) <= \
        status.contentsRect().width()

    # Every choice of where sweeps run shows in full in its box.
    run_box = panel.bar.run_box
    room = run_box.lineEdit().contentsRect().width()
    for i in range(run_box.count()):
        assert run_box.fontMetrics().horizontalAdvance(run_box.itemText(i)) <= room, i
    # The unit's top samples: one whole row of thumbnails shows under its picture.
    gallery = panel.gallery
    qtbot.waitUntil(lambda: gallery.top[0].sample >= 0)
    first = gallery.top[0]
    viewport = first.parentWidget().parentWidget()  # the scroll area's viewport
    shown = first.visibleRegion().boundingRect()
    assert viewport.height() >= first.height() and shown.height() == first.height()

    def cut():
        return clipped_labels(w)

    assert cut() == []
    for tab in ("pca", "classes"):
        panel.show_tab(tab)
        QApplication.processEvents()
        assert cut() == [], tab
    # The class means' unit numbers do not run into each other.
    qtbot.waitUntil(lambda: panel.classes.means is not None)
    panel.classes.canvas.draw()
    boxes = [t.get_window_extent() for t in panel.classes.axes.get_xticklabels() if t.get_text()]
    assert len(boxes) >= 5
    assert all(right.x0 - left.x1 >= 4 for left, right in zip(boxes, boxes[1:]))
    panel.show_tab("browse")
    qtbot.waitUntil(lambda: panel.predictions.complete, timeout=60_000)
    QApplication.processEvents()
    assert panel.strip.count.text().endswith(" wrong")
    assert "misclassified" in panel.strip.count.toolTip()
    assert cut() == []


def test_long_layer_names_give_way_to_the_other_columns(qtbot, demo_window):
    from pathlib import Path

    from PyQt5.QtCore import Qt

    w = demo_window
    path = Path(__file__).parent / "fixtures" / "tflite_cnn_int8_per_channel.tflite"
    w.state.open(str(path))
    qtbot.waitUntil(lambda: w.state.net is not None and w.state.net.name.startswith("tflite"),
                    timeout=30_000)
    QApplication.processEvents()
    tree = w.layers.tree
    header = tree.header()
    for column in (0, 2, 3, 4):  # "QConv2D · int8", shapes and counts whole
        assert tree.columnWidth(column) >= tree.sizeHintForColumn(column), column
    assert header.length() <= tree.viewport().width()
    assert tree.horizontalScrollBar().maximum() == 0
    assert tree.textElideMode() == Qt.ElideLeft  # path-like names keep their ends
    item = tree.topLevelItem(2)
    assert item.text(2) == "QConv2D · int8" and item.toolTip(1) == item.text(1)


def test_an_elided_label_ends_in_an_ellipsis_and_shows_its_whole_text_on_hover(qtbot):
    from PyQt5.QtCore import QEvent, QPoint
    from PyQt5.QtGui import QHelpEvent
    from PyQt5.QtWidgets import QToolTip

    from viewer.gui.elided_label import ElidedLabel

    text = "1,000 samples · 64 channels · 0 never active · 0.52 s"
    label = ElidedLabel(text)
    label.setToolTip("ran in-process")
    qtbot.addWidget(label)
    label.resize(label.fontMetrics().horizontalAdvance(text) + 10, 20)
    label.show()
    assert label.shown_text() == text
    label.resize(80, 20)
    shown = label.shown_text()
    assert shown.endswith("…") and text.startswith(shown[:-1])
    assert label.fontMetrics().horizontalAdvance(shown) <= label.contentsRect().width()
    label.event(QHelpEvent(QEvent.ToolTip, QPoint(5, 5), label.mapToGlobal(QPoint(5, 5))))
    assert QToolTip.text() == text + "\nran in-process"
