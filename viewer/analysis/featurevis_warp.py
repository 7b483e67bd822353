"""The image transforms of feature visualisation, each with its adjoint for the chain rule.

Images here are canonical batches (B, C, H, W), float64. A random
:class:`Warp` (a roll, then a scale and a rotation about the centre) is
applied to the image before each forward pass, and the gradient at the
warped image is carried back through :meth:`Warp.adjoint`, so the ascent
favours patterns that survive small moves (Lucid's "transformation
robustness"). :class:`Fourier` is the frequency-scaled parameterisation: the
image is the inverse real FFT of a spectrum whose high frequencies are damped,
so that ascent steps are spatially decorrelated. :func:`blur` is the
Gaussian blur that the pixel parameterisation applies every few steps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class WarpDraw:
    """One sample's random transform.

    Attributes
    ----------
    shift : tuple of int
        Roll (rows, columns), with wrap-around.
    scale : float
        Zoom factor about the centre (above 1 enlarges).
    angle : float
        Rotation about the centre, degrees.
    """

    shift: tuple
    scale: float
    angle: float


def draw(rng: np.random.Generator, jitter: int, scale: float, rotate: float) -> WarpDraw:
    """A random transform: roll by up to ``jitter`` pixels, zoom in [1 - scale, 1 + scale],
    rotate by up to ``rotate`` degrees (each uniform; always three draws, so the stream does
    not depend on which options are zero)."""
    dy, dx = rng.integers(-jitter, jitter + 1, size=2) if jitter > 0 else rng.integers(0, 1, size=2)
    zoom = 1.0 + scale * (2.0 * rng.random() - 1.0)
    angle = rotate * (2.0 * rng.random() - 1.0)
    return WarpDraw((int(dy), int(dx)), float(zoom), float(angle))


class Warp:
    """Per-sample roll, zoom and rotation of a batch (B, C, H, W), and the adjoint.

    The zoom and rotation resample bilinearly with edges clamped, as one
    sparse linear map per sample (four source cells and weights per output
    cell), so :meth:`adjoint` is its exact transpose.

    Parameters
    ----------
    draws : list of WarpDraw
        One per sample.
    size : (int, int)
        H, W.
    """

    def __init__(self, draws: list, size: tuple) -> None:
        self.draws = draws
        self.size = (int(size[0]), int(size[1]))
        self._index, self._weight = self._sampling()

    def _sampling(self) -> tuple:
        """Source cells (B, 4, H*W) into the rolled image and their bilinear weights."""
        h, w = self.size
        cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
        rows, cols = np.meshgrid(np.arange(h) - cy, np.arange(w) - cx, indexing="ij")
        index = np.empty((len(self.draws), 4, h * w), np.int64)
        weight = np.empty((len(self.draws), 4, h * w), np.float64)
        for b, d in enumerate(self.draws):
            a = np.deg2rad(d.angle)
            cos, sin = np.cos(a) / d.scale, np.sin(a) / d.scale
            # Each output cell reads the source at the inverse rotation and zoom of its place.
            sy = np.clip(cos * rows - sin * cols + cy, 0, h - 1).ravel()
            sx = np.clip(sin * rows + cos * cols + cx, 0, w - 1).ravel()
            y0 = np.minimum(np.floor(sy).astype(np.int64), h - 2 if h > 1 else 0)
            x0 = np.minimum(np.floor(sx).astype(np.int64), w - 2 if w > 1 else 0)
            fy, fx = sy - y0, sx - x0
            y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
            index[b] = (y0 * w + x0, y0 * w + x1, y1 * w + x0, y1 * w + x1)
            weight[b] = ((1 - fy) * (1 - fx), (1 - fy) * fx, fy * (1 - fx), fy * fx)
        return index, weight

    def apply(self, images: np.ndarray) -> np.ndarray:
        """The warped batch: (B, C, H, W) -> (B, C, H, W)."""
        b, c, h, w = images.shape
        rolled = np.stack([np.roll(images[i], d.shift, axis=(1, 2))
                           for i, d in enumerate(self.draws)]).reshape(b, c, h * w)
        out = np.zeros((b, c, h * w), np.float64)
        for k in range(4):
            idx = np.broadcast_to(self._index[:, k][:, None], (b, c, h * w))
            out += self._weight[:, k][:, None] * np.take_along_axis(rolled, idx, axis=2)
        return out.reshape(b, c, h, w)

    def adjoint(self, grads: np.ndarray) -> np.ndarray:
        """The transpose of :meth:`apply`: d / d image from d / d warped image, (B, C, H, W)."""
        b, c, h, w = grads.shape
        cells = h * w
        flat = grads.reshape(b, c, cells)
        base = (np.arange(b * c, dtype=np.int64) * cells).reshape(b, c, 1)
        out = np.zeros(b * c * cells, np.float64)
        for k in range(4):
            where = (base + self._index[:, k][:, None]).ravel()
            out += np.bincount(where, (self._weight[:, k][:, None] * flat).ravel(),
                               minlength=b * c * cells)
        out = out.reshape(b, c, h, w)
        return np.stack([np.roll(out[i], tuple(-s for s in d.shift), axis=(1, 2))
                         for i, d in enumerate(self.draws)])


class Fourier:
    """The image as the inverse real FFT of a frequency-scaled spectrum.

    ``image = irfft2(spectrum * scale)`` over (H, W), orthonormal, with
    ``scale = 1 / max(f, 1 / max(H, W)) ** decay`` (f: the cell's frequency
    in cycles per pixel), normalised to a largest value of 1. The spectrum is
    held as real numbers (real and imaginary parts interleaved on the last
    axis, ``parameter.view(complex128)``) for the optimiser.

    Parameters
    ----------
    size : (int, int)
        H, W.
    decay : float
        How fast the scale falls with frequency (1: as 1/f, as natural images).
    """

    def __init__(self, size: tuple, decay: float = 1.0) -> None:
        h, w = self.size = (int(size[0]), int(size[1]))
        freq = np.hypot(np.fft.fftfreq(h)[:, None], np.fft.rfftfreq(w)[None, :])
        scale = 1.0 / np.maximum(freq, 1.0 / max(h, w)) ** decay
        self.scale = scale / scale.max()  # (H, W // 2 + 1)
        # A half-spectrum column other than 0 (and W/2 for even W) stands for two columns of
        # the full spectrum, so its gradient counts twice.
        self._twice = np.full(w // 2 + 1, 2.0)
        self._twice[0] = 1.0
        if w % 2 == 0:
            self._twice[-1] = 1.0

    def parameter_shape(self, batch: int, channels: int) -> tuple:
        """Shape of the real parameter array for a batch."""
        return (batch, channels, self.size[0], 2 * (self.size[1] // 2 + 1))

    def image(self, parameter: np.ndarray) -> np.ndarray:
        """The image (B, C, H, W) of a parameter array."""
        spectrum = parameter.view(np.complex128) * self.scale
        return np.fft.irfft2(spectrum, s=self.size, norm="ortho")

    def adjoint(self, grads: np.ndarray) -> np.ndarray:
        """d / d parameter from d / d image (B, C, H, W), as real numbers like the parameter."""
        spectrum = np.fft.rfft2(grads, norm="ortho") * (self._twice * self.scale)
        return np.ascontiguousarray(spectrum).view(np.float64)


def blur(images: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of a batch (B, C, H, W) over H and W, edges reflected.

    The kernel reaches at most 3 sigma, and never past the image's own size.
    """
    if sigma <= 0:
        return images
    out = images
    for axis in (2, 3):
        n = out.shape[axis]
        radius = min(int(np.ceil(3 * sigma)), n - 1)
        if radius < 1:
            continue
        taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
        taps /= taps.sum()
        pad = [(0, 0)] * 4
        pad[axis] = (radius, radius)
        padded = np.pad(out, pad, mode="reflect")
        out = sum(t * np.take(padded, np.arange(k, k + n), axis=axis) for k, t in enumerate(taps))
    return out
