"""torch.export ``.pt2`` archives -> Strata nets, without torch.

The archive (:mod:`viewer.convert.pt2_archive`) gives the exported graph as
JSON: placeholders for parameters, buffers and user inputs, then one node per
ATen op in execution order. Each node becomes a layer computing what the ATen
op computes, in PyTorch's NCHW layout (:mod:`viewer.convert.pt2_ops`).

Layer names come from the module path the exporter records for each node
(``layer1.0.conv1``): a node of a torch.nn layer takes its module's path;
other nodes are named ``<module path>/<node name>`` (``layer1.0/add``), or
by their node name at the top level (``softmax``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from viewer.convert.layer_names import unique_name
from viewer.convert.pt2_archive import Archive, read_archive, refuse
from viewer.errors import ConversionError, LayerError
from viewer.net import Net
from viewer.net.layers import Input, Layer

# Stands for the (symbolic) batch size in size lists, e.g. a view's target.
BATCH = "batch"


class Refused(Exception):
    """A node Strata cannot convert; collected, then reported together."""


class Skipped(Refused):
    """A node reading a refused node's output: not reported again."""


@dataclass
class Value:
    """A node's result while converting: a layer's output, a constant, or a size."""

    layer: Layer | None = None
    const: Any = None
    failed: bool = False


def convert_pt2(path: str | os.PathLike) -> Net:
    """Read a ``.pt2`` archive and build its net.

    Raises
    ------
    FileFormatError
        Not a torch.export archive, damaged, hostile, or needing unpickling.
    ConversionError
        Ops Strata cannot convert; the message lists them all.
    """
    return build(path)[0]


def build(path: str | os.PathLike) -> tuple[Net, dict[str, Layer]]:
    """The net and the layer made for each FX node, by node name."""
    path = os.fspath(path)
    archive = read_archive(path)
    try:
        builder = Builder(archive, path)
        return builder.build(), builder.by_node
    except (LookupError, TypeError, AttributeError, StopIteration, ValueError, ArithmeticError) as exc:
        raise refuse(path, f"unexpected structure ({type(exc).__name__}: {exc})") from None


