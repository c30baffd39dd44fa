"""Images: readers (a folder of image files, .npy/.npz arrays), the built-in `digits` and `faces`,
and
the pixel scaling stored with a model.

Every image set is an N×C×H×W float64 array of pixel values in a known range [lo, hi] (0–255 for
8-bit files). Models see x = 2(v − lo)/(hi − lo) − 1 ∈ [−1, 1] — scaled by the known range, never
standardised per pixel — with σ_data = 0.5 (EDM's choice for images). Outputs are mapped back and,
for 8-bit data, rounded, so uint8 in is uint8 out.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DifflabError, DifflabWarning

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
SIGMA_DATA = 0.5


@dataclass(frozen=True)
class PixelScaler:
    """v ↦ 2(v − lo)/(hi − lo) − 1 and back; `integer` outputs are rounded, clipped to [lo, hi]."""

    lo: float
    hi: float
    integer: bool = True

    def forward(self, v: np.ndarray) -> np.ndarray:
        return 2.0 * (np.asarray(v, dtype=np.float64) - self.lo) / (self.hi - self.lo) - 1.0

    def inverse(self, x: np.ndarray) -> np.ndarray:
        v = (np.asarray(x, dtype=np.float64) + 1.0) * 0.5 * (self.hi - self.lo) + self.lo
        return np.clip(np.round(v), self.lo, self.hi) if self.integer else v

    def log_abs_det(self, shape: tuple[int, ...]) -> float:
        """log|dz/dv| of one image: D·log(2/(hi − lo))."""
        return float(np.prod(shape)) * float(np.log(2.0 / (self.hi - self.lo)))

    def to_dict(self) -> dict:
        return {"kind": "pixels", "lo": self.lo, "hi": self.hi, "integer": self.integer}

    @classmethod
    def from_dict(cls, d: dict) -> "PixelScaler":
        return cls(float(d["lo"]), float(d["hi"]), bool(d.get("integer", True)))


def rescale(pixels: np.ndarray, source: PixelScaler, target: PixelScaler) -> np.ndarray:
    """Pixels of `source`'s range in `target`'s (through [-1, 1], not rounded): a set stored in
    other levels (the digits' 0–16) for a model that reads 0–255 (a diffusers model)."""
    if (source.lo, source.hi) == (target.lo, target.hi):
        return pixels
    return target.lo + (pixels - source.lo) * (target.hi - target.lo) / (source.hi - source.lo)


@dataclass(frozen=True)
class ImageSet:
    """Pixels N×C×H×W (float64 in [scaler.lo, scaler.hi]), optional labels and class names."""

    pixels: np.ndarray
    scaler: PixelScaler
    labels: np.ndarray | None = None
    classes: list[str] | None = None

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.pixels.shape[1:])

    def __len__(self) -> int:
        return len(self.pixels)


def to_nchw(arr: np.ndarray, where: str) -> np.ndarray:
    """N×H×W (grey), N×H×W×C or N×C×H×W with C ∈ {1, 3, 4} → N×C×H×W."""
    if arr.ndim == 3:
        return arr[:, None]
    if arr.ndim != 4:
        raise DifflabError(
            f"{where}: expected images N×H×W, N×H×W×C or N×C×H×W, got shape {arr.shape}"
        )
    if arr.shape[-1] in (1, 3, 4) and arr.shape[1] not in (1, 3, 4):
        return np.moveaxis(arr, -1, 1)
    if arr.shape[1] in (1, 3, 4):
        return arr
    raise DifflabError(
        f"{where}: cannot tell the channel axis of shape {arr.shape} (1, 3 or 4 channels)"
    )


def pixel_range(arr: np.ndarray, where: str) -> PixelScaler:
    """The known range of the pixel values: uint8 → 0–255; integers → 0 to the next of 1, 16, 255,
    65535 that covers them; floats in [0, 1] → 0–1 (not rounded). Anything else is refused."""
    if not np.isfinite(arr).all():
        raise DifflabError(f"{where}: non-finite pixel values")
    lo, hi = float(arr.min()), float(arr.max())
    if lo < 0:
        raise DifflabError(f"{where}: negative pixel values (min {lo:g}); expected 0…255 or 0…1")
    integral = arr.dtype.kind in "iub" or bool(np.all(arr == np.round(arr)))
    if arr.dtype == np.uint8:
        return PixelScaler(0.0, 255.0, True)
    if integral and hi > 1:
        top = next(t for t in (16.0, 255.0, 65535.0, float(hi)) if hi <= t)
        return PixelScaler(0.0, top, True)
    if hi <= 1.0:
        return PixelScaler(0.0, 1.0, False)
    raise DifflabError(f"{where}: float pixels up to {hi:g}; expected 0…1 floats or integer levels")


