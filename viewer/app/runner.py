"""The one way the window runs slow work: newest wins, progress, cancel, clean shutdown.

A :class:`Runner` runs submitted callables one at a time on a daemon thread
of its own, started when work arrives and ended when none has come for
:data:`IDLE_SECONDS` (so stepping through samples reuses one thread). Each submission gets a rising id. While a job runs, newer
submissions replace each other in a single "pending" slot, so holding a key
down through hundreds of samples never builds a queue: at most one job runs
and one waits, and the newest always wins. A finished job whose id is no
longer the newest is dropped instead of delivered.

Outcomes and progress are handed to ``post``, a function that runs a
callable on the thread that owns the runner (the GUI's main thread: see
:class:`viewer.gui.worker.LatestRunner`); the ``on_*`` callbacks therefore
run there too. No Qt here: the tests drive a runner with a plain queue.

Why plain threads and not a Qt thread pool: destroying a pool waits for its
running jobs while holding Python's GIL, and a job still finishing Python
code then waits for the GIL forever. A daemon thread is never waited for
except by :meth:`Runner.shutdown`, which bounds the wait.
"""

from __future__ import annotations

import threading
from functools import partial
from typing import Any, Callable, Optional

from viewer.app.messages import debug
from viewer.errors import StrataError


Post = Callable[[Callable[[], None]], None]
#: A worker thread with nothing to do ends after this many seconds.
IDLE_SECONDS = 2.0


class Cancelled(StrataError):
    """The job was cancelled (raised by :meth:`Job.check`)."""


class Job:
    """What a running job may ask its runner: am I cancelled, here is my progress.

    Attributes
    ----------
    id : int
        The submission id.
    cancel : threading.Event
        Set when the job is no longer wanted (a newer one came, or the
        runner was told to forget or shut down); long jobs check it between
        their steps.
    """

    def __init__(self, job_id: int, runner: "Runner") -> None:
        self.id = job_id
        self.cancel = threading.Event()
        self._runner = runner

    @property
    def cancelled(self) -> bool:
        """True once the job is no longer wanted."""
        return self.cancel.is_set()

    def check(self) -> None:
        """Raise :class:`Cancelled` when the job is no longer wanted."""
        if self.cancel.is_set():
            raise Cancelled("cancelled")

    def progress(self, done: int, total: int, partial: Any = None) -> bool:
        """Report progress (and an optional partial result); False once cancelled."""
        self._runner._post_progress(self, done, total, partial)
        return not self.cancel.is_set()


