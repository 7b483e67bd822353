"""Convert Theano graphs (and, through lasagne.py, Lasagne networks) to a Net.

This runs inside the user's own Theano environment (Theano 1.0.5, numpy
1.23, no Qt): Theano is imported only when a Theano object is converted.

The converter walks the graph from the inputs: constants and shared
variables (the weights) are folded with Theano's own ``perform``, shape
arithmetic included (the batch size stands as :data:`BATCH`). Operations on
the data become layers: dot/Dot22 -> Dense; AbstractConv2d (kernel flipped
when ``filter_flip``, i.e. a true convolution) and CorrMM (a correlation)
-> Conv2D; Pool -> MaxPool2D/AvgPool2D; Softmax(WithBias) -> Activation;
batch_normalization_test -> BatchNorm; Reshape/Flatten/DimShuffle -> shape
layers. Element-wise ops, Theano's fused ``Composite`` ones included, are
merged into one :class:`~viewer.net.layers.expression.Elementwise` layer per
chain, computing the formula exactly as Theano wrote it.

Pickles are programs: :func:`convert_pickle` loads one only when told to
trust it. The viewer itself never does.
"""

from __future__ import annotations

import os
import pickle
from typing import Any

import numpy as np

from viewer.convert.onnx_values import BATCH, BatchConst, Tensor
from viewer.errors import ConversionError, LayerError
from viewer.net import Net
from viewer.net.layers import (Activation, AvgPool2D, BatchNorm, Concatenate, Conv2D, Dense, Flatten, Input,
                               Layer, MaxPool2D, Permute, Reshape)
from viewer.net.layers.conv_extra import Conv2DTranspose, Upsample
from viewer.net.layers.expression import Elementwise
from viewer.net.layers.tensor import ConstArithmetic, Pad, Reduce

PASS_THROUGH = ("Rebroadcast", "SpecifyShape", "DeepCopyOp", "ViewOp", "OutputGuard", "HostFromGpu",
                "GpuFromHost", "GpuContiguous")
SCALAR_OPS = {
    "Add": "add", "Sub": "sub", "Mul": "mul", "TrueDiv": "div", "IntDiv": "floordiv", "Neg": "neg",
    "Abs": "abs", "Exp": "exp", "Log": "log", "Log1p": "log1p", "Expm1": "expm1", "Sqrt": "sqrt",
    "Sqr": "sqr", "Inv": "inv", "Tanh": "tanh", "ScalarSigmoid": "sigmoid", "ScalarSoftplus": "softplus",
    "Maximum": "maximum", "Minimum": "minimum", "Pow": "pow", "Switch": "switch", "GT": "gt",
    "LT": "lt", "GE": "ge", "LE": "le", "EQ": "eq", "NEQ": "neq", "Erf": "erf", "Cast": "identity",
    "Identity": "identity", "Second": "second", "Clip": "clip", "Sin": "sin", "Cos": "cos",
    "Floor": "floor", "Ceil": "ceil", "RoundHalfToEven": "round", "AND": "and", "OR": "or",
    "Invert": "not",
}


def theano_modules() -> Any:
    """Import Theano (with the shims Python 3.9+ needs), or say what is missing."""
    import collections
    import collections.abc
    import inspect
    for name in ("Iterable", "Mapping", "MutableMapping", "Sequence", "Callable"):
        if not hasattr(collections, name):
            setattr(collections, name, getattr(collections.abc, name))
    if not hasattr(inspect, "getargspec"):
        inspect.getargspec = inspect.getfullargspec
    try:
        import theano
        import theano.ifelse  # noqa: F401 - registers scan's optimisations
    except ImportError:
        raise ConversionError("converting Theano or Lasagne models needs Theano: run the converter "
                              "in the model's own environment (python -m viewer.convert ...)") from None
    return theano


class Refused(Exception):
    """A graph node that cannot be converted; the message says why."""


