"""Starting the window: platform check, QApplication, main window, event loop.

``run(net_path, samples_path)`` is what ``python main.py [NET] [--samples
FILE]`` calls. Start-up is ordered for a fast first paint: only PyQt5 and
numpy are imported before the window shows; the net is read on a worker
thread and matplotlib is imported after the window's first paint.
"""

from __future__ import annotations

import ctypes
import os
import sys
from pathlib import Path

from viewer.allocator import keep_freed_memory
from viewer.app.demo import DEMO_NET
from viewer.blas import limit_blas_threads

ROOT = Path(__file__).resolve().parents[2]
ICON = ROOT / "resources" / "icons" / "strata.svg"

# Libraries Qt's xcb platform plugin loads, and the Debian/Ubuntu package of each.
XCB_LIBRARIES = {
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-xinerama.so.0": "libxcb-xinerama0",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-util.so.1": "libxcb-util1",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libxcb.so.1": "libxcb1",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libfontconfig.so.1": "libfontconfig1",
    "libdbus-1.so.3": "libdbus-1-3",
    "libGL.so.1": "libgl1",
}


def _platform_name() -> str:
    """The Qt platform plugin that will be used ("xcb" by default on Linux)."""
    spec = os.environ.get("QT_QPA_PLATFORM", "").strip()
    return spec.split(":")[0].split(";")[0] if spec else "xcb"


def _missing_libraries() -> list[str]:
    """Sonames from XCB_LIBRARIES that cannot be loaded (a few ms of dlopen)."""
    missing = []
    for soname in XCB_LIBRARIES:
        try:
            ctypes.CDLL(soname)
        except OSError:
            missing.append(soname)
    return missing


def _plugin_error() -> str | None:
    """The loader's error for Qt's xcb plugin itself, or None if it loads.

    Catches a missing library that is not in our table; the plugin is loaded
    by Qt moments later anyway, so this costs nothing extra.
    """
    try:
        import PyQt5
    except ImportError:
        return None
    plugin = Path(PyQt5.__file__).parent / "Qt5" / "plugins" / "platforms" / "libqxcb.so"
    if not plugin.exists():
        return None
    try:
        ctypes.CDLL(str(plugin))
    except OSError as exc:
        return str(exc)
    return None


def check_platform() -> str | None:
    """Say what to install when Qt's platform plugin cannot start, else None.

    Qt itself aborts with a cryptic message when the X11 (xcb) plugin misses
    a system library. This checks for those libraries first (loading them
    takes a few milliseconds) and for a display to connect to.

    Returns
    -------
    str or None
        A message for the user naming the Debian/Ubuntu packages to install,
        or None when the window can start.
    """
    if not sys.platform.startswith("linux") or _platform_name() != "xcb":
        return None
    missing = _missing_libraries()
    problem = None if missing else _plugin_error()
    if missing or problem:
        if missing:
            what, packages = ", ".join(missing), {XCB_LIBRARIES[s] for s in missing}
        else:
            what, packages = str(problem), set(XCB_LIBRARIES.values())
        return ("strata: the window cannot start: Qt's X11 plugin is missing system libraries "
                f"({what}).\nOn Debian or Ubuntu install them with:\n"
                f"    sudo apt-get install {' '.join(sorted(packages))}\n"
                "The command line (python main.py info/render/export) works without them.")
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        return ("strata: the window cannot start: there is no display (DISPLAY is not set).\n"
                "Run it inside a desktop session, or over ssh with -X; the command line "
                "(python main.py info/render/export) works without a display.")
    return None


def create_application(argv: list[str] | None = None):  # -> QApplication
    """The QApplication, made once, with Strata's names and icon."""
    from PyQt5.QtCore import QCoreApplication, Qt
    from PyQt5.QtGui import QIcon
    from PyQt5.QtWidgets import QApplication

    from viewer.gui import main_thread_gc
    from viewer.gui.settings import APPLICATION, ORGANIZATION

    app = QApplication.instance()
    if app is None:
        # Must precede the QApplication: crisp text and icons on high-DPI screens.
        QCoreApplication.setAttribute(Qt.AA_EnableHighDpiScaling, True)
        QCoreApplication.setAttribute(Qt.AA_UseHighDpiPixmaps, True)
        app = QApplication(list(argv) if argv is not None else sys.argv[:1])
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationDisplayName("Strata")
    app.setDesktopFileName("strata")
    app.setWindowIcon(QIcon(str(ICON)))
    main_thread_gc.install(app)
    keep_freed_memory()  # as main.py does, for a window made without it (benches, tests)
    return app


def run(net_path: str | None = None, samples_path: str | None = None) -> int:
    """Open the window on a net (the bundled demo when None) and run until it closes.

    Parameters
    ----------
    net_path : str, optional
        A strata-net file (or another file Strata can open).
    samples_path : str, optional
        Samples to show instead of the net's embedded ones.

    Returns
    -------
    int
        The exit code: 0 after a normal close, 1 when the window cannot start.
    """
    problem = check_platform()
    if problem:
        print(problem, file=sys.stderr)  # several lines: what to install
        return 1
    limit_blas_threads()
    try:
        app = create_application()
    except ImportError as exc:
        from viewer.app.messages import report, setup_logging

        setup_logging()
        report(f"the window cannot start: PyQt5 cannot be loaded ({exc}).")
        return 1
    from viewer.gui import safety
    from viewer.gui.main_window import MainWindow

    window = MainWindow()
    safety.install(window)
    window.show()
    window.start(net_path or str(DEMO_NET), samples_path)
    return app.exec_()
