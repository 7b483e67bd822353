"""Files around the window: export, clipboard, recent files, settings, drops,
the read-only promise, the desktop entry, the platform check and the dialogs."""

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest
from PyQt5.QtCore import QMimeData, QPoint, QPointF, Qt, QTimer, QUrl
from PyQt5.QtGui import QDropEvent, QImage
from PyQt5.QtWidgets import QApplication, QTableWidget

import viewer
from viewer import desktop_entry
from viewer.app.demo import SMALL_CNN
from viewer.export import read_activation_csv
from viewer.gui import app as gui_app
from viewer.gui import settings
from viewer.gui.dialogs import MOUSE_HINTS, about_html
from viewer.gui.main_window import MainWindow

needs_demo = pytest.mark.skipif(not SMALL_CNN.exists(), reason="the demo net is not built")


pytestmark = pytest.mark.usefixtures("isolated_settings")

def open_window(qtbot, net=SMALL_CNN):
    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    w.start(str(net))
    qtbot.waitUntil(lambda: w.heatmap is not None and w.state.result is not None
                    and not w.state.busy)
    return w


def digest(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@needs_demo
def test_export_picture_and_activation_read_back(qtbot, tmp_path):
    w = open_window(qtbot)
    result = w.state.result
    for ext in (".png", ".svg", ".pdf"):
        assert w.export_picture(str(tmp_path / f"pic{ext}"))
    assert not QImage(str(tmp_path / "pic.png")).isNull()
    assert (tmp_path / "pic.svg").read_text().lstrip().startswith("<?xml")
    assert (tmp_path / "pic.pdf").read_bytes()[:5] == b"%PDF-"
    assert w.export_activation(str(tmp_path / "act.npy"))
    np.testing.assert_array_equal(np.load(tmp_path / "act.npy"), result.activation)
    assert w.export_activation(str(tmp_path / "act.csv"))
    back = read_activation_csv(str(tmp_path / "act.csv"))
    assert back.shape == result.activation.shape
    np.testing.assert_array_equal(back.astype(result.activation.dtype), result.activation)
    w.state.set_options(view="histogram")
    assert w.export_picture(str(tmp_path / "hist.png"))
    assert not QImage(str(tmp_path / "hist.png")).isNull()


@needs_demo
def test_nothing_opened_is_ever_written(qtbot, tmp_path, h5py_modes):
    samples = tmp_path / "mine.npy"
    np.save(samples, np.zeros((5, 1, 8, 8), np.uint8))
    files = (SMALL_CNN, samples)
    before = [(digest(p), os.stat(p).st_mtime_ns) for p in files]
    w = open_window(qtbot)
    with qtbot.waitSignal(w.state.samplesChanged):
        w.state.open(str(samples))
    for i in range(5):
        w.state.set_sample(i)
    qtbot.waitUntil(lambda: w.state.result.request.sample == 4 and not w.state.busy)
    assert not w.export_picture(str(SMALL_CNN))  # refused: it is the opened net
    assert "never writes" in w.banner.text.text()
    assert not w.export_activation(str(samples))  # refused: the opened samples
    w.close()
    assert [(digest(p), os.stat(p).st_mtime_ns) for p in files] == before
    assert h5py_modes and set(h5py_modes) == {"r"}  # root ignores permissions: check the asks


@needs_demo
def test_copy_picture_to_clipboard(qtbot):
    w = open_window(qtbot)
    QApplication.clipboard().clear()
    w.copy_picture()
    image = QApplication.clipboard().image()
    assert not image.isNull() and image.width() > 100


@needs_demo
def test_recent_files_and_options_persist(qtbot, tmp_path):
    samples = tmp_path / "more.npy"
    np.save(samples, np.zeros((3, 1, 8, 8), np.uint8))
    w = open_window(qtbot)
    with qtbot.waitSignal(w.state.samplesChanged):
        w.state.open(str(samples))
    w.state.set_options(cmap="magma", bins=33, view="histogram", scale="channel")
    w.resize(1100, 700)
    w.close()

    again = MainWindow()
    qtbot.addWidget(again)
    # Nets and samples in lists of their own, each under its heading.
    assert settings.recent_files(again.settings, "nets")[:1] == [str(SMALL_CNN)]
    assert settings.recent_files(again.settings, "samples")[:1] == [str(samples)]
    again.fill_recent()
    texts = [a.text() for a in again.recent_menu.actions()]
    nets, kept = texts.index("Nets and models"), texts.index("Samples")
    assert "digits_cnn.h5" in texts[nets + 1] and "more.npy" in texts[kept + 1]
    opts = again.state.options
    assert (opts.cmap, opts.bins, opts.view, opts.scale) == ("magma", 33, "histogram", "channel")
    assert (again.width(), again.height()) == (1100, 700)
    assert settings.last_folder(again.settings) == str(tmp_path)
    assert settings.export_folder(again.settings) == str(tmp_path)
    settings.set_last_folder(again.settings, str(SMALL_CNN))  # the bundled demo's folder
    assert settings.export_folder(again.settings) == os.path.expanduser("~")


@needs_demo
def test_missing_recent_file_is_reported_and_forgotten(qtbot, tmp_path):
    w = open_window(qtbot)
    gone = str(tmp_path / "gone.h5")
    settings.add_recent(w.settings, gone)
    w.open_recent(gone)
    assert "no such file" in w.banner.text.text()
    assert gone not in settings.recent_files(w.settings)


@needs_demo
def test_drop_a_samples_file(qtbot, tmp_path):
    w = open_window(qtbot)
    path = tmp_path / "dropped.npy"
    np.save(path, np.ones((4, 8, 8), np.float32))  # the channel axis is added to fit
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    event = QDropEvent(QPointF(QPoint(50, 50)), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    with qtbot.waitSignal(w.state.samplesChanged):
        w.dropEvent(event)
    assert len(w.state.samples) == 4


def test_desktop_entry_install_and_uninstall(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    written = desktop_entry.install()
    entry = tmp_path / "applications" / "strata.desktop"
    assert str(entry) in written and all(os.path.exists(p) for p in written)
    text = entry.read_text()
    main = str(desktop_entry.ROOT / "main.py")
    exec_line = next(line for line in text.splitlines() if line.startswith("Exec="))
    assert os.path.isabs(exec_line.split()[0][5:]) and main in exec_line
    assert "Icon=strata" in text
    assert sorted(desktop_entry.uninstall()) == sorted(written)
    assert not entry.exists()


def test_platform_check_names_the_packages(monkeypatch):
    monkeypatch.setattr(gui_app.sys, "platform", "linux")
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    assert gui_app.check_platform() is None
    monkeypatch.delenv("QT_QPA_PLATFORM")
    monkeypatch.setattr(gui_app, "_missing_libraries",
                        lambda: ["libxcb-icccm.so.4", "libxkbcommon-x11.so.0"])
    message = gui_app.check_platform()
    assert "sudo apt-get install libxcb-icccm4 libxkbcommon-x11-0" in message
    monkeypatch.setattr(gui_app, "_missing_libraries", lambda: [])
    monkeypatch.setattr(gui_app, "_plugin_error", lambda: None)
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert "no display" in gui_app.check_platform()
    monkeypatch.setenv("DISPLAY", ":0")
    assert gui_app.check_platform() is None


def test_about_text():
    assert viewer.__version__ in about_html() and "strata-net" in about_html()


@needs_demo
def test_help_menu_opens_the_shortcuts_built_from_the_actions(qtbot):
    w = open_window(qtbot)
    seen = []
    # A view registered later shows up in the list without editing the dialog.
    w.add_command("extra", "&Extra thing", lambda: None, shortcut="Ctrl+Shift+X")

    def close_it():
        dialog = QApplication.activeModalWidget()
        seen.append(dialog.windowTitle())
        table = dialog.findChild(QTableWidget)
        rows = [(table.item(r, 0).text(), table.item(r, 1).text())
                for r in range(table.rowCount())]
        seen.append(rows)
        dialog.accept()

    QTimer.singleShot(0, close_it)
    w.show_shortcuts()
    assert seen[0] == "Keyboard shortcuts"
    rows = dict(seen[1])
    assert rows["Ctrl+1"] == "Heatmap" and rows["Ctrl+D"] == "Dataset panel"
    assert rows["Ctrl+Shift+X"] == "Extra thing" and rows["F1"] == "Keyboard shortcuts"
    assert seen[1][-len(MOUSE_HINTS):] == list(MOUSE_HINTS)
    assert len(rows) == len(seen[1])  # no key listed twice


def test_missing_net_leaves_a_usable_empty_window(qtbot, tmp_path):
    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    missing = str(tmp_path / "nowhere.h5")
    with qtbot.waitSignal(w.state.openFailed):
        w.start(missing)
    assert missing in w.banner.text.text()
    qtbot.waitUntil(lambda: w.heatmap is not None)
    assert "No net is open" in w.heatmap.message.text()
    assert w.layers.title.text() == "No net open"
    if SMALL_CNN.exists():
        with qtbot.waitSignal(w.state.netChanged):
            w.state.open(str(SMALL_CNN))
        qtbot.waitUntil(lambda: w.state.result is not None)
        assert not w.banner.isVisible()
