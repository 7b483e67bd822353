"""The command line: the window by default, and info, render, export and convert.

    python main.py [NET] [--samples FILE]           open the window (the demo without NET)
    python main.py info NET                         the layer table and totals
    python main.py render NET --layer L --sample I -o OUT.png
    python main.py export NET --layer L (--sample I | --all) -o OUT.npy
    python main.py convert SRC -o OUT.h5 [--from FORMAT]
    python main.py sweep NET --layer L [--layer L2 | --all-layers] [--samples FILE] [--k K]
                         [--cluster local:N|tcp://HOST:PORT] -o OUTDIR
    python main.py explain NET --sample I --method METHOD [--target CLASS] -o OUT.npy|OUT.png
    python main.py featurevis NET --layer L [--channel C | --dream] [--steps N --seed S]
                              -o OUT.png|OUT.npy

Problems with arguments or files print one line on stderr and exit with 2.
Heavy modules (Qt, matplotlib, h5py) are imported only by the command that needs them.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from typing import NoReturn, Sequence

from viewer import __version__, limits
from viewer.errors import StrataError

EXIT_BAD_INPUT = 2
#: A reader that closed the pipe (``main.py info NET | head``), as the shell reports SIGPIPE.
EXIT_BROKEN_PIPE = 128 + 13
COMMANDS = ("info", "render", "export", "convert", "sweep", "explain", "featurevis")


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see --help)\n")


NET_HELP = ("a strata-net file (.h5), or a Keras (.h5, .keras), ONNX (.onnx), TFLite (.tflite) or "
            "torch.export (.pt2) model, converted in memory")


def _samples_args(p: argparse.ArgumentParser, class_names: bool = True) -> None:
    """NET and the options saying which samples, preprocessed how, with which class names."""
    p.add_argument("net", help=NET_HELP)
    p.add_argument("--samples", "-s", metavar="FILE",
                   help="samples file (HDF5, .npy, .npz, image or folder of images); "
                        "default: the samples embedded in the net file")
    p.add_argument("--dataset", help="dataset path inside an HDF5 samples file")
    p.add_argument("--preprocess", metavar="JSON",
                   help='how sample values become net input, as for convert: e.g. '
                        '\'{"scale": 0.00392}\', \'{"mean": [...], "std": [...], '
                        '"channel_order": "BGR", "resize": "crop"}\', or none for the values as '
                        "they are; default: the stored one for the net's own samples, a proposal "
                        "(said on stderr) for another file")
    if class_names:
        p.add_argument("--labels", metavar="FILE",
                       help="class names for a classifier's outputs: a text file, one per line")


def _layer_args(p: argparse.ArgumentParser, sample_required: bool, class_names: bool = True) -> None:
    _samples_args(p, class_names)
    p.add_argument("--layer", "-l", required=True,
                   help="layer index (negative counts from the end) or name")
    if sample_required:
        p.add_argument("--sample", "-i", type=int, default=0, help="sample index (default 0)")


def build_parsers() -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    """The window's parser and the sub-commands' parser."""
    return build_window_parser(), build_command_parser()


def build_window_parser() -> argparse.ArgumentParser:
    """The parser of ``main.py [NET] [--samples FILE]``: no command module is imported."""
    window = _Parser(prog="main.py", description="Strata: look inside trained neural nets. "
                     f"Commands: {', '.join(COMMANDS)} (main.py COMMAND --help).")
    window.add_argument("net", nargs="?", help="net file to open (default: the bundled demo CNN)")
    window.add_argument("--samples", "-s", metavar="FILE", help="samples to show with it")
    window.add_argument("--install-desktop", action="store_true",
                        help="add Strata to the desktop's application menu (this user)")
    window.add_argument("--uninstall-desktop", action="store_true",
                        help="remove it from the application menu again")
    window.add_argument("--version", action="version", version=f"Strata {__version__}")
    limits.add_argument(window)
    return window


def build_command_parser() -> argparse.ArgumentParser:
    """The sub-commands' parser (imports the command modules that define their options)."""
    commands = _Parser(prog="main.py")
    sub = commands.add_subparsers(dest="command", required=True, parser_class=_Parser)
    info = sub.add_parser("info", help="print the layer table and totals, the samples, their "
                          "preprocessing and value ranges, and what the output means")
    _samples_args(info)

    render = sub.add_parser("render", help="draw a layer's activation to PNG/SVG/PDF")
    _layer_args(render, sample_required=True)
    render.add_argument("--kind", choices=("auto", "heatmap", "histogram", "bars"), default="auto",
                        help="auto (default): bars for vectors of at most 64 values "
                             "(a classifier's output: labelled by class), else a heatmap; "
                             "bars of any layer: one per unit or channel (its mean)")
    render.add_argument("--cmap", default="auto",
                        help="colour map (default auto: diverging around zero for mixed signs)")
    render.add_argument("--scale", choices=("shared", "channel"), default="shared",
                        help="one colour scale, or one per channel")
    render.add_argument("--bins", type=int, default=64, help="histogram bins")
    render.add_argument("--log", action="store_true", help="histogram with log counts")
    render.add_argument("-o", "--output", required=True, help="picture file (.png, .svg, .pdf)")

    export = sub.add_parser("export", help="write a layer's activations to .npy or .csv")
    _layer_args(export, sample_required=False, class_names=False)
    which = export.add_mutually_exclusive_group(required=True)
    which.add_argument("--sample", "-i", type=int, help="one sample's activation (no batch axis)")
    which.add_argument("--all", action="store_true", help="every sample: (N, ...)")
    export.add_argument("--batch-size", type=int, default=256, help="samples per forward pass")
    export.add_argument("-o", "--output", required=True, help=".npy or .csv file")

    convert = sub.add_parser("convert", help="convert a Keras, ONNX, TFLite, .pt2 or Theano/Lasagne model")
    from viewer.convert.command import add_arguments
    add_arguments(convert)

    sweep = sub.add_parser("sweep", help="per-unit statistics, top-k samples, PCA and class "
                           "means of a layer over all samples, as CSV files")
    _samples_args(sweep)  # its --layer may repeat: the sweep command's own options
    from viewer.sweep_command import add_arguments as add_sweep_arguments
    add_sweep_arguments(sweep)

    explain = sub.add_parser("explain", help="an attribution map (occlusion, RISE, CAMs, "
                             "gradients, integrated gradients) for one sample, as .npy or a picture")
    _samples_args(explain)
    from viewer.explain_command import add_arguments as add_explain_arguments
    add_explain_arguments(explain)
    featurevis = sub.add_parser("featurevis", help="the input a channel, unit or class responds "
                                "to most (feature visualisation), a gallery of a layer's "
                                "channels, or DeepDream on a sample, as .png or .npy")
    _samples_args(featurevis)
    from viewer.featurevis_command import add_arguments as add_featurevis_arguments
    add_featurevis_arguments(featurevis)
    for parser in (info, render, export, sweep, explain, featurevis):  # convert's come with its arguments
        limits.add_argument(parser)
    return commands


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    # numpy's floating-point warnings (NaN weights of a damaged file) would add lines
    # to the one-line output; NaN and inf results show as such.
    warnings.simplefilter("ignore", RuntimeWarning)
    try:
        if argv and argv[0] in COMMANDS:
            args = build_command_parser().parse_args(argv)
            limits.apply(args.limit)
            return _run_command(args)
        args = build_window_parser().parse_args(argv)
        limits.apply(args.limit)
        return _run_window(args)
    except StrataError as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)  # one line, always
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # What is left to print goes nowhere, so that flushing at exit cannot fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE


