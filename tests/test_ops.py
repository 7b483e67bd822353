"""viewer.net.ops against hand-written loop implementations (and torch if present)."""
import math

import numpy as np
import pytest

from viewer.net import ops, ops_depthwise, ops_geometry, winograd


def naive_conv(x, w, b, stride, pads, dilation, groups):
    """Direct 7-loop cross-correlation, NCHW, in float64."""
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    (top, bottom), (left, right) = pads
    xp = np.zeros((n, c, h + top + bottom, wd + left + right))
    xp[:, :, top:top + h, left:left + wd] = x
    ho = (xp.shape[2] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    wo = (xp.shape[3] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    og = o // groups
    y = np.zeros((n, o, ho, wo))
    for s in range(n):
        for oc in range(o):
            g = oc // og
            for r in range(ho):
                for q in range(wo):
                    acc = 0.0 if b is None else float(b[oc])
                    for ic in range(cg):
                        for i in range(kh):
                            for j in range(kw):
                                acc += (w[oc, ic, i, j]
                                        * xp[s, g * cg + ic, r * stride[0] + i * dilation[0],
                                             q * stride[1] + j * dilation[1]])
                    y[s, oc, r, q] = acc
    return y


def naive_pool(x, mode, size, stride, pads, ceil_mode, count_include_pad):
    """Window-by-window pooling, NCHW, following PyTorch's rules literally."""
    n, c, h, wd = x.shape
    (top, bottom), (left, right) = pads
    ho = naive_pool_size(h, size[0], stride[0], top, bottom, ceil_mode)
    wo = naive_pool_size(wd, size[1], stride[1], left, right, ceil_mode)
    y = np.zeros((n, c, ho, wo))
    for r in range(ho):
        for q in range(wo):
            r0, q0 = r * stride[0] - top, q * stride[1] - left
            r1, q1 = min(r0 + size[0], h + bottom), min(q0 + size[1], wd + right)
            padded_cells = (r1 - r0) * (q1 - q0)
            win = x[:, :, max(r0, 0):min(r1, h), max(q0, 0):min(q1, wd)]
            if mode == "max":
                y[:, :, r, q] = win.max(axis=(2, 3))
            else:
                div = padded_cells if count_include_pad else win.shape[2] * win.shape[3]
                y[:, :, r, q] = win.sum(axis=(2, 3)) / div
    return y


def naive_pool_size(n, k, s, pb, pa, ceil_mode):
    out = (math.ceil if ceil_mode else math.floor)((n + pb + pa - k) / s) + 1
    if ceil_mode and (out - 1) * s >= n + pb:
        out -= 1
    return out


def to_last(a):
    return np.ascontiguousarray(a.transpose(0, 2, 3, 1))


def to_first(a):
    return a.transpose(0, 3, 1, 2)


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


CONV_CASES = [
    # (N, C, H, W), (O, kh, kw), stride, pads, dilation, groups
    ((2, 3, 7, 6), (4, 3, 3), (1, 1), ((0, 0), (0, 0)), (1, 1), 1),
    ((2, 3, 7, 6), (4, 3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1), 1),
    ((1, 2, 8, 9), (3, 3, 2), (2, 3), ((1, 0), (2, 1)), (1, 1), 1),
    ((2, 2, 9, 9), (3, 3, 3), (1, 1), ((2, 2), (2, 2)), (2, 2), 1),
    ((1, 3, 10, 8), (2, 2, 3), (2, 1), ((0, 3), (1, 0)), (3, 2), 1),
    ((2, 4, 6, 6), (6, 3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1), 2),
    ((2, 6, 7, 5), (6, 3, 3), (2, 2), ((1, 2), (0, 1)), (1, 1), 3),
    ((2, 4, 6, 7), (4, 3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1), 4),   # depthwise
    ((1, 3, 6, 6), (6, 3, 3), (1, 2), ((1, 1), (1, 1)), (2, 1), 3),   # depthwise x2
    ((2, 3, 7, 6), (6, 3, 2), (1, 1), ((1, 0), (2, 1)), (2, 1), 3),   # depthwise x2, stride 1
    ((2, 2, 7, 7), (4, 2, 2), (2, 2), ((0, 1), (1, 0)), (1, 2), 2),   # depthwise x2, strided
    ((3, 5, 5, 5), (7, 1, 1), (1, 1), ((0, 0), (0, 0)), (1, 1), 1),   # pointwise
    ((2, 5, 7, 6), (3, 1, 1), (2, 3), ((0, 0), (0, 0)), (1, 1), 1),   # pointwise, strided
    ((2, 5, 4, 4), (3, 1, 1), (1, 1), ((1, 0), (0, 1)), (1, 1), 1),   # pointwise, padded
    ((2, 2, 5, 6), (13, 1, 1), (1, 1), ((0, 0), (0, 0)), (1, 1), 1),  # pointwise, 6x wider
    ((3, 2, 7, 6), (12, 1, 1), (2, 3), ((0, 0), (0, 0)), (1, 1), 1),  # 6x wider, strided
    ((1, 1, 4, 4), (1, 4, 4), (1, 1), ((0, 0), (0, 0)), (1, 1), 1),   # kernel == input
    ((2, 1, 7, 6), (5, 3, 3), (1, 1), ((1, 1), (0, 2)), (1, 1), 1),   # one input channel
    ((2, 1, 8, 7), (3, 3, 2), (2, 1), ((0, 1), (1, 1)), (1, 2), 1),   # one channel, strided
]


@pytest.mark.parametrize("xshape, wshape, stride, pads, dilation, groups", CONV_CASES)
@pytest.mark.parametrize("bias", [True, False])
def test_conv2d_matches_naive_both_layouts(xshape, wshape, stride, pads, dilation, groups, bias):
    x = rand(*xshape)
    o, kh, kw = wshape
    w = rand(o, xshape[1] // groups, kh, kw, seed=1)
    b = rand(o, seed=2) if bias else None
    want = naive_conv(x.astype(np.float64), w, b, stride, pads, dilation, groups)
    first = ops.conv2d(x, w, b, stride=stride, padding=pads, dilation=dilation, groups=groups)
    last = ops.conv2d(to_last(x), w, b, stride=stride, padding=pads, dilation=dilation,
                      groups=groups, channels_last=True)
    assert first.shape == want.shape
    assert first.dtype == np.float32 and last.dtype == np.float32
    np.testing.assert_allclose(first, want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(to_first(last), want, rtol=1e-5, atol=1e-5)


def test_conv2d_float64_and_int_inputs():
    x = np.arange(2 * 2 * 5 * 5).reshape(2, 2, 5, 5)
    w = rand(3, 2, 3, 3).astype(np.float64)
    want = naive_conv(x.astype(np.float64), w, None, (1, 1), ((1, 1), (1, 1)), (1, 1), 1)
    got = ops.conv2d(x, w, padding=1)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert ops.conv2d(x.astype(np.float64), w, padding=1).dtype == np.float64


def test_conv2d_scalar_arguments_equal_pairs():
    x, w = rand(1, 2, 8, 8), rand(3, 2, 3, 3, seed=1)
    a = ops.conv2d(x, w, stride=2, padding=1, dilation=2)
    b = ops.conv2d(x, w, stride=(2, 2), padding=((1, 1), (1, 1)), dilation=(2, 2))
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("block", [1, 3])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("groups", [1, 3])
def test_conv2d_batch_in_several_blocks(monkeypatch, block, stride, groups):
    # 5 samples in blocks of 1, or of 3 with a short last block.
    monkeypatch.setattr(ops_geometry, "samples_per_block", lambda n, per_sample: min(n, block))
    x, w, b = rand(5, 3, 6, 6), rand(6, 3 // groups, 3, 3, seed=1), rand(6, seed=2)
    want = naive_conv(x.astype(np.float64), w, b, (stride, stride), ((1, 1), (1, 1)), (1, 1),
                      groups)
    got = ops.conv2d(x, w, b, stride=stride, padding=1, groups=groups)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    got = ops.conv2d(to_last(x), w, b, stride=stride, padding=1, groups=groups,
                     channels_last=True)
    np.testing.assert_allclose(to_first(got), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("budget_rows", [1, 2, 100])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("groups", [1, 3])
@pytest.mark.parametrize("bias", [True, False])
def test_conv2d_samples_in_bands_of_output_rows(monkeypatch, budget_rows, stride, groups, bias):
    # An im2col budget of 1 or 2 output rows: each of the 2 samples goes in bands
    # (7 rows: the last band is short); 100 rows: whole samples.
    x, w = rand(2, 6, 7, 6), rand(6, 6 // groups, 3, 3, seed=1)
    b = rand(6, seed=2) if bias else None
    want = naive_conv(x.astype(np.float64), w, b, (stride, stride), ((1, 1), (2, 0)), (1, 1), groups)
    k1 = 6 // groups * 9 + bias
    for last in (False, True):
        per_row = 8 if stride == 1 else want.shape[3]   # padded width (flat windows), or output width
        monkeypatch.setattr(ops_geometry, "IM2COL_BLOCK_BYTES", budget_rows * per_row * groups * k1 * 4)
        got = ops.conv2d(to_last(x) if last else x, w, b, stride=stride, padding=((1, 1), (2, 0)),
                         groups=groups, channels_last=last)
        np.testing.assert_allclose(to_first(got) if last else got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("stride, dilation, kernel", [
    ((1, 1), (1, 1), (3, 3)), ((2, 2), (1, 1), (3, 3)), ((1, 1), (2, 1), (3, 3)),   # dilated rows
    ((2, 1), (1, 1), (3, 2)), ((1, 2), (1, 1), (2, 3)), ((2, 2), (2, 2), (2, 2)),   # strided + dilated
    ((3, 2), (1, 1), (5, 5))])
def test_depthwise_channels_first_in_channel_blocks(monkeypatch, stride, dilation, kernel):
    # A small block budget: the 10 maps of 2 samples x 5 channels in several blocks,
    # computed channels first (maps this small would otherwise run channels last):
    # kernel offsets in groups of rows one stride phase apart, or one by one.
    monkeypatch.setattr(ops_depthwise, "DEPTHWISE_BLOCK_BYTES", 2016)
    monkeypatch.setattr(ops_depthwise, "DEPTHWISE_LAST_MAX_CELLS", 0)
    monkeypatch.setattr(ops_depthwise, "DEPTHWISE_LAST_MAX_CELLS_STRIDED", 0)
    monkeypatch.setattr(ops_depthwise, "depthwise_last", None)
    x, w, b = rand(2, 5, 7, 6), rand(5, 1, *kernel, seed=1), rand(5, seed=2)
    pads = ((1, 2), (2, 1))
    want = naive_conv(x.astype(np.float64), w, b, stride, pads, dilation, 5)
    got = ops.conv2d(x, w, b, stride=stride, padding=pads, dilation=dilation, groups=5)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("samples", [1, 2, 3])
@pytest.mark.parametrize("stride, dilation", [(1, 1), (2, 1), (1, 2), (2, 2), ((1, 2), (2, 1)),
                                              ((2, 1), (1, 2))])
@pytest.mark.parametrize("channels_last", [True, False])
def test_depthwise_channels_last_in_blocks_of_samples(monkeypatch, samples, stride, dilation,
                                                      channels_last):
    # Blocks of one sample, of two (the last one short) and the whole batch; a
    # stride along rows only, or along columns only (whose output rows are not
    # one run of cells); channels-first input of small maps runs this kernel too.
    per_sample = (7 + 3) * (6 + 3) * 4 * 4          # padded cells x channels x bytes
    monkeypatch.setattr(ops_depthwise, "DEPTHWISE_BLOCK_BYTES", samples * per_sample)
    monkeypatch.setattr(ops_depthwise, "depthwise_first", None)
    x, w, b = rand(3, 4, 7, 6), rand(4, 1, 3, 3, seed=1), rand(4, seed=2)
    pads = ((1, 2), (2, 1))
    stride, dilation = ops_geometry.pair(stride, "stride"), ops_geometry.pair(dilation, "dilation")
    want = naive_conv(x.astype(np.float64), w, b, stride, pads, dilation, 4)
    if channels_last:
        got = to_first(ops.conv2d(to_last(x), w, b, stride=stride, padding=pads,
                                  dilation=dilation, groups=4, channels_last=True))
    else:
        got = ops.conv2d(x, w, b, stride=stride, padding=pads, dilation=dilation, groups=4)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("xshape, wshape, groups", [
    ((1, 4, 5, 5), (4, 4, 3, 3), 2),      # C/groups != w.shape[1]
    ((1, 4, 5, 5), (3, 2, 3, 3), 2),      # O not divisible by groups
    ((1, 4, 2, 2), (4, 4, 3, 3), 1),      # kernel bigger than input
    ((4, 5, 5), (4, 4, 3, 3), 1),         # not 4-d
])
def test_conv2d_rejects_bad_shapes(xshape, wshape, groups):
    with pytest.raises(ValueError):
        ops.conv2d(np.zeros(xshape, np.float32), np.zeros(wshape, np.float32), groups=groups)


POOL_CASES = [
    # (N, C, H, W), size, stride, pads, ceil_mode
    ((2, 3, 8, 8), (2, 2), (2, 2), ((0, 0), (0, 0)), False),
    ((2, 3, 7, 7), (2, 2), (2, 2), ((0, 0), (0, 0)), False),
    ((2, 3, 7, 7), (2, 2), (2, 2), ((0, 0), (0, 0)), True),
    ((1, 2, 7, 9), (3, 3), (2, 2), ((1, 1), (1, 1)), False),
    ((1, 2, 7, 9), (3, 3), (2, 2), ((1, 1), (1, 1)), True),
    ((1, 2, 5, 5), (2, 2), (2, 2), ((1, 1), (1, 1)), True),     # last window dropped
    ((2, 2, 9, 6), (3, 2), (3, 1), ((1, 0), (0, 1)), True),
    ((1, 2, 10, 10), (4, 4), (3, 3), ((2, 1), (1, 2)), True),
    ((1, 1, 5, 5), (5, 5), (1, 1), ((0, 0), (0, 0)), False),
    ((2, 2, 11, 5), (3, 3), (4, 2), ((1, 1), (0, 0)), True),
]


@pytest.mark.parametrize("xshape, size, stride, pads, ceil_mode", POOL_CASES)
@pytest.mark.parametrize("mode, count_include_pad", [("max", True), ("avg", True), ("avg", False)])
def test_pool2d_matches_naive_both_layouts(xshape, size, stride, pads, ceil_mode, mode,
                                           count_include_pad):
    x = rand(*xshape)
    want = naive_pool(x.astype(np.float64), mode, size, stride, pads, ceil_mode, count_include_pad)
    kw = dict(mode=mode, size=size, stride=stride, padding=pads, ceil_mode=ceil_mode,
              count_include_pad=count_include_pad)
    first = ops.pool2d(x, **kw)
    last = ops.pool2d(to_last(x), channels_last=True, **kw)
    assert first.shape == want.shape and first.dtype == np.float32
    np.testing.assert_allclose(first, want, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(to_first(last), want, rtol=1e-6, atol=1e-6)


def test_pool2d_max_ignores_padding_even_for_negative_inputs():
    x = -1.0 - rand(1, 1, 4, 4) ** 2
    y = ops.pool2d(x, "max", size=3, stride=1, padding=1)
    assert y.max() < 0
    np.testing.assert_allclose(y[0, 0, 0, 0], x[0, 0, :2, :2].max())


def test_pool2d_padded_work_array_keeps_its_border_between_calls():
    # The padded input is a kept work array: max pooling (border -inf) and average
    # pooling (border 0) of one shape, each called again on other data, and the
    # results must not share memory with it or with each other.
    kw = dict(size=3, stride=2, padding=((1, 1), (1, 1)), ceil_mode=True)
    x1, x2 = -1.0 - rand(2, 3, 7, 7) ** 2, rand(2, 3, 7, 7, seed=1)
    results = []
    for x in (x1, x2, x1):
        for mode in ("max", "avg"):
            want = naive_pool(x.astype(np.float64), mode, (3, 3), (2, 2), kw["padding"], True, True)
            got = ops.pool2d(x, mode, **kw)
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
            results.append((got, got.copy()))
    for got, copy in results:
        np.testing.assert_array_equal(got, copy)


def test_pool2d_stride_defaults_to_size_and_int_max_pool_keeps_dtype():
    x = np.arange(2 * 1 * 4 * 4).reshape(2, 1, 4, 4).astype(np.int16)
    y = ops.pool2d(x, "max", size=2)
    assert y.dtype == np.int16 and y.shape == (2, 1, 2, 2)
    np.testing.assert_array_equal(y[0, 0], [[5, 7], [13, 15]])
    assert ops.pool2d(x, "avg", size=2).dtype == np.float64


def test_pool2d_rejects_bad_mode():
    with pytest.raises(ValueError):
        ops.pool2d(np.zeros((1, 1, 4, 4)), "median")


@pytest.mark.parametrize("n, k, s, d", [(n, k, s, d) for n in (1, 5, 7, 8, 32)
                                        for k in (1, 2, 3, 5) for s in (1, 2, 3) for d in (1, 2)])
def test_same_padding_follows_tf_rule(n, k, s, d):
    # TF: out = ceil(n / s); pad_total = max((out - 1) * s + (k - 1) * d + 1 - n, 0);
    # pad_before = pad_total // 2.
    out = -(-n // s)
    total = max((out - 1) * s + (k - 1) * d + 1 - n, 0)
    before, after = ops.same_padding(n, k, s, d)
    assert (before, after) == (total // 2, total - total // 2)
    assert ops.conv_output_size(n, k, s, before, after, d) == out


def test_same_padding_known_values():
    assert ops.same_padding(32, 3, 1, 1) == (1, 1)
    assert ops.same_padding(32, 3, 2, 1) == (0, 1)     # odd cell goes after
    assert ops.same_padding(7, 5, 1, 2) == (4, 4)
    assert ops.same_padding(5, 1, 1, 1) == (0, 0)


def test_output_sizes():
    assert ops.conv_output_size(32, 3, 1, 1, 1, 1) == 32
    assert ops.conv_output_size(9, 3, 2, 0, 0, 2) == 3
    assert ops.pool_output_size(7, 2, 2, 0, 0, False) == 3
    assert ops.pool_output_size(7, 2, 2, 0, 0, True) == 4
    assert ops.pool_output_size(6, 3, 2, 1, 1, True) == 4
    assert ops.pool_output_size(5, 2, 2, 1, 1, True) == 3   # 4th would start in the padding


torch_cases = [
    dict(stride=1, padding=1, dilation=1, groups=1),
    dict(stride=2, padding=2, dilation=2, groups=2),
    dict(stride=(1, 2), padding=(0, 1), dilation=1, groups=4),
]


@pytest.mark.parametrize("kw", torch_cases)
def test_conv2d_matches_torch(kw):
    torch = pytest.importorskip("torch")
    x, w, b = rand(2, 4, 11, 10), rand(8, 4 // kw["groups"], 3, 3, seed=1), rand(8, seed=2)
    want = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w),
                                      torch.from_numpy(b), **kw).numpy()
    pad = kw["padding"]
    ph, pw = (pad, pad) if isinstance(pad, int) else pad
    got = ops.conv2d(x, w, b, stride=kw["stride"], padding=((ph, ph), (pw, pw)),
                     dilation=kw["dilation"], groups=kw["groups"])
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("ceil_mode", [False, True])
@pytest.mark.parametrize("count_include_pad", [False, True])
def test_pool2d_matches_torch(ceil_mode, count_include_pad):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = rand(2, 3, 11, 8)
    t = torch.from_numpy(x)
    want_max = F.max_pool2d(t, 3, 2, padding=1, ceil_mode=ceil_mode).numpy()
    want_avg = F.avg_pool2d(t, 3, 2, padding=1, ceil_mode=ceil_mode,
                            count_include_pad=count_include_pad).numpy()
    pads = ((1, 1), (1, 1))
    np.testing.assert_allclose(ops.pool2d(x, "max", 3, 2, pads, ceil_mode), want_max)
    got = ops.pool2d(x, "avg", 3, 2, pads, ceil_mode, count_include_pad)
    np.testing.assert_allclose(got, want_avg, rtol=1e-6, atol=1e-6)


WINOGRAD_CASES = [
    # (N, C, H, W), O, pads: even and odd output sizes, asymmetric and no padding
    ((2, 3, 8, 8), 4, ((1, 1), (1, 1))),
    ((1, 2, 7, 9), 3, ((1, 1), (1, 1))),
    ((2, 3, 6, 5), 5, ((0, 0), (0, 0))),
    ((1, 4, 5, 6), 2, ((0, 1), (2, 0))),
    ((3, 2, 3, 3), 3, ((1, 1), (1, 1))),
]


@pytest.mark.parametrize("xshape, o, pads", WINOGRAD_CASES)
@pytest.mark.parametrize("bias", [False, True])
def test_winograd_matches_naive_both_layouts(monkeypatch, xshape, o, pads, bias):
    monkeypatch.setattr(ops, "WINOGRAD_MIN_CHANNELS", 1)
    monkeypatch.setattr(ops, "WINOGRAD_MIN_WORK", 1)
    calls = []
    real = winograd.conv3x3
    monkeypatch.setattr(winograd, "conv3x3", lambda *a: calls.append(1) or real(*a))
    x, w = rand(*xshape), rand(o, xshape[1], 3, 3, seed=1)
    b = rand(o, seed=2) if bias else None
    want = naive_conv(x.astype(np.float64), w, b, (1, 1), pads, (1, 1), 1)
    prepared = {}
    for _ in range(2):  # the second call reuses the transformed kernels
        got = ops.conv2d(x, w, b, padding=pads, prepared=prepared)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    got = ops.conv2d(to_last(x), w, b, padding=pads, channels_last=True)
    np.testing.assert_allclose(to_first(got), want, rtol=1e-5, atol=1e-5)
    assert len(calls) == 3 and list(prepared) == ["winograd"]


def test_winograd_in_blocks_of_samples_and_its_float32_error(monkeypatch):
    # 3 samples, 64 channels, 9x9 blocks (Winograd from any size on). A budget of one
    # sample per block.
    x, w, b = rand(3, 64, 18, 18), rand(70, 64, 3, 3, seed=1) * 0.1, rand(70, seed=2)
    monkeypatch.setattr(ops, "WINOGRAD_MIN_WORK", 1)
    monkeypatch.setattr(winograd, "BLOCK_BYTES", 16 * 70 * 9 * 9 * 4)
    calls = []
    real = winograd.conv3x3
    monkeypatch.setattr(winograd, "conv3x3", lambda *a: calls.append(1) or real(*a))
    want = naive_conv(x.astype(np.float64), w, b, (1, 1), ((1, 1), (1, 1)), (1, 1), 1)
    got = ops.conv2d(x, w, b, padding=1)
    assert got.dtype == np.float32 and calls == [1]
    assert np.abs(got - want).max() <= 1e-6 * np.abs(want).max()


@pytest.mark.parametrize("n, c, side, chosen", [
    (1, 64, 56, True), (8, 64, 56, True), (8, 512, 7, True), (8, 128, 28, True),
    (1, 256, 7, False), (256, 64, 16, False), (1, 32, 80, False), (1, 128, 14, False),
])
def test_winograd_only_where_it_measured_faster(n, c, side, chosen):
    assert ops._winograd_pays(n, c, c, (side, side)) is chosen


def test_prepared_weights_follow_a_new_weight_array():
    x, prepared = rand(1, 3, 6, 6), {}
    for seed in (1, 2):
        w = rand(4, 3, 3, 3, seed=seed)
        want = naive_conv(x.astype(np.float64), w, None, (1, 1), ((1, 1), (1, 1)), (1, 1), 1)
        np.testing.assert_allclose(ops.conv2d(x, w, padding=1, prepared=prepared), want,
                                   rtol=1e-5, atol=1e-5)


def test_reused_work_buffers_keep_their_zero_border():
    # Same padded buffer shape, different interiors and paddings, in turn: each
    # result must still see zeros around its own interior.
    w = rand(4, 1, 3, 3, seed=1)
    for _ in range(2):
        for shape, pads in (((1, 4, 10, 6), ((1, 1), (1, 1))), ((1, 4, 9, 6), ((1, 2), (1, 1))),
                            ((1, 4, 9, 6), ((2, 1), (1, 1)))):
            x = rand(*shape, seed=3)
            want = naive_conv(x.astype(np.float64), w, None, (1, 1), pads, (1, 1), 4)
            np.testing.assert_allclose(ops.conv2d(x, w, padding=pads, groups=4), want,
                                       rtol=1e-5, atol=1e-5)
            wfull = rand(3, 4, 3, 3, seed=2)
            want = naive_conv(x.astype(np.float64), wfull, None, (1, 1), pads, (1, 1), 1)
            np.testing.assert_allclose(ops.conv2d(x, wfull, padding=pads), want, rtol=1e-5, atol=1e-5)


def test_reused_work_objects_are_per_thread_and_within_the_budget(monkeypatch):
    # The kernels keep views of their work arrays with them: a thread never gets
    # another thread's, and the pool drops the least recently used past the budget.
    import threading

    from viewer.net import scratch

    class Work:
        def __init__(self, nbytes):
            self.nbytes = nbytes
    monkeypatch.setattr(scratch, "BUDGET_BYTES", 100)
    first = scratch.reused("test a", lambda: Work(60))
    assert scratch.reused("test a", lambda: Work(60)) is first
    other = []
    thread = threading.Thread(target=lambda: other.append(scratch.reused("test a", lambda: Work(60))))
    thread.start()
    thread.join()
    assert other[0] is not first
    scratch.reused("test b", lambda: Work(60))            # 120 bytes: "test a" goes
    assert scratch.reused("test a", lambda: Work(60)) is not first


@pytest.mark.parametrize("channels_last", [True, False])
def test_depthwise_reused_views_follow_the_batch_size(monkeypatch, channels_last):
    # One layer's kernel called with batches of 3, 1 and 3 samples in blocks of 2
    # (a partial last block, then a whole one): the kept windows must read each
    # call's own samples. Channels first, blocks of 3 maps, the last one short.
    # Channels last, 2 samples per block: 11 x 11 padded cells x 4 channels x 4 bytes each;
    # channels first, 3 maps: (12 x 11 padded cells + 2 x 9 x 11 sums) x 4 bytes each.
    monkeypatch.setattr(ops_depthwise, "DEPTHWISE_BLOCK_BYTES",
                        2 * 11 * 11 * 4 * 4 if channels_last else 3 * 1320)
    monkeypatch.setattr(ops_depthwise, "DEPTHWISE_LAST_MAX_CELLS", 0)
    monkeypatch.setattr(ops_depthwise, "DEPTHWISE_LAST_MAX_CELLS_STRIDED", 0)
    w, b, prepared = rand(4, 1, 3, 3, seed=1), rand(4, seed=2), {}
    for n, seed in ((3, 3), (1, 4), (3, 5)):
        x = rand(n, 4, 9, 9, seed=seed)
        want = naive_conv(x.astype(np.float64), w, b, (1, 1), ((1, 1), (1, 1)), (1, 1), 4)
        got = ops.conv2d(to_last(x) if channels_last else x, w, b, padding=1, groups=4,
                         channels_last=channels_last, prepared=prepared)
        np.testing.assert_allclose(to_first(got) if channels_last else got, want,
                                   rtol=1e-5, atol=1e-5)
