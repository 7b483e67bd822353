"""An example explore view: the mean of each channel of the current result, as bars.

It shows what adding a view takes: this module, and one line in
:func:`viewer.app.views.register_views`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from viewer.gui.plot_panel import PlotPanel
from viewer.gui.plotting import text_colour


class ChannelMeansView(PlotPanel):
    """One bar per channel of a conv layer's output: its mean over positions."""

    def __init__(self, state: Any, parent: Any = None) -> None:
        super().__init__(state, parent, toolbar=False)
        self.axes = self.figure.add_subplot()
        self.means: np.ndarray | None = None
        state.resultReady.connect(self.show_result)
        self.show_result(state.result)

    def show_result(self, result: Any) -> None:
        """Draw the channel means of ``result`` (a message for other layers)."""
        if result is None or result.picture.kind != "mosaic":
            self.means = None
            self.show_message("Channel means need a layer with channels (a conv layer).")
            return
        pic = result.picture
        self.means = np.array([np.nanmean(pic.channel_map(k))
                               for k in range(len(pic.channel_boxes))])
        ink = text_colour(self)
        self.axes.clear()
        self.axes.bar(np.arange(len(self.means)), self.means, color="#4c72b0")
        self.axes.set_xlabel("channel", color=ink)
        self.axes.set_ylabel("mean", color=ink)
        self.axes.tick_params(colors=ink)
        req = result.request
        self.set_title(f"<b>{req.net[req.layer].name}</b> · mean of each channel · "
                       f"sample {req.sample}")
        self.show_plot()
        self.canvas.draw_idle()