def read_image_array(path: Path, key: str | None, labels: str | None) -> ImageSet:
    """Images from .npy/.npz (N×H×W, N×H×W×C or N×C×H×W); labels from another .npz array."""
    from .files import _read_npy, _read_npz
    from .labels import _npz_labels, class_indices

    arr = _read_npy(path) if path.suffix.lower() == ".npy" else _read_npz(path, key)
    if arr.dtype.kind not in "biuf":
        raise DifflabError(f"{path}: expected numeric pixels, found data of type {arr.dtype}")
    pixels = to_nchw(arr, str(path))
    if len(pixels) == 0:
        raise DifflabError(f"{path}: no images")
    scaler = pixel_range(pixels, str(path))
    if labels is None:
        return ImageSet(pixels.astype(np.float64), scaler)
    if path.suffix.lower() != ".npz":
        raise DifflabError(f"{path}: labels come from an .npz array beside the images")
    values = _npz_labels(path, labels)
    if values.shape != (len(pixels),):
        raise DifflabError(
            f"{path}[{labels}]: expected one label per image ({len(pixels)}), got {values.shape}"
        )
    y, classes = class_indices(values, f"{path}[{labels}]")
    return ImageSet(pixels.astype(np.float64), scaler, y, classes)


def read_image_folder(folder: Path, image_size: int | None = None) -> ImageSet:
    """A folder of image files, or one sub-folder per class (as torchvision's ImageFolder): all grey
    or all RGB, all 8-bit or all 16-bit (levels 0–65535 kept), one size unless `image_size`
    resizes every image to that square."""
    paths, labels, classes = folder_layout(folder)
    headers = [(header(path, image_size), path) for path in paths]
    _check_same(headers)
    images = [_load_image(path, image_size)[0] for path in paths]
    pixels = to_nchw(np.stack(images), str(folder)).astype(np.float64)
    return ImageSet(pixels, folder_scaler(headers), labels, classes)


def folder_scaler(headers: list) -> PixelScaler:
    """0–255, or 0–65535 for 16-bit images (all of one depth: `_check_same`)."""
    return PixelScaler(0.0, 65535.0 if headers[0][0][1] == 16 else 255.0, True)


def folder_layout(folder: Path) -> tuple[list[Path], np.ndarray | None, list[str] | None]:
    """The image files of a folder in a fixed order, with class indices and names when it holds one
    sub-folder per class; one-line errors for a mixed layout, an empty folder or class."""
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    subdirs = sorted(p for p in folder.iterdir() if p.is_dir())
    _say_skipped(folder, [p for p in folder.iterdir() if p.is_file() and p not in files])
    if files and subdirs:
        raise DifflabError(f"{folder}: holds both image files and sub-folders; use one layout")
    if not files and not subdirs:
        raise DifflabError(
            f"{folder}: no image files ({', '.join(IMAGE_SUFFIXES)}) or class sub-folders"
        )
    if files:
        return files, None, None
    groups = [_images_in(d) for d in subdirs]
    labels = np.concatenate([np.full(len(g), k, dtype=np.int64) for k, g in enumerate(groups)])
    return [p for g in groups for p in g], labels, [d.name for d in subdirs]


def _images_in(folder: Path) -> list[Path]:
    found = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    _say_skipped(folder, [p for p in folder.iterdir() if p.is_file() and p not in found])
    if not found:
        raise DifflabError(f"{folder}: empty class folder (no image files)")
    return found


def _say_skipped(folder: Path, others: list[Path]) -> None:
    """One warning naming the files that are not images (hidden files pass silently)."""
    others = sorted(p.name for p in others if not p.name.startswith("."))
    if others:
        shown = ", ".join(others[:3]) + (", …" if len(others) > 3 else "")
        warnings.warn(
            f"{folder}: skipped {len(others)} file(s) that are not images ({shown})",
            DifflabWarning,
            stacklevel=3,
        )


