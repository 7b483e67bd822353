"""Operator: one ONNX operator computed on whole tensors, one sample at a time.

Where a converted graph does something Strata's own kinds cannot express
batch first (an op that reads the batch axis, shape arithmetic on sizes known
only at run time, an op without a kind of its own), the ONNX converter keeps
the ONNX op as it is: this kind runs it with :mod:`viewer.net.operators` on
each sample of the batch separately, the sample being the whole ONNX tensor
(with the ONNX batch axis of size 1 where the graph has one).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from viewer.errors import LayerError
from viewer.net.layers.base import Layer, Shape, register

MAX_CONSTS = 64


def _check_args(args: Any, n_prev: int, n_consts: int, name: str) -> list:
    if not isinstance(args, list):
        raise LayerError(f"layer {name!r}: Operator args must be a list")
    for arg in args:
        ok = isinstance(arg, list) and arg and (
            (arg[0] == "data" and len(arg) == 3 and 0 <= arg[1] < n_prev
             and (arg[2] is None or isinstance(arg[2], int))) or
            (arg[0] == "const" and len(arg) == 2 and 0 <= arg[1] < n_consts) or
            (arg[0] == "none" and len(arg) == 1))
        if not ok:
            raise LayerError(f"layer {name!r}: bad Operator argument {arg!r}")
    return args


@register
class Operator(Layer):
    """An ONNX operator on each sample.

    Parameters
    ----------
    op : str
        The ONNX op type (one of :data:`viewer.net.operators.OPERATORS`).
    attrs : dict
        Its attributes, ONNX names; a tensor attribute is ``{"const": k}``.
    opset : int
    args : list
        One entry per ONNX input: ``["data", j, axis]`` (the output of
        ``prev[j]``; ``axis`` is where the sample gets the ONNX batch axis of
        size 1 back, or None if the sample is the whole tensor),
        ``["const", k]`` (stored constant ``const<k>``) or ``["none"]``.
    output : int
        Which of the op's outputs this layer gives.
    batch_axis : int or None
        Where the op's output has the sample's ONNX batch axis (of size 1),
        which is dropped from the sample; None: the sample is the whole output.
    shape : list
        The per-sample output shape (None for sizes known only at run time).
    const0, const1, ... : ndarray
        The constant inputs and tensor attributes, in their own dtypes.
    """

    kind = "Operator"
    is_merge = True
    param_names = tuple(f"const{i}" for i in range(MAX_CONSTS))

    def __init__(self, prev: Sequence[Layer], *, name: str, op: str, args: list, shape: Sequence,
                 attrs: dict | None = None, opset: int = 17, output: int = 0,
                 batch_axis: int | None = None, **consts: Any) -> None:
        # The operators load with the first Operator layer, not with every net (start-up time).
        from viewer.net.operators import OPERATORS
        prev = (prev,) if isinstance(prev, Layer) else tuple(prev)
        super().__init__(prev, name=name)
        if op not in OPERATORS:
            raise LayerError(f"layer {name!r}: unknown ONNX operator {op!r}")
        self.op, self.opset, self.output = op, int(opset), int(output)
        self.batch_axis = None if batch_axis is None else int(batch_axis)
        self.attrs = dict(attrs or {})
        unknown = set(consts) - set(self.param_names)
        if unknown:
            raise LayerError(f"layer {name!r}: unexpected parameters {sorted(unknown)}")
        for key in self.param_names:
            value = consts.get(key)
            setattr(self, key, None if value is None else np.asarray(value))
        n_consts = sum(getattr(self, k) is not None for k in self.param_names)
        self.args = _check_args(args, len(prev), n_consts, name)
        self.shape = tuple(None if d is None else int(d) for d in shape)
        if any(isinstance(v, dict) and set(v) == {"const"} and not 0 <= v["const"] < n_consts
               for v in self.attrs.values()):
            raise LayerError(f"layer {name!r}: an attribute names a constant the layer does not hold")
        self._attrs = {k: getattr(self, f"const{v['const']}") if isinstance(v, dict) and set(v) == {"const"}
                       else v for k, v in self.attrs.items()}
        if op == "If":
            from viewer.net.operators.control import check_if
            try:
                check_if(self.attrs, self.output + 1)
            except ValueError as exc:
                raise LayerError(f"layer {name!r}: {exc}") from None

    def config(self) -> dict:
        return {"op": self.op, "attrs": self.attrs, "opset": self.opset, "args": self.args,
                "output": self.output, "batch_axis": self.batch_axis, "shape": list(self.shape)}

    def infer_shape(self, in_shape: tuple) -> Shape:
        return self.shape

    def _sample(self, x: tuple, i: int) -> list:
        values = []
        for arg in self.args:
            if arg[0] == "data":
                v = x[arg[1]][i]
                values.append(v if arg[2] is None else np.expand_dims(v, arg[2]))
            elif arg[0] == "const":
                values.append(getattr(self, f"const{arg[1]}"))
            else:
                values.append(None)
        return values

    def forward(self, x: tuple) -> np.ndarray:
        from viewer.net.operators import compute
        n = x[0].shape[0] if x else 1
        outs = []
        for i in range(n):
            result = compute(self.op, self._sample(x, i), self._attrs, self.opset)
            if self.output >= len(result) or result[self.output] is None:
                raise LayerError(f"layer {self.name!r}: {self.op} has no output {self.output}")
            out = result[self.output]
            if self.op == "If" and out.ndim != len(self.shape) + (self.batch_axis is not None):
                raise LayerError(f"layer {self.name!r}: the If took a branch whose output has "
                                 f"{out.ndim} axes; the net was converted for the branch giving "
                                 f"{len(self.shape) + (self.batch_axis is not None)}")
            if self.batch_axis is not None:
                if out.ndim <= self.batch_axis or out.shape[self.batch_axis] != 1:
                    raise LayerError(f"layer {self.name!r} ({self.op}): a sample's output {out.shape} "
                                     f"has no batch axis of size 1 at {self.batch_axis}")
                out = np.squeeze(out, self.batch_axis)
            outs.append(out)
        if len({o.shape for o in outs}) > 1:
            raise LayerError(f"layer {self.name!r} ({self.op}): samples give outputs of different "
                             f"shapes {sorted({o.shape for o in outs})}; run them one at a time")
        return np.stack(outs) if outs else np.zeros((0,) + tuple(d or 0 for d in self.shape))
