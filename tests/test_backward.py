"""Gradients of whole nets: Net.gradient against finite differences, the ReLU rules, refusals."""

import numpy as np
import pytest

from viewer.analysis.attribution.target import Target
from viewer.errors import StrataError
from viewer.net import Net, load
from viewer.net.backward import NoBackward, gradient, vjp
from viewer.net.backward.chain import kept_for_backward
from viewer.net.layers import evaluate
from viewer.net.layers import Activation, Add, Conv2D, Dense, Flatten, Input, MaxPool2D, Multiply

DEMO = "resources/demo/digits_cnn.h5"
RNG = np.random.default_rng(3)


@pytest.fixture(scope="module")
def demo():
    net = load(DEMO)
    X = np.load("resources/demo/digits_reference.npz")["digits_cnn/input"][:3].astype(np.float64)
    # Off the kinks: the digits' zero pixels put ReLUs and max pools exactly on ties.
    return net, X + np.random.default_rng(1).normal(size=X.shape) * 0.01


def score_of(net, X, result):
    """The score of each sample for ``result``'s target and units, by a plain forward pass
    (unfused: a batch norm folded into a convolution rounds differently)."""
    head = net[result.target.layer]
    out = evaluate(head, X, keep=lambda layer: False)[head]
    canonical = result.target.grid.canonical(out)[np.arange(len(out)), result.units]
    if result.target.position is not None:
        return canonical[(slice(None),) + result.target.position]
    return canonical.reshape(len(out), -1).mean(axis=1)


def finite_difference(net, X, result, eps=1e-6):
    fd = np.zeros_like(X)
    for i in np.ndindex(X.shape[1:]):
        plus, minus = X.copy(), X.copy()
        plus[(slice(None),) + i] += eps
        minus[(slice(None),) + i] -= eps
        fd[(slice(None),) + i] = (score_of(net, plus, result) - score_of(net, minus, result)) / (2 * eps)
    return fd


@pytest.mark.parametrize("target", [Target(), Target(unit=3), Target(layer="relu2", unit=5),
                                    Target(layer="conv2", unit=1, position=(2, 1)),
                                    Target(layer="fc1", unit=7)])
def test_demo_gradient_equals_finite_differences(demo, target):
    net, X = demo
    result = net.gradient(X, target)
    assert result.input_grad.shape == X.shape
    np.testing.assert_allclose(result.score, score_of(net, X, result), rtol=1e-12)
    np.testing.assert_allclose(result.input_grad, finite_difference(net, X, result),
                               rtol=1e-5, atol=1e-8)


def test_predicted_class_per_sample(demo):
    net, X = demo
    result = gradient(net, X, Target())
    np.testing.assert_array_equal(result.units, net[-1](X).argmax(axis=1))
    np.testing.assert_allclose(result.score, net[-1](X).max(axis=1))


def test_wrt_returns_the_inner_activation_and_its_gradient(demo):
    net, X = demo
    result = net.gradient(X, Target(unit=2), wrt=["conv2", 7])
    conv2 = net.index("conv2")
    assert sorted(result.grads) == sorted(result.activations) == [conv2, 7]
    np.testing.assert_allclose(result.activations[conv2], net[conv2](X), rtol=1e-6, atol=1e-7)
    # d score / d conv2 by moving conv2's output: rebuild the tail on an Input there.
    eps, i = 1e-6, (0, 4, 1, 2)
    act = net[conv2](X)
    tail = _tail_from(net, conv2)
    plus, minus = act.copy(), act.copy()
    plus[i] += eps
    minus[i] -= eps
    fd = (tail(plus)[0, 2] - tail(minus)[0, 2]) / (2 * eps)
    assert result.grads[conv2][i] == pytest.approx(fd, rel=1e-5)


def _tail_from(net, index):
    """The layers after ``index`` run from a given output of layer ``index``."""
    def run(value):
        for layer in net[index + 1:]:
            value = layer.forward(value)
        return value
    return run


