"""Theano ops on data -> Strata layers: the graph walker's handlers.

A mixin of :class:`~viewer.convert.theano_graph.Walker`, one method
``_op_<Theano op class name>`` per op; the walker provides ``tensor``,
``unique`` and ``add``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from viewer.convert.onnx_values import BATCH, BatchConst, Refused, Tensor
from viewer.net.layers import (Activation, AvgPool2D, BatchNorm, Concatenate, Conv2D, Dense, Flatten, Layer,
                               MaxPool2D, Permute, Reshape)
from viewer.net.layers.conv_extra import Conv2DTranspose, Upsample
from viewer.net.layers.indexing import Pad, Slice
from viewer.net.layers.tensor import ConstArithmetic, Reduce


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


class TheanoOps:
    """Handlers for the Theano ops that compute on the data."""

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

    def _op_Gemm(self, node: Any, values: list, name: str) -> Expr:
        """``b * z + a * dot(x, y)`` (Theano fuses a product and a sum into it): a Dense
        layer for the product, the rest an element-wise formula that later steps extend."""
        z, a, x, y, b = values
        if isinstance(y, (Tensor, Expr)) or isinstance(a, (Tensor, Expr)) or isinstance(b, (Tensor, Expr)) \
                or np.ndim(y) != 2:
            raise Refused("a product that is not data times a weight matrix")
        scale, keep = float(np.asarray(a)), float(np.asarray(b))
        product = self.add(Dense(self.tensor(node.inputs[2]).layer, name=self.unique(name),
                                 W=np.asarray(y) * scale))
        expr = Expr()
        total = expr.ref(product)
        if keep != 0.0:
            kept = expr.ref(z)
            if keep != 1.0:
                kept = expr.add("mul", [kept, ["num", keep]])
            total = expr.add("add", [kept, total])
        else:
            total = expr.add("identity", [total])
        return expr

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

    def _op_CAReduce(self, node: Any, values: list, name: str) -> Tensor:
        """A reduction by a scalar op (what a compiled graph makes of max, min, sum, prod)."""
        op = {"Maximum": "max", "Minimum": "min", "Add": "sum", "Mul": "prod"}.get(
            type(node.op.scalar_op).__name__)
        if op is None:
            raise Refused(f"a reduction by {type(node.op.scalar_op).__name__}")
        return self._reduce(node, values, name, op)

    def _op_Subtensor(self, node: Any, values: list, name: str) -> Tensor:
        """Constant slices and indices of sample axes: a Slice layer (then a Reshape
        dropping the indexed axes)."""
        t = self.tensor(node.inputs[0])
        bounds = iter(int(np.asarray(v)) for v in values[1:])
        axes, starts, stops, steps, dropped = [], [], [], [], []
        for axis, entry in enumerate(node.op.idx_list):
            if isinstance(entry, slice):
                start, stop, step = (None if part is None else next(bounds)
                                     for part in (entry.start, entry.stop, entry.step))
                if (start, stop, step) == (None, None, None) or (start in (None, 0) and stop is None
                                                                  and step in (None, 1)):
                    continue
            else:
                index = next(bounds)
                start, stop, step = index, (index + 1) or None, None
                dropped.append(axis)
            if axis == 0:
                raise Refused("slicing the batch")
            axes.append(axis)
            starts.append(0 if start is None else start)
            stops.append(stop)
            steps.append(1 if step is None else step)
        if not axes:
            return self.tensor(node.inputs[0])
        layer: Layer = Slice(t.layer, name=self.unique(f"{name}_slice" if dropped else name), axes=axes,
                             starts=starts, stops=stops, steps=steps)
        if not dropped:
            return self.add(layer, node.outputs[0])
        shape = [n for i, n in enumerate(layer.output_shape) if i + 1 not in dropped]
        if any(n is None for n in shape):
            raise Refused("indexing data whose sizes are unknown until run time")
        self.add(layer)
        return self.add(Reshape(layer, name=self.unique(name), target_shape=shape), node.outputs[0])

    def _op_Join(self, node: Any, values: list, name: str) -> Tensor:
        axis = int(np.asarray(values[0]))
        if axis == 0:
            raise Refused("concatenation along the batch")
        parts = tuple(self.tensor(v).layer for v in node.inputs[1:])
        return self.add(Concatenate(parts, name=self.unique(name), axis=axis), node.outputs[0])


def short_name(op: str) -> str:
    return {"AbstractConv2d": "conv", "CorrMM": "conv", "Dot22": "dot", "Dot": "dot",
            "Dot22Scalar": "dot", "AbstractConv2d_gradInputs": "deconv", "Gemm": "dot"}.get(op, op.lower())


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
