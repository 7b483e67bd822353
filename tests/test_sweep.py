"""Dataset sweeps against direct numpy computations: statistics, top-k, PCA, class means,
batching, cancel, and the `sweep` command's files read back."""

import csv
import json
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

from viewer.analysis.pca import FeatureSketch
from viewer.analysis.sweep import Sweep
from viewer.analysis.sweep_shard import SweepCancelled
from viewer.analysis.unit_stats import Moments, TopK
from viewer.cli import main
from viewer.data import embedded_samples
from viewer.errors import StrataError
from viewer.net import Net, load
from viewer.net.layers import Activation, Conv2D, Dense, Flatten, Input

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CNN = os.path.join(ROOT, "resources", "demo", "digits_cnn.h5")


class ArraySamples:
    """The part of SampleSet a sweep uses, over an array in memory."""

    def __init__(self, X, labels=None, label_names=None):
        self.X, self.labels, self.label_names = X, labels, label_names
        self.source = "memory"

    def __len__(self):
        return len(self.X)

    def batch(self, indices):
        return self.X[np.asarray(indices)]


def small_cnn(data_format="channels_first"):
    """conv (4 channels, one never positive) -> relu -> flatten -> dense 6 -> relu -> dense 3."""
    rng = np.random.default_rng(1)
    shape = (3, 5, 5) if data_format == "channels_first" else (5, 5, 3)
    inp = Input(name="input", shape=shape, data_format=data_format)
    W = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    b = np.array([0.1, -0.2, 0.0, -1000.0], np.float32)  # channel 3 is dead
    conv = Conv2D(inp, name="conv", W=W, b=b, padding="same", data_format=data_format)
    relu = Activation(conv, name="relu", function="relu")
    flat = Flatten(relu, name="flatten", data_format=data_format)
    fc = Dense(flat, name="fc", W=rng.standard_normal((100, 6)).astype(np.float32) * 0.3,
               b=rng.standard_normal(6).astype(np.float32))
    relu2 = Activation(fc, name="relu2", function="relu")
    out = Dense(relu2, name="out", W=rng.standard_normal((6, 3)).astype(np.float32))
    return Net([inp, conv, relu, flat, fc, relu2, out], name="small")


def small_samples(n=41, data_format="channels_first", seed=2):
    rng = np.random.default_rng(seed)
    shape = (n, 3, 5, 5) if data_format == "channels_first" else (n, 5, 5, 3)
    X = rng.standard_normal(shape).astype(np.float32)
    return ArraySamples(X, labels=rng.integers(0, 3, n), label_names=["a", "b", "c"])


def per_unit(act, unit_axis):
    """Direct per-sample (value, peak) per unit, shape (N, U) each."""
    n = len(act)
    if unit_axis is None:
        flat = act.reshape(n, -1).astype(np.float64)
        return flat, flat
    moved = np.moveaxis(act, unit_axis + 1, 1).reshape(n, act.shape[unit_axis + 1], -1)
    return moved.astype(np.float64).mean(axis=2), moved.max(axis=2).astype(np.float64)


def ranked(scores, k, largest):
    """Sample rows by score, ties to the lower index: (U, k)."""
    rows = np.arange(len(scores))
    return np.stack([np.lexsort((rows, -s if largest else s))[:k] for s in scores.T])


@pytest.fixture(scope="module")
def demo():
    return load(CNN), embedded_samples(CNN)


@pytest.mark.parametrize("layer,unit_axis",
                         [("conv", 0), ("relu", 0), ("fc", None), ("relu2", None)])
