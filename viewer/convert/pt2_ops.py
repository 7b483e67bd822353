"""Core ATen ops of torch.export graphs -> Strata layers (NCHW, batch first).

Each handler takes the :class:`~viewer.convert.pt2_model.Builder` and the
node's decoded arguments (by the ATen schema's argument names) and returns
the node's Value (a tuple for ops with several outputs). Ops whose inputs
are all constants (a weight transposed for ``addmm``) are computed with
numpy while converting.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from viewer.convert.pt2_model import BATCH, Builder, Refused, Value, as_array
from viewer.net.layers import (Activation, AvgPool2D, BatchNorm, Concatenate, Conv2D, Dense, Dropout,
                               GlobalAvgPool2D, MaxPool2D, Permute, Reshape)
from viewer.net.layers.conv_extra import Conv2DTranspose
from viewer.net.layers.tensor import Arithmetic, ConstArithmetic, Embedding, LayerNorm, MatMul, Reduce, Unary

Args = dict


def _data(a: Args, key: str) -> Any:
    value = a.get(key)
    if not isinstance(value, Value) or value.layer is None:
        raise Refused(f"argument {key!r} must be computed from the input")
    return value.layer


def _const(a: Args, key: str, optional: bool = False) -> np.ndarray | None:
    value = a.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, Value) or value.const is None:
        raise Refused(f"argument {key!r} must be a stored tensor")
    return as_array(value)


def _is_data(value: Any) -> bool:
    return isinstance(value, Value) and value.layer is not None


def _pair(value: Any, default: int) -> tuple[int, int]:
    if value is None or value == []:
        return default, default
    if isinstance(value, int):
        return value, value
    values = [int(v) for v in value]
    return (values[0], values[0]) if len(values) == 1 else (values[0], values[1])


def _rank(layer: Any) -> int:
    return len(layer.output_shape) + 1


def _axis(dim: int, rank: int) -> int:
    axis = dim + rank if dim < 0 else dim
    if not 0 <= axis < rank:
        raise Refused(f"dimension {dim} is out of range")
    if axis == 0:
        raise Refused("works along the batch axis")
    return axis


def _sizes(layer: Any) -> tuple:
    shape = layer.output_shape
    if any(n is None for n in shape):
        raise Refused(f"its input's sizes are known only at run time ({shape})")
    return tuple(shape)


# -- convolution, linear, normalisation ----------------------------------------------------

def conv2d(b: Builder, a: Args) -> Value:
    x, w, bias = _data(a, "input"), _const(a, "weight"), _const(a, "bias", optional=True)
    if w.ndim != 4:
        raise Refused(f"a {w.ndim - 2}-d convolution (only 2-d is supported)")
    padding = a.get("padding", [0, 0])
    if isinstance(padding, str):
        pads: Any = padding
    else:
        ph, pw = _pair(padding, 0)
        pads = ((ph, ph), (pw, pw))
    return b.emit(lambda name: Conv2D(x, name=name, W=w, b=bias, stride=_pair(a.get("stride"), 1), padding=pads,
                                      dilation=_pair(a.get("dilation"), 1), groups=int(a.get("groups", 1)),
                                      data_format="channels_first"))


def convolution(b: Builder, a: Args) -> Value:
    if not a.get("transposed"):
        return conv2d(b, a)
    return conv_transpose2d(b, a)


def conv_transpose2d(b: Builder, a: Args) -> Value:
    x, w, bias = _data(a, "input"), _const(a, "weight"), _const(a, "bias", optional=True)
    if w.ndim != 4:
        raise Refused("only 2-d transposed convolution is supported")
    ph, pw = _pair(a.get("padding"), 0)
    return b.emit(lambda name: Conv2DTranspose(
        x, name=name, W=w, b=bias, stride=_pair(a.get("stride"), 1), crop=((ph, ph), (pw, pw)),
        output_padding=_pair(a.get("output_padding"), 0), dilation=_pair(a.get("dilation"), 1),
        groups=int(a.get("groups", 1)), data_format="channels_first"))


def linear(b: Builder, a: Args) -> Value:
    x, w, bias = _data(a, "input"), _const(a, "weight"), _const(a, "bias", optional=True)
    return b.emit(lambda name: Dense(x, name=name, W=w.T, b=bias))


def addmm(b: Builder, a: Args) -> Value:
    if a.get("beta", 1) != 1 or a.get("alpha", 1) != 1:
        raise Refused("alpha and beta other than 1")
    x, w, bias = _data(a, "mat1"), _const(a, "mat2"), _const(a, "self")
    return b.emit(lambda name: Dense(x, name=name, W=w, b=np.broadcast_to(bias, (w.shape[1],)).copy()))


def matmul(b: Builder, a: Args) -> Value:
    left, right = a.get("self"), a.get("other", a.get("mat2"))
    if _is_data(left) and _is_data(right):
        pair = (left.layer, right.layer)
        return b.emit(lambda name: MatMul(pair, name=name))
    w = _const({"w": right}, "w")
    if w.ndim != 2:
        raise Refused("a stored right operand with batch axes")
    x = _data({"x": left}, "x")
    return b.emit(lambda name: Dense(x, name=name, W=w))


def batch_norm(b: Builder, a: Args) -> Any:
    if a.get("training"):
        raise Refused("batch norm in training mode (export the model after model.eval())")
    x = _data(a, "input")
    mean, var = _const(a, "running_mean"), _const(a, "running_var")
    gamma, beta = _const(a, "weight", optional=True), _const(a, "bias", optional=True)
    value = b.emit(lambda name: BatchNorm(x, name=name, mean=mean, var=var, gamma=gamma, beta=beta,
                                          eps=float(a.get("eps", 1e-5)), axis=1))
    return value if b.node["target"].endswith("batch_norm.default") else (value, Value(failed=True),
                                                                          Value(failed=True))


def layer_norm(b: Builder, a: Args) -> Value:
    x = _data(a, "input")
    k = len(a.get("normalized_shape", []))
    gamma, beta = _const(a, "weight", optional=True), _const(a, "bias", optional=True)
    return b.emit(lambda name: LayerNorm(x, name=name, gamma=gamma, beta=beta, eps=float(a.get("eps", 1e-5)),
                                         axes=list(range(-k, 0))))


def embedding(b: Builder, a: Args) -> Value:
    w, x = _const(a, "weight"), _data(a, "indices")
    return b.emit(lambda name: Embedding(x, name=name, W=w))


# -- activations -------------------------------------------------------------------------

def _activation(function: str, **fixed: Any) -> Callable:
    def handler(b: Builder, a: Args) -> Value:
        x = _data(a, "self") if "self" in a else _data(a, "input")
        return b.emit(lambda name: Activation(x, name=name, function=function, **fixed))
    return handler


def gelu(b: Builder, a: Args) -> Value:
    x = _data(a, "self")
    function = "gelu_tanh" if a.get("approximate", "none") == "tanh" else "gelu"
    return b.emit(lambda name: Activation(x, name=name, function=function))


def hardtanh(b: Builder, a: Args) -> Value:
    x = _data(a, "self")
    low, high = float(a.get("min_val", -1.0)), float(a.get("max_val", 1.0))
    if low == 0.0:
        return b.emit(lambda name: Activation(x, name=name, function="relu", max_value=high))
    return b.emit(lambda name: Unary(x, name=name, function="clip", low=low, high=high))


def leaky_relu(b: Builder, a: Args) -> Value:
    x = _data(a, "self")
    slope = float(a.get("negative_slope", 0.01))
    return b.emit(lambda name: Activation(x, name=name, function="leaky_relu", alpha=slope))


def elu(b: Builder, a: Args) -> Value:
    if float(a.get("scale", 1)) != 1 or float(a.get("input_scale", 1)) != 1:
        raise Refused("a scaled ELU")
    x = _data(a, "self")
    return b.emit(lambda name: Activation(x, name=name, function="elu", alpha=float(a.get("alpha", 1.0))))


def softplus(b: Builder, a: Args) -> Value:
    if float(a.get("beta", 1)) != 1:
        raise Refused("softplus with beta other than 1")
    return _activation("softplus")(b, a)


def softmax(function: str) -> Callable:
    def handler(b: Builder, a: Args) -> Value:
        x = _data(a, "self")
        axis = _axis(int(a.get("dim")), _rank(x))
        return b.emit(lambda name: Activation(x, name=name, function=function, axis=axis))
    return handler


# -- pooling ---------------------------------------------------------------------------------

def max_pool2d(b: Builder, a: Args) -> Any:
    x = _data(a, "self")
    if _pair(a.get("dilation"), 1) != (1, 1):
        raise Refused("dilated max pooling")
    size = _pair(a.get("kernel_size"), 1)
    stride = _pair(a.get("stride") or a.get("kernel_size"), 1)
    ph, pw = _pair(a.get("padding"), 0)
    value = b.emit(lambda name: MaxPool2D(x, name=name, pool_size=size, stride=stride, padding=((ph, ph), (pw, pw)),
                                          ceil_mode=bool(a.get("ceil_mode", False)), data_format="channels_first"))
    return (value, Value(failed=True)) if "with_indices" in b.node["target"] else value


def avg_pool2d(b: Builder, a: Args) -> Value:
    x = _data(a, "self")
    if a.get("divisor_override") is not None:
        raise Refused("a divisor override")
    size = _pair(a.get("kernel_size"), 1)
    stride = _pair(a.get("stride") or a.get("kernel_size"), 1)
    ph, pw = _pair(a.get("padding"), 0)
    return b.emit(lambda name: AvgPool2D(x, name=name, pool_size=size, stride=stride, padding=((ph, ph), (pw, pw)),
                                         ceil_mode=bool(a.get("ceil_mode", False)),
                                         count_include_pad=bool(a.get("count_include_pad", True)),
                                         data_format="channels_first"))


def adaptive_avg_pool2d(b: Builder, a: Args) -> Value:
    x = _data(a, "self")
    c, h, w = _sizes(x)
    oh, ow = _pair(a.get("output_size"), 1)
    if (oh, ow) == (1, 1):
        pooled = b.helper(GlobalAvgPool2D(x, name=b.helper_name("mean"), data_format="channels_first"))
        return b.emit(lambda name: Reshape(pooled, name=name, target_shape=(c, 1, 1)))
    if h % oh or w % ow:
        raise Refused(f"adaptive pooling of {h}x{w} to {oh}x{ow} (not whole windows)")
    size = (h // oh, w // ow)
    return b.emit(lambda name: AvgPool2D(x, name=name, pool_size=size, stride=size, data_format="channels_first"))


def mean(b: Builder, a: Args) -> Value:
    x = _data(a, "self")
    rank = _rank(x)
    dims = a.get("dim") or list(range(1, rank))
    axes = sorted({_axis(int(d), rank) for d in dims})
    keep = bool(a.get("keepdim", False))
    if rank == 4 and axes == [2, 3] and not keep:
        return b.emit(lambda name: GlobalAvgPool2D(x, name=name, data_format="channels_first"))
    return b.emit(lambda name: Reduce(x, name=name, op="mean", axes=axes, keepdims=keep))


# -- arithmetic ------------------------------------------------------------------------------

BINARY = {"add": "add", "sub": "sub", "mul": "mul", "div": "div", "pow": "pow", "maximum": "max",
          "minimum": "min"}


def binary(op: str) -> Callable:
    def handler(b: Builder, a: Args) -> Any:
        left, right = a.get("self"), a.get("other", a.get("exponent"))
        alpha = a.get("alpha", 1)
        if op == "div" and a.get("rounding_mode") is not None:
            raise Refused(f"division with rounding mode {a['rounding_mode']!r}")
        if not _is_data(left) and not _is_data(right):
            return _fold_binary(op, left, right, alpha)
        if alpha != 1:
            right = _fold_binary("mul", right, None, alpha) if not _is_data(right) else None
            if right is None:
                raise Refused("alpha other than 1 on a computed operand")
        if _is_data(left) and _is_data(right):
            pair = (left.layer, right.layer)
            return b.emit(lambda name: Arithmetic(pair, name=name, op=op))
        data, const, reverse = (left, right, False) if _is_data(left) else (right, left, True)
        c = _operand(const, _rank(data.layer))
        return b.emit(lambda name: ConstArithmetic(data.layer, name=name, c=c, op=op, reverse=reverse))
    return handler


def _fold_binary(op: str, left: Any, right: Any, alpha: Any) -> np.ndarray:
    lv = as_array(left) if isinstance(left, Value) else np.asarray(left)
    if right is None:
        return lv * alpha
    rv = as_array(right) if isinstance(right, Value) else np.asarray(right)
    fn = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide, "pow": np.power,
          "max": np.maximum, "min": np.minimum}[op]
    return fn(lv, rv * alpha) if op in ("add", "sub") else fn(lv, rv)


def _operand(value: Any, rank: int) -> np.ndarray:
    """A scalar or stored tensor as ConstArithmetic's batch-first constant."""
    c = np.asarray(value.const if isinstance(value, Value) else value, np.float32)
    if c.ndim >= rank:
        if c.ndim > rank or c.shape[0] != 1:
            raise Refused(f"a constant of shape {list(c.shape)} that differs per sample")
        return c
    return c.reshape((1,) + c.shape) if c.ndim else c.reshape(1)