class Expr:
    """An element-wise formula not yet made a layer (so chains fuse into one)."""

    def __init__(self) -> None:
        self.inputs: list[Layer] = []
        self.consts: list[np.ndarray] = []
        self.steps: list[list] = []

    def ref(self, value: Any) -> list:
        if isinstance(value, Tensor):
            if value.layer not in self.inputs:
                self.inputs.append(value.layer)
            return ["in", self.inputs.index(value.layer)]
        if isinstance(value, Expr):
            offset, mapping = len(self.steps), {}
            for i, layer in enumerate(value.inputs):
                mapping[i] = self.ref(Tensor(layer))[1]
            base = len(self.consts)
            self.consts += value.consts
            for step in value.steps:
                self.steps.append([step[0]] + [self._shift(a, mapping, base, offset) for a in step[1:]])
            return ["step", len(self.steps) - 1]
        array = np.asarray(value.value if isinstance(value, BatchConst) else value)
        if array.size == 1 and array.dtype.kind in "fiub":
            return ["num", float(array.reshape(-1)[0])]
        if array.ndim == 0 or array.shape[0] != 1:
            raise Refused("an element-wise constant that varies along the batch")
        self.consts.append(array)
        return ["const", len(self.consts) - 1]

    @staticmethod
    def _shift(arg: list, mapping: dict, base: int, offset: int) -> list:
        kind, i = arg
        if kind == "in":
            return ["in", mapping[i]]
        if kind == "const":
            return ["const", i + base]
        if kind == "step":
            return ["step", i + offset]
        return arg

    def add(self, op: str, args: list) -> list:
        self.steps.append([op] + args)
        return ["step", len(self.steps) - 1]


