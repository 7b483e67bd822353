"""Sharded sweeps: resumed after a kill, on `--cluster local:2`, and on a real `dask scheduler`
with two `dask worker` processes started here on 127.0.0.1 (one of them killed mid-shard):
always the CSV files of the in-process sweep."""

import csv
import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from viewer.cli import main

from test_sweep import CNN, ROOT
from test_sweep_state import _same_table, _table

LAYERS = ["--layer", "relu2", "--layer", "fc1"]
CSV = ("units.csv", "top_k.csv", "bottom_k.csv", "pca.csv", "pca_variance.csv",
       "histograms.csv", "class_means.csv", "predicted_class_means.csv")


def _sweep(out, *extra, samples=None):
    args = ["sweep", CNN, *LAYERS, "--shard-size", "100", "--pca-samples", "100",
            "-o", str(out), *extra]
    if samples is not None:
        args += ["--samples", str(samples)]
    return main(args)


def _same_output(got, want):
    for layer in ("007-relu2", "010-fc1"):
        for name in CSV:
            _same_table(_table(got / layer / name), _table(want / layer / name), name)


@pytest.fixture(scope="module")
def in_process(tmp_path_factory):
    out = tmp_path_factory.mktemp("in_process")
    assert _sweep(out) == 0
    return out


def test_several_layers_go_to_one_folder_each(in_process):
    assert sorted(os.listdir(in_process)) == ["007-relu2", "010-fc1", "shards"]
    info = json.loads((in_process / "010-fc1" / "sweep.json").read_text())
    assert info["layer_name"] == "fc1" and info["ran"] == "in-process"
    assert len(os.listdir(in_process / "shards")) == 6  # the fit subset + 440 in fours of 100


def test_a_killed_run_resumes_from_its_finished_shards(tmp_path, capsys, monkeypatch,
                                                       in_process):
    from viewer.cluster.shards import ShardFolder

    save = ShardFolder.save
    saved = []

    def save_then_die(self, shard, state):
        if len(saved) == 3:
            raise KeyboardInterrupt  # as a kill would stop it, between two shards
        save(self, shard, state)
        saved.append(shard)

    monkeypatch.setattr(ShardFolder, "save", save_then_die)
    assert _sweep(tmp_path) == 130
    assert sorted(os.listdir(tmp_path / "shards")) == [f"shard-0000{i}.h5" for i in saved]
    monkeypatch.setattr(ShardFolder, "save", save)
    capsys.readouterr()
    assert _sweep(tmp_path) == 0
    captured = capsys.readouterr()
    assert "ran in-process: 6 shards, 3 found finished" in captured.out
    assert captured.err.count("sweep: ") == 3  # only the three missing shards ran
    _same_output(tmp_path, in_process)


def test_another_sweep_into_the_folder_starts_afresh(tmp_path, capsys, in_process):
    assert _sweep(tmp_path, "--k", "3") == 0
    capsys.readouterr()
    assert _sweep(tmp_path) == 0
    assert "removed 6 shard files of another sweep" in capsys.readouterr().out
    _same_output(tmp_path, in_process)


def test_local_cluster_gives_the_in_process_files(tmp_path, capsys, in_process):
    assert _sweep(tmp_path, "--cluster", "local:2") == 0
    assert "ran local:2 (2 worker processes): 6 shards" in capsys.readouterr().out
    _same_output(tmp_path, in_process)
    info = json.loads((tmp_path / "007-relu2" / "sweep.json").read_text())
    assert info["ran"] == "local:2 (2 worker processes)"


def test_without_dask_the_cluster_option_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed fails
    assert _sweep(tmp_path, "--cluster", "local:2") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("error: --cluster needs Dask: pip install -r "
                             "requirements-cluster.txt")
    assert not os.path.exists(tmp_path / "shards")


@pytest.mark.parametrize("address,message", [
    ("local:0", "--cluster local:0: local:N needs a number of workers N >= 1"),
    ("localhost", "--cluster localhost: expected local:N or tcp://HOST:PORT"),
])
def test_bad_cluster_addresses_are_one_line(tmp_path, capsys, address, message):
    assert _sweep(tmp_path, "--cluster", address) == 2
    assert capsys.readouterr().err.strip() == f"error: {message}"


