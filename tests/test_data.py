"""viewer.data: samples read lazily from HDF5 and embedded in net files; preprocessing; fitting the net.

The .npy, .npz and image readers are in tests/test_data_files.py.
"""

from __future__ import annotations

import json
import os
import threading

import h5py
import numpy as np
import pytest

from viewer.data import SampleSet, check_fits, embedded_samples, open_samples
from viewer.errors import SampleError

RNG = np.random.default_rng(0)


def write_h5(path, **datasets):
    """Write datasets (name -> array) into a new HDF5 file."""
    with h5py.File(path, "w") as f:
        for name, value in datasets.items():
            f[name] = value
    return str(path)


def write_net(path, X, labels=None, names=None, layout="channels_first", preprocess=None):
    """A minimal strata-net file with an embedded /samples group."""
    with h5py.File(path, "w") as f:
        f.attrs["format"] = "strata-net"
        f.attrs["format_version"] = 1
        f.create_group("layers")
        g = f.create_group("samples")
        g["X"] = X
        if labels is not None:
            g["labels"] = labels
        if names is not None:
            g["label_names"] = np.array(names, dtype=h5py.string_dtype())
        g.attrs["layout"] = layout
        if preprocess is not None:
            g.attrs["preprocess"] = json.dumps(preprocess)
    return str(path)


def message(excinfo) -> str:
    return str(excinfo.value)


# ---------------------------------------------------------------- HDF5

def test_hdf5_values_and_unsorted_indices(tmp_path):
    X = RNG.integers(0, 256, (50, 4, 5), dtype=np.uint8)
    path = write_h5(tmp_path / "d.h5", X=X)
    s = open_samples(path)
    assert len(s) == 50 and s.sample_shape == (4, 5) and s.dtype == np.uint8
    assert s.source == f"{path}:/X"
    np.testing.assert_array_equal(s.raw(7), X[7])
    np.testing.assert_array_equal(s.raw(-1), X[-1])
    idx = [30, 2, 30, 9, -1, 0]
    got = s.batch(idx)
    assert got.dtype == np.float32 and got.shape == (6, 4, 5)
    np.testing.assert_array_equal(got, X[idx].astype(np.float32))
    np.testing.assert_array_equal(s.batch(range(10, 20)), X[10:20])  # a run
    assert s.batch([]).shape == (0, 4, 5)
    with pytest.raises(IndexError):
        s.batch([50])
    with pytest.raises(IndexError):
        s.raw(-51)


def test_hdf5_reads_only_the_rows_asked_for(tmp_path, monkeypatch):
    path = str(tmp_path / "big.h5")
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("X", (60000, 28, 28), dtype=np.uint8)
        ds[5] = 7
        ds[59999] = 9
    rows_read = []
    real_getitem = h5py.Dataset.__getitem__

    def counting_getitem(self, key):
        out = real_getitem(self, key)
        rows_read.append(out.shape[0] if out.ndim == 3 else 1)
        return out

    monkeypatch.setattr(h5py.Dataset, "__getitem__", counting_getitem)
    s = open_samples(path)
    assert rows_read == []  # opening reads no samples
    np.testing.assert_array_equal(s.batch([5]), np.full((1, 28, 28), 7, np.float32))
    assert s.raw(59999)[0, 0] == 9
    assert rows_read == [1, 1]
    s.batch([3, 1000, 2])
    assert rows_read[-1] == 3
    # Nothing sample-sized is kept in memory between reads.
    held = [v for obj in (s, s._reader) for v in vars(obj).values() if isinstance(v, np.ndarray)]
    assert all(a.size < 60000 for a in held)


def test_hdf5_threads_read_the_same_values(tmp_path):
    X = RNG.normal(size=(200, 6)).astype(np.float32)
    s = open_samples(write_h5(tmp_path / "t.h5", X=X))
    errors = []

    def work(seed):
        rng = np.random.default_rng(seed)
        for _ in range(20):
            idx = rng.integers(0, 200, 8)
            if not np.array_equal(s.batch(idx), X[idx]):
                errors.append(seed)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_hdf5_dataset_choice(tmp_path):
    X = np.zeros((3, 2, 2))
    # a strata-net file: /samples/X even when a bigger dataset exists
    with h5py.File(tmp_path / "net.h5", "w") as f:
        f.attrs["format"] = "strata-net"
        f["layers/conv/W"] = np.zeros((16, 8, 3, 3))
        f["samples/X"] = X
    assert open_samples(tmp_path / "net.h5").source.endswith(":/samples/X")
    # "X" at the root wins over bigger datasets
    path = write_h5(tmp_path / "x.h5", X=X, big=np.zeros((10, 10)))
    assert open_samples(path).source == f"{path}:/X"
    # else the biggest dataset with >= 2 dimensions
    path = write_h5(tmp_path / "b.h5", **{"a/images": np.zeros((9, 3, 3)),
                                        "flat": np.zeros(1000), "small": X})
    assert open_samples(path).source == f"{path}:/a/images"
    # a tie is for the user to decide
    path = write_h5(tmp_path / "tie.h5", train=np.zeros((4, 3)), test=np.zeros((3, 4)))
    with pytest.raises(SampleError) as e:
        open_samples(path)
    assert message(e) == (f"{path}: several datasets could be the samples; "
                          f"choose one of /test (3, 4), /train (4, 3)")
    # an explicit path, with or without the leading slash
    assert open_samples(path, dataset="test").source == f"{path}:/test"
    path = write_h5(tmp_path / "flat.h5", v=np.zeros(5))
    with pytest.raises(SampleError) as e:
        open_samples(path)
    assert message(e) == (f"{path}: no dataset with 2 or more dimensions to use as "
                          f"samples; datasets: /v (5,)")


