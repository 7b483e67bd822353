"""The layer base class and the registry of layer kinds.

A layer is a small numpy object that knows the layer (or layers) before it and
computes its output when called, as in the idea Strata rests on::

    out = layer(X)    # asks the layers before it first, down to the Input

Each kind registers itself under its ``kind`` name, so that a net file can
name a kind and the reader can rebuild the layer from its config and params.
"""

from __future__ import annotations

from typing import Any, Callable, ClassVar, Iterator, Mapping, Sequence, Union

import numpy as np

from viewer.errors import LayerError, StrataError

Shape = tuple  # per-sample shape: ints, or None where the size is unknown
Prev = Union["Layer", tuple, None]

KINDS: dict[str, type["Layer"]] = {}


def register(cls: type["Layer"]) -> type["Layer"]:
    """Class decorator: make ``cls`` known under ``cls.kind``."""
    if not cls.kind:
        raise TypeError(f"{cls.__name__} has no kind")
    if cls.kind in KINDS and KINDS[cls.kind] is not cls:
        raise TypeError(f"layer kind {cls.kind!r} is registered twice")
    KINDS[cls.kind] = cls
    return cls


def layer_class(kind: str) -> type["Layer"]:
    """Return the class registered for ``kind``.

    Raises
    ------
    LayerError
        If no such kind exists; the message lists the known kinds.
    """
    if isinstance(kind, str) and kind not in KINDS:
        from viewer.net.layers import load_every_kind  # the converters' kinds load on first use
        load_every_kind()
    try:
        return KINDS[kind]
    except (KeyError, TypeError):
        known = ", ".join(sorted(KINDS))
        raise LayerError(f"unknown layer kind {kind!r} (known kinds: {known})") from None


class Layer:
    """One layer of a net: a callable numpy object linked to its inputs.

    Subclasses set ``kind`` and ``param_names``, take their config and their
    parameter arrays as keyword arguments, and implement :meth:`forward`,
    :meth:`infer_shape` and :meth:`config`.

    Attributes
    ----------
    name : str
        Unique within its net.
    prev : Layer, tuple of Layer, or None
        The layer feeding this one; a tuple for merge layers; None for Input.
    """

    kind: ClassVar[str] = ""
    param_names: ClassVar[tuple[str, ...]] = ()
    is_merge: ClassVar[bool] = False  # prev is always a tuple, even of one layer

    def __init__(self, prev: Prev, *, name: str) -> None:
        if not isinstance(name, str) or not name:
            raise LayerError(f"a {self.kind} layer needs a non-empty name")
        self.name = name
        self.prev = prev
        self._shape: Shape | None = None
        self._plan: "Plan | None" = None  # evaluation order, found on the first call

    # -- what subclasses provide -------------------------------------------------

    def forward(self, x: Any) -> np.ndarray:
        """Compute this layer's output from its input(s).

        Parameters
        ----------
        x : ndarray or tuple of ndarray
            The output of ``prev`` (batch first), a tuple for merge layers.
        """
        raise NotImplementedError

    def infer_shape(self, in_shape: Any) -> Shape:
        """Per-sample output shape for a per-sample input shape (None: unknown size)."""
        raise NotImplementedError

    def config(self) -> dict:
        """Everything besides the parameters needed to rebuild the layer (JSON-able)."""
        return {}

    # -- shared behaviour -------------------------------------------------------

    def params(self) -> dict[str, np.ndarray]:
        """The parameter arrays by name (only the ones that are set)."""
        out = {}
        for key in self.param_names:
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out

    @property
    def n_params(self) -> int:
        """Number of parameter values (all arrays together)."""
        return int(sum(p.size for p in self.params().values()))

    @property
    def inputs(self) -> tuple["Layer", ...]:
        """The layers feeding this one, as a tuple (empty for Input)."""
        if self.prev is None:
            return ()
        if isinstance(self.prev, Layer):
            return (self.prev,)
        return tuple(self.prev)

    @property
    def output_shape(self) -> Shape:
        """Per-sample output shape, without the batch axis; computed without running."""
        if self._shape is None:
            if isinstance(self.prev, Layer):
                in_shape = self.prev.output_shape
            elif self.prev is None:
                in_shape = None
            else:
                in_shape = tuple(p.output_shape for p in self.prev)
            self._shape = tuple(self.infer_shape(in_shape))
        return self._shape

    @classmethod
    def from_parts(cls, prev: Prev, name: str, config: Mapping[str, Any],
                   params: Mapping[str, np.ndarray]) -> "Layer":
        """Rebuild a layer from what :meth:`config` and :meth:`params` returned."""
        unknown = set(config) & set(params)
        if unknown:
            raise LayerError(f"layer {name!r}: {sorted(unknown)} given both as config and parameter")
        extra = set(params) - set(cls.param_names)
        if extra:
            raise LayerError(f"layer {name!r} ({cls.kind}): unexpected parameters {sorted(extra)}")
        try:
            return cls(prev, name=name, **dict(config), **dict(params))
        except TypeError as exc:
            raise LayerError(f"layer {name!r} ({cls.kind}): bad config: {exc}") from None

    def __call__(self, X: Any) -> np.ndarray:
        """Output of this layer for the batch ``X``.

        Parameters
        ----------
        X : ndarray (batch, ...) or dict of ndarray
            The net's input; a dict from Input layer name to array when the net
            has several inputs.

        Every layer before this one is computed exactly once, even where
        branches share ancestors.
        """
        if self._plan is None:
            self._plan = Plan([self])
        return evaluate(self, X, plan=self._plan)[self]

    def __repr__(self) -> str:
        shape = _try_shape(self)
        prev = ", ".join(p.name for p in self.inputs) or "-"
        return f"<{self.kind} {self.name!r} <- {prev}, output {shape}, {self.n_params} params>"


