"""The worker rule (latest request wins, stale results dropped) and the jobs it runs."""

import threading

import numpy as np
import pytest

from viewer.analysis import histogram, to_picture
from viewer.app.compute import Request, Trace, TraceCache, compute
from viewer.app.demo import SMALL_CNN
from viewer.app.messages import error_text
from viewer.app.opening import kind_by_name, open_file, trusted
from viewer.data import embedded_samples
from viewer.errors import StrataError
from viewer.gui.worker import LatestRunner, Relay, main_thread_relay
from viewer.net import load
from viewer.session import hdf5_kind


@pytest.fixture
def runner(qtbot):
    r = LatestRunner()
    yield r
    assert r.shutdown(5000)


def test_only_the_newest_job_is_delivered(qtbot, runner):
    gate = threading.Event()
    delivered, failed = [], []
    runner.finished.connect(lambda i, v: delivered.append((i, v)))
    runner.failed.connect(lambda i, e: failed.append(i))
    first = runner.submit(lambda: gate.wait(5) and "first")
    runner.submit(lambda: "second")
    last = runner.submit(lambda: "third")
    assert runner.max_in_flight == 2  # one running, one waiting: no queue
    gate.set()
    qtbot.waitUntil(lambda: not runner.busy)
    assert delivered == [(last, "third")]
    assert not failed
    assert runner.started == 2  # "second" was replaced before it ever ran
    assert first < last


def test_a_newer_job_cancels_the_running_one_which_stops_at_its_next_check(qtbot, runner):
    # A long job that checks its cancel event between steps (as the attribution maps do)
    # stops as soon as a newer job is submitted, instead of running to its end first.
    steps, delivered = [], []
    runner.finished.connect(lambda i, v: delivered.append(v))

    def long(job):
        for step in range(500):          # 5 s unless cancelled
            if job.cancelled:
                return "stopped"
            steps.append(step)
            threading.Event().wait(0.01)
        return "ran to its end"
    with qtbot.waitSignal(runner.busyChanged):
        runner.submit(long, with_job=True)
    qtbot.waitUntil(lambda: len(steps) >= 3)
    runner.submit(lambda: "newest")
    qtbot.waitUntil(lambda: not runner.busy, timeout=3000)
    assert delivered == ["newest"] and len(steps) < 100


def test_failure_of_the_newest_job_is_reported(qtbot, runner):
    def boom():
        raise ValueError("no")

    with qtbot.waitSignal(runner.failed) as blocker:
        runner.submit(boom)
    job_id, exc = blocker.args
    assert job_id == runner.latest_id and isinstance(exc, ValueError)


def test_forget_makes_the_running_job_stale(qtbot, runner):
    gate = threading.Event()
    delivered = []
    runner.finished.connect(lambda i, v: delivered.append(v))
    with qtbot.waitSignal(runner.busyChanged):
        runner.submit(lambda: gate.wait(5))
    runner.forget()
    gate.set()
    qtbot.waitUntil(lambda: not runner.busy)
    assert delivered == []


def test_a_job_outliving_its_view_is_dropped_and_nothing_is_emitted_on_the_view(qtbot):
    from PyQt5 import sip
    from PyQt5.QtCore import QObject

    view = QObject()
    runner = LatestRunner(view)
    assert runner.findChildren(Relay) == []  # workers post through the application's relay
    gate, delivered = threading.Event(), []
    runner.runner.on_finished = lambda i, v: delivered.append(v)
    runner.runner.on_busy = lambda busy: delivered.append(busy)
    runner.submit(lambda: gate.wait(5) and "late")
    delivered.clear()
    sip.delete(view)  # the view closes while its job runs
    assert sip.isdeleted(runner)
    gate.set()
    relay = main_thread_relay()
    qtbot.waitUntil(lambda: runner.runner.idle)
    with qtbot.waitSignal(relay.call):  # a later post: the late outcome was handled before it
        relay.post(lambda: None)
    assert delivered == []


