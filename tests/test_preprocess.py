"""Preprocessing that is seen and chosen: the object, the proposals, the warnings, the routes."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from viewer.cli import main
from viewer.data import embedded_samples, open_samples
from viewer.data.preprocess import Preprocess, preprocess_option
from viewer.data.proposal import Range, choose, mapped, nominal_range
from viewer.errors import SampleError
from viewer.net import load
from viewer.session import choose_samples, open_net

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CNN = os.path.join(ROOT, "resources", "demo", "digits_cnn.h5")


def message(excinfo):
    return str(excinfo.value)


@pytest.fixture(scope="module")
def demo():
    """The demo CNN, its embedded samples (raw 0..16, x / 16) and their predictions."""
    net, own = open_net(CNN)
    raw = own.raw_batch(np.arange(len(own)))  # (540, 1, 8, 8) uint8
    predicted = net[-1](own.batch(np.arange(len(own)))).argmax(axis=1)
    return net, own, raw, predicted


def predictions(net, samples):
    return net[-1](samples.batch(np.arange(len(samples)))).argmax(axis=1)


# ---------------------------------------------------------------- the object

@pytest.mark.parametrize("spec, text", [
    ({}, "x (unchanged)"),
    ({"scale": 0.0625}, "x / 16"),
    ({"scale": 1 / 255}, "x / 255"),
    ({"scale": 3.0}, "x * 3"),
    ({"scale": 1 / 255, "mean": 0.5, "std": 0.25}, "(x / 255 - 0.5) / 0.25"),
    ({"scale": 1 / 255, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]},
     "(x / 255 - mean) / std, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)"),
    ({"channel_order": "BGR"}, "x (unchanged); channels BGR (red and blue swapped)"),
])
def test_plain_description(spec, text):
    assert Preprocess.from_spec(spec, (3, 4, 4), "channels_first", "f").describe() == text


def test_description_of_the_resize_policy_for_images():
    p = Preprocess.from_spec({"scale": 1 / 255, "resize": "crop"}, (1, 8, 8), "channels_first", "f")
    assert p.describe(images=True) == "x / 255; images of another size centre-cropped"
    assert p.describe() == "x / 255"


def test_json_round_trip_keeps_only_what_differs_from_the_defaults():
    p = Preprocess.from_spec({"scale": 0.5, "mean": [1, 2, 3], "resize": "nearest"},
                             (4, 4, 3), "channels_last", "f")
    assert p.to_dict() == {"scale": 0.5, "mean": [1.0, 2.0, 3.0], "std": 1.0, "resize": "nearest"}
    assert Preprocess.from_spec(json.loads(p.to_json()), (4, 4, 3), "channels_last", "f") == p


@pytest.mark.parametrize("layout, shape, axis", [("channels_first", (2, 3, 4, 5), 1),
                                                 ("channels_last", (2, 4, 5, 3), 3)])
def test_bgr_swaps_red_and_blue_before_the_arithmetic(layout, shape, axis):
    raw = np.random.default_rng(0).integers(0, 256, shape).astype(np.uint8)
    mean = [10.0, 20.0, 30.0]
    p = Preprocess.from_spec({"channel_order": "BGR", "scale": 0.5, "mean": mean},
                             shape[1:], layout, "f")
    bshape = [1] * 4
    bshape[axis] = 3
    want = np.flip(raw.astype(np.float32), axis=axis) * 0.5 - np.reshape(mean, bshape)
    np.testing.assert_allclose(p.apply(raw, layout), want, rtol=1e-6)


@pytest.mark.parametrize("spec, problem", [
    ({"channel_order": "GBR"}, "preprocess 'channel_order' must be one of RGB, BGR, not 'GBR'"),
    ({"resize": "stretch"}, "preprocess 'resize' must be one of bilinear, bicubic, lanczos, box, "
                            "nearest, crop, refuse, not 'stretch'"),
    ({"channel_order": "BGR"}, "preprocess channel_order BGR needs 3 channels; the samples have 1 "
                               "(layout channels_first, shape (1, 8, 8))"),
])
def test_bad_specs_name_the_file_and_the_problem(spec, problem):
    with pytest.raises(SampleError) as e:
        Preprocess.from_spec(spec, (1, 8, 8), "channels_first", "net.h5")
    assert message(e) == f"net.h5: {problem}"


def test_preprocess_option_takes_json_or_none():
    assert preprocess_option("none") == {} and preprocess_option(" None ") == {}
    assert preprocess_option('{"scale": 2}') == {"scale": 2}
    with pytest.raises(SampleError) as e:
        preprocess_option("[1, 2]")
    assert message(e).startswith("--preprocess must be a JSON object")
    with pytest.raises(SampleError) as e:
        preprocess_option("{scale: 2}")
    assert message(e).startswith("--preprocess is not valid JSON (")


# ---------------------------------------------------------------- proposals

def test_nominal_ranges(tmp_path):
    def nominal(values):
        np.save(tmp_path / "x.npy", np.asarray(values))
        s = open_samples(str(tmp_path / "x.npy"))
        return nominal_range(s, Range(float(np.min(values)), float(np.max(values))))
    assert nominal(np.float32([[0.0, 0.7]])) == Range(0, 1)
    assert nominal(np.uint8([[0, 12]])) == Range(0, 16)
    assert nominal(np.uint8([[3, 200]])) == Range(0, 255)
    assert nominal(np.float32([[-0.5, 1.0]])) == Range(-1, 1)
    assert nominal(np.float32([[-3.0, 2.0]])) is None
    assert nominal(np.uint16([[0, 4000]])) == Range(0, 65535)


def test_mapped_keeps_the_per_channel_arithmetic():
    stored = Preprocess(scale=1.0, mean=(0.5, 0.4, 0.3), std=(0.2, 0.2, 0.2))
    p = mapped(stored, Range(0, 255), Range(-1, 1))  # x' = x * 2/255 - 1
    x = np.float64([0, 100, 255])
    for c in range(3):
        want = ((x * 2 / 255 - 1) - stored.mean[c]) / stored.std[c]
        np.testing.assert_allclose((x * p.scale - p.mean[c]) / p.std[c], want)


@pytest.mark.parametrize("route, make, proposal", [
    ("float 0..1", lambda raw: (raw / 16).astype(np.float32), "x (unchanged)"),
    ("uint8 0..255", lambda raw: np.round(raw * (255 / 16)).astype(np.uint8), "x / 255"),
    ("uint8 0..16", lambda raw: raw, "x / 16"),
    ("float64 0..16", lambda raw: raw.astype(np.float64), "x / 16"),
])
def test_every_route_gives_the_embedded_samples_predictions(tmp_path, demo, route, make, proposal):
    net, own, raw, predicted = demo
    path = str(tmp_path / "digits.npz")
    np.savez(path, X=make(raw[:, 0]), labels=own.labels)
    samples, choice = choose_samples(net, own, path)
    assert choice.how == "proposed" and choice.description == proposal
    assert choice.warnings == ()
    assert str(choice.net_input) == "0..1" and str(choice.reference) == "0..1"
    got = predictions(net, samples)
    if route == "uint8 0..255":  # rounded to 8 bits: the input differs by up to 1/510
        assert (got == predicted).mean() >= 0.99
        assert (got == own.labels).mean() == pytest.approx((predicted == own.labels).mean(), abs=0.005)
    else:
        np.testing.assert_array_equal(got, predicted)


def test_the_reason_says_what_was_chosen_and_why(tmp_path, demo):
    net, own, raw, _ = demo
    np.save(tmp_path / "f.npy", (raw / 16).astype(np.float32))
    _, choice = choose_samples(net, own, str(tmp_path / "f.npy"))
    assert choice.reason == (f"{tmp_path / 'f.npy'}: preprocessing x (unchanged) (float32 values "
                             f"0..1; the net's own samples are uint8 values 0..16 with x / 16: "
                             f"0..1 mapped onto their 0..16)")


def png_folder(folder, raw, labels, size=None):
    """The demo's digits as 8-bit PNGs (0..16 -> 0..255), one subfolder per class."""
    for i, (pixels, label) in enumerate(zip(raw[:, 0], labels)):
        os.makedirs(folder / str(label), exist_ok=True)
        img = Image.fromarray(np.round(pixels * (255 / 16)).astype(np.uint8), "L")
        img.resize(size, Image.NEAREST).save(folder / str(label) / f"{i}.png") if size else \
            img.save(folder / str(label) / f"{i}.png")
    return str(folder)


