"""Input samples for a net, read lazily from HDF5, .npy, .npz and image files.

    samples = open_samples("mnist.h5", input_shape=net.input.output_shape,
                           preprocess=net.samples.preprocess if net.samples else None)
    x = samples.batch([5])            # float32 (1, *input_shape), only row 5 read

No Qt, no matplotlib; h5py and Pillow are imported only when a file needs them.
"""

from viewer.data.files import open_samples
from viewer.data.hdf5 import embedded_samples
from viewer.data.preprocess import LAYOUTS
from viewer.data.samples import SampleSet, check_fits

__all__ = ["SampleSet", "open_samples", "embedded_samples", "check_fits", "LAYOUTS"]
