"""Opening a net together with its samples, and describing its layers for display.

The glue between viewer.net, viewer.data and viewer.analysis that the
command line and the window share. No Qt, no matplotlib.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from viewer.analysis.reading import is_softmax_output, picture_layout  # noqa: F401 (re-exported)
from viewer.errors import LayerError, SampleError
from viewer.net import Net, load
from viewer.net.layers.base import LayerFailed

BUNDLED_DEMO = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                            "resources", "demo", "digits_cnn.h5")


def open_net(path: str, *, isolate: bool = True) -> tuple[Net, Any]:
    """Open a strata-net file and the samples embedded in it.

    Parameters
    ----------
    path : str
    isolate : bool
        Read the file in a child process first (see viewer.net.probe);
        leave on for any file a user picked.

    Returns
    -------
    (Net, SampleSet or None)
    """
    from viewer.data import check_fits, embedded_samples

    net = load(path, isolate=isolate)
    samples = embedded_samples(path)
    if samples is not None:
        samples = check_fits(samples, net.input.output_shape)
    return net, samples


def samples_for(net: Net, path: str, *, dataset: str | None = None,
                labels: str | None = None) -> Any:
    """Open a samples file for ``net``, with the preprocessing the net's own samples use.

    Raises
    ------
    SampleError
        When the file cannot be read or its samples do not fit the net's input.
    """
    from viewer.data import check_fits, embedded_samples, open_samples

    preprocess = None
    if net.path:
        own = embedded_samples(net.path)
        preprocess = own.preprocess if own is not None else None
    samples = open_samples(path, dataset=dataset, labels=labels,
                           input_shape=net.input.output_shape,
                           data_format=getattr(net.input, "data_format", None),
                           preprocess=preprocess)
    return check_fits(samples, net.input.output_shape)


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
