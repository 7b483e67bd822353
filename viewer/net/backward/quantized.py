"""The quantized kinds (:mod:`viewer.net.layers.quantized`, :mod:`~viewer.net.layers.quantized_ops`,
and the hybrid kinds of :mod:`~viewer.net.layers.quantized_hybrid`, which quantize their input)
have no backward: they round to integers, so their exact gradient is zero almost everywhere and
says nothing about the float net they approximate. They are refused by name."""

from __future__ import annotations

from viewer.net.backward.registry import refuse
from viewer.net.layers import KINDS, quantized, quantized_hybrid, quantized_ops

WHY = ("integer arithmetic rounds, so its gradient is zero almost everywhere; "
       "take gradients of the float model instead")

for _kind, _cls in sorted(KINDS.items()):
    if _cls.__module__ in (quantized.__name__, quantized_hybrid.__name__, quantized_ops.__name__):
        refuse(_kind, WHY)