def _try_shape(layer: Layer) -> str:
    try:
        return str(layer.output_shape)
    except LayerError:
        return "?"


def ancestors(target: Layer | Sequence[Layer]) -> list[Layer]:
    """The layers ``target`` depends on (itself included), inputs first.

    Iterative depth-first search, so deep nets do not hit the recursion limit.
    """
    roots = [target] if isinstance(target, Layer) else list(target)
    order: list[Layer] = []
    done: set[int] = set()
    on_path: set[int] = set()
    for root in roots:
        stack: list[tuple[Layer, Iterator[Layer]]] = [(root, iter(root.inputs))]
        if id(root) in done:
            continue
        on_path.add(id(root))
        while stack:
            layer, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                on_path.discard(id(layer))
                done.add(id(layer))
                order.append(layer)
            elif id(child) in on_path:
                raise LayerError(f"layers {layer.name!r} and {child.name!r} form a cycle")
            elif id(child) not in done:
                on_path.add(id(child))
                stack.append((child, iter(child.inputs)))
    return order



def output_bytes(layers: Sequence[Layer]) -> int:
    """Bytes one sample's outputs take in a pass computing ``layers`` and what they read.

    float32 per value; an unknown size counts as 1, and a layer whose shape rule
    cannot tell is left out (callers bound slow batches separately).
    """
    total = 0
    for layer in ancestors(list(layers)):
        try:
            total += 4 * int(np.prod([s or 1 for s in layer.output_shape]))
        except (StrataError, TypeError, ValueError):
            continue
    return max(total, 1)


class LayerFailed(LayerError):
    """A layer's computation raised.

    Attributes
    ----------
    layer : Layer
        The layer that failed.
    error : Exception
        What it raised.
    computed : dict
        Layer -> output of the wanted layers computed before the failure.
    index : int or None
        The failing layer's position, set by :meth:`Net.trace`.
    outputs : list of ndarray
        Set by :meth:`Net.trace`: the outputs of every layer before ``index``.
    """

    def __init__(self, layer: "Layer", error: Exception, computed: dict) -> None:
        reason = str(error) if isinstance(error, LayerError) else f"{type(error).__name__}: {error}"
        super().__init__(reason if isinstance(error, LayerError) and layer.name in reason
                         else f"layer {layer.name!r} ({layer.kind}) failed: {reason}")
        self.layer = layer
        self.error = error
        self.reason = reason
        self.computed = computed
        self.index: int | None = None
        self.outputs: list = []


class Plan:
    """The evaluation order for some target layers, worked out once and reused.

    Attributes
    ----------
    order : list of Layer
        Every layer the targets need, inputs first.
    uses : dict
        id(layer) -> how many layers in ``order`` read its output, so an
        output can be dropped after its last reader.
    targets : set
        id() of each target layer.
    """

    def __init__(self, targets: Sequence[Layer]) -> None:
        self.order = ancestors(targets)
        self.targets = {id(t) for t in targets}
        self.uses: dict[int, int] = {}
        for layer in self.order:
            for p in layer.inputs:
                self.uses[id(p)] = self.uses.get(id(p), 0) + 1
        self._steps: list | None = None

    @property
    def steps(self) -> list:
        """The order as fused steps (:mod:`viewer.net.fusion`), worked out on first use.

        ``program`` holds, per step: the step, the id() of each layer it reads
        (None for an Input), the id() of its output layer, whether that is a
        target, and the id() of the outputs no later step reads, dropped
        after it (which bounds memory on deep nets).
        """
        if self._steps is None:
            from viewer.net.fusion import build_steps
            steps = build_steps(self.order, self.targets, self.uses)
            last_reader: dict[int, int] = {}
            for k, step in enumerate(steps):
                for p in step.inputs:
                    last_reader[id(p)] = k
            drops: list[list[int]] = [[] for _ in steps]
            for key, k in last_reader.items():
                drops[k].append(key)
            self.program = [(step, tuple(id(p) for p in step.inputs) if step.inputs else None,
                             id(step.output), id(step.output) in self.targets, tuple(drop))
                            for step, drop in zip(steps, drops)]
            self._steps = steps
        return self._steps


