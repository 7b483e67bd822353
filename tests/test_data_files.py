"""viewer.data: samples read from .npy and .npz arrays and image files; what importing it loads.

The HDF5 reader, embedded samples and preprocessing are in tests/test_data.py.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from viewer.data import open_samples
from viewer.errors import SampleError

RNG = np.random.default_rng(0)


def message(excinfo) -> str:
    return str(excinfo.value)


# ---------------------------------------------------------------- .npy and .npz

def test_npy_memory_mapped(tmp_path):
    X = RNG.normal(size=(40, 3, 2)).astype(np.float32)
    path = str(tmp_path / "x.npy")
    np.save(path, X)
    np.save(tmp_path / "y.npy", np.arange(40) % 3)
    s = open_samples(path, labels=str(tmp_path / "y.npy"))
    assert isinstance(s._reader._array, np.memmap)
    np.testing.assert_array_equal(s.batch([39, 0, 5]), X[[39, 0, 5]])
    np.testing.assert_array_equal(s.labels, np.arange(40) % 3)
    np.save(tmp_path / "short.npy", np.arange(3))
    with pytest.raises(SampleError) as e:
        open_samples(path, labels=str(tmp_path / "short.npy"))
    assert message(e) == f"{path}: there are 3 labels in short.npy for 40 samples"


def test_npy_refuses_pickles_and_lies(tmp_path):
    path = str(tmp_path / "obj.npy")
    np.save(path, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    with pytest.raises(SampleError) as e:
        open_samples(path)
    assert message(e) == (f"{path}: holds Python objects (a pickled object array); "
                          f"Strata never loads pickles")
    path = str(tmp_path / "cut.npy")
    np.save(path, np.zeros((100, 10)))
    with open(path, "r+b") as fp:
        fp.truncate(500)
    with pytest.raises(SampleError) as e:
        open_samples(path)
    assert message(e) == (f"{path}: the file is shorter than its header's shape (100, 10) "
                          f"float64 says; it is truncated or hostile")
    path = tmp_path / "junk.npy"
    path.write_bytes(b"hello")
    with pytest.raises(SampleError) as e:
        open_samples(path)
    assert message(e).startswith(f"{path}: not a numpy .npy array (")
    np.save(tmp_path / "e.npy", np.zeros((0, 5)))
    with pytest.raises(SampleError) as e:
        open_samples(tmp_path / "e.npy")
    assert message(e) == f"{tmp_path / 'e.npy'}: there are no samples ({tmp_path / 'e.npy'} is empty)"


def test_npz(tmp_path):
    X = RNG.integers(0, 9, (12, 4, 4)).astype(np.int16)
    path = str(tmp_path / "d.npz")
    np.savez_compressed(path, X=X, y=np.arange(12) % 4, label_names=np.array(["a", "b", "c", "d"]),
                        other=np.zeros((2, 2)))
    s = open_samples(path)
    assert "X" not in s._reader._npz._cache  # opening reads headers only
    np.testing.assert_array_equal(s.batch([11, 3, 3]), X[[11, 3, 3]])
    assert "X" in s._reader._npz._cache  # then the member stays read
    np.testing.assert_array_equal(s.labels, np.arange(12) % 4)
    assert s.label_names == ["a", "b", "c", "d"] and s.source == f"{path}:X"
    assert open_samples(path, dataset="other").labels is None
    with pytest.raises(SampleError) as e:
        open_samples(path, dataset="train")
    assert message(e) == (f"{path}: there is no array train; members: X (12, 4, 4), y (12,), "
                          f"label_names (4,), other (2, 2)")
    with pytest.raises(SampleError) as e:
        open_samples(path, labels="other")
    assert message(e) == f"{path}: labels other have shape (2, 2); expected one class number per sample"
    path = str(tmp_path / "pick.npz")
    np.savez(path, X=np.zeros((3, 2)), meta=np.array([None, 1], dtype=object))
    with pytest.raises(SampleError) as e:
        open_samples(path)
    assert message(e) == (f"{path}: holds Python objects (a pickled object array); "
                          f"Strata never loads pickles")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"PK not a zip")
    with pytest.raises(SampleError) as e:
        open_samples(junk)
    assert message(e).startswith(f"{junk}: not a numpy .npz archive (")


def test_npz_member_declaring_more_than_it_stores(tmp_path):
    import zipfile
    path = str(tmp_path / "bomb.npz")
    header = np.lib.format.header_data_from_array_1_0(np.zeros((1, 1)))
    header["shape"] = (10**9, 10**3)
    with zipfile.ZipFile(path, "w") as zf:
        with zf.open("X.npy", "w") as fp:
            np.lib.format.write_array_header_1_0(fp, header)
            fp.write(b"\0" * 8)
    with pytest.raises(SampleError) as e:
        open_samples(path)
    assert message(e).startswith(f"{path}: member X.npy declares (1000000000, 1000) float64 "
                                 f"but stores ")


# ---------------------------------------------------------------- images

def make_image(path, size=(20, 12), mode="RGB", seed=0):
    rng = np.random.default_rng(seed)
    channels = {"RGB": 3, "L": 1, "RGBA": 4}[mode]
    pixels = rng.integers(0, 256, (size[1], size[0], channels), dtype=np.uint8)
    Image.fromarray(pixels.squeeze() if channels == 1 else pixels, mode).save(path)
    return str(path)


def pil_reference(path, mode, size):
    """The conversion done by hand: mode first, then bilinear resize."""
    with Image.open(path) as img:
        return np.asarray(img.convert(mode).resize(size, Image.BILINEAR))


def test_image_to_grayscale_channels_first(tmp_path):
    path = make_image(tmp_path / "a.png")
    s = open_samples(path, input_shape=(1, 8, 8), data_format="channels_first",
                     preprocess={"scale": 1 / 255})
    assert len(s) == 1 and s.dtype == np.uint8 and s.layout == "channels_first"
    want = pil_reference(path, "L", (8, 8))
    np.testing.assert_array_equal(s.raw(0), want[None])
    np.testing.assert_allclose(s.batch([0]), want[None, None] / 255, rtol=1e-6)


def test_image_to_rgb_channels_last(tmp_path):
    path = make_image(tmp_path / "a.jpg", size=(30, 17), mode="L")
    s = open_samples(path, input_shape=(10, 12, 3))  # layout guessed: channels last
    assert s.layout == "channels_last" and s.input_shape == (10, 12, 3)
    np.testing.assert_array_equal(s.raw(0), pil_reference(path, "RGB", (12, 10)))
    s = open_samples(path, input_shape=(3, 10, 12))
    np.testing.assert_array_equal(s.raw(0), pil_reference(path, "RGB", (12, 10)).transpose(2, 0, 1))
    s = open_samples(path, input_shape=(10, 12))  # no channel axis
    np.testing.assert_array_equal(s.raw(0), pil_reference(path, "L", (12, 10)))
    s = open_samples(path)  # the image as it is
    assert s.input_shape == (17, 30)
    with pytest.raises(SampleError) as e:
        open_samples(path, input_shape=(2, 8, 8))
    assert message(e) == f"{path}: the net expects 2 channels; images give 1 (grayscale), 3 (RGB) or 4 (RGBA)"


def test_image_folder_order_and_errors(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for k, name in enumerate(["img10.png", "img2.png", "IMG1.JPG", "img3.jpeg"]):
        make_image(folder / name, seed=k)
    (folder / "notes.txt").write_text("not an image")
    (folder / "._img2.png").write_bytes(b"macOS resource fork")
    s = open_samples(folder, input_shape=(6, 6, 3))
    assert [os.path.basename(f) for f in s._reader.files] == ["IMG1.JPG", "img2.png",
                                                             "img3.jpeg", "img10.png"]
    want = np.stack([pil_reference(folder / n, "RGB", (6, 6)) for n in ("img10.png", "IMG1.JPG")])
    np.testing.assert_array_equal(s.batch([3, 0]), want.astype(np.float32))
    (folder / "img4.png").write_bytes(b"\x89PNG broken")
    s = open_samples(folder, input_shape=(6, 6, 3))
    with pytest.raises(SampleError) as e:
        s.raw(3)
    assert message(e).startswith(f"{folder / 'img4.png'}: not a readable image (")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SampleError) as e:
        open_samples(empty)
    assert message(e).startswith(f"{empty}: there are no samples (no .png, .jpg")


def test_images_need_pillow(tmp_path, monkeypatch):
    path = make_image(tmp_path / "a.png")
    monkeypatch.setitem(sys.modules, "PIL", None)  # import PIL now raises ImportError
    with pytest.raises(SampleError) as e:
        open_samples(path, input_shape=(8, 8, 3))
    assert message(e) == (f"{path}: reading images needs Pillow, which is not installed "
                          f"(pip install pillow)")


# ---------------------------------------------------------------- dependencies

def test_importing_viewer_data_pulls_in_no_gui_and_no_heavy_readers():
    code = ("import sys, viewer.data; "
            "print([m for m in ('PyQt5', 'matplotlib', 'h5py', 'PIL') if m in sys.modules])")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "[]"
