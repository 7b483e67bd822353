"""Samples from image files: one PNG/JPEG, or a folder of images.

Each image is decoded when it is asked for, then converted to the net's input:

1. to grayscale ("L", ITU-R 601-2 luma) when the net wants 1 channel, RGB
   when it wants 3, RGBA when it wants 4 (alpha is dropped for RGB);
2. made the net's H x W as the preprocessing's ``resize`` policy says:
   resized with the Pillow filter it names (bilinear by default; aspect
   ratio is not kept: nets take a fixed size), centre-cropped ("crop"), or
   refused ("refuse") with an error naming the file and both sizes;
3. channels put where the layout says: (C, H, W) for channels_first,
   (H, W, C) for channels_last, (H, W) when the net's input has no channel axis.

Raw values are the pixels 0..255 (uint8), like a uint8 dataset, and the same
arithmetic applies to both, so a picture and the same picture stored in a
uint8 dataset always give the same net input. Which arithmetic is chosen
for them (and why) is :mod:`viewer.data.proposal`'s business.

Pillow is needed only here and is imported on first use. Readers decode into
fresh objects, so several threads may read at once.
"""

from __future__ import annotations

import os
import re
import struct
import warnings
import zlib
from typing import Mapping, Sequence

import numpy as np

from viewer import limits
from viewer.data.formats import IMAGE_EXTENSIONS
from viewer.data.preprocess import RESIZE_POLICIES, Preprocess, guess_layout
from viewer.data.samples import SampleSet
from viewer.errors import SampleError, StrataError

_MODES = {1: "L", 3: "RGB", 4: "RGBA"}
# 16-bit, 32-bit and float images would be clipped to 0..255 by convert().
_DEEP_MODES = ("I", "F", "I;16", "I;16B", "I;16L", "I;16N")


def _pil(path: str):
    try:
        from PIL import Image
    except ImportError:
        raise SampleError(f"{path}: reading images needs Pillow, which is not installed "
                          f"(pip install pillow)") from None
    # The image_pixels limit is checked before decoding, below Pillow's own
    # threshold, so its warning would only add a second line to the message.
    warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
    return Image


def _damage(Image) -> tuple:
    """What Pillow raises on damaged bytes, by plugin."""
    return (OSError, ValueError, SyntaxError, TypeError, IndexError, EOFError, OverflowError,
            struct.error, zlib.error, Image.DecompressionBombError)


def _check_pixels(img, file: str) -> None:
    try:
        limits.check("image_pixels", img.width * img.height,
                     f"image of {img.width}x{img.height} pixels")
    except StrataError as exc:
        raise SampleError(f"{file}: {exc}") from None


def _natural_key(name: str) -> list:
    """Sort "img2.png" before "img10.png", as a file browser does."""
    return [(0, int(t), "") if t.isdigit() else (1, 0, t.lower())
            for t in re.split(r"(\d+)", name) if t]


def list_images(folder: str) -> list[str]:
    """Image files directly inside ``folder``, in natural name order.

    Hidden files are skipped: "._name.png" files left by macOS are not images.
    """
    names = [n for n in os.listdir(folder)
             if n.lower().endswith(IMAGE_EXTENSIONS) and not n.startswith(".")
             and os.path.isfile(os.path.join(folder, n))]
    return [os.path.join(folder, n) for n in sorted(names, key=_natural_key)]


def class_folders(folder: str) -> tuple[list[str], np.ndarray, list[str]] | None:
    """Images sorted into one subfolder per class (``digits/0/*.png``, ``digits/1/*.png``).

    Returns
    -------
    (files, labels, names) or None
        Every image of every subfolder that holds images, subfolders in
        natural name order; ``labels[i]`` is the index of file i's subfolder
        in ``names``. None when no subfolder holds images.
    """
    subs = sorted((n for n in os.listdir(folder)
                   if not n.startswith(".") and os.path.isdir(os.path.join(folder, n))),
                  key=_natural_key)
    files, labels, names = [], [], []
    for name in subs:
        found = list_images(os.path.join(folder, name))
        if found:
            labels += [len(names)] * len(found)
            names.append(name)
            files += found
    return (files, np.array(labels, dtype=np.int64), names) if files else None


