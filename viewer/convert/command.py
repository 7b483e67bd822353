"""The ``convert`` command: ``SRC -o OUT.h5 [--from FORMAT]``, without Qt.

Used by ``python -m viewer.convert`` and by ``python main.py convert``
(viewer.cli adds these arguments to its sub-command and calls :func:`run`).
"""

from __future__ import annotations

import argparse
import os
import sys

from viewer.convert.formats import FORMATS
from viewer.errors import StrataError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the convert command's arguments to ``parser``."""
    parser.add_argument("source", help="model file: Keras .h5/.keras, ONNX, or a Theano/Lasagne pickle")
    parser.add_argument("-o", "--output", required=True, help="the strata-net file to write (.h5)")
    parser.add_argument("--from", dest="source_format", choices=FORMATS,
                        help="source format (guessed from the file when absent)")
    parser.add_argument("--keras-backend", choices=("theano", "tensorflow"),
                        help="backend a Keras 1 model was trained with (inferred from the "
                             "file's weight names when absent)")
    parser.add_argument("--trust-pickle", action="store_true",
                        help="allow loading a pickle: a pickle is a program, it runs code of "
                             "the file's author when loaded. Only for files you made or trust.")


def run(args: argparse.Namespace) -> int:
    """Convert, write the net file, print its layer table. Returns the exit code."""
    from viewer.convert import convert
    from viewer.net import save
    from viewer.net.network import format_summary

    options = {}
    if args.keras_backend:
        options["keras_backend"] = args.keras_backend
    if args.trust_pickle:
        options["trust_pickle"] = True
    try:
        net = convert(args.source, source_format=args.source_format, **options)
        save(net, args.output)
    except StrataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_summary(net))
    print(f"wrote {os.fspath(args.output)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m viewer.convert``."""
    parser = argparse.ArgumentParser(prog="python -m viewer.convert",
                                     description="Convert a model to a strata-net file.")
    add_arguments(parser)
    return run(parser.parse_args(argv))
