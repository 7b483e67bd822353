"""Load-time fusion: a net's layers grouped into fewer, cheaper evaluation steps.

A whole-net forward pass (``net[-1](X)``, a sweep over chosen layers) does not
need the outputs of the layers in between, so chains of layers run as one
step where that is exact up to float rounding:

- a BatchNorm after a Conv2D, SeparableConv2D or Dense on the channel axis is
  folded into that layer's weights and bias (computed once per pair);
- element-wise layers after a layer whose output is a fresh array read by
  nothing else (ReLU, clipped ReLU6, hard-swish, hard-sigmoid, sigmoid, an
  unfolded BatchNorm, the sum of a residual Add, x * sigmoid(x)) work in place
  on that array, with ``out=`` buffers, instead of allocating a new one;
- identity layers (Dropout, linear Activation) inside a chain cost nothing.

Layers whose output is wanted (the targets of an evaluation, for example the
layer shown in the window) always end a step, so every layer still shows its
own, unfused output: fusion only skips outputs nobody asked for.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from viewer.net.layers.activation import relu

#: Kinds whose forward always returns a new array (never a view of an input),
#: so the next layer may overwrite it.
FRESH_KINDS = frozenset({"Conv2D", "SeparableConv2D", "Dense", "BatchNorm", "Add", "Multiply",
                         "Concatenate", "MaxPool2D", "AvgPool2D", "ConstArithmetic"})

InPlace = Callable[[np.ndarray, tuple], np.ndarray]


class Step:
    """One evaluation step: a head layer, then in-place ops of the layers it absorbed.

    Attributes
    ----------
    layers : list of Layer
        The head first, then each absorbed layer; the last one's output is the step's.
    inputs : list of Layer
        Every layer whose output the step reads: the head's inputs, then the
        extra operands of absorbed merge layers.
    """

    def __init__(self, head: Any) -> None:
        self.head = head
        self.layers = [head]
        self.inputs = list(head.inputs)
        self._compute: Callable[[Any], np.ndarray] | None = None    # None: head.forward
        # (function, positions in ``inputs`` of its extra operands)
        self._ops: list[tuple[InPlace, tuple[int, ...]]] = []
        self.fresh = head.kind in FRESH_KINDS
        self.folded = False

    @property
    def output(self) -> Any:
        return self.layers[-1]

    def absorb(self, layer: Any, op: InPlace, extra: Sequence[Any] = ()) -> None:
        """Add ``layer`` to the step as ``op`` applied to the step's output."""
        positions = []
        for p in extra:
            positions.append(len(self.inputs))
            self.inputs.append(p)
        self.layers.append(layer)
        self._ops.append((op, tuple(positions)))

    def fold(self, layer: Any, compute: Callable[[Any], np.ndarray]) -> None:
        """Add ``layer`` (a BatchNorm) as folded into the head: ``compute`` replaces the head."""
        self.layers.append(layer)
        self._compute = compute
        self.folded = True

    def run(self, values: Sequence[Any]) -> np.ndarray:
        """The output of the step's last layer from the values of :attr:`inputs`."""
        n_head = len(self.head.inputs)
        head_in = values[0] if n_head == 1 and not self.head.is_merge else tuple(values[:n_head])
        out = (self._compute or self.head.forward)(head_in)
        for op, positions in self._ops:
            out = op(out, tuple(values[i] for i in positions))
        return out


# -- in-place versions of element-wise layers -------------------------------------

def _relu(out: np.ndarray, _: tuple) -> np.ndarray:
    return relu(out, out=out)


def _clip(low: float | None, high: float | None) -> InPlace:
    def clip(out: np.ndarray, _: tuple) -> np.ndarray:
        if low is not None and high is not None:
            # One pass (measured 2x faster than maximum, then minimum).
            return np.clip(out, out.dtype.type(low), out.dtype.type(high), out=out)
        if low is not None:
            return np.maximum(out, out.dtype.type(low), out=out)
        return np.minimum(out, out.dtype.type(high), out=out)
    return clip


def _hard_swish(out: np.ndarray, _: tuple) -> np.ndarray:
    gate = np.add(out, 3, dtype=out.dtype)
    np.clip(gate, 0, 6, out=gate)
    out *= gate
    out /= 6
    return out


def _hard_sigmoid(slope: float, offset: float) -> InPlace:
    def hard_sigmoid(out: np.ndarray, _: tuple) -> np.ndarray:
        out *= out.dtype.type(slope)
        out += out.dtype.type(offset)
        return np.clip(out, 0, 1, out=out)
    return hard_sigmoid


def _sigmoid(out: np.ndarray, _: tuple) -> np.ndarray:
    # The Activation layer's formula, 0.5 * (1 + tanh(x / 2)), in place.
    out *= out.dtype.type(0.5)
    np.tanh(out, out=out)
    out += 1
    out *= out.dtype.type(0.5)
    return out