class Runner:
    """Run submitted callables on a worker thread; deliver only the newest.

    Parameters
    ----------
    post : callable
        ``post(fn)`` runs ``fn()`` later on the owner's thread; it may be
        called from the worker thread.
    name : str
        The worker thread's name.

    Attributes
    ----------
    on_finished : callable or None
        ``on_finished(job_id, value)`` for the newest job's return value.
    on_failed : callable or None
        ``on_failed(job_id, exc)`` for the newest job's exception
        (:class:`Cancelled` excepted: a cancelled job ends silently).
    on_progress : callable or None
        ``on_progress(job_id, done, total, partial)`` from the newest job.
    on_busy : callable or None
        ``on_busy(busy)`` when work starts while none was running, and when
        the last job ends.
    started, dropped, max_in_flight : int
        Jobs begun; jobs replaced before running or delivered stale; the
        most jobs running and waiting at once (tests and benchmarks read them).
    """

    def __init__(self, post: Post, name: str = "strata-worker") -> None:
        self._post = post
        self._name = name
        self._lock = threading.Condition()
        self._thread: Optional[threading.Thread] = None
        self._next: Optional[tuple[Job, Callable[[Job], Any]]] = None  # handed to the thread
        self._pending: Optional[tuple[Job, Callable[[Job], Any]]] = None  # waiting behind it
        self._running: Optional[Job] = None
        self._latest = 0
        self._busy = False
        self._closed = False
        self.on_finished: Optional[Callable[[int, Any], None]] = None
        self.on_failed: Optional[Callable[[int, BaseException], None]] = None
        self.on_progress: Optional[Callable[[int, int, int, Any], None]] = None
        self.on_busy: Optional[Callable[[bool], None]] = None
        self.started = 0
        self.dropped = 0
        self.max_in_flight = 0

    @property
    def latest_id(self) -> int:
        """Id of the newest submission (0 before any)."""
        return self._latest

    @property
    def busy(self) -> bool:
        """True while a job runs or waits (until its outcome is delivered)."""
        return self._busy

    @property
    def idle(self) -> bool:
        """True when the worker thread is not running any job (cancelled ones included)."""
        with self._lock:
            return self._running is None and self._next is None

    def submit(self, fn: Callable[..., Any], *, with_job: bool = False) -> int:
        """Schedule ``fn()`` (``fn(job)`` with ``with_job``); replace any job still waiting.

        The running job is cancelled (its ``cancel`` set: a job that checks it stops
        early), since only the newest is delivered. Returns the new id. After
        :meth:`shutdown` nothing runs any more.
        """
        self._latest += 1
        job = Job(self._latest, self)
        call = fn if with_job else (lambda _job, fn=fn: fn())
        with self._lock:
            if self._closed:
                return job.id
            # The jobs before it would only be dropped on delivery: ask them to stop now, so
            # the newest does not wait for a long one nobody wants (a 35 s occlusion map).
            for stale in (self._running, self._next[0] if self._next else None):
                if stale is not None:
                    stale.cancel.set()
            if self._next is None and self._running is None:
                self._next = (job, call)
                self.started += 1
                self._ensure_thread()
                self._lock.notify_all()
            else:
                if self._pending is not None:
                    self.dropped += 1
                self._pending = (job, call)
            in_flight = ((self._running is not None or self._next is not None)
                         + (self._pending is not None))
        self.max_in_flight = max(self.max_in_flight, in_flight)
        self._set_busy(True)
        return job.id

    def forget(self) -> None:
        """Drop the waiting job and make the running one stale (and cancelled)."""
        with self._lock:
            if self._pending is not None:
                self._pending = None
                self.dropped += 1
            for job in (self._running, self._next[0] if self._next else None):
                if job is not None:
                    job.cancel.set()
        self._latest += 1

    def shutdown(self, timeout: float = 5.0) -> bool:
        """Forget all work, stop the thread and wait up to ``timeout`` s; True if it ended."""
        self.forget()
        with self._lock:
            self._closed = True
            self._next = None
            self._lock.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    # -- the worker thread ------------------------------------------------------

    def _ensure_thread(self) -> None:
        """Start the worker thread unless it runs (call with the lock held)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        """Run jobs as they come; end after :data:`IDLE_SECONDS` without one, or on shutdown."""
        while True:
            with self._lock:
                if self._next is None and not self._closed:
                    self._lock.wait(IDLE_SECONDS)
                if self._next is None or self._closed:
                    self._thread = None
                    return
                (job, call), self._next = self._next, None
                self._running = job
            try:
                value, error = call(job), None
            except Exception as exc:  # every failure is reported, never lost on the thread
                value, error = None, exc
            with self._lock:
                self._running = None
                if self._pending is not None and not self._closed:
                    self._next, self._pending = self._pending, None
                    self.started += 1
            # partial, not a lambda: the loop rebinds job, value and error before delivery.
            self._post_safely(partial(self._deliver, job, value, error))

    def _post_safely(self, fn: Callable[[], None]) -> None:
        try:
            self._post(fn)
        except RuntimeError:  # the window that asked is gone: nobody to tell
            pass

    def _post_progress(self, job: Job, done: int, total: int, partial: Any) -> None:
        def deliver() -> None:
            if job.id == self._latest and not job.cancelled and self.on_progress is not None:
                self.on_progress(job.id, done, total, partial)

        self._post_safely(deliver)

    # -- the owner's thread -----------------------------------------------------

    def _deliver(self, job: Job, value: Any, error: BaseException | None) -> None:
        if self._closed:
            return
        if job.id != self._latest:
            self.dropped += 1
        elif isinstance(error, Cancelled):
            debug("job %d of %s cancelled", job.id, self._name)
        elif error is not None:
            if self.on_failed is not None:
                self.on_failed(job.id, error)
        elif self.on_finished is not None:
            self.on_finished(job.id, value)
        with self._lock:
            idle = self._running is None and self._next is None and self._pending is None
        if idle:
            self._set_busy(False)

    def _set_busy(self, busy: bool) -> None:
        if busy != self._busy:
            self._busy = busy
            if self.on_busy is not None:
                self.on_busy(busy)
