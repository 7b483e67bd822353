"""Shards of a sweep on Dask workers: ``local:N`` or ``tcp://HOST:PORT``.

The only module of Strata that imports Dask (``dask.distributed``), and only
when a sweep asks for a cluster; without it the error names
requirements-cluster.txt.

- ``local:N`` starts a ``LocalCluster`` of N worker processes, one thread
  and one BLAS thread each (the forward pass is numpy: processes, not threads,
  run in parallel), without a dashboard; it is closed after the sweep.
- ``tcp://HOST:PORT`` connects to a running ``dask scheduler``.

The net, the samples and the sweep's spec are sent to every worker once (as
tasks that return them, so that a lost copy is computed again); each shard's
task then carries only its rows. Workers read the samples themselves: a SampleSet carries its file's
path, not its data, so that path must be reachable from the workers (the same
absolute path on a shared filesystem). A worker that dies loses its shard;
the scheduler gives it to another worker (up to ``allowed-failures`` times).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
import warnings
from typing import Any, Iterator, Optional

import numpy as np

from viewer.allocator import keep_freed_memory
from viewer.analysis.sweep_shard import SweepCancelled, sweep_rows
from viewer.analysis.sweep_state import ShardState
from viewer.blas import THREAD_VARIABLES
from viewer.errors import StrataError

MISSING = ("--cluster needs Dask: pip install -r requirements-cluster.txt")
#: A worker process's environment, set before it starts: one BLAS thread (N processes
#: use N cores, no more), and not Dask's default MALLOC_TRIM_THRESHOLD_=65536, which
#: freezes glibc's mmap threshold at 128 kB so that every batch's arrays are fresh
#: mappings faulted in page by page (+45% CPU per shard on the demo CNN).
WORKER_ENV = {name: "1" for name in THREAD_VARIABLES}
#: The Dask setting that holds it (workers started by hand: see README.md).
PRE_SPAWN = "distributed.nanny.pre-spawn-environ"
#: How often a wait for shards looks at the cancel flag, in seconds.
POLL = 0.2
#: Seconds a local worker gets to stop before it is killed when the cluster closes.
STOP_SECONDS = 0.5


def _distributed() -> Any:
    try:
        import distributed
    except ImportError as exc:
        raise StrataError(f"{MISSING} ({exc})") from None
    return distributed


def _dask() -> Any:
    _distributed()  # the one message when Dask is missing
    import dask
    return dask


def parse_address(address: str) -> tuple[str, int | str]:
    """``("local", N)`` or ``("tcp", "tcp://host:port")``.

    Raises
    ------
    StrataError
        For anything else, in one line.
    """
    if address.startswith("local:"):
        count = address[len("local:"):]
        if not count.isdigit() or int(count) < 1:
            raise StrataError(f"--cluster {address}: local:N needs a number of workers N >= 1")
        return "local", int(count)
    if address.startswith("tcp://") and ":" in address[len("tcp://"):]:
        return "tcp", address
    raise StrataError(f"--cluster {address}: expected local:N or tcp://HOST:PORT")


class DaskCluster:
    """A Dask client for an address; a context manager that closes what it started.

    Parameters
    ----------
    address : str
        ``local:N`` or ``tcp://HOST:PORT``.
    timeout : float
        Seconds to wait for the scheduler.
    """

    def __init__(self, address: str, timeout: float = 20.0) -> None:
        kind, value = parse_address(address)
        distributed = _distributed()
        self.address = address
        self._cluster = None
        try:
            if kind == "local":
                with _dask().config.set({PRE_SPAWN: WORKER_ENV}):
                    self._cluster = distributed.LocalCluster(
                        n_workers=value, threads_per_worker=1, processes=True,
                        dashboard_address=None, silence_logs=logging.CRITICAL,
                        # Its status pages on a free port, not on 8787 (taken by another
                        # program, trying it leaves a socket behind and warns).
                        scheduler_kwargs={"dashboard_address": ":0"})
                self.client = distributed.Client(self._cluster)
            else:
                self.client = distributed.Client(value, timeout=timeout)
        except (OSError, TimeoutError) as exc:
            self.close()
            raise StrataError(f"--cluster {address}: cannot reach the scheduler ({exc})") from None
        n = len(self.client.scheduler_info().get("workers", {}))
        noun, plural = (("worker process", "worker processes") if kind == "local"
                        else ("worker", "workers"))
        self.where = f"{address} ({n} {noun if n == 1 else plural})"

    def __enter__(self) -> DaskCluster:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Disconnect; stop the local cluster if this started one.

        Its worker processes are stopped first, each killed after :data:`STOP_SECONDS`:
        a cancelled sweep's shards are not waited for (Dask's own close waits for every
        running task, seconds on end, which a closing window cannot).
        """
        client = getattr(self, "client", None)
        if client is not None:
            client.close()
        if self._cluster is not None:
            if self._cluster.workers:  # none left once closed
                self._cluster.sync(_stop_workers, list(self._cluster.workers.values()))
            self._cluster.close()

    def executor(self) -> DaskExecutor:
        """An executor of shards on this cluster (see :mod:`viewer.cluster.run`)."""
        return DaskExecutor(self.client, self.where)


