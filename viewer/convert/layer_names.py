"""Unique layer names shared by the converters that number repeats as ``name#2``."""

from __future__ import annotations


def unique_name(wanted: str, taken: set[str]) -> str:
    """``wanted``, or ``wanted#2``, ``wanted#3``... the first not in ``taken``; it is added to ``taken``.

    Parameters
    ----------
    wanted : str
        The name the layer would like.
    taken : set of str
        Names already given in this net; updated in place.

    Returns
    -------
    str
        The name reserved for the layer.
    """
    name, n = wanted, 1
    while name in taken:
        n += 1
        name = f"{wanted}#{n}"
    taken.add(name)
    return name