def test_png_folder_of_the_demo_digits_reaches_the_demo_accuracy(tmp_path, demo):
    net, own, raw, predicted = demo
    folder = png_folder(tmp_path / "digits", raw, own.labels)
    samples, choice = choose_samples(net, own, folder)
    assert samples.label_names == [str(d) for d in range(10)]
    assert choice.description == "x / 255; images of another size resized (bilinear)"
    assert choice.warnings == ()
    accuracy = (predictions(net, samples) == samples.labels).mean()
    assert accuracy == pytest.approx((predicted == own.labels).mean(), abs=0.005)
    assert accuracy >= 0.95


def test_without_samples_of_its_own_8_bit_data_becomes_0_to_1(tmp_path, demo):
    net, _, raw, _ = demo
    np.save(tmp_path / "u8.npy", np.round(raw * (255 / 16)).astype(np.uint8))
    samples, choice = choose_samples(net, None, str(tmp_path / "u8.npy"))
    assert choice.description == "x / 255" and choice.reference is None
    assert "no samples of its own to compare with" in choice.reason
    np.save(tmp_path / "z.npy", np.float32(raw) - 8)
    _, choice = choose_samples(net, None, str(tmp_path / "z.npy"))
    assert choice.description == "x (unchanged)"


def test_a_transform_the_file_states_wins_over_a_proposal(tmp_path, demo):
    import h5py
    net, own, raw, _ = demo
    with h5py.File(tmp_path / "s.h5", "w") as f:
        f["X"] = np.round(raw * (255 / 16)).astype(np.uint8)
        f["X"].attrs["preprocess"] = json.dumps({"scale": 1 / 200})
    samples, choice = choose_samples(net, own, str(tmp_path / "s.h5"))
    assert choice.how == "file" and choice.description == "x / 200"
    assert choice.warnings == ()  # 0..1.275 is within 4x of 0..1


