"""Hostile files: budgets, the child-process check of every HDF5 read, one-line errors.

Each test builds the damaged or hostile file it needs from a good one, and
checks the exact error (one line naming the file and the problem), or that
the window keeps ticking and keeps its net while such a file is checked.
"""

import importlib.util
import os
import pathlib
import struct
import subprocess
import sys
import zipfile

import h5py
import numpy as np
import pytest

from viewer import limits
from viewer.convert import convert
from viewer.data import open_samples
from viewer.errors import ConversionError, FileFormatError, SampleError, StrataError
from viewer.net import load, save
from viewer.writing import remove_stale_parts

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
CNN = os.path.join(ROOT, "resources", "demo", "digits_cnn.h5")


def run_cli(*args, env=None):
    done = subprocess.run([sys.executable, os.path.join(ROOT, "main.py"), *args], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=120)
    return done.returncode, done.stdout, done.stderr.strip().splitlines()


def hanging_keras(tmp_path):
    """A Keras 2 .h5 with 4 KB of an object header zeroed: libhdf5 spins forever reading it."""
    data = bytearray(pathlib.Path(os.path.join(FIXTURES, "keras2_theano_cl_cnn.h5")).read_bytes())
    data[5326:5326 + 4096] = bytes(4096)
    path = tmp_path / "spins.h5"
    path.write_bytes(data)
    return path


@pytest.fixture
def quick_check(monkeypatch):
    """The child check gives up after 3 s instead of 15 s."""
    monkeypatch.setenv(limits.ENV, "check_seconds=3")


# ---- limits -------------------------------------------------------------------------------------

def test_limit_values_parse_and_unknown_names_are_refused(monkeypatch):
    assert limits.parse_value("512M") == 512 << 20
    assert limits.parse_value("2.5k") == 2560
    monkeypatch.setenv(limits.ENV, "")
    limits.apply(["fold_bytes=1G", "image_pixels=1000"])
    assert limits.get("fold_bytes") == 1 << 30 and limits.get("image_pixels") == 1000
    assert os.environ[limits.ENV] == "fold_bytes=1073741824,image_pixels=1000"  # for child processes
    with pytest.raises(StrataError, match="expected NAME=VALUE"):
        limits.apply(["no_such_limit=3"])
    with pytest.raises(StrataError, match="not a number"):
        limits.apply(["fold_bytes=lots"])


def test_a_limit_message_says_how_to_raise_it():
    with pytest.raises(limits.LimitExceeded) as e:
        limits.check("image_pixels", 100_000_000, "image of 10000x10000 pixels")
    assert str(e.value) == ("image of 10000x10000 pixels, over the limit image_pixels=64000000; "
                            "if you trust the file, raise it with --limit image_pixels=128000000")


def test_raising_a_limit_on_the_command_line_lets_the_file_through(tmp_path):
    from PIL import Image
    path = tmp_path / "big.png"
    Image.new("L", (300, 300)).save(path)
    args = ["export", CNN, "--samples", str(path), "--layer", "-1", "--sample", "0",
            "-o", str(tmp_path / "a.npy")]
    code, _, err = run_cli(*args, env={limits.ENV: "image_pixels=50000"})
    assert code == 2 and len(err) == 1
    assert err[0] == (f"error: {path}: image of 300x300 pixels, over the limit image_pixels=50000; "
                      f"if you trust the file, raise it with --limit image_pixels=112500")
    code, out, err = run_cli(*args, "--limit", "image_pixels=112500", env={limits.ENV: "image_pixels=50000"})
    assert code == 0 and "wrote" in out


# ---- the child-process check --------------------------------------------------------------------

def test_a_keras_file_that_hangs_hdf5_gives_an_error(tmp_path, quick_check):
    path = hanging_keras(tmp_path)
    with pytest.raises(FileFormatError) as e:
        convert(str(path))
    assert str(e.value) == (f"{path}: damaged file (reading it did not finish in 3 s; if it is "
                            f"only large and slow, raise --limit check_seconds)")


