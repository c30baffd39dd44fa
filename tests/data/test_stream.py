"""Streamed images are the same images as loaded ones: pixels, order, split, labels, errors."""

import numpy as np
import pytest
from PIL import Image

from difflab.data.images import load_images
from difflab.data.stream import collate, open_stream
from difflab.errors import DifflabError


def _folder(tmp_path, n_per_class=12, classes=("a", "b", "c"), size=(9, 7), seed=0):
    """Class sub-folders of random grey PNGs (W×H = size), returned with the pixel arrays."""
    rng = np.random.default_rng(seed)
    root = tmp_path / "imgs"
    for c in classes:
        (root / c).mkdir(parents=True)
        for i in range(n_per_class):
            arr = rng.integers(0, 256, size=size[::-1], dtype=np.uint8)
            Image.fromarray(arr).save(root / c / f"{i:03d}.png")
    return root


@pytest.mark.parametrize("split", ["train", "test", None])
def test_stream_of_a_folder_equals_the_loaded_folder(tmp_path, split):
    root = _folder(tmp_path)
    loaded = load_images(str(root), split=split)
    stream = open_stream(str(root), split=split)
    assert len(stream) == len(loaded) and stream.shape == loaded.shape == (1, 7, 9)
    assert stream.classes == loaded.classes and (stream.labels == loaded.labels).all()
    for i in range(len(stream)):
        x, y = stream[i]
        # the model's units: the loaded pixels scaled by the known 0–255 range, exactly
        assert np.array_equal(x.numpy(), loaded.scaler.forward(loaded.pixels[i]).astype(np.float32))
        assert y == loaded.labels[i]


def test_resized_stream_equals_resized_load(tmp_path):
    root = _folder(tmp_path, n_per_class=3, classes=("a",))
    Image.fromarray(np.zeros((5, 11), dtype=np.uint8)).save(root / "a" / "odd.png")
    loaded = load_images(str(root), image_size=6, split=None)
    stream = open_stream(str(root), image_size=6, split=None)
    assert stream.shape == (1, 6, 6)
    got = np.stack([stream[i][0].numpy() for i in range(len(stream))])
    assert np.array_equal(got, loaded.scaler.forward(loaded.pixels).astype(np.float32))


def test_memory_mapped_npy_equals_the_loaded_array(tmp_path):
    rng = np.random.default_rng(1)
    arr = rng.integers(0, 17, size=(40, 8, 8)).astype(np.int16)  # 17 levels: the range 0–16
    np.save(tmp_path / "a.npy", arr)
    loaded = load_images(str(tmp_path / "a.npy"))
    stream = open_stream(str(tmp_path / "a.npy"))
    assert stream.scaler == loaded.scaler and stream.scaler.hi == 16
    got = np.stack([stream[i][0].numpy() for i in range(len(stream))])
    assert np.array_equal(got, loaded.scaler.forward(loaded.pixels).astype(np.float32))


def test_header_errors_name_the_file_before_training(tmp_path):
    root = _folder(tmp_path, n_per_class=2, classes=("a", "b"))
    (root / "b" / "bad.png").write_bytes(b"not a png")
    with pytest.raises(DifflabError, match="bad.png: not a readable image"):
        open_stream(str(root))
    (root / "b" / "bad.png").unlink()
    Image.fromarray(np.zeros((7, 9, 3), dtype=np.uint8)).save(root / "b" / "rgb.png")
    with pytest.raises(DifflabError, match="rgb.png: RGB among grey"):
        open_stream(str(root))


def test_a_truncated_file_is_reported_when_decoded(tmp_path):
    root = _folder(tmp_path, n_per_class=2, classes=("a",))
    path = root / "a" / "001.png"
    path.write_bytes(path.read_bytes()[:60])  # the header survives, the pixels do not
    stream = open_stream(str(root), split=None)
    item = stream[1]
    assert isinstance(item, str) and "001.png" in item
    assert collate([stream[0], item]) == item


def test_built_in_sets_are_not_streamed():
    with pytest.raises(DifflabError, match="built-in sets fit in memory"):
        open_stream("digits")