def rsub(b: Builder, a: Args) -> Value:
    x = _data(a, "self")
    c = _operand(a.get("other"), _rank(x))
    return b.emit(lambda name: ConstArithmetic(x, name=name, c=c * float(a.get("alpha", 1)), op="sub",
                                               reverse=True))


UNARY = {"exp": "exp", "log": "log", "sqrt": "sqrt", "abs": "abs", "neg": "neg", "floor": "floor",
         "ceil": "ceil", "sin": "sin", "cos": "cos", "erf": "erf", "reciprocal": "reciprocal"}


def unary(function: str) -> Callable:
    def handler(b: Builder, a: Args) -> Value:
        x = _data(a, "self")
        return b.emit(lambda name: Unary(x, name=name, function=function))
    return handler


def clamp(b: Builder, a: Args) -> Value:
    x = _data(a, "self")
    low, high = a.get("min"), a.get("max")
    return b.emit(lambda name: Unary(x, name=name, function="clip", low=None if low is None else float(low),
                                     high=None if high is None else float(high)))


# -- shapes ----------------------------------------------------------------------------------

def cat(b: Builder, a: Args) -> Value:
    parts = a.get("tensors", [])
    if not all(_is_data(p) for p in parts):
        raise Refused("joins stored tensors with computed ones")
    layers = tuple(p.layer for p in parts)
    axis = _axis(int(a.get("dim", 0)), _rank(layers[0]))
    return b.emit(lambda name: Concatenate(layers, name=name, axis=axis))


