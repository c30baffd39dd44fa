"""Image readers and the pixel scaling: layouts round-trip, uint8 in is uint8 out, bad files are one
line naming the file."""

import numpy as np
import pytest
from PIL import Image

from difflab.data.images import (
    PixelScaler,
    image_mask,
    load_images,
    pixel_range,
    read_image_folder,
    to_nchw,
)
from difflab.errors import DifflabError


def test_pixel_scaling_round_trips_uint8_exactly():
    v = np.arange(256, dtype=np.uint8).reshape(4, 1, 8, 8)
    s = pixel_range(v, "x")
    assert s == PixelScaler(0.0, 255.0, True)
    x = s.forward(v)
    assert x.min() == -1.0 and x.max() == 1.0
    assert np.array_equal(s.inverse(x).astype(np.uint8), v)
    # and a model's output slightly off the grid comes back to the nearest level, within range
    assert np.array_equal(s.inverse(x + 0.003).astype(np.uint8), v)
    assert s.inverse(np.array([-1.5, 1.5])).tolist() == [0.0, 255.0]


def test_known_ranges():
    assert pixel_range(np.array([[0, 16]]), "d") == PixelScaler(0.0, 16.0, True)
    assert pixel_range(np.array([[0.0, 0.5]]), "f") == PixelScaler(0.0, 1.0, False)
    with pytest.raises(DifflabError, match="negative"):
        pixel_range(np.array([[-1.0, 0.5]]), "n")


@pytest.mark.parametrize("layout", ["NHW", "NHWC", "NCHW"])
def test_array_layouts(layout, tmp_path):
    base = np.random.default_rng(0).integers(0, 256, (5, 3, 6, 7)).astype(np.uint8)  # N C H W
    arr = {"NHW": base[:, 0], "NHWC": base.transpose(0, 2, 3, 1), "NCHW": base}[layout]
    np.save(tmp_path / "x.npy", arr)
    ims = load_images(str(tmp_path / "x.npy"), split=None)
    want = base[:, :1] if layout == "NHW" else base
    assert np.array_equal(ims.pixels, want) and ims.scaler.hi == 255.0


def _png(path, array):
    Image.fromarray(array).save(path)


def test_folder_with_class_subfolders(tmp_path):
    rng = np.random.default_rng(1)
    for name, count in [("cat", 2), ("dog", 3)]:
        (tmp_path / name).mkdir()
        for i in range(count):
            _png(tmp_path / name / f"{i}.png", rng.integers(0, 256, (6, 5), dtype=np.uint8))
    ims = read_image_folder(tmp_path)
    assert ims.pixels.shape == (5, 1, 6, 5) and ims.classes == ["cat", "dog"]
    assert ims.labels.tolist() == [0, 0, 1, 1, 1]
    first = np.asarray(Image.open(tmp_path / "cat" / "0.png"))
    assert np.array_equal(ims.pixels[0, 0], first)  # exact pixels, nothing resampled


@pytest.mark.parametrize(
    "case,needle",
    [
        ("corrupt", "not a readable image"),
        ("sizes", "give --image-size"),
        ("grey-rgb", "convert them to one kind"),
        ("empty-class", "empty class folder"),
    ],
)
def test_bad_folders(tmp_path, case, needle):
    (tmp_path / "a").mkdir()
    _png(tmp_path / "a" / "0.png", np.zeros((6, 6), dtype=np.uint8))
    if case == "corrupt":
        (tmp_path / "a" / "1.png").write_bytes(b"not a png")
    elif case == "sizes":
        _png(tmp_path / "a" / "1.png", np.zeros((7, 6), dtype=np.uint8))
    elif case == "grey-rgb":
        _png(tmp_path / "a" / "1.png", np.zeros((6, 6, 3), dtype=np.uint8))
    else:
        (tmp_path / "b").mkdir()
    with pytest.raises(DifflabError, match=needle):
        read_image_folder(tmp_path)


def test_image_size_resizes_a_mixed_folder(tmp_path):
    _png(tmp_path / "0.png", np.full((6, 6), 200, dtype=np.uint8))
    _png(tmp_path / "1.png", np.full((9, 7), 100, dtype=np.uint8))
    ims = read_image_folder(tmp_path, image_size=8)
    assert ims.pixels.shape == (2, 1, 8, 8)
    assert np.allclose(ims.pixels[0], 200) and np.allclose(ims.pixels[1], 100)  # constants stay


def test_builtin_sets_ship_offline():
    d = load_images("digits")
    test = load_images("digits", split="test")
    assert d.pixels.shape[1:] == (1, 8, 8) and len(d.pixels) + len(test.pixels) == 1797
    assert d.scaler == PixelScaler(0.0, 16.0, True) and sorted(set(d.labels)) == list(range(10))
    f = load_images("faces", split=None)
    assert f.pixels.shape == (100, 1, 25, 25) and 0 <= f.pixels.min() and f.pixels.max() <= 1


def test_masks():
    m = image_mask("left-half", (1, 4, 5))
    assert m[0].tolist() == [[False, False, True, True, True]] * 4
    assert image_mask("center", (1, 8, 8)).sum() == 64 - 16
    with pytest.raises(DifflabError, match="expected one of"):
        image_mask("middle", (1, 4, 4))


def test_channel_axis_must_be_clear():
    with pytest.raises(DifflabError, match="channel axis"):
        to_nchw(np.zeros((2, 5, 6, 7)), "x")


def test_16_bit_images_keep_their_levels(tmp_path):
    """A 16-bit PNG read as 8-bit was clipped to 255: all white. Its levels come back exactly,
    scaled by 0–65535; streaming reads the same."""
    from difflab.data.stream import open_stream

    rng = np.random.default_rng(0)
    deep = [rng.integers(0, 65536, (6, 6), dtype=np.uint16) for _ in range(5)]
    for i, a in enumerate(deep):
        Image.fromarray(a).save(tmp_path / f"{i}.png")
    ims = read_image_folder(tmp_path)
    assert ims.scaler == PixelScaler(0.0, 65535.0, True)
    assert np.array_equal(ims.pixels[:, 0], np.stack(deep).astype(np.float64))
    stream = open_stream(str(tmp_path), split=None)
    assert stream.scaler == ims.scaler and np.array_equal(stream.pixels(3)[0], deep[3])
    _png(tmp_path / "5.png", np.zeros((6, 6), dtype=np.uint8))
    with pytest.raises(DifflabError, match="5.png: 8-bit among 16-bit images"):
        read_image_folder(tmp_path)


def test_palette_and_cmyk_images_and_other_files(tmp_path):
    """A grey GIF (a palette of greys) is grey; a CMYK JPEG among grey images is named as what it
    is; a file that is not an image is skipped with a warning naming it."""
    from difflab.errors import DifflabWarning

    _png(tmp_path / "0.png", np.full((6, 6), 10, dtype=np.uint8))
    Image.fromarray(np.full((6, 6), 200, dtype=np.uint8)).convert("P").save(tmp_path / "1.gif")
    (tmp_path / "notes.txt").write_text("not an image")
    with pytest.warns(DifflabWarning, match=r"skipped 1 file\(s\) that are not images \(notes"):
        ims = read_image_folder(tmp_path)
    assert ims.pixels.shape == (2, 1, 6, 6) and ims.pixels[1].max() == 200
    Image.new("CMYK", (6, 6)).save(tmp_path / "2.jpg")
    with pytest.raises(DifflabError, match=r"2.jpg: colour \(mode CMYK\) among grey images"):
        read_image_folder(tmp_path)
