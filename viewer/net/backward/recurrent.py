"""Backward of the recurrent kinds (:mod:`viewer.net.layers.recurrent`): backpropagation through time.

Each direction's time loop is run again keeping every step's gate values
(the forward keeps none), then unwound from the last step to the first.
Memory: a few (N, gates * units) arrays per time step.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from viewer.net.backward.activation import SLOPES
from viewer.net.backward.registry import backward
from viewer.net.layers.base import Layer


def _spec_name(spec: Any) -> str:
    return spec if isinstance(spec, str) else spec["function"]


def _refusal(layer: Layer) -> str | None:
    for spec in (layer.activation, layer.recurrent_activation):
        if _spec_name(spec) not in SLOPES:
            return f"activation {_spec_name(spec)!r} inside a recurrent layer has no derivative"
    return None


class _Fn:
    """One of the layer's activations with its derivative, from (input, output)."""

    def __init__(self, spec: Any, fn_options: tuple) -> None:
        self.fn, self.options = fn_options
        self.slope: Callable[..., np.ndarray] = SLOPES[_spec_name(spec)]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.fn(x, **self.options)

    def grad(self, x: np.ndarray, y: np.ndarray, g: np.ndarray) -> np.ndarray:
        return g * self.slope(x, y, **self.options)


def _steps(layer: Layer, backwards: bool, length: int) -> range:
    return range(length - 1, -1, -1) if backwards else range(length)


def _run_keeping(layer: Layer, x: np.ndarray, W, U, b, extra, backwards: bool) -> tuple[list, Any]:
    """The time loop of one direction, keeping (h_prev, c_prev, saved gate values) per step."""
    act, ract = _Fn(layer.activation, layer._act), _Fn(layer.recurrent_activation, layer._ract)
    n, u = x.shape[0], layer.units
    xw = x @ W + b
    h = np.zeros((n, u), xw.dtype)
    c = np.zeros((n, u), xw.dtype) if layer.has_cell else None
    tape = []
    for t in _steps(layer, backwards, x.shape[1]):
        a = xw[:, t] + h @ U if layer.kind != "GRU" else xw[:, t]
        if layer.kind == "SimpleRNN":
            new_h, saved = act(a), (a,)
            new_c = None
        elif layer.kind == "LSTM":
            gates = [ract(a[:, :u]), ract(a[:, u:2 * u]), act(a[:, 2 * u:3 * u]), ract(a[:, 3 * u:])]
            raw = gates[1] * c + gates[0] * gates[2]
            new_c = raw if layer.cell_clip is None else np.clip(raw, -layer.cell_clip, layer.cell_clip)
            new_h = gates[3] * act(new_c)
            saved = (a, gates, raw, new_c)
        else:
            new_h, saved = _gru_step(layer, act, ract, a, h, U, extra[0])
            new_c = None
        tape.append((t, h, c, saved, new_h))
        h, c = new_h, new_c
    return tape, (act, ract, xw.dtype)


def _gru_step(layer: Layer, act: _Fn, ract: _Fn, xw: np.ndarray, h: np.ndarray, U: np.ndarray,
              b_rec: np.ndarray | None) -> tuple:
    u = layer.units
    if layer.reset_after:
        inner = h @ U + b_rec
        az, ar = xw[:, :u] + inner[:, :u], xw[:, u:2 * u] + inner[:, u:2 * u]
        z, r = ract(az), ract(ar)
        ah = xw[:, 2 * u:] + r * inner[:, 2 * u:]
    else:
        inner = h @ U[:, :2 * u]
        az, ar = xw[:, :u] + inner[:, :u], xw[:, u:2 * u] + inner[:, u:]
        z, r = ract(az), ract(ar)
        ah = xw[:, 2 * u:] + (r * h) @ U[:, 2 * u:]
    cand = act(ah)
    return z * h + (1 - z) * cand, (az, ar, ah, z, r, cand, inner)