def test_hdf5_missing_dataset_lists_what_is_there(tmp_path):
    path = write_h5(tmp_path / "d.h5", **{"train/X": np.zeros((2, 3)), "y": np.zeros(2)})
    with pytest.raises(SampleError) as e:
        open_samples(path, dataset="/test/X")
    assert message(e) == f"{path}: there is no dataset /test/X; datasets: /train/X (2, 3), /y (2,)"
    with pytest.raises(SampleError) as e:
        open_samples(path, dataset="train")
    assert message(e) == (f"{path}: there is a group, not a dataset, /train; "
                          f"datasets: /train/X (2, 3), /y (2,)")


def test_hdf5_labels(tmp_path):
    X = np.zeros((4, 3))
    path = write_h5(tmp_path / "a.h5", X=X, y=np.array([3, 1, 0, 2]),
                    label_names=np.array([b"cat", b"dog", b"eel", b"fox"]))
    s = open_samples(path)
    np.testing.assert_array_equal(s.labels, [3, 1, 0, 2])
    assert s.labels.dtype == np.int64
    assert s.label_names == ["cat", "dog", "eel", "fox"]
    # labels beside the dataset; floats holding whole numbers are fine; (N, 1) too
    path = write_h5(tmp_path / "b.h5", **{"test/X": X, "test/labels": np.array([[1.0], [0], [1], [0]])})
    np.testing.assert_array_equal(open_samples(path, dataset="test/X").labels, [1, 0, 1, 0])
    # a default name of another length is not the labels
    path = write_h5(tmp_path / "c.h5", X=X, y=np.arange(7))
    assert open_samples(path).labels is None
    # an explicit path must fit
    with pytest.raises(SampleError) as e:
        open_samples(path, labels="y")
    assert message(e) == f"{path}: there are 7 labels in y for 4 samples"
    with pytest.raises(SampleError) as e:
        open_samples(path, labels="/classes")
    assert message(e) == f"{path}: there is no labels dataset /classes; datasets: /X (4, 3), /y (7,)"
    path = write_h5(tmp_path / "d.h5", X=X, y=np.array([0.5, 1, 2, 3]))
    with pytest.raises(SampleError) as e:
        open_samples(path, labels="y")
    assert message(e) == f"{path}: the labels ('y') are not whole class numbers (float64)"


def test_hdf5_file_errors(tmp_path):
    missing = str(tmp_path / "nope.h5")
    with pytest.raises(SampleError) as e:
        open_samples(missing)
    assert message(e) == f"{missing}: no such file or folder"
    fake = tmp_path / "fake.h5"
    fake.write_text("not hdf5")
    with pytest.raises(SampleError) as e:
        open_samples(fake)
    assert message(e).startswith(f"{fake}: not an HDF5 file, or unreadable (")
    odd = tmp_path / "data.csv"
    odd.write_text("1,2")
    with pytest.raises(SampleError) as e:
        open_samples(odd)
    assert message(e).startswith(f"{odd}: unknown kind of sample file '.csv'; Strata reads .h5")
    path = write_h5(tmp_path / "empty.h5", X=np.zeros((0, 3)))
    with pytest.raises(SampleError) as e:
        open_samples(path)
    assert message(e) == f"{path}: there are no samples ({path}:/X is empty)"
    path = write_h5(tmp_path / "str.h5", X=np.array([[b"a", b"b"]]))
    with pytest.raises(SampleError) as e:
        open_samples(path)
    assert message(e) == f"{path}: /X holds |S1 data; samples must be numbers"


