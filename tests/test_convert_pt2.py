"""torch.export .pt2 archives -> Strata nets, checked against PyTorch's stored outputs.

The fixtures (tests/fixtures/make_pt2.py, torch 2.13) store every node's
output of the exported graph. No torch here, and no pickle is ever loaded.
"""

from __future__ import annotations

import json
import os
import zipfile

import numpy as np
import pytest

from viewer.convert import convert, guess_format
from viewer.convert.pt2_model import build
from viewer.errors import ConversionError, FileFormatError
from viewer.net import load, save
from viewer.net.layers.base import evaluate

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")
NAMES = ("pt2_cnn", "pt2_seq", "pt2_encoder", "pt2_encoder_bf16")
FOLDED = {"arange", "embedding"}  # the encoder's positions: computed from stored values while converting


def _reference(name):
    with np.load(os.path.join(FIXTURES, name + ".npz"), allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


@pytest.mark.parametrize("name", NAMES)
def test_every_node_matches_pytorch(name):
    net, by_node = build(os.path.join(FIXTURES, name + ".pt2"))
    ref = _reference(name)
    values = evaluate(list(net), ref["input_0"])
    for i, node in enumerate(ref["layer_names"]):
        want = ref[f"output_{i}"]
        if str(node) in FOLDED and "encoder" in name:
            assert str(node) not in by_node
            continue
        got = values[by_node[str(node)]]
        assert got.shape == want.shape, node
        assert np.abs(got - want).max() / max(float(np.abs(want).max()), 1e-30) < 1e-5, node
    assert len(ref["layer_names"]) >= 15


def test_names_are_module_paths_and_node_names():
    net = convert(os.path.join(FIXTURES, "pt2_cnn.pt2"))
    names = [layer.name for layer in net]
    assert names[:6] == ["x", "stem", "relu", "layer1.0.conv1", "layer1.0.bn1", "layer1.0/relu_1"]
    assert {"layer1.1/add_1", "dw", "gap", "fc", "softmax"} <= set(names)
    assert net.input.output_shape == (3, 16, 16) and net.input.data_format == "channels_first"
    assert net["stem"].data_format == "channels_first"
    assert "torch 2.13" in net.source


def test_attention_is_its_steps_and_bfloat16_is_said():
    net = convert(os.path.join(FIXTURES, "pt2_encoder_bf16.pt2"))
    kinds = {layer.name: layer.kind for layer in net}
    assert kinds["front"] == "Conv1D" and kinds["down"] == "Conv1D" and net["down"].groups == 4
    steps = [name for name in kinds if name.startswith("scaled_dot_product_attention")]
    assert steps == ["scaled_dot_product_attention_keys_t", "scaled_dot_product_attention_scores",
                     "scaled_dot_product_attention_scaled", "scaled_dot_product_attention_weights",
                     "scaled_dot_product_attention"]
    assert net["scaled_dot_product_attention_scaled"].c[0] == np.float32(1 / np.sqrt(8))
    assert {"getitem", "getitem_1", "getitem_2"} <= set(kinds)  # chunk's three parts
    assert net.source.endswith("; 19 bfloat16 tensors widened to float32, computed in float32")
    assert net["front"].W.dtype == np.float32


def test_a_one_dimensional_aten_convolution_is_a_conv1d(tmp_path):
    members = _members("pt2_encoder.pt2")
    key = next(k for k in members if k.endswith("models/model.json"))
    program = json.loads(members[key])
    convs = [node for node in program["graph_module"]["graph"]["nodes"]
             if node["target"] == "torch.ops.aten.conv1d.default"]
    assert len(convs) == 2
    for node in convs:
        node["target"] = "torch.ops.aten.convolution.default"
        node["inputs"] += [{"name": "transposed", "arg": {"as_bool": False}},
                           {"name": "output_padding", "arg": {"as_ints": [0]}}]
    members[key] = json.dumps(program).encode()
    net = convert(_write(tmp_path, members))
    ref = _reference("pt2_encoder")
    np.testing.assert_allclose(net[-1](ref["input_0"]), ref[f"output_{len(ref['layer_names']) - 1}"], rtol=1e-5,
                               atol=1e-6)
    assert net["front"].kind == "Conv1D"


def test_symbolic_batch_runs_any_batch_and_round_trips(tmp_path):
    net = convert(os.path.join(FIXTURES, "pt2_seq.pt2"))
    ref = _reference("pt2_seq")
    save(net, tmp_path / "seq.h5")
    back = load(tmp_path / "seq.h5")
    one = ref["input_0"][:1]
    np.testing.assert_allclose(back[-1](one), ref[f"output_{len(ref['layer_names']) - 1}"][:1], rtol=1e-5,
                               atol=1e-7)
    assert back["reshape"].output_shape == (2, 6, 5)


def test_format_sniffed_from_content(tmp_path):
    renamed = tmp_path / "model.zip"
    renamed.write_bytes(_read("pt2_seq.pt2"))
    assert guess_format(renamed) == "pt2"
    assert len(convert(renamed)) == 16


# -- hostile and broken archives ------------------------------------------------------------

def _read(name):
    with open(os.path.join(FIXTURES, name), "rb") as fh:
        return fh.read()


def _members(name="pt2_seq.pt2"):
    with zipfile.ZipFile(os.path.join(FIXTURES, name)) as z:
        return {info.filename: z.read(info) for info in z.infolist()}


def _write(tmp_path, members, compression=zipfile.ZIP_STORED):
    path = tmp_path / "bad.pt2"
    with zipfile.ZipFile(path, "w", compression) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def _fails(path, match, error=FileFormatError):
    with pytest.raises(error, match=match) as info:
        convert(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_pickled_weights_are_refused(tmp_path):
    members = _members()
    key = "pt2_seq/data/weights/model_weights_config.json"
    config = json.loads(members[key])
    config["config"]["embed.weight"]["use_pickle"] = True
    members[key] = json.dumps(config).encode()
    _fails(_write(tmp_path, members), "tensor 'embed.weight' is stored as a pickle, which Strata never loads")


def test_old_archives_with_a_pickled_state_dict_are_refused(tmp_path):
    path = _write(tmp_path, {"serialized_exported_program.json": b"{}", "serialized_state_dict.pt": b"\x80\x02"})
    _fails(path, r"weights are a pickle \(serialized_state_dict.pt\)")


def test_path_traversal_is_refused(tmp_path):
    members = _members()
    members["pt2_seq/../../evil.sh"] = b"echo"
    _fails(_write(tmp_path, members), "points outside the archive")


def test_zip_bomb_is_refused_before_reading(tmp_path):
    members = _members()
    members["pt2_seq/data/weights/weight_0"] = b"\0" * (64 << 20)
    _fails(_write(tmp_path, members, zipfile.ZIP_DEFLATED), "zip bomb")


def test_huge_declared_shape_is_refused(tmp_path):
    members = _members()
    key = "pt2_seq/data/weights/model_weights_config.json"
    config = json.loads(members[key])
    config["config"]["embed.weight"]["tensor_meta"]["sizes"] = [{"as_int": 1 << 20}, {"as_int": 1 << 20}]
    members[key] = json.dumps(config).encode()
    _fails(_write(tmp_path, members), r"declares shape \[1048576, 1048576\]")
    config["config"]["embed.weight"]["tensor_meta"]["sizes"] = [{"as_int": 200}, {"as_int": 8}]
    members[key] = json.dumps(config).encode()
    _fails(_write(tmp_path, members), r"needs 6,400 bytes; its storage .* holds 640")


def test_truncated_and_damaged_archives(tmp_path):
    data = _read("pt2_seq.pt2")
    (tmp_path / "cut.pt2").write_bytes(data[: len(data) // 2])
    _fails(tmp_path / "cut.pt2", "not a readable zip archive|cannot read the archive")
    members = _members()
    members["pt2_seq/models/model.json"] = b'{"graph_module": '
    _fails(_write(tmp_path, members), "model.json is not valid JSON")
    members = _members()
    del members["pt2_seq/archive_format"]
    _fails(_write(tmp_path, members), "no archive_format member")


def test_unsupported_ops_are_listed(tmp_path):
    members = _members()
    key = "pt2_seq/models/model.json"
    program = json.loads(members[key])
    for node in program["graph_module"]["graph"]["nodes"]:
        if node["name"] == "gelu":
            node["target"] = "torch.ops.aten.special_bessel_j0.default"
    members[key] = json.dumps(program).encode()
    _fails(_write(tmp_path, members), r"cannot convert 1 op\(s\): aten.special_bessel_j0.default \(gelu\)",
           error=ConversionError)


def test_damaged_program_json_gives_one_line_errors(tmp_path):
    """Values of the program and tensor tables replaced at random: one StrataError line each."""
    import random

    from viewer.errors import StrataError

    rnd = random.Random(3)
    members = _members()
    keys = ("pt2_seq/models/model.json", "pt2_seq/data/weights/model_weights_config.json")

    def places(obj, path=()):
        if isinstance(obj, (dict, list)):
            for k, v in (obj.items() if isinstance(obj, dict) else enumerate(obj)):
                yield from places(v, path + (k,))
        if path:
            yield path

    for _ in range(60):
        key = rnd.choice(keys)
        obj = json.loads(members[key])
        chosen = rnd.sample(list(places(obj)), 2)
        for path in chosen:
            parent = obj
            try:
                for k in path[:-1]:
                    parent = parent[k]
                parent[path[-1]] = rnd.choice([None, 7, -1, 1 << 40, "x", [], {}, {"as_int": 3}, True])
            except (KeyError, IndexError, TypeError):
                pass  # an earlier change removed this place
        damaged = dict(members)
        damaged[key] = json.dumps(obj).encode()
        path = _write(tmp_path, damaged)
        try:
            convert(path)
        except StrataError as exc:
            assert "\n" not in str(exc) and str(path) in str(exc)