def test_a_far_range_warns_naming_both_ranges(tmp_path, demo):
    net, own, _, _ = demo
    samples, choice = choose_samples(net, own, None, preprocess={})
    assert choice.how == "given" and str(choice.net_input) == "0..16"
    assert choice.warnings == (f"{CNN}: the net input ranges 0..16 after preprocessing "
                               f"(x (unchanged)), 16x off the 0..1 the net's own samples give; "
                               f"check the preprocessing",)
    _, choice = choose_samples(net, own, None, preprocess={"scale": 0.125})  # 0..2: within 4x
    assert choice.warnings == ()


def test_resized_images_warn_naming_both_sizes(tmp_path, demo):
    net, own, raw, _ = demo
    folder = png_folder(tmp_path / "big", raw[:20], own.labels[:20], size=(28, 28))
    samples, choice = choose_samples(net, own, folder)
    assert choice.warnings == (f"{folder}: images of 28x28 resized (bilinear) to 8x8 "
                               f"to fit the net's input",)
    _, choice = choose_samples(net, own, folder, preprocess={"scale": 1 / 255, "resize": "box"})
    assert choice.warnings == (f"{folder}: images of 28x28 resized (box) to 8x8 to fit the net's input",)


def test_a_folder_of_mixed_sizes_warns_naming_the_sizes_that_do_not_fit(tmp_path, monkeypatch):
    # The first image already fits: before, the others were resized without a word.
    folder = tmp_path / "mixed"
    folder.mkdir()
    sizes = [(8, 8), (8, 8), (12, 10), (8, 8), (30, 20), (16, 16), (24, 24), (9, 9)]
    for i, size in enumerate(sizes):
        Image.fromarray(np.zeros(size[::-1], np.uint8), "L").save(folder / f"{i}.png")
    opened = open_samples(str(folder), input_shape=(1, 8, 8))
    assert opened.resize_note == "images of 12x10, 30x20, 16x16 and others resized (bilinear) to 8x8"
    fitting = tmp_path / "fitting"
    fitting.mkdir()
    for i in range(3):
        Image.fromarray(np.zeros((8, 8), np.uint8), "L").save(fitting / f"{i}.png")
    assert open_samples(str(fitting), input_shape=(1, 8, 8)).resize_note is None
    # A big folder: the sizes come from a spread of its headers, and the note says so.
    from viewer.data import images
    monkeypatch.setattr(images, "SIZE_CHECKS", 3)
    opened = open_samples(str(folder), input_shape=(1, 8, 8))
    assert opened.resize_note == ("images of 30x20, 9x9 resized (bilinear) to 8x8 (sizes read "
                                  "from 3 of the 8 images)")     # images 0, 4 and 7