def _run_window(args: argparse.Namespace) -> int:
    if args.install_desktop or args.uninstall_desktop:
        from viewer import desktop_entry
        done = desktop_entry.install() if args.install_desktop else desktop_entry.uninstall()
        for line in done:
            print(line)
        return 0
    for path in (args.net, args.samples):
        if path is not None and not os.path.exists(path):
            raise StrataError(f"{path}: no such file or folder")
    from viewer.gui.app import run
    return run(args.net, args.samples)


def _run_command(args: argparse.Namespace) -> int:
    if args.command == "convert":
        from viewer.convert.command import run
        return run(args)
    from viewer.session import open_net
    net, own = open_net(args.net)
    if args.dataset and not args.samples:
        raise StrataError("--dataset needs --samples FILE (the embedded samples have no datasets)")
    if args.command == "info" and own is None and not args.samples and not args.preprocess:
        names = _class_names(args, net, None)
        print(_info(net, None, None, names))
        return 0
    if own is None and not args.samples:
        if args.command != "featurevis" or args.dream:   # feature vis grows from noise
            raise StrataError(f"{args.net}: has no embedded samples; give a samples file with "
                              f"--samples")
        samples, choice = None, None
    else:
        samples, choice = _samples(args, net, own)
    if args.command == "info":
        print(_info(net, samples, choice, samples.label_names))
        return 0
    if args.command == "explain":
        from viewer.explain_command import run as run_explain
        return run_explain(args, net, samples)
    if args.command == "featurevis":
        from viewer.featurevis_command import run as run_featurevis
        return run_featurevis(args, net, samples)
    if args.command == "sweep":
        from viewer.sweep_command import run
        return run(args, net, samples)
    try:
        layer = net.resolve(args.layer)
    except StrataError as exc:
        names = ", ".join(layer.name for layer in net)
        raise StrataError(f"{args.net}: {exc} (layers: {names})") from None
    if args.command == "render":
        return _render(args, net, samples, layer)
    return _export(args, net, samples, layer)


