"""Attribution maps of nets whose input takes any size: explained at the sample's own size."""

import numpy as np
import pytest

from viewer.analysis.attribution import Target, explain, sized_for
from viewer.errors import LayerError, StrataError
from viewer.net import Net
from viewer.net.layers import Activation, Conv2D, Dense, GlobalAvgPool2D, Input

RNG = np.random.default_rng(3)


def _net(shape):
    """conv -> relu -> global average -> dense -> softmax on images of ``shape`` (C, H, W)."""
    inp = Input(shape=shape, name="in", data_format="channels_first")
    conv = Conv2D(inp, name="conv", W=WEIGHTS["conv"], b=WEIGHTS["bias"], padding="same",
                  data_format="channels_first")
    relu = Activation(conv, name="relu", function="relu")
    pool = GlobalAvgPool2D(relu, name="gap", data_format="channels_first")
    fc = Dense(pool, name="fc", W=WEIGHTS["fc"], b=np.zeros(3))
    return Net([inp, conv, relu, pool, fc, Activation(fc, name="prob", function="softmax")])


WEIGHTS = {"conv": RNG.normal(size=(4, 2, 3, 3)), "bias": RNG.normal(size=4),
           "fc": RNG.normal(size=(4, 3))}


def test_a_net_of_any_size_is_sized_by_its_sample_sharing_its_weights():
    net = _net((2, None, None))
    assert net["conv"].output_shape == (4, None, None)
    sized = net.sized((2, 9, 7))
    assert sized["conv"].output_shape == (4, 9, 7) and sized["gap"].output_shape == (4,)
    assert sized["conv"].W is net["conv"].W                # shared, not copied
    assert net.sized((2, 9, 7)) is sized                   # kept for the next map
    assert _net((2, 9, 7)).sized((2, 9, 7)).name == "net"  # known sizes: the net itself
    with pytest.raises(LayerError, match=r"samples of shape \(3, 9, 7\) do not fit input 'in' "
                                         r"of shape \(2, \?, \?\)"):
        net.sized((3, 9, 7))
    x = RNG.normal(size=(1, 2, 9, 7)).astype(np.float32)
    np.testing.assert_array_equal(sized[-1](x), net[-1](x))


@pytest.mark.parametrize("method", ["occlusion", "saliency", "grad-cam", "integrated-gradients"])
def test_a_map_of_a_net_of_any_size_is_the_map_of_the_net_at_that_size(method):
    x = RNG.normal(size=(2, 9, 7)).astype(np.float32)
    any_size, fixed = _net((2, None, None)), _net((2, 9, 7))
    got = explain(any_size, x, method, Target())
    want = explain(fixed, x, method, Target())
    assert got.values.shape == (9, 7) and got.target == want.target
    np.testing.assert_allclose(got.values, want.values, rtol=1e-6, atol=1e-9)


def test_a_sample_that_does_not_fit_is_refused_in_one_line():
    with pytest.raises(StrataError, match=r"samples of shape \(3, 9, 7\) do not fit input 'in'"):
        sized_for(_net((2, None, None)), np.zeros((1, 3, 9, 7), np.float32))


def test_a_unit_of_a_layer_whose_size_only_running_tells_is_explained():
    # A reshape whose shape is read at run time (as in YOLOv8's head) has no static size even
    # once the input's is known; the target's units come from its computed output instead.
    from viewer.net.layers.operator import Operator
    inp = Input(shape=(2, None, None), name="in", data_format="channels_first")
    conv = Conv2D(inp, name="conv", W=WEIGHTS["conv"], b=WEIGHTS["bias"], padding="same",
                  data_format="channels_first")
    flat = Operator((conv,), name="flat", op="Reshape", args=[["data", 0, 0], ["const", 0]],
                    shape=[4, None], batch_axis=0, const0=np.array([1, 4, -1]))
    net = Net([inp, conv, flat, Activation(flat, name="act", function="relu")])
    x = RNG.normal(size=(2, 5, 4)).astype(np.float32)
    got = explain(net, x, "saliency", Target(layer="flat", unit=3))
    want = explain(net, x, "saliency", Target(layer="conv", unit=3))   # the same unit's mean
    assert got.target == "unit 3 of flat"
    np.testing.assert_allclose(got.values, want.values, rtol=1e-6)
    with pytest.raises(StrataError, match="say which unit of layer 'flat' to explain \\(it has 4\\)"):
        explain(net, x, "saliency", Target(layer="flat"))