class DaskExecutor:
    """Runs shards as Dask tasks; yields each state as its future completes.

    Parameters
    ----------
    client : distributed.Client
    where : str
        For the report.
    """

    def __init__(self, client: Any, where: str) -> None:
        self.client = client
        self.where = where
        self._sent: Optional[tuple] = None

    def _shared(self, sweep: Any) -> tuple:
        """The net, samples and spec on every worker, sent once per sweep."""
        if self._sent is None or self._sent[0] is not sweep:
            self._sent = (sweep, *self._everywhere(sweep.net, sweep.samples, sweep.spec))
        return self._sent[1:]

    def _everywhere(self, *values: Any) -> list:
        """Futures of ``values`` as tasks that return them: one worker computes each, the
        others fetch it once when a shard needs it, and when every copy dies with its
        workers it is computed again (scattered data would be lost, and with it the sweep;
        Dask also drops the replicas ``broadcast`` makes)."""
        with warnings.catch_warnings():  # a big net is a big graph, and that is meant
            warnings.filterwarnings("ignore", message="Sending large graph")
            return [self.client.submit(_same, value, pure=False) for value in values]

    def run(self, sweep: Any, shards: list[tuple[int, np.ndarray]], projections: Optional[dict],
            cancel: Optional[threading.Event]) -> Iterator[tuple[int, ShardState]]:
        distributed = _distributed()
        if cancel is not None and cancel.is_set():  # e.g. while the cluster started
            raise SweepCancelled("sweep cancelled")
        net, samples, spec = self._shared(sweep)
        fits = None if projections is None else self._everywhere(projections)[0]
        tag = uuid.uuid4().hex[:8]
        futures = {self.client.submit(_worker_rows, net, samples, spec, rows, fits, pure=False,
                                      key=f"strata-shard-{number:05d}-{tag}"): number
                   for number, rows in shards}
        pending = set(futures)
        try:
            while pending:
                if cancel is not None and cancel.is_set():
                    raise SweepCancelled("sweep cancelled")
                try:
                    finished = distributed.wait(pending, timeout=POLL,
                                                return_when="FIRST_COMPLETED").done
                except distributed.TimeoutError:
                    continue
                for future in finished:
                    pending.discard(future)
                    yield futures[future], _result(future)
                    future.release()
        finally:
            for future in pending:
                future.cancel()


async def _stop_workers(nannies: list) -> None:
    """Close these nannies at once, each killing its worker process if it does not stop."""
    await asyncio.gather(*(nanny.close(timeout=STOP_SECONDS, reason="strata-sweep-closed")
                           for nanny in nannies))


def _worker_rows(*args: Any) -> ShardState:
    """:func:`sweep_rows` on a worker, whose malloc keeps freed arrays as the window's does."""
    keep_freed_memory()
    return sweep_rows(*args)


def _same(value: Any) -> Any:
    return value


def _result(future: Any) -> ShardState:
    """A finished task's state; its error as Strata's one line."""
    if future.status == "error":
        exc = future.exception()
        if isinstance(exc, StrataError):
            raise exc
        raise StrataError(f"a sweep shard failed on a worker: {type(exc).__name__}: {exc}")
    return future.result()
