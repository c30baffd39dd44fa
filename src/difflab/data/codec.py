"""The codec between a table and the model's vectors, column by column (data/columns.py holds each
column's type, its detection and its transform); stored with the model where a vector run stores
its standardiser."""

from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import DifflabError, DifflabWarning
from .columns import Column, _short, fit_column, identifier_like, level_key


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
        left_out = [c for c in df.columns if str(c) not in types and identifier_like(df[c])]
        if left_out:
            _warn_identifiers(df, left_out)
        cols = [
            fit_column(df[c], *types.get(str(c), (None, None)), encoding=encoding)
            for c in df.columns
            if c not in left_out
        ]
        if not cols:
            raise DifflabError("no columns left to model (every column looks like identifiers)")
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
            x = c.numbers(s)
            if (np.isnan(x) & ~gone).any():
                bad = s[np.isnan(x) & ~gone].iloc[0]
                what = "a date like the training data's" if c.kind == "date" else "a number"
                raise DifflabError(f"column {c.name!r}: {bad!r} is not {what}")
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
        return c.decode_numbers(c.untransform(block[:, 0] * c.std + c.mean))

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
                total += c.log_dudx(c.numbers(df[c.name])) - math.log(c.std)
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
                Column(
                    **{
                        **cd,
                        "levels": tuple(cd["levels"]),
                        "bounds": tuple(cd["bounds"]),
                        "grid": tuple(cd.get("grid", ())),
                    }
                )
                for cd in d["columns"]
            )
        )


def _warn_identifiers(df: pd.DataFrame, names: list) -> None:
    """One warning naming the text columns left out as identifiers or free text."""
    shown = ", ".join(
        f"{n!r} ({df[n].nunique()} distinct in {df[n].notna().sum()} rows)" for n in names
    )
    keep = f"--column-type {names[0]}=categorical"
    warnings.warn(
        f"left out {len(names)} column(s) that look like identifiers or free text: {shown}; "
        f"keep one with {keep}",
        DifflabWarning,
        stacklevel=3,
    )


def _column_dict(c: Column) -> dict:
    d = dataclasses.asdict(c)
    return {**d, "levels": list(c.levels), "bounds": list(c.bounds), "grid": list(c.grid)}


def describe_columns(codec: TableCodec) -> str:
    """'2 numeric, 1 positive (log), 1 categorical (3 levels), 1 constant' and the model's dim."""
    parts = []
    for kind, note in [
        ("numeric", ""),
        ("positive", " (log)"),
        ("bounded", " (logit)"),
        ("date", ""),
        ("categorical", ""),
        ("constant", ""),
    ]:
        cols = [c for c in codec.columns if c.kind == kind]
        if not cols:
            continue
        if kind == "categorical":
            note = f" ({sum(c.width for c in cols)} levels)"
        ints = sum(c.integer for c in cols)
        note += f", {ints} of them integers" if ints and kind not in ("categorical", "date") else ""
        parts.append(f"{len(cols)} {kind}{note}")
    return f"columns: {'; '.join(parts)} → {codec.dim} model dimensions"


__all__ = ["TableCodec", "describe_columns"]
