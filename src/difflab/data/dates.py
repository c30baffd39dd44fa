"""Date and datetime columns as numbers: days (dates) or seconds (datetimes) since 1970-01-01,
and back in the form they came in (ISO strings in their own format, or datetime64 values)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

# ISO-like text a column is read as dates from: 2024-03-01, 2024/03/01, 2024-03-01 12:30[:45]
_FORMATS = [
    (re.compile(r"^\d{4}-\d{2}-\d{2}$"), "%Y-%m-%d"),
    (re.compile(r"^\d{4}/\d{2}/\d{2}$"), "%Y/%m/%d"),
    (re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$"), "%Y-%m-%d %H:%M:%S"),
    (re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$"), "%Y-%m-%dT%H:%M:%S"),
    (re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}$"), "%Y-%m-%d %H:%M"),
    (re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$"), "%Y-%m-%dT%H:%M"),
]
SECONDS = {"D": 86_400.0, "s": 1.0}


def text_format(values: pd.Series) -> str | None:
    """The strftime format every (non-missing) value is written in, or None when they are not
    all ISO-like dates of one format."""
    if len(values) == 0 or not all(isinstance(v, str) for v in values):
        return None
    first = values.iloc[0].strip()
    for pattern, fmt in _FORMATS:
        if pattern.match(first):
            ok = values.str.strip().str.match(pattern).all()
            return fmt if ok and _parses(values, fmt) else None
    return None


def _parses(values: pd.Series, fmt: str) -> bool:
    return bool(pd.to_datetime(values.str.strip(), format=fmt, errors="coerce").notna().all())


def is_date(values: pd.Series) -> bool:
    """datetime64 values, or text that is all ISO-like dates of one format."""
    return pd.api.types.is_datetime64_any_dtype(values) or text_format(values) is not None


def as_datetime(s: pd.Series, fmt: str | None) -> pd.Series:
    """The column as naive datetime64 (NaT where missing or not a date; time zones to UTC)."""
    if pd.api.types.is_datetime64_any_dtype(s):
        t = s
    else:
        text = s.astype("string").str.strip()
        t = pd.to_datetime(text, format=fmt, errors="coerce") if fmt else pd.to_datetime(text)
    if getattr(t.dt, "tz", None) is not None:
        t = t.dt.tz_convert("UTC").dt.tz_localize(None)
    return t


def unit_of(t: pd.Series) -> str:
    """'D' when every value is at midnight (dates), else 's' (datetimes)."""
    t = t.dropna()
    midnight = (t == t.dt.normalize()).all()
    return "D" if midnight else "s"


def to_number(t: pd.Series, unit: str) -> np.ndarray:
    """Days or seconds since 1970-01-01 (NaN where NaT)."""
    seconds = (t - pd.Timestamp("1970-01-01")).dt.total_seconds().to_numpy(np.float64)
    return seconds / SECONDS[unit]


def from_number(x: np.ndarray, unit: str, fmt: str | None) -> np.ndarray:
    """Numbers back to dates, whole days or seconds: text in `fmt`, else datetime64."""
    seconds = np.round(np.asarray(x, dtype=np.float64)) * SECONDS[unit]
    t = pd.to_datetime(seconds, unit="s")
    if fmt is None:
        return t.to_numpy()
    return np.asarray(t.strftime(fmt), dtype=object)