def _unwind(layer: Layer, tape: list, fns: tuple, U: np.ndarray, dseq: np.ndarray | None,
            dh: np.ndarray, dc: np.ndarray | None, shape: tuple) -> np.ndarray:
    """d / d (x W + b) of one direction, from the gradients of its step outputs and final state."""
    act, ract, dtype = fns
    u = layer.units
    dxw = np.zeros(shape, dtype)
    for k in range(len(tape) - 1, -1, -1):
        t, h_prev, c_prev, saved, h = tape[k]
        if dseq is not None:
            dh = dh + dseq[:, k]
        if layer.kind == "SimpleRNN":
            da = act.grad(saved[0], h, dh)
            dh = da @ U.T
        elif layer.kind == "LSTM":
            a, (i, f, g, o), raw, c = saved
            act_c = act(c)
            dc = dc + act.grad(c, act_c, dh * o)
            if layer.cell_clip is not None:
                dc = np.where(np.abs(raw) <= layer.cell_clip, dc, 0)
            da = np.concatenate([ract.grad(a[:, :u], i, dc * g), ract.grad(a[:, u:2 * u], f, dc * c_prev),
                                 act.grad(a[:, 2 * u:3 * u], g, dc * i), ract.grad(a[:, 3 * u:], o, dh * act_c)],
                                axis=1)
            dc = dc * f
            dh = da @ U.T
        else:
            da, dh = _gru_grad(layer, act, ract, saved, h_prev, U, dh)
        dxw[:, t] = da
    return dxw


def _gru_grad(layer: Layer, act: _Fn, ract: _Fn, saved: tuple, h_prev: np.ndarray, U: np.ndarray,
              dh: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(d / d xw_t, d / d h_prev) of one GRU step."""
    az, ar, ah, z, r, cand, inner = saved
    u = layer.units
    daz = ract.grad(az, z, dh * (h_prev - cand))
    dah = act.grad(ah, cand, dh * (1 - z))
    dh_prev = dh * z
    if layer.reset_after:
        dar = ract.grad(ar, r, dah * inner[:, 2 * u:])
        dinner = np.concatenate([daz, dar, dah * r], axis=1)
        dh_prev = dh_prev + dinner @ U.T
    else:
        drh = dah @ U[:, 2 * u:].T
        dar = ract.grad(ar, r, drh * h_prev)
        dh_prev = dh_prev + drh * r + np.concatenate([daz, dar], axis=1) @ U[:, :2 * u].T
    return np.concatenate([daz, dar, dah], axis=1), dh_prev


def _direction_grad(layer: Layer, x: np.ndarray, second: bool, g: np.ndarray) -> np.ndarray:
    """d / d x of one direction's output (sequence, last state or cell), from its gradient g."""
    if second:
        W, U, b = layer.W_back, layer.U_back, layer.b_back
        extra, backwards, flip = layer._extra(True), not layer.go_backwards, True
    else:
        W, U, b = layer.W, layer.U, layer.b
        extra, backwards = layer._extra(False), layer.go_backwards
        flip = layer.go_backwards and layer.restore_order
    W, U, b = (np.asarray(p, x.dtype) for p in (W, U, b))
    extra = tuple(None if e is None else np.asarray(e, x.dtype) for e in extra)
    tape, fns = _run_keeping(layer, x, W, U, b, extra, backwards)
    n, u = x.shape[0], layer.units
    zeros = np.zeros((n, u), x.dtype)
    dseq, dh, dc = None, zeros, zeros if layer.has_cell else None
    if layer.output == "sequences":
        dseq = g[:, ::-1] if flip else g    # now in reading (step) order
    elif layer.output == "last":
        dh = g
    else:
        dc = g
    dxw = _unwind(layer, tape, fns, U, dseq, dh, dc, (n, x.shape[1], U.shape[1]))
    return dxw @ W.T


def _merge_grads(layer: Layer, x: np.ndarray, grad: np.ndarray) -> tuple:
    """The gradient of each direction's output from the merged output's."""
    if not layer.bidirectional:
        return (grad[..., 0, :] if layer.merge_mode == "stack" else grad,)
    if layer.merge_mode == "concat":
        u = grad.shape[-1] // 2
        return grad[..., :u], grad[..., u:]
    if layer.merge_mode == "sum":
        return grad, grad
    if layer.merge_mode == "ave":
        return grad / 2, grad / 2
    if layer.merge_mode == "stack":
        return grad[..., 0, :], grad[..., 1, :]
    first, second = layer._direction(x, False), layer._direction(x, True)   # mul
    return grad * second, grad * first


@backward("SimpleRNN", "LSTM", "GRU", inputs=True, refusal=_refusal)
def _recurrent(layer: Layer, inputs: list, output: np.ndarray, grad: np.ndarray, rule: str) -> list:
    x = inputs[0]
    if x.dtype.kind != "f":
        x = x.astype(layer.W.dtype)
    parts = _merge_grads(layer, x, grad)
    dx = _direction_grad(layer, x, False, parts[0])
    if layer.bidirectional:
        dx = dx + _direction_grad(layer, x, True, parts[1])
    return [dx.astype(grad.dtype, copy=False)]
