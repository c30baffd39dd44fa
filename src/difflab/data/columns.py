"""Column types of a table and the codec between a table and the model's vectors.

Each column is one of
- numeric:     u = x, standardised (one model dimension);
- positive:    u = log x, standardised — samples stay positive, heavy tails become tame;
- bounded:     u = logit((x − lo)/(hi − lo)), standardised — samples stay inside (lo, hi);
- categorical: one-hot with entries ±1 (K dimensions), decoded by argmax — levels come back exactly;
- constant:    no dimension; the value is written back exactly.
Numeric kinds remember whether the column held integers (decoded by rounding) and its observed range
(samples are clipped to it, as TabDDPM's quantile transform does implicitly).

Detection (overridable per column): text, booleans, a column of two values and integers with at
most CATEGORICAL_LEVELS levels (each seen twice on average) are categorical; one value is
constant; positive numbers with a skewness above 1 are positive; everything else numeric.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import DifflabError, DifflabWarning

CATEGORICAL_LEVELS = 5  # integer columns with this many levels or fewer are categories
KINDS = ("numeric", "positive", "bounded", "categorical", "constant")
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


def infer_kind(s: pd.Series) -> str:
    """The detected type of a column (module docstring)."""
    values = s.dropna()
    if len(values) == 0:
        raise DifflabError(f"column {s.name!r}: every cell is missing")
    if values.nunique() == 1:
        return "constant"
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
    u = col.transform(x)
    return dataclasses.replace(col, mean=float(u.mean()), std=float(u.std()) or 1.0)


def _plain(v):
    """numpy scalars → Python (JSON) values; 3.0 in an integer-valued column → 3."""
    if isinstance(v, (np.generic,)):
        v = v.item()
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


def _level_order(v) -> tuple:
    return (0, float(v), "") if isinstance(v, (int, float)) else (1, 0.0, str(v))


@dataclass(frozen=True)
class TableCodec:
    """Table ↔ model vectors, column by column (module docstring); stored with the model."""

    columns: tuple[Column, ...]

    @classmethod
    def fit(
        cls, df: pd.DataFrame, types: dict | None = None, encoding: str = "onehot"
    ) -> "TableCodec":
        """Codec of a complete table; `types`: {name: (kind, bounds)} overrides detection;
        `encoding` of categories: onehot (the default, by measurement: docs/tables.md) or bits."""
        types = types or {}
        unknown = set(types) - set(map(str, df.columns))
        if unknown:
            raise DifflabError(f"--column-type: no column {sorted(unknown)[0]!r} in the table")
        cols = [
            fit_column(df[c], *types.get(str(c), (None, None)), encoding=encoding)
            for c in df.columns
        ]
        return cls(tuple(cols))

    @property
    def dim(self) -> int:
        return sum(c.width for c in self.columns)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def categorical(self) -> bool:
        return any(c.kind == "categorical" for c in self.columns)

    def forward(self, df: pd.DataFrame, missing: bool = False) -> np.ndarray:
        """N×dim model vectors; missing=True: a missing cell is NaN in its column's dimensions."""
        df = self._check(df)
        parts = [self._encode(c, df[c.name], missing) for c in self.columns if c.width]
        return np.concatenate(parts, axis=1) if parts else np.zeros((len(df), 0))

    def _check(self, df: pd.DataFrame) -> pd.DataFrame:
        if isinstance(df, np.ndarray):
            if df.ndim != 2 or df.shape[1] != len(self.columns):
                raise DifflabError(
                    f"expected a table with columns {self.names}, got an array of shape {df.shape}"
                )
            df = pd.DataFrame(df, columns=self.names)
        absent = [n for n in self.names if n not in df.columns]
        if absent:
            raise DifflabError(f"the table lacks column(s) {absent} that the model was trained on")
        return df

    def _encode(self, c: Column, s: pd.Series, missing: bool) -> np.ndarray:
        gone = s.isna().to_numpy()
        if gone.any() and not missing:
            raise DifflabError(
                f"column {c.name!r}: {int(gone.sum())} missing cell(s), first at row "
                f"{int(np.argmax(gone))}"
            )
        if c.kind == "categorical":
            index = {level_key(v): i for i, v in enumerate(c.levels)}
            codes = np.array([-1 if g else index.get(level_key(v), -2) for v, g in zip(s, gone)])
            if (codes == -2).any():
                bad = s[codes == -2].iloc[0]
                raise DifflabError(
                    f"column {c.name!r}: level {bad!r} was not in the training data "
                    f"({_short(c.levels)})"
                )
            out = c.codebook[np.maximum(codes, 0)]
        else:
            x = pd.to_numeric(s, errors="coerce").to_numpy(np.float64)
            if (np.isnan(x) & ~gone).any():
                bad = s[np.isnan(x) & ~gone].iloc[0]
                raise DifflabError(f"column {c.name!r}: {bad!r} is not a number")
            if np.isinf(x).any():
                raise DifflabError(
                    f"column {c.name!r}: infinite value at row {int(np.argmax(np.isinf(x)))}"
                )
            if c.kind == "positive" and (x[~gone] <= 0).any():
                raise DifflabError(f"column {c.name!r}: positive, but holds {np.nanmin(x):g}")
            out = ((c.transform(np.where(gone, c.hi, x)) - c.mean) / c.std)[:, None]
        return np.where(gone[:, None], np.nan, out)

    def inverse(self, z: np.ndarray) -> pd.DataFrame:
        """The table of N model vectors: argmax levels, untransformed, clipped, rounded."""
        z = np.asarray(z, dtype=np.float64)
        out, at = {}, 0
        for c in self.columns:
            block, at = z[:, at : at + c.width], at + c.width
            out[c.name] = self._decode(c, block, len(z))
        return pd.DataFrame(out)

    def _decode(self, c: Column, block: np.ndarray, n: int):
        if c.kind == "constant":
            return np.full(n, c.value, dtype=object if isinstance(c.value, str) else None)
        if c.kind == "categorical":
            levels = np.array(c.levels, dtype=object)
            picked = levels[(block @ c.codebook.T).argmax(axis=1)]
            return picked.astype(np.int64) if all(type(v) is int for v in c.levels) else picked
        x = np.clip(c.untransform(block[:, 0] * c.std + c.mean), c.lo, c.hi)
        return np.round(x).astype(np.int64) if c.integer else x

    def log_abs_det(self, df: pd.DataFrame) -> np.ndarray:
        """log|dz/dx| per row (numeric tables only: a category has no density)."""
        if self.categorical:
            raise DifflabError(
                "a table with categorical columns has no density (a mix of discrete and "
                "continuous values); the likelihood needs numeric columns only"
            )
        df = self._check(df)
        total = np.zeros(len(df))
        for c in self.columns:
            if c.width:
                x = df[c.name].to_numpy(np.float64)
                total += c.log_dudx(x) - math.log(c.std)
        return total

    def dequantise(self, df: pd.DataFrame, rng: np.random.Generator) -> tuple[pd.DataFrame, list]:
        """The rows with each integer column spread over its bin, x + U[−½, ½) (the bins that
        `inverse` rounds to), for a density that bounds the discrete probability (Theis et al.
        2016; bin width 1, so no log-width term); real-valued columns are left as they are.
        Returns the rows and the names of the columns dequantised."""
        df = self._check(df).copy()
        names = [c.name for c in self.columns if c.integer and c.kind != "categorical" and c.width]
        for name in names:
            df[name] = df[name].to_numpy(np.float64) + rng.uniform(-0.5, 0.5, len(df))
        return df, names

    def to_dict(self) -> dict:
        return {"kind": "table", "columns": [_column_dict(c) for c in self.columns]}

    @classmethod
    def from_dict(cls, d: dict) -> "TableCodec":
        return cls(
            tuple(
                Column(**{**cd, "levels": tuple(cd["levels"]), "bounds": tuple(cd["bounds"])})
                for cd in d["columns"]
            )
        )


def _column_dict(c: Column) -> dict:
    return {**dataclasses.asdict(c), "levels": list(c.levels), "bounds": list(c.bounds)}


def describe_columns(codec: TableCodec) -> str:
    """'2 numeric, 1 positive (log), 1 categorical (3 levels), 1 constant' and the model's dim."""
    parts = []
    for kind, note in [
        ("numeric", ""),
        ("positive", " (log)"),
        ("bounded", " (logit)"),
        ("categorical", ""),
        ("constant", ""),
    ]:
        cols = [c for c in codec.columns if c.kind == kind]
        if not cols:
            continue
        if kind == "categorical":
            note = f" ({sum(c.width for c in cols)} levels)"
        ints = sum(c.integer for c in cols)
        note += f", {ints} of them integers" if ints and kind != "categorical" else ""
        parts.append(f"{len(cols)} {kind}{note}")
    return f"columns: {'; '.join(parts)} → {codec.dim} model dimensions"


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
    "TableCodec",
    "describe_columns",
    "infer_kind",
    "fit_column",
    "parse_type",
    "KINDS",
]
