"""Sharded sweep throughput: in-process against ``--cluster local:2``, on a 60,000-sample HDF5 file.

Run with ``python bench/sweep_cluster.py`` from the repository root (needs
requirements-cluster.txt). The demo MNIST CNN's ``relu2`` and ``relu3`` are swept
in one pass over a generated HDF5 file of 60,000 28x28 uint8 inputs (the
net's 1,000 embedded samples repeated, so the numbers mean something), in
shards of ``--shard-size`` rows, by the same :func:`viewer.cluster.run.run_shards`:

- in this process (one BLAS thread), and
- on a ``LocalCluster`` of 2 worker processes (one BLAS thread each), started
  once before the timed runs (its start-up is printed apart); the net,
  samples and spec are sent to each worker once per sweep.

Runs alternate (in-process, local:2, ...) ``--rounds`` times; the medians give
samples/s and the ratio local:2 / in-process (target >= 1.7 on 2 cores).
Also printed:

- overhead per shard: (2 x local:2 wall time - in-process wall time) / shards,
  the worker-seconds a shard costs beyond its compute (scheduling, sending
  states back, the fit shard running alone while one worker waits);
- per-sample cost in-process (ms), for the cluster plan in bench/README.md;
- peak memory: growth of this process's peak RSS during an in-process sweep,
  and each worker's peak RSS growth during a local:2 sweep (Linux VmHWM,
  reset through /proc/self/clear_refs just before).
"""
from __future__ import annotations

import os

# Before numpy is imported: BLAS reads these once, at load time.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from viewer.analysis.sweep import Sweep  # noqa: E402
from viewer.cluster.dask_client import DaskCluster  # noqa: E402
from viewer.cluster.run import run_shards  # noqa: E402
from viewer.session import choose_samples, open_net  # noqa: E402

NET = ROOT / "resources" / "demo" / "mnist_cnn.h5"
LAYERS = ["relu2", "relu3"]
MB = 2 ** 20


def reset_peak() -> int:
    """Reset this process's VmHWM to its current RSS; returns that RSS in bytes."""
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
    return _status("VmRSS")


def peak() -> int:
    """This process's VmHWM (peak RSS) in bytes."""
    return _status("VmHWM")


def _status(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def make_file(path: Path, n: int) -> None:
    import h5py

    net, own = open_net(str(NET))
    raw = own.raw_batch(np.arange(len(own)))
    rows = np.arange(n) % len(own)
    with h5py.File(path, "w") as f:
        f.create_dataset("X", data=raw[rows], chunks=(1000,) + raw.shape[1:])
        f["y"] = own.labels[rows]


def timed(sweep: Sweep, shard_size: int, executor=None) -> tuple[float, int]:
    start = time.perf_counter()
    state, report = run_shards(sweep, shard_size, executor=executor)
    sweep.finish(state, 0.0)
    return time.perf_counter() - start, report.n_shards


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=60_000)
    p.add_argument("--shard-size", type=int, default=5000)
    p.add_argument("--rounds", type=int, default=2)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mnist_60k.h5"
        make_file(path, args.samples)
        net, own = open_net(str(NET))
        samples, _ = choose_samples(net, own, str(path))
        sweep = Sweep(net, samples, LAYERS)
        print(f"{args.samples:,} samples of {NET.name}, layers {', '.join(LAYERS)}, "
              f"shards of {args.shard_size:,}")
        began = time.perf_counter()
        with DaskCluster("local:2") as cluster:
            print(f"local:2 start-up: {time.perf_counter() - began:.1f} s")
            executor = cluster.executor()
            inside, local, n_shards = [], [], 0
            for r in range(args.rounds):
                seconds, n_shards = timed(sweep, args.shard_size)
                inside.append(seconds)
                seconds, _ = timed(sweep, args.shard_size, executor)
                local.append(seconds)
                print(f"  round {r + 1}: in-process {inside[-1]:.1f} s, local:2 {local[-1]:.1f} s")
            t_in, t_local = statistics.median(inside), statistics.median(local)
            n = args.samples
            print(f"in-process: {n / t_in:,.0f} samples/s ({1000 * t_in / n:.3f} ms per sample)")
            print(f"local:2:    {n / t_local:,.0f} samples/s")
            print(f"ratio local:2 / in-process: {t_in / t_local:.2f}x (target >= 1.7)")
            print(f"overhead per shard: {(2 * t_local - t_in) / n_shards:.3f} worker-s "
                  f"({n_shards} shards)")

            base = reset_peak()
            timed(sweep, args.shard_size)
            print(f"peak memory growth in-process: {(peak() - base) / MB:.0f} MB")
            bases = cluster.client.run(reset_peak)
            timed(sweep, args.shard_size, executor)
            peaks = cluster.client.run(peak)
            grown = ", ".join(f"{(peaks[w] - bases[w]) / MB:.0f} MB" for w in sorted(peaks))
            total = ", ".join(f"{peaks[w] / MB:.0f} MB" for w in sorted(peaks))
            print(f"peak memory growth per worker: {grown} (peak RSS {total})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
