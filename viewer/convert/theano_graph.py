"""Convert Theano graphs (and, through lasagne.py, Lasagne networks) to a Net.

This runs inside the user's own Theano environment (Theano 1.0.5, numpy
1.23, no Qt): Theano is imported only when a Theano object is converted.

The converter walks the graph from the inputs: constants and shared
variables (the weights) are folded with Theano's own ``perform``, shape
arithmetic included (the batch size stands as :data:`BATCH`). Operations on
the data become layers: dot/Dot22 -> Dense (Gemm: Dense, then the sum it
fuses as element-wise steps); AbstractConv2d (kernel flipped
when ``filter_flip``, i.e. a true convolution) and CorrMM (a correlation)
-> Conv2D; Pool -> MaxPool2D/AvgPool2D; Softmax(WithBias) -> Activation;
batch_normalization_test -> BatchNorm; Reshape/Flatten/DimShuffle -> shape
layers. Element-wise ops, Theano's fused ``Composite`` ones included, are
merged into one :class:`~viewer.net.layers.expression.Elementwise` layer per
chain, computing the formula exactly as Theano wrote it.

Pickles are programs: :func:`convert_pickle` loads one only when told to
trust it. The viewer itself never does.
"""

from __future__ import annotations

import os
import pickle
from typing import Any

import numpy as np

from viewer.convert.onnx_values import BATCH, BatchConst, Refused, Tensor
from viewer.convert.theano_ops import Expr, TheanoOps, short_name
from viewer.errors import ConversionError, LayerError
from viewer.net import Net
from viewer.net.layers import Input, Layer
from viewer.net.layers.expression import Elementwise

PASS_THROUGH = ("Rebroadcast", "SpecifyShape", "DeepCopyOp", "ViewOp", "OutputGuard", "HostFromGpu",
                "GpuFromHost", "GpuContiguous")
SCALAR_OPS = {
    "Add": "add", "Sub": "sub", "Mul": "mul", "TrueDiv": "div", "IntDiv": "floordiv", "Neg": "neg",
    "Abs": "abs", "Exp": "exp", "Log": "log", "Log1p": "log1p", "Expm1": "expm1", "Sqrt": "sqrt",
    "Sqr": "sqr", "Inv": "inv", "Tanh": "tanh", "ScalarSigmoid": "sigmoid", "ScalarSoftplus": "softplus",
    "Maximum": "maximum", "Minimum": "minimum", "Pow": "pow", "Switch": "switch", "GT": "gt",
    "LT": "lt", "GE": "ge", "LE": "le", "EQ": "eq", "NEQ": "neq", "Erf": "erf", "Cast": "identity",
    "Identity": "identity", "Second": "second", "Clip": "clip", "Sin": "sin", "Cos": "cos",
    "Floor": "floor", "Ceil": "ceil", "RoundHalfToEven": "round", "AND": "and", "OR": "or",
    "Invert": "not",
}


def theano_modules() -> Any:
    """Import Theano (with the shims Python 3.9+ needs), or say what is missing."""
    import collections
    import collections.abc
    import inspect
    for name in ("Iterable", "Mapping", "MutableMapping", "Sequence", "Callable"):
        if name not in vars(collections):  # not hasattr: on 3.9 that warns, on 3.10+ fails
            setattr(collections, name, getattr(collections.abc, name))
    if not hasattr(inspect, "getargspec"):
        inspect.getargspec = inspect.getfullargspec
    try:
        import theano
        import theano.ifelse  # noqa: F401 - registers scan's optimisations
    except ImportError:
        raise ConversionError("converting Theano or Lasagne models needs Theano: run the converter "
                              "in the model's own environment (python -m viewer.convert ...)") from None
    return theano


