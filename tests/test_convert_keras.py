"""Keras converter: every fixture layer against Keras' own outputs, the traps, bad files.

The fixtures (tests/fixtures, made by make_keras1/2/3.py in their own virtual
environments) hold each model file and what Keras computed for every layer.
Only numpy and h5py are needed here.
"""

from __future__ import annotations

import gzip
import shutil
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest

from viewer.convert import convert, guess_format
from viewer.convert.reference import compare
from viewer.errors import ConversionError, FileFormatError, StrataError

FIXTURES = Path(__file__).parent / "fixtures"
MODELS = sorted(p for p in FIXTURES.iterdir()
                if p.name.startswith("keras") and p.suffix in (".h5", ".keras")
                and (FIXTURES / f"{p.stem}.npz").exists())


def check_against_keras(net, npz: Path) -> None:
    result = compare(net, npz)
    assert not result.problems, result.problems
    bad = {k: v for k, v in result.errors.items() if v > 1e-5}
    assert not bad, f"layers off by more than 1e-5 relative: {bad}"
    # Every layer is checked: the only extras are the linear parts of layers
    # with a built-in activation.
    assert all(name.endswith("_linear") for name in result.unmatched), result.unmatched


@pytest.mark.parametrize("model", MODELS, ids=lambda p: p.name)
def test_every_layer_equals_keras(model: Path) -> None:
    net = convert(model)
    check_against_keras(net, FIXTURES / f"{model.stem}.npz")


def test_fixtures_cover_every_keras_version() -> None:
    names = {m.name for m in MODELS}
    assert {n for n in names if n.startswith("keras1_")} and {n for n in names if n.startswith("keras2_")}
    assert "keras3_cnn.keras" in names and "keras3_cnn.h5" in names


def test_layer_names_split_over_chunked_attributes(tmp_path: Path) -> None:
    model = tmp_path / "chunked.h5"
    with gzip.open(FIXTURES / "keras2_theano_chunked.h5.gz") as src, open(model, "wb") as dst:
        shutil.copyfileobj(src, dst)
    with h5py.File(model, "r") as f:
        assert "layer_names" not in f["model_weights"].attrs
        assert "layer_names1" in f["model_weights"].attrs
    net = convert(model)
    assert len(net) == 72
    check_against_keras(net, FIXTURES / "keras2_theano_chunked.npz")


# -- the traps ------------------------------------------------------------------------

def test_keras1_backend_is_inferred_from_weight_names() -> None:
    net = convert(FIXTURES / "keras1_theano_merge.h5")  # 1-D convs only: no "th" anywhere
    assert "theano backend, inferred" in net.source


def test_theano_kernels_are_flipped_tensorflow_ones_are_not() -> None:
    theano = convert(FIXTURES / "keras1_theano_th_cnn.h5")
    tensorflow = convert(FIXTURES / "keras1_theano_th_cnn.h5", keras_backend="tensorflow")
    np.testing.assert_array_equal(theano["conv_a_linear"].W, tensorflow["conv_a_linear"].W[:, :, ::-1, ::-1])
    assert "as given" in tensorflow.source
    # The same file read as TensorFlow's no longer matches what Theano computed.
    result = compare(tensorflow, FIXTURES / "keras1_theano_th_cnn.npz")
    assert result.errors["conv_a"] > 1e-2


def test_flatten_after_channels_first_follows_the_keras_version() -> None:
    new = convert(FIXTURES / "keras2_theano_flatten.h5")
    assert new["flat_cf"].config() == {"data_format": "channels_first", "order": "channels_last"}
    assert new["flat_cl"].config()["order"] == new["flat_cl"].config()["data_format"]
    old = convert(FIXTURES / "keras2_1_5_theano_flatten.h5")
    assert old["flat"].config() == {"data_format": "channels_first", "order": "channels_first"}


