"""Installing Strata in the desktop's application menu, for the current user.

``python main.py --install-desktop`` writes ``strata.desktop`` (from
``resources/strata.desktop``, with absolute paths to this Python, main.py and
the icon) into ``$XDG_DATA_HOME/applications`` and the icons into the user's
hicolor theme; ``--uninstall-desktop`` removes exactly those files. Standard
library only, so the command line can call it without loading Qt.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "resources" / "strata.desktop"
ICON_SVG = ROOT / "resources" / "icons" / "strata.svg"
ICON_PNG = ROOT / "resources" / "icons" / "strata.png"
ENTRY_NAME = "strata.desktop"
ICON_NAME = "strata"


def data_home() -> Path:
    """``$XDG_DATA_HOME``, or ``~/.local/share``."""
    env = os.environ.get("XDG_DATA_HOME", "")
    return Path(env) if os.path.isabs(env) else Path.home() / ".local" / "share"


def installed_paths() -> list[Path]:
    """The files :func:`install` writes (entry first)."""
    icons = data_home() / "icons" / "hicolor"
    return [data_home() / "applications" / ENTRY_NAME,
            icons / "scalable" / "apps" / f"{ICON_NAME}.svg",
            icons / "256x256" / "apps" / f"{ICON_NAME}.png"]


def entry_text(python: str | None = None) -> str:
    """The desktop entry with this installation's absolute paths filled in."""
    python = python or sys.executable
    command = " ".join(shlex.quote(p) for p in (python, str(ROOT / "main.py")))
    lines = []
    for line in TEMPLATE.read_text(encoding="utf-8").splitlines():
        if line.startswith("Exec="):
            line = f"Exec={command} %f"
        elif line.startswith("Icon="):
            line = f"Icon={ICON_NAME}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def install() -> list[str]:
    """Install the desktop entry and icons for the current user.

    Returns
    -------
    list of str
        The files written.
    """
    entry, svg, png = installed_paths()
    for path in (entry, svg, png):
        path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ICON_SVG, svg)
    shutil.copyfile(ICON_PNG, png)
    tmp = entry.with_suffix(".tmp")
    tmp.write_text(entry_text(), encoding="utf-8")
    tmp.chmod(0o755)  # some desktops only launch entries marked executable
    tmp.replace(entry)
    return [str(entry), str(svg), str(png)]


def uninstall() -> list[str]:
    """Remove what :func:`install` wrote; return the files removed."""
    removed = []
    for path in installed_paths():
        if path.exists():
            path.unlink()
            removed.append(str(path))
    return removed
