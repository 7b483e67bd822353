"""The tables of file formats: samples read, pictures and activations written.

The sample table is the one list every reader, dialog and help text uses.

Each :class:`SampleFormat` names a kind of sample file and its extensions;
:func:`viewer.data.open_samples` picks its reader by it, the window builds
its file dialogs' filters and its drop handler from it, and the command
line's help texts describe it with :func:`describe`. Importing this module
costs nothing (no numpy), so the command line can build its help from it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class SampleFormat:
    """One kind of sample file.

    Attributes
    ----------
    key : str
        The reader's name in :mod:`viewer.data.files` ("hdf5", "npy", "npz", "images",
        "zarr").
    label : str
        For people: "HDF5 samples", "images".
    extensions : tuple of str
        Lower-case file name endings, with the dot.
    folders : bool
        A folder of such files is samples too (images).
    store : bool
        One such "file" is a folder (a zarr store).
    """

    key: str
    label: str
    extensions: tuple[str, ...]
    folders: bool = False
    store: bool = False


#: Every sample format Strata reads.
SAMPLE_FORMATS = (
    SampleFormat("hdf5", "HDF5 samples", (".h5", ".hdf5", ".hdf")),
    SampleFormat("npy", "NumPy array", (".npy",)),
    SampleFormat("npz", "NumPy archive", (".npz",)),
    SampleFormat("images", "images", (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff",
                                      ".webp"), folders=True),
    SampleFormat("zarr", "zarr array", (".zarr",), store=True),
)
#: Every sample file extension.
SAMPLE_EXTENSIONS = tuple(e for f in SAMPLE_FORMATS for e in f.extensions)
HDF5_EXTENSIONS = SAMPLE_FORMATS[0].extensions
IMAGE_EXTENSIONS = SAMPLE_FORMATS[3].extensions


def sample_format(path: str) -> SampleFormat | None:
    """The format of ``path`` by its name (another folder counts as images), or None."""
    ext = os.path.splitext(path.rstrip("/"))[1].lower()
    fmt = next((f for f in SAMPLE_FORMATS if ext in f.extensions), None)
    if os.path.isdir(path) and not (fmt is not None and fmt.store):
        return next(f for f in SAMPLE_FORMATS if f.folders)
    return fmt


def describe() -> str:
    """The formats for a help text or an error message.

    ".h5, .hdf5, .hdf (HDF5 samples), .npy (NumPy array), ... and folders of images".
    """
    parts = [f"{', '.join(f.extensions)} ({f.label})" for f in SAMPLE_FORMATS]
    folders = [f.label for f in SAMPLE_FORMATS if f.folders]
    return ", ".join(parts) + "".join(f" and folders of {label}" for label in folders)


def file_filter(label: str, extensions: tuple[str, ...]) -> str:
    """A file dialog filter: ``"Samples (*.h5 *.npy)"``."""
    return f"{label} ({' '.join('*' + e for e in extensions)})"


#: Pictures Strata draws (``main.py render``, the window's picture export): extension -> label.
PICTURE_FORMATS = {".png": "PNG image", ".svg": "SVG drawing", ".pdf": "PDF document"}
#: Activations Strata writes (``main.py export``, the window's activation export).
ACTIVATION_FORMATS = {".npy": "NumPy array", ".csv": "CSV table"}
