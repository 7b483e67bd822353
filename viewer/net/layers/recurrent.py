"""Recurrent layers: SimpleRNN, LSTM and GRU, one or both directions.

One canonical form serves every source. Weights are Keras 2's: ``W`` (features,
gates * units) for the input, ``U`` (units, gates * units) for the previous
state, ``b`` (gates * units,), gates side by side in Keras' order (LSTM: i, f,
c, o; GRU: z, r, h). The converters reorder ONNX's and Keras 1's gates into
this form and add ONNX's two biases where the arithmetic allows.

Samples are (time, features) sequences, batch first. The loop runs over time
only; each step is one matrix product for the whole batch.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from viewer.errors import LayerError
from viewer.net.layers.activation import FUNCTIONS
from viewer.net.layers.base import Layer, Shape, as_array, need_rank, register

MERGE_MODES = ("concat", "sum", "mul", "ave", "stack")
OUTPUTS = ("sequences", "last", "cell")


def _function(spec: Any, name: str) -> tuple[Callable[..., np.ndarray], dict]:
    """An activation given as a name or as {"function": name, **options}."""
    if isinstance(spec, str):
        spec = {"function": spec}
    if not isinstance(spec, dict) or spec.get("function") not in FUNCTIONS:
        raise LayerError(f"layer {name!r}: unknown activation {spec!r} "
                         f"(known: {', '.join(sorted(FUNCTIONS))})")
    fn, defaults = FUNCTIONS[spec["function"]]
    options = {k: v for k, v in spec.items() if k != "function"}
    if set(options) - set(defaults):
        raise LayerError(f"layer {name!r}: activation {spec['function']!r} takes no option(s) "
                         f"{sorted(set(options) - set(defaults))}")
    return fn, {**defaults, **options}


def _spec_json(spec: Any) -> Any:
    return spec if isinstance(spec, str) else dict(spec)


class _Recurrent(Layer):
    """Shared parts: weights of one or two directions, the time loop, the merge.

    Parameters
    ----------
    W, U, b : ndarray
        Input kernel (features, gates*units), recurrent kernel (units,
        gates*units), bias (gates*units,) of the first direction.
    W_back, U_back, b_back : ndarray, optional
        The second direction of a bidirectional layer. It runs opposite to the
        first and its sequence output is flipped in time, as Keras'
        Bidirectional and ONNX's "bidirectional" both do.
    activation, recurrent_activation : str or dict
        A name from the Activation kind's functions, or {"function": name,
        **options} (e.g. Keras 1/2's hard_sigmoid: slope 0.2, offset 0.5;
        Keras 3's: slope 1/6).
    go_backwards : bool
        The first direction reads the sequence from its end.
    restore_order : bool
        Flip a backwards sequence output back into input order (ONNX
        "reverse"); Keras' go_backwards leaves it in reading order.
    merge_mode : str
        How two directions combine: concat, sum, mul, ave (Keras), or stack
        (ONNX: a direction axis, (time, directions, units)); stack also gives
        one direction its axis of size 1.
    output : str
        "sequences" (every step), "last" (final state) or, for LSTM, "cell"
        (final cell state).
    """

    gates = 1
    has_cell = False
    extra_params: tuple[str, ...] = ()

    def __init__(self, prev: Layer, *, name: str, W: Any, U: Any, b: Any = None,
                 W_back: Any = None, U_back: Any = None, b_back: Any = None,
                 activation: Any = "tanh", recurrent_activation: Any = "sigmoid",
                 go_backwards: bool = False, restore_order: bool = False,
                 merge_mode: str = "concat", output: str = "sequences") -> None:
        super().__init__(prev, name=name)
        self.W = as_array(W, f"{name}.W", ndim=2)
        self.U = as_array(U, f"{name}.U", ndim=2)
        self.units = self.U.shape[0]
        width = self.gates * self.units
        self.b = np.zeros(width, self.W.dtype) if b is None else as_array(b, f"{name}.b", ndim=1)
        self.bidirectional = W_back is not None
        self.W_back = self.U_back = self.b_back = None
        if self.bidirectional:
            self.W_back = as_array(W_back, f"{name}.W_back", ndim=2)
            self.U_back = as_array(U_back, f"{name}.U_back", ndim=2)
            self.b_back = (np.zeros(width, self.W.dtype) if b_back is None
                           else as_array(b_back, f"{name}.b_back", ndim=1))
        for key in ("W", "U", "b", "W_back", "U_back", "b_back"):
            value = getattr(self, key)
            if value is not None and value.shape[-1] != width:
                raise LayerError(f"layer {name!r} ({self.kind}): {key} has shape {value.shape}; "
                                 f"{self.gates} gates of {self.units} units need {width} columns")
        if self.U.shape != (self.units, width):
            raise LayerError(f"layer {name!r}: U must be square per gate, not {self.U.shape}")
        self.activation, self.recurrent_activation = activation, recurrent_activation
        self._act = _function(activation, name)
        self._ract = _function(recurrent_activation, name)
        self.go_backwards, self.restore_order = bool(go_backwards), bool(restore_order)
        if merge_mode not in MERGE_MODES:
            raise LayerError(f"layer {name!r}: merge_mode must be one of {MERGE_MODES}")
        if output not in OUTPUTS or (output == "cell" and not self.has_cell):
            raise LayerError(f"layer {name!r} ({self.kind}): bad output {output!r}")
        self.merge_mode, self.output = merge_mode, output

    def config(self) -> dict:
        return {"activation": _spec_json(self.activation),
                "recurrent_activation": _spec_json(self.recurrent_activation),
                "go_backwards": self.go_backwards, "restore_order": self.restore_order,
                "merge_mode": self.merge_mode, "output": self.output}

    def infer_shape(self, in_shape: Shape) -> Shape:
        need_rank(self, in_shape, 2)
        if in_shape[1] != self.W.shape[0]:
            raise LayerError(f"layer {self.name!r} ({self.kind}) expects {self.W.shape[0]} "
                             f"features per step, gets shape {in_shape}")
        directions = 2 if self.bidirectional else 1
        if self.merge_mode == "stack":
            state: tuple = (directions, self.units)
        else:
            state = (self.units * (directions if self.merge_mode == "concat" else 1),)
        return ((in_shape[0],) + state) if self.output == "sequences" else state

    # -- the computation -----------------------------------------------------------

    def _act_fn(self, x: np.ndarray) -> np.ndarray:
        fn, options = self._act
        return fn(x, **options)

    def _ract_fn(self, x: np.ndarray) -> np.ndarray:
        fn, options = self._ract
        return fn(x, **options)

    def _step(self, xw: np.ndarray, h: np.ndarray, c: np.ndarray | None, U: np.ndarray,
              extra: Sequence[np.ndarray | None]) -> tuple[np.ndarray, np.ndarray | None]:
        """One time step: (input part xw (N, gates*units), state) -> new state."""
        raise NotImplementedError

    def _run(self, x: np.ndarray, W: np.ndarray, U: np.ndarray, b: np.ndarray,
             extra: Sequence[np.ndarray | None], backwards: bool) -> tuple:
        """Run one direction. Returns (outputs in reading order or None, h, c)."""
        n, steps = x.shape[0], x.shape[1]
        xw = x @ W + b  # every step's input part at once: (N, T, gates*units)
        dtype = xw.dtype
        h = np.zeros((n, self.units), dtype)
        c = np.zeros((n, self.units), dtype) if self.has_cell else None
        keep = self.output == "sequences"
        outs = []
        for t in (range(steps - 1, -1, -1) if backwards else range(steps)):
            h, c = self._step(xw[:, t], h, c, U, extra)
            if keep:
                outs.append(h)
        seq = np.stack(outs, axis=1) if keep and outs else None
        return seq, h, c

    def _direction(self, x: np.ndarray, second: bool) -> np.ndarray:
        if second:
            params = (self.W_back, self.U_back, self.b_back) + self._extra(True)
            seq, h, c = self._run(x, *params[:3], params[3:], not self.go_backwards)
            flip = True  # the second direction's sequence is always flipped back
        else:
            params = (self.W, self.U, self.b) + self._extra(False)
            seq, h, c = self._run(x, *params[:3], params[3:], self.go_backwards)
            flip = self.go_backwards and self.restore_order
        if self.output == "last":
            return h
        if self.output == "cell":
            return c
        return seq[:, ::-1] if flip else seq

    def _extra(self, second: bool) -> tuple:
        return ()

    def forward(self, x: np.ndarray) -> np.ndarray:
        if x.dtype.kind != "f":
            x = x.astype(self.W.dtype)
        if x.shape[1] == 0:
            raise LayerError(f"layer {self.name!r}: empty sequence")
        first = self._direction(x, False)
        if not self.bidirectional:
            return first[..., None, :] if self.merge_mode == "stack" else first
        second = self._direction(x, True)
        if self.merge_mode == "concat":
            return np.concatenate([first, second], axis=-1)
        if self.merge_mode == "sum":
            return first + second
        if self.merge_mode == "mul":
            return first * second
        if self.merge_mode == "ave":
            return (first + second) / 2
        return np.stack([first, second], axis=-2)


@register
class SimpleRNN(_Recurrent):
    """Fully connected recurrence: ``h = activation(x W + h U + b)``.

    Parameters as :class:`_Recurrent`, one gate.
    """

    kind = "SimpleRNN"
    param_names = ("W", "U", "b", "W_back", "U_back", "b_back")
    gates = 1

    def _step(self, xw, h, c, U, extra):
        return self._act_fn(xw + h @ U), None


@register
class LSTM(_Recurrent):
    """Long short-term memory, gates (i, f, c, o) in Keras' order.

    ``c = f * c + i * act(z_c)``, ``h = o * act(c)``; the gates use
    ``recurrent_activation``. Parameters as :class:`_Recurrent`; ``output``
    may also be "cell"; ``cell_clip`` (TFLite's) keeps ``c`` within ``[-clip, clip]``.
    """

    kind = "LSTM"
    param_names = ("W", "U", "b", "W_back", "U_back", "b_back")
    gates = 4
    has_cell = True

    def __init__(self, prev: Layer, *, name: str, cell_clip: float | None = None, **kwargs: Any) -> None:
        super().__init__(prev, name=name, **kwargs)
        self.cell_clip = None if not cell_clip else float(cell_clip)  # TFLite's: c kept in [-clip, clip]

    def config(self) -> dict:
        extra = {} if self.cell_clip is None else {"cell_clip": self.cell_clip}
        return {**super().config(), **extra}

    def _step(self, xw, h, c, U, extra):
        z = xw + h @ U
        u = self.units
        i = self._ract_fn(z[:, :u])
        f = self._ract_fn(z[:, u:2 * u])
        c = f * c + i * self._act_fn(z[:, 2 * u:3 * u])
        if self.cell_clip is not None:
            c = np.clip(c, -self.cell_clip, self.cell_clip)
        o = self._ract_fn(z[:, 3 * u:])
        return o * self._act_fn(c), c


@register
class GRU(_Recurrent):
    """Gated recurrent unit, gates (z, r, h) in Keras' order.

    With ``reset_after`` (Keras 2's option, Keras 3's default, ONNX's
    linear_before_reset, PyTorch's only form) the reset gate multiplies
    ``h U_h + b_rec_h``; without it, it multiplies h before ``U_h``. ``b_rec``
    (gates*units,) is the recurrent bias, used only with reset_after.
    ``h = z * h + (1 - z) * candidate``.
    """

    kind = "GRU"
    param_names = ("W", "U", "b", "b_rec", "W_back", "U_back", "b_back", "b_rec_back")
    gates = 3

    def __init__(self, prev: Layer, *, name: str, reset_after: bool = False, b_rec: Any = None,
                 b_rec_back: Any = None, **kwargs: Any) -> None:
        super().__init__(prev, name=name, **kwargs)
        self.reset_after = bool(reset_after)
        width = 3 * self.units
        self.b_rec = self.b_rec_back = None
        if self.reset_after:
            self.b_rec = (np.zeros(width, self.W.dtype) if b_rec is None
                          else as_array(b_rec, f"{name}.b_rec", ndim=1))
            if self.bidirectional:
                self.b_rec_back = (np.zeros(width, self.W.dtype) if b_rec_back is None
                                   else as_array(b_rec_back, f"{name}.b_rec_back", ndim=1))
        elif b_rec is not None or b_rec_back is not None:
            raise LayerError(f"layer {name!r}: a recurrent bias needs reset_after")
        for key in ("b_rec", "b_rec_back"):
            value = getattr(self, key)
            if value is not None and value.shape != (width,):
                raise LayerError(f"layer {name!r}: {key} has shape {value.shape}, not ({width},)")

    def config(self) -> dict:
        return {**super().config(), "reset_after": self.reset_after}

    def _extra(self, second: bool) -> tuple:
        return (self.b_rec_back if second else self.b_rec,)

    def _step(self, xw, h, c, U, extra):
        u = self.units
        if self.reset_after:
            inner = h @ U + extra[0]
            z = self._ract_fn(xw[:, :u] + inner[:, :u])
            r = self._ract_fn(xw[:, u:2 * u] + inner[:, u:2 * u])
            candidate = self._act_fn(xw[:, 2 * u:] + r * inner[:, 2 * u:])
        else:
            inner = h @ U[:, :2 * u]
            z = self._ract_fn(xw[:, :u] + inner[:, :u])
            r = self._ract_fn(xw[:, u:2 * u] + inner[:, u:])
            candidate = self._act_fn(xw[:, 2 * u:] + (r * h) @ U[:, 2 * u:])
        return z * h + (1 - z) * candidate, None