def _swish(out: np.ndarray, _: tuple) -> np.ndarray:
    gate = np.multiply(out, out.dtype.type(0.5))
    np.tanh(gate, out=gate)
    gate += 1
    gate *= out.dtype.type(0.5)
    out *= gate
    return out


def _identity(out: np.ndarray, _: tuple) -> np.ndarray:
    return out


def _add(out: np.ndarray, others: tuple) -> np.ndarray:
    for other in others:
        if np.result_type(out, other) != out.dtype or np.broadcast(out, other).shape != out.shape:
            out = out + other
        else:
            out += other
    return out


def _scale_shift(layer: Any) -> InPlace:
    def batch_norm(out: np.ndarray, _: tuple) -> np.ndarray:
        shape = [1] * out.ndim
        shape[layer.axis] = -1
        scale, shift = layer._scale.reshape(shape), layer._shift.reshape(shape)
        if np.result_type(out, scale) != out.dtype:
            return out * scale + shift
        out *= scale
        out += shift
        return out
    return batch_norm


#: ConstArithmetic ops with an in-place ufunc (the others, comparisons and
#: powers, run as the layer does).
_CONST_UFUNCS = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide,
                 "max": np.maximum, "min": np.minimum}


def _const_arithmetic(layer: Any) -> InPlace:
    """``x op c`` (or ``c op x``) in place, as ConstArithmetic computes it on float data."""
    ufunc = _CONST_UFUNCS[layer.op]

    def const_arithmetic(out: np.ndarray, _: tuple) -> np.ndarray:
        if out.dtype.kind != "f" or layer.c.ndim > out.ndim \
                or np.broadcast(out, layer.c).shape != out.shape:
            return layer.forward(out)
        c = layer.c.astype(out.dtype, copy=False)
        return ufunc(c, out, out=out) if layer.reverse else ufunc(out, c, out=out)
    return const_arithmetic


def elementwise_op(layer: Any) -> InPlace | None:
    """The in-place version of a one-input element-wise layer, or None if it has none."""
    kind = layer.kind
    if kind == "Dropout":
        return _identity
    if kind == "BatchNorm":
        return _scale_shift(layer)
    if kind == "Unary" and layer.function == "clip" and (layer.low is not None or layer.high is not None):
        return _clip(layer.low, layer.high)
    if kind == "ConstArithmetic" and layer.op in _CONST_UFUNCS:
        return _const_arithmetic(layer)
    if kind != "Activation":
        return None
    fn, options = layer.function, layer.options
    if fn == "linear":
        return _identity
    if fn == "relu" and not options["alpha"] and not options["threshold"]:
        return _relu if options["max_value"] is None else _clip(0.0, options["max_value"])
    if fn == "hard_swish":
        return _hard_swish
    if fn == "hard_sigmoid":
        return _hard_sigmoid(options["slope"], options["offset"])
    if fn == "sigmoid":
        return _sigmoid
    if fn == "swish":
        return _swish
    return None


# -- batch norm folding --------------------------------------------------------------

def _channel_axis(layer: Any) -> int | None:
    """The batch-tensor axis of a conv/dense layer's output channels (negative), or None."""
    if layer.kind in ("Conv2D", "SeparableConv2D"):
        return -3 if layer.data_format == "channels_first" else -1
    if layer.kind == "Dense":
        return -1
    return None


def _norm_axis(norm: Any, ndim: int) -> int:
    return norm.axis - ndim if norm.axis > 0 else norm.axis


def foldable(head: Any, norm: Any) -> bool:
    """Whether BatchNorm ``norm`` right after ``head`` can be folded into its weights.

    Only on the head's channel axis, and only where the folded weights keep
    the dtype the unfolded pair computes in.
    """
    axis = _channel_axis(head)
    if axis is None or norm.kind != "BatchNorm":
        return False
    try:
        ndim = len(head.output_shape) + 1
    except Exception:  # an unknown rank: no folding, the layers run as they are
        return False
    weights = head.W_point if head.kind == "SeparableConv2D" else head.W
    return _norm_axis(norm, ndim) == axis and norm.mean.dtype == weights.dtype


def folded_layer(head: Any, norm: Any) -> Any:
    """A copy of ``head`` (not part of any net) computing ``norm(head(x))``.

    ``norm(y) = y * scale + shift`` per output channel, so the weights of
    each output channel are multiplied by its scale and the bias becomes
    ``b * scale + shift``.
    """
    scale, shift = norm._scale, norm._shift
    params = dict(head.params())
    key = "W_point" if head.kind == "SeparableConv2D" else "W"
    w = params[key]
    if head.kind == "Dense":
        params[key] = (w * scale[None, :]).astype(w.dtype)
    else:
        params[key] = (w * scale[:, None, None, None]).astype(w.dtype)
    bias = params.get("b")
    params["b"] = (shift if bias is None else bias * scale + shift).astype(w.dtype)
    return type(head).from_parts(None, head.name, head.config(), params)


