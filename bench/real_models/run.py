"""Convert every real model as shipped and compare it with its stored reference.

    python bench/real_models/run.py [NAME ...] [--no-fetch] [--markdown] [--trust-pickle]

For each model of the recipe: fetch it (unless ``--no-fetch``; missing ones
are then skipped), convert it with Strata exactly as a user would
(``convert(path)``; weights-only Keras files with their ``--architecture``
file), run the net on the stored inputs and compare every output with what
the source runtime computed. Prints one row per model: whether it converts,
the largest error relative to the largest reference value (float models
pass at 1e-4; quantized and integer outputs must agree exactly), or the
converter's one-line refusal.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from dataclasses import dataclass

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
for path in (ROOT, os.path.dirname(HERE)):
    if path not in sys.path:
        sys.path.insert(0, path)

from real_models.fetch import fetch_one, model_path  # noqa: E402
from real_models.recipe import MODELS, RealModel, by_name  # noqa: E402
from viewer.errors import StrataError  # noqa: E402

REFERENCES = os.path.join(HERE, "references")
TOLERANCE = 1e-4


@dataclass
class Outcome:
    """What happened to one model."""

    model: RealModel
    status: str          # "match", "wrong", "refused", "fails", "crash", "missing"
    error: float | None = None
    detail: str = ""
    seconds: float = 0.0


def convert_model(model: RealModel, path: str, trust_pickle: bool = False):
    """(net, ONNX layout or None): ``model`` converted as a user would convert it.

    ONNX models go through ``convert_onnx_layout``, the same conversion as
    ``convert(path)`` plus where each graph input and output sits in the net;
    side inputs the recipe fixes to one value (a sample rate) are given at
    conversion, as ``--input NAME=VALUE`` gives them.
    """
    if model.framework == "onnx":
        from viewer.convert.onnx_model import convert_onnx_layout
        fixed = {f.name: f.value for f in model.feeds if f.fill == "value"}  # as --input sr=16000
        return convert_onnx_layout(path, fixed or None)
    from viewer.convert import convert
    options = {}
    if model.framework == "pickle" and trust_pickle:
        options["trust_pickle"] = True
    if model.architecture:
        options["architecture"] = os.path.join(REFERENCES, model.architecture)
    return convert(path, **options), None


def load_reference(model: RealModel) -> dict:
    with np.load(os.path.join(REFERENCES, f"{model.name}.npz"), allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def output_layers(net) -> list:
    """The layers no other layer reads: the net's outputs, in net order."""
    read = {id(p) for layer in net for p in layer.inputs}
    return [layer for layer in net if id(layer) not in read and layer.inputs]


def run_onnx(model: RealModel, net, layout, ref: dict) -> list[np.ndarray]:
    """The net's value of each ONNX output, in the model's own layout.

    Where an input or output has no batch axis in the net (a net run one
    sample at a time holds each ONNX tensor whole as one sample), the stored
    batch is fed one sample at a time (slices along each input's batch axis)
    and the outputs are joined along theirs.
    """
    from viewer.net.layers.base import evaluate

    names = [str(n) for n in ref["output_names"]]
    arrays = {str(n): ref[f"input_{i}"] for i, n in enumerate(ref["input_names"])}
    feeds = {f.name: f for f in model.feeds}
    whole = any(layout.inputs[name][1] is None and feeds[name].batch_axis is not None
                for name in layout.inputs if name in feeds) or \
        any(layout.outputs[name][1] is None for name in names)
    count = max((arrays[f.name].shape[f.batch_axis] for f in model.feeds if f.batch_axis is not None),
                default=1) if whole else 1
    layers = {layer.name: layer for layer in net}
    parts: list[list[np.ndarray]] = [[] for _ in names]
    for k in range(count):
        sample = {}
        for name, value in arrays.items():
            axis = feeds[name].batch_axis if whole else None
            sample[name] = value if axis is None else np.take(value, [k], axis=axis)
        values = evaluate(list(net), layout.feed({n: sample[n] for n in layout.inputs if n in sample}))
        for i, name in enumerate(names):
            parts[i].append(layout.fetch(name, values[layers[layout.outputs[name][0]]]))
    axes = [int(a) for a in ref["batch_axes"]]
    return [p[0] if count == 1 else np.concatenate(p, axis=axes[i]) for i, p in enumerate(parts)]


