"""``python main.py sweep``: a dataset sweep of layers, written as CSV files.

    python main.py sweep NET --layer L [--layer L2 ... | --all-layers] [--samples FILE]
                         [--dataset PATH] [--k K] [--cluster local:N|tcp://HOST:PORT] -o OUTDIR

writes into OUTDIR (created if missing; files of the same names are replaced),
or, for several layers, into one folder per layer ``OUTDIR/<index>-<name>``:

    units.csv          unit,mean,std,frac_active,never_active,dead   one row per unit/channel
    top_k.csv          unit,rank,sample,value,label             the k samples with the largest peak
    bottom_k.csv       unit,rank,sample,value,label             the k with the smallest peak
    pca.csv            sample,pc1,pc2,label,predicted           every swept sample
    pca_variance.csv   component,explained_variance,explained_variance_ratio
    histograms.csv     unit,bin,low,high,count   each unit's per-sample values, its bins
                       from the first to the last one used (see UnitHistograms)
    class_means.csv    class,name,count,<unit 0>,<unit 1>,...   when the samples have labels
    predicted_class_means.csv   the same per predicted class, when the net is a classifier
    sweep.json         what was swept and how (layer, layout, threshold, PCA method, where
                       it ran, files), and the accuracy when there are labels and predictions

and ``OUTDIR/shards/``: each finished shard's state (``--shard-size`` rows,
see :mod:`viewer.cluster.shards`). Rerunning the same command skips the
shards already there, so a killed sweep resumes; another command into the
same folder starts afresh. ``--cluster`` runs the shards on Dask workers
(:mod:`viewer.cluster.dask_client`; requirements-cluster.txt); without it
they run in this process. The numbers do not depend on where shards ran.

``never_active`` is 1 for a unit never above the threshold; ``dead`` is the
same for layers whose outputs are ReLU-like and empty for all others (a tanh
or linear unit below the threshold is not dead, see
:mod:`viewer.analysis.rectified`). Empty cells mean "none" (no label, no
prediction). Numbers are written with
9 significant digits. The definitions (unit, peak, active, PCA method) are in
:mod:`viewer.analysis.sweep` and :mod:`viewer.analysis.pca`; the window shows
the same numbers.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import re
import sys
from typing import TYPE_CHECKING, Any, Iterable

from viewer.errors import StrataError

if TYPE_CHECKING:  # numpy and the sweep load only when a sweep runs: the CLI starts fast
    from viewer.analysis.sweep import ClassMeans, SweepResult


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The sweep options besides NET, --samples and --dataset."""
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--layer", "-l", action="append", metavar="L",
                       help="layer index (negative counts from the end) or name; repeat it "
                            "to sweep several layers in one pass")
    which.add_argument("--all-layers", action="store_true",
                       help="sweep every layer but the input, in one pass")
    p.add_argument("--k", type=int, default=9, help="top and bottom samples per unit (default 9)")
    p.add_argument("--threshold", type=float, default=0.0,
                   help="a unit is active on a sample when its peak exceeds this (default 0)")
    p.add_argument("--batch-size", type=int, default=256, help="most samples per forward pass")
    p.add_argument("--pca-samples", type=int,
                   help="random samples the PCA is fitted on (default 1000); all are projected")
    p.add_argument("--shard-size", type=int, default=5000,
                   help="samples per shard: the unit of resuming and of cluster work "
                        "(default 5000)")
    p.add_argument("--cluster", metavar="ADDRESS",
                   help="run the shards on Dask: local:N starts N worker processes, "
                        "tcp://HOST:PORT uses a running scheduler (needs "
                        "requirements-cluster.txt); default: in this process")
    p.add_argument("-o", "--output", required=True, metavar="OUTDIR",
                   help="folder for the CSV files (created if missing)")


OUTPUT_FILES = ("units.csv", "top_k.csv", "bottom_k.csv", "pca.csv", "pca_variance.csv",
                "histograms.csv", "class_means.csv", "predicted_class_means.csv", "sweep.json")
SHARDS = "shards"


def _count(n: int, what: str) -> str:
    return f"{n} {what}" if n == 1 else f"{n} {what}s"


def chosen_layers(args: argparse.Namespace, net: Any) -> list[int]:
    """The layer indices ``--layer`` or ``--all-layers`` name, in net order for the latter."""
    if args.all_layers:
        return [i for i, layer in enumerate(net) if layer.kind != "Input"] or [0]
    layers = []
    for name in args.layer:
        try:
            layers.append(net.resolve(name))
        except StrataError as exc:
            names = ", ".join(layer.name for layer in net)
            raise StrataError(f"{args.net}: {exc} (layers: {names})") from None
    return list(dict.fromkeys(layers))