def test_hard_sigmoid_differs_between_keras_2_and_3() -> None:
    k2 = convert(FIXTURES / "keras2_theano_conv1d.h5")
    assert k2["out"].config()["slope"] == pytest.approx(0.2)
    k3 = convert(FIXTURES / "keras3_rnn.keras")
    assert k3["lstm"].config()["recurrent_activation"]["slope"] == pytest.approx(1 / 6)
    k1 = convert(FIXTURES / "keras1_theano_rnn.h5")
    assert k1["lstm"].config()["recurrent_activation"]["slope"] == pytest.approx(0.2)


def test_keras1_per_gate_lstm_weights_and_batchnorm_variance() -> None:
    with h5py.File(FIXTURES / "keras1_theano_rnn.h5", "r") as f:
        assert len(f["model_weights/lstm"].attrs["weight_names"]) == 12
    with h5py.File(FIXTURES / "keras1_theano_th_cnn.h5", "r") as f:
        running_std = f["model_weights/bn_a/bn_a_running_std"][()]
    net = convert(FIXTURES / "keras1_theano_th_cnn.h5")
    np.testing.assert_array_equal(net["bn_a"].var, running_std)  # it holds the variance


def test_gru_reset_after_and_classic_gru() -> None:
    net = convert(FIXTURES / "keras2_theano_rnn.h5")
    assert net["gru_ra"].reset_after and not net["gru"].reset_after


def test_text_attributes_as_bytes_or_str(tmp_path: Path) -> None:
    model = tmp_path / "flipped.h5"
    shutil.copy(FIXTURES / "keras2_theano_merge.h5", model)
    with h5py.File(model, "a") as f:  # Keras 2.3.1 wrote str; write bytes instead
        for key in ("model_config", "keras_version", "backend"):
            value = f.attrs[key]
            f.attrs[key] = np.bytes_(value.encode() if isinstance(value, str) else value)
        names = f["model_weights"].attrs["layer_names"]
        f["model_weights"].attrs["layer_names"] = np.array([n.encode() for n in names], dtype="S")
    check_against_keras(convert(model), FIXTURES / "keras2_theano_merge.npz")


def test_keras_file_guessed_whatever_its_extension(tmp_path: Path) -> None:
    renamed = tmp_path / "model.bin"
    shutil.copy(FIXTURES / "keras3_cnn.keras", renamed)
    assert guess_format(renamed) == "keras"
    assert len(convert(renamed)) == len(convert(FIXTURES / "keras3_cnn.keras"))


# -- refusals and bad files -----------------------------------------------------------

@pytest.mark.parametrize("model", ["keras2_theano_lambda.h5", "keras3_lambda.keras"])
def test_lambda_and_custom_layers_are_all_refused_by_name(model: str) -> None:
    with pytest.raises(ConversionError) as info:
        convert(FIXTURES / model)
    text = str(info.value)
    assert text.startswith(str(FIXTURES / model))
    assert "2 layers" in text and "'triple' (Lambda" in text and "'my_scale' (Scale" in text
    assert "never run" in text


