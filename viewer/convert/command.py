"""The ``convert`` command: ``SRC -o OUT.h5 [--from FORMAT]``, without Qt.

Used by ``python -m viewer.convert`` and by ``python main.py convert``
(viewer.cli adds these arguments to its sub-command and calls :func:`run`).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

from viewer import limits
from viewer.convert.formats import FORMATS
from viewer.errors import StrataError

if TYPE_CHECKING:  # the window's start-up builds this parser: no numpy or h5py import here
    from viewer.net import Net


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the convert command's arguments to ``parser``."""
    parser.add_argument("source", help="model file: Keras .h5/.keras, ONNX, TFLite, torch.export .pt2, "
                             "or a Theano/Lasagne pickle")
    parser.add_argument("-o", "--output", required=True, help="the strata-net file to write (.h5)")
    parser.add_argument("--from", dest="source_format", choices=FORMATS,
                        help="source format (guessed from the file when absent)")
    parser.add_argument("--keras-backend", choices=("theano", "tensorflow"),
                        help="backend a Keras 1 model was trained with (inferred from the "
                             "file's weight names when absent)")
    parser.add_argument("--samples", metavar="FILE",
                        help="embed input samples from this file (HDF5, .npy, .npz, images) "
                             "in the net file, so it opens with something to show")
    parser.add_argument("--dataset", help="dataset path inside an HDF5 samples file")
    parser.add_argument("--labels", help="labels dataset path inside an HDF5 samples file")
    parser.add_argument("--max-samples", type=int, default=10000,
                        help="embed at most this many samples (default 10000)")
    parser.add_argument("--preprocess", metavar="JSON",
                        help='how raw samples become net input, e.g. \'{"scale": 0.00392}\' or '
                             '\'{"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}\': '
                             "input = (raw * scale - mean) / std, per channel; also "
                             '"channel_order": "BGR" and "resize": "crop", "refuse" or a filter '
                             "name; none for the values as they are")
    parser.add_argument("--architecture", metavar="JSON",
                        help="Keras: the model.to_json() file of a weights-only SOURCE "
                             "(model.save_weights, .weights.h5)")
    parser.add_argument("--input-shape", metavar="[NAME=]SIZES", action="append",
                        help="Theano: the per-sample shape of the graph's input, without the "
                             "batch, e.g. 1,8,8; for several inputs one NAME=1,8,8 each. "
                             "Taken from --samples when absent")
    parser.add_argument("--input", dest="inputs", metavar="NAME=VALUE", action="append",
                        help="ONNX: fix a side input (one without a batch axis, e.g. a sample "
                             "rate or a recurrent state) to a JSON value, e.g. sr=16000 or "
                             "state=[[0,0]]; the value is built into the net file")
    parser.add_argument("--trust-pickle", action="store_true",
                        help="allow loading a pickle: a pickle is a program, it runs code of "
                             "the file's author when loaded. Only for files you made or trust.")
    limits.add_argument(parser)


def run(args: argparse.Namespace) -> int:
    """Convert, write the net file, print its layer table. Returns the exit code."""
    from viewer.convert import convert
    from viewer.net import save
    from viewer.net.network import format_summary

    options = {}
    if args.keras_backend:
        options["keras_backend"] = args.keras_backend
    if args.architecture:
        options["architecture"] = args.architecture
    if args.trust_pickle:
        options["trust_pickle"] = True
    try:
        limits.apply(args.limit)
        _check_arguments(args)
        if getattr(args, "inputs", None):
            options["inputs"] = parse_inputs(args.inputs)
        input_shape = _input_shape(args)
        if input_shape is not None:
            options["input_shape"] = input_shape
        net = convert(args.source, source_format=args.source_format, **options)
        embedded = _samples_to_embed(net, args) if args.samples else None
        save(net, args.output, samples=embedded)
    except StrataError as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)  # one line, always
        return 2
    print(format_summary(net))
    if embedded is not None:
        print(f"embedded {len(embedded['X'])} samples from {args.samples}")
    print(f"wrote {os.fspath(args.output)}")
    return 0


def _check_arguments(args: argparse.Namespace) -> None:
    """Refuse option combinations that would silently do something else than asked."""
    if os.path.exists(args.output) and os.path.exists(args.source) \
            and os.path.samefile(args.source, args.output):
        raise StrataError(f"{args.output}: is the model being converted; choose another output")
    if not args.samples:
        given = [flag for flag, value in (("--dataset", args.dataset), ("--labels", args.labels),
                                          ("--preprocess", args.preprocess)) if value]
        if given:
            raise StrataError(f"{', '.join(given)} only apply with --samples FILE")


