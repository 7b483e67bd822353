"""The memory budget of ONNX constant folding, checked before each fold allocates.

Folding computes nodes whose inputs are all constants while converting. A
small hostile file can ask for enormous results (an Add broadcasting
(N, 1) + (1, N), a Tile, an Expand, a ConstantOfShape, many of them) - so
every fold's result size is predicted from its inputs' shapes first and
checked against the ``fold_bytes`` limit (one constant larger than four
times the bytes of its inputs: a VGG weight dequantized, cast or transposed
is the file's own data and passes, whatever its size) and the
``fold_total`` limit (all of them, beyond four times the model's own size,
since folding a model's weights through a Cast or Transpose legitimately
makes that much).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from viewer import limits
from viewer.convert.onnx_values import BATCH, BatchConst, fold

AMPLIFICATION = 4  # int8 dequantized to float32 takes four times the bytes
_BROADCASTING = {"Add", "Sub", "Mul", "Div", "Pow", "Equal", "Greater", "Less", "GreaterOrEqual",
                 "LessOrEqual", "And", "Or", "Xor", "Mod", "Max", "Min", "Sum", "Where"}


def _shape(value: Any) -> tuple:
    if isinstance(value, BatchConst):
        value = value.value
    return tuple(int(d) for d in np.shape(value))


def _broadcast(shapes: list[tuple]) -> tuple:
    """Numpy's broadcast of shapes, tolerant: a mismatch takes the larger size (numpy refuses it later)."""
    rank = max((len(s) for s in shapes), default=0)
    out = [1] * rank
    for s in shapes:
        for k, d in enumerate((1,) * (rank - len(s)) + s):
            out[k] = max(out[k], d)
    return tuple(out)


def _values(value: Any) -> list[float]:
    """The first numbers of a shape-like input; the batch stand-in counts as 1, as folding makes it."""
    return [1.0 if v == BATCH else float(v) for v in np.asarray(value, dtype=np.float64).reshape(-1)[:64]]


def predicted_elements(op: str, attrs: dict, inputs: list) -> float | None:
    """How many elements ``op`` will produce on these constant inputs; None when at most its inputs."""
    present = [v for v in inputs if v is not None]
    try:
        shapes = [_shape(v) for v in present]
        if op in _BROADCASTING:
            dims = _broadcast(shapes)
        elif op == "MatMul" and len(shapes) == 2 and shapes[0] and shapes[1]:
            a, b = shapes
            a = (1,) + a if len(a) == 1 else a
            b = b + (1,) if len(b) == 1 else b
            dims = _broadcast([a[:-2], b[:-2]]) + (a[-2], b[-1])
        elif op == "Tile" and len(present) == 2:
            reps = _values(present[1])
            dims = tuple(d * r for d, r in zip(shapes[0], reps + [1.0] * len(shapes[0])))
        elif op in ("Expand", "ConstantOfShape") and present:
            wanted = tuple(abs(v) for v in _values(present[-1 if op == "Expand" else 0]))
            dims = _broadcast([shapes[0], wanted]) if op == "Expand" else wanted
        elif op == "Range" and len(present) == 3:
            start, stop, step = (_values(v)[0] for v in present)
            dims = (abs((stop - start) / step) if step else 0.0,)
        elif op == "Concat":
            return float(sum(np.prod(s, dtype=np.float64) for s in shapes))
        elif op == "Gather" and len(shapes) == 2 and shapes[0]:
            axis = int(attrs.get("axis", 0)) % len(shapes[0])
            row = np.prod(shapes[0], dtype=np.float64) / max(shapes[0][axis], 1)
            return float(row * np.prod(shapes[1], dtype=np.float64))
        else:
            return None
    except (ValueError, TypeError, IndexError, OverflowError, ZeroDivisionError):
        return None
    return float(np.prod(np.asarray(dims, dtype=np.float64)))


class FoldBudget:
    """Fold nodes on constants, keeping the bytes made within the limits.

    Parameters
    ----------
    model_bytes : int
        The model's own size (graph and weights), which folding may make
        four times over on top of ``fold_total``.
    """

    def __init__(self, model_bytes: int) -> None:
        self.allowed_extra = 4 * model_bytes
        self.made = 0

    def fold(self, op: str, attrs: dict, inputs: list) -> list:
        """:func:`~viewer.convert.onnx_values.fold` after checking the predicted size.

        Raises
        ------
        LimitExceeded
            The result, or all results so far, would be over the limits.
        """
        return self.run(op, inputs, lambda: fold(op, attrs, inputs), attrs)

    def run(self, op: str, inputs: list, make: Callable[[], list], attrs: dict | None = None) -> list:
        """``make()`` (an op computed on constant ``inputs``) within the limits."""
        arrays = [np.asarray(v.value if isinstance(v, BatchConst) else v) for v in inputs if v is not None]
        held = sum(a.nbytes for a in arrays)
        elements = predicted_elements(op, attrs or {}, inputs)
        if elements is not None:
            itemsize = max([a.itemsize for a in arrays] + [4])
            self._check(elements * itemsize, op, held)
        outs = make()
        made = sum(int(getattr(v, "nbytes", 0)) for v in outs)
        self._check(made, op, held)
        self.made += made
        return outs

    def _check(self, size: float, op: str, held: int) -> None:
        # A fold making at most AMPLIFICATION times what its inputs hold (a VGG weight cast,
        # dequantized or transposed) only re-shapes the file's own data, whatever its size.
        if size > AMPLIFICATION * held:
            limits.check("fold_bytes", size, f"folding a constant {op} would make {size:,.0f} bytes")
        total = self.made + size - self.allowed_extra
        limits.check("fold_total", total, f"folding constants would make {self.made + size:,.0f} "
                                          f"bytes in all (at {op})")