def test_hdf5_refuses_links_and_outside_data(tmp_path):
    other = write_h5(tmp_path / "other.h5", X=np.zeros((3, 3)))
    path = str(tmp_path / "links.h5")
    with h5py.File(path, "w") as f:
        f["real/X"] = np.zeros((3, 3))
        f["soft"] = h5py.SoftLink("/real")
        f["ext"] = h5py.ExternalLink(other, "/X")
        f.create_dataset("outside", (3, 3), dtype="f8", external=[(str(tmp_path / "raw.bin"), 0, 72)])
        layout = h5py.VirtualLayout(shape=(3, 3), dtype="f8")
        layout[:] = h5py.VirtualSource(other, "X", shape=(3, 3))
        f.create_virtual_dataset("virtual", layout)
    with pytest.raises(SampleError) as e:
        open_samples(path, dataset="soft/X")
    assert message(e) == (f"{path}: /soft/X goes through a soft or external link, "
                          f"which Strata does not follow")
    with pytest.raises(SampleError) as e:
        open_samples(path, dataset="ext")
    assert "goes through a soft or external link" in message(e)
    for name in ("outside", "virtual"):
        with pytest.raises(SampleError) as e:
            open_samples(path, dataset=name)
        assert message(e) == (f"{path}: /{name} is a virtual or external dataset "
                              f"(its data lives in other files); Strata refuses those")
    # the default choice never wanders through links either
    assert open_samples(path, dataset="real/X").source == f"{path}:/real/X"


def test_hdf5_refuses_shape_bombs(tmp_path):
    path = str(tmp_path / "bomb.h5")
    with h5py.File(path, "w") as f:  # declared, never written
        f.create_dataset("X", (10**9, 1000), dtype=np.float32)
        f.create_dataset("C", (10**9, 1000), dtype=np.float32, chunks=(1, 1000),
                         compression="gzip")
    size = os.path.getsize(path)
    with pytest.raises(SampleError) as e:
        open_samples(path, dataset="X")
    assert message(e) == (f"{path}: /X declares (1000000000, 1000) float32 "
                          f"(4,000,000,000,000 bytes) but the file holds only {size:,} bytes; "
                          f"refusing it")
    with pytest.raises(SampleError) as e:
        open_samples(path, dataset="C")
    assert "(1000000000, 1000) float32" in message(e)
    # well-compressed data really stored in every chunk is fine
    path = str(tmp_path / "zeros.h5")
    with h5py.File(path, "w") as f:
        f.create_dataset("X", data=np.zeros((4000, 1000), np.uint8), chunks=(100, 1000),
                         compression="gzip")
    assert 4000 * 1000 > 64 * os.path.getsize(path)
    assert open_samples(path).raw(3999).sum() == 0


def test_hdf5_file_changed_after_opening(tmp_path):
    path = write_h5(tmp_path / "d.h5", X=np.zeros((3, 2)))
    s = open_samples(path)
    write_h5(path, X=np.ones((9, 2)))
    os.utime(path, ns=(0, 0))  # a different mtime even on coarse clocks
    with pytest.raises(SampleError) as e:
        s.batch([0])
    assert message(e) == f"{path}: the file changed or vanished since it was opened; open the samples again"


# ---------------------------------------------------------------- embedded samples

def test_embedded_samples(tmp_path):
    X = RNG.integers(0, 256, (6, 3, 4, 4), dtype=np.uint8)
    pre = {"scale": 1 / 255, "mean": [0.5, 0.4, 0.3], "std": [0.2, 0.25, 0.5]}
    path = write_net(tmp_path / "net.h5", X, labels=np.arange(6) % 2, names=["no", "yes"],
                     preprocess=pre)
    s = embedded_samples(path)
    assert isinstance(s, SampleSet) and len(s) == 6 and s.layout == "channels_first"
    assert s.label_names == ["no", "yes"]
    np.testing.assert_array_equal(s.labels, [0, 1, 0, 1, 0, 1])
    assert s.preprocess.to_dict() == {"scale": 1 / 255, "mean": [0.5, 0.4, 0.3], "std": [0.2, 0.25, 0.5]}
    mean = np.array(pre["mean"]).reshape(1, 3, 1, 1)
    std = np.array(pre["std"]).reshape(1, 3, 1, 1)
    want = (X[[4, 1]] / 255 - mean) / std
    np.testing.assert_allclose(s.batch([4, 1]), want, rtol=1e-5, atol=1e-6)
    # open_samples on a net file gives the same embedded samples
    assert open_samples(path).source == s.source
    # no /samples group: None
    with h5py.File(tmp_path / "bare.h5", "w") as f:
        f.attrs["format"] = "strata-net"
    assert embedded_samples(tmp_path / "bare.h5") is None
    with pytest.raises(SampleError) as e:
        open_samples(tmp_path / "bare.h5")
    assert message(e) == f"{tmp_path / 'bare.h5'}: this net file has no embedded samples (/samples/X)"


