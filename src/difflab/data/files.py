"""User data files: .npy, .npz and .csv holding an N×D array of finite numbers.

Files are never unpickled (np.load with allow_pickle=False). Errors name the file and what was wrong.
"""

from __future__ import annotations

import csv
import zipfile
from pathlib import Path

import numpy as np

from ..errors import DifflabError

SUFFIXES = (".npy", ".npz", ".csv")


def load_array(path: str | Path, key: str | None = None) -> np.ndarray:
    """Read an N×D float64 array (a 1-D array is read as N×1) and check that it is usable."""
    path = Path(path)
    if not path.exists():
        raise DifflabError(f"{path}: no such file")
    if path.is_dir():
        raise DifflabError(f"{path}: is a directory, expected a .npy, .npz or .csv file")
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise DifflabError(f"{path}: unsupported file type {suffix or '(none)'}; expected .npy, .npz or .csv")
    if path.stat().st_size == 0:
        raise DifflabError(f"{path}: file is empty")
    reader = {".npy": _read_npy, ".npz": lambda p: _read_npz(p, key), ".csv": _read_csv}[suffix]
    return check_array(reader(path), str(path))


def check_array(arr: np.ndarray, where: str) -> np.ndarray:
    """N×D, numeric, non-empty and finite, else a one-line error naming `where` and the first bad entry."""
    if arr.dtype.kind not in "biuf":
        raise DifflabError(f"{where}: expected numbers, found data of type {arr.dtype}")
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise DifflabError(f"{where}: expected an N×D array, got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise DifflabError(f"{where}: no data (shape {arr.shape})")
    arr = arr.astype(np.float64)
    bad = ~np.isfinite(arr)
    if bad.any():
        row, col = map(int, np.argwhere(bad)[0])
        raise DifflabError(
            f"{where}: {int(bad.sum())} non-finite value(s) (NaN/Inf), first at row {row}, column {col}"
        )
    return arr


def _read_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as e:
        raise DifflabError(f"{path}: not a plain numeric .npy array ({e})") from None
    except OSError as e:
        raise DifflabError(f"{path}: unreadable .npy file ({e})") from None


def _read_npz(path: Path, key: str | None) -> np.ndarray:
    try:
        with np.load(path, allow_pickle=False) as z:
            keys = list(z.keys())
            if key is None:
                if len(keys) != 1:
                    raise DifflabError(f"{path}: holds arrays {keys}; name one with --key")
                key = keys[0]
            if key not in keys:
                raise DifflabError(f"{path}: has no array {key!r}; it holds {keys}")
            return z[key]
    except (ValueError, OSError, zipfile.BadZipFile) as e:
        raise DifflabError(f"{path}: unreadable .npz file ({e})") from None


def _read_csv(path: Path) -> np.ndarray:
    """Comma-separated numbers, one sample per line; an optional header line of names is skipped."""
    rows: list[list[float]] = []
    width = None
    with open(path, newline="") as f:
        for lineno, fields in enumerate(csv.reader(f), start=1):
            if not fields or all(not c.strip() for c in fields):
                continue
            try:
                values = [float(c) for c in fields]
            except ValueError:
                if lineno == 1:  # a header line
                    width = len(fields)
                    continue
                raise DifflabError(f"{path}:{lineno}: not a number in {fields!r}") from None
            if width is None:
                width = len(values)
            if len(values) != width:
                raise DifflabError(f"{path}:{lineno}: {len(values)} columns, expected {width}")
            rows.append(values)
    if not rows:
        raise DifflabError(f"{path}: no data rows")
    return np.asarray(rows, dtype=np.float64)


def save_array(path: str | Path, arr: np.ndarray) -> None:
    """Write .npy or .csv atomically (temp file, then rename), so no half-written output remains."""
    from ..checkpoint import atomic_write

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        atomic_write(path, lambda f: np.save(f, arr))
    elif suffix == ".csv":
        atomic_write(path, lambda f: np.savetxt(f, arr, delimiter=",", fmt="%.9g"))
    else:
        raise DifflabError(f"{path}: output must end in .npy or .csv")