def test_unit_statistics_and_extremes_match_numpy(layer, unit_axis):
    net, samples = small_cnn(), small_samples()
    result = Sweep(net, samples, layer, k=5).run()
    values, peaks = per_unit(net[layer](samples.X), unit_axis)
    assert result.unit_axis == unit_axis and result.n_units == values.shape[1]
    # Channel means are sums in float32 (BLAS): float32 precision.
    np.testing.assert_allclose(result.mean, values.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(result.std, values.std(axis=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(result.frac_active, (peaks > 0).mean(axis=0))
    np.testing.assert_array_equal(result.never_active, ~(peaks > 0).any(axis=0))
    # "dead" only where outputs are ReLU-like: a conv or dense unit below 0 is just negative.
    assert result.rectified == layer.startswith("relu")
    np.testing.assert_array_equal(result.dead, result.never_active & layer.startswith("relu"))
    np.testing.assert_array_equal(result.top_samples, ranked(peaks, 5, largest=True))
    np.testing.assert_array_equal(result.bottom_samples, ranked(peaks, 5, largest=False))
    np.testing.assert_array_equal(result.top_values,
                                  np.take_along_axis(peaks.T, result.top_samples, axis=1))
    np.testing.assert_array_equal(result.bottom_values,
                                  np.take_along_axis(peaks.T, result.bottom_samples, axis=1))


def test_dead_channel_and_relu_ties_go_to_the_lowest_index():
    net, samples = small_cnn(), small_samples()
    result = Sweep(net, samples, "relu", k=4).run()
    assert result.dead.tolist() == [False, False, False, True]
    assert result.frac_active[3] == 0
    # Channel 3 is 0 everywhere: every sample ties, the lowest indices win at both ends.
    assert result.top_samples[3].tolist() == [0, 1, 2, 3]
    assert result.bottom_samples[3].tolist() == [0, 1, 2, 3]


def test_threshold_defines_active():
    net, samples = small_cnn(), small_samples()
    result = Sweep(net, samples, "fc", threshold=0.5).run()
    _, peaks = per_unit(net["fc"](samples.X), None)
    np.testing.assert_array_equal(result.frac_active, (peaks > 0.5).mean(axis=0))


def test_channels_last_units_are_the_last_axis():
    net, samples = small_cnn("channels_last"), small_samples(data_format="channels_last")
    result = Sweep(net, samples, "relu", k=3).run()
    values, peaks = per_unit(net["relu"](samples.X), 2)
    assert result.layout == "channels_last" and result.unit_axis == 2
    np.testing.assert_allclose(result.mean, values.mean(axis=0), rtol=1e-6)
    np.testing.assert_array_equal(result.top_samples, ranked(peaks, 3, largest=True))


def test_sequence_units_are_features():
    inp = Input(name="input", shape=(6, 4))
    net = Net([inp, Activation(inp, name="tanh", function="tanh")])
    X = np.random.default_rng(3).standard_normal((30, 6, 4)).astype(np.float32)
    result = Sweep(net, ArraySamples(X), "tanh", k=2).run()
    values, peaks = per_unit(np.tanh(X), 1)
    assert result.layout == "sequence" and result.n_units == 4
    np.testing.assert_allclose(result.mean, values.mean(axis=0), rtol=1e-6)
    np.testing.assert_array_equal(result.top_samples, ranked(peaks, 2, largest=True))


def _svd_coords(acts):
    """Reference PCA: coordinates on the top two components and their variance ratios."""
    centred = acts - acts.mean(axis=0)
    u, s, _ = np.linalg.svd(centred, full_matrices=False)
    return u[:, :2] * s[:2], s[:2] ** 2 / (s ** 2).sum()


def _same_up_to_sign(got, want, tol):
    for j in range(2):
        sign = np.sign(got[:, j] @ want[:, j])
        np.testing.assert_allclose(got[:, j] * sign, want[:, j],
                                   atol=tol * np.abs(want[:, j]).max())


def test_exact_pca_matches_svd():
    net, samples = small_cnn(), small_samples()
    result = Sweep(net, samples, "fc").run()  # 6 features: the exact fit
    want, ratio = _svd_coords(net["fc"](samples.X).astype(np.float64))
    assert result.pca.method == "exact" and result.pca.n_fit == len(samples)
    _same_up_to_sign(result.pca.coords, want, 1e-5)
    np.testing.assert_allclose(result.pca.explained_variance_ratio, ratio, rtol=1e-5)
    np.testing.assert_allclose(result.pca.coords.mean(axis=0), 0, atol=1e-9)


def test_exact_pca_with_more_features_than_samples():
    net, samples = small_cnn(), small_samples(n=30)
    result = Sweep(net, samples, "relu").run()  # 100 features, 30 samples: the Gram side
    acts = net["relu"](samples.X).reshape(30, -1).astype(np.float64)
    want, ratio = _svd_coords(acts)
    assert result.pca.method == "exact"
    _same_up_to_sign(result.pca.coords, want, 1e-5)
    np.testing.assert_allclose(result.pca.explained_variance_ratio, ratio, rtol=1e-5)


def test_randomized_pca_matches_svd_on_the_demo(demo):
    net, samples = demo
    result = Sweep(net, samples, "conv1", pca_samples=540).run()  # 540 samples x 1024 values
    acts = net["conv1"](samples.batch(np.arange(len(samples)))).reshape(len(samples), -1)
    want, ratio = _svd_coords(acts.astype(np.float64))
    assert result.pca.method == "randomized" and result.pca.n_fit == len(samples)
    _same_up_to_sign(result.pca.coords, want, 5e-3)
    np.testing.assert_allclose(result.pca.explained_variance_ratio, ratio, rtol=1e-4)


def test_pca_on_a_random_subset_is_stated_and_projects_everyone(demo):
    net, samples = demo
    result = Sweep(net, samples, "relu3", pca_samples=100).run()
    pca = result.pca
    assert pca.n_fit == 100 and pca.n_samples == len(samples)
    assert "fitted on a random 100 (seed 0)" in pca.description
    assert np.isfinite(pca.coords).all() and pca.coords.shape == (len(samples), 2)
    # Variance ratios are over all samples: the map's own spread, whatever was fitted.
    acts = net["relu3"](samples.batch(np.arange(len(samples)))).astype(np.float64)
    total = acts.var(axis=0).sum()
    np.testing.assert_allclose(pca.explained_variance_ratio, pca.coords.var(axis=0) / total,
                               rtol=1e-6)
    again = Sweep(net, samples, "relu3", pca_samples=100).run()
    # Batch sizes follow the machine's speed: equal up to float rounding, not bit for bit.
    np.testing.assert_allclose(again.pca.coords, pca.coords, rtol=1e-5, atol=1e-6)


def test_wide_layers_are_hashed_before_the_pca():
    inp = Input(name="input", shape=(5000,))
    net = Net([inp, Activation(inp, name="relu", function="relu")])
    X = np.random.default_rng(4).standard_normal((40, 5000)).astype(np.float32)
    result = Sweep(net, ArraySamples(X), "relu").run()
    assert result.pca.sketched and result.pca.n_features == 4096
    assert "5,000 values hashed to 4,096" in result.pca.description
    hashed = FeatureSketch(5000, 4096, seed=0)(np.maximum(X, 0)).astype(np.float64)
    want, ratio = _svd_coords(hashed)
    _same_up_to_sign(result.pca.coords, want, 1e-4)
    np.testing.assert_allclose(result.pca.explained_variance_ratio, ratio, rtol=1e-4)


def test_a_constant_layer_maps_every_sample_to_the_origin():
    inp = Input(name="input", shape=(3,))
    const = Dense(inp, name="const", W=np.zeros((3, 70), np.float32), b=np.ones(70, np.float32))
    X = np.random.default_rng(8).standard_normal((80, 3)).astype(np.float32)
    result = Sweep(Net([inp, const]), ArraySamples(X), "const").run()
    np.testing.assert_array_equal(result.pca.coords, np.zeros((80, 2)))
    np.testing.assert_array_equal(result.pca.explained_variance_ratio, [0, 0])
    np.testing.assert_array_equal(result.std, np.zeros(70))


def test_class_means_by_label_and_by_prediction(demo):
    net, samples = demo
    result = Sweep(net, samples, "relu2").run()
    X = samples.batch(np.arange(len(samples)))
    values, _ = per_unit(net["relu2"](X), 0)
    predicted = net[-1](X).argmax(axis=1)
    np.testing.assert_array_equal(result.labels, samples.labels)
    np.testing.assert_array_equal(result.predicted, predicted)
    by_label = result.by_label
    np.testing.assert_array_equal(by_label.classes, np.arange(10))
    assert by_label.names == tuple(samples.label_names)
    for c in range(10):
        assert by_label.counts[c] == (samples.labels == c).sum()
        np.testing.assert_allclose(by_label.means[c], values[samples.labels == c].mean(axis=0),
                                   rtol=1e-6)
        np.testing.assert_allclose(result.by_prediction.means[c],
                                   values[predicted == c].mean(axis=0), rtol=1e-6)
    assert result.by_prediction.counts.sum() == len(samples)


def test_a_net_ending_in_logits_predicts_their_argmax():
    net, samples = small_cnn(), small_samples()  # ends in Dense(3): logits, no softmax
    result = Sweep(net, samples, "fc").run()
    np.testing.assert_array_equal(result.predicted, net[-1](samples.X).argmax(axis=1))
    assert result.accuracy == (int((result.predicted == samples.labels).sum()), len(samples))
    assert result.by_prediction.counts.sum() == len(samples)


def test_no_prediction_when_the_output_is_not_one_value_per_class():
    net, samples = small_cnn(), small_samples()
    samples.labels = np.full(len(samples), 3)  # class 3 of an output of 3 values: not its classes
    result = Sweep(net, samples, "fc").run()
    assert result.predicted is None and result.by_prediction is None and result.accuracy is None
    conv_net = Net(list(net)[:3], name="conv only")  # ends in a conv map, not a vector
    samples.labels = None
    result = Sweep(conv_net, samples, "conv").run()
    assert result.predicted is None and result.labels is None and result.by_label is None


def test_no_class_means_when_every_prediction_is_nan():
    inp = Input(name="input", shape=(4,))
    hidden = Dense(inp, name="dense", W=np.eye(4, dtype=np.float32))
    nan_out = Dense(hidden, name="nan", W=np.full((4, 3), np.nan, dtype=np.float32))
    X = np.arange(12, dtype=np.float32).reshape(3, 4)
    result = Sweep(Net([inp, hidden, nan_out]), ArraySamples(X), "dense").run()
    np.testing.assert_array_equal(result.predicted, [-1, -1, -1])
    assert result.by_prediction is None and result.by_label is None


def test_batching_and_order_give_the_same_numbers(demo):
    net, samples = demo
    one = Sweep(net, samples, "relu1", batch_size=1000, pca_samples=540).run()
    many = Sweep(net, samples, "relu1", batch_size=7, pca_samples=540).run()
    assert one.batch_sizes == (540,) and len(many.batch_sizes) == 78
    for name in ("mean", "std", "frac_active"):
        np.testing.assert_allclose(getattr(many, name), getattr(one, name), rtol=1e-6, atol=1e-9)
    np.testing.assert_array_equal(many.dead, one.dead)
    np.testing.assert_array_equal(many.top_samples, one.top_samples)
    np.testing.assert_array_equal(many.bottom_samples, one.bottom_samples)
    np.testing.assert_allclose(many.top_values, one.top_values, rtol=1e-6)
    _same_up_to_sign(many.pca.coords, one.pca.coords, 1e-3)
    np.testing.assert_allclose(many.by_label.means, one.by_label.means, rtol=1e-6, atol=1e-9)


def test_a_subset_of_samples(demo):
    net, samples = demo
    chosen = [30, 5, 400, 5, 77, 12, 250]
    result = Sweep(net, samples, "pool2", indices=chosen, k=3).run()
    rows = np.unique(chosen)
    np.testing.assert_array_equal(result.indices, rows)
    values, peaks = per_unit(net["pool2"](samples.batch(rows)), 0)
    np.testing.assert_allclose(result.mean, values.mean(axis=0), rtol=1e-6)
    np.testing.assert_array_equal(result.top_samples, rows[ranked(peaks, 3, largest=True)])
    np.testing.assert_array_equal(result.labels, samples.labels[rows])
    assert result.pca.coords.shape == (len(rows), 2)


def test_non_finite_outputs_are_left_out():
    inp = Input(name="input", shape=(3,))
    net = Net([inp, Activation(inp, name="id", function="linear")])
    X = np.random.default_rng(5).standard_normal((20, 3)).astype(np.float32)
    X[4, 1] = np.nan
    result = Sweep(net, ArraySamples(X), "id", k=20).run()
    # Statistics leave out the one NaN value; the PCA the whole sample.
    np.testing.assert_allclose(result.mean, np.nanmean(X.astype(np.float64), axis=0), rtol=1e-9)
    np.testing.assert_allclose(result.std, np.nanstd(X.astype(np.float64), axis=0), rtol=1e-9)
    assert result.top_samples[1, -1] == 4 and result.bottom_samples[1, -1] == 4  # NaN: worst
    assert np.isnan(result.top_values[1, -1])
    assert np.isnan(result.pca.coords[4]).all() and result.pca.n_samples == 19
    assert np.isfinite(np.delete(result.pca.coords, 4, axis=0)).all()


def test_progress_is_reported_per_batch(demo):
    net, samples = demo
    calls = []
    result = Sweep(net, samples, "fc1", batch_size=100).run(
        progress=lambda done, total: calls.append((done, total)))
    assert calls == [(100, 540), (200, 540), (300, 540), (400, 540), (500, 540), (540, 540)]
    assert result.batch_sizes == (100, 100, 100, 100, 100, 40)


def test_cancel_before_and_during_the_sweep(demo):
    net, samples = demo
    cancel = threading.Event()
    cancel.set()
    calls = []
    with pytest.raises(SweepCancelled):
        Sweep(net, samples, "fc1").run(progress=lambda d, t: calls.append(d), cancel=cancel)
    assert calls == []

    cancel = threading.Event()

    def progress(done, total):
        calls.append(done)
        cancel.set()  # as the window's Cancel button would, from another thread

    with pytest.raises(SweepCancelled):
        Sweep(net, samples, "fc1", batch_size=50).run(progress=progress, cancel=cancel)
    assert calls == [50]

    calls.clear()
    with pytest.raises(SweepCancelled, match="cancelled"):
        Sweep(net, samples, "fc1", batch_size=50).run(
            progress=lambda d, t: calls.append(d) or False)
    assert calls == [50]


def test_batches_stay_within_the_activation_budget(monkeypatch, demo):
    import viewer.analysis.sweep as sweep_module
    net, samples = demo
    monkeypatch.setattr(sweep_module, "ACTIVATION_BUDGET", 100_000)
    sweep = Sweep(net, samples, "relu1")  # ~22 KB of outputs per sample, softmax included
    assert sweep.targets == [3, 14]
    assert sweep.batch_size == 100_000 // sweep.sample_bytes < 256


@pytest.mark.parametrize("kwargs,message", [
    ({"layer": "nope"}, "no layer named 'nope'"),
    ({"layer": 1, "indices": [0, 540]}, "sample 540 is out of range"),
    ({"layer": 1, "indices": []}, "no samples chosen"),
    ({"layer": 1, "k": 0}, "k must be at least 1"),
    ({"layer": 1, "batch_size": 0}, "batch size must be at least 1"),
])
def test_bad_arguments_are_one_line_errors(demo, kwargs, message):
    net, samples = demo
    with pytest.raises(StrataError, match=message):
        Sweep(net, samples, **kwargs)


def test_top_k_streaming_equals_a_full_sort():
    rng = np.random.default_rng(6)
    for _ in range(200):
        n, units, k = rng.integers(1, 60), rng.integers(1, 4), rng.integers(1, 7)
        scores = rng.integers(-2, 3, (n, units)).astype(np.float32)  # many ties
        scores[rng.random((n, units)) < 0.05] = np.nan
        scores[rng.random((n, units)) < 0.05] = -0.0
        order = rng.permutation(n)
        top = TopK(units, k)
        start = 0
        while start < n:
            rows = order[start:start + rng.integers(1, 9)]
            top.add(scores[rows], rows.astype(np.int64))
            start += len(rows)
        best, best_values, worst, worst_values = top.result()
        high = np.where(np.isnan(scores), -np.inf, scores)
        low = np.where(np.isnan(scores), np.inf, scores)
        np.testing.assert_array_equal(best, ranked(high, k, largest=True))
        np.testing.assert_array_equal(worst, ranked(low, k, largest=False))
        np.testing.assert_array_equal(best_values, np.take_along_axis(scores.T, best, axis=1))
        np.testing.assert_array_equal(worst_values, np.take_along_axis(scores.T, worst, axis=1))


def test_moments_keep_precision_far_from_zero():
    rng = np.random.default_rng(7)
    values = 1e8 + rng.standard_normal((1000, 3))
    moments = Moments(3)
    for part in np.array_split(values, 13):
        moments.add(part)
    np.testing.assert_allclose(moments.means, values.mean(axis=0), rtol=1e-14)
    np.testing.assert_allclose(moments.std, values.std(axis=0), rtol=1e-8)


def _read(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_sweep_command_writes_what_the_api_computes(tmp_path, capsys, demo):
    net, samples = demo
    out = tmp_path / "out"
    assert main(["sweep", CNN, "--layer", "relu2", "--k", "4", "-o", str(out)]) == 0
    assert "relu2, 540 samples, 32 units" in capsys.readouterr().out
    want = Sweep(net, samples, "relu2", k=4).run()

    units = _read(out / "units.csv")
    assert [int(r["unit"]) for r in units] == list(range(32))
    for column in ("mean", "std", "frac_active"):
        np.testing.assert_allclose([float(r[column]) for r in units], getattr(want, column),
                                   rtol=1e-8)
    assert [r["dead"] for r in units] == [str(int(d)) for d in want.dead]

    for name, samples_, values in (("top_k.csv", want.top_samples, want.top_values),
                                   ("bottom_k.csv", want.bottom_samples, want.bottom_values)):
        rows = _read(out / name)
        assert len(rows) == 32 * 4 and rows[5]["unit"] == "1" and rows[5]["rank"] == "2"
        np.testing.assert_array_equal([int(r["sample"]) for r in rows], samples_.ravel())
        np.testing.assert_allclose([float(r["value"]) for r in rows], values.ravel(), rtol=1e-8)
        np.testing.assert_array_equal([int(r["label"]) for r in rows],
                                      samples.labels[samples_.ravel()])

    pca = _read(out / "pca.csv")
    np.testing.assert_array_equal([int(r["sample"]) for r in pca], np.arange(540))
    np.testing.assert_allclose([[float(r["pc1"]), float(r["pc2"])] for r in pca],
                               want.pca.coords, rtol=1e-8, atol=1e-12)
    np.testing.assert_array_equal([int(r["label"]) for r in pca], samples.labels)
    np.testing.assert_array_equal([int(r["predicted"]) for r in pca], want.predicted)
    variance = _read(out / "pca_variance.csv")
    np.testing.assert_allclose([float(r["explained_variance_ratio"]) for r in variance],
                               want.pca.explained_variance_ratio, rtol=1e-8)

    for name, means in (("class_means.csv", want.by_label),
                        ("predicted_class_means.csv", want.by_prediction)):
        rows = _read(out / name)
        assert [r["name"] for r in rows] == list(means.names)
        np.testing.assert_array_equal([int(r["count"]) for r in rows], means.counts)
        np.testing.assert_allclose([[float(r[str(u)]) for u in range(32)] for r in rows],
                                   means.means, rtol=1e-8)

    info = json.loads((out / "sweep.json").read_text())
    assert info["layer_name"] == "relu2" and info["layout"] == "channels_first"
    assert info["pca"]["description"] == want.pca.description
    assert sorted(info["files"] + ["shards"]) == sorted(os.listdir(out))  # + shard states
    assert info["ran"] == "in-process"


def test_sweep_command_errors_are_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    run = subprocess.run([sys.executable, os.path.join(ROOT, "main.py"), "sweep", CNN,
                          "--layer", "relu2", "-o", str(blocker)],
                         capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [f"error: {blocker}: exists and is not a folder"]


def test_sweep_modules_import_no_qt_or_matplotlib():
    code = ("import sys, viewer.analysis.sweep, viewer.sweep_command\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('PyQt5', 'matplotlib')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_nan_outputs_are_not_counted_as_dead(tmp_path):
    from viewer.data import open_samples
    from viewer.net import Net
    from viewer.net.layers import Input

    X = np.array([[1.0, -1.0], [np.nan, np.nan], [2.0, -3.0], [np.nan, 1.0]], np.float32)
    np.save(tmp_path / "x.npy", X)
    net = Net([Input(shape=(2,), name="in")])
    result = Sweep(net, open_samples(str(tmp_path / "x.npy")), 0).run()
    # unit 0 has numbers on samples 0 and 2, active on both; unit 1 on 0, 2, 3, active on 3 only
    np.testing.assert_allclose(result.frac_active, [1.0, 1 / 3])
    assert not result.dead.any()
    np.save(tmp_path / "nan.npy", np.full((3, 2), np.nan, np.float32))
    result = Sweep(net, open_samples(str(tmp_path / "nan.npy")), 0).run()
    assert not result.dead.any() and np.isnan(result.frac_active).all()