def _reshape_to(b: Builder, x: Any, target: tuple) -> Value:
    if tuple(target) == tuple(x.output_shape):
        return Value(x)
    return b.emit(lambda name: Reshape(x, name=name, target_shape=target))


def view(b: Builder, a: Args) -> Value:
    value = a.get("self")
    sizes = list(a.get("size", a.get("shape", [])))
    if not _is_data(value):
        return as_array(value).reshape([int(s) for s in sizes])
    x = value.layer
    if not sizes or not (sizes[0] == BATCH or sizes[0] == -1 or sizes[0] == b.static_batch):
        raise Refused(f"a view to {sizes} that mixes samples")
    rest = sizes[1:]
    if sizes[0] == -1 and -1 in rest:
        raise Refused(f"a view to {sizes} with two unknown sizes")
    if any(s == BATCH or not isinstance(s, int) for s in rest):
        raise Refused(f"a view to {sizes} that moves the batch")
    size = int(np.prod(_sizes(x)))
    if -1 in rest:
        known = int(np.prod([s for s in rest if s != -1]))
        rest[rest.index(-1)] = size // max(known, 1)
    if int(np.prod(rest)) != size:
        raise Refused(f"a view of {list(_sizes(x))} per sample to {rest}: it mixes samples")
    return _reshape_to(b, x, tuple(rest))


