"""Exploring representations across samples: compare, sweep, browse, weights.

The views here look beyond one sample at a time. Each is a self-contained
QWidget built on the window's :class:`~viewer.gui.state.AppState`:

- :mod:`.compare_view`: a pinned sample A against the current B (or two
  layers of one shape), side by side, B - A and overlaid histograms;
- :mod:`.dataset_panel`: a sweep of the selected layer over the samples
  (:mod:`viewer.analysis.sweep`) run off the main thread, shown as a unit
  table and picture (:mod:`.unit_table`), a top-k gallery (:mod:`.gallery`),
  a PCA map (:mod:`.pca_view`) and class means (:mod:`.class_view`);
- :mod:`.sample_strip`: every sample as a lazily drawn thumbnail with its
  label and whether the net got it right, filtered;
- :mod:`.weights_view`: a layer's parameters as pictures and histograms.

Modules that draw with matplotlib import it on import, so the window
imports them only after its first paint.
"""
