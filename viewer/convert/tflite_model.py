"""TFLite ``.tflite`` files -> Strata nets, without TensorFlow or LiteRT.

The file is read with Strata's own bounds-checked FlatBuffers reader
(:mod:`viewer.convert.tflite_schema`). Operators are visited in the file's
order (TFLite stores them in execution order); each becomes one or more
layers named after the tensor it writes, in TFLite's NHWC layout. Float ops
map onto Strata's float kinds (:mod:`viewer.convert.tflite_ops`); ops on
quantized integers onto the integer kinds of
:mod:`viewer.net.layers.quantized` (:mod:`viewer.convert.tflite_int8`).

Shape arithmetic (SHAPE, STRIDED_SLICE/PACK/GATHER on shapes, ...) is folded
while converting: the sizes it computes are the tensors' stored shapes, with
the batch kept free, so no such op becomes a layer.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from viewer.convert.layer_names import unique_name
from viewer.convert.tflite_flatbuffer import FlatBufferError
from viewer.convert.tflite_schema import Model, Operator, Tensor, read_model
from viewer.errors import ConversionError, LayerError, file_error
from viewer.net import Net
from viewer.net.layers import Activation, Input, Layer
from viewer.net.layers.quantized import INTEGER_RANGES, Quantize
from viewer.net.layers.tensor import Unary

MAX_FILE_BYTES = 4 << 30
# Stands for the batch size in shapes computed while converting (SHAPE of a data tensor), so
# that a reshape's target shows where the batch goes; prime and far above any real size.
BATCH = 1_000_003
# Fused activations (ActivationFunctionType) -> float layer spec
FUSED = {0: None, 1: ("relu", {}), 2: ("clip", (-1.0, 1.0)), 3: ("relu", {"max_value": 6.0}),
         4: ("tanh", {}), 5: "SIGN_BIT"}


class Refused(Exception):
    """An operator Strata cannot convert; the message says why (collected, then reported)."""


class Skipped(Refused):
    """An operator that reads a refused one's output: not reported again."""


@dataclass
class Value:
    """What a tensor holds while converting: a layer's output or a constant."""

    layer: Layer | None = None
    const: np.ndarray | None = None
    from_shape: bool = False  # a constant computed from tensor shapes (the batch is BATCH)
    rows: int = 0  # > 0: TFLite merged the batch with this many rows (Keras' Tensordot)


def convert_tflite(path: str | os.PathLike) -> Net:
    """Read a ``.tflite`` file and build its net.

    Raises
    ------
    FileFormatError
        Not a TFLite file, or a damaged one.
    ConversionError
        Operators Strata cannot convert; the message lists them all.
    """
    path = os.fspath(path)
    size = os.path.getsize(path)
    if size > MAX_FILE_BYTES:
        raise file_error(path, f"{size:,} bytes is more than a TFLite file Strata reads ({MAX_FILE_BYTES:,})")
    with open(path, "rb") as fh:
        buf = fh.read()
    try:
        model = read_model(buf)
    except (FlatBufferError, ValueError, OverflowError, MemoryError) as exc:
        raise file_error(path, f"not a readable TFLite file: {exc}") from None
    try:
        return Builder(model, path).build()
    except (FlatBufferError, ArithmeticError, ValueError, TypeError, LookupError) as exc:
        # a file whose tables read but do not fit together (numpy refusing a shape, say)
        raise file_error(path, f"damaged TFLite file: {exc}") from None


