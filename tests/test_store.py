"""The strata-net file: every kind round-trips, every bad file gives its one clear error."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from test_convert_layers import CONVERTER_EXAMPLES
from test_quantized import QUANTIZED_EXAMPLES
from viewer.errors import FileFormatError, StrataError
from viewer.net import Net, load, probe, save
from viewer.net.layers import (Activation, Add, AvgPool2D, BatchNorm, Concatenate, Conv2D, Dense,
                               Dropout, Flatten, GlobalAvgPool2D, GlobalMaxPool2D, Input, MaxPool2D,
                               Multiply, Permute, Reshape, ZeroPadding2D, load_every_kind)

RNG = np.random.default_rng(7)


def rand(*shape):
    return RNG.normal(size=shape).astype(np.float32)


def _image_input():
    return Input(shape=(4, 6, 6), name="in", data_format="channels_first")


# One example per registered kind; the converters' kinds have theirs beside their tests.
EXAMPLES = {
    "Input": lambda: Input(shape=(None, 3), name="in"),
    "Dense": lambda: Dense(Input(shape=(5,), name="in"), name="L", W=rand(5, 3), b=rand(3)),
    "Conv2D": lambda: Conv2D(_image_input(), name="L", W=rand(6, 2, 3, 3), b=rand(6), stride=(2, 1),
                             padding=((1, 0), (0, 2)), dilation=(1, 2), groups=2),
    "MaxPool2D": lambda: MaxPool2D(_image_input(), name="L", pool_size=3, stride=2, padding=1,
                                   ceil_mode=True),
    "AvgPool2D": lambda: AvgPool2D(_image_input(), name="L", pool_size=(2, 3), padding="same",
                                   count_include_pad=False, data_format="channels_last"),
    "GlobalAvgPool2D": lambda: GlobalAvgPool2D(_image_input(), name="L"),
    "GlobalMaxPool2D": lambda: GlobalMaxPool2D(_image_input(), name="L", data_format="channels_last"),
    "BatchNorm": lambda: BatchNorm(_image_input(), name="L", mean=rand(4), var=rand(4) ** 2 + 0.5,
                                   gamma=rand(4), beta=rand(4), eps=1e-3, axis=1),
    "Activation": lambda: Activation(Input(shape=(5,), name="in"), name="L", function="relu",
                                     max_value=6.0),
    "Dropout": lambda: Dropout(Input(shape=(5,), name="in"), name="L", rate=0.25),
    "Flatten": lambda: Flatten(_image_input(), name="L", data_format="channels_first",
                               order="channels_last"),
    "Reshape": lambda: Reshape(Input(shape=(12,), name="in"), name="L", target_shape=(-1, 4)),
    "Permute": lambda: Permute(_image_input(), name="L", dims=(1, 2, 0)),
    "ZeroPadding2D": lambda: ZeroPadding2D(_image_input(), name="L", padding=((1, 2), (0, 1))),
    "Add": lambda: _merge(Add),
    "Multiply": lambda: _merge(Multiply),
    "Concatenate": lambda: _merge(Concatenate, axis=1),
}


EXAMPLES.update(CONVERTER_EXAMPLES)
EXAMPLES.update(QUANTIZED_EXAMPLES)


def _merge(cls, **kw):
    inp = Input(shape=(2, 3), name="in")
    a = Activation(inp, name="a", function="tanh")
    return cls((inp, a), name="L", **kw)


def _net_of(layer):
    from viewer.net.layers.base import ancestors
    return Net(ancestors(layer), name="example", source="test")


def _input_for(net):
    if net[-1].kind == "Embedding":
        return RNG.integers(0, 9, size=(2,) + net.input.output_shape)
    batch = {layer.name: rand(2, *[3 if s is None else s for s in layer.output_shape])
             for layer in net.inputs}
    return batch if len(batch) > 1 else batch[net.input.name]


def test_every_registered_kind_has_an_example():
    assert set(EXAMPLES) == set(load_every_kind())


@pytest.mark.parametrize("kind", sorted(load_every_kind()))
def test_every_kind_round_trips_exactly(kind, tmp_path):
    net = _net_of(EXAMPLES[kind]())
    path = tmp_path / "net.h5"
    save(net, path)
    back = load(path)
    assert [(l.name, l.kind, l.config(), l.output_shape) for l in back] == \
        [(l.name, l.kind, l.config(), l.output_shape) for l in net]
    for a, b in zip(net, back):
        assert a.params().keys() == b.params().keys()
        for key in a.params():
            np.testing.assert_array_equal(a.params()[key], b.params()[key])
            assert a.params()[key].dtype == b.params()[key].dtype
    x = _input_for(net)
    np.testing.assert_array_equal(back[-1](x), net[-1](x))
    assert back.name == "example" and back.source == "test" and back.path == str(path)


def test_samples_are_embedded(tmp_path):
    net = _net_of(EXAMPLES["Dense"]())
    X = RNG.integers(0, 16, size=(7, 5)).astype(np.uint8)
    save(net, tmp_path / "n.h5", samples={"X": X, "labels": np.arange(7) % 3,
                                          "label_names": ["a", "b", "c"], "layout": "vector",
                                          "preprocess": {"scale": 0.5}})
    with h5py.File(tmp_path / "n.h5", "r") as f:
        np.testing.assert_array_equal(f["samples/X"][()], X)
        assert list(f["samples/labels"][()]) == [0, 1, 2, 0, 1, 2, 0]
        assert [s.decode() for s in f["samples/label_names"][()]] == ["a", "b", "c"]
        assert json.loads(f["samples"].attrs["preprocess"]) == {"scale": 0.5}


def test_save_leaves_no_partial_file_on_failure(tmp_path):
    path = tmp_path / "net.h5"
    save(_net_of(EXAMPLES["Dense"]()), path)
    before = path.read_bytes()
    with pytest.raises(Exception):
        save(_net_of(EXAMPLES["Dense"]()), path, samples={"X": np.zeros((3, 5)), "labels": [1, 2]})
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["net.h5"]


# -- bad files -------------------------------------------------------------------

@pytest.fixture
def good(tmp_path):
    """A valid two-layer net file to break in various ways."""
    path = tmp_path / "good.h5"
    inp = Input(shape=(4,), name="in")
    save(Net([inp, Dense(inp, name="fc", W=rand(4, 3), b=rand(3))]), path)
    return path


def _error(path):
    with pytest.raises(FileFormatError) as err:
        load(path)
    message = str(err.value)
    assert message.startswith(str(path) + ": ")
    assert "\n" not in message
    return message[len(str(path)) + 2:]


def _edit(path, fn):
    with h5py.File(path, "r+") as f:
        fn(f)
    return path


def test_missing_and_empty_and_folder(tmp_path):
    assert _error(tmp_path / "nope.h5") == "no such file"
    (tmp_path / "empty.h5").write_bytes(b"")
    assert _error(tmp_path / "empty.h5") == "empty file"
    assert _error(tmp_path) == "is a folder, not a net file"


def test_not_hdf5_and_zip(tmp_path):
    (tmp_path / "random.h5").write_bytes(np.random.default_rng(0).bytes(4096))
    assert _error(tmp_path / "random.h5") == "not an HDF5 file"
    shutil.make_archive(str(tmp_path / "model"), "zip", tmp_path, "random.h5")
    os.rename(tmp_path / "model.zip", tmp_path / "model.h5")
    assert _error(tmp_path / "model.h5") == "not an HDF5 file (it is a zip archive)"


def test_truncated(good):
    data = good.read_bytes()
    good.write_bytes(data[:len(data) // 2])
    assert _error(good).startswith("damaged file")


def test_bit_flips_give_clear_errors_or_load(good):
    # Isolated, as the window and command line load: some flips make libhdf5 hang.
    data = bytearray(good.read_bytes())
    outcomes = set()
    for pos in range(0, len(data), len(data) // 24):
        flipped = bytearray(data)
        flipped[pos] ^= 0xFF
        good.write_bytes(bytes(flipped))
        try:
            load(good, isolate=True)
            outcomes.add("loaded")
        except FileFormatError as exc:
            assert str(exc).startswith(str(good) + ": ")
            outcomes.add("error")
    assert "error" in outcomes


def test_isolated_load_reports_a_hang(good):
    with pytest.raises(FileFormatError, match=r"good.h5: damaged file \(reading it did not finish"):
        probe.check_in_child(str(good), timeout=0.001)


def test_isolated_load_reports_a_crash(good, monkeypatch):
    crash = [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"]
    real_run = subprocess.run
    monkeypatch.setattr(subprocess, "run", lambda cmd, **kw: real_run(crash, **kw))
    with pytest.raises(FileFormatError, match=r"good.h5: damaged file \(the HDF5 library crashed "
                                              r"reading it: SIGSEGV\)"):
        load(good, isolate=True)


def test_isolated_load_passes_the_childs_message(good):
    _edit(good, lambda f: f["layers/fc"].attrs.__setitem__("kind", "Capsule"))
    with pytest.raises(FileFormatError, match=r"good.h5: unknown layer kind 'Capsule'"):
        load(good, isolate=True)


def test_other_hdf5_file(tmp_path):
    path = tmp_path / "keras.h5"
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = "2.3.1"
    assert _error(path).startswith("not a strata-net file")


def test_newer_format_version(good):
    _edit(good, lambda f: f.attrs.__setitem__("format_version", 2))
    assert _error(good) == ("written in format version 2, newer than this Strata reads (1); "
                            "update Strata")


def test_missing_kind(good):
    _edit(good, lambda f: f["layers/fc"].attrs.__delitem__("kind"))
    assert _error(good) == "layer 'fc' has no 'kind' attribute"


def test_an_attribute_over_the_text_limit_is_refused_before_it_is_read(good, monkeypatch):
    _edit(good, lambda f: f["layers/fc"].attrs.__setitem__("config", np.bytes_(b"{}" + b" " * 5000)))
    monkeypatch.setenv("STRATA_LIMITS", "text_bytes=4096")
    assert _error(good) == ("layer 'fc': attribute 'config' declares 5,002 bytes, over the limit "
                            "text_bytes=4k; if you trust the file, raise it with "
                            "--limit text_bytes=8k")


def test_unknown_kind(good):
    _edit(good, lambda f: f["layers/fc"].attrs.__setitem__("kind", "Capsule"))
    message = _error(good)
    assert message.startswith("unknown layer kind 'Capsule' (known kinds: Activation, Add,")


def test_prev_naming_no_layer(good):
    _edit(good, lambda f: f["layers/fc"].attrs.__setitem__("prev", ["ghost"]))
    assert _error(good) == "layer 'fc' reads from 'ghost', which is not a layer of this net"


def test_cycle(good):
    _edit(good, lambda f: f["layers/in"].attrs.__setitem__("prev", ["fc"]))
    assert _error(good) == ("layer 'in' reads from 'fc', which comes after it in layer_order "
                            "(the layers form a cycle or are out of order)")


def test_layer_order_mismatch(good):
    _edit(good, lambda f: f.attrs.__setitem__("layer_order", ["in"]))
    assert _error(good) == ("layer_order does not match the stored layers "
                            "(missing: none, not listed: ['fc'])")


def test_parameter_shape_against_config_and_input(good):
    def wrong_bias(f):
        del f["layers/fc/b"]
        f["layers/fc"].create_dataset("b", data=np.zeros(5, np.float32))
    _edit(good, wrong_bias)
    assert _error(good) == "layer 'fc': bias has 5 values for 3 units"


def test_weights_not_fitting_the_previous_layer(good):
    def wrong_w(f):
        del f["layers/fc/W"]
        f["layers/fc"].create_dataset("W", data=np.zeros((6, 3), np.float32))
    _edit(good, wrong_w)
    assert _error(good) == "layer 'fc' (Dense) expects 6 input features, gets shape (4,)"


def test_bad_config_json_and_keys(good):
    _edit(good, lambda f: f["layers/fc"].attrs.__setitem__("config", "{oops"))
    assert _error(good).startswith("layer 'fc': config is not valid JSON")
    _edit(good, lambda f: f["layers/fc"].attrs.__setitem__("config", '{"units": 3}'))
    assert _error(good).startswith("layer 'fc' (Dense): bad config:")


def test_soft_link_refused(good):
    def link(f):
        w = f["layers/fc/W"][()]
        f.create_dataset("elsewhere", data=w)
        del f["layers/fc/W"]
        f["layers/fc/W"] = h5py.SoftLink("/elsewhere")
    _edit(good, link)
    assert _error(good) == "/layers/fc/W is a soft link; links are refused"


def test_external_link_refused(good, tmp_path):
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["W"] = rand(4, 3)

    def link(f):
        del f["layers/fc/W"]
        f["layers/fc/W"] = h5py.ExternalLink(str(tmp_path / "other.h5"), "/W")
    _edit(good, link)
    assert _error(good) == "/layers/fc/W is an external link; links are refused"


def test_external_dataset_refused(good, tmp_path):
    raw = tmp_path / "weights.bin"
    rand(4, 3).tofile(raw)

    def external(f):
        del f["layers/fc/W"]
        f["layers/fc"].create_dataset("W", shape=(4, 3), dtype="f4", external=[(str(raw), 0, 48)])
    _edit(good, external)
    assert _error(good) == ("/layers/fc/W keeps its data in an external file; those are refused")


def test_virtual_dataset_refused(good, tmp_path):
    with h5py.File(tmp_path / "src.h5", "w") as f:
        f["W"] = rand(4, 3)

    def virtual(f):
        layout = h5py.VirtualLayout(shape=(4, 3), dtype="f4")
        layout[:] = h5py.VirtualSource(str(tmp_path / "src.h5"), "W", shape=(4, 3))
        del f["layers/fc/W"]
        f["layers/fc"].create_virtual_dataset("W", layout)
    _edit(good, virtual)
    assert _error(good) == "/layers/fc/W is a virtual dataset; those are refused"


def test_shape_bomb_refused_without_allocating(good):
    def bomb(f):
        del f["layers/fc/W"]
        f["layers/fc"].create_dataset("W", shape=(4, 3 * 10 ** 9), dtype="f4", chunks=(4, 1024))
    _edit(good, bomb)
    message = _error(good)
    assert message.startswith("/layers/fc/W declares shape (4, 3000000000) (48,000,000,000 bytes)")
    assert message.endswith("refused as a shape bomb")


def test_text_parameter_refused(good):
    def text(f):
        del f["layers/fc/b"]
        f["layers/fc"].create_dataset("b", data=["x", "y", "z"], dtype=h5py.string_dtype())
    _edit(good, text)
    assert _error(good).startswith("/layers/fc/b holds object")


def test_attributes_stored_as_bytes_are_read(good):
    def as_bytes(f):
        f.attrs["format"] = np.bytes_(b"strata-net")
        f.attrs["layer_order"] = np.array([b"in", b"fc"])
        f["layers/fc"].attrs["kind"] = np.bytes_(b"Dense")
    _edit(good, as_bytes)
    assert [layer.name for layer in load(good)] == ["in", "fc"]


def test_file_is_opened_read_only(good, h5py_modes):
    before = Path(good).read_bytes()
    os.chmod(good, 0o444)  # stops everyone but root...
    try:
        assert len(load(good)) == 2
    finally:
        os.chmod(good, 0o644)
    assert h5py_modes and set(h5py_modes) == {"r"}  # ...this stops root too
    assert Path(good).read_bytes() == before


@pytest.mark.parametrize("name", ["/conv1/Conv", "a/b", ".", "50%/x", "%2F"])
def test_layer_names_with_path_characters_round_trip(tmp_path, name):
    # ONNX exporters name nodes like "/conv1/Conv"; HDF5 reads "/" as a path.
    inp = Input(shape=(3,), name="in")
    net = Net([inp, Dense(inp, name=name, W=rand(3, 2)), Dense(inp, name="x", W=rand(3, 2))])
    save(net, tmp_path / "n.h5")
    back = load(tmp_path / "n.h5")
    assert [layer.name for layer in back] == ["in", name, "x"]
    np.testing.assert_array_equal(back[name].W, net[name].W)


def test_save_into_a_missing_folder_or_onto_a_folder(tmp_path):
    net = _net_of(EXAMPLES["Dense"]())
    with pytest.raises(StrataError, match="the folder .* does not exist"):
        save(net, tmp_path / "nope" / "n.h5")
    with pytest.raises(StrataError, match=": is a folder"):
        save(net, tmp_path)
