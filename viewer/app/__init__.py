"""The window's application model, without Qt or matplotlib.

What the window computes for a selection (:mod:`.compute`), how it opens
files (:mod:`.opening`), its display options (:mod:`.options`), colouring
(:mod:`.colouring`), the data of the Compare and Weights views
(:mod:`.compare`, :mod:`.weights`), class names and colours (:mod:`.classes`),
predictions over all samples (:mod:`.predictions`), sweep subsets
(:mod:`.sweeps`), messages and logging (:mod:`.messages`), the one way
to run background work (:mod:`.runner`), the list of the window's views
(:mod:`.views`) and start-up markers (:mod:`.marks`). :mod:`viewer.gui` holds only
widgets and drawing on top of these; every module here can be imported,
tested and reused without a display.
"""
