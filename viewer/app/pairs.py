"""What the window remembers per (net, samples) pair: which samples, preprocessed how.

The preprocessing belongs to the pair, not to the net (see
:mod:`viewer.data.proposal`). The window keeps the pairs it opened with its
recent files, newest first, so that reopening a net brings back the samples
last shown with it and the preprocessing chosen for them:

    {"net": "/abs/net.onnx", "samples": "/abs/digits.npz", "preprocess": {"scale": 1.0}}

``samples`` is "" for the net's own embedded samples; ``preprocess`` is None
when Strata's own choice was in force (it is then made again, from the
files as they are now). Plain data, no Qt: the window stores
:meth:`PairMemory.to_json` in its settings.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any, Optional

#: Pairs remembered; older ones are forgotten.
MAX_PAIRS = 30


@dataclass(frozen=True)
class Pair:
    """One remembered (net, samples) pair.

    Attributes
    ----------
    net : str
        The net file, absolute.
    samples : str
        The samples file, absolute; "" for the net's embedded samples.
    preprocess : dict or None
        The preprocessing the user chose (``Preprocess.to_dict()``); None:
        Strata's choice.
    """

    net: str
    samples: str
    preprocess: Optional[dict]


class PairMemory:
    """The remembered pairs, newest first; immutable (``remember`` returns a new one)."""

    def __init__(self, pairs: tuple[Pair, ...] = ()) -> None:
        self.pairs = tuple(pairs)[:MAX_PAIRS]

    @classmethod
    def from_json(cls, text: Any) -> PairMemory:
        """Read :meth:`to_json` text; anything unreadable is an empty memory."""
        try:
            items = json.loads(text) if text else []
        except (TypeError, ValueError):
            return cls()
        pairs = []
        for item in items if isinstance(items, list) else []:
            if not isinstance(item, dict) or not isinstance(item.get("net"), str):
                continue
            samples = item.get("samples") or ""
            spec = item.get("preprocess")
            pairs.append(Pair(item["net"], samples if isinstance(samples, str) else "",
                              spec if isinstance(spec, dict) else None))
        return cls(tuple(pairs))

    def to_json(self) -> str:
        return json.dumps([{"net": p.net, "samples": p.samples, "preprocess": p.preprocess}
                           for p in self.pairs])

    def remember(self, net: str, samples: str | None, preprocess: dict | None) -> PairMemory:
        """A memory with this pair first (replacing an earlier entry of the same pair)."""
        pair = Pair(os.path.abspath(net), os.path.abspath(samples) if samples else "", preprocess)
        rest = tuple(p for p in self.pairs if (p.net, p.samples) != (pair.net, pair.samples))
        return PairMemory((pair,) + rest)

    def preprocess_for(self, net: str, samples: str | None) -> dict | None:
        """The preprocessing chosen for the pair, or None (let Strata choose)."""
        key = (os.path.abspath(net), os.path.abspath(samples) if samples else "")
        for p in self.pairs:
            if (p.net, p.samples) == key:
                return p.preprocess
        return None

    def last_samples(self, net: str) -> str | None:
        """The samples file last shown with ``net``, if it still exists; None: its own samples."""
        net = os.path.abspath(net)
        for p in self.pairs:
            if p.net == net:
                return p.samples if p.samples and os.path.exists(p.samples) else None
        return None
