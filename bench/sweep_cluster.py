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
The machine may be shared: CPU seconds (this process plus the workers) are
printed beside the wall times, and ``2 x in-process CPU / local:2 CPU`` is
the ratio two free cores would give. Also printed:

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


def cpu_seconds() -> float:
    """CPU time of this process so far (all its threads)."""
    return time.process_time()


def timed(sweep: Sweep, shard_size: int, cluster=None) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds of this process and the workers, shards)."""
    before = cpu_seconds() + (sum(cluster.client.run(cpu_seconds).values()) if cluster else 0)
    start = time.perf_counter()
    state, report = run_shards(sweep, shard_size,
                               executor=cluster.executor() if cluster else None)
    sweep.finish(state, 0.0)
    wall = time.perf_counter() - start
    after = cpu_seconds() + (sum(cluster.client.run(cpu_seconds).values()) if cluster else 0)
    return wall, after - before, report.n_shards


def costs(sweep: Sweep, rows: int = 3000, rounds: int = 3) -> None:
    """Per-sample forward time and per-value statistics time, for the plan in bench/README.md.

    The same ``rows`` samples go (a) through ``net.outputs`` alone, batch by batch, and
    (b) through a shard sweep (forward + every statistic), alternately ``rounds`` times;
    the difference of the medians over the values the swept layers output is the
    statistics' cost per output value.
    """
    from viewer.analysis.sweep_shard import sweep_rows
    from viewer.data.batches import sample_batches

    net, samples, spec = sweep.net, sweep.samples, sweep.spec
    order = sweep.shards(rows)[1]
    values = sum(int(np.prod([s or 1 for s in net[i].output_shape])) for i in spec.layers)
    bare, swept = [], []
    for _ in range(rounds):
        start = time.process_time()
        for batch in sample_batches(samples, spec.indices[order], batch_size=spec.batch_size,
                                    adaptive=False):
            net.outputs(batch.x, list(spec.targets))
        bare.append(time.process_time() - start)
        start = time.process_time()
        sweep_rows(net, samples, spec, order)
        swept.append(time.process_time() - start)
    t_bare, t_swept = statistics.median(bare) / len(order), statistics.median(swept) / len(order)
    print(f"per sample (CPU, {len(order):,} samples, median of {rounds}): read + forward "
          f"{1000 * t_bare:.3f} ms, sweep {1000 * t_swept:.3f} ms; statistics "
          f"{1e9 * (t_swept - t_bare) / values:.1f} ns per output value ({values:,} values)")


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
        costs(sweep)
        began = time.perf_counter()
        with DaskCluster("local:2") as cluster:
            print(f"local:2 start-up: {time.perf_counter() - began:.1f} s")
            inside, local, cpu_in, cpu_local, n_shards = [], [], [], [], 0
            for r in range(args.rounds):
                seconds, cpu, n_shards = timed(sweep, args.shard_size)
                inside.append(seconds)
                cpu_in.append(cpu)
                seconds, cpu, _ = timed(sweep, args.shard_size, cluster)
                local.append(seconds)
                cpu_local.append(cpu)
                print(f"  round {r + 1}: in-process {inside[-1]:.1f} s ({cpu_in[-1]:.1f} CPU-s), "
                      f"local:2 {local[-1]:.1f} s ({cpu_local[-1]:.1f} CPU-s)")
            t_in, t_local = statistics.median(inside), statistics.median(local)
            c_in, c_local = statistics.median(cpu_in), statistics.median(cpu_local)
            n = args.samples
            print(f"in-process: {n / t_in:,.0f} samples/s ({1000 * t_in / n:.3f} ms per sample, "
                  f"{1000 * c_in / n:.3f} CPU-ms)")
            print(f"local:2:    {n / t_local:,.0f} samples/s ({1000 * c_local / n:.3f} CPU-ms "
                  f"per sample, workers and this process)")
            print(f"ratio local:2 / in-process: {t_in / t_local:.2f}x (target >= 1.7); "
                  f"from CPU time, on 2 free cores: {2 * c_in / c_local:.2f}x")
            print(f"overhead per shard: {(2 * t_local - t_in) / n_shards:.3f} worker-s wall, "
                  f"{(c_local - c_in) / n_shards:.3f} CPU-s ({n_shards} shards)")

            base = reset_peak()
            timed(sweep, args.shard_size)
            print(f"peak memory growth in-process: {(peak() - base) / MB:.0f} MB")
            bases = cluster.client.run(reset_peak)
            timed(sweep, args.shard_size, cluster)
            peaks = cluster.client.run(peak)
            grown = ", ".join(f"{(peaks[w] - bases[w]) / MB:.0f} MB" for w in sorted(peaks))
            total = ", ".join(f"{peaks[w] / MB:.0f} MB" for w in sorted(peaks))
            print(f"peak memory growth per worker: {grown} (peak RSS {total})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