def test_resize_policies(tmp_path):
    pixels = np.random.default_rng(4).integers(0, 256, (12, 10), dtype=np.uint8)
    Image.fromarray(pixels, "L").save(tmp_path / "a.png")
    path = str(tmp_path / "a.png")
    crop = open_samples(path, input_shape=(1, 8, 8), preprocess={"resize": "crop"})
    np.testing.assert_array_equal(crop.raw(0)[0], pixels[2:10, 1:9])
    nearest = open_samples(path, input_shape=(1, 8, 8), preprocess={"resize": "nearest"})
    want = np.asarray(Image.fromarray(pixels, "L").resize((8, 8), Image.NEAREST))
    np.testing.assert_array_equal(nearest.raw(0)[0], want)
    refused = open_samples(path, input_shape=(1, 8, 8), preprocess={"resize": "refuse"})
    with pytest.raises(SampleError) as e:
        refused.raw(0)
    assert message(e) == (f"{path}: the image is 10x12 but the net takes 8x8, and the "
                          f"preprocessing refuses to resize (resize: refuse)")
    small = open_samples(path, input_shape=(1, 16, 16), preprocess={"resize": "crop"})
    with pytest.raises(SampleError) as e:
        small.raw(0)
    assert message(e) == (f"{path}: the image is 10x12, smaller than the net's 16x16: it cannot "
                          f"be centre-cropped; resize it instead")
    # changing the policy on an open set re-reads the images the new way
    np.testing.assert_array_equal(crop.with_preprocess({"resize": "nearest"}).raw(0), nearest.raw(0))


# ---------------------------------------------------------------- the command line

def _input_of(capsys, tmp_path, *extra):
    out = str(tmp_path / "x.npy")
    assert main(["export", CNN, "--layer", "input", "--sample", "7", "-o", out, *extra]) == 0
    return np.load(out), capsys.readouterr()


def test_preprocess_on_export(tmp_path, capsys, demo):
    _, _, raw, _ = demo
    x, _ = _input_of(capsys, tmp_path, "--preprocess", '{"scale": 0.125}')
    np.testing.assert_allclose(x, raw[7] * 0.125)
    x, out = _input_of(capsys, tmp_path, "--preprocess", "none")
    np.testing.assert_array_equal(x, raw[7].astype(np.float32))
    assert out.err.startswith(f"warning: {CNN}: the net input ranges 0..16 after preprocessing")
    x, out = _input_of(capsys, tmp_path)
    np.testing.assert_allclose(x, raw[7] / 16)
    assert out.err == ""  # the stored preprocessing of the net's own samples goes without saying


def test_preprocess_on_info(capsys):
    assert main(["info", CNN, "--preprocess", '{"scale": 0.125}']) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-4:] == [
        "samples: 540 embedded, each (1, 8, 8) (channels_first), labelled (10 classes)",
        "preprocessing: x / 8 (as given)",
        "values 0..16 -> net input 0..2 (the net's own samples give 0..1)",
        "output: a classifier, 10 classes, probabilities (the net ends in a softmax); "
        "classes 0, 1, 2, 3, 4, 5, 6, 7, 8, 9"]


