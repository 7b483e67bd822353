"""Dataset sweep benchmark: overhead against the bare forward pass, and memory on 60,000 samples.

Run with ``python bench/sweep.py`` from the repository root (one BLAS thread,
as the window uses). Two parts:

(a) Throughput. Every layer of the demo CNN is swept over all 1,797 digits
    of scikit-learn's ``load_digits`` (8x8, scaled by the net's 1/16) and
    timed against the bare forward pass over the same batches: the same
    ``net.outputs(samples.batch(rows), layers)`` calls, without statistics,
    top-k, PCA or class means. Timed alternately, median of ``--repeats``.
    Prints per layer and in total the throughput ratio forward/sweep
    (target >= 0.70). Both sides run with glibc's malloc told to keep freed
    memory, as main.py does (:func:`viewer.allocator.keep_freed_memory`;
    ``--system-malloc`` to skip): by default it hands large freed numpy
    buffers back to the system and page-faults them in again, which on this
    VM made the same forward pass take 18 or 53 ms depending on the heap's
    history, swamping what is measured.
(b) Memory. Two HDF5 files of 28x28 uint8 inputs (1,797 and 60,000 samples,
    random, fixed seed) are swept through a small made-up CNN (random
    weights, fixed seed), each in its own subprocess. Prints the growth of
    peak RSS during each sweep (Linux VmHWM, reset to the current RSS just
    before the sweep: ru_maxrss would carry the parent's peak over exec),
    the numpy peak seen by tracemalloc, and the 60,000-sample growth beyond
    the 1,797-sample one beside the batch's activations plus the result
    arrays.
"""
from __future__ import annotations

import os

# Before numpy is imported: BLAS reads these once, at load time.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from viewer.allocator import keep_freed_memory  # noqa: E402
from viewer.analysis.sweep import Sweep, SweepResult  # noqa: E402
from viewer.data import open_samples  # noqa: E402
from viewer.net import Net  # noqa: E402
from viewer.net.layers import (Activation, Conv2D, Dense, Flatten, Input,  # noqa: E402
                               MaxPool2D)
from viewer.session import open_net, samples_for  # noqa: E402

DEMO_NET = ROOT / "resources" / "demo" / "digits_cnn.h5"
MB = 2 ** 20


# -- (a) throughput ------------------------------------------------------------------

def forward_only(net, samples, sweep: Sweep, batch_sizes: tuple[int, ...]) -> None:
    """The sweep's forward passes alone: same rows, same batches, same layers."""
    start = 0
    for size in batch_sizes:
        rows = sweep.order[start:start + size]
        start += size
        net.outputs(samples.batch(sweep.indices[rows]), sweep.targets)


def throughput(repeats: int, malloc: str) -> None:
    from sklearn.datasets import load_digits

    net, _ = open_net(str(DEMO_NET), isolate=False)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "digits.npy"
        np.save(raw, load_digits().images.astype(np.float32))  # (1797, 8, 8), values 0..16
        samples = samples_for(net, str(raw))  # the net's preprocessing: x / 16, (N, 1, 8, 8)
        print(f"(a) demo CNN, every layer over {len(samples)} digits, "
              f"median of {repeats} alternating runs; {malloc}")
        print(f"{'#':>3}  {'layer':<8} {'units':>5} {'values':>6}  {'forward ms':>10} "
              f"{'sweep ms':>9}  {'ratio':>5}  PCA")
        totals = {"forward": 0.0, "sweep": 0.0}
        for layer in range(len(net)):
            sweep = Sweep(net, samples, layer)
            result = sweep.run()  # warm-up; its batches are the ones replayed
            times: dict[str, list[float]] = {"forward": [], "sweep": []}
            for _ in range(repeats):
                began = time.perf_counter()
                forward_only(net, samples, sweep, result.batch_sizes)
                times["forward"].append(time.perf_counter() - began)
                began = time.perf_counter()
                again = sweep.run()
                times["sweep"].append(time.perf_counter() - began)
                if again.batch_sizes != result.batch_sizes:
                    print(f"    note: batches changed ({again.batch_sizes})")
            med = {key: statistics.median(values) for key, values in times.items()}
            for key in totals:
                totals[key] += med[key]
            print(f"{layer:>3}  {net[layer].name:<8} {result.n_units:>5} "
                  f"{result.pca.n_original_features:>6}  {1e3 * med['forward']:>10.1f} "
                  f"{1e3 * med['sweep']:>9.1f}  {med['forward'] / med['sweep']:>5.2f}  "
                  f"{result.pca.method}, fit on {result.pca.n_fit}")
        print(f"all layers: forward {1e3 * totals['forward']:.1f} ms, sweep "
              f"{1e3 * totals['sweep']:.1f} ms, throughput ratio "
              f"{totals['forward'] / totals['sweep']:.2f} (target >= 0.70)")


# -- (b) memory ----------------------------------------------------------------------

