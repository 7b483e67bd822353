"""Reference cycles holding Qt objects are collected on the main thread, never on a worker."""

import gc
import threading
import weakref

from PyQt5.QtCore import QObject

from viewer.gui import main_thread_gc


def _allocate_cycles(n):
    for _ in range(n):
        cycle = []
        cycle.append(cycle)


class _Probe:
    """Records the thread that frees it."""

    def __init__(self, freed_on):
        self.freed_on = freed_on

    def __del__(self):
        self.freed_on.append(threading.current_thread().name)


def test_a_qt_object_in_a_cycle_dies_on_the_main_thread_after_a_worker_allocated(qtbot, qapp):
    assert not gc.isenabled()  # the application's collector is installed (conftest's qapp)
    freed_on = []
    obj = QObject()
    obj.probe = _Probe(freed_on)
    obj.probe.owner = obj  # a cycle through the Qt object: only the cyclic collector frees it
    alive = weakref.ref(obj)
    del obj
    # Enough allocations to cross every generation's threshold on the worker thread.
    worker = threading.Thread(target=_allocate_cycles, args=(300_000,), name="allocating worker")
    worker.start()
    worker.join()
    assert freed_on == [] and alive() is not None
    qtbot.waitUntil(lambda: alive() is None, timeout=5 * main_thread_gc.INTERVAL_MS)
    assert freed_on == ["MainThread"]


def test_collect_if_due_collects_the_oldest_generation_past_its_threshold(qapp):
    gc.collect()
    assert main_thread_gc.collect_if_due() == -1  # nothing allocated since
    threshold0 = gc.get_threshold()[0]
    _allocate_cycles(threshold0 + 10)
    assert main_thread_gc.collect_if_due() in (0, 1, 2)
    assert gc.get_count()[0] < threshold0


def test_the_window_sets_aside_what_start_up_made(window):
    # Frozen once the heatmap view (and matplotlib) is built: later collections skip it.
    assert window.heatmap is not None and gc.get_freeze_count() > 100_000