def flatten(b: Builder, a: Args) -> Value:
    x = _data(a, "self")
    shape = _sizes(x)
    rank = len(shape) + 1
    start = int(a.get("start_dim", 0)) % rank
    end = int(a.get("end_dim", -1)) % rank
    if start == 0:
        raise Refused("flattens the batch axis into the samples")
    target = shape[:start - 1] + (int(np.prod(shape[start - 1:end])),) + shape[end:]
    return _reshape_to(b, x, target)


def permute(b: Builder, a: Args) -> Value:
    value = a.get("self")
    dims = [int(d) for d in a.get("dims")]
    if not _is_data(value):
        return np.transpose(as_array(value), dims)
    x = value.layer
    rank = _rank(x)
    dims = [d % rank for d in dims]
    if dims[0] != 0:
        raise Refused("moves the batch axis")
    return b.emit(lambda name: Permute(x, name=name, dims=[d - 1 for d in dims[1:]]))


def transpose(b: Builder, a: Args) -> Value:
    value = a.get("self")
    rank = _rank(value.layer) if _is_data(value) else as_array(value).ndim
    d0, d1 = int(a.get("dim0")) % rank, int(a.get("dim1")) % rank
    dims = list(range(rank))
    dims[d0], dims[d1] = dims[d1], dims[d0]
    return permute(b, {"self": value, "dims": dims})


