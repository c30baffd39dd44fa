"""User data files: .npy, .npz and tables (.csv/.tsv/.txt/.parquet, read by data/tables.py)
holding an N×D array of finite numbers.

Files are never unpickled (np.load with allow_pickle=False). Errors name the file and what was
wrong.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from ..errors import DifflabError
from .tables import read_table

SUFFIXES = (".npy", ".npz", ".csv", ".tsv", ".txt", ".parquet")


def load_array(path: str | Path, key: str | None = None, missing: bool = False) -> np.ndarray:
    """Read an N×D float64 array (a 1-D array is read as N×1) and check that it is usable.
    missing=True: NaN (and an empty CSV cell) marks a missing value to impute, not an error."""
    path = Path(path)
    if not path.exists():
        raise DifflabError(f"{path}: no such file")
    if path.is_dir():
        raise DifflabError(f"{path}: is a directory, expected a .npy, .npz or table file")
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise DifflabError(
            f"{path}: unsupported file type {suffix or '(none)'}; expected {', '.join(SUFFIXES)}"
        )
    if path.stat().st_size == 0:
        raise DifflabError(f"{path}: file is empty")
    if suffix == ".npy":
        arr = _read_npy(path)
    elif suffix == ".npz":
        arr = _read_npz(path, key)
    else:
        arr = numbers(read_table(path), str(path))
    return check_array(arr, str(path), missing)


def numbers(df, where: str) -> np.ndarray:
    """A table's cells as an N×D float array (empty cells NaN); a text column is named."""
    import pandas as pd

    for name in df.columns:
        if not pd.api.types.is_numeric_dtype(df[name]) or pd.api.types.is_bool_dtype(df[name]):
            text = df[name].notna() & pd.to_numeric(df[name], errors="coerce").isna()
            row = int(np.argmax(text.to_numpy()))
            raise DifflabError(
                f"{where}: column {name!r} holds text ({df[name].iloc[row]!r} in row {row}), not "
                "numbers; `difflab train` models it as a category, other commands need numbers"
            )
    return df.to_numpy(np.float64)


def check_array(arr: np.ndarray, where: str, missing: bool = False) -> np.ndarray:
    """N×D, numeric, non-empty and finite (missing=True: NaN allowed, as 'missing'), else a one-line
    error naming `where` and the first bad entry."""
    if arr.dtype.kind not in "biuf":
        raise DifflabError(f"{where}: expected numbers, found data of type {arr.dtype}")
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise DifflabError(f"{where}: expected an N×D array, got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise DifflabError(f"{where}: no data (shape {arr.shape})")
    arr = arr.astype(np.float64)
    bad = np.isinf(arr) if missing else ~np.isfinite(arr)
    if bad.any():
        row, col = map(int, np.argwhere(bad)[0])
        what = (
            "infinite value(s) (NaN or an empty cell marks a missing one)"
            if missing
            else "non-finite value(s) (NaN/Inf)"
        )
        raise DifflabError(f"{where}: {int(bad.sum())} {what}, first at row {row}, column {col}")
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


def save_array(path: str | Path, arr) -> None:
    """Write .npy or .csv atomically (temp file, then rename), so no half-written output remains;
    a table (DataFrame) also to .tsv/.parquet, with its header (tables.write_table)."""
    from ..checkpoint import atomic_write

    path = Path(path)
    if not isinstance(arr, np.ndarray):
        from .tables import write_table

        return write_table(path, arr)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        atomic_write(path, lambda f: np.save(f, arr))
    elif suffix == ".csv":
        atomic_write(path, lambda f: np.savetxt(f, arr, delimiter=",", fmt="%.9g"))
    else:
        raise DifflabError(f"{path}: output must end in .npy or .csv")
