"""Net: the ordered list of a net's layers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import numpy as np

from viewer import limits
from viewer.errors import LayerError
from viewer.net.layers.base import Layer, LayerFailed, Plan, Shape, ancestors, evaluate
from viewer.net.quantization import quantization_text


@dataclass(frozen=True)
class LayerRow:
    """One row of a net's summary table."""

    index: int
    name: str
    kind: str
    output_shape: Shape | None
    n_params: int
    inputs: tuple[str, ...]
    quantization: str = ""  # e.g. "int8, scale 0.0176, zero point -128"; empty for float outputs


class Net(Sequence[Layer]):
    """A net as the list of its layers in topological order.

    ``net[i](X)`` is layer i's output for the batch X; ``net[-1](X)`` is the
    net's output. Layers can also be found by name: ``net["conv1"]``.

    Parameters
    ----------
    layers : sequence of Layer
        Every layer of the net, each after the layers it reads from.
    name : str
        A display name (the file's stem when loaded).
    source : str
        Free text on where the net came from (framework, file, converter).
    """

    def __init__(self, layers: Sequence[Layer], name: str = "net", source: str = "") -> None:
        self._layers = list(layers)
        self.name = name
        self.source = source
        self.path: str | None = None  # the file it was loaded from, if any
        self._plans: dict[tuple[int, ...], Plan] = {}
        if not self._layers:
            raise LayerError("a net needs at least one layer")
        self._index: dict[str, int] = {}
        for i, layer in enumerate(self._layers):
            if not isinstance(layer, Layer):
                raise LayerError(f"item {i} of the net is not a layer: {layer!r}")
            if layer.name in self._index:
                raise LayerError(f"two layers are named {layer.name!r}")
            for p in layer.inputs:
                j = self._index.get(p.name)
                if j is None or self._layers[j] is not p:
                    raise LayerError(f"layer {layer.name!r} reads from {p.name!r}, which is not "
                                     "an earlier layer of this net")
            self._index[layer.name] = i

    def __getstate__(self) -> dict:
        """Pickled without the plan cache: plans key layers by id(), which another
        process (a Dask worker) does not share."""
        state = self.__dict__.copy()
        state["_plans"] = {}
        state.pop("_sized", None)
        return state

    # -- the sequence -----------------------------------------------------------

    def __len__(self) -> int:
        return len(self._layers)

    def __iter__(self) -> Iterator[Layer]:
        return iter(self._layers)

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return self._layers[self.index(key)]
        if isinstance(key, slice):
            return self._layers[key]
        return self._layers[key]

    def index(self, name: Any, *args: Any) -> int:  # type: ignore[override]
        """Position of the layer called ``name`` (or of a Layer object)."""
        if isinstance(name, Layer):
            name = name.name
        try:
            return self._index[name]
        except KeyError:
            raise LayerError(f"the net has no layer named {name!r}") from None

    def resolve(self, key: int | str) -> int:
        """A layer index from an index (negative too), an index in a string, or a name."""
        if isinstance(key, str):
            if key in self._index:
                return self._index[key]
            try:
                key = int(key)
            except ValueError:
                raise LayerError(f"the net has no layer named {key!r}") from None
        if not -len(self) <= key < len(self):
            raise LayerError(f"layer index {key} is out of range: the net has {len(self)} layers")
        return key % len(self)

    @property
    def inputs(self) -> list[Layer]:
        """The layers without inputs (Input layers), in net order."""
        return [layer for layer in self._layers if not layer.inputs]

    @property
    def input(self) -> Layer:
        """The first Input layer."""
        return self.inputs[0]

    @property
    def n_params(self) -> int:
        """Total number of parameter values."""
        return sum(layer.n_params for layer in self._layers)

    # -- computing ----------------------------------------------------------------

    def trace(self, X: Any, upto: int | str | None = None) -> list[np.ndarray]:
        """Outputs of layers 0..upto for the batch ``X``, each layer computed once.

        Parameters
        ----------
        X : ndarray (batch, ...) or dict of ndarray by Input name
        upto : int or str, optional
            Last layer wanted (default: the last layer).

        Returns
        -------
        list of ndarray
            ``out[i]`` equals ``net[i](X)``; each has the batch axis first.

        Raises
        ------
        LayerFailed
            When a layer fails; its ``index`` is that layer's position and its
            ``outputs`` the outputs of every layer before it.
        """
        last = len(self) - 1 if upto is None else self.resolve(upto)
        wanted = self._layers[:last + 1]
        try:
            values = evaluate(wanted, X, plan=self._plan_for(tuple(range(last + 1))))
        except LayerFailed as exc:
            # Layers are computed in net order, so all before the failing one are done.
            exc.index = self._index[exc.layer.name]
            exc.outputs = [exc.computed[layer] for layer in wanted[:exc.index]]
            raise
        return [values[layer] for layer in wanted]

    def outputs(self, X: Any, indices: Sequence[int | str]) -> dict[int, np.ndarray]:
        """Outputs of the chosen layers only, each needed layer computed once.

        Intermediate outputs are freed as soon as no later layer needs them.

        Returns
        -------
        dict
            Layer index -> output array (batch first).
        """
        positions = tuple(sorted({self.resolve(i) for i in indices}))
        chosen = [self._layers[i] for i in positions]
        values = evaluate(chosen, X, plan=self._plan_for(positions))
        return {i: values[layer] for i, layer in zip(positions, chosen)}

    def gradient(self, X: Any, target: Any = None, **kwargs: Any) -> Any:
        """d (target's score) / d (net input): :func:`viewer.net.backward.gradient` on this net.

        Parameters
        ----------
        X : ndarray (N, *input_shape), or dict of them by Input name
        target : viewer.analysis.attribution.target.Target, optional
            Default: each sample's predicted class.
        **kwargs
            ``rule`` and ``wrt``, as :func:`viewer.net.backward.gradient` takes them.

        Returns
        -------
        viewer.net.backward.GradientResult
        """
        from viewer.net.backward import gradient  # the backward pass imports the attribution targets
        if target is None:
            from viewer.analysis.attribution.target import Target
            target = Target()
        return gradient(self, X, target, **kwargs)

    def sized(self, shape: Sequence[int]) -> "Net":
        """This net with its one input's unknown sizes taken from ``shape`` (one sample's).

        Layers whose shapes depend on the input's are rebuilt from their
        config and parameters (the arrays are shared, not copied), so every
        layer's ``output_shape`` is known where the shape rules can tell:
        what methods that need sizes (attribution maps) work on. A net whose
        input sizes are all known is returned as it is; the last two sized
        copies are kept.

        Raises
        ------
        LayerError
            When the net has several inputs, or ``shape`` does not fit the input's.
        """
        inputs = self.inputs
        if len(inputs) != 1:
            raise LayerError(f"a net with {len(inputs)} inputs has no one input size to fix")
        given = tuple(int(n) for n in shape)
        known = inputs[0].output_shape
        if len(given) != len(known) or any(k is not None and k != g for k, g in zip(known, given)):
            raise LayerError(f"samples of shape {given} do not fit input {inputs[0].name!r} of "
                             f"shape {format_shape(known)}")
        if None not in known:
            return self
        cache = self.__dict__.setdefault("_sized", {})
        if given not in cache:
            if len(cache) >= 2:  # each copy prepares its own weights for its kernels: few at a time
                cache.clear()
            cache[given] = self._with_input_shape(given)
        return cache[given]

    def _with_input_shape(self, shape: tuple[int, ...]) -> "Net":
        copies: dict[int, Layer] = {}
        layers = []
        for layer in self._layers:
            config = layer.config()
            if not layer.inputs:
                config = dict(config, shape=list(shape))
                prev: Any = None
            else:
                parents = [copies[id(p)] for p in layer.inputs]
                prev = parents[0] if isinstance(layer.prev, Layer) else parents
            copy = type(layer).from_parts(prev, layer.name, config, layer.params())
            copies[id(layer)] = copy
            layers.append(copy)
        net = Net(layers, name=self.name, source=self.source)
        net.path = self.path
        return net

    def _plan_for(self, positions: tuple[int, ...]) -> Plan:
        """The evaluation plan for these layer positions, kept for the next call."""
        plan = self._plans.get(positions)
        if plan is None:
            if len(self._plans) >= 64:  # bounded: views ask for few distinct sets
                self._plans.clear()
            plan = self._plans[positions] = Plan([self._layers[i] for i in positions])
        return plan

    # -- describing ---------------------------------------------------------------

    def summary(self) -> list[LayerRow]:
        """One row per layer: index, name, kind, output shape, parameter count, inputs."""
        rows = []
        for i, layer in enumerate(self._layers):
            try:
                shape: Shape | None = layer.output_shape
            except LayerError:
                shape = None
            rows.append(LayerRow(i, layer.name, layer.kind, shape, layer.n_params,
                                 tuple(p.name for p in layer.inputs), quantization_text(layer)))
        return rows

    def check(self) -> None:
        """Raise LayerError unless every layer's shape rule accepts its input, and
        LimitExceeded when a layer's output for one sample is over the ``layer_bytes`` limit."""
        for layer in self._layers:
            if "\0" in layer.name:
                raise LayerError(f"layer name {layer.name!r} holds a NUL character, which a net "
                                 f"file cannot store")
            check_output_size(layer)
            for key, value in layer.params().items():
                if np.asarray(value).dtype.kind not in "biuf":
                    raise LayerError(f"layer {layer.name!r}: parameter {key!r} holds "
                                     f"{np.asarray(value).dtype} values, not numbers")
        ancestors(self._layers)

    def __repr__(self) -> str:
        return f"<Net {self.name!r}: {len(self)} layers, {self.n_params} params>"


