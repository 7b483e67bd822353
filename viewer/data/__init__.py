"""Input samples for a net, read lazily from HDF5, .npy, .npz and image files.

    samples = open_samples("mnist.h5", input_shape=net.input.output_shape,
                           preprocess=net.samples.preprocess if net.samples else None)
    x = samples.batch([5])            # float32 (1, *input_shape), only row 5 read

The formats and their extensions are listed once, in :mod:`viewer.data.formats`.
No Qt, no matplotlib; h5py and Pillow are imported only when a file needs them,
and numpy only when one of the names below is first used (so the command
line's help can read the format table without it).
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "SampleSet": "viewer.data.samples",
    "check_fits": "viewer.data.samples",
    "open_samples": "viewer.data.files",
    "embedded_samples": "viewer.data.hdf5",
    "LAYOUTS": "viewer.data.preprocess",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(importlib.import_module(_WHERE[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'viewer.data' has no attribute {name!r}")