def t(b: Builder, a: Args) -> Any:
    value = a.get("self")
    if _is_data(value):
        raise Refused("transposes computed data")
    return as_array(value).T


def unsqueeze(b: Builder, a: Args) -> Value:
    value = a.get("self")
    if not _is_data(value):
        return np.expand_dims(as_array(value), int(a.get("dim")))
    x = value.layer
    shape = _sizes(x)
    dim = int(a.get("dim"))
    axis = dim + len(shape) + 2 if dim < 0 else dim
    if axis == 0:
        raise Refused("adds an axis before the batch")
    return _reshape_to(b, x, shape[:axis - 1] + (1,) + shape[axis - 1:])


def squeeze(b: Builder, a: Args) -> Value:
    x = _data(a, "self")
    shape = _sizes(x)
    dims = a.get("dim", None)
    dims = [dims] if isinstance(dims, int) else dims
    rank = len(shape) + 1
    drop = {d % rank for d in dims} if dims else {i + 1 for i, n in enumerate(shape) if n == 1}
    drop = {d for d in drop if d > 0 and shape[d - 1] == 1}
    return _reshape_to(b, x, tuple(n for i, n in enumerate(shape) if i + 1 not in drop))


def dropout(b: Builder, a: Args) -> Any:
    if a.get("train"):
        raise Refused("dropout in training mode (export after model.eval())")
    x = _data(a, "input")
    value = b.emit(lambda name: Dropout(x, name=name, rate=float(a.get("p", 0.5))))
    return (value, Value(failed=True)) if "native_dropout" in b.node["target"] else value


def alias(b: Builder, a: Args) -> Value:
    value = a.get("self", a.get("input"))
    if isinstance(value, Value) and value.layer is not None:
        dtype = a.get("dtype")
        if dtype not in (None, 6, 7, 8, 13):  # the schema's float16/32/64 and bfloat16 codes
            raise Refused(f"a cast to scalar type {dtype}")
        return value
    return value


def sym_size(b: Builder, a: Args) -> Any:
    x = _data(a, "self")
    dim = int(a.get("dim"))
    if dim == 0:
        return BATCH
    shape = _sizes(x)
    return int(shape[dim - 1 if dim > 0 else dim])


def getitem(b: Builder, a: Args) -> Any:
    raise Refused("indexing a tuple (the exporter writes several outputs instead)")


OPS: dict[str, Callable] = {
    "conv2d": conv2d, "convolution": convolution, "conv_transpose2d": conv_transpose2d, "linear": linear,
    "addmm": addmm, "mm": matmul, "matmul": matmul, "bmm": matmul, "batch_norm": batch_norm,
    "_native_batch_norm_legit_no_training": batch_norm, "layer_norm": layer_norm, "embedding": embedding,
    "relu": _activation("relu"), "relu6": _activation("relu", max_value=6.0), "gelu": gelu,
    "hardtanh": hardtanh, "silu": _activation("swish"), "sigmoid": _activation("sigmoid"),
    "tanh": _activation("tanh"), "hardswish": _activation("hard_swish"),
    "hardsigmoid": _activation("hard_sigmoid", slope=1.0 / 6.0, offset=0.5), "leaky_relu": leaky_relu,
    "elu": elu, "softplus": softplus, "softmax": softmax("softmax"), "_softmax": softmax("softmax"),
    "log_softmax": softmax("log_softmax"), "_log_softmax": softmax("log_softmax"),
    "max_pool2d": max_pool2d, "max_pool2d_with_indices": max_pool2d, "avg_pool2d": avg_pool2d,
    "adaptive_avg_pool2d": adaptive_avg_pool2d, "_adaptive_avg_pool2d": adaptive_avg_pool2d, "mean": mean,
    **{name: binary(op) for name, op in BINARY.items()}, "rsub": rsub,
    **{name: unary(fn) for name, fn in UNARY.items()}, "clamp": clamp, "clip": clamp,
    "cat": cat, "concat": cat, "view": view, "reshape": view, "_unsafe_view": view, "flatten": flatten,
    "permute": permute, "transpose": transpose, "t": t, "unsqueeze": unsqueeze, "squeeze": squeeze,
    "dropout": dropout, "native_dropout": dropout, "alpha_dropout": dropout, "feature_dropout": dropout,
    "clone": alias, "contiguous": alias, "detach": alias, "alias": alias, "_to_copy": alias, "to": alias,
    "lift_fresh_copy": alias, "sym_size": sym_size, "getitem": getitem,
}
