"""The ONNX backend node cases of the vision and sequence ops, converted and run as generated.

bench/onnx_conformance.py runs every node case; this is its fast subset. The
expected outputs are those onnx's own case generators compute.
"""

from __future__ import annotations

import collections
import dataclasses
import sys
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import onnx_conformance  # noqa: E402


@pytest.fixture(scope="module")
def results():
    cases = onnx_conformance.collect(onnx_conformance.VISION_MODULES)
    assert len(cases) > 300
    return onnx_conformance.run(cases, set(onnx_conformance.VISION_OPS))


def test_no_wrong_results_and_no_tracebacks(results):
    bad = [r for r in results if r[2] in ("wrong", "traceback")]
    assert not bad, "\n".join(f"{name} ({op}) {category}: {reason}" for name, op, category, reason in bad)


def test_nine_in_ten_vision_cases_pass(results):
    counts = collections.Counter(r[2] for r in results)
    scoped = sum(counts[c] for c in ("pass", "wrong", "refused", "traceback"))
    assert counts["pass"] / scoped >= 0.9, counts


def test_a_wrong_result_is_counted_as_wrong():
    """The runner itself: a case whose expected output is altered is 'wrong', not 'pass'."""
    cases = onnx_conformance.collect(["relu"]) or [c for c in onnx_conformance.collect(None)
                                                 if c.name == "test_relu"]
    case = next(c for c in cases if c.name == "test_relu")
    (inputs, outputs), = case.data_sets
    broken = dataclasses.replace(case, data_sets=[(inputs, [outputs[0] + 1])])
    assert onnx_conformance.run_case(case, "Relu")[0] == "pass"
    assert onnx_conformance.run_case(broken, "Relu")[0] == "wrong"


def test_out_of_scope_ops_have_reasons():
    assert all(reason for reason in onnx_conformance.OUT_OF_SCOPE.values())
    assert not set(onnx_conformance.OUT_OF_SCOPE) & onnx_conformance.VISION_OPS
    np.testing.assert_equal(sorted(onnx_conformance.CATEGORIES)[0], "out of scope")
