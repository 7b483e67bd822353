"""Nets that classify: which ones, what their outputs mean, and class names.

A net is a classifier when its last layer's per-sample output is a vector
of K >= 2 values, one per class, and the samples' labels (when there are
any) are classes 0..K-1. The prediction is the argmax. The values are read
as follows (:attr:`Classifier.output`):

- "probabilities": the last layer is a softmax, or the values are already a
  distribution (every value in 0..1 and each sample's sum 1 within 1e-3);
- "log-probabilities": the last layer is a log-softmax; probabilities are
  their exponentials;
- "logits": anything else, the usual end of PyTorch and ONNX classifiers (a
  Dense/Gemm layer); probabilities are their softmax.

Pure numpy; no Qt.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np

from viewer.errors import StrataError

#: Tolerance on a sample's sum for values to count as a distribution already.
SUM_TOLERANCE = 1e-3

_OUTPUT_TEXT = {
    "probabilities": "probabilities (the net ends in a softmax)",
    "log-probabilities": "log-probabilities (the net ends in a log-softmax); "
                         "probabilities are their exponentials",
    "logits": "logits; probabilities are their softmax",
    "distribution": "probabilities (each output sums to 1)",
}


@dataclass(frozen=True)
class Classifier:
    """What a classifier net's output is.

    Attributes
    ----------
    n_classes : int
        K, the length of the output vector.
    output : str
        "probabilities", "log-probabilities" or "logits", judged from the
        last layer's kind; :func:`probabilities` may still find logits'
        values to be a distribution.
    names : tuple of str
        K class names: the given ones, the number as text where none is given.
    """

    n_classes: int
    output: str
    names: tuple[str, ...]

    def describe(self, scores: np.ndarray | None = None) -> str:
        """``"10 classes, logits; probabilities are their softmax"`` (judged on ``scores`` if given)."""
        how = self.output if scores is None else probabilities(scores, self.output)[1]
        return f"{self.n_classes} classes, {_OUTPUT_TEXT[how]}"

    def predict(self, scores: np.ndarray) -> tuple[int, float] | None:
        """One sample's predicted class and its probability; None when no score is a number.

        Parameters
        ----------
        scores : np.ndarray, shape (K,)
            The net's output for the sample.
        """
        scores = np.asarray(scores, dtype=np.float64).reshape(-1)
        if not np.isfinite(scores).any():
            return None
        probs, _ = probabilities(scores, self.output)
        k = int(predictions(scores[None])[0])
        return k, float(probs[k])

    def name(self, k: int) -> str:
        """Class ``k``'s name."""
        return self.names[k] if 0 <= k < len(self.names) else str(k)


def _output_kind(layer: Any) -> str:
    from viewer.net.quantization import dequantized_source

    layer = dequantized_source(layer)
    if layer.kind in ("Activation", "QSoftmax") and getattr(layer, "function", None) == "softmax":
        return "probabilities"
    if layer.kind == "Activation" and getattr(layer, "function", None) == "log_softmax":
        return "log-probabilities"
    return "logits"


def classifier_of(net: Any, labels: np.ndarray | None = None,
                  names: Optional[Sequence[str]] = None) -> Classifier | None:
    """The net as a classifier, or None when its output is not one value per class.

    Parameters
    ----------
    net : Net
    labels : np.ndarray, shape (N,), optional
        The samples' labels; a label >= K means the output is not per class.
    names : sequence of str, optional
        Class names (the samples' label names, or a ``--labels`` file).
    """
    try:
        shape = tuple(net[-1].output_shape)
    except (StrataError, TypeError, ValueError):
        return None
    if len(shape) != 1 or shape[0] is None or int(shape[0]) < 2:
        return None
    k = int(shape[0])
    if labels is not None and len(labels) and int(np.max(labels)) >= k:
        return None
    given = list(names or ())
    full = tuple(given[i] if i < len(given) else str(i) for i in range(k))
    return Classifier(n_classes=k, output=_output_kind(net[-1]), names=full)


def _softmax(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp(x - np.max(x, axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)


def is_distribution(scores: np.ndarray) -> bool:
    """Every value in 0..1 and each row's sum 1 within :data:`SUM_TOLERANCE`."""
    scores = np.asarray(scores, dtype=np.float64)
    if not np.isfinite(scores).all() or scores.min(initial=0) < 0 or scores.max(initial=0) > 1:
        return False
    return bool(np.all(np.abs(scores.sum(axis=-1) - 1) <= SUM_TOLERANCE))


def probabilities(scores: np.ndarray, output: str) -> tuple[np.ndarray, str]:
    """Class probabilities from a classifier's output.

    Parameters
    ----------
    scores : np.ndarray, shape (..., K)
    output : str
        :attr:`Classifier.output`.

    Returns
    -------
    (np.ndarray, str)
        Probabilities, shape (..., K), float64; and how they were made:
        "probabilities", "log-probabilities", "logits" or "distribution"
        (logits whose values were already a distribution, used as they are).
    """
    scores = np.asarray(scores, dtype=np.float64)
    if output == "probabilities":
        return scores, output
    if output == "log-probabilities":
        return np.exp(scores), output
    if is_distribution(scores):
        return scores, "distribution"
    return _softmax(scores), "logits"


def predictions(scores: np.ndarray) -> np.ndarray:
    """The predicted class of each row, shape (N,), int64; -1 where a row has no number."""
    scores = np.asarray(scores)
    flat = scores.reshape(len(scores), -1)
    finite = np.isfinite(flat).any(axis=1)
    out = np.full(len(flat), -1, dtype=np.int64)
    if finite.any():
        out[finite] = np.argmax(np.where(np.isnan(flat[finite]), -np.inf, flat[finite]), axis=1)
    return out
