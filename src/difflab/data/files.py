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


def load_array(path: str | Path, key: str | None = None, missing: bool = False) -> np.ndarray:
    """Read an N×D float64 array (a 1-D array is read as N×1) and check that it is usable.
    missing=True: NaN (and an empty CSV cell) marks a missing value to impute, not an error."""
    path = Path(path)
    if not path.exists():
        raise DifflabError(f"{path}: no such file")
    if path.is_dir():
        raise DifflabError(f"{path}: is a directory, expected a .npy, .npz or .csv file")
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise DifflabError(
            f"{path}: unsupported file type {suffix or '(none)'}; expected .npy, .npz or .csv"
        )
    if path.stat().st_size == 0:
        raise DifflabError(f"{path}: file is empty")
    reader = {
        ".npy": _read_npy,
        ".npz": lambda p: _read_npz(p, key),
        ".csv": lambda p: csv_numbers(p, *csv_table(p), missing=missing),
    }[suffix]
    return check_array(reader(path), str(path), missing)


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


def csv_table(path: Path) -> tuple[list[str] | None, list[tuple[int, list[str]]]]:
    """The header (a first line that is not all numbers) and the non-blank rows with their line
    numbers, as strings; every row must have the header's (or the first row's) number of fields."""
    header, rows, width = None, [], None
    with open(path, newline="") as f:
        for lineno, fields in enumerate(csv.reader(f), start=1):
            if not fields or (len(fields) == 1 and not fields[0].strip()):
                continue  # a blank line ("," is a row of empty cells: all missing)
            if lineno == 1 and not _all_numbers(fields):
                header, width = [c.strip() for c in fields], len(fields)
                continue
            width = len(fields) if width is None else width
            if len(fields) != width:
                raise DifflabError(f"{path}:{lineno}: {len(fields)} columns, expected {width}")
            rows.append((lineno, fields))
    if not rows:
        raise DifflabError(f"{path}: no data rows")
    return header, rows


def csv_numbers(
    path: Path, header: list[str] | None, rows: list[tuple[int, list[str]]], missing: bool = False
) -> np.ndarray:
    """The rows of csv_table as an N×D float64 array (comma-separated numbers, one sample per line,
    an optional header line skipped); a non-number is an error naming its line. missing=True: an
    empty cell is NaN."""
    out = np.empty((len(rows), len(rows[0][1])), dtype=np.float64)
    for i, (lineno, fields) in enumerate(rows):
        try:
            out[i] = [float(c) if c.strip() or not missing else np.nan for c in fields]
        except ValueError:
            raise DifflabError(f"{path}:{lineno}: not a number in {fields!r}") from None
    return out


def _all_numbers(fields: list[str]) -> bool:
    try:
        [float(c) for c in fields]
    except ValueError:
        return False
    return True


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