class Walker(TheanoOps):
    """Converts the nodes between given input values and output variables."""

    def __init__(self, theano: Any) -> None:
        self.theano = theano
        self.layers: list[Layer] = []
        self.names: set[str] = set()
        self.refused: list[str] = []
        self.values: dict[Any, Any] = {}
        self.made: dict[Any, Tensor] = {}
        self.trace: dict[str, Any] = {}  # layer name -> the Theano variable it computes
        self.prefix = ""

    def unique(self, wanted: str) -> str:
        name, i = wanted, 2
        while name in self.names:
            name, i = f"{wanted}_{i}", i + 1
        self.names.add(name)
        return name

    def add(self, layer: Layer, var: Any = None) -> Tensor:
        self.layers.append(layer)
        if var is not None:
            self.trace[layer.name] = var
        return Tensor(layer)

    # -- values -------------------------------------------------------------------------

    def value(self, var: Any) -> Any:
        if var in self.values:
            return self.values[var]
        if hasattr(var, "data") and var.owner is None:  # TensorConstant
            return np.asarray(var.data)
        if hasattr(var, "get_value"):  # shared variable: weights
            return np.asarray(var.get_value(borrow=False))
        raise Refused(f"input {var.name or var!r} has no value (pass it as a graph input)")

    def step_name(self, what: str) -> str:
        """A name for a layer the current walk makes: ``<prefix>_<what>`` or ``<what>``."""
        return f"{self.prefix}_{what}" if self.prefix else what

    def tensor(self, var: Any, name: str | None = None) -> Tensor:
        """The data value of ``var`` as a layer output, making an Elementwise layer if needed."""
        value = self.value(var)
        if isinstance(value, Tensor):
            return value
        if isinstance(value, Expr):
            if var not in self.made:
                name = name or var.name or self.step_name("elementwise")
                layer = Elementwise.from_constants(tuple(value.inputs), name=self.unique(name),
                                                   steps=value.steps, constants=value.consts)
                self.made[var] = self.add(layer, var)
            return self.made[var]
        raise Refused("a constant where data is expected")

    # -- the walk -------------------------------------------------------------------------

    def walk(self, inputs: dict, outputs: list, prefix: str) -> None:
        """Convert every node between ``inputs`` (var -> value) and ``outputs``."""
        self.values.update(inputs)
        self.prefix = prefix
        for node in self.theano.gof.graph.io_toposort(list(inputs), outputs):
            if all(out in self.values for out in node.outputs):
                continue
            try:
                results = self.node(node, prefix)
            except Refused as exc:
                self.refused.append(f"{type(node.op).__name__} {str(node.op)[:60]!r} ({exc})")
                results = [None] * len(node.outputs)
            except (LayerError, ValueError, TypeError, IndexError) as exc:
                self.refused.append(f"{type(node.op).__name__} ({type(exc).__name__}: {exc})")
                results = [None] * len(node.outputs)
            for out, value in zip(node.outputs, results):
                self.values[out] = value

    def node(self, node: Any, prefix: str) -> list:
        op = type(node.op).__name__
        if any(self.values.get(v, 0) is None for v in node.inputs):
            if not (op in ("Elemwise", "Shape", "Shape_i") + PASS_THROUGH or hasattr(self, f"_op_{op}")):
                raise Refused("not supported")
            return [None] * len(node.outputs)  # downstream of a refused node: reported there
        values = [self.value(v) for v in node.inputs]
        data = [v for v in values if isinstance(v, (Tensor, Expr))]
        if op in PASS_THROUGH:
            return [values[0]]
        if op in ("Shape", "Shape_i") and data:
            return [self._shape(node, values[0])]
        if op == "Alloc" and not data and any(int(np.asarray(v)) == BATCH for v in values[1:]):
            return [self._batch_alloc(values)]
        if not data and not any(isinstance(v, BatchConst) for v in values):
            return self._fold(node, values)
        if op == "Elemwise":
            return [self._elemwise(node, values)]
        name = node.outputs[0].name or self.step_name(short_name(op))
        handler = getattr(self, f"_op_{op}", None)
        if handler is None:
            raise Refused("not supported")
        return [handler(node, values, name)]

    @staticmethod
    def _batch_alloc(values: list) -> BatchConst:
        """A constant filled to a shape that starts with the batch size (e.g. T.zeros)."""
        dims = [int(np.asarray(v)) for v in values[1:]]
        if dims[0] != BATCH or BATCH in dims[1:] or np.prod(dims[1:], dtype=np.float64) > 1 << 26:
            raise Refused("a constant shaped by the batch size other than along the batch")
        return BatchConst(np.broadcast_to(np.asarray(values[0]), [1] + dims[1:]).copy(), 0)

    def _fold(self, node: Any, values: list) -> list:
        if type(node.op).__name__ in ("AllocEmpty", "Alloc") and any(
                np.ndim(v) == 0 and np.asarray(v).dtype.kind in "iu" and int(np.asarray(v)) == BATCH
                for v in values):
            raise Refused("an array allocated to the batch size")  # never allocate BATCH rows
        storage = [[None] for _ in node.outputs]
        params = node.op.get_params(node) if getattr(node.op, "params_type", None) is not None else None
        args = (node, values, storage) + ((params,) if params is not None else ())
        try:
            node.op.perform(*args)
        except Exception as exc:  # any op may fail on the batch placeholder
            raise Refused(f"cannot be computed while converting ({type(exc).__name__})") from None
        return [np.asarray(s[0]) for s in storage]

    @staticmethod
    def _shape(node: Any, value: Any) -> np.ndarray:
        if isinstance(value, Expr):
            raise Refused("the shape of a fused element-wise result")
        dims = [BATCH] + list(value.layer.output_shape)
        if any(d is None for d in dims):
            raise Refused("a shape unknown until run time")
        if type(node.op).__name__ == "Shape_i":
            return np.asarray(dims[node.op.i], np.int64)
        return np.asarray(dims, np.int64)

    def _elemwise(self, node: Any, values: list) -> Expr:
        expr = Expr()
        self._scalar(expr, node.op.scalar_op, [expr.ref(v) for v in values])
        return expr

    def _scalar(self, expr: Expr, op: Any, args: list) -> list:
        """Append the steps of scalar ``op`` on ``args``; the reference to its result.

        A fused ``Composite`` is its inner scalar graph, which may hold further
        Composites (Theano fuses a fused batch norm with the activation after it).
        """
        if type(op).__name__ == "Composite":
            if len(op.outputs) != 1:
                raise Refused("a fused op with several outputs")
            inner = dict(zip(op.inputs, args))
            for sub in self.theano.gof.graph.io_toposort(op.inputs, op.outputs):
                sub_args = [inner[v] if v in inner else ["num", float(v.data)] for v in sub.inputs]
                inner[sub.outputs[0]] = self._scalar(expr, sub.op, sub_args)
            return inner[op.outputs[0]]
        name = SCALAR_OPS.get(type(op).__name__)
        if name is None:
            raise Refused(f"element-wise {type(op).__name__} is not supported")
        if name in ("add", "mul") and len(args) > 2:
            out = expr.add(name, args[:2])
            for more in args[2:]:
                out = expr.add(name, [out, more])
            return out
        return expr.add(name, args)


