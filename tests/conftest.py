"""Shared test setup: Qt runs offscreen, so the tests need no screen."""

import os
import sys

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# The repository root, so `import viewer` works without installing anything.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from viewer.blas import THREAD_VARIABLES, limit_blas_threads  # noqa: E402

# As main.py does, before numpy loads (pytest.ini keeps zarr's plugin from loading
# it first): the window's tests then run as the window does, and an in-process sweep
# rounds bit for bit as the one-thread sweep workers do (threaded GEMMs round apart).
if "numpy" in sys.modules and not all(name in os.environ for name in THREAD_VARIABLES):
    raise pytest.UsageError("a pytest plugin imported numpy before conftest.py could set "
                            "one BLAS thread: disable it in pytest.ini (-p no:NAME)")
limit_blas_threads()


@pytest.fixture
def h5py_modes(monkeypatch):
    """The mode of every h5py.File this process opens during the test, in order.

    File permissions do not stop root, so a read-only promise is checked here
    by what the code asks for, not by what the file system allows.
    """
    import h5py

    modes = []
    real = h5py.File

    class Recorded(real):
        def __init__(self, name, mode="r", *args, **kwargs):
            modes.append(mode)
            super().__init__(name, mode, *args, **kwargs)

    monkeypatch.setattr(h5py, "File", Recorded)
    yield modes


@pytest.fixture(scope="session")
def qapp(qapp):
    """pytest-qt's application, collecting garbage on the main thread as the window's does."""
    from viewer.gui import main_thread_gc

    main_thread_gc.install(qapp)
    return qapp


@pytest.fixture(autouse=True)
def collect_garbage_between_tests():
    """Collect after each test, on the main thread (the collector runs nowhere else once
    a Qt test has started)."""
    yield
    if "viewer.gui.main_thread_gc" in sys.modules:
        sys.modules["viewer.gui.main_thread_gc"].collect_if_due()


@pytest.fixture
def isolated_settings(tmp_path):
    """Keep QSettings in a temporary folder: tests never touch the user's settings."""
    from PyQt5.QtCore import QSettings  # only GUI tests ask for this fixture

    QSettings.setPath(QSettings.IniFormat, QSettings.UserScope, str(tmp_path / "settings"))
    yield


@pytest.fixture
def window(qtbot, isolated_settings):
    """The window on the demo net, with its first heatmap drawn."""
    from PyQt5.QtWidgets import QApplication

    from viewer.app.demo import SMALL_CNN
    from viewer.gui.main_window import MainWindow

    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    w.start(str(SMALL_CNN))
    qtbot.waitUntil(lambda: w.heatmap is not None and w.state.result is not None)
    QApplication.setActiveWindow(w)  # the offscreen platform does not activate by itself
    w.layers.tree.setFocus()
    yield w
    w.close()