def _target(input_shape: Sequence[int | None] | None, data_format: str | None,
            first: tuple[int, int, str], path: str) -> tuple[tuple, int, str]:
    """Work out (sample shape, channels or 0 for no axis, layout) for the images.

    ``first`` is (width, height, mode) of the first image: it fills in
    unknown sizes, and the channel count when no input shape is given.
    """
    width, height, mode = first
    if input_shape is None:
        channels = 1 if mode in ("1", "L", "LA") + _DEEP_MODES else 3
        input_shape = (height, width) if channels == 1 else (
            (3, height, width) if data_format == "channels_first" else (height, width, 3))
    shape = tuple(input_shape)
    if len(shape) == 2:  # no channel axis, so per-channel values run along nothing
        layout, channels, hw = "channels_last", 0, shape
    elif len(shape) == 3:
        layout = data_format or guess_layout(shape)
        if layout not in ("channels_first", "channels_last"):
            raise SampleError(f"{path}: images need a channels_first or channels_last "
                              f"input, not {layout!r}")
        channels, hw = (shape[0], shape[1:]) if layout == "channels_first" else (shape[2], shape[:2])
        if channels not in _MODES:
            raise SampleError(f"{path}: the net expects {channels} channels; images give "
                              f"1 (grayscale), 3 (RGB) or 4 (RGBA)")
    else:
        raise SampleError(f"{path}: images cannot become the net's input shape {shape}")
    h = height if hw[0] is None else int(hw[0])
    w = width if hw[1] is None else int(hw[1])
    if channels == 0:
        return (h, w), 0, layout
    sample = (channels, h, w) if layout == "channels_first" else (h, w, channels)
    return sample, channels, layout


class ImageReader:
    """Image files decoded and converted on demand.

    Parameters
    ----------
    path : str
        The file or folder the user opened (named in set-wide errors).
    files : list of str
        One image per sample.
    sample_shape : tuple of int
        (H, W), (C, H, W) or (H, W, C): the converted image.
    channels : int
        1, 3 or 4; 0 for (H, W) samples without a channel axis.
    layout : str
        "channels_first" or "channels_last".
    sizes : tuple of (int, int)
        The distinct (width, height) of the images whose headers were read
        (the first one's first; see :data:`SIZE_CHECKS`), for :attr:`resize_note`.
    checked : int
        How many images' headers gave ``sizes``.
    resize : str
        One of ``viewer.data.preprocess.RESIZE_POLICIES``.
    """

    is_images = True

    def __init__(self, path: str, files: list[str], sample_shape: tuple, channels: int,
                 layout: str, sizes: tuple, checked: int = 1, resize: str = "bilinear") -> None:
        if resize not in RESIZE_POLICIES:
            raise SampleError(f"{path}: unknown resize policy {resize!r}; "
                              f"known: {', '.join(RESIZE_POLICIES)}")
        self.path, self.files = path, files
        self.shape = (len(files),) + sample_shape
        self.dtype = np.dtype(np.uint8)
        self.resize = resize
        self._args = (path, files, sample_shape, channels, layout, sizes, checked)
        self._mode = _MODES.get(channels, "L")
        self._channels_first = bool(channels) and layout == "channels_first"
        self.size = tuple(int(v) for v in (self.shape[3:1:-1] if self._channels_first
                                           else self.shape[2:0:-1]))  # (width, height)
        self.sizes = tuple(tuple(size) for size in sizes)
        self.checked = checked

    def with_resize(self, resize: str) -> ImageReader:
        """The same images made to fit by another policy."""
        return self if resize == self.resize else ImageReader(*self._args, resize=resize)

    @property
    def resize_note(self) -> str | None:
        """How images of another size than the net's are made to fit, naming their sizes."""
        other = [size for size in self.sizes if size != self.size]
        if not other or self.resize == "refuse":
            return None
        tw, th = self.size
        how = "centre-cropped" if self.resize == "crop" else f"resized ({self.resize})"
        listed = ", ".join(f"{w}x{h}" for w, h in other[:3]) + (" and others" if len(other) > 3
                                                               else "")
        if len(self.files) == 1:
            return f"image of {listed} {how} to {tw}x{th}"
        seen = "" if self.checked == len(self.files) else \
            f" (sizes read from {self.checked:,} of the {len(self.files):,} images)"
        return f"images of {listed} {how} to {tw}x{th}{seen}"

    def _fit(self, img, file: str, Image):
        """Make ``img`` the net's size as the resize policy says."""
        width, height = self.size
        if img.size == (width, height):
            return img
        w, h = img.size
        if self.resize == "refuse":
            raise SampleError(f"{file}: the image is {w}x{h} but the net takes {width}x{height}, "
                              f"and the preprocessing refuses to resize (resize: refuse)")
        if self.resize == "crop":
            if w < width or h < height:
                raise SampleError(f"{file}: the image is {w}x{h}, smaller than the net's "
                                  f"{width}x{height}: it cannot be centre-cropped; resize it instead")
            left, top = (w - width) // 2, (h - height) // 2
            return img.crop((left, top, left + width, top + height))
        return img.resize((width, height), _filter(Image, self.resize))

    def _decode(self, file: str) -> np.ndarray:
        Image = _pil(file)
        try:
            with Image.open(file) as img:
                _check_pixels(img, file)
                if img.mode in _DEEP_MODES:
                    raise SampleError(f"{file}: {img.mode} images (more than 8 bits per "
                                      f"channel) are not supported; save it as 8-bit")
                img = img.convert(self._mode)  # convert first: resizing a palette image is nearest-only
                pixels = np.asarray(self._fit(img, file, Image), dtype=np.uint8)
        except _damage(Image) as exc:
            raise SampleError(f"{file}: not a readable image ({exc})") from None
        if self._channels_first:
            return pixels.transpose(2, 0, 1) if pixels.ndim == 3 else pixels[None]
        return pixels[..., None] if pixels.ndim == 2 and len(self.shape) == 4 else pixels

    def read(self, rows: np.ndarray) -> np.ndarray:
        """Rows (sorted, unique) -> uint8 array (len(rows), *sample_shape)."""
        out = np.empty((len(rows),) + self.shape[1:], dtype=np.uint8)
        for k, row in enumerate(rows):
            out[k] = self._decode(self.files[row])
        return out


