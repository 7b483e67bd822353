"""The backward pass: vector-Jacobian products of every layer kind, and gradients of a net.

    from viewer.net.backward import gradient, vjp
    result = gradient(net, X, Target(unit=3))     # d score / d X, one forward + one backward
    grads = vjp(layer, [x], y, dy)                # one layer: d / d input from d / d output

Weights stay fixed (no training). Each layer family's backward lives in the
module named like its forward in :mod:`viewer.net.layers` and registers in
:data:`BACKWARDS`; kinds without one are in :data:`REFUSED` with the reason and
are refused by name (:class:`NoBackward`), never passed through as identity.
Numpy only, no Qt.
"""

from viewer.net.backward.registry import (BACKWARDS, REFUSED, RULES, Backward, NoBackward,
                                          check_backward, refusal_of, vjp)
from viewer.net.backward import (activation, conv_extra, core, expression, indexing, merge,  # noqa: F401  (register their kinds)
                                 norm, operator, quantized, recurrent, spatial, tensor)
from viewer.net.backward.chain import GradientResult, gradient

__all__ = ["BACKWARDS", "REFUSED", "RULES", "Backward", "NoBackward", "GradientResult",
           "check_backward", "gradient", "refusal_of", "vjp"]
