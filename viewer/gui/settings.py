"""What the window remembers between runs, kept with QSettings.

Always the INI format under the user scope, so the file is readable and a
test can move it with ``QSettings.setPath(QSettings.IniFormat,
QSettings.UserScope, tmpdir)`` without touching the user's real settings.
"""

from __future__ import annotations

import os

from PyQt5.QtCore import QSettings

from viewer.app.options import DisplayOptions

ORGANIZATION = "Strata"
APPLICATION = "Strata"
MAX_RECENT = 10
#: Recent files are kept in two lists: nets (and models) and samples.
RECENT_KINDS = ("nets", "samples")
#: Strata's own files: never the place to save an export by default.
APP_FOLDER = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
#: The (net, samples) pairs and their preprocessing, kept with the recent files (viewer.app.pairs).
PAIRS_KEY = "recent/pairs"


def open_settings() -> QSettings:
    """The application's settings store."""
    return QSettings(QSettings.IniFormat, QSettings.UserScope, ORGANIZATION, APPLICATION)


def _recent_key(kind: str) -> str:
    if kind not in RECENT_KINDS:
        raise ValueError(f"recent files are {' or '.join(RECENT_KINDS)}, not {kind!r}")
    return f"recent_{kind}"


def recent_files(settings: QSettings, kind: str = "nets") -> list[str]:
    """Recently opened nets or samples (``kind``), newest first."""
    value = settings.value(_recent_key(kind), [])
    if isinstance(value, str):  # an INI list of one comes back as a plain string
        value = [value]
    return [str(v) for v in (value or []) if v]


def add_recent(settings: QSettings, path: str, kind: str = "nets") -> list[str]:
    """Put ``path`` first in the recent nets or samples; return the new list."""
    path = os.path.abspath(path)
    files = [path] + [p for p in recent_files(settings, kind) if p != path]
    files = files[:MAX_RECENT]
    settings.setValue(_recent_key(kind), files)
    return files


def remove_recent(settings: QSettings, path: str) -> None:
    """Forget ``path`` (e.g. it no longer exists) in both lists."""
    for kind in RECENT_KINDS:
        settings.setValue(_recent_key(kind), [p for p in recent_files(settings, kind) if p != path])


def clear_recent(settings: QSettings) -> None:
    """Forget every recent file, and the samples and preprocessing remembered with them."""
    for kind in RECENT_KINDS:
        settings.setValue(_recent_key(kind), [])
    settings.remove(PAIRS_KEY)


def last_folder(settings: QSettings) -> str:
    """The folder of the last file dialog, or the home folder."""
    folder = str(settings.value("last_folder", "") or "")
    return folder if os.path.isdir(folder) else os.path.expanduser("~")


def export_folder(settings: QSettings) -> str:
    """Where a save dialog starts: the last folder, unless that is inside Strata's own files
    (after opening the bundled demo), then the home folder."""
    folder = last_folder(settings)
    inside = os.path.commonpath([os.path.realpath(folder), os.path.realpath(APP_FOLDER)])
    return os.path.expanduser("~") if inside == os.path.realpath(APP_FOLDER) else folder


def set_last_folder(settings: QSettings, path: str) -> None:
    """Remember the folder containing ``path`` (or ``path`` if it is one)."""
    folder = path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))
    settings.setValue("last_folder", folder)


def load_options(settings: QSettings) -> DisplayOptions:
    """The display options saved last time (defaults where missing or broken)."""
    default = DisplayOptions()
    settings.beginGroup("display")
    try:
        opts = DisplayOptions(
            view=str(settings.value("view", default.view)),
            cmap=str(settings.value("cmap", default.cmap)),
            scale=str(settings.value("scale", default.scale)),
            bins=int(settings.value("bins", default.bins)),
            log_counts=str(settings.value("log_counts", default.log_counts)).lower() == "true",
        )
    except (TypeError, ValueError):
        opts = default
    finally:
        settings.endGroup()
    return opts.checked()


def save_options(settings: QSettings, opts: DisplayOptions) -> None:
    """Store the display options."""
    settings.beginGroup("display")
    settings.setValue("view", opts.view)
    settings.setValue("cmap", opts.cmap)
    settings.setValue("scale", opts.scale)
    settings.setValue("bins", opts.bins)
    settings.setValue("log_counts", opts.log_counts)
    settings.endGroup()
