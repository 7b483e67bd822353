"""``python main.py sweep``: a dataset sweep of one layer, written as CSV files.

    python main.py sweep NET --layer L [--samples FILE] [--dataset PATH] [--k K] -o OUTDIR

writes into OUTDIR (created if missing; files of the same names are replaced):

    units.csv          unit,mean,std,frac_active,never_active,dead   one row per unit/channel
    top_k.csv          unit,rank,sample,value,label             the k samples with the largest peak
    bottom_k.csv       unit,rank,sample,value,label             the k with the smallest peak
    pca.csv            sample,pc1,pc2,label,predicted           every swept sample
    pca_variance.csv   component,explained_variance,explained_variance_ratio
    histograms.csv     unit,bin,low,high,count   each unit's per-sample values, its bins
                       from the first to the last one used (see UnitHistograms)
    class_means.csv    class,name,count,<unit 0>,<unit 1>,...   when the samples have labels
    predicted_class_means.csv   the same per predicted class, when the net is a classifier
    sweep.json         what was swept and how (layer, layout, threshold, PCA method, files),
                       and the accuracy when there are labels and predictions

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
from typing import TYPE_CHECKING, Any, Iterable

from viewer.errors import StrataError

if TYPE_CHECKING:  # numpy and the sweep load only when a sweep runs: the CLI starts fast
    from viewer.analysis.sweep import ClassMeans, SweepResult


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The sweep options besides NET, --layer, --samples and --dataset."""
    p.add_argument("--k", type=int, default=9, help="top and bottom samples per unit (default 9)")
    p.add_argument("--threshold", type=float, default=0.0,
                   help="a unit is active on a sample when its peak exceeds this (default 0)")
    p.add_argument("--batch-size", type=int, default=256, help="most samples per forward pass")
    p.add_argument("--pca-samples", type=int,
                   help="random samples the PCA is fitted on (default 1000); all are projected")
    p.add_argument("-o", "--output", required=True, metavar="OUTDIR",
                   help="folder for the CSV files (created if missing)")


OUTPUT_FILES = ("units.csv", "top_k.csv", "bottom_k.csv", "pca.csv", "pca_variance.csv",
                "histograms.csv", "class_means.csv", "predicted_class_means.csv", "sweep.json")


def _count(n: int, what: str) -> str:
    return f"{n} {what}" if n == 1 else f"{n} {what}s"


def run(args: argparse.Namespace, net: Any, samples: Any, layer: int) -> int:
    """Sweep ``layer`` over ``samples`` and write the files; returns the exit code."""
    from viewer.analysis.sweep import Sweep

    outdir = args.output
    if os.path.exists(outdir) and not os.path.isdir(outdir):
        raise StrataError(f"{outdir}: exists and is not a folder")
    if not math.isfinite(args.threshold):
        raise StrataError(f"--threshold must be a finite number, not {args.threshold}")
    try:  # before the sweep, so a bad folder does not cost a whole sweep
        os.makedirs(outdir, exist_ok=True)
    except OSError as exc:
        raise StrataError(f"{outdir}: cannot create the folder ({exc.strerror or exc})") from None
    options = {} if args.pca_samples is None else {"pca_samples": args.pca_samples}
    sweep = Sweep(net, samples, layer, batch_size=args.batch_size, k=args.k,
                  threshold=args.threshold, **options)
    result = sweep.run()
    try:
        files = write_sweep(result, outdir, net_name=net.name, samples_source=samples.source)
    except OSError as exc:
        raise StrataError(f"{outdir}: cannot write ({exc.strerror or exc})") from None
    print(f"wrote {len(files)} files to {outdir}: layer {result.layer} {result.layer_name}, "
          f"{_count(result.n_samples, 'sample')}, {_count(result.n_units, 'unit')} "
          f"({int(result.never_active.sum())} {result.inactive_name}); "
          f"{result.pca.description}{_accuracy_text(result)}")
    return 0


def _accuracy_text(result: SweepResult) -> str:
    """``"; accuracy 97.8% (528 of 540)"``, or nothing without labels and predictions."""
    if result.accuracy is None or not result.accuracy[1]:
        return ""
    correct, counted = result.accuracy
    return f"; accuracy {100 * correct / counted:.1f}% ({correct} of {counted})"


def write_sweep(result: SweepResult, outdir: str, *, net_name: str = "",
                samples_source: str = "") -> list[str]:
    """Write a sweep's results as the files listed in the module docstring.

    Parameters
    ----------
    result : SweepResult
    outdir : str
        An existing folder.
    net_name, samples_source : str
        Recorded in sweep.json.

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
        "elapsed_seconds": round(result.elapsed, 3),
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