def _broken(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_truncated_file(tmp_path: Path) -> None:
    data = (FIXTURES / "keras2_theano_rnn.h5").read_bytes()
    path = _broken(tmp_path, "cut.h5", data[: len(data) // 2])
    with pytest.raises(FileFormatError, match="cut.h5"):
        convert(path)


def test_random_bytes(tmp_path: Path) -> None:
    path = _broken(tmp_path, "noise.h5", np.random.default_rng(0).bytes(4096))
    with pytest.raises(FileFormatError, match="noise.h5: not a format"):
        convert(path)


def test_zip_renamed_h5(tmp_path: Path) -> None:
    path = tmp_path / "archive.h5"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("readme.txt", "hello")
    with pytest.raises(FileFormatError, match="zip archive that is not a Keras 3"):
        convert(path)
    with pytest.raises(FileFormatError, match="no config.json"):
        convert(path, source_format="keras")


def test_empty_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileFormatError, match="empty file"):
        convert(_broken(tmp_path, "empty.h5", b""))
    with pytest.raises(FileFormatError, match="no such file"):
        convert(tmp_path / "nothing.h5")


def _edit_copy(tmp_path: Path, edit) -> Path:
    path = tmp_path / "edited.h5"
    shutil.copy(FIXTURES / "keras2_theano_merge.h5", path)
    with h5py.File(path, "a") as f:
        edit(f)
    return path


def test_soft_link_instead_of_weights(tmp_path: Path) -> None:
    def edit(f):
        del f["model_weights/da/da/kernel"]
        f["model_weights/da/da"]["kernel"] = h5py.SoftLink("/model_weights/db/db/kernel")
    with pytest.raises(FileFormatError, match="soft link; links are refused"):
        convert(_edit_copy(tmp_path, edit))


def test_external_dataset(tmp_path: Path) -> None:
    (tmp_path / "secret.bin").write_bytes(np.zeros(24, np.float32).tobytes())

    def edit(f):
        del f["model_weights/da/da/kernel"]
        f["model_weights/da/da"].create_dataset("kernel", shape=(6, 4), dtype="f4",
                                                external=[(str(tmp_path / "secret.bin"), 0, 96)])
    with pytest.raises(FileFormatError, match="external file; those are refused"):
        convert(_edit_copy(tmp_path, edit))


def test_shape_bomb(tmp_path: Path) -> None:
    def edit(f):
        del f["model_weights/da/da/kernel"]
        f["model_weights/da/da"].create_dataset("kernel", shape=(200_000, 100_000), dtype="f4",
                                                chunks=(1, 1000))
    with pytest.raises(FileFormatError, match="shape bomb"):
        convert(_edit_copy(tmp_path, edit))


def test_config_that_is_not_json(tmp_path: Path) -> None:
    def edit(f):
        f.attrs["model_config"] = "{'class_name': 'Sequential'"
    with pytest.raises(FileFormatError, match="model_config is not valid JSON"):
        convert(_edit_copy(tmp_path, edit))


def test_weights_only_file(tmp_path: Path) -> None:
    def edit(f):
        for key in ("model_config", "keras_version", "backend"):
            del f.attrs[key]
        f.attrs["layer_names"] = f["model_weights"].attrs["layer_names"]
    with pytest.raises(FileFormatError, match="weights only"):
        convert(_edit_copy(tmp_path, edit))


def test_weights_that_do_not_fit_the_config(tmp_path: Path) -> None:
    def edit(f):
        del f["model_weights/da/da/kernel"]
        f["model_weights/da/da/kernel"] = np.zeros((7, 4), np.float32)
    with pytest.raises(StrataError, match="edited.h5"):
        convert(_edit_copy(tmp_path, edit))


def test_keras3_zip_bomb_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bomb.keras"
    with zipfile.ZipFile(FIXTURES / "keras3_merge.keras") as src, \
            zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            if item.filename != "model.weights.h5":
                dst.writestr(item.filename, src.read(item.filename))
        dst.writestr("model.weights.h5", b"\0" * (64 << 20))
    with pytest.raises(FileFormatError, match="zip bomb"):
        convert(path)


def test_options_that_do_not_apply_are_refused() -> None:
    with pytest.raises(ConversionError, match="do not apply to keras"):
        convert(FIXTURES / "keras3_merge.keras", trust_pickle=True)


@pytest.mark.parametrize("model", ["keras3_merge.keras", "keras3_rnn.keras"])
def test_keras3_weights_found_without_recorded_layer_names(model: str, tmp_path: Path) -> None:
    """Keras 3 files whose variable groups carry no layer name (older 3.x) match by class."""
    path = tmp_path / model
    with zipfile.ZipFile(FIXTURES / model) as src, zipfile.ZipFile(path, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "model.weights.h5":
                weights = tmp_path / "w.h5"
                weights.write_bytes(data)
                with h5py.File(weights, "a") as f:
                    groups = []
                    f.visititems(lambda name, obj: groups.append(obj) if isinstance(obj, h5py.Group) else None)
                    for group in groups:
                        group.attrs.pop("name", None)
                    assert not any("name" in g.attrs for g in groups)
                data = weights.read_bytes()
            dst.writestr(item.filename, data)
    check_against_keras(convert(path), FIXTURES / model.replace(".keras", ".npz"))
