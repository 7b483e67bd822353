"""3x3 stride-1 convolution by Winograd's minimal filtering F(2x2, 3x3).

Each 2x2 block of output cells is computed from the 4x4 block of input cells
under it: the input block is transformed (``B^T d B``), multiplied cell by
cell with the transformed kernel (``G g G^T``, 4x4 per channel pair), summed
over the input channels and transformed back (``A^T m A``). The sum over
channels is 16 GEMMs of (O, C) by (C, blocks), 2.25 times fewer multiply-adds
than the direct convolution's one GEMM of (O, 9C) by (9C, cells). The
transforms only add and subtract (B, A) or scale by 1/2 (G), so the float32
result stays within a few units in the last place of the direct one.

Used by :func:`viewer.net.ops.conv2d` for channels-first 3x3 convolutions
with stride 1, no dilation and no groups, where it measured faster (64 and
more channels); numpy only, vectorised over all blocks.
"""

from __future__ import annotations

import numpy as np

from viewer.net import scratch

#: G of F(2x2, 3x3): the transformed kernel is G g G^T.
G = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]])

#: Bytes of the transformed input of one block of samples (the batch is cut
#: into such blocks, so memory stays bounded and the GEMMs read from cache).
BLOCK_BYTES = 4 << 20


def transform_kernel(w: np.ndarray) -> np.ndarray:
    """``G g G^T`` of every kernel: (O, C, 3, 3) -> (16, O, C), cell (i, j) at ``4 * i + j``.

    Computed in float64 and rounded once to w's dtype.
    """
    o, c = w.shape[:2]
    u = np.einsum("ij,ocjk,lk->iloc", G, w.astype(np.float64), G)
    return np.ascontiguousarray(u.reshape(16, o, c).astype(w.dtype))


def conv3x3(x: np.ndarray, u: np.ndarray, b: np.ndarray | None, pads) -> np.ndarray:
    """3x3 convolution, stride 1, of channels-first ``x`` with transformed kernels ``u``.

    Parameters
    ----------
    x : ndarray (N, C, H, W)
    u : ndarray (16, O, C)
        From :func:`transform_kernel`, in x's dtype.
    b : ndarray (O,) or None
    pads : ((top, bottom), (left, right))

    Returns
    -------
    ndarray (N, O, H + top + bottom - 2, W + left + right - 2)
    """
    n, c, h, wd = x.shape
    o = u.shape[1]
    (top, bottom), (left, right) = pads
    ho, wo = h + top + bottom - 2, wd + left + right - 2
    th, tw = -(-ho // 2), -(-wo // 2)             # 2x2 output blocks per column, per row
    dtype = x.dtype
    nb = max(1, min(n, BLOCK_BYTES // (16 * max(c, o) * th * tw * dtype.itemsize)))
    # Zero border, plus a row/column more where the output size is odd.
    xp = scratch.buffer(("winograd input", top, left, h, wd), (nb, c, 2 * th + 2, 2 * tw + 2),
                        dtype, fill=0)
    interior = xp[:, :, top:top + h, left:left + wd]
    rows = scratch.buffer("winograd rows", (4, nb, c, th, 2 * tw + 2), dtype)
    # Samples side by side in the GEMMs' columns: one (O, C) x (C, k * tiles) GEMM per cell.
    t = th * tw
    v = scratch.buffer("winograd V", (16, c, nb * t), dtype)
    m = scratch.buffer("winograd M", (16, o, nb * t), dtype)
    half = scratch.buffer("winograd A^T M", (2, 4, nb, o, th, tw), dtype)
    y = np.empty((n, o, ho, wo), dtype)
    whole = (ho, wo) == (2 * th, 2 * tw)
    spill = None if whole else scratch.buffer("winograd spill", (nb, o, 2 * th, 2 * tw), dtype)
    for start in range(0, n, nb):
        k = min(nb, n - start)
        interior[:k] = x[start:start + k]
        _b_transform([xp[:k, :, i:i + 2 * th:2] for i in range(4)], rows[:, :k])
        columns = v.reshape(4, 4, c, nb, th, tw)[:, :, :, :k].transpose(0, 1, 3, 2, 4, 5)
        for a in range(4):
            _b_transform([rows[a, :k, ..., j:j + 2 * tw:2] for j in range(4)], columns[a])
        np.matmul(u, v[:, :, :k * t], out=m[:, :, :k * t])
        cells = m.reshape(4, 4, o, nb, th, tw)[:, :, :, :k].transpose(0, 1, 3, 2, 4, 5)
        _a_transform(cells, half[:, :, :k])
        out = y[start:start + k] if whole else spill[:k]
        for i in range(2):
            _a_transform(half[i, :, :k], (out[:, :, i::2, 0::2], out[:, :, i::2, 1::2]))
        if not whole:
            y[start:start + k] = spill[:k, :, :ho, :wo]
    if b is not None:
        y += b[:, None, None]
    return y


def _b_transform(d: list, out: np.ndarray) -> None:
    """``B^T d`` along one axis: the four rows (1,0,-1,0), (0,1,1,0), (0,-1,1,0), (0,1,0,-1)."""
    np.subtract(d[0], d[2], out=out[0])
    np.add(d[1], d[2], out=out[1])
    np.subtract(d[2], d[1], out=out[2])
    np.subtract(d[1], d[3], out=out[3])


def _a_transform(m, out) -> None:
    """``A^T m`` along one axis: the two rows (1,1,1,0) and (0,1,-1,-1)."""
    first, second = out[0], out[1]
    np.add(m[0], m[1], out=first)
    first += m[2]
    np.subtract(m[1], m[2], out=second)
    second -= m[3]
