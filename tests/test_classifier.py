"""Classifiers that end in logits, one command line for every net file, and "dead" where it means something."""

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from viewer.analysis.classifier import classifier_of, is_distribution, probabilities
from viewer.analysis.rectified import is_rectified
from viewer.analysis.sweep import Sweep
from viewer.cli import main
from viewer.net import Net
from viewer.net.layers import Activation, Dense, Input
from viewer.session import open_net

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CNN = os.path.join(ROOT, "resources", "demo", "digits_cnn.h5")
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
LOGITS = os.path.join(FIXTURES, "digits_logits_op17.onnx")
REFERENCE = np.load(os.path.join(FIXTURES, "digits_logits_op17.npz"))


def softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def read_csv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def digits_npz(tmp_path_factory):
    """The demo's held-out digits as stored beside the ONNX fixture: raw 0..16 with labels."""
    path = tmp_path_factory.mktemp("digits") / "digits.npz"
    np.savez(path, X=REFERENCE["X"], labels=REFERENCE["labels"])
    return str(path)


# ---------------------------------------------------------------- classifiers

def test_a_logits_onnx_net_is_a_classifier():
    net, own = open_net(LOGITS)
    assert own is None and net[-1].kind == "Dense"
    found = classifier_of(net, labels=REFERENCE["labels"])
    assert found.n_classes == 10 and found.output == "logits"
    assert found.describe() == "10 classes, logits; probabilities are their softmax"
    logits = REFERENCE["logits"][:5]
    probs, how = probabilities(logits, found.output)
    assert how == "logits"
    np.testing.assert_allclose(probs, softmax(logits.astype(np.float64)), rtol=1e-12)
    k, p = found.predict(logits[0])
    assert k == logits[0].argmax() and p == pytest.approx(softmax(logits[0].astype(np.float64))[k])


def test_what_is_not_a_classifier_and_what_is_already_a_distribution():
    inp = Input(name="in", shape=(3,))
    assert classifier_of(Net([inp])) is not None  # a vector of 3 values
    assert classifier_of(Net([inp]), labels=np.array([0, 3])) is None  # class 3 of 3 values
    one = Dense(inp, name="fc", W=np.ones((3, 1), np.float32), b=np.zeros(1, np.float32))
    assert classifier_of(Net([inp, one])) is None  # one value is not one per class
    soft = Activation(inp, name="soft", function="softmax")
    assert classifier_of(Net([inp, soft])).output == "probabilities"
    log = Activation(inp, name="log", function="log_softmax")
    assert classifier_of(Net([inp, log])).output == "log-probabilities"
    np.testing.assert_allclose(probabilities(np.log([[0.2, 0.8]]), "log-probabilities")[0], [[0.2, 0.8]])
    assert is_distribution(np.array([[0.25, 0.75], [1.0, 0.0]]))
    assert not is_distribution(np.array([[0.5, 0.6]])) and not is_distribution(np.array([[-0.1, 1.1]]))
    assert probabilities(np.array([[0.25, 0.75]]), "logits")[1] == "distribution"


def test_sweep_of_a_logits_onnx_net_predicts_and_reaches_the_demo_accuracy(tmp_path, capsys, digits_npz):
    out = tmp_path / "sweep"
    assert main(["sweep", LOGITS, "--layer", "-1", "--samples", digits_npz, "--preprocess",
                 '{"scale": 0.0625}', "-o", str(out)]) == 0
    text = capsys.readouterr()
    want = REFERENCE["logits"].argmax(axis=1)
    correct = int((want == REFERENCE["labels"]).sum())
    assert correct / 540 >= 0.95
    assert text.out.rstrip().endswith(f"accuracy {100 * correct / 540:.1f}% ({correct} of 540)")
    assert [int(r["predicted"]) for r in read_csv(out / "pca.csv")] == want.tolist()
    assert json.loads((out / "sweep.json").read_text())["accuracy"] == {"correct": correct,
                                                                        "counted": 540}
    # No samples of its own to compare with, and 0..16 is no 8-bit range: the values go in as
    # they are, and the command says so.
    assert main(["sweep", LOGITS, "--layer", "-1", "--samples", digits_npz, "-o", str(out)]) == 0
    assert capsys.readouterr().err == (f"{digits_npz}: preprocessing x (unchanged) (uint8 values "
                                       f"0..16; the net has no samples of its own to compare with)\n")
    assert [int(r["predicted"]) for r in read_csv(out / "pca.csv")] == \
        net_predictions(digits_npz, {}).tolist()