class Builder:
    """Turns the operators of one TFLite graph into layers."""

    def __init__(self, model: Model, path: str) -> None:
        self.model, self.path = model, path
        self.values: dict[int, Value] = {}
        self.layers: list[Layer] = []
        self.names: set[str] = set()
        self.refused: list[str] = []

    # -- the walk ------------------------------------------------------------------

    def build(self) -> Net:
        from viewer.convert import tflite_hybrid, tflite_int8, tflite_ops

        if not self.model.operators:
            raise file_error(self.path, "the TFLite graph has no operators")
        for index in self.model.inputs:
            self._add_input(self.model.tensors[index])
        for op in self.model.operators:
            try:
                if self._fold(op):
                    continue
                table = tflite_int8.OPS if self.quantized_op(op) else \
                    tflite_hybrid.OPS if tflite_hybrid.is_hybrid(self, op) else tflite_ops.OPS
                handler = table.get(op.name)
                if handler is None:
                    raise Refused("not supported" + (" on quantized tensors" if table is tflite_int8.OPS
                                                     and op.name in tflite_ops.OPS else ""))
                handler(self, op)
            except Skipped:
                for out in op.outputs:
                    self.values[out] = Value()
            except Refused as exc:
                self.refused.append(f"{op.name} ({self.tensor(op.outputs[0]).name if op.outputs else op.index}): {exc}")
                for out in op.outputs:
                    self.values[out] = Value()  # unknown: dependants are skipped quietly
            except LayerError as exc:
                self.refused.append(f"{op.name}: {exc}")
                for out in op.outputs:
                    self.values[out] = Value()
        if self.refused:
            shown = self.refused[:12] + ([f"... and {len(self.refused) - 12} more"] if len(self.refused) > 12 else [])
            raise ConversionError(f"{self.path}: cannot convert {len(self.refused)} operator(s): "
                                  + "; ".join(shown))
        outputs = [self.values.get(i, Value()).layer for i in self.model.outputs]
        if any(layer is None for layer in outputs):
            raise ConversionError(f"{self.path}: a graph output is a constant, not computed from the input")
        # The net's last layer is its (first) output.
        order = [layer for layer in self.layers if layer is not outputs[0]] + [outputs[0]]
        desc = self.model.description or "TFLite"
        return Net(order, name=os.path.splitext(os.path.basename(self.path))[0],
                   source=f"TFLite file {os.path.basename(self.path)} ({desc}, schema {self.model.version})")

    def _add_input(self, t: Tensor) -> None:
        if t.dtype is None or len(t.signature) == 0:
            raise ConversionError(f"{self.path}: input {t.name!r} is a {t.type_name} scalar; "
                                  "Strata needs batched numeric input")
        shape = [None if s < 0 else s for s in t.signature[1:]]
        layout = "channels_last" if len(shape) == 3 else None
        name = self.unique(short_name(t.name))
        q = t.quantization
        if q is not None and t.type_name in INTEGER_RANGES:
            real = Input(name=self.unique(name + "_real"), shape=shape, data_format=layout)
            self.layers.append(real)
            layer = Quantize(real, name=name, out_scale=float(q.scale[0]), out_zero=int(q.zero_point[0]),
                             dtype=t.type_name)
        else:
            layer = Input(name=name, shape=shape, data_format=layout)
        self.layers.append(layer)
        self.values[t.index] = Value(layer)

    def _fold(self, op: Operator) -> bool:
        """Compute ``op`` now when its result does not depend on the data, only on shapes."""
        from viewer.convert.tflite_fold import FOLD

        if op.name == "SHAPE":
            src = self.value(op.inputs[0])
            if src is None:
                return False
            shape = (BATCH,) + self.in_shape(op) if src.layer is not None else src.const.shape
            self.values[op.outputs[0]] = Value(const=np.array(shape, np.int64), from_shape=True)
            return True
        ins = [i for i in op.inputs if i >= 0]
        values = [self.value(i) for i in ins]
        if any(v is None or v.layer is not None for v in values):
            return False
        fold = FOLD.get(op.name)
        if fold is None:
            raise Refused("computes on constants only, which is not supported for this operator")
        result = fold(self, op, [v.const for v in values])
        from_shape = any(v.from_shape for v in values)
        results = result if isinstance(result, list) else [result]
        for out, value in zip(op.outputs, results):
            self.values[out] = Value(const=np.asarray(value), from_shape=from_shape)
        return True

    # -- helpers for the op tables ---------------------------------------------------

    def tensor(self, index: int) -> Tensor:
        return self.model.tensors[index]

    def value(self, index: int) -> Value | None:
        """The value of tensor ``index``: computed, constant (read from its buffer) or None."""
        if index < 0:
            return None
        v = self.values.get(index)
        if v is not None:
            if v.layer is None and v.const is None:
                raise Skipped()
            return v
        t = self.tensor(index)
        if t.data is None:
            if t.is_variable:
                return None
            raise Refused(f"reads tensor {t.name!r}, which nothing computes")
        if t.dtype is None:
            raise Refused(f"constant {t.name!r} is of type {t.type_name}")
        v = Value(const=t.array())
        self.values[index] = v
        return v

    def data(self, op: Operator, k: int = 0) -> Layer:
        """The layer computing input ``k`` of ``op``; refuse a constant there."""
        v = self.value(op.inputs[k]) if k < len(op.inputs) else None
        if v is None or v.layer is None:
            raise Refused(f"input {k} must be computed from the net's input")
        if v.rows and op.name not in ROW_WISE:
            raise Refused("reads data whose samples were merged into rows")
        return v.layer

    def rows(self, op: Operator) -> int:
        """How many rows per sample the op's first input has when TFLite merged them with the batch."""
        v = self.values.get(op.inputs[0])
        return v.rows if v is not None else 0

    def const(self, op: Operator, k: int, what: str, optional: bool = False) -> np.ndarray | None:
        """Input ``k`` of ``op`` as a constant array (data computed from the input is refused)."""
        v = self.value(op.inputs[k]) if k < len(op.inputs) else None
        if v is None:
            if optional:
                return None
            raise Refused(f"has no {what}")
        if v.const is None:
            raise Refused(f"its {what} is computed at run time, not stored")
        return v.const

    def is_data(self, op: Operator, k: int) -> bool:
        v = self.value(op.inputs[k]) if k < len(op.inputs) else None
        return v is not None and v.layer is not None

    def quantized_op(self, op: Operator) -> bool:
        """True when the op writes quantized integers (DEQUANTIZE, which reads them, is a float op)."""
        return bool(op.outputs) and is_quantized(self.tensor(op.outputs[0]))

    def unique(self, name: str) -> str:
        return unique_name(name, self.names)

    def base_name(self, op: Operator, k: int = 0) -> str:
        """The name of output ``k``'s tensor, for naming helper layers (not reserved)."""
        return short_name(self.tensor(op.outputs[k]).name)

    def emit(self, op: Operator, make: Callable[[str], Layer], fused: int = 0, k: int = 0) -> Layer:
        """Make the layer for output ``k`` of ``op``; a fused activation becomes its own layer,
        named after the tensor, with the linear part named ``<name>_linear``."""
        name = self.unique(self.base_name(op, k))
        spec = FUSED.get(int(fused), "unknown")
        if spec in ("SIGN_BIT", "unknown"):
            raise Refused(f"fused activation {fused} is not supported")
        if spec is None:
            layer = self.add(make(name))
        else:
            inner = self.add(make(self.unique(name + "_linear")))
            function, options = spec
            layer = self.add(Unary(inner, name=name, function="clip", low=options[0], high=options[1])
                             if function == "clip" else Activation(inner, name=name, function=function, **options))
        rows = self.rows(op) if op.name in ROW_WISE and op.name != "RESHAPE" else 0
        self.values[op.outputs[k]] = Value(layer, rows=rows)
        return layer

    def add(self, layer: Layer) -> Layer:
        layer.output_shape  # raises LayerError now, naming the layer, if shapes do not fit
        self.layers.append(layer)
        return layer

    def set_const(self, index: int, value: np.ndarray) -> None:
        self.values[index] = Value(const=value)

    def in_shape(self, op: Operator, k: int = 0) -> tuple:
        """The per-sample shape of data input ``k`` (all sizes known, or the op is refused)."""
        shape = self.data(op, k).output_shape
        if any(n is None for n in shape):
            raise Refused(f"its input's sizes are unknown until run time ({shape})")
        return tuple(shape)


# Ops that compute each row on its own, so a batch merged with rows can pass through them.
ROW_WISE = frozenset({"FULLY_CONNECTED", "RESHAPE", "RELU", "RELU6", "LOGISTIC", "TANH", "QUANTIZE",
                      "DEQUANTIZE", "HARD_SWISH", "LEAKY_RELU", "ELU", "GELU"})


def short_name(tensor_name: str) -> str:
    """A layer name from a TFLite tensor name: converters join several names with ';', keep the first."""
    name = tensor_name.split(";")[0].strip()
    return name or "tensor"


def is_quantized(t: Tensor) -> bool:
    """An integer tensor with a scale and zero point."""
    return t.quantization is not None and t.type_name in INTEGER_RANGES


def axis_of(axis: Any, rank: int) -> int:
    """A TFLite axis (negative counts from the end) as a non-negative batch-tensor axis."""
    a = int(axis)
    a = a + rank if a < 0 else a
    if not 0 <= a < rank:
        raise Refused(f"axis {axis} is out of range for rank {rank}")
    return a
