"""Opening files on the loader thread: nets, models to convert, samples.

No Qt here. A file the user picks is checked by the net reader's child
process (:mod:`viewer.net.probe`) before this process reads it with h5py:
a damaged HDF5 file can hang or crash the HDF5 library, and must not take
the window down.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from viewer.app.demo import DEMO_FOLDER
from viewer.convert.formats import MODEL_EXTENSIONS
from viewer.data.formats import HDF5_EXTENSIONS, SAMPLE_EXTENSIONS, SAMPLE_FORMATS, file_filter
from viewer.errors import SampleError, StrataError

#: Strata's own net files (HDF5; a file with these names may also hold samples or a Keras model).
NET_EXTENSIONS = (".h5", ".hdf5")
#: Files whose name says they hold samples (an HDF5 file is looked into instead).
SAMPLES_BY_NAME = tuple(e for e in SAMPLE_EXTENSIONS if e not in HDF5_EXTENSIONS)


@dataclass(frozen=True, eq=False)
class Opened:
    """What :func:`open_file` read.

    Attributes
    ----------
    path : str
        The file opened (absolute).
    net : Net or None
        The new net, or None when a samples file was opened for the current net.
    samples : SampleSet or None
        The samples to use: the file's, or the net's embedded ones.
    samples_path : str or None
        The samples file, when one was opened besides a net.
    """

    path: str
    net: Any
    samples: Any
    samples_path: str | None = None


def kind_by_name(path: str) -> str:
    """What ``path`` holds judging by its name: "samples", "model" (to convert) or "net".

    HDF5 files count as nets here; :func:`open_file` finds out what they really
    hold only after the net reader's child process has read them safely.
    """
    ext = os.path.splitext(path)[1].lower()
    if os.path.isdir(path) or ext in SAMPLES_BY_NAME:
        return "samples"
    if ext in MODEL_EXTENSIONS:
        return "model"
    return "net"


def trusted(path: str) -> bool:
    """True for the nets bundled with Strata, which need no reading in a child process."""
    folder = os.path.realpath(DEMO_FOLDER)
    return os.path.dirname(os.path.realpath(path)) == folder


def open_file(path: str, net: Any, samples_path: str | None = None) -> Opened:
    """Open ``path``: a net (with its samples, or ``samples_path``), or samples for ``net``.

    A net file the user picked is first read in a child process
    (:mod:`viewer.net.probe`): a damaged file can hang or crash the HDF5
    library, and must not take the window down. An HDF5 file that turns out
    not to be a net is opened as a Keras model or as samples.

    Raises
    ------
    StrataError
        One line naming the file and the problem.
    """
    from viewer.errors import FileFormatError
    from viewer.session import hdf5_kind, open_net, samples_for

    path = os.path.abspath(path)
    if not os.path.exists(path):
        raise StrataError(f"{path}: no such file or folder")
    kind = kind_by_name(path)
    samples = None
    if kind != "samples":  # a net, or a model open_net converts
        try:
            new_net, samples = open_net(path, isolate=not trusted(path))
        except FileFormatError:
            if hdf5_kind(path) != "samples":
                raise
            kind = "samples"
    if kind == "samples" and samples_path is None:
        if net is None:
            raise SampleError(f"{path}: these are samples; open a net first")
        return Opened(path, None, samples_for(net, path))
    if samples_path is not None:
        samples_path = os.path.abspath(samples_path)
        samples = samples_for(new_net, samples_path)
    return Opened(path, new_net, samples, samples_path)


def open_paths(paths: list[str], net: Any) -> Opened:
    """Open several files at once (a drop): the first net with the first samples file.

    Raises
    ------
    StrataError
        When ``paths`` is empty.
    """
    kinds = [(p, kind_by_name(os.path.abspath(p))) for p in paths]
    nets = [p for p, k in kinds if k != "samples"]
    samples = [p for p, k in kinds if k == "samples"]
    if nets:
        return open_file(nets[0], net, samples[0] if samples else None)
    if samples:
        return open_file(samples[0], net)
    raise StrataError("nothing to open")


def open_filters() -> str:
    """File > Open's filters: everything Strata opens, then nets, models and each sample format."""
    models = tuple(MODEL_EXTENSIONS)
    everything = tuple(dict.fromkeys(NET_EXTENSIONS + models + SAMPLE_EXTENSIONS))
    return ";;".join([file_filter("Nets, models and samples", everything),
                      file_filter("Strata nets", NET_EXTENSIONS),
                      file_filter("Models (Keras, ONNX, TFLite, torch.export)", (".h5",) + models),
                      samples_filters(), "All files (*)"])


def samples_filters() -> str:
    """File > Open samples' filters: all sample files, then one per format."""
    return ";;".join([file_filter("Samples", SAMPLE_EXTENSIONS)]
                     + [file_filter(f.label[0].upper() + f.label[1:], f.extensions)
                        for f in SAMPLE_FORMATS])