GREY_MODES = ("1", "L", "LA", "I;16", "I;16B", "I;16L", "I", "F")
DEEP_MODES = ("I;16", "I;16B", "I;16L", "I")  # 16-bit levels, kept as 0–65535


def _is_grey(im) -> bool:
    """A grey mode, or a palette (GIF, some PNGs) whose colours are all grey."""
    if im.mode in GREY_MODES:
        return True
    palette = im.getpalette() if im.mode == "P" else None
    triples = zip(palette[0::3], palette[1::3], palette[2::3]) if palette else []
    return bool(palette) and all(r == g == b for r, g, b in triples)


def header(path: Path, size: int | None) -> tuple[tuple[int, ...], int, str]:
    """((H, W) grey or (H, W, 3) colour, 8 or 16 bits, PIL mode) from the file's header alone."""
    from PIL import Image, UnidentifiedImageError

    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise DifflabError(f"{path}: not an image file")
    try:
        with Image.open(path) as im:
            grey, bits, mode = _is_grey(im), 16 if im.mode in DEEP_MODES else 8, im.mode
            w, h = (size, size) if size is not None else im.size
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise DifflabError(f"{path}: not a readable image ({type(e).__name__})") from None
    return ((h, w) if grey else (h, w, 3)), bits, mode


