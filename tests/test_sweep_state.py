"""Mergeable sweep statistics: every piece merged over random shard splits, in any order,
equals the one-pass numbers; states survive HDF5; the sweep's files equal those main wrote
before the states existed (tests/fixtures/sweep_before)."""

import csv
import os

import numpy as np
import pytest

from viewer.analysis.histogram import UnitHistograms
from viewer.analysis.pca import PCAPart
from viewer.analysis.sweep import Sweep
from viewer.analysis.sweep_shard import sweep_rows
from viewer.analysis.sweep_state import load_state, save_state
from viewer.analysis.unit_stats import ClassSums, Moments, TopK
from viewer.cli import main
from viewer.errors import StrataError

from test_sweep import CNN, ArraySamples, ranked, small_cnn, small_samples

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BEFORE = os.path.join(ROOT, "tests", "fixtures", "sweep_before")


def _splits(rng, n, max_parts=6):
    """A random split of range(n) into non-empty parts (not contiguous), in random order."""
    labels = rng.integers(0, rng.integers(1, max_parts + 1), n)
    parts = [np.flatnonzero(labels == p) for p in np.unique(labels)]
    return [parts[i] for i in rng.permutation(len(parts))]


def _merged(pieces, rng):
    """Merge a list of states in a random tree order: the first picked takes in the rest."""
    pieces = list(pieces)
    while len(pieces) > 1:
        i, j = rng.choice(len(pieces), 2, replace=False)
        pieces[i].merge(pieces[j])
        pieces.pop(j)
    return pieces[0]


