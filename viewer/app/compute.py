"""The computation the window hands to its worker thread.

:func:`compute` turns one selection (net, samples, layer, sample, options)
into everything the window shows for it, reusing cached forward passes.
No Qt and no matplotlib here, so it runs on any thread and can be tested
alone; the net runtime is imported where needed, on the worker thread, so
that it does not delay the window's first paint.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from viewer.app.colouring import Colouring, DatasetRange, LayerRanges, to_rgba
from viewer.app.options import AUTO_CMAP, colormap_for
from viewer.errors import LayerError, SampleError, StrataError

if TYPE_CHECKING:  # the analysis modules load with the first computation, off the window's start
    from viewer.analysis import ActivationStats, Histogram, Picture

# Traces kept for quick layer switching and stepping back: at most this many samples (stepping
# back further is rare; without it a small net's cache grows to the byte budget, ~1000 samples of
# the digits CNN) within this many bytes (a large net's few traces).
TRACE_CACHE_ITEMS = 32
TRACE_CACHE_BYTES = 256 * 2**20
# Width / height the mosaic is laid out for (the plot area is landscape).
MOSAIC_ASPECT = 4 / 3


@dataclass(frozen=True, eq=False)
class Request:
    """One selection to compute.

    Attributes
    ----------
    net, samples : Net, SampleSet
    layer, sample : int
        Indices into the net and the samples.
    scale : str
        One of :data:`viewer.app.options.SCALES`: "shared" and "channel" as
        :func:`viewer.analysis.to_picture` has them; "dataset" lays out as
        "shared" and colours by the layer's dataset range once it is known
        (:mod:`viewer.app.colouring`), by the picture's own range until then.
    bins : int
        Histogram bins.
    channel : int or None
        A mosaic channel to show alone (large), or None for the whole layer.
    colouring : Colouring or None
        Colour the picture in the worker (None: the heatmap colours it).
    with_hist : bool
        Count the histogram too (only needed while it is on show).
    """

    net: Any
    samples: Any
    layer: int
    sample: int
    scale: str = "shared"
    bins: int = 50
    channel: int | None = None
    colouring: Colouring | None = None
    with_hist: bool = True


@dataclass(frozen=True, eq=False)
class Result:
    """Everything the window shows for one :class:`Request`.

    Attributes
    ----------
    request : Request
    activation : np.ndarray
        The layer's output for the sample, no batch axis.
    picture : Picture
        The whole layer as one image.
    image : np.ndarray, shape (H, W)
        What the heatmap draws: ``picture.image``, or the chosen channel.
    vmin, vmax : float
        The range the colours span (``vmin < vmax``): of the whole layer's
        picture (a channel shown large keeps it), of the channel itself with
        the per-channel scale, or of the layer over the dataset.
    both_signs : bool
        Whether the whole layer has values of both signs (which picks the
        "auto" colour map, the same for a channel shown large); with the
        dataset scale, whether its dataset range has.
    dataset_range : DatasetRange or None
        The range the "dataset" scale coloured by; None for the other
        scales, and while the layer's range is not known yet.
    cmap : str
        The colour map the picture is drawn with ("auto" resolved).
    clim : (float, float)
        Its colour limits (centred on zero for a diverging map).
    rgba : np.ndarray (H, W, 4) uint8 or None
        ``image`` coloured, when the request asked for it.
    stats : ActivationStats
        Of the activation (or of the chosen channel).
    hist : Histogram or None
        Of the same values as ``stats``, when the request asked for it.
    net_input : np.ndarray
        The sample as the net sees it, no batch axis.
    prediction : (int, float) or None
        Class and probability, where the net is a classifier (its softmax
        output, or the softmax of its logits; see viewer.analysis.classifier).
    seconds : float
        Time spent computing (forward pass where not cached, picture,
        statistics, histogram).
    cached : bool
        True when the forward pass came from the cache.
    """

    request: Request
    activation: np.ndarray
    picture: Picture
    image: np.ndarray
    vmin: float
    vmax: float
    both_signs: bool
    dataset_range: DatasetRange | None
    cmap: str
    clim: tuple[float, float]
    rgba: np.ndarray | None
    stats: ActivationStats
    hist: Histogram | None
    net_input: np.ndarray
    prediction: tuple[int, float] | None
    seconds: float
    cached: bool

    @property
    def values(self) -> np.ndarray:
        """The values described by ``stats``: the chosen channel or the activation."""
        if self.request.channel is None:
            return self.activation
        return self.picture.channel_map(self.request.channel)


@dataclass(frozen=True, eq=False)
class Trace:
    """One sample's pass through the net.

    Attributes
    ----------
    outputs : list of np.ndarray
        Layer outputs, batch axis first, for every layer up to the first one
        that failed (all of them when none did).
    net_input : np.ndarray
        The sample as fed to the net, shape (1, ...).
    failure : str or None
        The message of the first failing layer.
    """

    outputs: list
    net_input: np.ndarray
    failure: str | None = None

    @property
    def nbytes(self) -> int:
        """Memory held by the arrays."""
        return sum(o.nbytes for o in self.outputs) + self.net_input.nbytes


class TraceCache:
    """Traces of single samples, most recent first, bounded in count and in bytes.

    Thread-safe. Keyed by the net and samples objects themselves (identity),
    so opening another file never returns a stale trace.
    """

    def __init__(self, max_bytes: int = TRACE_CACHE_BYTES, max_items: int = TRACE_CACHE_ITEMS) -> None:
        self._max_bytes = max_bytes
        self._max_items = max_items
        self._items: OrderedDict[tuple[int, int, int], tuple[Any, Any, Trace]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._making: dict[tuple[int, int, int], threading.Event] = {}

    def trace(self, net: Any, samples: Any, sample: int,
              make: Callable[[Any, Any, int], Trace]) -> tuple[Trace, bool]:
        """The trace of a sample, from the cache or made with ``make(net, samples, sample)``.

        A caller asking for a trace another thread is making (a prefetch) waits
        for it instead of computing it twice.

        Returns
        -------
        (Trace, cached)
        """
        key = (id(net), id(samples), sample)
        while True:
            hit = self.get(net, samples, sample)
            if hit is not None:
                return hit, True
            with self._lock:
                busy = self._making.get(key)
                if busy is None:
                    done = self._making[key] = threading.Event()
                    break
            busy.wait()
        try:
            made = make(net, samples, sample)
            self.put(net, samples, sample, made)
        finally:
            with self._lock:
                del self._making[key]
            done.set()
        return made, False

    def get(self, net: Any, samples: Any, sample: int) -> Trace | None:
        """The trace of a sample, or None if not cached."""
        key = (id(net), id(samples), sample)
        with self._lock:
            hit = self._items.get(key)
            if hit is None or hit[0] is not net or hit[1] is not samples:
                return None
            self._items.move_to_end(key)
            return hit[2]

    def put(self, net: Any, samples: Any, sample: int, trace: Trace) -> None:
        """Store a trace, dropping the oldest ones beyond the count or the byte budget."""
        key = (id(net), id(samples), sample)
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= old[2].nbytes
            self._items[key] = (net, samples, trace)
            self._bytes += trace.nbytes
            while len(self._items) > 1 and (self._bytes > self._max_bytes
                                            or len(self._items) > self._max_items):
                _, (_, _, dropped) = self._items.popitem(last=False)
                self._bytes -= dropped.nbytes

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._items.clear()
            self._bytes = 0


def forward(net: Any, samples: Any, i: int) -> Trace:
    """Read sample ``i`` and compute every layer's output for it once.

    When a layer fails, the layers before it are still computed (they can be
    shown), and the trace carries the failing layer's message.

    Raises
    ------
    StrataError
        When the sample itself cannot be read.
    """
    try:
        x = samples.batch([i])
    except StrataError:
        raise
    except Exception as exc:
        raise SampleError(f"sample {i} cannot be read: {type(exc).__name__}: {exc}") from None
    from viewer.net.layers.base import LayerFailed  # h5py comes with it: not at start-up

    try:
        return Trace(net.trace(x), x)
    except LayerFailed as exc:
        return Trace(exc.outputs, x, f"layer {exc.layer.name!r} failed on sample {i}: "
                                     f"{exc.reason}")


def prefetch(net: Any, samples: Any, i: int, cache: TraceCache) -> None:
    """Put sample ``i``'s trace in the cache ahead of need; failures wait for the real request."""
    try:
        cache.trace(net, samples, i, forward)
    except Exception:  # reported when the sample is actually shown
        pass


