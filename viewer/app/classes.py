"""Classes as the explore views show them: their names, their colours, how many."""

from __future__ import annotations

from typing import Any

import numpy as np

# Ten well-separated colours (matplotlib's tab10), then twenty (tab20) for more classes.
TAB10 = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
         "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
TAB20 = ("#1f77b4", "#aec7e8", "#ff7f0e", "#ffbb78", "#2ca02c", "#98df8a", "#d62728",
         "#ff9896", "#9467bd", "#c5b0d5", "#8c564b", "#c49c94", "#e377c2", "#f7b6d2",
         "#7f7f7f", "#c7c7c7", "#bcbd22", "#dbdb8d", "#17becf", "#9edae5")
GOOD, BAD = "#1a7f37", "#c62828"


def class_text(samples: Any, k: int) -> str:
    """Class ``k`` as text, with its name where the samples name it differently."""
    names = getattr(samples, "label_names", None)
    if names and 0 <= k < len(names) and names[k] != str(k):
        return f"{k} ({names[k]})"
    return str(k)


def class_colour(k: int, n_classes: int) -> str:
    """A colour for class ``k`` of ``n_classes`` (grey for unknown, k < 0)."""
    if k < 0:
        return "#9e9e9e"
    table = TAB10 if n_classes <= 10 else TAB20
    return table[k % len(table)]


def n_classes(samples: Any, extra: np.ndarray | None = None) -> int:
    """How many classes the samples' labels (and ``extra`` classes) span."""
    count = len(samples.label_names or ()) if samples is not None else 0
    for values in (getattr(samples, "labels", None), extra):
        if values is not None and len(values):
            count = max(count, int(np.max(values)) + 1)
    return count
