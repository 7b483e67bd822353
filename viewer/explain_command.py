"""``python main.py explain``: an attribution map for one sample, as .npy or as a picture.

    python main.py explain NET --sample I [--samples FILE] --method METHOD
        [--target CLASS | --layer L --unit U [--position P]]
        [--patch P --stride S --baseline B] [--masks N --cells C --keep F --seed S]
        [--noise F --copies N --seed S] [--steps N --quadrature Q --baseline B|blur --sigma S]
        [--layer L  (CAM methods: the layer to work on)] -o OUT.npy|OUT.png

``.npy``: occlusion and RISE write the map with the input's per-sample shape
(channels share each position's value: (C, H, W) or (H, W, C) as the net's
input, (T, F) for sequences); the gradient methods write one value per input
cell with that shape (``--method gradient``: d score / d net input, after
preprocessing; the score is the target's value, a probability where the net
ends in a softmax); the CAM methods (Grad-CAM and Grad-CAM++ included) write
the map over the input's positions ((H, W) or (T,)). ``.png`` / ``.svg`` /
``.pdf``: the map over the input. Integrated gradients also prints its
completeness error. The definitions are in :mod:`viewer.analysis.attribution`.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from viewer.errors import StrataError

#: Names on the command line, as in viewer.analysis.attribution.METHODS (kept here so that
#: building the parser does not import numpy).
METHOD_NAMES = ("occlusion", "rise", "score-cam", "ablation-cam", "eigen-cam", "cam", "gradient",
                "saliency", "gradient-x-input", "smoothgrad", "integrated-gradients", "grad-cam",
                "grad-cam++", "guided-backprop", "deconvnet")
CAM_NAMES = ("score-cam", "ablation-cam", "eigen-cam", "cam", "grad-cam", "grad-cam++")
#: Methods that read --baseline.
BASELINE_NAMES = ("occlusion", "rise", "score-cam", "integrated-gradients")
#: Options (argparse dest -> parameter name) that belong to one method, and the method.
METHOD_OPTIONS = {"noise": ("noise", "smoothgrad"), "copies": ("n", "smoothgrad"),
                  "steps": ("steps", "integrated-gradients"),
                  "quadrature": ("quadrature", "integrated-gradients"),
                  "sigma": ("sigma", "integrated-gradients")}
#: Integrated gradients' quadrature rules, as viewer.analysis.attribution.QUADRATURES.
QUADRATURE_NAMES = ("adaptive", "gauss-legendre", "trapezoid", "midpoint", "left-riemann")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The explain options besides NET and the samples options."""
    p.add_argument("--sample", "-i", type=int, default=0, help="sample index (default 0)")
    p.add_argument("--method", "-m", required=True, choices=METHOD_NAMES)
    p.add_argument("--target", "-t", type=int, metavar="CLASS",
                   help="class of the last layer to explain (default: the predicted one)")
    p.add_argument("--layer", "-l",
                   help="occlusion, RISE, gradients: the layer of --unit; CAM methods: the layer "
                        "to work on (default: the last layer with positions)")
    p.add_argument("--unit", "-u", type=int,
                   help="occlusion, RISE, gradients: explain this unit (channel, feature) of "
                        "--layer, its mean over positions")
    p.add_argument("--position", metavar="P[,Q]",
                   help="with --unit: one position of the unit instead of its mean (row,column)")
    p.add_argument("--patch", type=int, help="occlusion window size (default: a seventh of the "
                   "input's smallest side, e.g. 4 on 28x28, 32 on 224x224)")
    p.add_argument("--stride", type=int, help="occlusion window step (default: half the patch)")
    p.add_argument("--baseline", default=None,
                   help="what hides the input (occlusion, RISE, Score-CAM) or starts the path "
                        "(integrated gradients): a number, 'mean' for the samples' mean input, "
                        "or 'blur' (integrated gradients: the sample blurred; default 0)")
    p.add_argument("--masks", type=int, default=2000, help="RISE masks (default 2000)")
    p.add_argument("--cells", type=int, default=7, help="RISE grid cells per axis (default 7)")
    p.add_argument("--keep", type=float, default=0.5, help="RISE cell keep probability (default 0.5)")
    p.add_argument("--seed", type=int, default=0, help="RISE and SmoothGrad seed (default 0)")
    p.add_argument("--noise", type=float,
                   help="SmoothGrad noise level, a fraction of the sample's range (default 0.15)")
    p.add_argument("--copies", type=int, help="SmoothGrad noisy copies (default 50)")
    p.add_argument("--steps", type=int, help="integrated gradients: points along the path "
                   "(default 64)")
    p.add_argument("--quadrature", choices=QUADRATURE_NAMES,
                   help="integrated gradients' rule along the path (default adaptive)")
    p.add_argument("--sigma", type=float, help="integrated gradients' blur baseline: the "
                   "Gaussian's sigma in positions (default 2)")
    p.add_argument("--batch-size", type=int, help="most altered copies per pass")
    p.add_argument("--cmap", default="auto", help="picture colour map (default auto: diverging "
                   "for signed maps)")
    p.add_argument("-o", "--output", required=True, help=".npy, .png, .svg or .pdf file")


