"""ONNX shape operators on data -> Strata reshape, permute, slice and padding layers.

A mixin of :class:`~viewer.convert.onnx_ops.Ops`, which provides ``tensor``,
``const``, ``name``, ``same_layout``, ``batch_first`` and ``static_batch``.
Each ONNX axis is mapped to Strata's batch-first layout with ``Tensor.axis``;
a reshape or transpose may move where ONNX keeps the batch, and the result
records it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from viewer.convert.onnx_values import BATCH, Refused, Tensor
from viewer.net.layers import Activation, Concatenate, Flatten, Permute, Reshape
from viewer.net.layers.conv_extra import Upsample
from viewer.net.layers.indexing import Pad, Slice, Take


class ShapeOps:
    """Reshape, Flatten, Transpose, (Un)Squeeze, Concat, Gather, Slice, Split, Pad,
    Resize, Expand and Cast on data."""

    def reshape(self, node: Any, inputs: list, attrs: dict) -> list:
        t = self.tensor(inputs)
        target = [int(s) for s in self.const(inputs, 1, "target shape").reshape(-1)]
        have = t.shape()
        if any(d is None for i, d in enumerate(have) if i != t.batch_axis):
            raise Refused("a reshape of data with sizes unknown until run time")
        if not attrs.get("allowzero", 0):
            target = [BATCH if s == 0 and have[i] is None else (have[i] if s == 0 else s)
                      for i, s in enumerate(target)]
        size = int(np.prod([d for d in have if d is not None]))
        batch = [i for i, s in enumerate(target) if s == BATCH]
        if not batch and self.static_batch is not None and target and target[0] == self.static_batch:
            batch = [0]  # an exporter that knew the batch size wrote it as a number
        if not batch and target.count(-1) == 1:
            rest = int(np.prod([s for s in target if s != -1]))
            if rest == size:
                batch = [target.index(-1)]
        if len(batch) != 1 or any(s > BATCH // 2 for s in target if s != BATCH):
            raise Refused("a reshape whose batch axis cannot be followed")
        dims: list = [None if i == batch[0] else s for i, s in enumerate(target)]
        if -1 in dims:
            known = int(np.prod([d for d in dims if d not in (None, -1)]))
            dims[dims.index(-1)] = size // max(known, 1)
        # Batch-first, this is a per-sample reshape as long as the axes before
        # the batch keep their total size (no group of axes spans the batch).
        before = int(np.prod(have[:t.batch_axis]))
        if int(np.prod(dims[:batch[0]])) != before:
            raise Refused("a reshape that mixes the batch with other axes")
        layer = Reshape(t.layer, name=self.name(node, 0), target_shape=[d for d in dims if d is not None])
        return [Tensor(layer, batch[0])]

    def flatten(self, node: Any, inputs: list, attrs: dict) -> list:
        t = self.tensor(inputs)
        self.batch_first(t)
        if int(attrs.get("axis", 1)) != 1:
            raise Refused("Flatten at an axis other than 1 mixes the batch")
        return [Tensor(Flatten(t.layer, name=self.name(node, 0), data_format="channels_first"), 0)]

    def transpose(self, node: Any, inputs: list, attrs: dict) -> list:
        t = self.tensor(inputs)
        perm = [int(p) for p in attrs.get("perm", list(range(t.rank))[::-1])]
        out_batch = perm.index(t.batch_axis)
        order_in = [t.batch_axis] + [a for a in range(t.rank) if a != t.batch_axis]
        order_out = [out_batch] + [a for a in range(t.rank) if a != out_batch]
        dims = [order_in.index(perm[order_out[k]]) - 1 for k in range(1, t.rank)]
        return [Tensor(Permute(t.layer, name=self.name(node, 0), dims=dims), out_batch)]

    def squeeze_unsqueeze(self, node: Any, inputs: list, attrs: dict) -> list:
        t = self.tensor(inputs)
        axes = attrs.get("axes")
        if len(inputs) > 1 and inputs[1] is not None:
            axes = [int(a) for a in self.const(inputs, 1, "axes").reshape(-1)]
        shape = t.shape()
        if node.op_type == "Squeeze":
            drop = {a % t.rank for a in axes} if axes else {i for i, d in enumerate(shape) if d == 1}
            if t.batch_axis in drop:
                raise Refused("squeezing the batch axis")
            dims = [d for i, d in enumerate(shape) if i not in drop]
        else:
            rank = t.rank + len(axes)
            dims = list(shape)
            for a in sorted(a % rank for a in axes):
                dims.insert(a, 1)
        batch = dims.index(None) if None in dims else -1
        if any(d is None for i, d in enumerate(dims) if i != batch):
            raise Refused("sizes unknown until run time")
        # Squeeze/Unsqueeze keep the order of the other axes, so a per-sample
        # reshape does it whatever the position of the batch axis.
        layer = Reshape(t.layer, name=self.name(node, 0),
                        target_shape=[d for i, d in enumerate(dims) if i != batch])
        return [Tensor(layer, batch)]

    def concat(self, node: Any, inputs: list, attrs: dict) -> list:
        tensors = [self.tensor(inputs, i) for i in range(len(inputs))]
        batch = self.same_layout(tensors)
        axis = int(attrs["axis"])
        if tensors[0].is_batch(axis):
            raise Refused("concatenation along the batch")
        return [Tensor(Concatenate(tuple(t.layer for t in tensors), name=self.name(node, 0),
                                   axis=tensors[0].axis(axis)), batch)]

    def gather(self, node: Any, inputs: list, attrs: dict) -> list:
        t = self.tensor(inputs)
        index = self.const(inputs, 1, "indices")
        axis = int(attrs.get("axis", 0)) % t.rank
        if t.is_batch(axis) or index.ndim > 1:
            raise Refused("Gather across the batch or with multi-axis indices")
        value = int(index) if index.ndim == 0 else [int(i) for i in index]
        layer = Take(t.layer, name=self.name(node, 0), axis=t.axis(axis), index=value)
        batch = t.batch_axis - (1 if index.ndim == 0 and axis < t.batch_axis else 0)
        return [Tensor(layer, batch)]

    def slice(self, node: Any, inputs: list, attrs: dict) -> list:
        t = self.tensor(inputs)
        if len(inputs) > 1:
            starts, ends = (self.const(inputs, i, "bounds").reshape(-1) for i in (1, 2))
            axes = self.const(inputs, 3, "axes") if len(inputs) > 3 else None
            steps = self.const(inputs, 4, "steps") if len(inputs) > 4 else None
        else:
            starts, ends, axes, steps = attrs["starts"], attrs["ends"], attrs.get("axes"), None
        axes = list(range(len(starts))) if axes is None else [int(a) % t.rank for a in np.reshape(axes, -1)]
        steps = [1] * len(axes) if steps is None else [int(s) for s in np.reshape(steps, -1)]
        keep = []
        for a, s, e, st in zip(axes, starts, ends, steps):
            s, e = int(s), int(e)
            everything = st == 1 and s == 0 and e >= BATCH // 2
            if t.is_batch(a):
                if not everything:
                    raise Refused("slicing the batch")
                continue
            keep.append((t.axis(a), s, None if e >= BATCH // 2 or e > 1 << 62 else e, st))
        layer = Slice(t.layer, name=self.name(node, 0), axes=[k[0] for k in keep],
                      starts=[k[1] for k in keep], stops=[k[2] for k in keep],
                      steps=[k[3] for k in keep])
        return [Tensor(layer, t.batch_axis)]

    def split(self, node: Any, inputs: list, attrs: dict) -> list:
        t = self.tensor(inputs)
        axis = int(attrs.get("axis", 0)) % t.rank
        if t.is_batch(axis):
            raise Refused("splitting the batch")
        size = t.shape()[axis]
        sizes = self.const(inputs, 1, "split sizes") if len(inputs) > 1 else attrs.get("split")
        if sizes is None:
            n = len(node.output)
            sizes = [-(-size // n)] * (n - 1) + [size - (n - 1) * -(-size // n)]
        out, start = [], 0
        for i, s in enumerate(int(v) for v in np.reshape(sizes, -1)):
            out.append(Tensor(Slice(t.layer, name=self.name(node, i), axes=[t.axis(axis)],
                                    starts=[start], stops=[start + s]), t.batch_axis))
            start += s
        return out

    def pad(self, node: Any, inputs: list, attrs: dict) -> list:
        t = self.tensor(inputs)
        pads = self.const(inputs, 1, "pads") if len(inputs) > 1 else np.array(attrs["pads"])
        value = self.const(inputs, 2, "fill value") if len(inputs) > 2 else attrs.get("value", 0.0)
        axes = self.const(inputs, 3, "axes") if len(inputs) > 3 else None
        axes = list(range(t.rank)) if axes is None else [int(a) % t.rank for a in axes.reshape(-1)]
        pads = [int(p) for p in np.reshape(pads, -1)]
        pairs = {a: (pads[i], pads[i + len(axes)]) for i, a in enumerate(axes)}
        if any(pairs.get(t.batch_axis, (0, 0))):
            raise Refused("padding the batch")
        per = [pairs.get(a, (0, 0)) for a in range(t.rank) if a != t.batch_axis]
        mode = attrs.get("mode", "constant")
        if mode not in ("constant", "reflect", "edge"):
            raise Refused(f"padding mode {mode!r}")
        return [Tensor(Pad(t.layer, name=self.name(node, 0), pads=per, mode=mode,
                           value=float(np.asarray(0.0 if value is None else value))), t.batch_axis)]

    def resize(self, node: Any, inputs: list, attrs: dict) -> list:
        t = self.tensor(inputs)
        if attrs.get("mode", "nearest") != "nearest" or \
                attrs.get("coordinate_transformation_mode", "half_pixel") == "align_corners":
            raise Refused("only nearest-neighbour resizing by whole factors is supported")
        scales = self.const(inputs, 2, "scales") if len(inputs) > 2 else None
        sizes = self.const(inputs, 3, "sizes") if len(inputs) > 3 else None
        if node.op_type == "Upsample":
            scales = self.const(inputs, 1, "scales") if len(inputs) > 1 else np.array(attrs["scales"])
        shape = t.shape()
        if scales is None or scales.size == 0:
            if sizes is None:
                raise Refused("Resize without scales or sizes")
            scales = np.array([1.0 if d is None else s / d for s, d in zip(sizes, shape)])
        factors = [float(s) for s in np.reshape(scales, -1)]
        if any(f != int(f) or f < 1 for f in factors) or factors[t.batch_axis] != 1:
            raise Refused("only nearest-neighbour resizing by whole factors is supported")
        per = [int(f) for i, f in enumerate(factors) if i != t.batch_axis]
        return [Tensor(Upsample(t.layer, name=self.name(node, 0), scale=per), t.batch_axis)]

    def expand(self, node: Any, inputs: list, attrs: dict) -> list:
        t = self.tensor(inputs)
        target = [int(s) for s in self.const(inputs, 1, "shape").reshape(-1)]
        shape = t.shape()
        if len(target) > len(shape) or any(s not in (1, d, BATCH) for s, d in
                                             zip(target[::-1], shape[::-1]) if d is not None):
            raise Refused("Expand that enlarges data")
        return [Tensor(Activation(t.layer, name=self.name(node, 0), function="linear"), t.batch_axis)]

    def cast(self, node: Any, inputs: list, attrs: dict) -> list:
        t = self.tensor(inputs)
        if int(attrs["to"]) not in (1, 10, 11):
            raise Refused("casting data to a non-float type")
        return [Tensor(Activation(t.layer, name=self.name(node, 0), function="linear"), t.batch_axis)]