# -- building the steps --------------------------------------------------------------

def build_steps(order: Sequence[Any], targets: set[int], uses: dict[int, int]) -> list[Step]:
    """Group ``order`` (inputs first) into steps; each target layer ends a step.

    Returns the steps in an order where each step comes after every step
    whose output it reads.
    """
    open_steps: dict[int, Step] = {}    # id(layer) -> the step whose output it is
    steps: list[Step] = []
    position = {id(layer): i for i, layer in enumerate(order)}
    folds: dict[tuple[int, int], Any] = {}
    for layer in order:
        step = _extend(layer, open_steps, targets, uses, folds)
        if step is None:
            step = Step(layer)
            steps.append(step)
        open_steps[id(layer)] = step
    steps = [s for s in steps if s.layers]     # a sigmoid taken into its swish leaves none
    steps.sort(key=lambda s: position[id(s.output)])
    return steps


def _absorbable(p: Any, open_steps: dict[int, Step], targets: set[int],
                uses: dict[int, int]) -> Step | None:
    """The step ending at ``p`` if its output may be consumed in place, else None."""
    step = open_steps.get(id(p))
    if step is None or step.output is not p or id(p) in targets or uses.get(id(p), 0) != 1:
        return None
    return step


def _extend(layer: Any, open_steps: dict[int, Step], targets: set[int], uses: dict[int, int],
            folds: dict) -> Step | None:
    """Absorb ``layer`` into the step that produces its input, if that is exact; that step or None."""
    inputs = layer.inputs
    if len(inputs) == 1:
        step = _absorbable(inputs[0], open_steps, targets, uses)
        if step is None:
            return None
        if layer.kind == "BatchNorm" and len(step.layers) == 1 and not step.folded \
                and foldable(step.head, layer):
            key = (id(step.head), id(layer))
            if key not in folds:
                folds[key] = folded_layer(step.head, layer)
            step.fold(layer, folds[key].forward)
            return step
        op = elementwise_op(layer)
        if op is None or not (step.fresh or op is _identity):
            return None
        step.absorb(layer, op)
        return step
    if layer.kind == "Add" and len(inputs) >= 2:
        for i, p in enumerate(inputs):
            step = _absorbable(p, open_steps, targets, uses)
            if step is not None and step.fresh:
                step.absorb(layer, _add, inputs[:i] + inputs[i + 1:])
                return step
        return None
    if layer.kind == "Multiply" and len(inputs) == 2:
        return _swish_pair(layer, open_steps, targets, uses) \
            or _gated_product(layer, open_steps, targets, uses)
    return None


def _swish_pair(layer: Any, open_steps: dict[int, Step], targets: set[int],
                uses: dict[int, int]) -> Step | None:
    """``x * sigmoid(x)`` as exported by ONNX (Sigmoid + Mul): one in-place swish on x's step.

    x must be read by exactly these two layers, the sigmoid by the product only.
    """
    a, b = layer.inputs
    for x, gate in ((a, b), (b, a)):
        if not (gate.kind == "Activation" and gate.function == "sigmoid" and gate.prev is x):
            continue
        step = open_steps.get(id(x))
        gate_step = open_steps.get(id(gate))
        if step is None or step.output is not x or not step.fresh or id(x) in targets \
                or uses.get(id(x), 0) != 2 or id(gate) in targets or uses.get(id(gate), 0) != 1 \
                or gate_step is None or gate_step.layers != [gate]:
            continue
        gate_step.layers.clear()           # the sigmoid's own step is dropped
        step.layers.append(gate)
        step.absorb(layer, _swish)
        return step
    return None


def _gated_product(layer: Any, open_steps: dict[int, Step], targets: set[int],
                   uses: dict[int, int]) -> Step | None:
    """``x * gate(x)``, the gate a step that reads x only (hard-swish exported as Add, Clip, Mul):
    one in-place product on x's step, the gate computed from x first.

    x must be read by exactly the gate and the product, the gate by the product only.
    """
    a, b = layer.inputs
    for x, gate in ((a, b), (b, a)):
        step, gate_step = open_steps.get(id(x)), open_steps.get(id(gate))
        if step is None or step.output is not x or not step.fresh or id(x) in targets \
                or uses.get(id(x), 0) != 2 or gate_step is None or gate_step is step \
                or gate_step.output is not gate or gate_step.inputs != [x] \
                or id(gate) in targets or uses.get(id(gate), 0) != 1:
            continue
        gate_layers = list(gate_step.layers)
        gate_step.layers.clear()           # the gate's own step is dropped
        run_gate = gate_step.run

        def product(out: np.ndarray, _: tuple) -> np.ndarray:
            g = run_gate([out])
            if g.dtype != out.dtype or np.broadcast(out, g).shape != out.shape:
                return out * g
            out *= g
            return out
        step.layers.extend(gate_layers)
        step.absorb(layer, product)
        return step
    return None