def compute(request: Request, cache: TraceCache, ranges: LayerRanges | None = None) -> Result:
    """Compute what the window shows for ``request``.

    ``ranges`` holds the layers' dataset-wide colour ranges known so far (for
    the "dataset" scale); computing a missing one is the caller's business,
    in the background (:func:`viewer.app.colouring.range_of_first`).

    Raises
    ------
    StrataError
        With a one-line message naming the layer and sample, for samples that
        cannot be read or fed to the net, or a layer whose computation fails.
    """
    from viewer.analysis import activation_stats, color_limits, histogram, to_picture
    from viewer.analysis.classifier import classifier_of
    from viewer.analysis.reading import picture_layout

    start = time.perf_counter()
    net = request.net
    trace, cached = cache.trace(net, request.samples, request.sample, forward)
    if request.layer >= len(trace.outputs):
        raise LayerError(trace.failure)
    outputs, x = trace.outputs, trace.net_input
    act = np.asarray(outputs[request.layer][0])
    picture = to_picture(act, layout=picture_layout(net, request.layer, act.ndim),
                         scale="shared" if request.scale == "dataset" else request.scale,
                         aspect=MOSAIC_ASPECT)
    channel = request.channel
    if channel is not None and not 0 <= channel < len(picture.channel_boxes):
        channel = None
        request = replace(request, channel=None)
    values = act if channel is None else picture.channel_map(channel)
    image = picture.image if channel is None else values.astype(picture.image.dtype)
    whole = color_limits(picture.image)
    dataset_range = None
    if request.scale == "dataset" and ranges is not None:
        dataset_range = ranges.get(net, request.samples, request.layer)
    if dataset_range is not None:
        limits = dataset_range.limits  # the same map and range for every sample and channel
        both_signs = limits.vmin < 0 < limits.vmax
    else:
        if channel is not None and request.scale == "channel":
            limits = color_limits(image)  # the channel on its own scale, as in the mosaic
        else:
            limits = whole
        both_signs = whole.vmin < 0 < whole.vmax or limits.vmin < 0 < limits.vmax
    colouring = request.colouring
    cmap, lo, hi = colormap_for(colouring.cmap if colouring else AUTO_CMAP,
                                limits.vmin, limits.vmax, both_signs)
    table = colouring.tables.get(cmap) if colouring else None
    prediction = None
    found = classifier_of(net, labels=getattr(request.samples, "labels", None))
    if found is not None and trace.failure is None:
        prediction = found.predict(np.asarray(outputs[-1][0]))
    return Result(
        request=request, activation=act, picture=picture, image=image,
        vmin=limits.vmin, vmax=limits.vmax, both_signs=both_signs, dataset_range=dataset_range,
        cmap=cmap, clim=(lo, hi),
        rgba=None if table is None else to_rgba(image, table, lo, hi, colouring.gap),
        stats=activation_stats(values),
        hist=histogram(values, bins=request.bins) if request.with_hist else None,
        net_input=np.asarray(x[0]), prediction=prediction,
        seconds=time.perf_counter() - start, cached=cached,
    )
