"""Import contracts: the Qt-free packages never load Qt or matplotlib, the command line stays light."""

import ast
import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

from viewer.net.layers import CONVERTER_KIND_MODULES

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GUI = "viewer.gui"
_TOP = list(pkgutil.iter_modules([os.path.join(ROOT, "viewer")], prefix="viewer."))
#: Every package and top-level module of viewer/ but the window's: never PyQt5 or matplotlib.
QT_FREE = tuple(sorted(m.name for m in _TOP if m.ispkg and m.name != GUI))
QT_FREE_MODULES = tuple(sorted(m.name for m in _TOP if not m.ispkg and m.name != "viewer.__main__"))


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
    assert {"viewer.net", "viewer.convert", "viewer.data", "viewer.analysis",
            "viewer.app"} <= set(QT_FREE)
    assert {"viewer.session", "viewer.export", "viewer.errors", "viewer.cli",
            "viewer.desktop_entry"} <= set(QT_FREE_MODULES)


def _source(module: str) -> str:
    path = os.path.join(ROOT, *module.split("."))
    path = os.path.join(path, "__init__.py") if os.path.isdir(path) else path + ".py"
    with open(path, encoding="utf-8") as f:
        return f.read()


def _imported(module: str) -> set:
    """Every module named by an import statement in ``module``'s source (any depth)."""
    found = set()
    for node in ast.walk(ast.parse(_source(module))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def qt_free_gui_modules() -> list:
    """Modules of viewer.gui that import neither Qt nor matplotlib, directly or through
    other viewer.gui modules (package ``__init__`` files with no code are left out)."""
    modules = [m for m in _every_module(GUI)
               if ast.parse(_source(m)).body[1:] or not os.path.isdir(
                   os.path.join(ROOT, *m.split(".")))]
    imports = {m: _imported(m) for m in modules}
    drawing = {m for m in modules
               if any(i.split(".")[0] in ("PyQt5", "matplotlib") for i in imports[m])}
    while True:  # a module importing a drawing module draws too
        more = {m for m in modules if m not in drawing and imports[m] & drawing}
        if not more:
            return sorted(set(modules) - drawing)
        drawing |= more


def test_every_gui_module_imports_qt_or_matplotlib():
    # Code without Qt or matplotlib belongs to viewer.app (or viewer/), not to the window.
    assert qt_free_gui_modules() == []
    assert len(_every_module(GUI)) > 30


def test_the_gui_check_finds_a_qt_free_module(tmp_path, monkeypatch):
    gui = tmp_path / "viewer" / "gui"
    gui.mkdir(parents=True)
    (gui / "__init__.py").write_text('"""The window."""\n')
    (gui / "widget.py").write_text("from PyQt5.QtWidgets import QWidget\n")
    (gui / "uses_widget.py").write_text("from viewer.gui.widget import QWidget\n")
    (gui / "plain.py").write_text("import numpy as np\n\nX = np.zeros(3)\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", str(tmp_path))
    assert qt_free_gui_modules() == ["viewer.gui.plain"]


def test_info_command_imports_no_qt_or_matplotlib():
    loaded = _modules_after("from viewer.cli import main\n"
                            "main(['info', 'resources/demo/digits_mlp.h5'])")
    assert not _gui_modules(loaded)


def test_window_start_up_imports_nothing_heavy_before_the_window():
    # main.py builds its parser before the window shows: numpy, h5py and
    # matplotlib load later, off the first paint's path.
    loaded = _modules_after("from viewer.cli import build_parsers\nbuild_parsers()")
    assert not {m for m in loaded if m.split(".")[0] in ("numpy", "h5py", "matplotlib", "PyQt5")}
    window = _modules_after("from viewer.cli import build_window_parser\nbuild_window_parser()")
    assert not {m for m in window if m.startswith(("viewer.convert", "viewer.sweep_command",
                                                   "viewer.explain_command",
                                                   "viewer.featurevis_command"))}


def test_the_window_loads_only_what_its_first_paint_needs():
    # Reading the net, computing, logging and the preprocessing editor load after the window shows.
    loaded = _modules_after("import os\nos.environ['QT_QPA_PLATFORM'] = 'offscreen'\n"
                            "import viewer.gui.main_window, viewer.gui.safety")
    assert "viewer.gui.state" in loaded
    later = ("logging", "h5py", "matplotlib", "viewer.analysis", "viewer.net", "viewer.session",
             "viewer.export", "viewer.data.proposal", "viewer.gui.preprocess_dialog",
             "zipfile")
    assert not {m for m in loaded if m.startswith(later)}


def test_the_sample_format_table_loads_without_numpy():
    loaded = _modules_after("from viewer.data.formats import describe\ndescribe()")
    assert "numpy" not in loaded


def test_the_window_and_its_default_views_load_no_attribution_or_gradient_code():
    # The heatmap view, the window and the view registry are on the first paint's path;
    # the explain and feature-visualisation code loads when those views are first shown.
    loaded = _modules_after("import os\nos.environ['QT_QPA_PLATFORM'] = 'offscreen'\n"
                            "import viewer.gui.main_window, viewer.gui.heatmap_view")
    assert not {m for m in loaded if m.startswith(("viewer.analysis.attribution",
                                                   "viewer.net.backward",
                                                   "viewer.analysis.featurevis"))}


def test_opening_a_net_of_plain_kinds_loads_none_of_the_converters_kinds():
    # The demo's kinds are all eager: the quantized, recurrent, ... modules stay unloaded.
    loaded = _modules_after("from viewer.session import open_net\n"
                            "net, own = open_net('resources/demo/digits_cnn.h5')\n"
                            "net.summary(); net[-1](own.batch([0]))")
    kinds = {f"viewer.net.layers.{name}" for name in CONVERTER_KIND_MODULES}
    assert "viewer.net.layers.spatial" in loaded
    assert not kinds & loaded


def test_a_net_opened_with_its_own_samples_loads_no_sample_file_reader():
    # The window's first net is the demo, samples inside: .npy, image, zarr readers wait.
    loaded = _modules_after("from viewer.app.opening import open_file\n"
                            "open_file('resources/demo/digits_cnn.h5', None)")
    assert "viewer.data.hdf5" in loaded and "viewer.data.proposal" in loaded
    readers = ("viewer.data.files", "viewer.data.arrays", "viewer.data.images",
               "viewer.data.zarr_samples", "zipfile")
    assert not {m for m in loaded if m.startswith(readers)}


def test_a_net_with_a_converters_kind_opens_in_a_fresh_process(tmp_path):
    from viewer.net import save
    from viewer.session import open_net
    net, _ = open_net(os.path.join(ROOT, "tests", "fixtures", "keras1_theano_rnn.h5"))
    path = str(tmp_path / "rnn.h5")
    save(net, path)
    out = subprocess.run([sys.executable, "-c", "import sys\nfrom viewer.net import load\n"
                          f"print(' '.join(layer.kind for layer in load({path!r})))"],
                         cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split() == [layer.kind for layer in net]
    assert {"SimpleRNN", "GRU", "LSTM"} & set(out.stdout.split())


def test_every_module_that_registers_kinds_loads_eagerly_or_on_first_use():
    folder = Path(ROOT, "viewer", "net", "layers")
    imported = {word.split(".")[-1] for word in (folder / "__init__.py").read_text().split()
                if word.startswith("viewer.net.layers.")}
    registering = {path.stem for path in folder.glob("*.py") if "@register" in path.read_text()}
    eager = imported & registering
    assert registering - eager == set(CONVERTER_KIND_MODULES)
    assert {"core", "spatial"} <= eager and not eager & set(CONVERTER_KIND_MODULES)