def run_batch_first(net, ref: dict) -> list[np.ndarray]:
    """A Keras net's outputs (batch first, like Keras'), matched to the stored ones by shape."""
    from viewer.net.layers.base import evaluate

    feeds = {str(n): ref[f"input_{i}"] for i, n in enumerate(ref["input_names"])}
    names = [layer.name for layer in net.inputs]
    X = {name: feeds[name] for name in names} if set(names) <= set(feeds) else \
        dict(zip(names, feeds.values()))  # a Keras architecture names its inputs its own way
    values = evaluate(list(net), X)
    unused = output_layers(net)
    by_name = {layer.name: layer for layer in net}  # a TFLite output is the layer named after its tensor
    outs = []
    for i in range(len(ref["output_names"])):
        shape = tuple(int(s) for s in ref[f"shape_{i}"])
        named = by_name.get(str(ref["output_names"][i]))
        match = named if named is not None and values[named].shape == shape else \
            next((l for l in unused if values[l].shape == shape), None)
        if match is None:
            raise LookupError(f"no net output of shape {shape} "
                              f"(net: {[values[l].shape for l in unused]})")
        if match in unused:
            unused.remove(match)
        outs.append(values[match])
    return outs


def compare(model: RealModel, net, layout, ref: dict) -> float:
    """The largest error over the outputs, relative to each output's largest reference value.

    Integer outputs and quantized models count any difference as an error of
    at least its size (they must agree exactly).
    """
    outs = run_onnx(model, net, layout, ref) if layout is not None else run_batch_first(net, ref)
    worst = 0.0
    for i, got in enumerate(outs):
        shape = tuple(int(s) for s in ref[f"shape_{i}"])
        if got.shape != shape:
            raise LookupError(f"output {ref['output_names'][i]}: shape {got.shape}, "
                              f"the runtime's {shape}")
        stride = int(ref[f"stride_{i}"])
        got = got.reshape(-1)[::stride] if stride > 1 else got
        want = ref[f"output_{i}"]
        if not want.size:
            continue
        diff = float(np.max(np.abs(got.astype(np.float64) - want)))
        if model.quantized or want.dtype.kind in "iub":
            worst = max(worst, diff)
            continue
        scale = float(np.max(np.abs(want)))
        worst = max(worst, diff / scale if scale > 0 else diff)
    return worst


def check(model: RealModel, fetch: bool, trust_pickle: bool = False) -> Outcome:
    """Fetch (or find) ``model`` in the cache and check it."""
    path = model_path(model)
    if fetch:
        path = fetch_one(model)
    elif not os.path.isfile(path):
        return Outcome(model, "missing", detail="not fetched (run fetch.py)")
    return check_file(model, path, trust_pickle)