class Walker:
    """Converts the nodes between given input values and output variables."""

    def __init__(self, theano: Any) -> None:
        self.theano = theano
        self.layers: list[Layer] = []
        self.names: set[str] = set()
        self.refused: list[str] = []
        self.values: dict[Any, Any] = {}
        self.made: dict[Any, Tensor] = {}
        self.trace: dict[str, Any] = {}  # layer name -> the Theano variable it computes
        self.prefix = ""

    def unique(self, wanted: str) -> str:
        name, i = wanted, 2
        while name in self.names:
            name, i = f"{wanted}_{i}", i + 1
        self.names.add(name)
        return name

    def add(self, layer: Layer, var: Any = None) -> Tensor:
        self.layers.append(layer)
        if var is not None:
            self.trace[layer.name] = var
        return Tensor(layer)

    # -- values -------------------------------------------------------------------------

    def value(self, var: Any) -> Any:
        if var in self.values:
            return self.values[var]
        if hasattr(var, "data") and var.owner is None:  # TensorConstant
            return np.asarray(var.data)
        if hasattr(var, "get_value"):  # shared variable: weights
            return np.asarray(var.get_value(borrow=False))
        raise Refused(f"input {var.name or var!r} has no value (pass it as a graph input)")

    def step_name(self, what: str) -> str:
        """A name for a layer the current walk makes: ``<prefix>_<what>`` or ``<what>``."""
        return f"{self.prefix}_{what}" if self.prefix else what

    def tensor(self, var: Any, name: str | None = None) -> Tensor:
        """The data value of ``var`` as a layer output, making an Elementwise layer if needed."""
        value = self.value(var)
        if isinstance(value, Tensor):
            return value
        if isinstance(value, Expr):
            if var not in self.made:
                name = name or var.name or self.step_name("elementwise")
                layer = Elementwise.from_constants(tuple(value.inputs), name=self.unique(name),
                                                   steps=value.steps, constants=value.consts)
                self.made[var] = self.add(layer, var)
            return self.made[var]
        raise Refused("a constant where data is expected")

    # -- the walk -------------------------------------------------------------------------

    def walk(self, inputs: dict, outputs: list, prefix: str) -> None:
        """Convert every node between ``inputs`` (var -> value) and ``outputs``."""
        self.values.update(inputs)
        self.prefix = prefix
        for node in self.theano.gof.graph.io_toposort(list(inputs), outputs):
            if all(out in self.values for out in node.outputs):
                continue
            try:
                results = self.node(node, prefix)
            except Refused as exc:
                self.refused.append(f"{type(node.op).__name__} {str(node.op)[:60]!r} ({exc})")
                results = [None] * len(node.outputs)
            except (LayerError, ValueError, TypeError, IndexError) as exc:
                self.refused.append(f"{type(node.op).__name__} ({type(exc).__name__}: {exc})")
                results = [None] * len(node.outputs)
            for out, value in zip(node.outputs, results):
                self.values[out] = value

    def node(self, node: Any, prefix: str) -> list:
        op = type(node.op).__name__
        if any(self.values.get(v, 0) is None for v in node.inputs):
            if not (op in ("Elemwise", "Shape", "Shape_i") + PASS_THROUGH or hasattr(self, f"_op_{op}")):
                raise Refused("not supported")
            return [None] * len(node.outputs)  # downstream of a refused node: reported there
        values = [self.value(v) for v in node.inputs]
        data = [v for v in values if isinstance(v, (Tensor, Expr))]
        if op in PASS_THROUGH:
            return [values[0]]
        if op in ("Shape", "Shape_i") and data:
            return [self._shape(node, values[0])]
        if op == "Alloc" and not data and any(int(np.asarray(v)) == BATCH for v in values[1:]):
            return [self._batch_alloc(values)]
        if not data and not any(isinstance(v, BatchConst) for v in values):
            return self._fold(node, values)
        if op == "Elemwise":
            return [self._elemwise(node, values)]
        name = node.outputs[0].name or self.step_name(_short(op))
        handler = getattr(self, f"_op_{op}", None)
        if handler is None:
            raise Refused("not supported")
        return [handler(node, values, name)]

    @staticmethod
    def _batch_alloc(values: list) -> BatchConst:
        """A constant filled to a shape that starts with the batch size (e.g. T.zeros)."""
        dims = [int(np.asarray(v)) for v in values[1:]]
        if dims[0] != BATCH or BATCH in dims[1:] or np.prod(dims[1:], dtype=np.float64) > 1 << 26:
            raise Refused("a constant shaped by the batch size other than along the batch")
        return BatchConst(np.broadcast_to(np.asarray(values[0]), [1] + dims[1:]).copy(), 0)

    def _fold(self, node: Any, values: list) -> list:
        storage = [[None] for _ in node.outputs]
        params = node.op.get_params(node) if getattr(node.op, "params_type", None) is not None else None
        args = (node, values, storage) + ((params,) if params is not None else ())
        try:
            node.op.perform(*args)
        except Exception as exc:  # any op may fail on the batch placeholder
            raise Refused(f"cannot be computed while converting ({type(exc).__name__})") from None
        return [np.asarray(s[0]) for s in storage]

    @staticmethod
    def _shape(node: Any, value: Any) -> np.ndarray:
        if isinstance(value, Expr):
            raise Refused("the shape of a fused element-wise result")
        dims = [BATCH] + list(value.layer.output_shape)
        if any(d is None for d in dims):
            raise Refused("a shape unknown until run time")
        if type(node.op).__name__ == "Shape_i":
            return np.asarray(dims[node.op.i], np.int64)
        return np.asarray(dims, np.int64)

    def _elemwise(self, node: Any, values: list) -> Expr:
        expr = Expr()
        refs = [expr.ref(v) for v in values]
        scalar = node.op.scalar_op
        if type(scalar).__name__ == "Composite":
            if len(scalar.outputs) != 1:
                raise Refused("a fused op with several outputs")
            inner = dict(zip(scalar.inputs, refs))
            for sub in self.theano.gof.graph.io_toposort(scalar.inputs, scalar.outputs):
                args = [inner[v] if v in inner else ["num", float(v.data)] for v in sub.inputs]
                inner[sub.outputs[0]] = self._scalar(expr, sub.op, args)
        else:
            self._scalar(expr, scalar, refs)
        return expr

    @staticmethod
    def _scalar(expr: Expr, op: Any, args: list) -> list:
        name = SCALAR_OPS.get(type(op).__name__)
        if name is None:
            raise Refused(f"element-wise {type(op).__name__} is not supported")
        if name in ("add", "mul") and len(args) > 2:
            out = expr.add(name, args[:2])
            for more in args[2:]:
                out = expr.add(name, [out, more])
            return out
        return expr.add(name, args)

    # -- data ops (one method per Theano op class name) ----------------------------------

    def _op_DimShuffle(self, node: Any, values: list, name: str) -> Tensor:
        t = self.tensor(node.inputs[0])
        order = list(node.op.new_order)
        if not order or order[0] != 0:
            raise Refused("a dimshuffle that moves the batch axis")
        kept = [a for a in order if a != "x"]
        if kept == sorted(kept):
            shape = [1 if a == "x" else t.layer.output_shape[a - 1] for a in order[1:]]
            return self.add(Reshape(t.layer, name=self.unique(name), target_shape=shape), node.outputs[0])
        if "x" in order or len(kept) != len(t.layer.output_shape) + 1:
            raise Refused("a dimshuffle that both reorders and adds or drops axes")
        return self.add(Permute(t.layer, name=self.unique(name), dims=[a - 1 for a in order[1:]]),
                        node.outputs[0])

    def _dense(self, node: Any, values: list, name: str, scale: float = 1.0) -> Tensor:
        t = self.tensor(node.inputs[0])
        W = values[1]
        if isinstance(W, (Tensor, Expr)) or np.ndim(W) != 2:
            raise Refused("a product that is not data times a weight matrix")
        return self.add(Dense(t.layer, name=self.unique(name), W=np.asarray(W) * scale), node.outputs[0])

    _op_Dot = _op_Dot22 = _dense

    def _op_Dot22Scalar(self, node: Any, values: list, name: str) -> Tensor:
        return self._dense(node, values, name, float(values[2]))

    def _conv(self, node: Any, values: list, name: str, flip: bool) -> Tensor:
        t = self.tensor(node.inputs[0])
        W = values[1]
        if isinstance(W, (Tensor, Expr)) or np.ndim(W) != 4 or getattr(node.op, "unshared", False):
            raise Refused("only 2-D convolution by constant, shared kernels")
        W = np.ascontiguousarray(np.asarray(W)[:, :, ::-1, ::-1]) if flip else np.asarray(W)
        dilation = tuple(node.op.filter_dilation)
        padding = _border(node.op.border_mode, W.shape[2:], dilation)
        layer = Conv2D(t.layer, name=self.unique(name), W=W, stride=tuple(node.op.subsample),
                       padding=padding, dilation=dilation, groups=int(getattr(node.op, "num_groups", 1)),
                       data_format="channels_first")
        return self.add(layer, node.outputs[0])

    def _op_AbstractConv2d(self, node: Any, values: list, name: str) -> Tensor:
        return self._conv(node, values, name, bool(node.op.filter_flip))

    def _op_CorrMM(self, node: Any, values: list, name: str) -> Tensor:
        return self._conv(node, values, name, False)

    def _op_AbstractConv2d_gradInputs(self, node: Any, values: list, name: str) -> Tensor:
        W, t = values[0], self.tensor(node.inputs[1])
        if isinstance(W, (Tensor, Expr)) or np.ndim(W) != 4:
            raise Refused("a transposed convolution by data")
        W = np.ascontiguousarray(np.asarray(W)[:, :, ::-1, ::-1]) if node.op.filter_flip else np.asarray(W)
        dilation = tuple(node.op.filter_dilation)
        pads = _border(node.op.border_mode, W.shape[2:], dilation)
        if pads == "valid":
            pads = ((0, 0), (0, 0))
        h, w = t.layer.output_shape[1:]
        out = [int(s) for s in np.asarray(values[2]).reshape(-1)]
        extra = []
        for axis, n in enumerate((h, w)):
            full = (n - 1) * node.op.subsample[axis] + dilation[axis] * (W.shape[2 + axis] - 1) + 1
            extra.append(out[axis] - (full - sum(pads[axis])))
        layer = Conv2DTranspose(t.layer, name=self.unique(name), W=W, stride=tuple(node.op.subsample),
                                crop=pads, output_padding=extra, dilation=dilation,
                                groups=int(getattr(node.op, "num_groups", 1)), data_format="channels_first")
        return self.add(layer, node.outputs[0])

    def _op_Pool(self, node: Any, values: list, name: str) -> Tensor:
        t = self.tensor(node.inputs[0])
        size, stride, pad = (tuple(int(v) for v in np.asarray(values[i]).reshape(-1)) for i in (1, 2, 3))
        mode, name = node.op.mode, self.unique(name)
        common = {"pool_size": size, "stride": stride, "padding": ((pad[0],) * 2, (pad[1],) * 2),
                  "ceil_mode": not node.op.ignore_border, "data_format": "channels_first"}
        if mode == "max":
            layer: Layer = MaxPool2D(t.layer, name=name, **common)
        elif mode in ("average_inc_pad", "average_exc_pad"):
            layer = AvgPool2D(t.layer, name=name, count_include_pad=mode == "average_inc_pad", **common)
        else:
            raise Refused(f"pooling mode {mode!r}")
        return self.add(layer, node.outputs[0])

    def _op_Softmax(self, node: Any, values: list, name: str, log: bool = False) -> Tensor:
        t = self.tensor(node.inputs[0])
        function = "log_softmax" if log else "softmax"
        return self.add(Activation(t.layer, name=self.unique(name), function=function, axis=-1),
                        node.outputs[0])

    def _op_LogSoftmax(self, node: Any, values: list, name: str) -> Tensor:
        return self._op_Softmax(node, values, name, log=True)

    def _op_SoftmaxWithBias(self, node: Any, values: list, name: str) -> Tensor:
        t = self.tensor(node.inputs[0])
        bias = values[1]
        if isinstance(bias, (Tensor, Expr)):
            raise Refused("a softmax bias computed from data")
        shifted = self.add(ConstArithmetic(t.layer, name=self.unique(f"{name}_bias"),
                                           c=np.asarray(bias)[None], op="add"))
        return self.add(Activation(shifted.layer, name=self.unique(name), function="softmax", axis=-1),
                        node.outputs[0])

    def _op_Reshape(self, node: Any, values: list, name: str) -> Tensor:
        t = self.tensor(node.inputs[0])
        target = [int(s) for s in np.asarray(values[1]).reshape(-1)]
        per = t.layer.output_shape
        if any(d is None for d in per):
            raise Refused("a reshape of data with sizes unknown until run time")
        size = int(np.prod(per))
        if target and target[0] == -1 and int(np.prod(target[1:])) == size:
            target[0] = BATCH
        if not target or target[0] != BATCH or BATCH in target[1:]:
            raise Refused("a reshape that mixes the batch with other axes")
        return self.add(Reshape(t.layer, name=self.unique(name), target_shape=target[1:]), node.outputs[0])

    def _op_Flatten(self, node: Any, values: list, name: str) -> Tensor:
        t = self.tensor(node.inputs[0])
        outdim = int(getattr(node.op, "outdim", getattr(node.op, "ndim", 2)))
        if outdim == 2:
            return self.add(Flatten(t.layer, name=self.unique(name), data_format="channels_first"),
                            node.outputs[0])
        per = list(t.layer.output_shape)
        shape = per[:outdim - 2] + [int(np.prod(per[outdim - 2:]))]
        return self.add(Reshape(t.layer, name=self.unique(name), target_shape=shape), node.outputs[0])

    def _op_AbstractBatchNormInference(self, node: Any, values: list, name: str) -> Tensor:
        t = self.tensor(node.inputs[0])
        rank = len(t.layer.output_shape) + 1
        kept = [a for a in range(rank) if a not in tuple(node.op.axes)]
        if len(kept) != 1 or kept[0] == 0:
            raise Refused("batch normalisation over other than one channel axis")
        scale, bias, mean, var = (np.asarray(v).reshape(-1) for v in values[1:5])
        layer = BatchNorm(t.layer, name=self.unique(name), mean=mean, var=var, gamma=scale, beta=bias,
                          eps=float(np.asarray(values[5])), axis=kept[0])
        return self.add(layer, node.outputs[0])

    def _op_Alloc(self, node: Any, values: list, name: str) -> Tensor:
        """Broadcast data along its size-1 axes (how Theano repeats): an Upsample."""
        t = self.tensor(node.inputs[0])
        target = [int(np.asarray(v)) for v in values[1:]]
        have = list(t.layer.output_shape)
        if len(target) != len(have) + 1 or target[0] != BATCH:
            raise Refused("an Alloc that adds axes or changes the batch")
        if any(h not in (1, n) for h, n in zip(have, target[1:])):
            raise Refused("an Alloc of data to an incompatible shape")
        scale = [n if h == 1 else 1 for h, n in zip(have, target[1:])]
        return self.add(Upsample(t.layer, name=self.unique(name), scale=scale), node.outputs[0])

    def _op_IncSubtensor(self, node: Any, values: list, name: str) -> Tensor:
        """Data written into a constant-filled block (how Lasagne pads): a Pad layer."""
        base, t = values[0], self.tensor(node.inputs[1])
        fill = np.unique(base.value) if isinstance(base, BatchConst) else []
        if len(fill) != 1:
            raise Refused("writing data into anything but a constant-filled block")
        bounds = iter(int(np.asarray(v)) for v in values[2:])
        shape, pads = base.value.shape, []
        for axis, entry in enumerate(list(node.op.idx_list) + [slice(None)] * (len(shape) - len(node.op.idx_list))):
            if not isinstance(entry, slice) or entry.step is not None:
                raise Refused("writing data through indices or strides")
            start = next(bounds) if entry.start is not None else 0
            stop = next(bounds) if entry.stop is not None else None
            if axis == 0:
                if start != 0 or stop is not None:
                    raise Refused("writing into part of the batch")
                continue
            stop = shape[axis] if stop is None else (stop + shape[axis] if stop < 0 else stop)
            pads.append((start, shape[axis] - stop))
        layer = Pad(t.layer, name=self.unique(name), pads=pads, value=float(fill[0]))
        return self.add(layer, node.outputs[0])

    def _reduce(self, node: Any, values: list, name: str, op: str) -> Tensor:
        t = self.tensor(node.inputs[0])
        axes = node.op.axis
        if axes is None or 0 in axes:
            raise Refused("a reduction across the batch")
        return self.add(Reduce(t.layer, name=self.unique(name), op=op, axes=list(axes)), node.outputs[0])

    def _op_Sum(self, node: Any, values: list, name: str) -> Tensor:
        return self._reduce(node, values, name, "sum")

    def _op_Prod(self, node: Any, values: list, name: str) -> Tensor:
        return self._reduce(node, values, name, "prod")

    def _op_Max(self, node: Any, values: list, name: str) -> Tensor:
        return self._reduce(node, values, name, "max")

    def _op_Min(self, node: Any, values: list, name: str) -> Tensor:
        return self._reduce(node, values, name, "min")

    def _op_Join(self, node: Any, values: list, name: str) -> Tensor:
        axis = int(np.asarray(values[0]))
        if axis == 0:
            raise Refused("concatenation along the batch")
        parts = tuple(self.tensor(v).layer for v in node.inputs[1:])
        return self.add(Concatenate(parts, name=self.unique(name), axis=axis), node.outputs[0])