def _load_image(path: Path, size: int | None) -> tuple[np.ndarray, Path]:
    """H×W (grey) or H×W×3 pixels: uint8, or uint16 for 16-bit images (never clipped to 255)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.load()
            deep = im.mode in DEEP_MODES
            im = im.convert("I" if deep else "L" if _is_grey(im) else "RGB")
            if size is not None:
                im = im.resize((size, size), Image.Resampling.BICUBIC)
            if deep:
                return np.clip(np.asarray(im), 0, 65535).astype(np.uint16), path
            return np.asarray(im, dtype=np.uint8), path
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise DifflabError(f"{path}: not a readable image ({type(e).__name__})") from None


def _kind(shape: tuple, mode: str) -> str:
    if len(shape) == 2:
        return "grey"
    return "RGB" if mode in ("RGB", "RGBA") else f"colour (mode {mode})"


def _check_same(headers: list) -> None:
    """One kind (grey or colour), one depth and one size: ((shape, bits, mode), path) pairs."""
    (first, bits, mode), first_path = headers[0]
    for (shape, b, m), path in headers[1:]:
        if len(shape) != len(first):
            raise DifflabError(
                f"{path}: {_kind(shape, m)} among {_kind(first, mode)} images (like "
                f"{first_path.name}); convert them to one kind"
            )
        if b != bits:
            raise DifflabError(
                f"{path}: {b}-bit among {bits}-bit images (like {first_path.name}); convert "
                "them to one depth (16-bit levels are kept, never clipped to 8 bits)"
            )
        if shape != first:
            raise DifflabError(
                f"{path}: size {shape[1]}×{shape[0]} differs from {first_path.name} "
                f"({first[1]}×{first[0]}); give --image-size N to resize all"
            )


def digits() -> ImageSet:
    """scikit-learn's 8×8 handwritten digits (1,797 images, 17 grey levels 0–16, 10 classes),
    read from the copy that ships inside scikit-learn: nothing is downloaded."""
    from sklearn.datasets import load_digits

    d = load_digits()
    return ImageSet(
        d.images[:, None].astype(np.float64),
        PixelScaler(0.0, 16.0, True),
        d.target.astype(np.int64),
        [str(i) for i in range(10)],
    )


def faces() -> ImageSet:
    """scikit-image's 25×25 grey face crops (the first 100 of its LFW subset; floats in 0–1), read
    from the copy that ships inside scikit-image: nothing is downloaded."""
    from skimage import data

    return ImageSet(data.lfw_subset()[:100, None].astype(np.float64), PixelScaler(0.0, 1.0, False))


BUILTIN = {"digits": digits, "faces": faces}


def train_test_split(
    n: int, test_fraction: float = 0.2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """A fixed split of indices 0…n-1 (the same for every run with this seed)."""
    order = np.random.default_rng(seed).permutation(n)
    k = int(round(n * test_fraction))
    return np.sort(order[k:]), np.sort(order[:k])


def is_image_spec(spec: str) -> bool:
    """A built-in image set or a folder (of image files or class folders)."""
    return spec in BUILTIN or Path(spec).is_dir()


def load_images(
    spec: str,
    key: str | None = None,
    labels: str | None = None,
    image_size: int | None = None,
    split: str | None = "train",
    test_fraction: float = 0.2,
) -> ImageSet:
    """Images by name (digits, faces), a folder, or an .npy/.npz array, with a fixed 80/20
    train/test split (`split` 'train', 'test', or None for all): models train on 'train', image
    metrics compare with 'test'. Built-in sets carry their labels (digits: the digit)."""
    if spec in BUILTIN:
        images = BUILTIN[spec]()
    else:
        path = Path(spec)
        if path.is_dir():
            images = read_image_folder(path, image_size)
        elif not path.exists():
            raise DifflabError(
                f"{path}: no such file or folder (built-in image sets: {', '.join(BUILTIN)})"
            )
        elif path.suffix.lower() in (".npy", ".npz"):
            images = read_image_array(path, key, labels)
        else:
            raise DifflabError(
                f"{path}: expected a folder of images or an .npy/.npz array of images"
            )
    if split is not None:
        train, test = train_test_split(len(images.pixels), test_fraction)
        idx = train if split == "train" else test
        labels = None if images.labels is None else images.labels[idx]
        images = ImageSet(images.pixels[idx], images.scaler, labels, images.classes)
    if image_size is not None and images.shape[1:] != (image_size, image_size):
        images = ImageSet(
            resize(images.pixels, image_size, images.scaler),
            images.scaler,
            images.labels,
            images.classes,
        )
    return images


def resize(pixels: np.ndarray, size: int, scaler: PixelScaler) -> np.ndarray:
    """Bicubic resize of N×C×H×W pixels to size×size (Pillow, in float), clipped to the range."""
    from PIL import Image

    out = np.empty(pixels.shape[:2] + (size, size), dtype=np.float64)
    for i, image in enumerate(pixels):
        for c, plane in enumerate(image):
            im = Image.fromarray(plane.astype(np.float32), mode="F").resize(
                (size, size), Image.Resampling.BICUBIC
            )
            out[i, c] = np.asarray(im)
    out = np.clip(out, scaler.lo, scaler.hi)
    return np.round(out) if scaler.integer else out


MASKS = ("left-half", "right-half", "top-half", "bottom-half", "center")


def image_mask(name: str, shape: tuple[int, int, int]) -> np.ndarray:
    """Observed pixels (True) of a C×H×W image when the named region is blacked out: 'left-half'
    hides the left half (the seed's example), 'center' the central half-size square; a path to an
    .npy H×W or C×H×W array of 0/1 gives 1 where observed."""
    c, h, w = shape
    observed = np.ones(shape, dtype=bool)
    if name == "left-half":
        observed[:, :, : w // 2] = False
    elif name == "right-half":
        observed[:, :, w - w // 2 :] = False
    elif name == "top-half":
        observed[:, : h // 2] = False
    elif name == "bottom-half":
        observed[:, h - h // 2 :] = False
    elif name == "center":
        observed[:, h // 4 : h - h // 4, w // 4 : w - w // 4] = False
    else:
        path = Path(name)
        if path.suffix.lower() != ".npy" or not path.is_file():
            raise DifflabError(
                f"--mask {name!r}: expected one of {', '.join(MASKS)} or an .npy file of 0/1"
            )
        from .files import _read_npy

        arr = _read_npy(path)
        if arr.shape == (h, w):
            arr = np.broadcast_to(arr, shape)
        if arr.shape != shape or not np.isin(arr, (0, 1)).all():
            raise DifflabError(
                f"{path}: a mask must be 0/1 of shape {h}×{w} or {c}×{h}×{w}, got {arr.shape}"
            )
        observed = arr.astype(bool)
    return observed


__all__ = [
    "PixelScaler",
    "ImageSet",
    "BUILTIN",
    "digits",
    "faces",
    "read_image_folder",
    "read_image_array",
    "to_nchw",
    "pixel_range",
    "train_test_split",
    "SIGMA_DATA",
    "is_image_spec",
    "load_images",
    "resize",
    "image_mask",
    "MASKS",
]
