"""Strata's window: PyQt5 and matplotlib live here and only here.

Start it with :func:`viewer.gui.app.run`; the rest of the package is the
window's parts (see each module's docstring).
"""
