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
from viewer.app.pairs import PairMemory
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
    choice : Choice or None
        The preprocessing chosen for the samples, and why (see
        viewer.data.proposal); None without samples.
    same_samples : bool
        The samples shown before, preprocessed anew: the selection stays.
    """

    path: str
    net: Any
    samples: Any
    samples_path: str | None = None
    choice: Any = None
    same_samples: bool = False


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


def open_file(path: str, net: Any, samples_path: str | None = None, *,
              net_file: str | None = None, memory: PairMemory | None = None) -> Opened:
    """Open ``path``: a net (with its samples, or ``samples_path``), or samples for ``net``.

    A net file the user picked is first read in a child process
    (:mod:`viewer.net.probe`): a damaged file can hang or crash the HDF5
    library, and must not take the window down. An HDF5 file that turns out
    not to be a net is opened as a Keras model or as samples. A net opened
    without ``samples_path`` gets back the samples last shown with it, and
    every pair the preprocessing chosen for it (``memory``).

    Parameters
    ----------
    net_file : str, optional
        The file ``net`` was opened from, for the memory of its pairs.
    memory : PairMemory, optional

    Raises
    ------
    StrataError
        One line naming the file and the problem.
    """
    from viewer.errors import FileFormatError
    from viewer.session import hdf5_kind, open_net

    memory = memory or PairMemory()
    path = os.path.abspath(path)
    if not os.path.exists(path):
        raise StrataError(f"{path}: no such file or folder")
    kind = kind_by_name(path)
    own = None
    if kind != "samples":  # a net, or a model open_net converts
        try:
            new_net, own = open_net(path, isolate=not trusted(path))
        except FileFormatError:
            if hdf5_kind(path) != "samples":
                raise
            kind = "samples"
    if kind == "samples" and samples_path is None:
        if net is None:
            raise SampleError(f"{path}: these are samples; open a net first")
        samples, choice = _pair(net, net_file, path, memory)
        return Opened(path, None, samples, choice=choice)
    if samples_path is not None:
        samples_path = os.path.abspath(samples_path)
        samples, choice = _pair(new_net, path, samples_path, memory, own)
        return Opened(path, new_net, samples, samples_path, choice)
    remembered = memory.last_samples(path)
    if remembered is not None:
        try:
            samples, choice = _pair(new_net, path, remembered, memory, own)
            return Opened(path, new_net, samples, remembered, choice)
        except StrataError:
            pass  # the file changed since: the net's own samples, as if nothing was remembered
    if own is None:
        return Opened(path, new_net, None)
    samples, choice = _pair(new_net, path, None, memory, own)
    return Opened(path, new_net, samples, choice=choice)


_UNREAD = object()


def _pair(net: Any, net_file: str | None, samples_path: str | None, memory: PairMemory,
          own: Any = _UNREAD) -> tuple[Any, Any]:
    """(samples, choice) for a pair, with the preprocessing remembered for it."""
    from viewer.session import choose_samples, own_samples

    own = own_samples(net) if own is _UNREAD else own
    given = memory.preprocess_for(net_file, samples_path) if net_file else None
    return choose_samples(net, own, samples_path, preprocess=given)


def reprocess(net: Any, net_file: str | None, samples_path: str | None,
              preprocess: dict | None) -> Opened:
    """The samples on show again, with ``preprocess`` (None: Strata's own choice).

    Raises
    ------
    StrataError
        When ``preprocess`` does not fit the samples.
    """
    from viewer.session import choose_samples, own_samples

    own = own_samples(net)
    if samples_path is not None and net_file and os.path.abspath(samples_path) == net_file:
        samples_path = None
    samples, choice = choose_samples(net, own, samples_path, preprocess=preprocess)
    return Opened(samples_path or net_file or "", None, samples, samples_path, choice,
                  same_samples=True)


def open_paths(paths: list[str], net: Any, *, net_file: str | None = None,
               memory: PairMemory | None = None) -> Opened:
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
        return open_file(nets[0], net, samples[0] if samples else None, memory=memory)
    if samples:
        return open_file(samples[0], net, net_file=net_file, memory=memory)
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
