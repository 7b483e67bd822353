"""Check a converted net against the source framework's own outputs.

The fixture scripts in tests/fixtures store, next to each model, what the
framework computed for every layer on a few inputs, as an .npz without
pickles:

- ``input_names`` (strings) and ``input_0``, ``input_1``, ...: the batches fed
  to the model's inputs, in the model's input order;
- ``layer_names`` (strings) and ``output_0``, ``output_1``, ...: each named
  layer's output for those batches;
- optionally ``batch_axes`` (ints, one per layer name): where the batch axis
  of each output is, for frameworks whose tensors do not always put it first
  (ONNX recurrent ops). Strata's outputs are always batch first.

Anyone can write such a file from their own framework to check a conversion.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from viewer.errors import FileFormatError, file_error
from viewer.net import Net
from viewer.net.layers.base import evaluate


@dataclass
class Comparison:
    """Result of :func:`compare`.

    Attributes
    ----------
    errors : dict of str -> float
        Layer name -> max |strata - framework| / the largest magnitude among
        the framework's output for the layer and the layer's inputs.
    problems : list of str
        Missing layers and shape mismatches, one line each.
    unmatched : list of str
        Net layers without a reference output (not Input layers).
    """

    errors: dict
    problems: list
    unmatched: list

    def worst(self) -> float:
        return max(self.errors.values(), default=0.0)


def load_reference(path: str | os.PathLike) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
    """(inputs in model order, {layer name: output with the batch axis first})."""
    path = os.fspath(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            inputs = [data[f"input_{i}"] for i in range(len(data["input_names"]))]
            names = [str(n) for n in data["layer_names"]]
            axes = data["batch_axes"] if "batch_axes" in data.files else np.zeros(len(names), int)
            outputs = {}
            for i, name in enumerate(names):
                value = data[f"output_{i}"]
                if axes[i] > 0:
                    value = np.moveaxis(value, int(axes[i]), 0)
                outputs[name] = value
    except (OSError, KeyError, ValueError) as exc:
        raise file_error(path, f"not a reference-output file ({exc})") from None
    return inputs, outputs


def compare(net: Net, path: str | os.PathLike) -> Comparison:
    """Run ``net`` on the stored inputs and compare every layer that has a reference.

    Each layer is computed once. The error of a layer is relative to the
    largest magnitude of its output (the framework's) and of its inputs.
    """
    inputs, outputs = load_reference(path)
    if len(inputs) != len(net.inputs):
        raise FileFormatError(f"{os.fspath(path)}: {len(inputs)} inputs for a net with "
                              f"{len(net.inputs)}")
    X = {layer.name: x for layer, x in zip(net.inputs, inputs)}
    values = evaluate(list(net), X)
    by_name = {layer.name: layer for layer in net}
    errors, problems = {}, []
    for name, want in outputs.items():
        layer = by_name.get(name)
        if layer is None:
            problems.append(f"{name}: no such layer in the net")
            continue
        got = values[layer]
        if got.shape != want.shape:
            problems.append(f"{name}: shape {got.shape}, framework {want.shape}")
            continue
        # Relative to the largest value the layer reads or writes: where a layer
        # cancels (a mean near zero of large values), float32 rounding of its
        # inputs shows at the inputs' scale, not at the output's.
        scales = [np.max(np.abs(v)) for v in [want] + [values[p] for p in layer.inputs]
                  if v.size and v.dtype.kind == "f"]
        scale = float(max(scales, default=0.0))
        diff = float(np.max(np.abs(got.astype(np.float64) - want))) if want.size else 0.0
        errors[name] = diff / scale if scale > 0 else diff
    unmatched = [layer.name for layer in net if layer.inputs and layer.name not in outputs]
    return Comparison(errors, problems, unmatched)
