"""The numpy runtime: layers, the net, and the net file.

``from viewer.net import load, save, Net, Layer``
"""

from viewer.net.layers import Layer
from viewer.net.network import Net
from viewer.net.store import load, save

__all__ = ["Layer", "Net", "load", "save"]