def made_up_cnn(seed: int = 0) -> Net:
    """A small CNN on 1x28x28: conv 8 - pool - conv 16 - pool - dense 64 - dense 10 - softmax."""
    rng = np.random.default_rng(seed)

    def weights(*shape: int) -> np.ndarray:
        fan_in = int(np.prod(shape[1:])) if len(shape) == 4 else shape[0]
        return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)

    def bias(n: int) -> np.ndarray:
        return (rng.standard_normal(n) * 0.1).astype(np.float32)

    x = Input(name="input", shape=(1, 28, 28), data_format="channels_first")
    layers = [x]
    layers.append(Conv2D(layers[-1], name="conv1", W=weights(8, 1, 3, 3), b=bias(8),
                         padding="same"))
    layers.append(Activation(layers[-1], name="relu1", function="relu"))
    layers.append(MaxPool2D(layers[-1], name="pool1", pool_size=2))
    layers.append(Conv2D(layers[-1], name="conv2", W=weights(16, 8, 3, 3), b=bias(16),
                         padding="same"))
    layers.append(Activation(layers[-1], name="relu2", function="relu"))
    layers.append(MaxPool2D(layers[-1], name="pool2", pool_size=2))
    layers.append(Flatten(layers[-1], name="flatten", data_format="channels_first"))
    layers.append(Dense(layers[-1], name="fc1", W=weights(784, 64), b=bias(64)))
    layers.append(Activation(layers[-1], name="relu3", function="relu"))
    layers.append(Dense(layers[-1], name="fc2", W=weights(64, 10), b=bias(10)))
    layers.append(Activation(layers[-1], name="softmax", function="softmax"))
    return Net(layers, name="made_up_cnn")


def write_dataset(path: Path, n: int, seed: int = 0) -> None:
    """n random 28x28 uint8 images and labels 0..9, written in chunks."""
    import h5py

    rng = np.random.default_rng(seed)
    with h5py.File(path, "w") as f:
        X = f.create_dataset("X", shape=(n, 28, 28), dtype=np.uint8, chunks=(256, 28, 28))
        for start in range(0, n, 10_000):
            stop = min(start + 10_000, n)
            X[start:stop] = rng.integers(0, 256, (stop - start, 28, 28), dtype=np.uint8)
        f.create_dataset("labels", data=rng.integers(0, 10, n))


def array_bytes(value: object) -> int:
    """Bytes of every numpy array in a result (dataclasses followed)."""
    if isinstance(value, np.ndarray):
        return value.nbytes
    if dataclasses.is_dataclass(value):
        return sum(array_bytes(getattr(value, f.name)) for f in dataclasses.fields(value))
    return 0


def _status_bytes(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(field)


def reset_peak_rss() -> int:
    """Reset the peak RSS to the current RSS (Linux); returns the current RSS in bytes."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return _status_bytes("VmRSS")
    except OSError:  # not Linux, or not allowed: growth from the peak so far
        return peak_rss()


def peak_rss() -> int:
    """Peak RSS of this process image in bytes."""
    try:
        return _status_bytes("VmHWM")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def memory_case(path: str, layer: str) -> dict:
    """One sweep in this (fresh) process: peak RSS growth, then the tracemalloc peak."""
    net = made_up_cnn()
    samples = open_samples(path, input_shape=net.input.output_shape,
                           preprocess={"scale": 1 / 255})
    sweep = Sweep(net, samples, layer)
    samples.batch([0])  # h5py loaded and the file opened once before the baseline
    before = reset_peak_rss()
    began = time.perf_counter()
    result: SweepResult = sweep.run()
    seconds = time.perf_counter() - began
    rss_growth = peak_rss() - before
    tracemalloc.start()
    sweep.run()
    traced_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    pca = result.pca
    return {"n": len(samples), "seconds": seconds, "rss_growth": rss_growth,
            "traced_peak": traced_peak, "batch_size": sweep.batch_size,
            "batch_activations": sweep.batch_size * sweep.sample_bytes,
            "result_arrays": array_bytes(result),
            "fit_buffer": pca.n_fit * pca.n_features * 4, "pca": pca.description}


def memory(layer: str) -> None:
    print(f"\n(b) made-up CNN on 28x28 HDF5 samples, layer {layer}, each run in a fresh process")
    cases = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in (1_797, 60_000):
            path = Path(tmp) / f"inputs_{n}.h5"
            write_dataset(path, n)
            out = subprocess.run([sys.executable, __file__, "--memory-case", str(path), layer],
                                 capture_output=True, text=True, check=True)
            cases.append(json.loads(out.stdout.splitlines()[-1]))
    for c in cases:
        rate = c["n"] / c["seconds"]
        print(f"{c['n']:>6} samples: {c['seconds']:.2f} s ({rate:,.0f} samples/s); peak RSS "
              f"growth {c['rss_growth'] / MB:.1f} MB; tracemalloc peak "
              f"{c['traced_peak'] / MB:.1f} MB; batch {c['batch_size']} = "
              f"{c['batch_activations'] / MB:.1f} MB of activations; result arrays "
              f"{c['result_arrays'] / MB:.2f} MB; PCA fit buffer {c['fit_buffer'] / MB:.1f} MB")
    small, big = cases
    print(f"        PCA: {big['pca']}")
    growth = big["rss_growth"] - small["rss_growth"]
    allowed = big["batch_activations"] + big["result_arrays"]
    traced = big["traced_peak"] - small["traced_peak"]
    print(f"60,000 vs 1,797: peak RSS grows {growth / MB:+.1f} MB more (numpy peak "
          f"{traced / MB:+.1f} MB); batch activations + result arrays = {allowed / MB:.1f} MB: "
          f"{'within' if growth <= allowed else 'OVER'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per layer (a)")
    parser.add_argument("--layer", default="relu1", help="layer swept in (b)")
    parser.add_argument("--system-malloc", action="store_true",
                        help="(a) with glibc's default malloc settings")
    parser.add_argument("--memory-case", nargs=2, metavar=("H5", "LAYER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_case:
        print(json.dumps(memory_case(*args.memory_case)))
        return
    steady = not args.system_malloc and keep_freed_memory()
    throughput(args.repeats, "malloc keeps freed memory" if steady else "system malloc settings")
    memory(args.layer)


if __name__ == "__main__":
    main()
