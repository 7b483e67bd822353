"""Opening a net together with its samples, and describing its layers for display.

The glue between viewer.net, viewer.data and viewer.analysis that the
command line and the window share. No Qt, no matplotlib.
"""

from __future__ import annotations

import os
from typing import Any, Mapping

import numpy as np

from viewer.convert.formats import MODEL_EXTENSIONS, model_by_content
from viewer.errors import FileFormatError, LayerError, SampleError, StrataError
from viewer.net import Net, load
from viewer.net.layers.base import LayerFailed

BUNDLED_DEMO = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                            "resources", "demo", "digits_cnn.h5")

OPENS = ("Strata opens strata-net .h5 files, Keras .h5/.keras models, ONNX .onnx models, "
         "TFLite .tflite and torch.export .pt2 models")


def hdf5_kind(path: str) -> str:
    """Whether an HDF5 file holds a strata "net", a Keras "model", or "samples".

    Reads only the root attributes and names. Call it after the net reader's child
    process has read the file (:func:`open_net` does), so that a damaged file
    cannot hang this one. Files that are not HDF5 count as "net": the net
    reader's message says what they are not.
    """
    import h5py  # here, not at import: h5py must not delay the window's first paint

    try:
        if not h5py.is_hdf5(path):
            return "net"
        with h5py.File(path, "r") as f:
            attrs = f.attrs
            if "format" in attrs:
                return "net"
            if "model_config" in attrs or "keras_version" in attrs:
                return "model"
            from viewer.convert.keras_file import weights_layout

            # Keras weights without the model: the converter says what to give with them.
            return "model" if weights_layout(f) else "samples"
    except (OSError, RuntimeError, KeyError, ValueError, TypeError):  # damage: the net reader says what
        return "net"


def convert_model(path: str) -> Net:
    """A Net converted in memory from a model file (Keras, ONNX, TFLite, torch.export)."""
    try:
        from viewer.convert import convert
    except ImportError:
        raise StrataError(f"{path}: converting this kind of model is not available") from None
    return convert(path)


def open_net(path: str, *, isolate: bool = True) -> tuple[Net, Any]:
    """Open any net file the window opens, and the samples embedded in it.

    A strata-net file is read (in a child process first, see
    viewer.net.probe); a Keras (.h5, .keras), ONNX (.onnx), TFLite
    (.tflite, or any name with TFLite's identifier) or torch.export (.pt2)
    model is converted in memory, and has no samples.

    Parameters
    ----------
    path : str
    isolate : bool
        Read an HDF5 file in a child process first; leave on for any file a
        user picked.

    Returns
    -------
    (Net, SampleSet or None)

    Raises
    ------
    FileFormatError
        One line naming the file; an HDF5 file of samples says to give it as
        samples, a file of no known kind lists what Strata opens.
    """
    from viewer.data import check_fits, embedded_samples

    if os.path.splitext(path)[1].lower() in MODEL_EXTENSIONS and os.path.isfile(path):
        return convert_model(path), None
    try:
        net = load(path, isolate=isolate)
    except FileFormatError as exc:
        kind = hdf5_kind(path) if os.path.isfile(path) else "missing"
        if kind == "model":
            return convert_model(path), None
        if kind == "samples":
            raise FileFormatError(f"{path}: holds samples, not a net; open a net and give "
                                  f"these with --samples (or Open samples... in the window)") from None
        if kind == "net" and "not an HDF5 file" in str(exc):
            if model_by_content(path):  # a TFLite file or model zip, whatever its name
                return convert_model(path), None
            raise FileFormatError(f"{exc} ({OPENS})") from None
        raise
    samples = embedded_samples(path)
    if samples is not None:
        samples = check_fits(samples, net.input.output_shape)
    return net, samples


def own_samples(net: Net) -> Any:
    """The samples embedded in the net's file, with their stored preprocessing; None if none."""
    from viewer.data import check_fits, embedded_samples

    if not net.path:
        return None
    own = embedded_samples(net.path)
    return None if own is None else check_fits(own, net.input.output_shape)


def choose_samples(net: Net, own: Any, path: str | None = None, *, dataset: str | None = None,
                   labels: str | None = None, preprocess: Mapping | None = None) -> tuple[Any, Any]:
    """The samples to show with ``net``, and the preprocessing chosen for the pair.

    Parameters
    ----------
    net : Net
    own : SampleSet or None
        The net's embedded samples (from :func:`open_net` or :func:`own_samples`).
    path : str, optional
        Another samples file; None means the net's own samples.
    dataset, labels : str, optional
        Dataset and labels paths inside an HDF5 or .npz samples file.
    preprocess : mapping, optional
        The user's preprocessing (``{}`` for identity); None lets
        :func:`viewer.data.proposal.choose` choose.

    Returns
    -------
    (SampleSet, Choice)
        See :class:`viewer.data.proposal.Choice` for the reason and warnings.

    Raises
    ------
    SampleError
        When the file cannot be read, its samples do not fit the net's input,
        ``preprocess`` does not fit them, or there are no samples at all.
    """
    from viewer.data.proposal import choose

    if path is None:
        if own is None:
            where = net.path or net.name
            raise SampleError(f"{where}: has no embedded samples; give a samples file with --samples")
        return choose(own, own, given=preprocess, is_own=True)
    # Every reader of the sample formats loads with the first samples file, not before.
    from viewer.data import check_fits, open_samples

    resize = (preprocess or {}).get("resize") if isinstance(preprocess, Mapping) else None
    samples = open_samples(path, dataset=dataset, labels=labels,
                           input_shape=net.input.output_shape,
                           data_format=getattr(net.input, "data_format", None),
                           preprocess={"resize": resize} if resize else None)
    return choose(check_fits(samples, net.input.output_shape), own, given=preprocess)


def samples_for(net: Net, path: str, *, dataset: str | None = None,
                labels: str | None = None) -> Any:
    """Open a samples file for ``net`` with the preprocessing :func:`choose_samples` chooses.

    Raises
    ------
    SampleError
        When the file cannot be read or its samples do not fit the net's input.
    """
    return choose_samples(net, own_samples(net), path, dataset=dataset, labels=labels)[0]


def activation(net: Net, samples: Any, layer: int, sample: int) -> np.ndarray:
    """Layer ``layer``'s output for sample ``sample``, without the batch axis.

    Raises
    ------
    StrataError
        One line naming the sample, or the layer whose computation failed.
    """
    if not 0 <= sample < len(samples):
        raise SampleError(f"sample {sample} is out of range: there are {len(samples)} samples")
    x = samples.batch([sample])
    try:
        return net[layer](x)[0]
    except LayerFailed as exc:
        raise LayerError(f"{exc} (sample {sample})") from None