def evaluate(target: Layer | Sequence[Layer], X: Any,
             keep: Callable[[Layer], bool] | None = None,
             plan: Plan | None = None) -> dict[Layer, np.ndarray]:
    """Compute ``target`` (one layer or several) for the batch ``X``, each ancestor once.

    Parameters
    ----------
    target : Layer or sequence of Layer
    X : ndarray (batch, ...) or dict of ndarray by Input name
    keep : callable, optional
        Which intermediate outputs to return besides the targets. Outputs not
        kept are dropped as soon as no later layer needs them, which bounds
        memory on deep nets.
    plan : Plan, optional
        The targets' evaluation order, when the caller keeps one to reuse.

    Returns
    -------
    dict
        Layer -> output array (batch first).

    Raises
    ------
    LayerFailed
        When a layer's computation raises; it names the layer.
    """
    targets = [target] if isinstance(target, Layer) else list(target)
    if plan is None:
        plan = Plan(targets)
    if keep is None:
        return _evaluate_steps(plan, X)
    remaining_uses = dict(plan.uses)
    values: dict[int, np.ndarray] = {}
    result: dict[Layer, np.ndarray] = {}
    for layer in plan.order:
        out = _run_layer(layer, X, values, result)
        values[id(layer)] = out
        if id(layer) in plan.targets or keep(layer):
            result[layer] = out
        _release(layer.inputs, remaining_uses, values)
    return result


def _release(inputs: Sequence[Layer], remaining_uses: dict[int, int], values: dict[int, Any]) -> None:
    """Count one more read of each input; drop the outputs nothing will read again."""
    for p in inputs:
        remaining_uses[id(p)] -= 1
        if remaining_uses[id(p)] == 0:
            del values[id(p)]


def _run_layer(layer: Layer, X: Any, values: dict[int, np.ndarray],
               result: dict[Layer, np.ndarray]) -> np.ndarray:
    """One layer's output from the values of its inputs; a failure names the layer."""
    try:
        if not layer.inputs:
            return layer.forward(_input_for(layer, X))
        if isinstance(layer.prev, Layer):
            return layer.forward(values[id(layer.prev)])
        return layer.forward(tuple(values[id(p)] for p in layer.inputs))
    except Exception as exc:  # numpy raising on odd input is the layer's failure, named
        raise LayerFailed(layer, exc, result) from exc


def _evaluate_steps(plan: Plan, X: Any) -> dict[Layer, np.ndarray]:
    """:func:`evaluate` over the plan's fused steps: only the targets' outputs are kept.

    A step that fails is run again layer by layer, so the error names the
    layer that failed, as an unfused evaluation would.
    """
    plan.steps     # worked out on first use
    values: dict[int, np.ndarray] = {}
    result: dict[Layer, np.ndarray] = {}
    for step, reads, output, target, drops in plan.program:
        if reads is None:
            out = _run_layer(step.head, X, values, result)
        else:
            try:
                out = step.run([values[key] for key in reads])
            except Exception:  # find and name the failing layer
                _replay(step, X, values, result)
                raise
        values[output] = out
        if target:
            result[step.output] = out
        for key in drops:
            del values[key]
    return result


def _replay(step: Any, X: Any, values: dict[int, np.ndarray], result: dict[Layer, np.ndarray]) -> None:
    """Run a failed step's layers one by one, unfused, until one raises (as LayerFailed)."""
    local = dict(values)
    for layer in step.layers:
        local[id(layer)] = _run_layer(layer, X, local, result)


def _input_for(layer: Layer, X: Any) -> Any:
    if isinstance(X, Mapping):
        if layer.name not in X:
            raise LayerError(f"no data given for input {layer.name!r} (given: {sorted(X)})")
        return X[layer.name]
    return X


# -- small validation helpers shared by the kinds ---------------------------------

def as_pair(value: Any, what: str) -> tuple[int, int]:
    """An int or a pair of ints as a pair of non-negative ints."""
    if isinstance(value, (int, np.integer)):
        pair = (int(value), int(value))
    else:
        try:
            pair = tuple(int(v) for v in value)
        except (TypeError, ValueError):
            raise LayerError(f"{what} must be an int or two ints, not {value!r}") from None
    if len(pair) != 2 or min(pair) < 0:
        raise LayerError(f"{what} must be an int or two non-negative ints, not {value!r}")
    return pair


def as_array(value: Any, what: str, ndim: int | None = None) -> np.ndarray:
    """A parameter as a floating numpy array of the expected rank."""
    arr = np.asarray(value)
    if arr.dtype.kind not in "fiub":
        raise LayerError(f"{what} must be numeric, not {arr.dtype}")
    if arr.dtype.kind != "f":
        arr = arr.astype(np.float32)
    if ndim is not None and arr.ndim != ndim:
        raise LayerError(f"{what} must have {ndim} dimensions, not shape {arr.shape}")
    return arr


def check_format(data_format: str) -> str:
    """Validate a data format name."""
    if data_format not in ("channels_first", "channels_last"):
        raise LayerError(f"data_format must be 'channels_first' or 'channels_last', not {data_format!r}")
    return data_format


def need_rank(layer: Layer, in_shape: Shape, rank: int) -> None:
    """Raise a clear error when a layer gets input of the wrong rank."""
    if in_shape is None or len(in_shape) != rank:
        raise LayerError(f"layer {layer.name!r} ({layer.kind}) needs input with {rank} "
                         f"axes per sample, got shape {in_shape}")