def test_moments_class_sums_and_top_k_merge_like_one_pass():
    rng = np.random.default_rng(0)
    for _ in range(60):
        n, units, k = rng.integers(2, 50), rng.integers(1, 4), rng.integers(1, 6)
        values = rng.integers(-3, 4, (n, units)).astype(np.float64) * 10.0 ** rng.integers(-3, 4)
        values[rng.random((n, units)) < 0.05] = np.nan
        finite = np.isfinite(values)
        labels = rng.integers(0, 3, n)
        classes = np.arange(3)
        parts = []
        for rows in _splits(rng, n):
            m, c, t = Moments(units), ClassSums(classes, units), TopK(units, k)
            m.add(values[rows], finite[rows])
            c.add(values[rows], labels[rows], finite[rows])
            t.add(values[rows].astype(np.float32), rows.astype(np.int64))
            parts.append((m, c, t))
        order = rng.permutation(len(parts))
        m, c, t = (parts[order[0]][i] for i in range(3))
        for p in order[1:]:
            m.merge(parts[p][0])
            c.merge(parts[p][1])
            t.merge(parts[p][2])
        assert m.count.tolist() == finite.sum(axis=0).tolist()
        np.testing.assert_allclose(m.means, np.nanmean(values, axis=0), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(m.std, np.nanstd(values, axis=0), rtol=1e-9, atol=1e-12)
        assert c.samples.tolist() == np.bincount(labels, minlength=3).tolist()
        for cls in range(3):
            want = np.nanmean(np.where(labels[:, None] == cls, values, np.nan), axis=0) \
                if (labels == cls).any() else np.full(units, np.nan)
            np.testing.assert_allclose(c.means()[cls], want, rtol=1e-12, atol=1e-12)
        high = np.where(np.isnan(values), -np.inf, values)
        low = np.where(np.isnan(values), np.inf, values)
        best, _, worst, _ = t.result()
        np.testing.assert_array_equal(best, ranked(high, k, largest=True))
        np.testing.assert_array_equal(worst, ranked(low, k, largest=False))


def test_unit_histograms_are_the_same_whatever_the_split():
    rng = np.random.default_rng(1)
    for trial in range(80):
        n, units = rng.integers(1, 60), rng.integers(1, 4)
        scale = 10.0 ** rng.integers(-6, 6)
        values = rng.standard_normal((n, units)) * scale + rng.integers(-3, 3) * scale * 50
        values[rng.random((n, units)) < 0.05] = np.nan
        if trial % 9 == 0:
            values[:] = 2.5  # constant: one narrow bin
        one = UnitHistograms(units, 16)
        one.add(values)
        parts = []
        for rows in _splits(rng, n):
            part = UnitHistograms(units, 16)
            for chunk in np.array_split(rows, rng.integers(1, 4)):
                part.add(values[chunk])
            parts.append(part)
        merged = _merged(parts, rng)
        for name in ("counts", "exponent", "offset"):
            np.testing.assert_array_equal(getattr(merged, name), getattr(one, name))
        edges = one.edges()
        for u in range(units):
            kept = values[:, u][np.isfinite(values[:, u])]
            assert one.counts[u].sum() == len(kept)
            if len(kept):
                assert merged.low[u] == kept.min() and merged.high[u] == kept.max()
                assert edges[u, 0] <= kept.min() and kept.max() < edges[u, -1]
                # numpy's bins are half-open like ours but for its closed last bin
                want = np.histogram(kept, edges[u])[0]
                at_last = (kept == edges[u, -1]).sum()
                np.testing.assert_array_equal(one.counts[u], want - np.eye(16, dtype=int)[-1]
                                              * at_last)
                used = np.flatnonzero(one.counts[u])
                assert used[-1] - used[0] + 1 > 16 // 2 - 1 or len(np.unique(kept)) == 1


def test_pca_parts_merge_to_the_feature_variance():
    rng = np.random.default_rng(2)
    Z = (1e4 + rng.standard_normal((90, 5)) * [1, 2, 3, 4, 5]).astype(np.float32)
    parts = []
    for rows in _splits(rng, 90):
        part = PCAPart(5)
        part.add_moments(Z[rows])
        part.add_coords(rows, np.column_stack([rows, -rows]).astype(np.float64))
        parts.append(part)
    merged = _merged(parts, rng)
    assert merged.count == 90 and sorted(merged.rows.tolist()) == list(range(90))
    np.testing.assert_array_equal(merged.coords[:, 0], merged.rows)
    np.testing.assert_allclose(merged.m2 / 90, Z.astype(np.float64).var(axis=0).sum(), rtol=1e-5)


def _same_results(got, want, pca_tol=1e-9):
    """Equal sweeps: sample choices, counts and histograms exactly, sums within rounding.

    Both sweeps must forward the samples in batches of one: a forward over other
    batches rounds otherwise (BLAS), which is not the merge's doing."""
    for name in ("top_samples", "bottom_samples", "never_active", "dead", "predicted",
                 "labels"):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name))
    for name in ("mean", "std", "frac_active", "top_values", "bottom_values"):
        np.testing.assert_allclose(getattr(got, name), getattr(want, name), rtol=1e-9,
                                   atol=1e-9)
    for name in ("counts", "exponent", "offset", "low", "high"):
        np.testing.assert_array_equal(getattr(got.histograms, name),
                                      getattr(want.histograms, name))
    for which in ("by_label", "by_prediction"):
        g, w = getattr(got, which), getattr(want, which)
        assert (g is None) == (w is None)
        if g is not None:
            np.testing.assert_array_equal(g.counts, w.counts)
            np.testing.assert_allclose(g.means, w.means, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(got.pca.coords, want.pca.coords, rtol=pca_tol, atol=pca_tol)
    np.testing.assert_allclose(got.pca.explained_variance_ratio,
                               want.pca.explained_variance_ratio, rtol=1e-6)
    assert got.pca.description == want.pca.description


@pytest.mark.parametrize("seed", range(4))
def test_a_sweep_over_random_shards_merged_in_any_order_equals_one_pass(tmp_path, seed):
    rng = np.random.default_rng(seed)
    net, samples = small_cnn(), small_samples(n=61)
    sweep = Sweep(net, samples, ["conv", "relu", "fc", "out"], k=4, pca_samples=20,
                  batch_size=1)
    want = sweep.run_layers()
    fit = sweep_rows(net, samples, sweep.spec, sweep.order[:20])
    rest = sweep.order[20:]
    parts = [sweep_rows(net, samples, sweep.spec, rest[rows], fit.projections)
             for rows in _splits(rng, len(rest))]
    states = [fit] + parts
    for i, state in enumerate(states):  # some go through their file and back
        if rng.random() < 0.5:
            path = str(tmp_path / f"s{i}.h5")
            save_state(path, state, {"seed": seed})
            states[i], fingerprint = load_state(path)
            assert fingerprint == {"seed": seed}
    got = sweep.finish(_merged(states, rng), 0.0)
    assert set(got) == set(want)
    for layer in want:
        _same_results(got[layer], want[layer])


def test_finish_refuses_states_that_miss_rows():
    net, samples = small_cnn(), small_samples()
    sweep = Sweep(net, samples, "fc", pca_samples=10)
    state = sweep_rows(net, samples, sweep.spec, sweep.order[:30])
    with pytest.raises(StrataError, match="shards cover 30 of 41 samples"):
        sweep.finish(state, 0.0)
    with pytest.raises(StrataError, match="share rows"):
        state.merge(sweep_rows(net, samples, sweep.spec, sweep.order[25:], state.projections))


def test_a_damaged_state_file_is_a_one_line_error(tmp_path):
    path = tmp_path / "shard.h5"
    path.write_bytes(b"not hdf5")
    with pytest.raises(StrataError, match=f"{path}: not a sweep shard state"):
        load_state(str(path))


def _table(path):
    with open(path, newline="") as fh:
        return list(csv.reader(fh))


def _same_table(got, want, name):
    assert len(got) == len(want), name
    assert got[0] == want[0], name
    for g, w in zip(got[1:], want[1:]):
        for a, b in zip(g, w):
            try:
                fa, fb = float(a), float(b)
            except ValueError:
                assert a == b, name
                continue
            if name.startswith("pca"):
                # The PCA's float32 fit and projection round at 1e-5 of the map's ~20 wide scale.
                assert fa == pytest.approx(fb, rel=1e-5, abs=2e-4), (name, g, w)
            else:
                # Float32 activations to 1e-5 (~80 ulps): the forward pass's blocking of
                # its GEMMs has changed since the stored files (6 ulps apart on fc1), and
                # OpenBLAS picks its kernels by CPU (15 ulps apart on an AMD EPYC).
                assert fa == pytest.approx(fb, rel=1e-5, abs=1e-6), (name, g, w)


@pytest.mark.parametrize("layer,options", [("relu2", []), ("fc1", ["--pca-samples", "200"])])
def test_the_sweep_files_equal_those_before_mergeable_states(tmp_path, capsys, layer, options):
    out = tmp_path / layer
    assert main(["sweep", CNN, "--layer", layer, *options, "-o", str(out)]) == 0
    before = os.path.join(BEFORE, layer)
    for name in sorted(os.listdir(before)):
        if name.endswith(".csv"):
            _same_table(_table(out / name), _table(os.path.join(before, name)), name)


def test_an_array_sample_set_sweeps_in_shards_too():
    X = np.random.default_rng(3).standard_normal((30, 4)).astype(np.float32)
    from viewer.net import Net
    from viewer.net.layers import Input
    net, samples = Net([Input(shape=(4,), name="in")]), ArraySamples(X)
    sweep = Sweep(net, samples, 0, pca_samples=5, batch_size=1)
    shards = sweep.shards(7)
    assert [len(s) for s in shards] == [5, 7, 7, 7, 4]
    np.testing.assert_array_equal(np.sort(np.concatenate(shards)), np.arange(30))
    state = sweep_rows(net, samples, sweep.spec, shards[0])
    for rows in shards[1:]:
        state.merge(sweep_rows(net, samples, sweep.spec, rows, state.projections))
    _same_results(sweep.finish(state, 0.0)[0], sweep.run())


def test_histograms_csv_counts_each_units_values(tmp_path, capsys):
    from viewer.data import embedded_samples
    from viewer.net import load
    from test_sweep import per_unit

    assert main(["sweep", CNN, "--layer", "relu2", "-o", str(tmp_path)]) == 0
    net, samples = load(CNN), embedded_samples(CNN)
    values, _ = per_unit(net["relu2"](samples.batch(np.arange(len(samples)))), 0)
    rows = _table(tmp_path / "histograms.csv")
    assert rows[0] == ["unit", "bin", "low", "high", "count"]
    for u in (0, 17, 31):
        mine = [r for r in rows[1:] if r[0] == str(u)]
        assert [int(r[1]) for r in mine] == list(range(len(mine)))
        edges = np.array([float(r[2]) for r in mine] + [float(mine[-1][3])])
        assert len(mine) <= 64 and edges[0] <= values[:, u].min() < edges[1]
        assert edges[-2] <= values[:, u].max() < edges[-1]
        widths = np.diff(edges)
        assert np.all(widths == widths[0]) and np.log2(widths[0]) == int(np.log2(widths[0]))
        counts = np.histogram(values[:, u], edges)[0]
        assert [int(r[4]) for r in mine] == counts.tolist()


def test_a_shard_reads_its_samples_in_few_runs_and_gets_the_same_numbers(tmp_path, monkeypatch):
    import h5py

    import viewer.analysis.sweep_shard as sweep_module
    from viewer.data import embedded_samples, open_samples
    from viewer.data.hdf5 import HDF5Reader
    from viewer.net import load

    net, digits = load(CNN), embedded_samples(CNN)
    with h5py.File(tmp_path / "digits.h5", "w") as f:
        f["X"] = digits.raw_batch(np.arange(len(digits)))
    samples = open_samples(tmp_path / "digits.h5", preprocess={"scale": 1 / 16})
    sweep = Sweep(net, samples, "relu2", pca_samples=50, batch_size=16)
    fit, rest = sweep.shards(400)[:2]
    projections = sweep_rows(net, samples, sweep.spec, fit).projections
    reads = []
    read = HDF5Reader.read
    monkeypatch.setattr(HDF5Reader, "read",
                        lambda self, rows: reads.append(rows) or read(self, rows))
    state = sweep_rows(net, samples, sweep.spec, rest, projections)
    # 400 rows in batches of 16, with the fit rows as gaps: one run of rows read.
    assert len(reads) == 1 and reads[0][0] == rest[0] and reads[0][-1] == rest[-1]
    assert len(reads[0]) == rest[-1] - rest[0] + 1 > len(rest)
    monkeypatch.setattr(sweep_module, "READ_AHEAD", 1)  # a read per batch
    reads.clear()
    again = sweep_rows(net, samples, sweep.spec, rest, state.projections)
    assert len(reads) == 25
    a, b = state.layers[sweep.layer], again.layers[sweep.layer]
    np.testing.assert_array_equal(a.extremes.result()[0], b.extremes.result()[0])
    np.testing.assert_allclose(a.moments.means, b.moments.means, rtol=1e-12)
    np.testing.assert_array_equal(a.pca.arrays()["coords"], b.pca.arrays()["coords"])


def test_batches_shrink_after_slow_ones_only_when_someone_can_cancel(monkeypatch):
    import threading

    import viewer.data.batches as batches

    monkeypatch.setattr(batches, "SLOW_BATCH", -1.0)  # every batch counts as slow...
    monkeypatch.setattr(batches, "TARGET_BATCH", 0.0)  # ... and makes the next of one sample
    net, samples = small_cnn(), small_samples(n=40)
    sweep = Sweep(net, samples, "fc", pca_samples=10, batch_size=8)
    rows = sweep.shards(30)[1]
    assert sweep_rows(net, samples, sweep.spec, rows).batch_sizes == [8, 8, 8, 6]
    shrunk = sweep_rows(net, samples, sweep.spec, rows, cancel=threading.Event()).batch_sizes
    assert shrunk == [8] + [1] * 22