class Builder:
    """Turns the nodes of an exported graph into layers."""

    def __init__(self, archive: Archive, path: str) -> None:
        self.archive, self.path = archive, path
        graph_module = archive.program["graph_module"]
        self.graph = graph_module["graph"]
        self.signature = graph_module["signature"]
        self.values: dict[str, Value] = {}
        self.layers: list[Layer] = []
        self.names: set[str] = set()
        self.by_node: dict[str, Layer] = {}
        self.refused: list[str] = []
        self.module_nodes: dict[str, int] = {}
        self.static_batch: int | None = None

    def build(self) -> Net:
        from viewer.convert.pt2_ops_seq import OPS

        self._placeholders()
        for node in self.graph["nodes"]:
            target = str(node.get("target", ""))
            op = _op_name(target)
            outputs = _output_names(node)
            try:
                handler = OPS.get(op)
                if handler is None:
                    raise Refused("not supported")
                self.node = node
                result = handler(self, self.args(node))
                results = result if isinstance(result, tuple) else (result,)
                for name, value in zip(outputs, results):
                    self.values[name] = value if isinstance(value, Value) else Value(const=value)
                    if isinstance(value, Value) and value.layer is not None:
                        self.by_node.setdefault(name, value.layer)
            except Skipped:
                self._fail(outputs)
            except (Refused, LayerError) as exc:
                self.refused.append(f"{target.replace('torch.ops.', '')} ({node.get('name')}): {exc}")
                self._fail(outputs)
        if self.refused:
            shown = self.refused[:12] + ([f"... and {len(self.refused) - 12} more"] if len(self.refused) > 12 else [])
            raise ConversionError(f"{self.path}: cannot convert {len(self.refused)} op(s): " + "; ".join(shown))
        outs = []
        for spec in self.signature.get("output_specs", []):
            kind, body = next(iter(spec.items()))
            if kind != "user_output":
                raise ConversionError(f"{self.path}: the program also returns a {kind} (mutated "
                                      "buffers: a training-mode export); export the model in eval mode")
            name = body["arg"].get("as_tensor", {}).get("name")
            value = self.values.get(name)
            if value is None or value.layer is None:
                raise ConversionError(f"{self.path}: output {name!r} is not computed from the input")
            outs.append(value.layer)
        if not outs:
            raise ConversionError(f"{self.path}: the program has no output")
        order = [layer for layer in self.layers if layer is not outs[0]] + [outs[0]]
        version = self.archive.program.get("schema_version", {})
        torch_version = self.archive.program.get("torch_version", "?")
        return Net(order, name=os.path.splitext(os.path.basename(self.path))[0],
                   source=f"torch.export archive {os.path.basename(self.path)} (torch {torch_version}, "
                          f"schema {version.get('major', '?')}.{version.get('minor', '?')})"
                          + (f"; {len(self.archive.widened)} bfloat16 tensors widened to float32, "
                             "computed in float32" if self.archive.widened else ""))

    def _fail(self, outputs: list) -> None:
        for name in outputs:
            self.values[name] = Value(failed=True)

    def _placeholders(self) -> None:
        tensors = self.archive.tensors
        for spec in self.signature.get("input_specs", []):
            kind, body = next(iter(spec.items()))
            arg = body.get("arg", {})
            name = arg.get("name") or arg.get("as_tensor", {}).get("name")
            if kind in ("parameter", "buffer", "tensor_constant"):
                fqn = body.get(f"{kind}_name")
                if fqn not in tensors:
                    if kind == "buffer" and not body.get("persistent", True):
                        raise ConversionError(f"{self.path}: buffer {fqn!r} is not stored in the archive")
                    raise ConversionError(f"{self.path}: {kind} {fqn!r} is not stored in the archive")
                self.values[name] = Value(const=tensors[fqn])
            elif kind == "user_input":
                self._input(name)
            elif kind == "constant_input":
                self.values[name] = Value(const=_decode_plain(body.get("value", {})))
            else:
                raise ConversionError(f"{self.path}: a {kind} input (custom objects, tokens) is not supported")

    def _input(self, name: str) -> None:
        meta = self.graph["tensor_values"].get(name)
        if meta is None:
            raise refuse(self.path, f"no metadata for input {name!r}")
        sizes = meta.get("sizes", [])
        if not sizes:
            raise ConversionError(f"{self.path}: input {name!r} is a scalar; Strata needs batched input")
        if "as_int" in sizes[0]:
            self.static_batch = int(sizes[0]["as_int"])
        shape = [s["as_int"] if "as_int" in s else None for s in sizes[1:]]
        layer = Input(name=self.unique(name), shape=shape, data_format="channels_first" if len(shape) == 3 else None)
        self.layers.append(layer)
        self.values[name] = Value(layer)
        self.by_node[name] = layer

    # -- helpers for the op table ----------------------------------------------------------

    def args(self, node: dict) -> dict:
        """The node's named arguments, decoded: Values for tensors, python values for the rest."""
        return {a["name"]: self.decode(a["arg"]) for a in node.get("inputs", [])}

    def decode(self, arg: dict) -> Any:
        kind, body = next(iter(arg.items()))
        if kind == "as_tensor":
            return self.tensor_value(body["name"])
        if kind == "as_tensors":
            return [self.tensor_value(t["name"]) for t in body]
        if kind == "as_optional_tensors":
            return [None if "as_none" in t else self.tensor_value(t["as_tensor"]["name"]) for t in body]
        if kind == "as_sym_int":
            return self.sym(body)
        if kind == "as_sym_ints":
            return [self.sym(s) for s in body]
        return _decode_plain(arg)

    def sym(self, body: dict) -> Any:
        if "as_int" in body:
            return int(body["as_int"])
        name = body.get("as_name")
        value = self.values.get(name)
        if value is None or value.const is None:
            raise Refused(f"a size {name!r} known only at run time")
        return value.const

    def tensor_value(self, name: str) -> Value:
        value = self.values.get(name)
        if value is None:
            raise refuse(self.path, f"node input {name!r} is computed by nothing before it")
        if value.failed:
            raise Skipped()
        return value

    def layer_name(self) -> str:
        """This node's layer name, from its module path and node name."""
        node = self.node
        path, leaf = _module(node.get("metadata", {}).get("nn_module_stack", ""))
        if path and leaf:
            seen = self.module_nodes.get(path, 0)
            self.module_nodes[path] = seen + 1
            name = path if not seen else f"{path}/{node['name']}"
        elif path:
            name = f"{path}/{node['name']}"
        else:
            name = node["name"]
        return self.unique(name)

    def unique(self, name: str) -> str:
        return unique_name(name, self.names)

    def emit(self, make: Callable[[str], Layer]) -> Value:
        layer = make(self.layer_name())
        layer.output_shape  # raises LayerError now, naming the layer, if shapes do not fit
        self.layers.append(layer)
        return Value(layer)

    def emit_part(self, k: int, make: Callable[[str], Layer]) -> Value:
        """Make the layer for output ``k`` of a node with several (``chunk``), named after that
        output (``getitem_1``) under the node's module path."""
        out = _output_names(self.node)[k] or f"{self.node['name']}_{k}"
        path, _ = _module(self.node.get("metadata", {}).get("nn_module_stack", ""))
        layer = make(self.unique(f"{path}/{out}" if path else out))
        layer.output_shape
        self.layers.append(layer)
        return Value(layer)

    def helper(self, layer: Layer) -> Layer:
        """Add a layer that is not a node's own result (e.g. a reshape after global pooling)."""
        layer.output_shape
        self.layers.append(layer)
        return layer

    def helper_name(self, suffix: str) -> str:
        return self.unique(f"{self.node['name']}_{suffix}")


