"""A fast seeded subset of the fuzzer: every reader, no failure class allowed.

The full run (>= 5,000 cases) is ``python bench/fuzz.py``; this one runs a
few cases per reader with the same runner, caps and classification, and the
cases that once found something.
"""

import os
import pathlib

import pytest

from fuzz.runner import FAILURES, Worker, preload, setup_seeds

CASES = 33  # three per reader
# Cases of the same run seed that once failed, kept so what they found stays fixed.
FOUND = [2032]  # a .pt2 tensor of shape 16384 x 16384 over zero strides: 1 GB from 32 stored bytes


@pytest.fixture(scope="module")
def worker(tmp_path_factory):
    work = str(tmp_path_factory.mktemp("fuzz"))
    seeds = os.path.join(work, "seeds")
    setup_seeds(seeds)
    preload()
    return Worker(work, seeds, run_seed=2024, time_limit=90, keep=False)


def test_seeded_cases_are_reproducible(worker):
    from fuzz.runner import prepare
    a = prepare(5, 17, worker.seeds, os.path.join(worker.work, "a"))
    b = prepare(5, 17, worker.seeds, os.path.join(worker.work, "b"))
    assert a[0] == b[0] and a[2] == b[2]
    assert pathlib.Path(a[1][0]).read_bytes() == pathlib.Path(b[1][0]).read_bytes()


def test_fuzz_subset_has_no_failures(worker):
    outcomes = [worker(i) for i in list(range(CASES)) + FOUND]
    assert {o.reader for o in outcomes} == {s.reader for s in worker.seeds}
    bad = [f"case {o.index} [{o.reader} {o.seed}: {o.mutation}] {o.outcome}: {o.stderr[-300:]}"
           for o in outcomes if o.outcome in FAILURES]
    assert not bad, "\n".join(bad)
