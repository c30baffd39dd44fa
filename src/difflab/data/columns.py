"""Column types of a table and the codec between a table and the model's vectors.

Each column is one of
- numeric:     u = x, standardised (one model dimension);
- positive:    u = log x, standardised — samples stay positive, heavy tails become tame;
- bounded:     u = logit((x − lo)/(hi − lo)), standardised — samples stay inside (lo, hi);
- date:        days (dates) or seconds (datetimes) since 1970, standardised; written back as they
               came (ISO text in its own format, or datetime64) — new dates within the range;
- categorical: one-hot with entries ±1 (K dimensions), decoded by argmax — levels come back exactly;
- constant:    no dimension; the value is written back exactly.
Numeric kinds remember their observed range (samples are clipped to it, as TabDDPM's quantile
transform does implicitly), their precision (integers are decoded by rounding, other numbers to the
decimals the data has) and, with few distinct values, those values (samples snap to the nearest).

Text columns that look like identifiers or free text (most values distinct) are left out with a
warning; `--column-type NAME=categorical` keeps one.

Detection (overridable per column): text, booleans, a column of two values and integers with at
most CATEGORICAL_LEVELS levels (each seen twice on average) are categorical; one value is
constant; datetime values and ISO-like date text are dates; positive numbers with a skewness above
1 are positive; everything else numeric.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import DifflabError, DifflabWarning
from . import dates

CATEGORICAL_LEVELS = 5  # integer columns with this many levels or fewer are categories
KINDS = ("numeric", "positive", "bounded", "date", "categorical", "constant")
GRID_LEVELS = 20  # a number column with this many values or fewer (each seen 5×) keeps them
MAX_DECIMALS = 8  # more decimals than this: the column is real-valued, written unrounded
_EPS = 1e-6  # bounded columns: the fraction is clipped to [ε, 1 − ε] before the logit


@dataclass(frozen=True)
class Column:
    """One column's type and what it needs to encode and decode (JSON-serialisable)."""

    name: str
    kind: str
    integer: bool = False
    mean: float = 0.0  # of the transformed value u
    std: float = 1.0
    lo: float | None = None  # observed range (numeric kinds) or declared bounds (bounded)
    hi: float | None = None
    levels: tuple = field(default_factory=tuple)  # categorical
    value: object = None  # constant
    bounds: tuple = (0.0, 1.0)  # bounded: the declared (lo, hi)
    encoding: str = "onehot"  # categorical: onehot (K dims) or bits (⌈log2 K⌉ dims, analog bits)
    decimals: int | None = None  # numeric kinds: the data's precision (None: unrounded)
    grid: tuple = field(default_factory=tuple)  # numeric kinds with few values: those values
    unit: str = "D"  # date: 'D' (days) or 's' (seconds)
    format: str | None = None  # date: strftime format of text dates (None: datetime64 values)

    @property
    def width(self) -> int:
        """Model dimensions of this column."""
        if self.kind == "categorical":
            return self.codebook.shape[1]
        return 0 if self.kind == "constant" else 1

    @property
    def codebook(self) -> np.ndarray:
        """K × width codewords of ±1: one-hot rows, or the binary digits of 0…K-1 (Chen et al.
        2022, analog bits). Decoding picks the codeword with the largest inner product."""
        k = len(self.levels)
        if self.encoding == "bits":
            bits = max(1, math.ceil(math.log2(k)))
            return np.array(
                [[1.0 if (i >> b) & 1 else -1.0 for b in range(bits)] for i in range(k)]
            )
        return 2.0 * np.eye(k) - 1.0

    def numbers(self, s: pd.Series) -> np.ndarray:
        """The column's values as numbers (dates: days or seconds since 1970); NaN where a cell
        is missing or not a number."""
        if self.kind == "date":
            return dates.to_number(dates.as_datetime(s, self.format), self.unit)
        return pd.to_numeric(s, errors="coerce").to_numpy(np.float64)

    def decode_numbers(self, x: np.ndarray) -> np.ndarray:
        """Numbers in the data's own form: clipped to the observed range, snapped to the
        observed values (few of them) or rounded to the data's precision; dates as dates."""
        x = np.clip(x, self.lo, self.hi)
        if self.grid:
            levels = np.asarray(self.grid, dtype=np.float64)
            x = levels[np.searchsorted((levels[1:] + levels[:-1]) / 2, x)]
        elif self.decimals is not None and self.kind != "date":
            x = np.round(x, self.decimals)
        if self.kind == "date":
            return dates.from_number(x, self.unit, self.format)
        return np.round(x).astype(np.int64) if self.integer else x

    def transform(self, x: np.ndarray) -> np.ndarray:
        """u(x): identity, log or logit (Column docstring)."""
        if self.kind == "positive":
            return np.log(x)
        if self.kind == "bounded":
            f = self._fraction(x)
            return np.log(f) - np.log1p(-f)
        return x

    def _fraction(self, x: np.ndarray) -> np.ndarray:
        """(x − lo)/(hi − lo), clipped to [ε, 1 − ε] for the logit, with a warning naming the column
        and the count: a value at a declared bound has no finite logit, and its log-density (here
        that of the clipped value) is arbitrary."""
        f = (x - self.bound_lo) / (self.bound_hi - self.bound_lo)
        clipped = int(np.sum((f < _EPS) | (f > 1 - _EPS)))
        if clipped:
            warnings.warn(
                f"column {self.name!r}: {clipped} value(s) at or beyond its bounds "
                f"({self.bound_lo:g}, {self.bound_hi:g}) moved {_EPS:g} of the range inside; "
                "their log-density is arbitrary",
                DifflabWarning,
                stacklevel=3,
            )
        return np.clip(f, _EPS, 1 - _EPS)

    def untransform(self, u: np.ndarray) -> np.ndarray:
        if self.kind == "positive":
            return np.exp(u)
        if self.kind == "bounded":
            return self.bound_lo + (self.bound_hi - self.bound_lo) / (1 + np.exp(-u))
        return u

    def log_dudx(self, x: np.ndarray) -> np.ndarray:
        """log|du/dx| per row (the change of variables of the likelihood)."""
        if self.kind == "positive":
            return -np.log(x)
        if self.kind == "bounded":
            w = self.bound_hi - self.bound_lo
            f = np.clip((x - self.bound_lo) / w, _EPS, 1 - _EPS)
            return -np.log(f) - np.log1p(-f) - np.log(w)
        return np.zeros_like(x)

    @property
    def bound_lo(self) -> float:
        return self.bounds[0]

    @property
    def bound_hi(self) -> float:
        return self.bounds[1]