def test_embedded_samples_bad_attributes(tmp_path):
    path = write_net(tmp_path / "a.h5", np.zeros((2, 3)), layout="sideways")
    with pytest.raises(SampleError) as e:
        embedded_samples(path)
    assert message(e) == (f"{path}: unknown sample layout 'sideways'; expected one of "
                          f"channels_first, channels_last, vector, sequence")
    path = str(tmp_path / "b.h5")
    write_net(path, np.zeros((2, 3)), layout="vector")
    with h5py.File(path, "a") as f:
        f["samples"].attrs["preprocess"] = "{scale: 2"
    with pytest.raises(SampleError) as e:
        embedded_samples(path)
    assert message(e).startswith(f"{path}: the preprocess attribute is not valid JSON (")
    with h5py.File(tmp_path / "c.h5", "w") as f:
        f["samples/labels"] = np.zeros(2)
    with pytest.raises(SampleError) as e:
        embedded_samples(tmp_path / "c.h5")
    assert message(e) == f"{tmp_path / 'c.h5'}: /samples has no X dataset"


# ---------------------------------------------------------------- preprocessing

@pytest.mark.parametrize("layout, shape, axis", [("channels_first", (5, 3, 4, 2), 1),
                                                 ("channels_last", (5, 4, 2, 3), 3),
                                                 ("vector", (5, 3), 1)])
def test_preprocess_per_channel(tmp_path, layout, shape, axis):
    X = RNG.integers(0, 256, shape, dtype=np.uint8)
    mean, std = [10.0, 20.0, 30.0], [2.0, 4.0, 8.0]
    path = write_h5(tmp_path / "p.h5", X=X)
    s = open_samples(path, data_format=layout,
                     preprocess={"scale": 0.5, "mean": mean, "std": std})
    bshape = [1] * len(shape)
    bshape[axis] = 3
    want = (X[[2, 0]] * 0.5 - np.reshape(mean, bshape)) / np.reshape(std, bshape)
    np.testing.assert_allclose(s.batch([2, 0]), want, rtol=1e-6)


def test_preprocess_scalar_and_defaults(tmp_path):
    X = RNG.normal(size=(4, 7))
    path = write_h5(tmp_path / "p.h5", X=X)
    np.testing.assert_allclose(open_samples(path, preprocess={"mean": 1.5, "std": 3}).batch([3]),
                               (X[[3]] - 1.5) / 3, rtol=1e-6)
    s = open_samples(path)
    assert s.preprocess.to_dict() == {"scale": 1.0, "mean": 0.0, "std": 1.0} and s.preprocess.is_identity
    np.testing.assert_allclose(s.batch([1]), X[[1]].astype(np.float32))


@pytest.mark.parametrize("pre, problem", [
    ({"scael": 2}, "unknown preprocess key(s) 'scael'; known: scale, mean, std, channel_order, resize"),
    ({"std": 0}, "preprocess 'std' must not be zero"),
    ({"mean": [1, 2]}, "preprocess 'mean' has 2 values but the samples have 7 channels "
                       "(layout sequence, shape (4, 7))"),
    ({"scale": "big"}, "preprocess 'scale' must be a finite number or a list of them, not 'big'"),
])
def test_preprocess_errors(tmp_path, pre, problem):
    path = write_h5(tmp_path / "p.h5", X=np.zeros((3, 4, 7)))
    with pytest.raises(SampleError) as e:
        open_samples(path, preprocess=pre)
    assert message(e) == f"{path}: {problem}"


# ---------------------------------------------------------------- fitting the net

def test_check_fits(tmp_path):
    X = RNG.integers(0, 256, (5, 8, 8), dtype=np.uint8)
    path = write_h5(tmp_path / "f.h5", X=X)
    s = open_samples(path)
    assert check_fits(s, (8, 8)) is s
    front = check_fits(s, (1, 8, 8))
    assert front.input_shape == (1, 8, 8) and front.layout == "channels_first"
    np.testing.assert_array_equal(front.batch([2, 4]), X[[2, 4], None])
    np.testing.assert_array_equal(front.raw(2), X[2])  # raw stays as stored
    back = check_fits(s, (8, 8, 1))
    assert back.layout == "channels_last"
    np.testing.assert_array_equal(back.batch([1]), X[[1], :, :, None])
    assert check_fits(s, (None, 8)) is s
    with pytest.raises(SampleError) as e:
        check_fits(s, (1, 28, 28))
    assert message(e) == f"{path}: samples have shape (8, 8) but the net expects (1, 28, 28)"
    with pytest.raises(SampleError) as e:
        open_samples(path, input_shape=(3, 8, 8))
    assert message(e) == f"{path}: samples have shape (8, 8) but the net expects (3, 8, 8)"
    assert open_samples(path, input_shape=(1, 8, 8)).batch([0]).shape == (1, 1, 8, 8)