def _short(op: str) -> str:
    return {"AbstractConv2d": "conv", "CorrMM": "conv", "Dot22": "dot", "Dot": "dot",
            "Dot22Scalar": "dot", "AbstractConv2d_gradInputs": "deconv"}.get(op, op.lower())


def _border(mode: Any, kernel: tuple, dilation: tuple) -> Any:
    """Theano's border_mode as Conv2D padding."""
    effective = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
    if mode == "valid":
        return "valid"
    if mode == "full":
        return tuple((e - 1, e - 1) for e in effective)
    if mode == "half":
        return tuple((e // 2, e // 2) for e in effective)
    if isinstance(mode, int):
        return ((mode, mode), (mode, mode))
    try:
        return tuple((int(p), int(p)) if np.ndim(p) == 0 else (int(p[0]), int(p[1])) for p in mode)
    except (TypeError, ValueError):
        raise Refused(f"border mode {mode!r}") from None


def _check(walker: Walker, where: str) -> None:
    if walker.refused:
        count = "1 node" if len(walker.refused) == 1 else f"{len(walker.refused)} nodes"
        raise ConversionError(f"{where}: cannot convert {count}: " + "; ".join(walker.refused))


def convert_theano(outputs: Any, *, input_shape: Any = None, name: str = "theano",
                   trace: dict | None = None) -> Net:
    """Convert Theano output variables, or a compiled ``theano.function``.

    Parameters
    ----------
    outputs : Variable, list of Variable, or theano.compile.function_module.Function
    input_shape : tuple or dict, optional
        Per-sample shape of the input (without the batch axis), or a dict by
        input name for several inputs. Theano variables know their rank only.
    trace : dict, optional
        Filled with layer name -> the Theano variable the layer computes, so
        that the caller can compute reference outputs (the fixture scripts do).
    """
    theano = theano_modules()
    walker = Walker(theano)
    start: dict = {}
    if hasattr(outputs, "maker"):  # a compiled function: its optimised graph
        graph = outputs.maker.fgraph
        inputs, outs = [], list(graph.outputs)
        for var, spec, storage in zip(graph.inputs, outputs.maker.inputs, outputs.input_storage):
            if spec.shared:  # the weights live in the function's storage
                start[var] = np.asarray(storage.data)
            else:
                inputs.append(var)
    else:
        outs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
        inputs = [v for v in theano.gof.graph.inputs(outs)
                  if v.owner is None and not hasattr(v, "get_value") and not hasattr(v, "data")]
    for i, var in enumerate(inputs):
        shape = input_shape.get(var.name) if isinstance(input_shape, dict) else input_shape
        if shape is None or len(shape) != var.ndim - 1:
            raise ConversionError(f"give the per-sample shape of input {var.name or i!r} "
                                  f"({var.ndim - 1} sizes) as input_shape")
        layer = Input(name=walker.unique(var.name or f"input_{i}"), shape=list(shape),
                      data_format="channels_first" if var.ndim == 4 else None)
        walker.layers.append(layer)
        start[var] = Tensor(layer)
    walker.walk(start, outs, "")
    _check(walker, name)
    for i, out in enumerate(outs):
        try:
            walker.tensor(out)
        except Refused as exc:
            raise ConversionError(f"{name}: output {i} cannot be converted ({exc})") from None
    if trace is not None:
        trace.update(walker.trace)
    return Net(walker.layers, name=name, source=f"Theano {theano.__version__} graph")


def convert_object(obj: Any, *, input_shape: Any = None, trust_pickle: bool = False,
                   trace: dict | None = None) -> Net:
    """Convert a live Lasagne network or Theano graph (``trust_pickle`` is for files only)."""
    if type(obj).__module__.split(".")[0] == "lasagne" or (
            isinstance(obj, (list, tuple)) and obj and type(obj[0]).__module__.split(".")[0] == "lasagne"):
        from viewer.convert.lasagne import convert_lasagne
        return convert_lasagne(obj, trace=trace)
    return convert_theano(obj, input_shape=input_shape, trace=trace)


def convert_pickle(path: str | os.PathLike, *, source_format: str = "theano", trust_pickle: bool = False,
                   input_shape: Any = None) -> Net:
    """Load a pickled Lasagne network or Theano function/variables and convert it.

    A pickle is a program: loading it runs whatever code its author put in.
    It is loaded only with ``trust_pickle=True`` (``--trust-pickle``).
    """
    path = os.fspath(path)
    if not trust_pickle:
        raise ConversionError(f"{path} is a pickle: loading it runs code chosen by whoever wrote the "
                              "file. Convert it only if you made it or trust its author, with "
                              "--trust-pickle (trust_pickle=True). Strata itself never loads pickles.")
    theano_modules()
    try:
        with open(path, "rb") as fh:
            obj = pickle.load(fh, encoding="latin1")  # latin1: pickles from Python 2 load too
    except Exception as exc:  # unpickling reports any failure of the pickled program
        raise ConversionError(f"{path}: the pickle could not be loaded ({type(exc).__name__}: {exc})") from None
    net = convert_object(obj, input_shape=input_shape)
    net.name = os.path.splitext(os.path.basename(path))[0]
    return net
