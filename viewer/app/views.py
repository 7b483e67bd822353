"""Every view of the window, one registration line each.

A new view is one module (a QWidget made from the state, in
:mod:`viewer.gui`) and one line here. Factories are given as
"module:Class", imported the first time the view is shown, so a view costs
nothing at start-up, and this list needs no Qt: ``window`` is the
:class:`~viewer.gui.main_window.MainWindow` calling it.
"""

from __future__ import annotations

from typing import Any


def register_views(window: Any) -> None:
    """Register the window's tabs, panels and their commands, in menu order."""
    window.add_view("heatmap", "&Heatmap", "viewer.gui.heatmap_view:HeatmapView",
                    shortcut="Ctrl+1", tip="The layer's output as a picture", follows_result=True)
    window.add_view("histogram", "H&istogram", "viewer.gui.histogram_view:HistogramView",
                    shortcut="Ctrl+2", tip="The distribution of the layer's values",
                    follows_result=True)
    window.add_view("compare", "&Compare", "viewer.gui.explore.compare_view:CompareView",
                    shortcut="Ctrl+3",
                    tip="Compare two samples, or two layers of one shape, and their difference")
    window.add_view("weights", "&Weights", "viewer.gui.explore.weights_view:WeightsView",
                    shortcut="Ctrl+4",
                    tip="The selected layer's parameters as pictures and histograms")
    window.add_view("explain", "E&xplain", "viewer.gui.explain_view:ExplainView", shortcut="Ctrl+5",
                    tip="Which parts of the sample drive a class or a unit: attribution maps")
    window.add_dock("dataset", "&Dataset panel", "viewer.gui.explore.dataset_panel:DatasetPanel",
                    shortcut="Ctrl+D",
                    tip="Sweep the selected layer over the samples: unit statistics, the samples "
                        "that drive each unit, PCA map, class means, and a browser of all samples")
    window.add_dock("featurevis", "&Feature vis panel", "viewer.gui.featurevis_view:FeatureVisView",
                    shortcut="Ctrl+G", tip="What a unit, channel or class responds to most: "
                    "its image grown by gradient ascent, a layer's gallery, DeepDream")
    window.add_command("sweep", "&Sweep the layer", lambda: window.show_view("dataset").sweeps.run(),
                       shortcut="Ctrl+R", tip="Run the selected layer over the samples")
    window.add_command("browse", "&Browse samples",
                       lambda: window.show_view("dataset").show_tab("browse"), shortcut="Ctrl+B",
                       tip="Every sample as a thumbnail, with its label and whether the net "
                           "got it right")
    window.add_command("pin", "&Pin as A", lambda: window.show_view("compare").pin(),
                       shortcut="Ctrl+P", tip="Compare: make the current sample (or layer) A")
