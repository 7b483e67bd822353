"""A window sweeping on `local:2` that is closed, given another net, or cancelled mid-run:
no uncaught exception, the close returns soon, no worker process is left, and an
in-process sweep still works afterwards."""

import time

import h5py
import numpy as np
import psutil
import pytest

from viewer.app.demo import DEMO_NET, SMALL_CNN
from viewer.app.sweeps import IN_PROCESS, Subset
from viewer.gui import safety
from viewer.gui.main_window import MainWindow
from viewer.session import open_net

pytest.importorskip("distributed")
pytestmark = pytest.mark.skipif(not DEMO_NET.exists(), reason="the demo net is not built")

N_SAMPLES = 60_000
#: A closing window waits this long at most (the sweep controller's 2 s, and some slack).
CLOSE_SECONDS = 3.0


@pytest.fixture(scope="module")
def big_file(tmp_path_factory):
    """60,000 inputs of the demo MNIST net (its own samples repeated): 13 shards."""
    path = tmp_path_factory.mktemp("samples") / "mnist_60k.h5"
    _net, own = open_net(str(DEMO_NET), isolate=False)
    raw = own.raw_batch(np.arange(len(own)))
    rows = np.arange(N_SAMPLES) % len(own)
    with h5py.File(path, "w") as f:
        f.create_dataset("X", data=raw[rows], chunks=(1000,) + raw.shape[1:])
        f["y"] = own.labels[rows]
    return path


@pytest.fixture
def sweeping(qtbot, isolated_settings, big_file, capfd):
    """A window whose Dataset panel sweeps relu2 on local:2, its worker processes busy
    with the shards after the fit shard; yields (window, panel, worker pids)."""
    w = MainWindow()
    qtbot.addWidget(w)
    uninstall = safety.install(w)
    w.show()
    w.start(str(DEMO_NET), str(big_file))
    qtbot.waitUntil(lambda: w.state.samples is not None and len(w.state.samples) == N_SAMPLES
                    and w.state.result is not None, timeout=60_000)
    panel = w.show_view("dataset")
    panel.sweeps.set_auto(False)
    box = panel.bar.run_box
    box.setCurrentIndex(box.findText("local:2"))
    box.activated.emit(box.currentIndex())
    assert panel.sweeps.where == "local:2"
    w.state.set_layer(w.state.net.index("relu2"))
    done = []
    panel.sweeps.progress.connect(lambda d, _t, _l: done.append(d))
    panel.bar.sweep_button.click()
    qtbot.waitUntil(lambda: bool(done) and done[-1] >= 1000, timeout=120_000)  # the fit shard
    workers = _workers()
    assert len(workers) == 2
    yield w, panel, workers
    w.close()
    uninstall()
    assert "unexpected error" not in capfd.readouterr().err


def _workers():
    """This process's Dask worker processes (not multiprocessing's resource tracker)."""
    return [p for p in psutil.Process().children(recursive=True)
            if "resource_tracker" not in " ".join(p.cmdline())]


def _gone(processes, seconds=1.0):
    """True when every process has ended within ``seconds`` (they only need reaping)."""
    _dead, alive = psutil.wait_procs(processes, timeout=seconds)
    return not alive


def _sweeps_in_process(qtbot, panel):
    """An in-process sweep of a random 1,000 samples finishes with a result."""
    sweeps = panel.sweeps
    box = panel.bar.run_box
    box.setCurrentIndex(box.findText(IN_PROCESS))
    box.activated.emit(box.currentIndex())
    assert sweeps.where == IN_PROCESS
    sweeps.set_subset(Subset(1000))
    with qtbot.waitSignal(sweeps.finished, timeout=60_000) as finished:
        sweeps.run()
    n = min(1000, len(panel.sweeps.state.samples))
    assert finished.args[0].n_samples == n and sweeps.ran == IN_PROCESS


def test_closing_the_window_mid_sweep_stops_the_workers_soon(sweeping):
    w, panel, workers = sweeping
    began = time.monotonic()
    w.close()
    assert time.monotonic() - began < CLOSE_SECONDS
    assert panel.sweeps.idle  # its thread has closed the cluster, not left it to exit
    assert _gone(workers)


def test_cancel_mid_sweep_stops_the_workers_and_in_process_sweeps_work(qtbot, sweeping):
    _w, panel, workers = sweeping
    panel.bar.cancel_button.click()
    assert "cancelled" in panel.bar.status.text()
    qtbot.waitUntil(lambda: panel.sweeps.idle, timeout=int(CLOSE_SECONDS * 1000))
    assert _gone(workers)
    _sweeps_in_process(qtbot, panel)


def test_another_net_mid_sweep_stops_the_workers_and_its_sweep_works(qtbot, sweeping):
    w, panel, workers = sweeping
    before = w.state.net
    w.start(str(SMALL_CNN))
    qtbot.waitUntil(lambda: w.state.net not in (None, before) and w.state.samples is not None,
                    timeout=30_000)
    qtbot.waitUntil(lambda: panel.sweeps.idle, timeout=int(CLOSE_SECONDS * 1000))
    assert _gone(workers)
    _sweeps_in_process(qtbot, panel)
