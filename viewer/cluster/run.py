"""The shard loop of a sweep: skip finished shards, run the rest, save and merge each.

    state, report = run_shards(sweep, shard_size=5000, folder=ShardFolder(...),
                               executor=InProcess(), progress=print_progress)
    results = sweep.finish(state, report.elapsed)

The first shard (the PCA fit subset) runs alone, for every later shard needs
its fit; the others then run on the executor, in any order. Each shard's state
is saved as soon as it arrives, so a run killed at any point loses only the
shards in flight. Pure numpy; an executor on Dask is in :mod:`viewer.cluster.dask_client`.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Optional, Protocol

import numpy as np

from viewer.analysis.sweep_shard import SweepCancelled, sweep_rows
from viewer.analysis.sweep_state import ShardState

#: Rows per shard unless asked otherwise.
SHARD_SIZE = 5000


@dataclass(frozen=True)
class RunProgress:
    """Where a sharded sweep stands.

    Attributes
    ----------
    done, total : int
        Samples in finished shards (skipped ones included), and in all.
    shards_done, n_shards : int
    seconds_left : float or None
        From this run's pace so far; None before its first shard ends.
    """

    done: int
    total: int
    shards_done: int
    n_shards: int
    seconds_left: Optional[float]

    def describe(self) -> str:
        """e.g. ``"12,000 of 60,000 samples (3 of 13 shards), 1 min 20 s left"``."""
        text = (f"{self.done:,} of {self.total:,} samples "
                f"({self.shards_done} of {self.n_shards} shards)")
        if self.seconds_left is not None and self.done < self.total:
            text += f", {format_seconds(self.seconds_left)} left"
        return text


def format_seconds(seconds: float) -> str:
    """``"45 s"``, ``"3 min 5 s"``, ``"2 h 10 min"``."""
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    return f"{s // 3600} h {s % 3600 // 60} min"


@dataclass(frozen=True)
class RunReport:
    """How a sharded sweep ran.

    Attributes
    ----------
    where : str
        "in-process", "local:2 (2 worker processes)", "tcp://host:8786 (3 workers)".
    n_shards, skipped, removed : int
        Shards in all, found finished in the folder, and others' files removed.
    elapsed : float
        Seconds this run took.
    """

    where: str
    n_shards: int
    skipped: int
    removed: int
    elapsed: float


class Executor(Protocol):
    """Runs shards somewhere and yields their states as they finish."""

    where: str

    def run(self, sweep: Any, shards: list[tuple[int, np.ndarray]], projections: Optional[dict],
            cancel: Optional[threading.Event]) -> Iterator[tuple[int, ShardState]]:
        """Yield (shard number, state) for every shard, in any order."""


class InProcess:
    """Shards one after the other in this process."""

    where = "in-process"

    def run(self, sweep: Any, shards: list[tuple[int, np.ndarray]], projections: Optional[dict],
            cancel: Optional[threading.Event]) -> Iterator[tuple[int, ShardState]]:
        for number, rows in shards:
            yield number, sweep_rows(sweep.net, sweep.samples, sweep.spec, rows, projections,
                                     cancel=cancel)


def run_shards(sweep: Any, shard_size: int = SHARD_SIZE, folder: Any = None,
               executor: Optional[Executor] = None,
               progress: Optional[Callable[[RunProgress], Any]] = None,
               cancel: Optional[threading.Event] = None) -> tuple[ShardState, RunReport]:
    """Sweep every shard not finished yet; the merged state of all of them.

    Parameters
    ----------
    sweep : Sweep
    shard_size : int
        Rows per shard (the first shard is the PCA fit subset, whatever its size).
    folder : ShardFolder, optional
        Where finished shards are kept; None keeps nothing.
    executor : Executor, optional
        Default :class:`InProcess`.
    progress : callable, optional
        Called with a :class:`RunProgress` after each shard.
    cancel : threading.Event, optional
        Set it to stop (:class:`~viewer.analysis.sweep_shard.SweepCancelled`); finished shards stay saved.

    Returns
    -------
    (ShardState, RunReport)
    """
    executor = executor or InProcess()
    start = time.perf_counter()
    shards = sweep.shards(shard_size)
    done = folder.finished(len(shards)) if folder is not None else {}
    skipped = len(done)
    sizes = [len(rows) for rows in shards]
    total = sum(sizes)
    merged = ShardState()
    for state in done.values():
        merged.merge(state)
    counted = {"samples": sum(sizes[i] for i in done), "new": 0}

    def finished(number: int, state: ShardState) -> None:
        if folder is not None:
            folder.save(number, state)
        merged.merge(state)
        done[number] = state
        counted["samples"] += sizes[number]
        counted["new"] += sizes[number]
        if progress is not None:
            pace = (time.perf_counter() - start) / counted["new"]
            progress(RunProgress(counted["samples"], total, len(done), len(shards),
                                 pace * (total - counted["samples"])))

    if 0 not in done:
        for number, state in executor.run(sweep, [(0, shards[0])], None, cancel):
            finished(number, state)
    todo = [(i, rows) for i, rows in enumerate(shards) if i not in done]
    if todo:
        if cancel is not None and cancel.is_set():
            raise SweepCancelled("sweep cancelled")
        for number, state in executor.run(sweep, todo, done[0].projections, cancel):
            finished(number, state)
    report = RunReport(where=executor.where, n_shards=len(shards), skipped=skipped,
                       removed=getattr(folder, "removed", 0),
                       elapsed=time.perf_counter() - start)
    return merged, report