def _op_name(target: str) -> str:
    """``torch.ops.aten.conv2d.default`` -> ``conv2d``; in-place ``relu_`` -> ``relu``."""
    if target in ("_operator.getitem", "operator.getitem"):
        return "getitem"
    parts = target.split(".")
    if len(parts) >= 4 and parts[:3] == ["torch", "ops", "aten"]:
        name = parts[3]
        return name[:-1] if name.endswith("_") and not name.startswith("_") else name
    return target


def _output_names(node: dict) -> list:
    names = []
    for out in node.get("outputs", []):
        kind, body = next(iter(out.items()))
        if kind == "as_tensor":
            names.append(body["name"])
        elif kind == "as_tensors":
            names.extend(t["name"] for t in body)
        elif kind == "as_sym_int":
            names.append(body.get("as_name"))
        else:
            names.append(None)
    return names


def _module(stack: str) -> tuple[str, bool]:
    """(module path, whether it is a torch.nn layer) of the innermost module on the stack."""
    if not stack:
        return "", False
    parts = stack.split(";")[-1].split(",")
    if len(parts) < 3:
        return "", False
    path, cls = parts[1], parts[-1]
    return path, cls.startswith("torch.nn.")


def _decode_plain(arg: dict) -> Any:
    kind, body = next(iter(arg.items()))
    if kind == "as_none":
        return None
    if kind in ("as_int", "as_float", "as_bool", "as_string", "as_ints", "as_floats", "as_bools",
                "as_strings", "as_scalar_type", "as_memory_format", "as_layout"):
        return body
    if kind == "as_device":
        return body.get("type")
    raise Refused(f"an argument of kind {kind}")


def as_array(value: Any) -> np.ndarray:
    """A constant Value's array (float32 for floating weights)."""
    arr = np.asarray(value.const if isinstance(value, Value) else value)
    return arr.astype(np.float32) if arr.dtype.kind == "f" and arr.dtype != np.float32 else arr
