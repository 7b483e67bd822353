"""Structural mutations of torch.export ``.pt2`` archives.

A ``.pt2`` is a zip of ``<name>/models/model.json`` (the program),
``<name>/data/weights/model_weights_config.json`` (the tensor table) and one
raw storage member per tensor. The edits here damage each layer of that:
the zip itself, single members, the JSON (wrong types, huge declared
shapes and extents), member names (path traversal), bombs and pickles.
A pickled member is a canary: unpickled, it creates a file beside the
input, which the runner sees as ``wrote-input``.
"""

from __future__ import annotations

import json
import os
import random
import warnings
import zipfile

from fuzz.mutate_theano import canary_pickle
from fuzz.zips import patch_zip_headers, read_zip, rewrite_zip, zip_bomb

HUGE = [1 << 20, 1 << 31, 1 << 40, 1 << 62, 3_000_000_000]
TRAVERSAL = ["../escaped", "../../../etc/passwd", "/etc/passwd", "C:\\evil", "a\\..\\..\\b",
             "{p}data/weights/../../../../outside", "{p}../{p}models/model.json"]


def _prefix(members: dict[str, bytes]) -> str:
    """The folder every member sits in, with its trailing '/' ("" when there is none)."""
    name = next((n for n in members if n.endswith("archive_format")), "")
    return name[:-len("archive_format")]


def _load(members: dict[str, bytes], name: str):
    return json.loads(members[name])


def _tensor_entries(members: dict[str, bytes], prefix: str) -> tuple[str, dict]:
    name = f"{prefix}data/weights/model_weights_config.json"
    return name, _load(members, name)


def _edit_tensor(rng: random.Random, members: dict[str, bytes], prefix: str) -> str:
    """Lie in one tensor's table entry: extents, strides, dtype, storage name, pickle flag."""
    name, table = _tensor_entries(members, prefix)
    entries = table["config"]
    fqn = rng.choice(sorted(entries))
    entry = entries[fqn]
    meta = entry["tensor_meta"]
    roll = rng.randrange(8)
    if roll == 0:  # a huge extent over zero strides: tiny storage, a gigabyte view
        n = rng.choice([1 << 14, 1 << 16, 1 << 20])
        meta["sizes"] = [{"as_int": n}, {"as_int": n}]
        meta["strides"] = [{"as_int": 0}, {"as_int": 0}]
        what = f"{fqn} sizes {n}x{n} strides 0"
    elif roll == 1:
        k = rng.randrange(len(meta["sizes"]) or 1)
        if meta["sizes"]:
            meta["sizes"][k] = {"as_int": rng.choice(HUGE + [-1, 0])}
        what = f"{fqn} size {k}"
    elif roll == 2:
        if meta["strides"]:
            meta["strides"][rng.randrange(len(meta["strides"]))] = {"as_int": rng.choice(HUGE + [-1, -(1 << 40)])}
        what = f"{fqn} stride"
    elif roll == 3:
        meta["storage_offset"] = {"as_int": rng.choice(HUGE + [-1, -(1 << 62)])}
        what = f"{fqn} storage offset"
    elif roll == 4:
        meta["dtype"] = rng.choice([0, 9, 10, 13, 99, -1, "float32", None, 7.5, True])
        what = f"{fqn} dtype {meta['dtype']!r}"
    elif roll == 5:
        stored = rng.choice(TRAVERSAL + ["", ".", "weights"]).replace("{p}", prefix)
        entry["path_name"] = stored if rng.random() < 0.8 else rng.choice([7, None, ["weight_0"]])
        what = f"{fqn} path_name {entry['path_name']!r}"
    elif roll == 6:
        entry["use_pickle"] = rng.choice([True, 1, "yes"])
        what = f"{fqn} use_pickle"
    else:
        key = rng.choice(["sizes", "strides", "storage_offset"])
        meta[key] = rng.choice([{"as_sym_int": {"as_name": "s0"}}, [{"as_sym_int": "s0"}], [[1]], [1.5], "3",
                                [{"as_int": True}], [{"as_int": 1.0}], None])
        what = f"{fqn} {key} of the wrong type"
    members[name] = json.dumps(table).encode()
    return what


def _edit_program(rng: random.Random, members: dict[str, bytes], prefix: str) -> str:
    """Lie in model.json: tensor shapes the graph declares, op arguments, or anything at random."""
    from fuzz.mutate import mutate_json  # here: fuzz.mutate imports this module for its table
    name = f"{prefix}models/model.json"
    program = _load(members, name)
    graph = program["graph_module"]["graph"]
    roll = rng.randrange(4)
    if roll == 0:  # the user input declared huge: layer shapes follow it
        first = graph["inputs"][0]["as_tensor"]["name"] if graph.get("inputs") else None
        values = graph["tensor_values"]
        key = first if first in values else rng.choice(sorted(values))
        sizes = values[key]["sizes"]
        if sizes:
            sizes[rng.randrange(len(sizes))] = {"as_int": rng.choice([1 << 16, 1 << 24, 1 << 31, 0, -3])}
        what = f"tensor_values {key} sizes"
    elif roll == 1:  # an op's int-list argument (padding, view shape, dims) made hostile
        nodes = [n for n in graph["nodes"] if any("as_ints" in a.get("arg", {}) for a in n["inputs"])]
        if not nodes:
            return _edit_tensor(rng, members, prefix)
        node = rng.choice(nodes)
        arg = rng.choice([a for a in node["inputs"] if "as_ints" in a["arg"]])
        ints = arg["arg"]["as_ints"]
        if ints:
            ints[rng.randrange(len(ints))] = rng.choice(HUGE + [-1, -(1 << 31), 0])
        what = f"{node['target']} {arg['name']}"
    elif roll == 2:  # a node's target or argument kind swapped
        node = rng.choice(graph["nodes"])
        if rng.random() < 0.5:
            node["target"] = rng.choice(["torch.ops.aten.repeat.default", "torch.ops.aten.expand.default",
                                         "torch.ops.aten.upsample_nearest2d.vec", "builtins.eval",
                                         "torch.ops.aten.zeros.default", "", 7])
            what = f"target {node['target']!r}"
        else:
            arg = rng.choice(node["inputs"]) if node["inputs"] else {"arg": {}}
            arg["arg"] = rng.choice([{"as_tensor": {"name": "nowhere"}}, {"as_int": 1 << 40}, {"as_ints": []},
                                     {"as_float": "nan"}, {"as_tensors": [{"name": node.get("name", "")}]},
                                     {"as_graph": {}}, {"as_custom_obj": {"name": "x", "class_fqn": "os.system"}}])
            what = f"argument of {node['target']}"
    else:
        program = mutate_json(rng, program)
        what = "json edit"
    members[name] = json.dumps(program).encode()
    return f"model.json {what}"


