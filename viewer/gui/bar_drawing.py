"""Drawing :class:`~viewer.app.bars.Bars` on matplotlib axes (window and picture files alike).

The predicted class is drawn in the "right" green or the "wrong" red
(against the sample's label), the label's bar is outlined, the other bars
are the neutral blue; names are on the axis when they fit. matplotlib only,
no Qt: ``main.py render`` draws with it too.
"""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from matplotlib.container import BarContainer

from viewer.app.bars import Bars
from viewer.app.classes import BAD, GOOD

NEUTRAL = "#4c78a8"
TRUTH_LINE = 1.6  # the outline of the label's bar
#: More bars than this get no tick label each (the hover still names them).
MAX_TICK_LABELS = 40


def bar_colours(bars: Bars) -> list[str]:
    """The colour of each bar: the prediction green or red, the others neutral."""
    colours = [NEUTRAL] * len(bars.values)
    if bars.predicted is not None:
        right = bars.truth is None or bars.truth == bars.predicted
        colours[bars.predicted] = GOOD if right else BAD
    return colours


def draw_bars(ax: Axes, bars: Bars, colour: str = "black") -> BarContainer:
    """Draw ``bars`` on matplotlib axes ``ax`` (cleared first); returns the BarContainer."""
    ax.clear()
    n = len(bars.values)
    x = np.arange(n)
    container = ax.bar(x, np.nan_to_num(bars.values, nan=0.0), color=bar_colours(bars),
                       width=0.8)
    if bars.truth is not None and 0 <= bars.truth < n:
        container[bars.truth].set_edgecolor(colour)
        container[bars.truth].set_linewidth(TRUTH_LINE)
    ax.axhline(0.0, color="0.5", linewidth=0.8)
    ax.set_xlim(-0.6, n - 0.4)
    if n <= MAX_TICK_LABELS:
        ax.set_xticks(x, bars.labels, rotation=0 if max(map(len, bars.labels)) <= 3 else 60,
                      ha="center" if max(map(len, bars.labels)) <= 3 else "right")
    ax.set_xlabel(bars.axis)
    ax.set_ylabel(bars.value_name)
    ax.tick_params(colors=colour)
    ax.xaxis.label.set_color(colour)
    ax.yaxis.label.set_color(colour)
    return container


def describe_bar(bars: Bars, k: int) -> str:
    """Hover text for bar ``k``."""
    what = f"{bars.axis.split(' ')[0]} {k}"
    if bars.labels[k] != str(k):
        what += f" ({bars.labels[k]})"
    notes = [n for n, on in (("predicted", k == bars.predicted), ("label", k == bars.truth)) if on]
    return f"{what} · {bars.value_name} {bars.values[k]:.4g}" + (f" · {', '.join(notes)}" if notes else "")
