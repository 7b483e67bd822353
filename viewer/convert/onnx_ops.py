"""ONNX operators that compute on the net's data -> Strata layers.

Each handler takes the node, its input values (see onnx_values) and its
attributes, builds the layer(s) and returns one value per node output. A
handler raises :class:`~viewer.convert.onnx_values.Refused` with a reason
when the node cannot be converted; the converter collects every such node
into one error. Shape operators are in onnx_shape.py.

Layouts: ONNX images are channels first; a Tensor's batch axis may sit
anywhere (see :class:`~viewer.convert.onnx_values.Tensor`), so every ONNX
axis is mapped to Strata's batch-first layout with ``Tensor.axis``.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from viewer.convert.onnx_shape import ShapeOps
from viewer.convert.onnx_values import BatchConst, Refused, Tensor, is_const
from viewer.net.layers import (Activation, Add, AvgPool2D, BatchNorm, Conv2D, Dense, Dropout, Layer,
                               MaxPool2D, Multiply)
from viewer.net.layers.conv_extra import AvgPool1D, Conv1D, Conv2DTranspose, MaxPool1D
from viewer.net.layers.tensor import (Arithmetic, ConstArithmetic, LayerNorm, MatMul, PReLU, Reduce,
                                      Unary)


def _scaled(W: np.ndarray, alpha: float) -> np.ndarray:
    """``W * alpha`` in place (``W`` is the converter's own copy; VGG's weights are 400 MB)."""
    if alpha != 1.0:
        W *= np.float32(alpha)
    return W


class Ops(ShapeOps):
    """The handlers, bound to a naming function and the model's opset."""

    def __init__(self, name: Callable[[Any, int], str], opset: int, static_batch: int | None) -> None:
        self.name = name
        self.opset = opset
        self.static_batch = static_batch
        # (id of a constant, how it was derived) -> (the constant, the derived array): nodes
        # reading one initializer (an unrolled recurrent net's every step) share one copy.
        self._derived: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}

    def derived(self, source: np.ndarray, how: tuple, make: Callable[[], np.ndarray]) -> np.ndarray:
        """``make()``, computed once per constant ``source`` and recipe ``how``."""
        key = (id(source),) + how
        if key not in self._derived:
            self._derived[key] = (source, make())  # the source is kept, so its id stays its own
        return self._derived[key][1]

    # -- input helpers ---------------------------------------------------------------

    @staticmethod
    def tensor(inputs: list, i: int = 0) -> Tensor:
        value = inputs[i] if i < len(inputs) else None
        if not isinstance(value, Tensor):
            raise Refused("this input combination (a constant where data is expected)")
        return value

    @staticmethod
    def const(inputs: list, i: int, what: str) -> np.ndarray | None:
        value = inputs[i] if i < len(inputs) else None
        if value is None or is_const(value):
            return value
        raise Refused(f"its {what} must be a constant")

    @staticmethod
    def sample_const(c: Any, t: Tensor) -> tuple[np.ndarray, int]:
        """A constant broadcast against ``t`` (ONNX rules), in Strata's batch-first layout.

        Returns the constant with a leading axis of size 1, and the ONNX batch
        axis of the result (the result may have more axes than ``t``).
        """
        if isinstance(c, BatchConst):
            value, c_batch = c.value, c.batch_axis
        else:
            value, c_batch = np.asarray(c), None
        rank = max(t.rank, value.ndim)
        batch = t.batch_axis + rank - t.rank
        if c_batch is not None and c_batch + rank - value.ndim != batch:
            raise Refused("a batch-sized constant that does not line up with the batch")
        full = value.reshape((1,) * (rank - value.ndim) + value.shape)
        if full.shape[batch] != 1:
            raise Refused("a constant that varies along the batch axis")
        return np.moveaxis(full, batch, 0), batch

    def same_layout(self, tensors: list[Tensor], broadcast: bool = False) -> int:
        """The batch axis shared by ``tensors`` (right-aligned if ``broadcast``)."""
        rank = max(t.rank for t in tensors)
        if not broadcast and any(t.rank != rank for t in tensors):
            raise Refused("inputs of different ranks")
        axes = {t.batch_axis + rank - t.rank for t in tensors}
        if len(axes) != 1:
            raise Refused("inputs whose batch axes do not line up")
        return axes.pop()

    def batch_first(self, t: Tensor) -> None:
        if t.batch_axis != 0:
            raise Refused("data whose batch axis is not first")

    # -- element-wise ------------------------------------------------------------------

    BINARY = {"Add": "add", "Sub": "sub", "Mul": "mul", "Div": "div", "Pow": "pow", "Max": "max",
              "Min": "min", "Greater": "greater", "Less": "less", "Equal": "equal",
              "GreaterOrEqual": "greater_equal", "LessOrEqual": "less_equal", "Sum": "add"}

    def binary(self, node: Any, inputs: list, attrs: dict) -> list:
        op = self.BINARY[node.op_type]
        tensors = [v for v in inputs if isinstance(v, Tensor)]
        name = self.name(node, 0)
        if len(tensors) == len(inputs):
            axis = self.same_layout(tensors, broadcast=True)
            layers = tuple(t.layer for t in tensors)
            same = len({t.layer.output_shape for t in tensors}) == 1
            if same and op == "add":
                return [Tensor(Add(layers, name=name), axis)]
            if same and op == "mul":
                return [Tensor(Multiply(layers, name=name), axis)]
            return [Tensor(Arithmetic(layers, name=name, op=op), axis)]
        if len(inputs) != 2:
            raise Refused("more than two inputs mixing data and constants")
        reverse = not isinstance(inputs[0], Tensor)
        t, c = (inputs[1], inputs[0]) if reverse else (inputs[0], inputs[1])
        value, batch = self.sample_const(c, t)
        return [Tensor(ConstArithmetic(t.layer, name=name, c=value, op=op, reverse=reverse), batch)]

    def where(self, node: Any, inputs: list, attrs: dict) -> list:
        tensors = [self.tensor(inputs, i) for i in range(3)]
        axis = self.same_layout(tensors, broadcast=True)
        return [Tensor(Arithmetic(tuple(t.layer for t in tensors), name=self.name(node, 0), op="where"),
                       axis)]

    ACTIVATIONS = {"Relu": ("relu", {}), "Sigmoid": ("sigmoid", {}), "Tanh": ("tanh", {}),
                   "Softplus": ("softplus", {}), "Softsign": ("softsign", {}), "Identity": ("linear", {}),
                   "HardSwish": ("hard_swish", {})}
    UNARY = {"Erf": "erf", "Exp": "exp", "Log": "log", "Sqrt": "sqrt", "Abs": "abs", "Neg": "neg",
             "Reciprocal": "reciprocal", "Floor": "floor", "Ceil": "ceil", "Sin": "sin", "Cos": "cos",
             "Sign": "sign"}

    def activation(self, node: Any, inputs: list, attrs: dict) -> list:
        t, op, name = self.tensor(inputs), node.op_type, self.name(node, 0)
        if op in self.UNARY:
            return [Tensor(Unary(t.layer, name=name, function=self.UNARY[op]), t.batch_axis)]
        if op in self.ACTIVATIONS:
            function, options = self.ACTIVATIONS[op]
        elif op == "LeakyRelu":
            function, options = "leaky_relu", {"alpha": float(attrs.get("alpha", 0.01))}
        elif op == "Elu":
            function, options = "elu", {"alpha": float(attrs.get("alpha", 1.0))}
        elif op == "Selu":
            if abs(attrs.get("alpha", 1.67326319) - 1.67326319) > 1e-6 or \
                    abs(attrs.get("gamma", 1.05070102) - 1.05070102) > 1e-6:
                raise Refused("Selu with non-standard alpha/gamma")
            function, options = "selu", {}
        elif op == "HardSigmoid":
            function = "hard_sigmoid"
            options = {"slope": float(attrs.get("alpha", 0.2)), "offset": float(attrs.get("beta", 0.5))}
        elif op == "Gelu":
            approximate = attrs.get("approximate", "none")
            function, options = ("gelu_tanh" if approximate == "tanh" else "gelu"), {}
        else:  # Softmax, LogSoftmax
            axis = int(attrs.get("axis", -1 if self.opset >= 13 else 1))
            if self.opset < 13 and axis % t.rank != t.rank - 1:
                raise Refused(f"{op} over axes {axis}.. (before opset 13) is not supported")
            if t.is_batch(axis):
                raise Refused(f"{op} across the batch")
            function = "softmax" if op == "Softmax" else "log_softmax"
            options = {"axis": t.axis(axis)}
        return [Tensor(Activation(t.layer, name=name, function=function, **options), t.batch_axis)]

    def clip(self, node: Any, inputs: list, attrs: dict) -> list:
        t = self.tensor(inputs)
        low = self.const(inputs, 1, "minimum") if len(inputs) > 1 else attrs.get("min")
        high = self.const(inputs, 2, "maximum") if len(inputs) > 2 else attrs.get("max")
        return [Tensor(Unary(t.layer, name=self.name(node, 0), function="clip",
                             low=None if low is None else float(np.asarray(low)),
                             high=None if high is None else float(np.asarray(high))), t.batch_axis)]

    def prelu(self, node: Any, inputs: list, attrs: dict) -> list:
        t = self.tensor(inputs)
        slope = self.const(inputs, 1, "slope")
        value, batch = self.sample_const(slope, t)
        if batch != t.batch_axis:
            raise Refused("slopes with more axes than the data")
        alpha = value[0]
        return [Tensor(PReLU(t.layer, name=self.name(node, 0), alpha=alpha), t.batch_axis)]

    def dropout(self, node: Any, inputs: list, attrs: dict) -> list:
        t = self.tensor(inputs)
        ratio = self.const(inputs, 1, "ratio") if len(inputs) > 1 else attrs.get("ratio", 0.5)
        layer = Dropout(t.layer, name=self.name(node, 0),
                        rate=float(0.5 if ratio is None else np.asarray(ratio)))
        return [Tensor(layer, t.batch_axis)] + [None] * (len(node.output) - 1)

    # -- dense, convolution, pooling, normalisation ----------------------------------

    def gemm(self, node: Any, inputs: list, attrs: dict) -> list:
        t = self.tensor(inputs)
        if attrs.get("transA", 0) or t.rank != 2 or t.batch_axis != 0:
            raise Refused("Gemm on anything but (batch, features) data")
        B = self.const(inputs, 1, "weight matrix")
        trans, alpha, beta = attrs.get("transB", 0), float(attrs.get("alpha", 1.0)), float(attrs.get("beta", 1.0))
        # C order, as a net file gives it back, so a saved net computes exactly the same
        W = self.derived(B, ("gemm", trans, alpha), lambda: _scaled(
            np.ascontiguousarray(B.T if trans else B, dtype=np.float32), alpha))
        C = self.const(inputs, 2, "bias")
        b = None
        if C is not None:
            b = self.derived(C, ("gemm bias", beta, W.shape[1]), lambda: np.broadcast_to(
                np.asarray(C) * beta, (1, W.shape[1]))[0].astype(np.float32))
        return [Tensor(Dense(t.layer, name=self.name(node, 0), W=W, b=b), 0)]

    def matmul(self, node: Any, inputs: list, attrs: dict) -> list:
        name = self.name(node, 0)
        if isinstance(inputs[0], Tensor) and isinstance(inputs[1], Tensor):
            a, b = inputs
            if a.batch_axis or b.batch_axis or a.rank < 3 or b.rank < 3:
                raise Refused("MatMul of two data tensors needs batch-first stacks of matrices")
            return [Tensor(MatMul((a.layer, b.layer), name=name), 0)]
        t = self.tensor(inputs)
        W = self.const(inputs, 1, "weight matrix")
        if W.ndim != 2 or t.batch_axis == t.rank - 1:
            raise Refused("MatMul by a constant that is not a matrix applied to features")
        return [Tensor(Dense(t.layer, name=name, W=W), t.batch_axis)]

    @staticmethod
    def _pads(attrs: dict, dims: int) -> list[tuple[int, int]]:
        pads = list(attrs.get("pads", [0] * 2 * dims))
        return [(int(pads[i]), int(pads[i + dims])) for i in range(dims)]

    def _padding(self, attrs: dict, dims: int) -> Any:
        auto = attrs.get("auto_pad", "NOTSET")
        if auto == "SAME_UPPER":
            return "same"
        if auto == "VALID":
            return "valid" if dims == 2 else (0, 0)
        if auto == "SAME_LOWER":
            raise Refused("auto_pad SAME_LOWER is not supported")
        pads = self._pads(attrs, dims)
        return tuple(pads) if dims == 2 else pads[0]

    def conv(self, node: Any, inputs: list, attrs: dict) -> list:
        t = self.tensor(inputs)
        self.batch_first(t)
        W = self.const(inputs, 1, "kernel")
        b = self.const(inputs, 2, "bias")
        dims, name = W.ndim - 2, self.name(node, 0)
        strides = attrs.get("strides", [1] * dims)
        dilations = attrs.get("dilations", [1] * dims)
        groups = int(attrs.get("group", 1))
        if dims == 2:
            layer: Layer = Conv2D(t.layer, name=name, W=W, b=b, stride=strides, dilation=dilations,
                                  padding=self._padding(attrs, 2), groups=groups,
                                  data_format="channels_first")
        elif dims == 1:
            layer = Conv1D(t.layer, name=name, W=W, b=b, stride=strides[0], dilation=dilations[0],
                           padding=self._padding(attrs, 1), groups=groups, data_format="channels_first")
        else:
            raise Refused(f"{dims}-D convolution is not supported")
        return [Tensor(layer, 0)]

    def conv_transpose(self, node: Any, inputs: list, attrs: dict) -> list:
        t = self.tensor(inputs)
        self.batch_first(t)
        W = self.const(inputs, 1, "kernel")
        if W.ndim != 4:
            raise Refused("only 2-D transposed convolution is supported")
        strides = [int(s) for s in attrs.get("strides", [1, 1])]
        dilations = [int(d) for d in attrs.get("dilations", [1, 1])]
        extra = [int(p) for p in attrs.get("output_padding", [0, 0])]
        if "output_shape" in attrs or attrs.get("auto_pad", "NOTSET") != "NOTSET":
            raise Refused("output_shape / auto_pad on ConvTranspose is not supported")
        layer = Conv2DTranspose(t.layer, name=self.name(node, 0), W=W, b=self.const(inputs, 2, "bias"),
                                stride=strides, crop=self._pads(attrs, 2), output_padding=extra,
                                dilation=dilations, groups=int(attrs.get("group", 1)),
                                data_format="channels_first")
        return [Tensor(layer, 0)]

    def pool(self, node: Any, inputs: list, attrs: dict) -> list:
        t = self.tensor(inputs)
        self.batch_first(t)
        size = [int(k) for k in attrs["kernel_shape"]]
        strides = [int(s) for s in attrs.get("strides", [1] * len(size))]
        if any(d != 1 for d in attrs.get("dilations", [])):
            raise Refused("dilated pooling is not supported")
        is_max, name = node.op_type == "MaxPool", self.name(node, 0)
        if len(node.output) > 1 and node.output[1]:
            raise Refused("MaxPool's indices output is not supported")
        ceil = bool(attrs.get("ceil_mode", 0))
        include = bool(attrs.get("count_include_pad", 0))
        if len(size) == 2:
            extra = {} if is_max else {"count_include_pad": include}
            kind = MaxPool2D if is_max else AvgPool2D
            layer: Layer = kind(t.layer, name=name, pool_size=size, stride=strides,
                                padding=self._padding(attrs, 2), ceil_mode=ceil,
                                data_format="channels_first", **extra)
        elif len(size) == 1 and not ceil:
            kind1 = MaxPool1D if is_max else AvgPool1D
            layer = kind1(t.layer, name=name, pool_size=size[0], stride=strides[0],
                          padding=self._padding(attrs, 1), count_include_pad=include,
                          data_format="channels_first")
        else:
            raise Refused("this pooling (3-D, or 1-D with ceil_mode) is not supported")
        return [Tensor(layer, 0)]

    def global_pool(self, node: Any, inputs: list, attrs: dict) -> list:
        t = self.tensor(inputs)
        self.batch_first(t)
        op = "max" if node.op_type == "GlobalMaxPool" else "mean"
        return [Tensor(Reduce(t.layer, name=self.name(node, 0), op=op, axes=list(range(2, t.rank)),
                              keepdims=True), 0)]

    def batch_norm(self, node: Any, inputs: list, attrs: dict) -> list:
        t = self.tensor(inputs)
        if attrs.get("training_mode", 0):
            raise Refused("training-mode batch normalisation")
        gamma, beta, mean, var = (self.const(inputs, i, "statistics") for i in range(1, 5))
        layer = BatchNorm(t.layer, name=self.name(node, 0), mean=mean, var=var, gamma=gamma, beta=beta,
                          eps=float(attrs.get("epsilon", 1e-5)), axis=t.axis(1))
        return [Tensor(layer, t.batch_axis)]

    def layer_norm(self, node: Any, inputs: list, attrs: dict) -> list:
        t = self.tensor(inputs)
        axis = int(attrs.get("axis", -1)) % t.rank
        axes = [t.axis(a) for a in range(axis, t.rank)]
        if 0 in axes:
            raise Refused("normalisation across the batch")
        if len(node.output) > 1 and any(node.output[1:]):
            raise Refused("LayerNormalization's mean/variance outputs are not supported")
        layer = LayerNorm(t.layer, name=self.name(node, 0), gamma=self.const(inputs, 1, "scale"),
                          beta=self.const(inputs, 2, "bias"), eps=float(attrs.get("epsilon", 1e-5)),
                          axes=axes)
        return [Tensor(layer, t.batch_axis)]

    def reduce(self, node: Any, inputs: list, attrs: dict) -> list:
        t = self.tensor(inputs)
        axes = attrs.get("axes")
        if len(inputs) > 1 and inputs[1] is not None:
            axes = [int(a) for a in self.const(inputs, 1, "axes").reshape(-1)]
        if not axes:
            raise Refused("a reduction over every axis, the batch included")
        if any(t.is_batch(a) for a in axes):
            raise Refused("a reduction across the batch")
        keep = bool(attrs.get("keepdims", 1))
        op = {"ReduceMean": "mean", "ReduceSum": "sum", "ReduceMax": "max", "ReduceMin": "min",
              "ReduceProd": "prod"}[node.op_type]
        layer = Reduce(t.layer, name=self.name(node, 0), op=op, axes=[t.axis(a) for a in axes],
                       keepdims=keep)
        batch = t.batch_axis if keep else t.batch_axis - sum(1 for a in axes if a % t.rank < t.batch_axis)
        return [Tensor(layer, batch)]

    def handlers(self) -> dict[str, Callable[[Any, list, dict], list]]:
        table: dict[str, Callable[[Any, list, dict], list]] = {}
        for op in self.BINARY:
            table[op] = self.binary
        for op in list(self.ACTIVATIONS) + list(self.UNARY) + ["LeakyRelu", "Elu", "Selu", "HardSigmoid",
                                                              "Gelu", "Softmax", "LogSoftmax"]:
            table[op] = self.activation
        table.update({
            "Where": self.where, "Clip": self.clip, "PRelu": self.prelu, "Dropout": self.dropout,
            "Gemm": self.gemm, "MatMul": self.matmul, "Conv": self.conv,
            "ConvTranspose": self.conv_transpose, "MaxPool": self.pool, "AveragePool": self.pool,
            "GlobalAveragePool": self.global_pool, "GlobalMaxPool": self.global_pool,
            "BatchNormalization": self.batch_norm, "LayerNormalization": self.layer_norm,
            "ReduceMean": self.reduce, "ReduceSum": self.reduce, "ReduceMax": self.reduce,
            "ReduceMin": self.reduce, "ReduceProd": self.reduce,
            "Reshape": self.reshape, "Flatten": self.flatten, "Transpose": self.transpose,
            "Squeeze": self.squeeze_unsqueeze, "Unsqueeze": self.squeeze_unsqueeze,
            "Concat": self.concat, "Gather": self.gather, "Slice": self.slice, "Split": self.split,
            "Pad": self.pad, "Resize": self.resize, "Upsample": self.resize, "Expand": self.expand,
            "Cast": self.cast,
        })
        return table
