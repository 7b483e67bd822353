"""Layer names for an ONNX graph: the module scope the exporter recorded.

PyTorch's exporters know which module each node comes from and write it
down: the TorchScript exporter in the node name (``/layer1/conv1/Conv``),
the torch.export one in the node's ``pkg.torch.onnx.name_scopes`` metadata
(``['', 'layer1', 'conv1', 'conv2d_3']``, the last entry being the traced
call). Both become ``layer1.conv1``, the name the module has in the Python
model; a node outside any module keeps its call's name (``Relu``,
``relu_1``). Other exporters' node names are kept as they are, and a node
without a name is named after its output.

Names are given to every node (the module's main ops - convolutions, matrix
products, recurrent and normalisation ops - first, then the rest in graph
order), so they do not depend on which nodes end up folded into constants;
a second node of one module gets the module's name plus its own part
(``layer1.0.Relu_1``), then a number.
"""

from __future__ import annotations

import re
from typing import Any

SCOPES_KEY = "pkg.torch.onnx.name_scopes"
_QUOTED = re.compile(r"'((?:[^'\\]|\\.)*)'|\"((?:[^\"\\]|\\.)*)\"")


def _scope_list(text: str) -> list[str]:
    """The strings of a Python list literal such as "['', 'layer1', 'conv2d']" (never evaluated)."""
    return [a if a else b for a, b in _QUOTED.findall(text)]


def candidates(node: Any) -> list[str]:
    """The names ``node`` would like, best first."""
    scopes = next((p.value for p in node.metadata_props if p.key == SCOPES_KEY), None)
    if scopes:
        # torch.export marks nodes outside any module with a placeholder scope.
        parts = [p for p in _scope_list(scopes) if p and not p.startswith("_empty_nn_module_stack")]
        if parts:
            module, call = ".".join(parts[:-1]), parts[-1]
            return [module, f"{module}.{call}"] if module else [call]
    if node.name.startswith("/"):
        parts = [p for p in node.name.split("/") if p]
        if len(parts) >= 2:
            module = ".".join(parts[:-1])
            return [module, f"{module}.{parts[-1]}"]
        if parts:
            return [parts[0]]
    return [node.name] if node.name else []


# Ops that are what a module computes, as opposed to the shape arithmetic and reshuffling
# around it: they get the module's own name first.
PRIMARY = frozenset("""Conv ConvTranspose ConvInteger QLinearConv Gemm MatMul MatMulInteger QLinearMatMul
LSTM GRU RNN BatchNormalization LayerNormalization InstanceNormalization GroupNormalization LRN MaxPool
AveragePool LpPool GlobalAveragePool GlobalMaxPool PRelu Resize Upsample Einsum Softmax LogSoftmax
Attention""".split())


def layer_names(graph: Any, taken: set[str] | None = None) -> dict[tuple[int, int], str]:
    """(node index, output index) -> a unique layer name, for every node output of ``graph``.

    ``taken`` holds names already in use (the graph's inputs); it is updated.
    A node's first output takes the node's name; further outputs their tensor name.
    """
    used = set() if taken is None else taken
    names = {}
    order = sorted(range(len(graph.node)), key=lambda n: (graph.node[n].op_type not in PRIMARY, n))
    for n in order:
        node = graph.node[n]
        for i, output in enumerate(node.output):
            wanted = (candidates(node) if i == 0 else []) or [output or f"{node.op_type}_{i}"]
            name = next((w for w in wanted if w and w not in used), None)
            if name is None:
                base, k = wanted[-1], 2
                while f"{base}_{k}" in used:
                    k += 1
                name = f"{base}_{k}"
            used.add(name)
            names[(n, i)] = name
    return names