def test_wrt_must_feed_the_target(demo):
    net, X = demo
    with pytest.raises(StrataError, match="layer 'fc2' does not feed the target layer 'relu2'"):
        net.gradient(X, Target(layer="relu2", unit=0), wrt=["fc2"])


def test_unknown_rule_is_refused(demo):
    net, X = demo
    with pytest.raises(StrataError, match="unknown gradient rule 'guidd'"):
        net.gradient(X, rule="guidd")


def test_memory_keeps_only_what_the_backward_reads(demo):
    net, _ = demo
    kept = {layer.name for layer in net if id(layer) in kept_for_backward(list(net), [net[-1]])}
    # ReLUs read their input (the batch norms' outputs), max pools their input and output,
    # softmax its output; convolutions, dense layers, batch norms and flatten read nothing.
    assert kept == {"bn1", "relu1", "pool1", "bn2", "relu2", "pool2", "fc1", "softmax"}


def _relu_net():
    inp = Input(shape=(4,), name="in")
    dense = Dense(inp, name="dense", W=np.eye(4) * np.array([1.0, -1.0, 1.0, -1.0]))
    relu = Activation(dense, name="relu", function="relu")
    out = Dense(relu, name="out", W=np.array([[1.0], [1.0], [-1.0], [-1.0]]))
    return Net([inp, dense, relu, out])


@pytest.mark.parametrize("rule, want", [
    # dense out: x * [1, -1, 1, -1]; relu passes where that is > 0; out weights [1, 1, -1, -1].
    ("standard", [1.0, 0.0, -1.0, 0.0]),
    ("guided", [1.0, 0.0, 0.0, 0.0]),      # also needs a positive gradient at the ReLU
    ("deconvnet", [1.0, -1.0, 0.0, 0.0]),  # positive gradient whatever the ReLU's input
])
def test_relu_rules(rule, want):
    net = _relu_net()
    result = net.gradient(np.array([[2.0, 3.0, 4.0, 5.0]]), Target(unit=0), rule=rule)
    np.testing.assert_array_equal(result.input_grad, [want])


def test_guided_rule_on_a_single_relu():
    relu = Activation(Input(shape=(4,), name="in"), name="r", function="relu")
    x, g = np.array([[1.0, -1.0, 2.0, -2.0]]), np.array([[1.0, 1.0, -1.0, -1.0]])
    assert vjp(relu, [x], relu.forward(x), g, "guided")[0].tolist() == [[1.0, 0.0, 0.0, 0.0]]
    assert vjp(relu, [x], relu.forward(x), g, "deconvnet")[0].tolist() == [[1.0, 1.0, 0.0, 0.0]]
    assert vjp(relu, [x], relu.forward(x), g)[0].tolist() == [[1.0, 0.0, -1.0, 0.0]]


def test_max_pool_ties_go_to_the_first_cell_in_window_order():
    pool = MaxPool2D(Input(shape=(1, 2, 4), name="in"), name="p", pool_size=2)
    x = np.array([[[[1.0, 3.0, 2.0, 2.0], [3.0, 0.0, 2.0, 2.0]]]])
    dx = vjp(pool, [x], pool.forward(x), np.array([[[[10.0, 20.0]]]]))[0]
    np.testing.assert_array_equal(dx, [[[[0, 10, 20, 0], [0, 0, 0, 0]]]])


def test_shared_input_gradients_add_up():
    inp = Input(shape=(3,), name="in")
    square = Multiply((inp, inp), name="sq")
    both = Add((square, inp), name="sum")
    net = Net([inp, square, both])
    x = np.array([[1.0, 2.0, -3.0]])
    result = net.gradient(x, Target(unit=2))
    np.testing.assert_allclose(result.input_grad, [[0, 0, 2 * -3.0 + 1]])


