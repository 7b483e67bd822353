"""The command line, run as a user runs it: files written and read back, errors and exit codes."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from viewer.cli import main
from viewer.data import embedded_samples
from viewer.export import read_activation_csv
from viewer.net import load

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CNN = os.path.join(ROOT, "resources", "demo", "digits_cnn.h5")


def test_info_prints_the_layer_table(capsys):
    assert main(["info", CNN]) == 0
    out = capsys.readouterr().out
    assert out.startswith("digits_cnn: 15 layers, 13,898 parameters\n")
    assert " 1  conv1    Conv2D      (16, 8, 8)       160" in out
    assert "samples: 540 embedded, each (1, 8, 8) (channels_first), labelled (10 classes)" in out


@pytest.mark.parametrize("kind,ext", [("heatmap", ".png"), ("histogram", ".svg"), ("heatmap", ".pdf")])
def test_render_writes_the_picture(tmp_path, capsys, kind, ext):
    out = str(tmp_path / ("pic" + ext))
    assert main(["render", CNN, "--layer", "relu1", "--sample", "4", "--kind", kind, "-o", out]) == 0
    head = Path(out).read_bytes()[:8]
    assert head.startswith({".png": b"\x89PNG", ".svg": b"<?xml", ".pdf": b"%PDF"}[ext])


def test_render_title_names_net_layer_and_sample(tmp_path):
    out = str(tmp_path / "pic.svg")
    main(["render", CNN, "--layer", "3", "--sample", "7", "-o", out])
    svg = Path(out).read_text()
    label = embedded_samples(CNN).labels[7]
    assert f"digits_cnn · layer 3 relu1 (Activation) · sample 7 (label {label})" in svg


def test_export_one_sample_equals_the_runtime(tmp_path):
    net, samples = load(CNN), embedded_samples(CNN)
    want = net["conv2"](samples.batch([9]))[0]
    out = str(tmp_path / "a.npy")
    assert main(["export", CNN, "--layer", "conv2", "--sample", "9", "-o", out]) == 0
    np.testing.assert_array_equal(np.load(out), want)
    csv = str(tmp_path / "a.csv")
    assert main(["export", CNN, "--layer", "conv2", "--sample", "9", "-o", csv]) == 0
    assert Path(csv).read_text().splitlines()[0].strip() == "i0,i1,i2,value"
    np.testing.assert_array_equal(read_activation_csv(csv).astype(np.float32), want)


def test_export_all_in_batches_equals_one_pass(tmp_path):
    net, samples = load(CNN), embedded_samples(CNN)
    want = net[-1](samples.batch(np.arange(len(samples))))
    out = str(tmp_path / "all.npy")
    assert main(["export", CNN, "--layer", "-1", "--all", "--batch-size", "100", "-o", out]) == 0
    np.testing.assert_allclose(np.load(out), want, rtol=1e-5, atol=1e-7)
    csv = str(tmp_path / "all.csv")
    assert main(["export", CNN, "--layer", "-1", "--all", "--batch-size", "77", "-o", csv]) == 0
    # Batches of another size may round differently in the GEMM: float32 tolerance.
    np.testing.assert_allclose(np.loadtxt(csv, delimiter=",", skiprows=1), want, rtol=1e-5, atol=1e-7)


def test_samples_from_another_file(tmp_path):
    raw = embedded_samples(CNN)
    np.save(tmp_path / "digits.npy", np.stack([raw.raw(i) for i in range(5)])[:, 0])  # (5, 8, 8)
    out = str(tmp_path / "a.npy")
    assert main(["export", CNN, "--layer", "input", "--samples", str(tmp_path / "digits.npy"),
                 "--sample", "3", "-o", out]) == 0
    np.testing.assert_allclose(np.load(out), raw.batch([3])[0])


def _run(*args):
    return subprocess.run([sys.executable, os.path.join(ROOT, "main.py"), *args],
                          capture_output=True, text=True, cwd=ROOT)


@pytest.mark.parametrize("args,message", [
    (["info", "missing.h5"], "error: missing.h5: no such file"),
    (["render", CNN, "--layer", "nope", "-o", "x.png"],
     f"error: {CNN}: the net has no layer named 'nope' (layers: input, conv1, bn1,"),
    (["render", CNN, "--layer", "99", "-o", "x.png"],
     f"error: {CNN}: layer index 99 is out of range: the net has 15 layers"),
    (["render", CNN, "--layer", "1", "--sample", "540", "-o", "x.png"],
     "error: sample 540 is out of range: there are 540 samples"),
    (["render", CNN, "--layer", "1", "-o", "x.gif"], "error: x.gif: cannot write .gif; use .png, .svg, .pdf"),
    (["render", CNN, "-o", "x.png"], "main.py render: error: the following arguments are required: --layer/-l"),
    (["export", CNN, "--layer", "1", "-o", "x.npy"],
     "main.py export: error: one of the arguments --sample/-i --all is required"),
    (["info", os.path.join(ROOT, "README.md")], f"error: {os.path.join(ROOT, 'README.md')}: not an HDF5 file"),
    (["missing.h5"], "error: missing.h5: no such file or folder"),
])
def test_bad_input_is_one_line_and_exit_code_2(args, message):
    done = _run(*args)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith(message)
    assert not os.path.exists(os.path.join(ROOT, "x.png"))


def test_samples_that_do_not_fit(tmp_path):
    np.save(tmp_path / "wrong.npy", np.zeros((4, 28, 28), np.float32))
    done = _run("render", CNN, "--layer", "1", "--samples", str(tmp_path / "wrong.npy"), "-o",
                str(tmp_path / "x.png"))
    assert done.returncode == 2
    assert done.stderr == (f"error: {tmp_path / 'wrong.npy'}: samples have shape (28, 28) but the net "
                           "expects (1, 8, 8)\n")


def test_version():
    done = _run("--version")
    assert done.returncode == 0 and done.stdout.startswith("Strata ")


def test_convert_embeds_samples_that_then_open(tmp_path, capsys):
    model = os.path.join(ROOT, "tests", "fixtures", "keras3_cnn.keras")
    raw = np.random.default_rng(3).integers(0, 256, size=(12, 10, 10, 3)).astype(np.uint8)
    np.save(tmp_path / "x.npy", raw)
    out = str(tmp_path / "net.h5")
    assert main(["convert", model, "-o", out, "--samples", str(tmp_path / "x.npy"),
                 "--max-samples", "5", "--preprocess", '{"scale": 0.5}']) == 0
    assert "embedded 5 samples from" in capsys.readouterr().out
    samples = embedded_samples(out)
    assert len(samples) == 5 and samples.preprocess.scale == 0.5
    np.testing.assert_array_equal(samples.raw_batch([4, 0]), raw[[4, 0]])
    np.testing.assert_allclose(samples.batch([1]), raw[1:2] * 0.5)


def test_convert_refuses_samples_that_do_not_fit(tmp_path):
    model = os.path.join(ROOT, "tests", "fixtures", "keras3_cnn.keras")
    np.save(tmp_path / "x.npy", np.zeros((3, 8, 8, 3), np.float32))
    done = _run("convert", model, "-o", str(tmp_path / "net.h5"), "--samples", str(tmp_path / "x.npy"))
    assert done.returncode == 2
    assert done.stderr == (f"error: {tmp_path / 'x.npy'}: samples have shape (8, 8, 3) but the net "
                           "expects (10, 10, 3)\n")
    assert not os.path.exists(tmp_path / "net.h5")


@pytest.mark.parametrize("model", ["onnx_cnn_op17.onnx", "onnx_cnn_op20.onnx", "keras3_cnn.keras"])
def test_converted_files_open_again(tmp_path, capsys, model):
    out = str(tmp_path / "net.h5")
    assert main(["convert", os.path.join(ROOT, "tests", "fixtures", model), "-o", out]) == 0
    capsys.readouterr()
    assert main(["info", out]) == 0
    assert "layers" in capsys.readouterr().out.splitlines()[0]


@pytest.mark.parametrize("args,message", [
    (["render", CNN, "--layer", "1", "-o", "/nonexistent-dir/x.png"],
     "error: /nonexistent-dir/x.png: the folder /nonexistent-dir does not exist"),
    (["render", CNN, "--layer", "1", "--kind", "histogram", "--bins", "0", "-o", "x.png"],
     "error: --bins must be at least 1, not 0"),
    (["export", CNN, "--layer", "1", "--all", "-o", "/nonexistent-dir/x.npy"],
     "error: /nonexistent-dir/x.npy: the folder /nonexistent-dir does not exist"),
    (["export", CNN, "--layer", "1", "--sample", "0", "--dataset", "X", "-o", "x.npy"],
     "error: --dataset needs --samples FILE"),
    (["sweep", CNN, "--layer", "1", "-o", "/proc/strata-sweep"], "error: /proc/strata-sweep: cannot create the folder"),
    (["convert", os.path.join(ROOT, "tests", "fixtures", "keras3_cnn.keras"), "-o", "x.h5",
      "--preprocess", '{"scale": 2}'], "error: --preprocess only apply with --samples FILE"),
])
def test_more_bad_input_is_one_line_and_exit_code_2(args, message):
    done = _run(*args)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith(message)


def test_convert_never_overwrites_its_source(tmp_path):
    model = tmp_path / "model.h5"
    model.write_bytes(Path(ROOT, "tests", "fixtures", "keras3_cnn.h5").read_bytes())
    before = model.read_bytes()
    done = _run("convert", str(model), "-o", str(model))
    assert done.returncode == 2
    assert done.stderr == f"error: {model}: is the model being converted; choose another output\n"
    assert model.read_bytes() == before


def test_a_reader_that_stops_early_ends_the_command_quietly():
    # ``main.py info NET | head -1``: the reader has gone when the command writes (here it is
    # gone before the command starts); the command ends without a traceback.
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run([sys.executable, os.path.join(ROOT, "main.py"), "info",
                               os.path.join(ROOT, "resources", "demo", "mnist_cnn.h5")],
                              stdout=write_end, stderr=subprocess.PIPE, cwd=ROOT, timeout=60)
    finally:
        os.close(write_end)
    assert done.stderr.decode() == "" and done.returncode == 141