@pytest.mark.skipif(not SMALL_CNN.exists(), reason="the demo net is not built")
class TestJobs:
    def setup_method(self):
        self.net = load(str(SMALL_CNN))
        self.samples = embedded_samples(str(SMALL_CNN))

    def test_compute_matches_the_runtime(self):
        cache = TraceCache()
        req = Request(self.net, self.samples, layer=1, sample=4, bins=30)
        r = compute(req, cache)
        act = self.net[1](self.samples.batch([4]))[0]
        np.testing.assert_array_equal(r.activation, act)
        np.testing.assert_array_equal(r.image, to_picture(act, "channels_first",
                                                          aspect=4 / 3).image)
        np.testing.assert_array_equal(r.hist.counts, histogram(act, bins=30).counts)
        assert not r.cached
        again = compute(Request(self.net, self.samples, layer=5, sample=4), cache)
        assert again.cached  # another layer of the same sample: no second forward pass
        # net[5](X) runs fused steps (batch norm folded into the conv), the trace every
        # layer: equal up to float rounding.
        np.testing.assert_allclose(again.activation, self.net[5](self.samples.batch([4]))[0],
                                   rtol=1e-5, atol=1e-6)

    def test_channel_request_shows_one_channel(self):
        r = compute(Request(self.net, self.samples, layer=1, sample=0, channel=2), TraceCache())
        act = self.net[1](self.samples.batch([0]))[0]
        np.testing.assert_array_equal(r.image, act[2])
        assert r.stats.size == act[2].size

    def test_only_bundled_nets_skip_the_child_process_check(self, tmp_path):
        assert trusted(str(SMALL_CNN))
        copy = tmp_path / "digits_cnn.h5"
        copy.write_bytes(SMALL_CNN.read_bytes())
        assert not trusted(str(copy))
        opened = open_file(str(copy), None)  # read in a child process first, then here
        assert len(opened.net) == len(self.net)

    def test_open_file_kinds(self, tmp_path):
        import h5py

        assert kind_by_name(str(SMALL_CNN)) == "net" and hdf5_kind(str(SMALL_CNN)) == "net"
        npy = tmp_path / "x.npy"
        np.save(npy, np.zeros((2, 1, 8, 8), np.float32))
        assert kind_by_name(str(npy)) == "samples"
        opened = open_file(str(npy), self.net)
        assert opened.net is None and len(opened.samples) == 2
        h5 = tmp_path / "digits.h5"
        with h5py.File(h5, "w") as f:
            f["X"] = np.zeros((3, 1, 8, 8), np.uint8)
        assert hdf5_kind(str(h5)) == "samples"
        opened = open_file(str(h5), self.net)  # not a net: opened as samples for this one
        assert opened.net is None and len(opened.samples) == 3
        opened = open_file(str(SMALL_CNN), None)
        assert opened.net.name == self.net.name and len(opened.samples) == len(self.samples)
        with pytest.raises(StrataError, match="open a net first"):
            open_file(str(npy), None)


def test_error_text_is_one_line():
    assert error_text(StrataError("a.h5: bad")) == "a.h5: bad"
    assert error_text(ValueError("two\nlines")) == "ValueError: two lines"


def test_trace_cache_computes_each_sample_once_across_threads():
    cache, calls, gate = TraceCache(), [], threading.Event()

    def make(net, samples, i):
        calls.append(i)
        gate.wait(5)
        return Trace([np.zeros(3)], np.zeros(1))

    results = []
    threads = [threading.Thread(target=lambda: results.append(cache.trace("n", "s", 7, make)))
               for _ in range(3)]
    for t in threads:
        t.start()
    gate.set()
    for t in threads:
        t.join(5)
    assert calls == [7]
    assert sorted(cached for _, cached in results) == [False, True, True]
    assert len({id(trace) for trace, _ in results}) == 1


def test_trace_cache_keeps_the_newest_samples_within_its_count_and_bytes():
    cache = TraceCache(max_bytes=1000, max_items=3)
    for i in range(5):
        cache.put("n", "s", i, Trace([np.zeros(10)], np.zeros(1)))  # 88 bytes each
    assert [i for i in range(5) if cache.get("n", "s", i) is not None] == [2, 3, 4]
    cache.put("n", "s", 5, Trace([np.zeros(112)], np.zeros(1)))  # 904 bytes: one 88 beside it
    assert [i for i in range(6) if cache.get("n", "s", i) is not None] == [4, 5]