def pt2_structure(rng: random.Random, paths: list[str]) -> str:
    """One structural edit of a ``.pt2`` archive."""
    roll = rng.randrange(13)
    if roll == 0:
        return patch_zip_headers(paths[0], rng.choice(["method", "flag"]), rng)
    members = read_zip(paths[0])
    prefix = _prefix(members)
    method = rng.choice([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
    if roll == 1:  # a bomb where the program or a tensor's storage should be
        target = rng.choice([f"{prefix}models/model.json", f"{prefix}data/weights/weight_0",
                             f"{prefix}data/weights/model_weights_config.json"])
        size = rng.choice([1 << 30, 60 << 20, 3 << 30])
        head = b'{"graph_module": "' if target.endswith(".json") else b""
        zip_bomb(paths[0], target, head, size)
        return f"bomb {target.rsplit('/', 1)[1]} {size >> 20} MB"
    if roll in (2, 3):
        what = _edit_tensor(rng, members, prefix)
    elif roll in (4, 5):
        what = _edit_program(rng, members, prefix)
    elif roll == 6:  # wrong types anywhere in the tensor table
        from fuzz.mutate import json_text
        name, _ = _tensor_entries(members, prefix)
        members[name] = json_text(rng, members[name].decode()).encode()
        what = "weights config json edit"
    elif roll == 7:  # a member damaged byte-wise, the zip around it intact
        from fuzz.mutate import BYTE_MUTATIONS
        name = rng.choice([n for n in members if members[n]])
        scratch = paths[0] + ".member"
        with open(scratch, "wb") as fh:
            fh.write(members[name])
        what = rng.choice(BYTE_MUTATIONS)(rng, [scratch])
        with open(scratch, "rb") as fh:
            members[name] = fh.read()
        os.remove(scratch)
        what = f"member {name.rsplit('/', 1)[-1]}: {what}"
    elif roll == 8:  # a member missing
        name = rng.choice(sorted(members))
        del members[name]
        what = f"no {name}"
    elif roll == 9:  # a member with a hostile name, or a real member renamed to one
        bad = rng.choice(TRAVERSAL).replace("{p}", prefix)
        if rng.random() < 0.5:
            name = rng.choice(sorted(members))
            members[bad] = members.pop(name)
        else:
            members[bad] = b"x"
        what = f"member named {bad!r}"
    elif roll == 10:  # pickled members: the older archive layout, or a tensor stored as a pickle
        canary = canary_pickle(os.path.dirname(paths[0]))
        kind = rng.randrange(3)
        if kind == 0:
            members[f"{prefix}models/serialized_state_dict.pt"] = canary
            members[f"{prefix}models/serialized_exported_program.json"] = members.pop(f"{prefix}models/model.json")
            members.pop(f"{prefix}archive_format", None)
        elif kind == 1:
            name, table = _tensor_entries(members, prefix)
            fqn = rng.choice(sorted(table["config"]))
            table["config"][fqn]["use_pickle"] = True
            members[f"{prefix}data/weights/{table['config'][fqn]['path_name']}"] = canary
            members[name] = json.dumps(table).encode()
        else:
            name = rng.choice([n for n in members if n.endswith(".json")])
            members[name] = canary
        what = f"pickled member ({kind})"
    elif roll == 11:  # the same name twice, or the members under another folder
        if rng.random() < 0.5:
            name = rng.choice(sorted(members))
            rewrite_zip(paths[0], members, method)
            with zipfile.ZipFile(paths[0], "a") as z, warnings.catch_warnings():
                warnings.simplefilter("ignore")  # zipfile warns about the duplicate name
                z.writestr(name, b"{}" if name.endswith(".json") else b"\0" * 3)
            return f"duplicate {name.rsplit('/', 1)[-1]}"
        other = rng.choice(["", "other/", "x/y/", prefix + prefix])
        members = {other + n[len(prefix):]: v for n, v in members.items()}
        what = f"prefix {other!r}"
    else:  # a tensor's storage cut short or grown
        name = rng.choice([n for n in members if "/data/weights/weight_" in n] or sorted(members))
        data = members[name]
        members[name] = data[:rng.randrange(len(data) + 1)] if rng.random() < 0.7 else data + bytes(4096)
        what = f"storage {name.rsplit('/', 1)[-1]} {len(data)} -> {len(members[name])}"
    rewrite_zip(paths[0], members, method)
    return what
