"""``python main.py featurevis``: the input a channel, unit or class responds to most, or a dream.

    python main.py featurevis NET --layer L --channel C [-o OUT.png|OUT.npy] [--steps N --seed S]
    python main.py featurevis NET --layer L -o OUT.png          every channel of L (a gallery)
    python main.py featurevis NET --class K -o OUT.png          a class of the last layer
    python main.py featurevis NET --layer L --dream --sample I [--octaves N] -o OUT.png

``.npy``: the net input (after preprocessing) in its per-sample shape, or
(K, ...) for a gallery. ``.png``: the picture, each channel scaled from the
input range the samples' preprocessing implies to 0..255, enlarged by repeating
pixels until the longer side is at least 224; a gallery is a mosaic in channel order. The
definitions are in :mod:`viewer.analysis.featurevis`.
"""

from __future__ import annotations

import argparse
import os
import struct
import sys
import zlib
from typing import Any

from viewer.errors import StrataError

#: Parameterisations (as viewer.analysis.featurevis.PARAMETERISATIONS; here so that building the
#: parser does not import numpy).
PARAM_NAMES = ("fourier", "pixel")
#: A written picture is enlarged (by whole pixels) to at least this size.
PICTURE_SIZE = 224


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The featurevis options besides NET and the samples options."""
    p.add_argument("--layer", "-l", help="the layer to visualise (default: the last)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--channel", "-c", type=int,
                       help="the channel (its mean over positions) or unit of --layer; "
                            "without it, every channel of --layer (a gallery)")
    which.add_argument("--class", dest="klass", type=int, metavar="K",
                       help="a class of the last layer (its logit when that is a softmax)")
    which.add_argument("--dream", action="store_true",
                       help="DeepDream: amplify --layer's activations in --sample")
    p.add_argument("--sample", "-i", type=int, default=0, help="--dream: the sample (default 0)")
    p.add_argument("--octaves", type=int, default=3, help="--dream: octaves (default 3)")
    p.add_argument("--steps", type=int, help="ascent steps (default 256; --dream: 32 per octave)")
    p.add_argument("--seed", type=int, default=0, help="noise and transform seed (default 0)")
    p.add_argument("--lr", type=float, help="Adam's first step size, falling along a cosine to 0 "
                   "(default 1.0 for fourier, 0.05 for pixel; --dream: 0.05, constant)")
    p.add_argument("--param", choices=PARAM_NAMES, default="fourier",
                   help="fourier (default): a frequency-scaled spectrum; pixel: blurred pixels")
    p.add_argument("--jitter", type=int, default=2, help="largest random roll, pixels (default 2)")
    p.add_argument("--scale", type=float, default=0.05, help="random zoom within 1 +- this "
                   "(default 0.05)")
    p.add_argument("--rotate", type=float, default=5.0, help="largest random rotation, degrees "
                   "(default 5)")
    p.add_argument("--blur", type=float, default=0.5, help="pixel: blur sigma every 4 steps "
                   "(default 0.5)")
    p.add_argument("--decay", type=float, default=0.0, help="L2 decay per step (default 0)")
    p.add_argument("--no-decorrelate", dest="decorrelate", action="store_false",
                   help="fourier: ascend each colour channel on its own, rather than along the "
                        "samples' colour axes")
    p.add_argument("-o", "--output", required=True, help=".png or .npy file")


def run(args: argparse.Namespace, net: Any, samples: Any) -> int:
    """Run the ascent and write the result (``samples`` None: a net without samples, not
    for --dream); returns the exit code."""
    import numpy as np

    from viewer.analysis.attribution.target import Target
    from viewer.analysis.featurevis import (Settings, at_sample_size, gallery, input_range,
                                            input_statistics, mosaic, pictures, visualise)
    from viewer.analysis.featurevis_dream import DREAM, dream

    ext = os.path.splitext(args.output)[1].lower()
    if ext not in (".npy", ".png"):
        raise StrataError(f"{args.output}: cannot write {ext or 'a file without extension'}; "
                          f"use .png or .npy")
    folder = os.path.dirname(os.path.abspath(args.output))
    if not os.path.isdir(folder):
        raise StrataError(f"{args.output}: the folder {folder} does not exist")
    if args.klass is not None and args.layer is not None:
        raise StrataError("--class is a class of the last layer; leave out --layer")
    if args.layer is None and args.klass is None:
        raise StrataError("say what to visualise: --layer L [--channel C | --dream] or --class K")
    base = DREAM if args.dream else Settings()
    settings = Settings(steps=base.steps if args.steps is None else args.steps,
                        lr=base.lr if args.lr is None else args.lr,
                        parameterisation="pixel" if args.dream else args.param,
                        jitter=args.jitter, scale=args.scale, rotate=args.rotate,
                        blur=0.0 if args.dream else args.blur, decay=args.decay,
                        decorrelate=args.decorrelate, anneal=base.anneal,
                        seed=args.seed).checked()
    net = at_sample_size(net, samples)   # a net of any input size grows at the samples'
    if samples is None:     # a net without samples: from noise over 0..1, said once
        print(f"note: {args.net} has no samples of its own and none were given: the image "
              f"grows in 0..1 from mid-grey; give --samples for your data's range and mean",
              file=sys.stderr)
        low, high, centre, colours = 0.0, 1.0, None, None
    else:
        low, high = input_range(net, samples)
        centre, colours = input_statistics(net, samples, low, high)
        colours = colours if settings.decorrelate else None
    progress = _progress if sys.stderr.isatty() else None
    if args.dream:
        if not 0 <= args.sample < len(samples):
            raise StrataError(f"sample {args.sample} is out of range: there are {len(samples)} "
                              f"samples")
        result = dream(net, samples.batch([args.sample])[0], args.layer, settings,
                       octaves=args.octaves, low=low, high=high,
                       callback=progress and (lambda step, images, scores, checks:
                                              progress(step, settings.steps * args.octaves)))
    elif args.channel is None and args.klass is None:
        result = gallery(net, args.layer, None, settings, low=low, high=high, centre=centre,
                         colours=colours,
                         progress=progress and (lambda done, total, images: progress(done, total)))
    else:
        target = Target(unit=args.klass) if args.klass is not None else \
            Target(layer=args.layer, unit=args.channel)
        result = visualise(net, target, settings, low=low, high=high, centre=centre,
                           colours=colours,
                           class_names=None if samples is None else samples.label_names,
                           callback=progress and (lambda step, images, scores, checks:
                                                  progress(step, settings.steps)))
    single = len(result.images) == 1 and (args.dream or args.channel is not None
                                          or args.klass is not None)
    if ext == ".npy":
        values = result.images[0] if single else result.images
        try:
            np.save(args.output, values)
        except OSError as exc:
            raise StrataError(f"{args.output}: cannot write ({exc.strerror or exc})") from None
    else:
        picture = mosaic(pictures(net, result.images, low, high))
        write_png(args.output, _enlarged(picture, PICTURE_SIZE))
    what = result.labels[0] if single else \
        f"{len(result.images)} channels of {net[net.resolve(args.layer)].name}"
    print(f"wrote {args.output}: {what}, {result.steps} steps, activation "
          f"{_span(result.start)} -> {_span(result.final)}")
    return 0


def _span(values: Any) -> str:
    """One value, or the median of many."""
    import numpy as np
    return f"{float(values[0]):.4g}" if len(values) == 1 else \
        f"{float(np.median(values)):.4g} (median)"


def _progress(done: int, total: int) -> None:
    print(f"\rfeaturevis: {done}/{total}", end="" if done < total else "\n", file=sys.stderr)


def _enlarged(picture: Any, size: int) -> Any:
    """Repeat each pixel so that the longer side is at least ``size`` pixels."""
    import numpy as np
    k = max(1, -(-size // max(picture.shape[:2])))
    return np.repeat(np.repeat(picture, k, axis=0), k, axis=1)


def write_png(path: str, picture: Any) -> None:
    """Write a picture in [0, 1], (H, W) grey or (H, W, 3) colour, as an 8-bit PNG."""
    import numpy as np
    pixels = np.round(np.clip(picture, 0, 1) * 255).astype(np.uint8)
    h, w = pixels.shape[:2]
    colour = 2 if pixels.ndim == 3 else 0
    rows = np.concatenate([np.zeros((h, 1), np.uint8), pixels.reshape(h, -1)], axis=1)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    data = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, colour, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows.tobytes(), 6)) + chunk(b"IEND", b""))
    try:
        with open(path, "wb") as f:
            f.write(data)
    except OSError as exc:
        raise StrataError(f"{path}: cannot write ({exc.strerror or exc})") from None