def _check(walker: Walker, where: str) -> None:
    if walker.refused:
        count = "1 node" if len(walker.refused) == 1 else f"{len(walker.refused)} nodes"
        raise ConversionError(f"{where}: cannot convert {count}: " + "; ".join(walker.refused))


def convert_theano(outputs: Any, *, input_shape: Any = None, name: str = "theano",
                   trace: dict | None = None) -> Net:
    """Convert Theano output variables, or a compiled ``theano.function``.

    Parameters
    ----------
    outputs : Variable, list of Variable, or theano.compile.function_module.Function
    input_shape : tuple, list of tuple, or dict, optional
        Per-sample shape of the input (without the batch axis); for several
        inputs a dict by input name or a list in the graph's input order.
        Theano variables know their rank only.
    trace : dict, optional
        Filled with layer name -> the Theano variable the layer computes, so
        that the caller can compute reference outputs (the fixture scripts do).
    """
    theano = theano_modules()
    walker = Walker(theano)
    start: dict = {}
    if hasattr(outputs, "maker"):  # a compiled function: its optimised graph
        graph = outputs.maker.fgraph
        inputs, outs = [], list(graph.outputs)
        for var, spec, storage in zip(graph.inputs, outputs.maker.inputs, outputs.input_storage):
            if spec.shared:  # the weights live in the function's storage
                start[var] = np.asarray(storage.data)
            else:
                inputs.append(var)
    else:
        outs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
        inputs = [v for v in theano.gof.graph.inputs(outs)
                  if v.owner is None and not hasattr(v, "get_value") and not hasattr(v, "data")]
    shapes = _shapes_by_input(input_shape, inputs, name)
    for i, (var, shape) in enumerate(zip(inputs, shapes)):
        if shape is None or len(shape) != var.ndim - 1:
            given = "" if shape is None else f", not {len(shape)} ({','.join(map(str, shape))})"
            raise ConversionError(f"{name}: give the per-sample shape of input {var.name or i!r}, "
                                  f"{var.ndim - 1} sizes without the batch{given}, as input_shape "
                                  f"(--input-shape on the command line); a pickle does not record it")
        layer = Input(name=walker.unique(var.name or f"input_{i}"), shape=list(shape),
                      data_format="channels_first" if var.ndim == 4 else None)
        walker.layers.append(layer)
        start[var] = Tensor(layer)
    walker.walk(start, outs, "")
    _check(walker, name)
    for i, out in enumerate(outs):
        try:
            walker.tensor(out)
        except Refused as exc:
            raise ConversionError(f"{name}: output {i} cannot be converted ({exc})") from None
    if trace is not None:
        trace.update(walker.trace)
    return Net(walker.layers, name=name, source=f"Theano {theano.__version__} graph")


def _shapes_by_input(input_shape: Any, inputs: list, where: str) -> list:
    """One per-sample shape (or None) per graph input, from the ``input_shape`` option."""
    if isinstance(input_shape, dict):
        known = {var.name for var in inputs}
        unknown = sorted(str(k) for k in input_shape if k not in known)
        if unknown:
            names = ", ".join(repr(v.name) for v in inputs)
            raise ConversionError(f"{where}: input_shape names {', '.join(unknown)}; the graph's "
                                  f"inputs are {names}")
        return [input_shape.get(var.name) for var in inputs]
    if isinstance(input_shape, list) and all(isinstance(s, (list, tuple)) for s in input_shape):
        if len(input_shape) != len(inputs):
            raise ConversionError(f"{where}: {len(input_shape)} input shapes for a graph with "
                                  f"{len(inputs)} inputs")
        return list(input_shape)
    if input_shape is not None and len(inputs) > 1:
        raise ConversionError(f"{where}: the graph has {len(inputs)} inputs; give a shape for each "
                              "(NAME=SIZES on the command line)")
    return [input_shape] * len(inputs)


