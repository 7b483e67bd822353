"""``python main.py featurevis``: files written, what it prints, one line and exit 2 on errors."""

import zlib

import numpy as np
import pytest

from viewer.analysis.attribution.target import Target
from viewer.analysis.featurevis import Settings, input_mean, visualise
from viewer.cli import main
from viewer.featurevis_command import write_png
from viewer.net import load
from viewer.session import choose_samples, open_net

MNIST = "resources/demo/mnist_cnn.h5"
MLP = "resources/demo/digits_mlp.h5"


def _png(path):
    """(width, height, colour type, pixel rows) of an 8-bit PNG written in one IDAT chunk."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    colour = data[25]
    start = data.index(b"IDAT") + 4
    length = int.from_bytes(data[start - 8:start - 4], "big")
    raw = np.frombuffer(zlib.decompress(data[start:start + length]), np.uint8)
    channels = 3 if colour == 2 else 1
    rows = raw.reshape(height, 1 + width * channels)
    assert np.all(rows[:, 0] == 0)   # filter type none
    return width, height, colour, rows[:, 1:].reshape(height, width, channels)


def test_a_channel_as_npy_is_the_library_image(tmp_path, capsys):
    out = tmp_path / "c3.npy"
    assert main(["featurevis", MNIST, "--layer", "conv2", "--channel", "3", "--steps", "5",
                 "--seed", "2", "-o", str(out)]) == 0
    image = np.load(out)
    # The start is around the samples' mean input, the dark background of the digits.
    net, own = open_net(MNIST)
    centre = input_mean(net, choose_samples(net, own, None)[0])
    assert 0.05 < centre[0] < 0.3
    want = visualise(load(MNIST), Target(layer="conv2", unit=3), Settings(steps=5, seed=2),
                     low=0.0, high=1.0, centre=centre)
    np.testing.assert_allclose(image, want.image, atol=1e-6)
    said = capsys.readouterr().out.strip()
    assert said == (f"wrote {out}: unit 3 of conv2, 5 steps, activation "
                    f"{want.start[0]:.4g} -> {want.final[0]:.4g}")


def test_a_gallery_png_is_a_mosaic_of_every_channel(tmp_path, capsys):
    out = tmp_path / "conv1.png"
    assert main(["featurevis", MNIST, "--layer", "conv1", "--steps", "2", "-o", str(out)]) == 0
    width, height, colour, pixels = _png(out)
    # 16 channels of 28x28 in 4 columns and 4 rows with 1-pixel gaps: 115 x 115, enlarged
    # by 2 to reach 224.
    assert (width, height, colour) == (230, 230, 0)
    assert np.all(pixels[56:58, :, 0] == 255)   # the white gap between the first two rows
    assert "16 channels of conv1, 2 steps" in capsys.readouterr().out


def test_a_class_and_a_dream(tmp_path, capsys):
    assert main(["featurevis", MNIST, "--class", "7", "--steps", "3", "-o",
                 str(tmp_path / "seven.npy")]) == 0
    assert np.load(tmp_path / "seven.npy").shape == (1, 28, 28)
    assert "unit 7 of fc, 3 steps" in capsys.readouterr().out
    assert main(["featurevis", MNIST, "--layer", "conv2", "--dream", "--sample", "4",
                 "--octaves", "2", "--steps", "2", "-o", str(tmp_path / "dream.npy")]) == 0
    dream = np.load(tmp_path / "dream.npy")
    assert dream.shape == (1, 28, 28) and 0 <= dream.min() and dream.max() <= 1
    assert "activation norm of conv2, 4 steps" in capsys.readouterr().out


def test_a_vector_input_is_drawn_as_one_row(tmp_path):
    out = tmp_path / "mlp.png"
    assert main(["featurevis", MLP, "--layer", "1", "--channel", "0", "--steps", "2",
                 "-o", str(out)]) == 0
    width, height, _, _ = _png(out)
    assert (width, height) == (64 * 4, 4)   # 64 features, enlarged until 224 wide


def test_write_png_keeps_colour_and_grey(tmp_path):
    colour = np.random.default_rng(0).random((2, 3, 3))
    write_png(str(tmp_path / "c.png"), colour)
    width, height, kind, pixels = _png(tmp_path / "c.png")
    assert (width, height, kind) == (3, 2, 2)
    np.testing.assert_array_equal(pixels, np.round(colour * 255))
    grey = np.array([[0.0, 0.5, 1.0]])
    write_png(str(tmp_path / "g.png"), grey)
    assert _png(tmp_path / "g.png")[2:3] == (0,)
    np.testing.assert_array_equal(_png(tmp_path / "g.png")[3][..., 0], [[0, 128, 255]])


@pytest.mark.parametrize("args, message", [
    (["--layer", "conv2", "--channel", "99"], "unit 99 is out of range: layer 'conv2' has 32 "
                                              "units (0..31)"),
    (["--layer", "nope", "--channel", "0"], "the net has no layer named 'nope'"),
    (["--channel", "0"], "say what to visualise: --layer L [--channel C | --dream] or --class K"),
    (["--class", "3", "--layer", "fc"], "--class is a class of the last layer; leave out --layer"),
    (["--layer", "conv2", "--steps", "-3", "--channel", "0"], "steps must be at least 1, not -3"),
    (["--layer", "conv2", "--dream", "--sample", "9999"], "sample 9999 is out of range"),
])
def test_bad_arguments_are_one_line_and_exit_2(tmp_path, capsys, args, message):
    assert main(["featurevis", MNIST, *args, "-o", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


def test_bad_output_files_are_refused(tmp_path, capsys):
    assert main(["featurevis", MNIST, "--layer", "conv2", "--channel", "0",
                 "-o", str(tmp_path / "x.jpg")]) == 2
    assert "cannot write .jpg; use .png or .npy" in capsys.readouterr().err
    assert main(["featurevis", MNIST, "--layer", "conv2", "--channel", "0",
                 "-o", str(tmp_path / "no" / "x.png")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_colour_images_follow_the_samples_colours_unless_told_not_to(tmp_path, capsys):
    # A unit that likes red and dislikes green, and grey samples: by default the ascent moves
    # along the samples' one colour axis (brightness) and the image stays grey; with
    # --no-decorrelate red and green part.
    from viewer.net import Net
    from viewer.net.layers import Conv2D, Input
    from viewer.net.store import save
    W = np.zeros((1, 3, 3, 3))
    W[0, 0], W[0, 1] = 1.0, -1.0
    inp = Input(shape=(8, 8, 3), name="in", data_format="channels_last")
    save(Net([inp, Conv2D(inp, name="c", W=W, padding="same", data_format="channels_last")]),
         tmp_path / "rgb.h5")
    rng = np.random.default_rng(0)
    grey = np.repeat(rng.uniform(size=(16, 8, 8, 1)), 3, axis=3).astype(np.float32)
    np.save(tmp_path / "grey.npy", grey)
    spreads = []
    for extra in ([], ["--no-decorrelate"]):
        out = tmp_path / f"c{len(extra)}.npy"
        assert main(["featurevis", str(tmp_path / "rgb.h5"), "--samples", str(tmp_path / "grey.npy"),
                     "--layer", "c", "--channel", "0", "--steps", "32", "--preprocess", "none",
                     "-o", str(out)] + extra) == 0
        image = np.load(out)
        spreads.append(np.abs(image[..., 0] - image[..., 1]).mean())
    assert spreads[0] < 0.02 < 0.3 < spreads[1]


def test_a_net_without_samples_grows_its_image_in_0_to_1_and_says_so(tmp_path, capsys):
    from viewer.net import Net
    from viewer.net.layers import Conv2D, Input
    from viewer.net.store import save
    inp = Input(shape=(1, 8, 8), name="in", data_format="channels_first")
    save(Net([inp, Conv2D(inp, name="c", W=np.ones((2, 1, 3, 3)), padding="same",
                          data_format="channels_first")]), tmp_path / "bare.h5")
    out = tmp_path / "c.npy"
    assert main(["featurevis", str(tmp_path / "bare.h5"), "--layer", "c", "--channel", "1",
                 "--steps", "16", "-o", str(out)]) == 0
    said = capsys.readouterr()
    assert "has no samples of its own and none were given: the image grows in 0..1" in said.err
    image = np.load(out)
    want = visualise(load(str(tmp_path / "bare.h5")), Target(layer="c", unit=1),
                     Settings(steps=16), low=0.0, high=1.0)
    np.testing.assert_allclose(image, want.image, atol=1e-6)
    assert 0 <= image.min() and image.max() <= 1 and image.mean() > 0.6   # brighter than its grey start
    assert main(["featurevis", str(tmp_path / "bare.h5"), "--layer", "c", "--dream",
                 "-o", str(out)]) == 2
    assert "has no embedded samples; give a samples file with --samples" in capsys.readouterr().err


def test_a_net_of_any_input_size_grows_at_its_samples_size(tmp_path):
    from viewer.net import Net
    from viewer.net.layers import Conv2D, Input
    from viewer.net.store import save
    inp = Input(shape=(1, None, None), name="in", data_format="channels_first")
    save(Net([inp, Conv2D(inp, name="c", W=np.ones((2, 1, 3, 3)), padding="same",
                          data_format="channels_first")]), tmp_path / "any.h5",
         samples={"X": np.random.default_rng(3).uniform(size=(4, 1, 12, 10)).astype(np.float32),
                  "layout": "channels_first"})
    out = tmp_path / "c.npy"
    assert main(["featurevis", str(tmp_path / "any.h5"), "--layer", "c", "--channel", "0",
                 "--steps", "4", "-o", str(out)]) == 0
    assert np.load(out).shape == (1, 12, 10)
