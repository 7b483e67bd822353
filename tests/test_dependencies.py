"""Import contracts: the Qt-free packages never load Qt or matplotlib, the command line stays light."""

import json
import os
import pkgutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: Packages (and top-level modules) that must never import PyQt5 or matplotlib.
QT_FREE = ("viewer.net", "viewer.convert", "viewer.data", "viewer.analysis", "viewer.app")
QT_FREE_MODULES = ("viewer.session", "viewer.export", "viewer.errors", "viewer.cli")


def _modules_after(code: str) -> set:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys, json\n"
                          "print(json.dumps(sorted(sys.modules)))"],
                         cwd=ROOT, capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout.splitlines()[-1]))


def _every_module(package: str) -> list:
    """``package`` and every module below it, found on disk (new modules are covered too)."""
    folder = os.path.join(ROOT, *package.split("."))
    found = [package]
    for info in pkgutil.walk_packages([folder], prefix=package + "."):
        if not info.name.endswith(".__main__"):  # runs a command when imported
            found.append(info.name)
    return sorted(found)


def _gui_modules(loaded: set) -> set:
    return {m for m in loaded if m.split(".")[0] in ("PyQt5", "matplotlib")}


@pytest.mark.parametrize("package", QT_FREE)
def test_every_module_of_the_qt_free_packages_imports_no_qt_or_matplotlib(package):
    modules = _every_module(package)
    assert len(modules) > 1
    loaded = _modules_after("\n".join(f"import {m}" for m in modules))
    assert set(modules) <= loaded
    assert not _gui_modules(loaded)


@pytest.mark.parametrize("module", QT_FREE_MODULES)
def test_the_top_level_glue_imports_no_qt_or_matplotlib(module):
    assert not _gui_modules(_modules_after(f"import {module}"))


def test_the_walk_finds_modules_added_later():
    modules = _every_module("viewer.app")
    assert {"viewer.app.runner", "viewer.app.compute", "viewer.app.opening"} <= set(modules)


def test_info_command_imports_no_qt_or_matplotlib():
    loaded = _modules_after("from viewer.cli import main\n"
                            "main(['info', 'resources/demo/digits_mlp.h5'])")
    assert not _gui_modules(loaded)


def test_window_start_up_imports_nothing_heavy_before_the_window():
    # main.py builds its parser before the window shows: numpy, h5py and
    # matplotlib load later, off the first paint's path.
    loaded = _modules_after("from viewer.cli import build_parsers\nbuild_parsers()")
    assert not {m for m in loaded if m.split(".")[0] in ("numpy", "h5py", "matplotlib", "PyQt5")}


def test_the_sample_format_table_loads_without_numpy():
    loaded = _modules_after("from viewer.data.formats import describe\ndescribe()")
    assert "numpy" not in loaded