def layer_folder(outdir: str, index: int, name: str) -> str:
    """``OUTDIR/<index>-<name>``, the name made safe for a file name."""
    return os.path.join(outdir, f"{index:03d}-{re.sub(r'[^A-Za-z0-9_.-]+', '_', name)}")


def run(args: argparse.Namespace, net: Any, samples: Any) -> int:
    """Sweep the chosen layers over ``samples`` and write the files; returns the exit code."""
    from viewer.analysis.sweep import Sweep
    from viewer.cluster.run import run_shards
    from viewer.cluster.shards import ShardFolder, fingerprint

    outdir = args.output
    if os.path.exists(outdir) and not os.path.isdir(outdir):
        raise StrataError(f"{outdir}: exists and is not a folder")
    if not math.isfinite(args.threshold):
        raise StrataError(f"--threshold must be a finite number, not {args.threshold}")
    if args.shard_size < 1:
        raise StrataError(f"--shard-size must be at least 1, not {args.shard_size}")
    layers = chosen_layers(args, net)
    cluster = _cluster(args.cluster) if args.cluster else None  # before the folder and the work
    try:  # before the sweep, so a bad folder does not cost a whole sweep
        os.makedirs(outdir, exist_ok=True)
    except OSError as exc:
        raise StrataError(f"{outdir}: cannot create the folder ({exc.strerror or exc})") from None
    options = {} if args.pca_samples is None else {"pca_samples": args.pca_samples}
    sweep = Sweep(net, samples, layers, batch_size=args.batch_size, k=args.k,
                  threshold=args.threshold, **options)
    folder = ShardFolder(os.path.join(outdir, SHARDS),
                         fingerprint(sweep, args.shard_size, net.path, samples.path,
                                     samples.source))
    try:
        executor = cluster.executor() if cluster is not None else None
        state, report = run_shards(sweep, args.shard_size, folder, executor,
                                   progress=_print_progress)
    finally:
        if cluster is not None:
            cluster.close()
    results = sweep.finish(state, report.elapsed)
    ran = (f"ran {report.where}: {_count(report.n_shards, 'shard')}"
           + (f", {report.skipped} found finished" if report.skipped else "")
           + (f"; removed {report.removed} shard files of another sweep" if report.removed
              else ""))
    print(ran)
    for layer, result in results.items():
        where = outdir if len(results) == 1 else layer_folder(outdir, layer, result.layer_name)
        try:
            os.makedirs(where, exist_ok=True)
            files = write_sweep(result, where, net_name=net.name, samples_source=samples.source,
                                ran=report.where)
        except OSError as exc:
            raise StrataError(f"{where}: cannot write ({exc.strerror or exc})") from None
        print(f"wrote {len(files)} files to {where}: layer {result.layer} {result.layer_name}, "
              f"{_count(result.n_samples, 'sample')}, {_count(result.n_units, 'unit')} "
              f"({int(result.never_active.sum())} {result.inactive_name}); "
              f"{result.pca.description}{_accuracy_text(result)}")
    return 0


def _print_progress(progress: Any) -> None:
    """One line on stderr per finished shard, when there are several."""
    if progress.n_shards > 1:
        print(f"sweep: {progress.describe()}", file=sys.stderr, flush=True)


def _cluster(address: str) -> Any:
    """A Dask cluster for ``--cluster`` (imports Dask; its absence is one line)."""
    from viewer.cluster.dask_client import DaskCluster, parse_address

    parse_address(address)  # a bad address is said before anything starts
    return DaskCluster(address)


def _accuracy_text(result: SweepResult) -> str:
    """``"; accuracy 97.8% (528 of 540)"``, or nothing without labels and predictions."""
    if result.accuracy is None or not result.accuracy[1]:
        return ""
    correct, counted = result.accuracy
    return f"; accuracy {100 * correct / counted:.1f}% ({correct} of {counted})"