def test_a_samples_file_that_hangs_hdf5_gives_an_error(tmp_path, quick_check):
    from fuzz.seeds import make_sample_seeds
    path = tmp_path / "spins.h5"
    data = bytearray(pathlib.Path(make_sample_seeds(str(tmp_path / "seeds"))["hdf5"]).read_bytes())
    data[9216:9216 + 4096] = bytes(len(data[9216:9216 + 4096]))
    path.write_bytes(data)
    with pytest.raises(SampleError) as e:
        open_samples(str(path))
    assert str(e.value).startswith(f"{path}: damaged file (reading it did not finish")


def damaged_samples_net(tmp_path):
    """The demo CNN with its /samples/X chunks damaged (the layers are fine)."""
    path = tmp_path / "net.h5"
    net = load(CNN)
    with h5py.File(CNN) as f:
        X, labels = f["samples/X"][()], f["samples/labels"][()]
    save(net, path, samples={"X": X, "labels": labels, "layout": "channels_first"})
    with h5py.File(path, "r+") as f:
        del f["samples/X"]
        ds = f["samples"].create_dataset("X", data=X, chunks=(60, 1, 8, 8), compression="gzip")
        offset = ds.id.get_chunk_info(3).byte_offset
    data = bytearray(path.read_bytes())
    data[offset:offset + 40] = bytes(range(40))
    path.write_bytes(data)
    return path


def test_a_net_whose_samples_are_damaged_gives_one_line(tmp_path):
    path = damaged_samples_net(tmp_path)
    code, _, err = run_cli("export", str(path), "--layer", "-1", "--sample", "300", "-o",
                           str(tmp_path / "a.npy"))
    assert code == 2 and len(err) == 1
    assert err[0].startswith(f"error: {path}: ") and "/samples/X" in err[0]
    with pytest.raises(FileFormatError):
        load(path, isolate=True)


# ---- error boundaries and budgets per reader ----------------------------------------------------

def keras_zip_with(tmp_path, patch):
    path = tmp_path / "model.keras"
    data = bytearray(pathlib.Path(os.path.join(FIXTURES, "keras3_cnn.keras")).read_bytes())
    patch(data)
    path.write_bytes(data)
    return path


def _every_header(data, sig, at, value=None, bit=None):
    i = data.find(sig)
    while i >= 0:
        if value is not None:
            data[i + at:i + at + 2] = struct.pack("<H", value)
        else:
            data[i + at] |= bit
        i = data.find(sig, i + 4)


def test_keras_zip_with_unknown_compression_or_encryption(tmp_path):
    method = keras_zip_with(tmp_path, lambda d: (_every_header(d, b"PK\x03\x04", 8, 99),
                                                 _every_header(d, b"PK\x01\x02", 10, 99)))
    with pytest.raises(FileFormatError) as e:
        convert(str(method))
    assert str(e.value) == (f"{method}: damaged file (NotImplementedError: That compression "
                            f"method is not supported)")
    secret = keras_zip_with(tmp_path, lambda d: (_every_header(d, b"PK\x03\x04", 6, bit=1),
                                                 _every_header(d, b"PK\x01\x02", 8, bit=1)))
    with pytest.raises(FileFormatError, match=f"^{secret}: damaged file \\(RuntimeError: File "
                                              f".config.json. is encrypted"):
        convert(str(secret))