def test_the_default_start_and_sweep_never_import_dask(tmp_path):
    code = ("import sys\n"
            "from viewer.cli import main\n"
            "import viewer.gui.explore.sweep_worker, viewer.cluster.run\n"
            f"assert main(['sweep', {CNN!r}, '--layer', 'relu2', '-o', {str(tmp_path)!r}]) == 0\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"


@pytest.fixture
def dask_cluster(tmp_path):
    """A `dask scheduler` and two `dask worker` processes on 127.0.0.1; (address, client)."""
    distributed = pytest.importorskip("distributed")
    env = {**os.environ, "PYTHONPATH": ROOT, "OMP_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1"}
    scheduler_file = str(tmp_path / "scheduler.json")
    started = [subprocess.Popen([sys.executable, "-m", "dask", "scheduler", "--host",
                                 "127.0.0.1", "--port", "0", "--no-dashboard",
                                 "--scheduler-file", scheduler_file],
                                env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)]
    try:
        for _ in range(600):
            if os.path.exists(scheduler_file):
                break
            time.sleep(0.1)
        for _ in range(2):
            started.append(subprocess.Popen(
                [sys.executable, "-m", "dask", "worker", "--scheduler-file", scheduler_file,
                 "--nthreads", "1", "--no-nanny", "--no-dashboard", "--host", "127.0.0.1"],
                env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        client = distributed.Client(scheduler_file=scheduler_file, timeout=60)
        client.wait_for_workers(2, timeout=120)
        yield client.scheduler.address, client
        client.close()
    finally:
        for process in started:
            if process.poll() is None:
                process.kill()
            process.wait()


def test_a_dask_scheduler_and_two_workers_give_the_in_process_files(tmp_path, capsys,
                                                                    dask_cluster, in_process):
    address, _ = dask_cluster
    assert _sweep(tmp_path, "--cluster", address) == 0
    assert f"ran {address} (2 workers): 6 shards" in capsys.readouterr().out
    _same_output(tmp_path, in_process)


def test_a_worker_killed_mid_shard_loses_only_that_shard(tmp_path, capsys, dask_cluster):
    import h5py

    from viewer.data import embedded_samples

    address, client = dask_cluster
    digits = embedded_samples(CNN)
    n = 6000
    raw = digits.raw_batch(np.arange(len(digits)))
    rows = np.arange(n) % len(digits)
    with h5py.File(tmp_path / "many.h5", "w") as f:
        f["X"], f["y"] = raw[rows], digits.labels[rows]
    samples = tmp_path / "many.h5"
    want, got = tmp_path / "want", tmp_path / "got"
    assert _sweep(want, "--shard-size", "500", samples=samples) == 0

    killed = {}
    pids = client.run(os.getpid)  # worker address -> its process (no nannies here)

    def kill_a_busy_worker():
        while not killed:
            for worker, tasks in client.processing().items():
                if any(str(task).startswith("strata-shard") for task in tasks):
                    os.kill(pids[worker], signal.SIGKILL)
                    killed.update(worker=worker, tasks=list(tasks))
                    return
            time.sleep(0.01)

    killer = threading.Thread(target=kill_a_busy_worker, daemon=True)
    killer.start()
    assert _sweep(got, "--cluster", address, "--shard-size", "500", samples=samples) == 0
    killer.join(timeout=10)
    assert killed, "no worker was seen working on a shard"
    assert "(2 workers): 13 shards" in capsys.readouterr().out  # the fit subset + 12 of 500
    assert sorted(os.listdir(got / "shards")) == [f"shard-{i:05d}.h5" for i in range(13)]
    for layer in ("007-relu2", "010-fc1"):
        for name in CSV:
            _same_table(_table(got / layer / name), _table(want / layer / name), name)


def _environment():
    return {name: os.environ.get(name) for name in
            ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "MALLOC_TRIM_THRESHOLD_")}


def test_local_workers_have_one_blas_thread_and_glibcs_own_malloc_thresholds():
    from viewer.cluster.dask_client import DaskCluster

    with DaskCluster("local:1") as cluster:
        (env,) = cluster.client.run(_environment).values()
    assert env == {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                   "MALLOC_TRIM_THRESHOLD_": None}
