"""Elementwise: any element-wise formula of its inputs, written as data.

Theano fuses chains of element-wise operations into one ``Composite`` op
(a ReLU is ``0.5 * (x + abs(x))``, a batch norm at test time ``(x - mean) *
gamma * inv_std + beta``); this kind computes such a formula exactly as
written, from a list of steps that is plain JSON, never code.

Steps: each is ``[op, arg, ...]``; an arg is ``["in", i]`` (input i),
``["const", k]`` (stored constant k), ``["num", value]`` or ``["step", j]``
(the result of an earlier step). The last step is the output.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from viewer.errors import LayerError
from viewer.net.layers.activation import erfc
from viewer.net.layers.base import Layer, Shape, as_array, register
from viewer.net.layers.tensor import _broadcast


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


OPS: dict[str, Callable[..., np.ndarray]] = {
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.true_divide,
    "floordiv": np.floor_divide, "neg": np.negative, "abs": np.abs, "exp": np.exp, "log": np.log,
    "log1p": np.log1p, "expm1": np.expm1, "sqrt": np.sqrt, "sqr": np.square,
    "inv": np.reciprocal, "tanh": np.tanh, "sigmoid": _sigmoid, "softplus": lambda x: np.logaddexp(0, x),
    "maximum": np.maximum, "minimum": np.minimum, "pow": np.power,
    "switch": lambda c, a, b: np.where(c, a, b), "gt": np.greater, "lt": np.less,
    "ge": np.greater_equal, "le": np.less_equal, "eq": np.equal, "neq": np.not_equal,
    "erf": lambda x: 1.0 - erfc(x), "identity": lambda x: x,
    "second": lambda a, b: np.broadcast_to(b, np.broadcast_shapes(np.shape(a), np.shape(b))),
    "clip": np.clip, "sin": np.sin, "cos": np.cos, "floor": np.floor, "ceil": np.ceil,
    "round": np.round, "and": np.logical_and, "or": np.logical_or, "not": np.logical_not,
}


def _check_steps(steps: Any, n_inputs: int, n_consts: int, name: str) -> list:
    if not isinstance(steps, list) or not steps:
        raise LayerError(f"layer {name!r}: an Elementwise formula needs at least one step")
    for j, step in enumerate(steps):
        if not isinstance(step, list) or not step or step[0] not in OPS:
            raise LayerError(f"layer {name!r}: step {j} is not [op, args...] with a known op "
                             f"(known: {', '.join(sorted(OPS))})")
        for arg in step[1:]:
            ok = (isinstance(arg, list) and len(arg) == 2 and
                  ((arg[0] == "in" and 0 <= arg[1] < n_inputs) or
                   (arg[0] == "const" and 0 <= arg[1] < n_consts) or
                   (arg[0] == "step" and 0 <= arg[1] < j) or
                   (arg[0] == "num" and isinstance(arg[1], (int, float)))))
            if not ok:
                raise LayerError(f"layer {name!r}: step {j} has a bad argument {arg!r}")
    return steps


@register
class Elementwise(Layer):
    """An element-wise formula of one or more inputs and stored constants.

    Parameters
    ----------
    steps : list
        The formula, see the module docstring.
    consts : ndarray, optional
        Every constant's values, flattened and joined (one parameter array).
    const_shapes : list of list of int
        Each constant's shape, batch first with size 1 on the batch axis, so
        that it broadcasts numpy-style against the batch.
    """

    kind = "Elementwise"
    is_merge = True
    param_names = ("consts",)

    def __init__(self, prev: Sequence[Layer], *, name: str, steps: list, consts: Any = None,
                 const_shapes: Sequence[Sequence[int]] = ()) -> None:
        prev = (prev,) if isinstance(prev, Layer) else tuple(prev)
        super().__init__(prev, name=name)
        self.const_shapes = [[int(d) for d in shape] for shape in const_shapes]
        sizes = [int(np.prod(shape)) for shape in self.const_shapes]
        flat = as_array(np.zeros(0, np.float32) if consts is None else consts, f"{name}.consts").reshape(-1)
        if flat.size != sum(sizes):
            raise LayerError(f"layer {name!r}: {flat.size} constant values for shapes {self.const_shapes}")
        self.consts = flat if flat.size else None
        self._values = [part.reshape(shape) for part, shape in
                        zip(np.split(flat, np.cumsum(sizes)[:-1]) if sizes else [], self.const_shapes)]
        self.steps = _check_steps(steps, len(prev), len(self._values), name)

    @classmethod
    def from_constants(cls, prev: Sequence[Layer], *, name: str, steps: list,
                       constants: Sequence[np.ndarray]) -> "Elementwise":
        """Build from a list of constant arrays (packs them into one parameter)."""
        dtype = np.result_type(*constants) if constants else np.float32
        flat = np.concatenate([np.asarray(c, dtype).reshape(-1) for c in constants]) if constants else None
        return cls(prev, name=name, steps=steps, consts=flat,
                   const_shapes=[list(np.shape(c)) for c in constants])

    def config(self) -> dict:
        return {"steps": self.steps, "const_shapes": self.const_shapes}

    def infer_shape(self, in_shape: tuple) -> Shape:
        shapes = [tuple(s) for s in in_shape]
        shapes += [tuple(s[1:]) for s in self.const_shapes if s]
        return _broadcast(shapes, self.name)

    def forward(self, x: tuple) -> np.ndarray:
        dtype = next((v.dtype for v in x if v.dtype.kind == "f"), np.dtype(np.float32))
        results: list[np.ndarray] = []
        for step in self.steps:
            args = []
            for kind, ref in step[1:]:
                if kind == "in":
                    args.append(x[ref])
                elif kind == "const":
                    args.append(self._values[ref].astype(dtype, copy=False))
                elif kind == "num":
                    args.append(np.asarray(ref, dtype))
                else:
                    args.append(results[ref])
            results.append(np.asarray(OPS[step[0]](*args)))
        out = results[-1]
        return out.astype(dtype, copy=False) if out.dtype.kind == "f" else out