def check_output_size(layer: Layer) -> None:
    """Refuse a layer whose known output size per sample (float32) is over ``layer_bytes``.

    Checked when a net is loaded or converted, before any forward pass would
    allocate it; unknown sizes (None) count as 1 and are met at run time.
    """
    shape = layer.output_shape
    if shape is None:
        return
    size = 4.0
    for d in shape:
        size *= max(int(d), 0) if isinstance(d, (int, np.integer)) else 1
    limits.check("layer_bytes", size, f"layer {layer.name!r} would output {size:,.0f} bytes "
                                      f"per sample (shape {format_shape(shape)})")


def format_shape(shape: Shape | None) -> str:
    """A per-sample shape as text, "?" for unknown sizes: ``(1, 8, 8)``."""
    if shape is None:
        return "?"
    return "(" + ", ".join("?" if s is None else str(s) for s in shape) + ")"


def format_summary(net: Net) -> str:
    """The layer table and totals as plain text, for the command line."""
    rows = net.summary()
    header = ("#", "name", "kind", "output shape", "params")
    cells = [(str(r.index), r.name, r.kind, format_shape(r.output_shape), f"{r.n_params:,}")
             for r in rows]
    widths = [max(len(h), *(len(c[k]) for c in cells)) for k, h in enumerate(header)]
    right = {0, 4}

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.rjust(w) if k in right else v.ljust(w)
                         for k, (v, w) in enumerate(zip(values, widths))).rstrip()

    out = [f"{net.name}: {len(net)} layers, {net.n_params:,} parameters"]
    if net.source:
        out.append(f"source: {net.source}")
    out += [line(header), line(["-" * w for w in widths])]
    out += [line(c) for c in cells]
    quantized = [f"  {r.index:>3}  {r.name}: {r.quantization}" for r in rows if r.quantization]
    if quantized:
        out += ["quantisation (outputs shown as real values, scale * (q - zero point)):"] + quantized
    return "\n".join(out)