def _filter(Image, method: str):
    """Pillow's filter for one of RESIZE_METHODS (>= 9.1 names them in Image.Resampling)."""
    return getattr(getattr(Image, "Resampling", Image), method.upper())


def _image_header(file: str) -> tuple[int, int, str]:
    """(width, height, mode) from an image's header, without decoding it."""
    Image = _pil(file)
    try:
        with Image.open(file) as img:
            _check_pixels(img, file)
            return img.width, img.height, img.mode
    except _damage(Image) as exc:
        raise SampleError(f"{file}: not a readable image ({exc})") from None


#: Images whose headers are read when a folder opens (spread over it), so that a resize
#: warning names the sizes found rather than the first image's alone.
SIZE_CHECKS = 64


def _sizes(files: list[str], first: tuple[int, int]) -> tuple[tuple, int]:
    """The distinct (width, height) among up to :data:`SIZE_CHECKS` images spread over
    ``files`` (the first's size first), and how many were read. An unreadable header is
    skipped here: decoding that image names it."""
    count = min(SIZE_CHECKS, len(files))
    picks = sorted({round(i * (len(files) - 1) / max(1, count - 1)) for i in range(count)})
    sizes, checked = [tuple(first)], 1
    for i in picks[1:]:
        try:
            width, height, _ = _image_header(files[i])
        except SampleError:
            continue
        checked += 1
        if (width, height) not in sizes:
            sizes.append((width, height))
    return tuple(sizes), checked


def open_images(path: str, *, input_shape: Sequence[int | None] | None = None,
                data_format: str | None = None,
                preprocess: Mapping | Preprocess | None = None) -> SampleSet:
    """Samples from one image file, or every image directly in a folder.

    Parameters
    ----------
    path : str
        An image file, or a folder: its images in natural name order, or,
        when it holds none itself, the images of its subfolders, labelled
        by subfolder (see :func:`class_folders`).
    input_shape : sequence of int or None, optional
        The net's input shape without batch axis: (C, H, W), (H, W, C) or
        (H, W); None entries take the first image's size. Without it the
        first image's size is used, grayscale (H, W) or RGB with 3 channels.
    data_format : str, optional
        "channels_first" or "channels_last"; when not given, guessed from
        ``input_shape`` by ``viewer.data.preprocess.guess_layout``.
    preprocess : mapping or Preprocess, optional
        The preprocessing; its ``resize`` says how images of another size
        are made to fit. None means identity (raw 0..255), resized bilinear.

    Returns
    -------
    SampleSet
        uint8 raw samples; ``batch`` gives float32 (n, *input_shape).
    """
    labels = names = None
    if os.path.isdir(path):
        files = list_images(path)
        classes = None if files else class_folders(path)
        if classes is not None:
            files, labels, names = classes
        if not files:
            raise SampleError(f"{path}: there are no samples (no "
                              f"{', '.join(IMAGE_EXTENSIONS)} images in this folder "
                              f"or in its class subfolders)")
    else:
        files = [path]
    first = _image_header(files[0])
    shape, channels, layout = _target(input_shape, data_format, first, path)
    resize = (preprocess.resize if isinstance(preprocess, Preprocess)
              else dict(preprocess or {}).get("resize", "bilinear"))
    sizes, checked = _sizes(files, first[:2])
    reader = ImageReader(path, files, shape, channels, layout, sizes, checked, resize)
    return SampleSet(reader, source=path, layout=layout, preprocess=preprocess, labels=labels,
                     label_names=names)