def not_a_graph(obj: Any, theano: Any) -> str | None:
    """What ``obj`` is, if it is not something the Theano/Lasagne converter takes; else None."""
    def is_lasagne(o: Any) -> bool:
        return type(o).__module__.split(".")[0] == "lasagne" and hasattr(o, "get_output_for") \
            or type(o).__name__ == "InputLayer" and hasattr(o, "input_var")

    def is_graph(o: Any) -> bool:
        return isinstance(o, theano.gof.Variable) or (hasattr(o, "maker") and hasattr(o.maker, "fgraph"))

    items = list(obj) if isinstance(obj, (list, tuple)) else [obj]
    if items and (all(is_lasagne(o) for o in items) or all(is_graph(o) for o in items)):
        return None
    return describe(obj)


def describe(obj: Any) -> str:
    """A short description of a loaded object for a message (no repr of its data)."""
    def kind(o: Any) -> str:
        if isinstance(o, np.ndarray):
            return f"array {'x'.join(map(str, o.shape)) or 'scalar'}"
        module = type(o).__module__
        return type(o).__name__ if module == "builtins" else f"{module}.{type(o).__qualname__}"

    if isinstance(obj, (list, tuple)):
        kinds = [kind(o) for o in obj[:4]] + (["..."] if len(obj) > 4 else [])
        return f"a {type(obj).__name__} of {len(obj)} ({', '.join(kinds)})"
    if isinstance(obj, dict):
        keys = [repr(k)[:30] for k in list(obj)[:5]] + (["..."] if len(obj) > 5 else [])
        return f"a dict with keys {', '.join(keys) or '(none)'}"
    return f"a {kind(obj)}"


def _holds_weights_only(obj: Any) -> bool:
    """Parameter values without the code that uses them (how Lasagne's model zoo pickled nets)."""
    if isinstance(obj, dict):
        obj = obj.get("param values", obj.get("params", obj.get("weights")))
    return isinstance(obj, (list, tuple)) and bool(obj) and all(isinstance(o, np.ndarray) for o in obj)


def convert_object(obj: Any, *, input_shape: Any = None, trust_pickle: bool = False,
                   trace: dict | None = None, name: str = "theano") -> Net:
    """Convert a live Lasagne network or Theano graph (``trust_pickle`` is for files only).

    ``name`` is the Theano net's name, which its error messages start with.
    """
    if type(obj).__module__.split(".")[0] == "lasagne" or (
            isinstance(obj, (list, tuple)) and obj and type(obj[0]).__module__.split(".")[0] == "lasagne"):
        from viewer.convert.lasagne import convert_lasagne
        return convert_lasagne(obj, trace=trace)
    return convert_theano(obj, input_shape=input_shape, trace=trace, name=name)


def convert_pickle(path: str | os.PathLike, *, source_format: str = "theano", trust_pickle: bool = False,
                   input_shape: Any = None) -> Net:
    """Load a pickled Lasagne network or Theano function/variables and convert it.

    A pickle is a program: loading it runs whatever code its author put in.
    It is loaded only with ``trust_pickle=True`` (``--trust-pickle``).
    """
    path = os.fspath(path)
    if not trust_pickle:
        raise ConversionError(f"{path} is a pickle: loading it runs code chosen by whoever wrote the "
                              "file. Convert it only if you made it or trust its author, with "
                              "--trust-pickle (trust_pickle=True). Strata itself never loads pickles.")
    try:
        theano_modules()
    except ConversionError as exc:
        raise ConversionError(f"{path}: {exc}") from None
    try:
        with open(path, "rb") as fh:
            obj = pickle.load(fh, encoding="latin1")  # latin1: pickles from Python 2 load too
    except Exception as exc:  # unpickling reports any failure of the pickled program
        raise ConversionError(f"{path}: the pickle could not be loaded ({type(exc).__name__}: {exc})") from None
    what = not_a_graph(obj, theano_modules())
    if what is not None:
        hint = ("weights only: build the network in Lasagne, load them with "
                "set_all_param_values and convert the live network (see the README)"
                if _holds_weights_only(obj) else
                "Strata converts pickles of a Lasagne network (its output layer), Theano "
                "output variables or a compiled theano.function")
        raise ConversionError(f"{path}: not a Theano graph or Lasagne network: it holds {what}; {hint}")
    net = convert_object(obj, input_shape=input_shape, name=path)
    net.name = os.path.splitext(os.path.basename(path))[0]
    return net
