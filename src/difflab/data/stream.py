"""Images larger than memory: a data set that decodes one image on demand (for DataLoader workers).

`open_stream(spec)` gives the same images, order, train/test split, labels and pixel scaling as
`load_images(spec)` — a folder of image files (or class sub-folders), or an .npy array read through
a memory map — so a streamed run trains on exactly the batches an in-memory run would. Opening
reads only the files' headers (size, grey/RGB), not their pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..errors import DifflabError
from .images import (
    ImageSet,
    PixelScaler,
    _check_same,
    _load_image,
    folder_layout,
    folder_scaler,
    header,
    pixel_range,
    to_nchw,
    train_test_split,
)

SCAN = 2000  # images decoded up front for σ_max and class means (max_pairwise_distance's count)


@dataclass(frozen=True, eq=False)
class ImageStream(torch.utils.data.Dataset):
    """Images i = 0…N-1 of a folder (`paths`) or a memory-mapped array (`array`, N×C×H×W), each
    decoded on demand to C×H×W float32 in the model's units [-1, 1], with its class (-1 if none)."""

    shape: tuple[int, int, int]
    scaler: PixelScaler
    paths: tuple[Path, ...] | None = None
    array: np.ndarray | None = None
    rows: np.ndarray | None = None  # the split's rows of `array`
    image_size: int | None = None
    labels: np.ndarray | None = None
    classes: list[str] | None = None

    def __len__(self) -> int:
        return len(self.paths) if self.paths is not None else len(self.rows)

    def pixels(self, i: int) -> np.ndarray:
        """Image i in pixel values, C×H×W float64."""
        if self.paths is None:
            return np.asarray(self.array[self.rows[i]], dtype=np.float64)
        image, _ = _load_image(self.paths[i], self.image_size)
        return to_nchw(image[None], str(self.paths[i]))[0].astype(np.float64)

    def __getitem__(self, i: int) -> tuple[Tensor, int] | str:
        """(image, class); a file that cannot be decoded gives its one-line error as a string (a
        worker's exception would reach the user as a traceback)."""
        try:
            image = self.pixels(i)
        except DifflabError as e:
            return str(e)
        if image.shape != self.shape:
            return f"{self.paths[i]}: shape {image.shape} differs from the set's {self.shape}"
        label = -1 if self.labels is None else int(self.labels[i])
        return torch.as_tensor(self.scaler.forward(image), dtype=torch.float32), label

    def scan(self, n: int = SCAN) -> ImageSet:
        """The first n images decoded (for σ_max, class means): all of them when N ≤ n."""
        k = min(n, len(self))
        pixels = np.stack([self.pixels(i) for i in range(k)])
        labels = None if self.labels is None else self.labels[:k]
        return ImageSet(pixels, self.scaler, labels, self.classes)


def collate(items: list) -> tuple[Tensor, Tensor] | str:
    """Stack (image, class) pairs; the first error string instead, if any item failed."""
    errors = [it for it in items if isinstance(it, str)]
    if errors:
        return errors[0]
    return torch.stack([x for x, _ in items]), torch.tensor([y for _, y in items])


def open_stream(
    spec: str,
    key: str | None = None,
    labels: str | None = None,
    image_size: int | None = None,
    split: str | None = "train",
    test_fraction: float = 0.2,
) -> ImageStream:
    """A folder or an .npy array as an ImageStream of its `split` (the fixed 80/20 split of
    `load_images`); labels of a folder come from its class sub-folders (`labels` = 'class')."""
    path = Path(spec)
    if path.is_dir():
        stream = _folder_stream(path, image_size)
    elif path.suffix.lower() == ".npy" and path.is_file():
        if labels is not None:
            raise DifflabError(f"{path}: a streamed .npy carries no labels (use class folders)")
        stream = _array_stream(path, image_size)
    else:
        raise DifflabError(
            f"{spec}: --stream reads a folder of images or an .npy array (built-in sets fit in "
            "memory; train on them without --stream)"
        )
    if split is None:
        return stream
    train, test = train_test_split(len(stream), test_fraction)
    idx = train if split == "train" else test
    return _subset(stream, idx)


def _subset(stream: ImageStream, idx: np.ndarray) -> ImageStream:
    labels = None if stream.labels is None else stream.labels[idx]
    if stream.paths is not None:
        paths = tuple(stream.paths[i] for i in idx)
        return ImageStream(
            stream.shape,
            stream.scaler,
            paths,
            None,
            None,
            stream.image_size,
            labels,
            stream.classes,
        )
    return ImageStream(
        stream.shape, stream.scaler, None, stream.array, stream.rows[idx], None, labels, None
    )


def _folder_stream(folder: Path, image_size: int | None) -> ImageStream:
    paths, labels, classes = folder_layout(folder)
    headers = [(header(p, image_size), p) for p in paths]
    _check_same(headers)
    h, w, *c = headers[0][0][0]
    shape = (c[0] if c else 1, h, w)
    scaler = folder_scaler(headers)
    return ImageStream(shape, scaler, tuple(paths), None, None, image_size, labels, classes)


def _array_stream(path: Path, image_size: int | None) -> ImageStream:
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError) as e:
        raise DifflabError(f"{path}: not a plain numeric .npy array ({e})") from None
    if arr.dtype.kind not in "biuf":
        raise DifflabError(f"{path}: expected numeric pixels, found data of type {arr.dtype}")
    arr = to_nchw(arr, str(path))
    if image_size is not None and arr.shape[2:] != (image_size, image_size):
        raise DifflabError(f"{path}: --image-size with --stream needs a folder of image files")
    if len(arr) == 0:
        raise DifflabError(f"{path}: no images")
    scaler = _range_in_chunks(arr, str(path))
    return ImageStream(tuple(arr.shape[1:]), scaler, None, arr, np.arange(len(arr)))


def _range_in_chunks(arr: np.ndarray, where: str, chunk: int = 4096) -> PixelScaler:
    """pixel_range of an array too large to load: uint8 at once, else its min, max and integrality
    gathered a chunk at a time and checked as pixel_range checks them."""
    if arr.dtype == np.uint8:
        return PixelScaler(0.0, 255.0, True)
    lo, hi, integral = np.inf, -np.inf, True
    for start in range(0, len(arr), chunk):
        part = np.asarray(arr[start : start + chunk])
        if not np.isfinite(part).all():
            raise DifflabError(f"{where}: non-finite pixel values")
        lo, hi = min(lo, float(part.min())), max(hi, float(part.max()))
        integral = integral and bool(np.all(part == np.round(part)))
    summary = np.array([lo, hi], dtype=arr.dtype if integral else np.float64)
    return pixel_range(summary, where)


__all__ = ["ImageStream", "open_stream", "collate", "SCAN"]
