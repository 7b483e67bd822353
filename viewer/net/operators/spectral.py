"""ONNX DFT and STFT: Fourier transforms of real or complex signals, complex values stored
as a last axis of (real, imaginary)."""

from __future__ import annotations

import numpy as np

from viewer.net.operators import operator


def _complex(x: np.ndarray) -> np.ndarray:
    """A signal (..., 1) real or (..., 2) complex as a complex array (...)."""
    if x.shape[-1] not in (1, 2):
        raise ValueError(f"a signal's last axis holds 1 (real) or 2 (complex) values, not {x.shape[-1]}")
    kind = np.complex64 if x.dtype.itemsize <= 4 else np.complex128  # numpy's FFT in that precision
    z = x[..., 0].astype(kind)
    if x.shape[-1] == 2:
        z.imag = x[..., 1]
    return z


def _pair(z: np.ndarray, dtype: np.dtype) -> np.ndarray:
    return np.stack([z.real, z.imag], axis=-1).astype(dtype)


@operator("DFT")
def _dft(inputs: list, attrs: dict, opset: int) -> list:
    x = inputs[0]
    length = inputs[1] if len(inputs) > 1 and inputs[1] is not None else None
    if opset >= 20:
        axis = int(np.asarray(inputs[2]).reshape(-1)[0]) if len(inputs) > 2 and inputs[2] is not None else -2
    else:
        axis = int(attrs.get("axis", 1))
    axis %= x.ndim  # counted over the input's axes, the (real, imaginary) one included
    if axis == x.ndim - 1:
        raise ValueError("DFT along the (real, imaginary) axis")
    z = _complex(x)
    inverse, onesided = bool(attrs.get("inverse", 0)), bool(attrs.get("onesided", 0))
    if length is not None:
        n = int(np.asarray(length).reshape(-1)[0])
    else:  # an inverse of a one-sided spectrum gives the whole signal
        n = 2 * (z.shape[axis] - 1) if inverse and onesided else z.shape[axis]
    if inverse and onesided:
        return [np.fft.irfft(z, n, axis=axis)[..., None].astype(x.dtype)]
    y = np.fft.ifft(z, n, axis=axis) if inverse else np.fft.fft(z, n, axis=axis)
    if onesided:
        y = np.take(y, np.arange(n // 2 + 1), axis=axis)
    return [_pair(y, x.dtype)]


@operator("STFT")
def _stft(inputs: list, attrs: dict, opset: int) -> list:
    """signal (B, L, 1 or 2), frame_step, window (n,) and/or frame_length -> (B, frames, bins, 2)."""
    x, step = inputs[0], int(np.asarray(inputs[1]).reshape(-1)[0])
    window = inputs[2] if len(inputs) > 2 and inputs[2] is not None else None
    given = inputs[3] if len(inputs) > 3 and inputs[3] is not None else None
    n = int(np.asarray(given).reshape(-1)[0]) if given is not None else int(np.size(window))
    if n <= 0 or step <= 0:
        raise ValueError(f"STFT frame length {n} and step {step} must be positive")
    z = _complex(x)
    frames = 1 + (z.shape[1] - n) // step
    starts = np.arange(frames) * step
    pieces = z[:, starts[:, None] + np.arange(n)[None]]  # (B, frames, n)
    if window is not None:
        pieces = pieces * window.astype(pieces.real.dtype)
    y = np.fft.fft(pieces, axis=-1)
    if int(attrs.get("onesided", 1)):
        y = y[..., :n // 2 + 1]
    return [_pair(y, x.dtype)]
