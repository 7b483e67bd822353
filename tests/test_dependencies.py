"""The numpy core never imports Qt or matplotlib, and the command line stays light."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _modules_after(code: str) -> set:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys, json\n"
                          "print(json.dumps(sorted(sys.modules)))"],
                         cwd=ROOT, capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout.splitlines()[-1]))


@pytest.mark.parametrize("package", ["viewer.net", "viewer.convert", "viewer.data",
                                     "viewer.analysis", "viewer.session", "viewer.export"])
def test_core_packages_import_no_qt_or_matplotlib(package):
    loaded = _modules_after(f"import {package}")
    assert not {m for m in loaded if m.split(".")[0] in ("PyQt5", "matplotlib")}


def test_info_command_imports_no_qt_or_matplotlib():
    loaded = _modules_after("from viewer.cli import main\n"
                            "main(['info', 'resources/demo/digits_mlp.h5'])")
    assert not {m for m in loaded if m.split(".")[0] in ("PyQt5", "matplotlib")}


def test_window_start_up_imports_nothing_heavy_before_the_window():
    # main.py builds its parser before the window shows: numpy, h5py and
    # matplotlib load later, off the first paint's path.
    loaded = _modules_after("from viewer.cli import build_parsers\nbuild_parsers()")
    assert not {m for m in loaded if m.split(".")[0] in ("numpy", "h5py", "matplotlib", "PyQt5")}