@pytest.mark.parametrize("bad", [True, [True], 7, "x"])
def test_keras_config_values_of_the_wrong_type(tmp_path, bad):
    import json
    path = tmp_path / "model.keras"
    with zipfile.ZipFile(os.path.join(FIXTURES, "keras3_cnn.keras")) as src, \
            zipfile.ZipFile(path, "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            if name == "config.json":
                config = json.loads(data)
                config["config"]["layers"] = bad
                data = json.dumps(config).encode()
            dst.writestr(name, data)
    with pytest.raises(StrataError) as e:
        convert(str(path))
    assert str(e.value).startswith(f"{path}: ") and "\n" not in str(e.value)


def test_npz_zip_bomb_and_broken_deflate(tmp_path):
    bomb = tmp_path / "bomb.npz"
    np.savez_compressed(bomb, X=np.zeros((40_000, 1, 8, 8), np.float64))  # 20 MB of zeros
    with pytest.raises(SampleError) as e:
        open_samples(str(bomb))
    assert str(e.value).startswith(f"{bomb}: member X.npy unpacks to 20,480,128 bytes from ")
    assert "refused as a zip bomb, over the limit unpack_ratio=100" in str(e.value)
    broken = tmp_path / "broken.npz"
    np.savez_compressed(broken, X=np.arange(4000, dtype=np.float64).reshape(10, 1, 20, 20))
    data = bytearray(broken.read_bytes())
    data[30 + data[26] + 40] ^= 0xFF
    broken.write_bytes(data)
    with pytest.raises(SampleError, match=f"^{broken}: "):
        open_samples(str(broken)).batch([0])


def npy_with_header(tmp_path, header: bytes, version=1):
    path = tmp_path / "x.npy"
    size = struct.pack("<H" if version == 1 else "<I", len(header))
    path.write_bytes(b"\x93NUMPY" + bytes([version, 0]) + size + header + bytes(64))
    return path


@pytest.mark.parametrize("header, problem", [
    (b"{'descr': '<f4', 'fortran_order': False, 'shape': (-5, 8), }\n", "negative sizes"),
    (b"{'descr': '<f4', 'fortran_order': False, 'shape': (5, \n", "not a numpy .npy array"),
    (b"not a dict at all\n", "not a numpy .npy array"),
])
def test_npy_headers_that_lie(tmp_path, header, problem):
    path = npy_with_header(tmp_path, header)
    with pytest.raises(SampleError) as e:
        open_samples(str(path))
    assert str(e.value).startswith(f"{path}: ") and problem in str(e.value)


def test_npy_header_declaring_4_gb_is_refused_before_reading(tmp_path):
    path = tmp_path / "x.npy"
    path.write_bytes(b"\x93NUMPY\x02\x00" + struct.pack("<I", 0xFFFFFFF0) + bytes(100))
    with pytest.raises(SampleError) as e:
        open_samples(str(path))
    assert str(e.value) == (f"{path}: the .npy header declares 4,294,967,280 bytes, over the limit "
                            f"header_bytes=64k; if you trust the file, raise it with "
                            f"--limit header_bytes=5G")


def test_long_label_names_are_shortened(tmp_path):
    path = tmp_path / "s.h5"
    with h5py.File(path, "w") as f:
        f["X"] = np.zeros((3, 8, 8), np.uint8)
        f["labels"] = np.array([0, 1, 1])
        f.create_dataset("label_names", data=["a" * 200_000, "b"], dtype=h5py.string_dtype())
    names = open_samples(str(path)).label_names
    assert names == ["a" * 199 + "…", "b"]


def onnx_fold_bomb(tmp_path, op, n):
    import onnx
    from onnx import helper, numpy_helper
    model = onnx.load(os.path.join(FIXTURES, "onnx_cnn_op17.onnx"))
    graph = model.graph
    graph.initializer.extend([numpy_helper.from_array(np.ones((n, 1), np.float32), "a"),
                              numpy_helper.from_array(np.ones((1, n), np.float32), "b")])
    graph.node.insert(0, helper.make_node(op, ["a", "b"], ["big"]))
    graph.node.insert(1, helper.make_node("Shape", ["big"], ["big_shape"]))
    graph.output.append(helper.make_tensor_value_info("big_shape", 7, None))
    path = tmp_path / "bomb.onnx"
    onnx.save(model, path)
    return path


@pytest.mark.parametrize("op", ["Add", "MatMul", "Mul"])
def test_onnx_folding_is_budgeted_before_it_allocates(tmp_path, op):
    path = onnx_fold_bomb(tmp_path, op, 40_000)  # (40000, 40000) float32: 6.4 GB
    with pytest.raises(ConversionError) as e:
        convert(str(path))
    assert str(e.value) == (f"{path}: folding a constant {op} would make 6,400,000,000 bytes, over "
                            f"the limit fold_bytes=256M; if you trust the file, raise it with "
                            f"--limit fold_bytes=7.45G")


def test_onnx_folding_total_is_budgeted(tmp_path, monkeypatch):
    path = onnx_fold_bomb(tmp_path, "Add", 3000)  # 36 MB per fold
    monkeypatch.setenv(limits.ENV, "fold_bytes=40M,fold_total=20M")
    with pytest.raises(ConversionError, match="folding constants would make 36,000,000 bytes in all"):
        convert(str(path))


@pytest.mark.parametrize("offset", ["abc", "-5", "0x10", "1e3"])
def test_onnx_external_data_offsets_must_be_decimal(tmp_path, offset):
    import onnx
    import shutil
    shutil.copy(os.path.join(FIXTURES, "onnx_cnn_op20.onnx.data"), tmp_path)
    model = onnx.load(os.path.join(FIXTURES, "onnx_cnn_op20.onnx"), load_external_data=False)
    tensor = next(t for t in model.graph.initializer if t.external_data)
    next(e for e in tensor.external_data if e.key == "offset").value = offset
    path = tmp_path / "onnx_cnn_op20.onnx"
    onnx.save(model, path)
    with pytest.raises(FileFormatError) as e:
        convert(str(path))
    assert str(e.value) == (f"{path}: tensor {tensor.name!r}'s external data 'onnx_cnn_op20.onnx.data': "
                            f"offset {offset!r} is not a whole number of bytes")


def test_onnx_external_data_location_with_a_nul_names_the_file(tmp_path):
    import onnx
    model = onnx.load(os.path.join(FIXTURES, "onnx_cnn_op20.onnx"), load_external_data=False)
    tensor = next(t for t in model.graph.initializer if t.external_data)
    next(e for e in tensor.external_data if e.key == "location").value = "nul\x00l"
    path = tmp_path / "model.onnx"
    onnx.save(model, path)
    with pytest.raises(FileFormatError) as e:
        convert(str(path))
    assert str(e.value) == (f"{path}: tensor {tensor.name!r}'s external data 'nul\\x00l' is not a "
                            "file name (it holds a NUL character); refused")


def test_onnx_node_with_an_empty_required_input_names_the_file(tmp_path):
    import onnx
    model = onnx.load(os.path.join(FIXTURES, "onnx_cnn_op17.onnx"))
    conv = next(n for n in model.graph.node if n.op_type == "Conv")
    conv.input[1] = ""
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    with pytest.raises(StrataError) as e:
        convert(str(path))
    assert str(e.value).startswith(f"{path}: ") and "\n" not in str(e.value)


def test_a_layer_too_large_per_sample_is_refused_at_load(tmp_path, monkeypatch):
    path = tmp_path / "net.h5"
    save(load(CNN), path)
    monkeypatch.setenv(limits.ENV, "layer_bytes=1k")
    with pytest.raises(FileFormatError) as e:
        load(path)
    assert str(e.value) == (f"{path}: layer 'conv1' would output 4,096 bytes per sample (shape "
                            f"(16, 8, 8)), over the limit layer_bytes=1k; if you trust the file, "
                            f"raise it with --limit layer_bytes=5k")


# ---- leftovers ----------------------------------------------------------------------------------

def test_parts_of_dead_writers_are_removed_on_the_next_write(tmp_path):
    target = tmp_path / "out.h5"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    stale = tmp_path / f"out.h5.{dead}.part"
    live = tmp_path / f"out.h5.{os.getppid()}.part"  # a writer still running
    other = tmp_path / f"other.h5.{dead}.part"
    for p in (stale, live, other):
        p.write_bytes(b"half a file")
    save(load(CNN), target)
    assert not stale.exists() and live.exists() and other.exists()
    assert sorted(os.listdir(tmp_path)) == sorted(["out.h5", live.name, other.name])
    remove_stale_parts(str(tmp_path / "other.h5"))
    assert not other.exists()


def test_forked_and_spawned_checks_agree(tmp_path, monkeypatch):
    from viewer.net import probe
    path = damaged_samples_net(tmp_path)
    messages = []
    for fork in (True, False):
        monkeypatch.setattr(probe, "_may_fork", lambda: fork)
        with pytest.raises(FileFormatError) as e:
            probe.check_in_child(str(path), "net")
        messages.append(str(e.value))
    assert messages[0] == messages[1] and messages[0].startswith(f"{path}: ")
    probe.check_in_child(CNN, "net")  # a good file passes both ways
    monkeypatch.setattr(probe, "_may_fork", lambda: True)
    probe.check_in_child(CNN, "net")


def test_onnx_input_of_absurd_size_gives_one_line(tmp_path):
    import onnx
    model = onnx.load(os.path.join(FIXTURES, "onnx_cnn_op17.onnx"))
    model.graph.input[0].type.tensor_type.shape.dim[1].dim_value = 1 << 44
    path = tmp_path / "wide.onnx"
    onnx.save(model, path)
    with pytest.raises(StrataError) as e:
        convert(str(path))
    assert str(e.value).startswith(f"{path}: ") and "\n" not in str(e.value)


def test_a_truncated_onnx_file_says_it_may_be_damaged_on_the_command_line(tmp_path):
    whole = pathlib.Path(FIXTURES, "onnx_cnn_op17.onnx").read_bytes()
    path = tmp_path / "cut.onnx"
    path.write_bytes(whole[:len(whole) // 2])
    code, _, err = run_cli("info", str(path))
    assert code == 2
    assert err == [f"error: {path}: not an ONNX model, or a truncated or damaged one "
                   "(protobuf cannot parse it: DecodeError)"]


def test_pt2_tensor_spread_over_zero_strides_is_refused_before_allocating(tmp_path, monkeypatch):
    """32 stored bytes viewed as a 16384 x 16384 float32 tensor: 1 GB from nothing (found by the fuzzer)."""
    import json
    with zipfile.ZipFile(os.path.join(FIXTURES, "pt2_seq.pt2")) as z:
        members = {n: z.read(n) for n in z.namelist()}
    key = "pt2_seq/data/weights/model_weights_config.json"
    table = json.loads(members[key])
    meta = table["config"]["norm.weight"]["tensor_meta"]
    meta["sizes"] = [{"as_int": 1 << 14}, {"as_int": 1 << 14}]
    meta["strides"] = [{"as_int": 0}, {"as_int": 0}]
    members[key] = json.dumps(table).encode()
    path = tmp_path / "spread.pt2"
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    with pytest.raises(FileFormatError) as e:
        convert(str(path))
    assert str(e.value) == (f"{path}: tensor 'norm.weight' of shape [16384, 16384] spreads 32 stored "
                            f"bytes over 1,073,741,824 (strides [0, 0], 33554432 times), over the limit "
                            f"unpack_ratio=100; if you trust the file, raise it with "
                            f"--limit unpack_ratio=41943040")
    monkeypatch.setenv(limits.ENV, "unpack_ratio=41943040")  # trusted: the reader goes on, the layer refuses
    with pytest.raises(ConversionError, match="gamma has shape"):
        convert(str(path))


@pytest.mark.parametrize("damage", ["deflate", "lzma"])
def test_pt2_with_a_damaged_compressed_stream_gives_one_line(tmp_path, damage):
    """zlib.error and LZMAError escaped the .pt2 reader (found by the fuzzer, seed 11, cases 958, 788)."""
    path = tmp_path / "damaged.pt2"
    with zipfile.ZipFile(os.path.join(FIXTURES, "pt2_seq.pt2")) as src, \
            zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for name in src.namelist():
            dst.writestr(name, src.read(name))
    data = bytearray(path.read_bytes())
    if damage == "lzma":  # every header of the stored archive says LZMA: its bytes are no LZMA stream
        data = bytearray(pathlib.Path(os.path.join(FIXTURES, "pt2_cnn.pt2")).read_bytes())
        for sig, at in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
            i = data.find(sig)
            while i >= 0:
                data[i + at:i + at + 2] = struct.pack("<H", zipfile.ZIP_LZMA)
                i = data.find(sig, i + 4)
        expected = "cannot read the archive (LZMAError: "
    else:
        with zipfile.ZipFile(path) as z:
            info = z.getinfo("pt2_seq/models/model.json")
        start = info.header_offset + 30 + len(info.filename.encode())
        data[start] = 0b111  # the first deflate block: final, of the reserved type 3
        expected = "cannot read the archive (error: Error -3 while decompressing data: invalid block type)"
    path.write_bytes(bytes(data))
    with pytest.raises(FileFormatError) as e:
        convert(str(path))
    assert str(e.value).startswith(f"{path}: {expected}") and "\n" not in str(e.value)


def test_the_child_check_runs_under_a_memory_cap(tmp_path, monkeypatch):
    """A check that would allocate far beyond check_bytes fails in the child, with the limit named."""
    from viewer.net import probe
    path = tmp_path / "x.h5"
    path.write_bytes(b"x")
    monkeypatch.setitem(probe.CHECKS, "greedy", "tests.test_hostile:_allocate_4_gb")
    monkeypatch.setattr(probe, "_may_fork", lambda: True)
    with pytest.raises(FileFormatError) as e:
        probe.check_in_child(str(path), "greedy")
    assert str(e.value) == (f"{path}: reading it needs more memory than the check_bytes limit "
                            f"(512M beyond twice the file's size) allows; if you trust the file, "
                            f"raise it with --limit check_bytes=1G")


def _allocate_4_gb(path):
    np.ones(1 << 29)  # 4 GB of float64


# ---- Lasagne/Theano ------------------------------------------------------------------------------

def test_lasagne_weights_npz_is_refused_with_how_to_convert_the_net(tmp_path):
    path = tmp_path / "weights.npz"
    np.savez(path, np.ones((4, 2, 3, 3), np.float32), np.zeros(4, np.float32))
    with pytest.raises(FileFormatError) as e:
        convert(str(path))
    assert str(e.value) == (f"{path}: an .npz holds weights only; build the Lasagne net in Python, load "
                            "the weights into it and pass the net to convert() (see the README)")


def test_a_pickle_is_refused_unread_and_a_trusted_one_without_theano_names_the_file(tmp_path):
    from fuzz.mutate_theano import canary_pickle
    path = tmp_path / "net.pkl"
    path.write_bytes(canary_pickle(str(tmp_path), protocol=2))
    with pytest.raises(ConversionError, match=f"^{path} is a pickle: loading it runs code"):
        convert(str(path))
    if importlib.util.find_spec("theano") is None:
        with pytest.raises(ConversionError) as e:
            convert(str(path), trust_pickle=True)
        assert str(e.value) == (f"{path}: converting Theano or Lasagne models needs Theano: run the "
                                "converter in the model's own environment (python -m viewer.convert ...)")
    assert sorted(os.listdir(tmp_path)) == ["net.pkl"]  # the canary never ran



def test_an_onnx_lstm_whose_biases_sum_to_nan_converts_without_a_warning(tmp_path):
    # inf + -inf in the input and recurrent biases: NaN, as onnxruntime computes it, and no
    # RuntimeWarning on stderr (warnings are errors in the tests).
    onnx = pytest.importorskip("onnx")
    from onnx import numpy_helper

    model = onnx.load(os.path.join(os.path.dirname(__file__), "fixtures", "onnx_rnn_op17.onnx"))
    lstm = next(node for node in model.graph.node if node.op_type == "LSTM")
    init = next(t for t in model.graph.initializer if t.name == lstm.input[3])
    B = numpy_helper.to_array(init).copy()
    B[0, 0], B[0, B.shape[1] // 2] = np.inf, -np.inf  # the same unit's Wb and Rb
    init.CopyFrom(numpy_helper.from_array(B, init.name))
    path = tmp_path / "nan_bias_lstm.onnx"
    onnx.save(model, path)
    net = convert(str(path))
    recurrent = [layer for layer in net if layer.kind == "LSTM"]
    assert recurrent and np.isnan(recurrent[0].params()["b"]).any()