def _samples(args: argparse.Namespace, net, own):
    """The samples with their preprocessing and class names; the choice said on stderr."""
    from viewer.data.preprocess import preprocess_option
    from viewer.session import choose_samples

    given = preprocess_option(args.preprocess) if args.preprocess else None
    samples, choice = choose_samples(net, own, args.samples, dataset=args.dataset,
                                     preprocess=given)
    if choice.how == "proposed" and args.command != "info":  # info prints it on stdout
        print(choice.reason, file=sys.stderr)
    for warning in choice.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    names = _class_names(args, net, samples)
    return (samples if names is None else samples.with_label_names(names)), choice


def _class_names(args: argparse.Namespace, net, samples) -> list[str] | None:
    """The ``--labels`` file's class names, checked against the net's output; None without one."""
    if not getattr(args, "labels", None):
        return None
    from viewer.analysis.classifier import classifier_of
    from viewer.data.class_names import read_class_names
    names = read_class_names(args.labels)
    found = classifier_of(net, labels=None if samples is None else samples.labels)
    if found is None:
        raise StrataError(f"{args.labels}: class names, but the net's output "
                          f"{net[-1].output_shape} is not one value per class")
    if len(names) != found.n_classes:
        raise StrataError(f"{args.labels}: {len(names)} class names, but the net's output has "
                          f"{found.n_classes} values")
    return names


def _info(net, samples, choice, names: list[str] | None) -> str:
    from viewer.analysis.classifier import classifier_of
    from viewer.net.network import format_summary
    lines = [format_summary(net)]
    if samples is None:
        lines.append("samples: none embedded")
    else:
        where = "embedded" if samples.path == net.path else f"from {samples.source}"
        labels = "" if samples.labels is None else \
            f", labelled ({len(set(samples.labels.tolist()))} classes)"
        lines += [f"samples: {len(samples)} {where}, each {tuple(samples.sample_shape)} "
                  f"({samples.layout}){labels}",
                  f"preprocessing: {choice.description} ({choice.why})",
                  choice.ranges]
    found = classifier_of(net, labels=None if samples is None else samples.labels, names=names)
    if found is None:
        lines.append(f"output: {net[-1].output_shape}, not a classifier's (one value per class)")
    else:
        shown = ", ".join(found.names[:12]) + (", ..." if found.n_classes > 12 else "")
        lines.append(f"output: a classifier, {found.describe()}; classes {shown}")
    return "\n".join(lines)


def _render(args: argparse.Namespace, net, samples, layer: int) -> int:
    from viewer.analysis.classifier import classifier_of
    from viewer.app.bars import auto_bars, bars_of
    from viewer.gui.render import render
    from viewer.analysis.reading import picture_layout
    from viewer.session import activation
    act = activation(net, samples, layer, args.sample)
    label = ""
    found = classifier_of(net, labels=samples.labels, names=samples.label_names)
    if samples.labels is not None:
        names = samples.label_names
        value = int(samples.labels[args.sample])
        label = f" (label {names[value] if names and 0 <= value < len(names) else value})"
    if found is not None:
        predicted = found.predict(activation(net, samples, -1, args.sample))
        if predicted is not None:
            label += f" · predicted {found.name(predicted[0])} ({predicted[1]:.0%})"
    title = f"{net.name} · layer {layer} {net[layer].name} ({net[layer].kind}) · sample {args.sample}{label}"
    kind = args.kind
    if kind == "auto":
        kind = "bars" if auto_bars(act.shape) else "heatmap"
    bars = bars_of(net, layer, act, samples, args.sample) if kind == "bars" else None
    render(act, args.output, title=title, layout=picture_layout(net, layer, act.ndim),
           kind=kind, cmap=args.cmap, scale=args.scale, bins=args.bins, log=args.log, bars=bars)
    print(f"wrote {args.output}")
    return 0


def _export(args: argparse.Namespace, net, samples, layer: int) -> int:
    from viewer.export import export_all, save_activation
    from viewer.session import activation
    if args.all:
        shape = export_all(net, samples, layer, args.output, batch_size=args.batch_size)
    else:
        act = activation(net, samples, layer, args.sample)
        save_activation(act, args.output)
        shape = act.shape
    print(f"wrote {args.output}: activations of layer {layer} {net[layer].name}, shape {shape}")
    return 0