def _is_integral(x: np.ndarray) -> bool:
    return bool(np.all(x == np.round(x)))


def decimals_of(x: np.ndarray) -> int | None:
    """The fewest decimals that write every value exactly (0 for integers); None beyond
    MAX_DECIMALS (real-valued data, left unrounded)."""
    for d in range(MAX_DECIMALS + 1):
        scaled = x * 10.0**d
        if np.all(np.abs(scaled - np.round(scaled)) <= 1e-9 * np.maximum(1.0, np.abs(scaled))):
            return d
    return None


def identifier_like(s: pd.Series) -> bool:
    """Text whose values are mostly distinct (names, ids, free text): at least half the rows
    distinct, or more levels than √rows with most of them seen once — no evidence of a category."""
    values = s.dropna()
    if pd.api.types.is_numeric_dtype(values) or dates.is_date(values) or len(values) < 20:
        return False
    counts = values.map(lambda v: str(v).strip()).value_counts()
    many = len(counts) >= 0.5 * len(values)
    return many or (len(counts) > math.sqrt(len(values)) and counts.median() <= 1)


def infer_kind(s: pd.Series) -> str:
    """The detected type of a column (module docstring)."""
    values = s.dropna()
    if len(values) == 0:
        raise DifflabError(f"column {s.name!r}: every cell is missing")
    if _nunique(values) == 1:
        return "constant"
    if dates.is_date(values):
        return "date"
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return "categorical"
    x = values.to_numpy(np.float64)
    if not np.isfinite(x).all():
        raise DifflabError(
            f"column {s.name!r}: infinite value at row {int(np.argmax(~np.isfinite(x)))}"
        )
    levels = len(np.unique(x))
    repeated = len(x) >= 2 * levels  # a level seen once is no evidence of a category
    if repeated and (levels == 2 or (_is_integral(x) and levels <= CATEGORICAL_LEVELS)):
        return "categorical"
    if x.min() > 0 and _skewness(x) > 1.0:
        return "positive"
    return "numeric"


def _nunique(values: pd.Series) -> int:
    """Distinct values; a column of lists or arrays (parquet) is refused by name."""
    try:
        return values.nunique()
    except TypeError:
        raise DifflabError(
            f"column {values.name!r} holds {type(values.iloc[0]).__name__} values (lists or "
            "arrays); difflab models numbers, dates and categories: leave it out with "
            f"--drop-columns {values.name}"
        ) from None


def _skewness(x: np.ndarray) -> float:
    sd = x.std()
    return float(((x - x.mean()) ** 3).mean() / sd**3) if sd > 0 else 0.0