def run(args: argparse.Namespace, net: Any, samples: Any) -> int:
    """Compute the map and write it; returns the exit code."""
    import numpy as np

    from viewer.analysis.attribution import BATCHED_METHODS, Target, explain

    ext = os.path.splitext(args.output)[1].lower()
    if ext not in (".npy", ".png", ".svg", ".pdf"):
        raise StrataError(f"{args.output}: cannot write {ext or 'a file without extension'}; "
                          f"use .npy, .png, .svg or .pdf")
    folder = os.path.dirname(os.path.abspath(args.output))
    if not os.path.isdir(folder):
        raise StrataError(f"{args.output}: the folder {folder} does not exist")
    if not 0 <= args.sample < len(samples):
        raise StrataError(f"sample {args.sample} is out of range: there are {len(samples)} samples")
    cam_method = args.method in CAM_NAMES
    if cam_method and (args.unit is not None or args.position):
        raise StrataError("--unit and --position choose a unit for the methods on the input "
                          "(occlusion, RISE, gradients); the CAM methods explain a class "
                          "(--target) on --layer")
    if args.unit is not None and args.target is not None:
        raise StrataError("give either --target CLASS or --layer L --unit U, not both")
    if args.position and args.unit is None:
        raise StrataError("--position needs --unit")
    params: dict[str, Any] = {}
    for option, (name, owner) in METHOD_OPTIONS.items():
        value = getattr(args, option)
        if value is not None and args.method != owner:
            raise StrataError(f"--{option} is an option of {owner}, not of {args.method}")
        if value is not None:
            params[name] = value
    if args.baseline is not None and args.method not in BASELINE_NAMES:
        raise StrataError(f"--baseline is an option of {', '.join(BASELINE_NAMES)}, not of "
                          f"{args.method}")
    if args.sigma is not None and args.baseline != "blur":
        raise StrataError("--sigma sets the blur of --baseline blur")
    x = samples.batch([args.sample])[0]
    if args.method in BASELINE_NAMES:
        params["baseline"] = _baseline(args.baseline or "0", samples,
                                       blur=args.method == "integrated-gradients")
    if args.method == "smoothgrad":
        params["seed"] = args.seed
    if args.method == "occlusion":
        params.update(patch=args.patch, stride=args.stride)
    elif args.method == "rise":
        params.update(masks=args.masks, cells=args.cells, keep=args.keep, seed=args.seed)
    if cam_method:
        params["layer"] = args.layer
        target = Target(unit=args.target)
    elif args.unit is not None:
        target = Target(layer=args.layer if args.layer is not None else -1, unit=args.unit,
                        position=_position(args.position))
    else:
        if args.layer is not None:
            raise StrataError(f"--layer for {args.method} needs --unit")
        target = Target(unit=args.target)
    if args.method != "eigen-cam":
        params["class_names"] = samples.label_names
    if args.batch_size is not None and args.method not in BATCHED_METHODS:
        raise StrataError(f"--batch-size is an option of {', '.join(BATCHED_METHODS)}, not of "
                          f"{args.method}")
    if args.batch_size is not None:
        params["rows"] = args.batch_size
    if args.method in BATCHED_METHODS and sys.stderr.isatty():
        params["progress"] = _progress
    result = explain(net, x, args.method, target, **params)
    if ext == ".npy":
        values = result.values if cam_method else result.per_sample()
        try:
            np.save(args.output, values)
        except OSError as exc:
            raise StrataError(f"{args.output}: cannot write ({exc.strerror or exc})") from None
        shape = values.shape
    else:
        from viewer.gui.attribution_render import render_attribution
        render_attribution(result, x, args.output, title=_title(net, samples, args, result),
                           cmap=args.cmap)
        shape = result.values.shape
    what = f" of {result.target}" if result.target else ""
    on = f" on layer {result.layer}" if result.layer else ""
    print(f"wrote {args.output}: {result.method} map{what}{on}, sample {args.sample}, shape {shape}")
    if "completeness_error" in result.report:
        print(completeness_line(result.report))
    return 0


def completeness_line(report: dict) -> str:
    """Integrated gradients' completeness error, in words."""
    change = report["f_x"] - report["f_baseline"]
    relative = report["relative_error"]
    share = "" if relative != relative else f" ({100 * relative:.2g}% of {change:.3g})"
    return (f"completeness: sum of attributions - (f(x) - f(baseline)) = "
            f"{report['completeness_error']:.2g}{share}")


def _baseline(text: str, samples: Any, blur: bool = False) -> Any:
    """A number, "mean": the mean net input over every sample (read in batches), or with
    ``blur`` "blur"."""
    import numpy as np

    if blur and text == "blur":
        return text
    if text == "mean":
        total = None
        for start in range(0, len(samples), 256):
            batch = samples.batch(np.arange(start, min(start + 256, len(samples))))
            part = batch.sum(axis=0, dtype=np.float64)
            total = part if total is None else total + part
        return (total / len(samples)).astype(np.float32)
    try:
        return float(text)
    except ValueError:
        allowed = "a number, 'mean' or 'blur'" if blur else "a number or 'mean'"
        raise StrataError(f"--baseline must be {allowed}, not {text!r}") from None


def _position(text: str | None) -> tuple | None:
    if not text:
        return None
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise StrataError(f"--position must be whole numbers separated by commas, not {text!r}") from None


def _progress(done: int, total: int) -> None:
    print(f"\rexplain: {done}/{total}", end="" if done < total else "\n", file=sys.stderr)


def _title(net: Any, samples: Any, args: argparse.Namespace, result: Any) -> str:
    label = ""
    if samples.labels is not None:
        value = int(samples.labels[args.sample])
        names = samples.label_names
        label = f" (label {names[value] if names and 0 <= value < len(names) else value})"
    what = f" · {result.target}" if result.target else ""
    on = f" on {result.layer}" if result.layer else ""
    score = "" if result.score != result.score else f" · score {result.score:.3g}"
    relative = result.report.get("relative_error")
    if relative is not None and relative == relative:
        score += f" · completeness error {100 * relative:.2g}%"
    return f"{net.name} · sample {args.sample}{label}\n{result.method}{on}{what}{score}"