def net_predictions(path, preprocess):
    from viewer.session import choose_samples
    net, _ = open_net(LOGITS)
    samples, _ = choose_samples(net, None, path, preprocess=preprocess)
    return net[-1](samples.batch(np.arange(len(samples)))).argmax(axis=1)


def test_logits_onnx_net_with_the_demo_preprocessing_matches_onnxruntime(digits_npz):
    np.testing.assert_array_equal(net_predictions(digits_npz, {"scale": 0.0625}),
                                  REFERENCE["logits"].argmax(axis=1))


def test_class_names_from_a_labels_file(tmp_path, capsys, digits_npz):
    names = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    (tmp_path / "names.txt").write_text("\n".join(names) + "\n\n")
    out = tmp_path / "sweep"
    assert main(["sweep", LOGITS, "--layer", "-1", "--samples", digits_npz, "--preprocess",
                 '{"scale": 0.0625}', "--labels", str(tmp_path / "names.txt"), "-o", str(out)]) == 0
    assert [r["name"] for r in read_csv(out / "class_means.csv")] == names
    assert [r["name"] for r in read_csv(out / "predicted_class_means.csv")] == names
    capsys.readouterr()
    assert main(["info", LOGITS, "--labels", str(tmp_path / "names.txt")]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        "output: a classifier, 10 classes, logits; probabilities are their softmax; classes "
        + ", ".join(names))
    assert main(["render", CNN, "--layer", "-1", "--sample", "0", "--labels",
                 str(tmp_path / "names.txt"), "--kind", "heatmap", "-o", str(tmp_path / "r.svg")]) == 0
    net, own = open_net(CNN)
    k = int(net[-1](own.batch([0]))[0].argmax())
    svg = (tmp_path / "r.svg").read_text()
    assert f"sample 0 (label {names[own.labels[0]]})" in svg and f"predicted {names[k]} (" in svg


@pytest.mark.parametrize("content, problem", [
    ("a\nb\n", "2 class names, but the net's output has 10 values"),
    ("", "holds no class names (one per line)"),
    (b"\xff\xfe\x00x", "not UTF-8 text; class names are one per line"),
])
def test_bad_labels_files_are_one_line(tmp_path, capsys, content, problem):
    path = tmp_path / "names.txt"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    assert main(["info", CNN, "--labels", str(path)]) == 2
    assert capsys.readouterr().err == f"error: {path}: {problem}\n"


# ---------------------------------------------------------------- every net file

def _run(*args):
    return subprocess.run([sys.executable, os.path.join(ROOT, "main.py"), *args],
                          capture_output=True, text=True, cwd=ROOT)


@pytest.mark.parametrize("model", ["digits_logits_op17.onnx", "keras3_cnn.keras", "keras3_cnn.h5",
                                   "keras2_theano_cf_cnn.h5"])
def test_info_opens_models_converted_in_memory(model):
    done = _run("info", os.path.join(FIXTURES, model))
    assert done.returncode == 0, done.stderr
    assert "layers" in done.stdout.splitlines()[0] and "samples: none embedded" in done.stdout


def test_render_and_export_convert_in_memory(tmp_path, digits_npz):
    assert main(["render", LOGITS, "--layer", "conv1", "--samples", digits_npz,
                 "-o", str(tmp_path / "r.png")]) == 0
    assert main(["export", LOGITS, "--layer", "-1", "--samples", digits_npz, "--all",
                 "--preprocess", '{"scale": 0.0625}', "-o", str(tmp_path / "logits.npy")]) == 0
    np.testing.assert_allclose(np.load(tmp_path / "logits.npy"), REFERENCE["logits"],
                               rtol=1e-4, atol=1e-4)


