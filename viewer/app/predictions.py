"""The net's predicted class for every sample, batch by batch (for a worker thread)."""

from __future__ import annotations

from typing import Any

from viewer.analysis.classifier import predictions
from viewer.app.runner import Job
from viewer.data.batches import sample_batches

BATCH = 256


def predict_all(net: Any, samples: Any, job: Job, batch_size: int = BATCH) -> int:
    """Predict every sample in index order, handing each batch's classes to ``job.progress``.

    Each progress report carries ``(first index, classes (n,) int64)`` as its
    partial result, so marks appear while the rest is computed. Stops between
    batches once the job is cancelled. Returns the number of samples predicted.
    """
    last = len(net) - 1
    done = 0
    for batch in sample_batches(samples, batch_size=batch_size, cancel=job.cancel):
        scores = net.outputs(batch.x, [last])[last]
        classes = predictions(scores)  # -1 for a sample whose scores are all NaN
        job.progress(batch.done, batch.total, (int(batch.indices[0]), classes))
        done = batch.done
    return done
