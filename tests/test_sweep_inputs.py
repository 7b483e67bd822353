"""Sweep inputs past one file: a glob of HDF5 shards, rows concatenated in sorted name order
with global indices; the sweep's files equal those of the same rows in one file."""

import numpy as np
import pytest

from viewer.cli import main
from viewer.data import embedded_samples, open_samples
from viewer.errors import SampleError

from test_sweep import CNN
from test_sweep_state import _same_table, _table

CSV = ("units.csv", "top_k.csv", "bottom_k.csv", "pca.csv", "histograms.csv", "class_means.csv")


def _write(path, X, y=None):
    import h5py

    with h5py.File(path, "w") as f:
        f["X"] = X
        if y is not None:
            f["y"] = y


@pytest.fixture
def parts(tmp_path):
    """The demo digits in three files of 200, 150 and the rest (named out of order), and in one."""
    digits = embedded_samples(CNN)
    X, y = digits.raw_batch(np.arange(len(digits))), digits.labels
    for name, rows in (("part-2.h5", slice(350, None)), ("part-0.h5", slice(0, 200)),
                       ("part-1.h5", slice(200, 350))):
        _write(tmp_path / name, X[rows], y[rows])
    _write(tmp_path / "all.h5", X, y)
    return tmp_path, X, y


def test_a_glob_of_hdf5_files_is_their_rows_in_name_order(parts):
    folder, X, y = parts
    samples = open_samples(str(folder / "part-*.h5"))
    assert len(samples) == len(X) and samples.path == str(folder / "part-*.h5")
    assert samples.source == f"{folder / 'part-*.h5'}:/X (3 files)"
    np.testing.assert_array_equal(samples.labels, y)
    rows = np.array([0, 199, 200, 201, 349, 350, len(X) - 1])  # across both joins
    np.testing.assert_array_equal(samples.raw_batch(rows), X[rows])
    np.testing.assert_array_equal(samples.raw_batch(rows[::-1]), X[rows[::-1]])
    np.testing.assert_array_equal(samples.raw_batch(np.arange(150, 400)), X[150:400])


def test_a_sweep_of_the_glob_equals_the_sweep_of_one_file(parts, capsys):
    folder, _, _ = parts
    glob_out, one_out = folder / "glob_out", folder / "one_out"
    common = ["sweep", CNN, "--layer", "relu2", "--shard-size", "100", "--pca-samples", "100"]
    assert main(common + ["--samples", str(folder / "part-*.h5"), "-o", str(glob_out)]) == 0
    assert main(common + ["--samples", str(folder / "all.h5"), "-o", str(one_out)]) == 0
    for name in CSV:
        _same_table(_table(glob_out / name), _table(one_out / name), name)


def test_a_glob_matching_nothing_or_disagreeing_files_is_one_line(parts, capsys):
    folder, X, _ = parts
    with pytest.raises(SampleError, match=r"part-9\*\.h5: no file matches this pattern$"):
        open_samples(str(folder / "part-9*.h5"))
    _write(folder / "part-3.h5", X[:5, :4, :4])
    with pytest.raises(SampleError) as err:
        open_samples(str(folder / "part-*.h5"))
    assert str(err.value) == (f"{folder / 'part-*.h5'}: {folder / 'part-3.h5'} has another "
                              f"sample shape than {folder / 'part-0.h5'} "
                              f"((1, 4, 8) against (1, 8, 8))")
    assert main(["sweep", CNN, "--layer", "relu2", "--samples", str(folder / "part-9*.h5"),
                 "-o", str(folder / "out")]) == 2
    assert capsys.readouterr().err.strip() == (f"error: {folder / 'part-9*.h5'}: "
                                               f"no file matches this pattern")


def test_a_zarr_array_sweeps_like_the_same_rows_in_hdf5(parts, capsys):
    zarr = pytest.importorskip("zarr")
    folder, X, y = parts
    group = zarr.open_group(str(folder / "digits.zarr"), mode="w")
    group.create_array("X", data=X, chunks=(100,) + X.shape[1:])
    group.create_array("y", data=y)
    zarr.save_array(str(folder / "bare.zarr"), X)
    samples = open_samples(str(folder / "digits.zarr"))
    assert len(samples) == len(X) and samples.source == f"{folder / 'digits.zarr'}:X"
    np.testing.assert_array_equal(samples.labels, y)
    rows = np.array([3, 99, 100, 101, 500])
    np.testing.assert_array_equal(samples.raw_batch(rows), X[rows])
    np.testing.assert_array_equal(open_samples(str(folder / "bare.zarr")).raw_batch(rows), X[rows])
    common = ["sweep", CNN, "--layer", "relu2", "--shard-size", "100", "--pca-samples", "100"]
    assert main(common + ["--samples", str(folder / "digits.zarr"), "-o",
                          str(folder / "zarr_out"), "--cluster", "local:1"]) == 0
    assert main(common + ["--samples", str(folder / "all.h5"), "-o", str(folder / "one")]) == 0
    for name in CSV:
        _same_table(_table(folder / "zarr_out" / name), _table(folder / "one" / name), name)


def test_a_zarr_input_without_zarr_is_one_line_naming_it(parts, capsys, monkeypatch):
    import sys

    folder, X, _ = parts
    (folder / "x.zarr").mkdir()
    monkeypatch.setitem(sys.modules, "zarr", None)  # import zarr fails
    assert main(["sweep", CNN, "--layer", "relu2", "--samples", str(folder / "x.zarr"),
                 "-o", str(folder / "out")]) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: {folder / 'x.zarr'}: reading zarr arrays needs zarr: "
        f"pip install -r requirements-cluster.txt")