def test_files_that_are_no_net_say_what_they_are(tmp_path):
    import h5py
    with h5py.File(tmp_path / "samples.h5", "w") as f:
        f["X"] = np.zeros((2, 8, 8))
    done = _run("info", str(tmp_path / "samples.h5"))
    assert done.returncode == 2
    assert done.stderr == (f"error: {tmp_path / 'samples.h5'}: holds samples, not a net; open a net "
                           f"and give these with --samples (or Open samples... in the window)\n")
    done = _run("info", os.path.join(ROOT, "README.md"))
    assert done.stderr == (f"error: {os.path.join(ROOT, 'README.md')}: not an HDF5 file (Strata "
                           f"opens strata-net .h5 files, Keras .h5/.keras models, ONNX .onnx models, "
                           f"TFLite .tflite and torch.export .pt2 models)\n")
    done = _run("render", LOGITS, "--layer", "1", "-o", str(tmp_path / "x.png"))
    assert done.returncode == 2
    assert done.stderr == f"error: {LOGITS}: has no embedded samples; give a samples file with --samples\n"


# ---------------------------------------------------------------- dead

def small_net():
    rng = np.random.default_rng(5)
    inp = Input(name="in", shape=(4,))
    W = rng.standard_normal((4, 3)).astype(np.float32)
    b = np.array([0.0, 0.0, -100.0], np.float32)  # unit 2 never gets above 0
    fc = Dense(inp, name="fc", W=W, b=b)
    tanh = Activation(fc, name="tanh", function="tanh")
    relu = Activation(fc, name="relu", function="relu")
    leaky = Activation(fc, name="leaky", function="leaky_relu", alpha=0.1)
    return Net([inp, fc, tanh, relu, leaky], name="small")


class Samples:
    labels = label_names = None
    source = "memory"

    def __init__(self, X):
        self.X = X

    def __len__(self):
        return len(self.X)

    def batch(self, indices):
        return self.X[np.asarray(indices)]


@pytest.mark.parametrize("layer, rectified", [("fc", False), ("tanh", False), ("relu", True),
                                              ("leaky", False)])
def test_dead_only_where_outputs_are_relu_like(layer, rectified):
    net = small_net()
    samples = Samples(np.random.default_rng(6).standard_normal((30, 4)).astype(np.float32))
    result = Sweep(net, samples, layer).run()
    assert is_rectified(net[layer]) == rectified and result.rectified == rectified
    assert result.never_active.tolist() == [False, False, True]
    assert result.dead.tolist() == [False, False, rectified]


def test_pooling_after_a_relu_is_still_rectified():
    net, _ = open_net(CNN)
    flags = {layer.name: is_rectified(layer) for layer in net}
    assert [name for name, flag in flags.items() if flag] == \
        ["relu1", "pool1", "relu2", "pool2", "flatten", "relu3", "dropout"]


def test_sweep_command_says_never_above_for_a_linear_layer(tmp_path, capsys):
    assert main(["sweep", CNN, "--layer", "fc2", "--threshold", "30", "-o", str(tmp_path / "s")]) == 0
    out = capsys.readouterr().out
    assert "(10 never above 30)" in out and "dead" not in out
    rows = read_csv(tmp_path / "s" / "units.csv")
    assert {r["dead"] for r in rows} == {""} and {r["never_active"] for r in rows} == {"1"}
    assert main(["sweep", CNN, "--layer", "relu3", "-o", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    rows = read_csv(tmp_path / "r" / "units.csv")
    dead = sum(int(r["dead"]) for r in rows)
    assert f"({dead} dead)" in out and [r["dead"] for r in rows] == [r["never_active"] for r in rows]


def test_render_draws_small_vectors_as_labelled_bars(tmp_path, capsys):
    from viewer.app.bars import bars_of
    (tmp_path / "names.txt").write_text("\n".join(f"digit {d}" for d in range(10)))
    assert main(["render", CNN, "--layer", "-1", "--sample", "2", "--labels",
                 str(tmp_path / "names.txt"), "-o", str(tmp_path / "bars.svg")]) == 0
    svg = (tmp_path / "bars.svg").read_text()
    assert all(f"digit {d}" in svg for d in range(10)) and "probability" in svg
    assert main(["render", CNN, "--layer", "relu1", "--kind", "bars", "-o",
                 str(tmp_path / "conv.svg")]) == 0
    assert "channel (mean)" in (tmp_path / "conv.svg").read_text()
    net, own = open_net(CNN)
    act = net["relu1"](own.batch([0]))[0]
    bars = bars_of(net, net.index("relu1"), act, own, 0)
    np.testing.assert_allclose(bars.values, act.reshape(16, -1).mean(axis=1), rtol=1e-6)
    assert bars.labels == tuple(str(c) for c in range(16)) and bars.predicted is None