def parse_inputs(values: list[str]) -> dict:
    """``--input NAME=VALUE`` values (VALUE is JSON: a number or nested lists) as a dict."""
    import json
    out: dict = {}
    for value in values:
        name, sep, text = value.partition("=")
        if not sep or not name:
            raise StrataError(f"--input {value!r}: write NAME=VALUE, e.g. sr=16000")
        try:
            out[name] = json.loads(text)
        except ValueError:
            raise StrataError(f"--input {value!r}: the value is not JSON (a number or nested "
                              "lists of numbers)") from None
        if isinstance(out[name], (dict, str)) or out[name] is None:
            raise StrataError(f"--input {value!r}: the value must be a number or nested lists")
    return out


def parse_input_shape(values: list[str]) -> tuple | list | dict:
    """``--input-shape`` values as the converter's ``input_shape``.

    ``["1,8,8"]`` -> ``(1, 8, 8)``; ``["a=1,8,8", "b=3"]`` -> ``{"a": (1, 8, 8),
    "b": (3,)}``; several unnamed values -> a list, in the graph's input order.
    An empty size list (``x=``) is a per-sample scalar.
    """
    named: dict = {}
    unnamed: list = []
    for value in values:
        name, sep, sizes = value.rpartition("=")
        try:
            shape = tuple(int(s) for s in sizes.replace("x", ",").split(",") if s.strip())
        except ValueError:
            raise StrataError(f"--input-shape {value!r}: sizes must be whole numbers separated "
                              "by commas, e.g. 1,8,8 or NAME=1,8,8") from None
        if any(s < 1 for s in shape):
            raise StrataError(f"--input-shape {value!r}: sizes must be at least 1")
        if sep and not name:
            raise StrataError(f"--input-shape {value!r}: no input name before '='")
        if sep:
            if name in named:
                raise StrataError(f"--input-shape gives input {name!r} twice")
            named[name] = shape
        else:
            unnamed.append(shape)
    if named and unnamed:
        raise StrataError("--input-shape: name every input (NAME=SIZES) or none")
    if named:
        return named
    return unnamed[0] if len(unnamed) == 1 else unnamed


def _input_shape(args: argparse.Namespace) -> tuple | list | dict | None:
    """The ``input_shape`` option: ``--input-shape``, else the samples' shape for a Theano graph
    (images, which are stored channels last, as Theano's channels first)."""
    if args.input_shape:
        return parse_input_shape(args.input_shape)
    if not args.samples:
        return None
    from viewer.convert.formats import guess_format
    fmt = args.source_format or guess_format(args.source)
    if fmt != "theano":
        return None
    from viewer.data import open_samples
    samples = open_samples(args.samples, dataset=args.dataset, labels=args.labels)
    shape = tuple(samples.input_shape)
    if samples.is_images:  # height x width [x channels] -> Theano's channels first
        return (shape[2], shape[0], shape[1]) if len(shape) == 3 else (1,) + shape
    return shape


def _samples_to_embed(net: "Net", args: argparse.Namespace) -> dict:
    """The first ``--max-samples`` raw samples of ``--samples``, checked against the net's input."""
    import numpy as np

    from viewer.data import check_fits, open_samples

    from viewer.data.preprocess import preprocess_option

    preprocess = preprocess_option(args.preprocess) if args.preprocess else None
    if args.max_samples < 1:
        raise StrataError(f"--max-samples must be at least 1, not {args.max_samples}")
    samples = open_samples(args.samples, dataset=args.dataset, labels=args.labels,
                           input_shape=net.input.output_shape,
                           data_format=getattr(net.input, "data_format", None),
                           preprocess=preprocess)
    samples = check_fits(samples, net.input.output_shape)
    rows = np.arange(min(len(samples), args.max_samples))
    net[-1](samples.batch(rows[:2]))  # fail now, not in the window, if the net cannot run them
    return {"X": samples.raw_batch(rows).reshape((len(rows),) + samples.input_shape),
            "labels": None if samples.labels is None else samples.labels[rows],
            "label_names": samples.label_names, "layout": samples.layout,
            "preprocess": samples.preprocess.to_dict()}


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m viewer.convert``."""
    parser = argparse.ArgumentParser(prog="python -m viewer.convert",
                                     description="Convert a model to a strata-net file.")
    add_arguments(parser)
    return run(parser.parse_args(argv))