def parse_type(spec: str) -> tuple[str, str, tuple | None]:
    """'NAME=KIND' or 'NAME=bounded:LO:HI' → (name, kind, bounds)."""
    name, sep, kind = spec.rpartition("=")
    if not sep or not name:
        raise DifflabError(f"--column-type {spec!r}: expected NAME=KIND (KIND: {', '.join(KINDS)})")
    kind, *bounds = kind.split(":")
    if kind not in KINDS:
        raise DifflabError(f"--column-type {spec!r}: unknown kind {kind!r}; one of {KINDS}")
    if kind == "bounded":
        try:
            lo, hi = (float(b) for b in bounds)
        except ValueError:
            raise DifflabError(f"--column-type {spec!r}: write bounded:LO:HI, e.g. bounded:0:1")
        if not lo < hi:
            raise DifflabError(f"--column-type {spec!r}: needs LO < HI")
        return name, kind, (lo, hi)
    return name, kind, None


def fit_column(
    s: pd.Series, kind: str | None = None, bounds: tuple | None = None, encoding: str = "onehot"
) -> Column:
    """A column's codec from its (complete) training values."""
    kind = kind or infer_kind(s)
    name, values = str(s.name), s.dropna()
    if kind == "constant":
        return Column(name, kind, value=_plain(values.iloc[0]))
    if kind == "categorical":
        levels = sorted({_plain(v) for v in values}, key=_level_order)
        return Column(name, kind, levels=tuple(levels), encoding=encoding)
    if kind == "date":
        return _fit_date(name, values)
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        raise DifflabError(f"column {name!r}: {kind} needs numbers, found {values.iloc[0]!r}")
    x = values.to_numpy(np.float64)
    if not np.isfinite(x).all():
        row = values.index[int(np.argmax(~np.isfinite(x)))]
        raise DifflabError(f"column {name!r}: infinite value at row {row}")
    if kind == "positive" and x.min() <= 0:
        raise DifflabError(f"column {name!r}: positive, but holds {x.min():g}")
    bounds = tuple(bounds or (0.0, 1.0))
    if kind == "bounded" and not (bounds[0] <= x.min() and x.max() <= bounds[1]):
        raise DifflabError(
            f"column {name!r}: values {x.min():g}…{x.max():g} outside bounds {bounds}"
        )
    col = Column(name, kind, _is_integral(x), lo=float(x.min()), hi=float(x.max()), bounds=bounds)
    col = dataclasses.replace(col, decimals=decimals_of(x), grid=_grid(x))
    u = col.transform(x)
    return dataclasses.replace(col, mean=float(u.mean()), std=float(u.std()) or 1.0)


def _fit_date(name: str, values: pd.Series) -> Column:
    """A date column: days (or seconds, when times of day occur) since 1970, standardised."""
    fmt = None if pd.api.types.is_datetime64_any_dtype(values) else dates.text_format(values)
    if fmt is None and not pd.api.types.is_datetime64_any_dtype(values):
        raise DifflabError(
            f"column {name!r}: a date column needs ISO dates (2024-03-01, 2024-03-01 12:30:00) "
            f"or datetime values, found {values.iloc[0]!r}"
        )
    t = dates.as_datetime(values, fmt)
    unit = dates.unit_of(t)
    x = dates.to_number(t, unit)
    col = Column(name, "date", True, lo=float(x.min()), hi=float(x.max()), unit=unit, format=fmt)
    std = float(x.std()) or 1.0
    return dataclasses.replace(col, mean=float(x.mean()), std=std, grid=_grid(x), decimals=0)


def _grid(x: np.ndarray) -> tuple:
    """The observed values of a column with few of them, each seen 5 times on average (samples
    snap to the nearest: a float column of 6 ages stays 6 ages); () otherwise."""
    levels = np.unique(x)
    few = len(levels) <= GRID_LEVELS and len(x) >= 5 * len(levels)
    return tuple(float(v) for v in levels) if few else ()


def _plain(v):
    """numpy scalars → Python (JSON) values; 3.0 in an integer-valued column → 3."""
    if isinstance(v, (pd.Timestamp, np.datetime64)):
        return pd.Timestamp(v).isoformat()
    if isinstance(v, (np.generic,)):
        v = v.item()
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


def _level_order(v) -> tuple:
    return (0, float(v), "") if isinstance(v, (int, float)) else (1, 0.0, str(v))


def level_key(v):
    """Level identity across readers: 3, 3.0 and '3' are one level; strings are stripped."""
    v = _plain(v)
    if isinstance(v, str):
        v = v.strip()
        try:
            f = float(v)
            return int(f) if f.is_integer() else f
        except ValueError:
            return v
    return v


def _short(levels: tuple, k: int = 8) -> str:
    shown = ", ".join(map(str, levels[:k]))
    return shown + (f", … ({len(levels)} levels)" if len(levels) > k else "")


__all__ = [
    "Column",
    "infer_kind",
    "fit_column",
    "parse_type",
    "KINDS",
]