def write_sweep(result: SweepResult, outdir: str, *, net_name: str = "",
                samples_source: str = "", ran: str = "in-process") -> list[str]:
    """Write a sweep's results as the files listed in the module docstring.

    Parameters
    ----------
    result : SweepResult
    outdir : str
        An existing folder.
    net_name, samples_source : str
        Recorded in sweep.json.
    ran : str
        Where the sweep ran ("in-process", "local:2 (2 worker processes)"), for sweep.json.

    Returns
    -------
    list of str
        The file names written.
    """
    # A rerun into the same folder must not leave an earlier run's files to be misread.
    for stale in OUTPUT_FILES:
        if os.path.isfile(os.path.join(outdir, stale)):
            os.remove(os.path.join(outdir, stale))
    written = []

    def table(name: str, header: list[str], rows: Iterable[list]) -> None:
        with open(os.path.join(outdir, name), "w", newline="") as fh:
            out = csv.writer(fh)
            out.writerow(header)
            out.writerows(rows)
        written.append(name)

    labels = result.labels
    by_sample = {int(s): i for i, s in enumerate(result.indices)}

    def label_of(sample: int) -> str:
        return "" if labels is None else str(int(labels[by_sample[sample]]))

    table("units.csv", ["unit", "mean", "std", "frac_active", "never_active", "dead"],
          ([u, _num(result.mean[u]), _num(result.std[u]), _num(result.frac_active[u]),
            int(result.never_active[u]), int(result.dead[u]) if result.rectified else ""]
           for u in range(result.n_units)))
    for name, samples, values in (("top_k.csv", result.top_samples, result.top_values),
                                  ("bottom_k.csv", result.bottom_samples, result.bottom_values)):
        table(name, ["unit", "rank", "sample", "value", "label"],
              ([u, r + 1, int(samples[u, r]), _num(values[u, r]), label_of(int(samples[u, r]))]
               for u in range(result.n_units) for r in range(samples.shape[1])))
    pca = result.pca
    predicted = result.predicted
    table("pca.csv", ["sample", "pc1", "pc2", "label", "predicted"],
          ([int(s), _num(pca.coords[i, 0]), _num(pca.coords[i, 1]),
            "" if labels is None else int(labels[i]),
            "" if predicted is None or predicted[i] < 0 else int(predicted[i])]
           for i, s in enumerate(result.indices)))
    table("pca_variance.csv", ["component", "explained_variance", "explained_variance_ratio"],
          ([c + 1, _num(pca.explained_variance[c]), _num(pca.explained_variance_ratio[c])]
           for c in range(len(pca.explained_variance))))
    table("histograms.csv", ["unit", "bin", "low", "high", "count"], _histogram_rows(result))
    for name, means in (("class_means.csv", result.by_label),
                        ("predicted_class_means.csv", result.by_prediction)):
        if means is not None:
            table(name, ["class", "name", "count"] + [str(u) for u in range(result.n_units)],
                  _class_rows(means))
    info = {
        "net": net_name, "samples": samples_source, "layer": result.layer,
        "layer_name": result.layer_name, "shape": list(result.shape), "layout": result.layout,
        "unit_axis": result.unit_axis, "n_units": result.n_units, "n_samples": result.n_samples,
        "threshold": result.threshold, "k": int(result.top_samples.shape[1]),
        "rectified": result.rectified,
        "dead": "never above the threshold, in a layer whose outputs are ReLU-like"
                if result.rectified else "not applicable: the layer's outputs are not ReLU-like",
        "accuracy": None if result.accuracy is None else
        {"correct": result.accuracy[0], "counted": result.accuracy[1]},
        "unit_value": "mean over the unit's positions (the value itself for dense units)",
        "unit_peak": "max over the unit's positions; ranks top_k and bottom_k; "
                     "active = peak > threshold",
        "pca": {"description": pca.description, "method": pca.method, "n_fit": pca.n_fit,
                "n_samples": pca.n_samples, "n_features": pca.n_features,
                "n_original_features": pca.n_original_features, "seed": pca.seed},
        "elapsed_seconds": round(result.elapsed, 3), "ran": ran,
        "files": written + ["sweep.json"],
    }
    with open(os.path.join(outdir, "sweep.json"), "w") as fh:
        json.dump(info, fh, indent=2)
    return written + ["sweep.json"]


def _histogram_rows(result: SweepResult) -> Iterable[list]:
    import numpy as np  # here: numpy loads only when a sweep runs

    hist = result.histograms
    edges = hist.edges()
    for u in range(result.n_units):
        used = np.flatnonzero(hist.counts[u])
        for b in range(used[0], used[-1] + 1) if len(used) else ():
            yield [u, b - used[0], _num(edges[u, b]), _num(edges[u, b + 1]),
                   int(hist.counts[u, b])]


def _class_rows(means: ClassMeans) -> Iterable[list]:
    for i, c in enumerate(means.classes.tolist()):
        name = means.names[i] if means.names is not None else ""
        yield [c, name, int(means.counts[i])] + [_num(v) for v in means.means[i]]


def _num(value: float) -> str:
    """A float as text with 9 significant digits ("nan", "inf" as numpy writes them)."""
    return f"{float(value):.9g}"