def test_info_with_samples_shows_the_proposal(tmp_path, capsys, demo):
    _, own, raw, _ = demo
    np.savez(tmp_path / "u8.npz", X=np.round(raw * (255 / 16)).astype(np.uint8), labels=own.labels)
    assert main(["info", CNN, "--samples", str(tmp_path / "u8.npz")]) == 0
    out = capsys.readouterr()
    assert out.err == ""
    assert out.out.splitlines()[-3:-1] == [
        "preprocessing: x / 255 (uint8 values 0..255; the net's own samples are uint8 values "
        "0..16 with x / 16: 0..255 mapped onto their 0..16)",
        "values 0..255 -> net input 0..1 (the net's own samples give 0..1)"]


def test_preprocess_on_sweep_and_render(tmp_path, capsys, demo):
    _, _, raw, _ = demo
    assert main(["sweep", CNN, "--layer", "input", "--preprocess", '{"scale": 0.125}',
                 "-o", str(tmp_path / "sweep")]) == 0
    with open(tmp_path / "sweep" / "units.csv") as fh:
        mean = float(fh.read().splitlines()[1].split(",")[1])
    np.testing.assert_allclose(mean, (raw * 0.125).mean(), rtol=1e-6)
    assert main(["render", CNN, "--layer", "1", "--preprocess", "none",
                 "-o", str(tmp_path / "r.png")]) == 0
    assert "the net input ranges 0..16" in capsys.readouterr().err


def test_proposal_is_said_on_stderr(tmp_path, capsys, demo):
    _, own, raw, _ = demo
    np.save(tmp_path / "f.npy", (raw / 16).astype(np.float32))
    assert main(["export", CNN, "--layer", "input", "--samples", str(tmp_path / "f.npy"),
                 "--sample", "2", "-o", str(tmp_path / "x.npy")]) == 0
    err = capsys.readouterr().err
    assert err == (f"{tmp_path / 'f.npy'}: preprocessing x (unchanged) (float32 values 0..1; the "
                   f"net's own samples are uint8 values 0..16 with x / 16: 0..1 mapped onto "
                   f"their 0..16)\n")
    np.testing.assert_allclose(np.load(tmp_path / "x.npy"), raw[2] / 16)


@pytest.mark.parametrize("value, problem", [
    ('{"scale": 0.1, "mean": [1, 2]}', f"{CNN}: preprocess 'mean' has 2 values but the samples "
                                       f"have 1 channels"),
    ("{scale}", "--preprocess is not valid JSON"),
])
def test_bad_preprocess_is_one_line(capsys, value, problem):
    assert main(["export", CNN, "--layer", "0", "--sample", "0", "--preprocess", value,
                 "-o", "never.npy"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {problem}") and err.count("\n") == 1
    assert not os.path.exists("never.npy")


def test_convert_takes_the_same_preprocess_json(tmp_path, capsys):
    model = os.path.join(ROOT, "tests", "fixtures", "keras3_cnn.keras")
    raw = np.random.default_rng(3).integers(0, 256, size=(4, 10, 10, 3)).astype(np.uint8)
    np.save(tmp_path / "x.npy", raw)
    out = str(tmp_path / "net.h5")
    spec = '{"scale": 0.00392, "channel_order": "BGR", "resize": "crop"}'
    assert main(["convert", model, "-o", out, "--samples", str(tmp_path / "x.npy"),
                 "--preprocess", spec]) == 0
    stored = embedded_samples(out).preprocess
    assert stored.to_dict() == {"scale": 0.00392, "mean": 0.0, "std": 1.0, "channel_order": "BGR",
                                "resize": "crop"}
    np.testing.assert_allclose(embedded_samples(out).batch([1]), raw[1:2, ..., ::-1] * 0.00392,
                               rtol=1e-6)
    capsys.readouterr()
    assert main(["info", out]) == 0
    assert "preprocessing: x / 255.102; channels BGR (red and blue swapped) (the net's stored " \
           "preprocessing for its own samples)" in capsys.readouterr().out


def test_the_demo_is_unchanged_by_all_this(demo):
    net, own, raw, predicted = demo
    assert own.preprocess == Preprocess(scale=0.0625)
    np.testing.assert_array_equal(own.batch([0, 5]), raw[[0, 5]] / np.float32(16))
    assert (predicted == own.labels).mean() >= 0.95
    assert load(CNN)[-1](own.batch([3])).argmax() == predicted[3]
