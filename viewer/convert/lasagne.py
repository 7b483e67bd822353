"""Convert a Lasagne network, layer by layer, inside the user's Theano environment.

Each Lasagne layer's own computation (``get_output_for`` with
``deterministic=True``: dropout off, batch norm on its stored statistics) is
converted by the Theano graph walker, so whatever a layer class does -
including its ``flip_filters`` choice, which decides between convolution and
correlation - is what Strata computes. The Strata layer ending each Lasagne
layer carries its name (``layer.name``, or the class name made unique);
steps inside one Lasagne layer (a dense layer's flattening, a convolution
before its nonlinearity) are layers named ``<name>_<step>``.

Weights saved the usual Lasagne way (``np.savez(file,
*lasagne.layers.get_all_param_values(net))``) need the code that builds the
net: build it, ``set_all_param_values``, then convert the live network.
"""

from __future__ import annotations

from typing import Any

from viewer.convert.onnx_values import Tensor
from viewer.convert.theano_graph import Walker, _check, theano_modules
from viewer.net import Net
from viewer.net.layers import Activation, Dropout, Input


def _default_name(layer: Any) -> str:
    name = type(layer).__name__
    return (name[:-5] if name.endswith("Layer") else name).lower() or "layer"


def convert_lasagne(network: Any, *, trace: dict | None = None) -> Net:
    """Convert a Lasagne network given by its output layer (or a list of them).

    Parameters
    ----------
    network : lasagne.layers.Layer or list of them
    trace : dict, optional
        Filled with Strata layer name -> the Lasagne layer it ends.
    """
    theano = theano_modules()
    import lasagne

    outputs = list(network) if isinstance(network, (list, tuple)) else [network]
    layers = lasagne.layers.get_all_layers(outputs)
    walker = Walker(theano)
    names = {}
    for layer in layers:  # the Lasagne names first, so no step takes one
        names[layer] = walker.unique(layer.name or _default_name(layer))
    values: dict[Any, Tensor] = {}
    for layer in layers:
        name = names[layer]
        if isinstance(layer, lasagne.layers.InputLayer):
            shape = list(layer.shape[1:])
            made = Input(name=name, shape=shape, data_format="channels_first" if len(shape) == 3 else None)
            walker.layers.append(made)
            values[layer] = Tensor(made)
            continue
        parents = layer.input_layers if hasattr(layer, "input_layers") else [layer.input_layer]
        symbols = [theano.tensor.TensorType(theano.config.floatX, (False,) * len(p.output_shape))()
                   for p in parents]
        merge = isinstance(layer, lasagne.layers.MergeLayer)
        out = layer.get_output_for(symbols if merge else symbols[0], deterministic=True)
        before = len(walker.layers)
        walker.walk({s: values[p] for s, p in zip(symbols, parents)}, [out], name)
        _check(walker, f"Lasagne layer {name!r} ({type(layer).__name__})")
        values[layer] = _finish(walker, layer, out, name, before, symbols)
    if trace is not None:
        trace.update({names[layer]: layer for layer in layers})
    return Net(walker.layers, name=names[outputs[-1]],
               source=f"Lasagne {lasagne.__version__} on Theano {theano.__version__}")


def _finish(walker: Walker, layer: Any, out: Any, name: str, before: int, symbols: list) -> Tensor:
    """The Tensor ending ``layer``, carrying its name."""
    value = walker.value(out)
    if out in symbols or (isinstance(value, Tensor) and walker.layers.index(value.layer) < before):
        # The layer passes its input through (dropout at test time, identity nonlinearity).
        rate = float(getattr(layer, "p", 0.0)) if "Dropout" in type(layer).__name__ else None
        source = walker.tensor(out).layer
        made = Dropout(source, name=name, rate=rate) if rate is not None else \
            Activation(source, name=name, function="linear")
        return walker.add(made)
    if not isinstance(value, Tensor):  # a fused element-wise chain: make it, with the name
        walker.names.discard(name)
        return walker.tensor(out, name)
    walker.trace.pop(value.layer.name, None)
    value.layer.name = name  # the last step made for this layer ends it
    return value