def test_several_inputs_give_a_list_in_input_order():
    a, b = Input(shape=(2,), name="a"), Input(shape=(2,), name="b")
    product = Multiply((a, b), name="ab")
    net = Net([a, b, product])
    X = {"a": np.array([[1.0, 2.0]]), "b": np.array([[3.0, 5.0]])}
    result = net.gradient(X, Target(unit=1))
    assert isinstance(result.input_grad, list)
    np.testing.assert_allclose(result.input_grad[0], [[0.0, 5.0]])
    np.testing.assert_allclose(result.input_grad[1], [[0.0, 2.0]])


def test_a_kind_without_backward_is_refused_by_name_before_computing():
    class Mystery(Dense):
        kind = "MysteryKind"   # not registered: not in the layer registry nor the backward one

    inp = Input(shape=(2,), name="in")
    odd = Mystery(inp, name="odd", W=np.eye(2))
    net = Net([inp, odd, Flatten(odd, name="flat")])
    with pytest.raises(NoBackward, match=r"no backward pass for layer kind MysteryKind "
                                         r"\(no backward is registered for this kind\): 'odd'"):
        net.gradient(np.ones((1, 2)), Target(unit=0))


def test_conv_gradient_in_float32_stays_float32():
    inp = Input(shape=(2, 6, 6), name="in")
    conv = Conv2D(inp, name="c", W=RNG.normal(size=(3, 2, 3, 3)).astype(np.float32), padding="same")
    net = Net([inp, conv])
    result = net.gradient(RNG.normal(size=(2, 2, 6, 6)).astype(np.float32), Target(layer="c", unit=1))
    assert result.input_grad.dtype == np.float32


TORCH = np.load("tests/fixtures/gradients/demo_gradients.npz")
TORCH_TARGETS = {  # as tests/fixtures/make_gradients.py names them
    "predicted": (Target(), "standard"),
    "class3": (Target(unit=3), "standard"),
    "relu2_unit5": (Target(layer="relu2", unit=5), "standard"),
    "conv2_unit1_at_2_1": (Target(layer="conv2", unit=1, position=(2, 1)), "standard"),
    "guided": (Target(), "guided"),
    "deconvnet": (Target(), "deconvnet"),
}


@pytest.mark.parametrize("net_name", ["mnist_cnn", "digits_cnn"])
@pytest.mark.parametrize("target_name", sorted(TORCH_TARGETS))
def test_demo_gradients_equal_pytorch_autograd(net_name, target_name):
    net = load(f"resources/demo/{net_name}.h5")
    X = TORCH[f"{net_name}/X"].astype(np.float64)
    target, rule = TORCH_TARGETS[target_name]
    result = net.gradient(X, target, rule=rule)
    want = TORCH[f"{net_name}/{target_name}/grad"]
    np.testing.assert_array_equal(result.units, TORCH[f"{net_name}/{target_name}/units"])
    np.testing.assert_allclose(result.score, TORCH[f"{net_name}/{target_name}/score"], rtol=1e-5)
    # 1e-5 relative to the largest gradient of each sample
    scale = np.abs(want).reshape(len(X), -1).max(axis=1)
    assert np.all(scale > 0)
    error = np.abs(result.input_grad - want).reshape(len(X), -1).max(axis=1) / scale
    assert error.max() < 1e-5, error


def test_a_resolved_target_is_reused_without_its_forward_pass(demo, monkeypatch):
    net, X = demo
    first = net.gradient(X, Target(layer="relu2", unit=5))
    predicted_first = gradient(net, X[:1], Target())
    import viewer.net.backward.chain as chain

    def refuse(*args, **kwargs):
        raise AssertionError("resolved again")
    monkeypatch.setattr(chain, "resolve_target", refuse)
    again = net.gradient(X[::-1], Target(layer="relu2", unit=5), resolved=first.target)
    np.testing.assert_allclose(again.input_grad, first.input_grad[::-1])
    predicted = gradient(net, X[::-1], Target(), resolved=predicted_first.target)
    np.testing.assert_array_equal(predicted.units, net[-1](X[::-1]).argmax(axis=1))
