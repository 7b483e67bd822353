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


def open_settings() -> QSettings:
    """The application's settings store."""
    return QSettings(QSettings.IniFormat, QSettings.UserScope, ORGANIZATION, APPLICATION)


def recent_files(settings: QSettings) -> list[str]:
    """Recently opened files, newest first."""
    value = settings.value("recent_files", [])
    if isinstance(value, str):  # an INI list of one comes back as a plain string
        value = [value]
    return [str(v) for v in (value or []) if v]


def add_recent(settings: QSettings, path: str) -> list[str]:
    """Put ``path`` first in the recent files; return the new list."""
    path = os.path.abspath(path)
    files = [path] + [p for p in recent_files(settings) if p != path]
    files = files[:MAX_RECENT]
    settings.setValue("recent_files", files)
    return files


def remove_recent(settings: QSettings, path: str) -> list[str]:
    """Forget ``path`` (e.g. it no longer exists); return the new list."""
    files = [p for p in recent_files(settings) if p != path]
    settings.setValue("recent_files", files)
    return files


def clear_recent(settings: QSettings) -> None:
    """Forget every recent file."""
    settings.setValue("recent_files", [])


def last_folder(settings: QSettings) -> str:
    """The folder of the last file dialog, or the home folder."""
    folder = str(settings.value("last_folder", "") or "")
    return folder if os.path.isdir(folder) else os.path.expanduser("~")


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