def check_file(model: RealModel, path: str, trust_pickle: bool = False) -> Outcome:
    """Convert the model file at ``path`` and compare it with ``model``'s reference."""
    start = time.perf_counter()
    try:
        net, layout = convert_model(model, path, trust_pickle)
    except StrataError as exc:
        return Outcome(model, "refused", detail=_one_line(str(exc)), seconds=time.perf_counter() - start)
    except Exception as exc:  # a converter bug: report it, go on with the next model
        return Outcome(model, "crash", detail=_crash(exc), seconds=time.perf_counter() - start)
    if not model.graph:
        return Outcome(model, "converts", detail="no reference: the file was expected to be refused")
    try:
        error = compare(model, net, layout, load_reference(model))
    except StrataError as exc:
        return Outcome(model, "fails", detail=_one_line(str(exc)), seconds=time.perf_counter() - start)
    except LookupError as exc:
        return Outcome(model, "wrong", detail=_one_line(str(exc)), seconds=time.perf_counter() - start)
    except Exception as exc:
        return Outcome(model, "crash", detail=_crash(exc), seconds=time.perf_counter() - start)
    seconds = time.perf_counter() - start
    limit = 0.0 if model.quantized else TOLERANCE
    return Outcome(model, "match" if error <= limit else "wrong", error, seconds=seconds)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _crash(exc: Exception) -> str:
    where = traceback.extract_tb(exc.__traceback__)[-1]
    return f"{type(exc).__name__}: {_one_line(str(exc))} ({os.path.relpath(where.filename, ROOT)}:{where.lineno})"


def summarise(detail: str, path: str) -> str:
    """A refusal shortened for the table: without the file's path, repeats counted.

    ``cannot convert 28 nodes: HardSwish 'a' (not supported); HardSwish 'b' (not
    supported)`` becomes ``cannot convert 28 nodes: HardSwish x28 (not supported)``.
    """
    detail = detail.replace(path + ": ", "").replace(path, os.path.basename(path))
    head, sep, rest = detail.partition(": ")
    if not (sep and head.startswith("cannot convert")):
        return detail
    counts: dict[tuple[str, str], list[str]] = {}
    for part in rest.split("; "):
        op, _, tail = part.partition(" ")
        reason = tail[tail.find("("):] if "(" in tail else tail
        counts.setdefault((op, reason), []).append(part)
    parts = [f"{op} x{len(seen)} {reason}" if len(seen) > 1 else seen[0]
             for (op, reason), seen in counts.items()]
    return f"{head}: " + "; ".join(parts)


def _error(o: Outcome) -> str:
    if o.error is None:
        return "-"
    return "0 (exact)" if o.error == 0 else f"{o.error:.1e}"


def table(outcomes: list[Outcome], markdown: bool) -> str:
    rows = [(o.model.name, f"{o.model.package} {o.model.version}", o.status, _error(o),
             summarise(o.detail, model_path(o.model))) for o in outcomes]
    if markdown:
        lines = ["| model | package | status | max rel error | refusal / note |",
                 "| --- | --- | --- | --- | --- |"]
        lines += ["| " + " | ".join(r[:4]) + " | " + r[4].replace("|", "\\|") + " |" for r in rows]
        return "\n".join(lines)
    widths = [max(len(r[i]) for r in rows + [("model", "package", "status", "max rel err", "")])
              for i in range(4)]
    head = ("model", "package", "status", "max rel err")
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths)) + "  refusal / note"]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r[:4], widths)) + "  " + r[4] for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="models to check (default: all)")
    parser.add_argument("--no-fetch", action="store_true", help="only the models already fetched")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument("--trust-pickle", action="store_true",
                        help="load the pickles (in a Theano environment): they then show what the "
                             "Theano converter says of them")
    args = parser.parse_args(argv)
    chosen = [by_name(n) for n in args.names] if args.names else list(MODELS)
    outcomes = []
    for model in chosen:
        outcomes.append(check(model, fetch=not args.no_fetch, trust_pickle=args.trust_pickle))
        print(f"  {model.name}: {outcomes[-1].status} ({outcomes[-1].seconds:.1f} s)", file=sys.stderr)
    print(table(outcomes, args.markdown))
    graphs = [o for o in outcomes if o.model.graph]
    others = [o for o in outcomes if not o.model.graph]
    good = sum(o.status == "match" for o in graphs)
    clear = sum(o.status == "refused" for o in others)
    print(f"\n{good} of {len(graphs)} model files with a graph convert and match their source runtime; "
          f"{clear} of {len(others)} without one are refused in one line")
    return 0


if __name__ == "__main__":
    sys.exit(main())
