"""Metrics of a synthetic table against real rows, each beside its floor: the same metric between
two real samples of the same size (held-out rows against training rows), since every estimate at
finite n is biased away from 0.

- marginals: Kolmogorov–Smirnov statistic per numeric column, total variation per categorical one;
- association: mean |Δ| of the Pearson correlation matrix of the encoded columns (numeric
  transformed and standardised, categories one-hot), over pairs of different columns;
- machine-learning efficacy: a gradient-boosted model trained on synthetic rows and tested on
  held-out real rows, against the same model trained on real training rows (accuracy or R²);
- distance to closest record (DCR): median distance, in the model's encoding, from each synthetic
  row to its nearest training row, against held-out real rows' — smaller means copied rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from .data.codec import TableCodec
from .data.columns import Column, level_key

MEMORISING = 0.8  # DCR ratio below which evaluate warns (held-out real rows sit at 1)


def column_distance(c: Column, a: pd.Series, b: pd.Series) -> float:
    """KS statistic (numeric kinds) or total variation (categorical, constant) between columns."""
    if c.kind in ("categorical", "constant"):
        p = a.map(level_key).value_counts(normalize=True)
        q = b.map(level_key).value_counts(normalize=True)
        return float(0.5 * p.sub(q, fill_value=0.0).abs().sum())
    return float(stats.ks_2samp(c.numbers(a), c.numbers(b)).statistic)


def marginals(codec: TableCodec, a: pd.DataFrame, b: pd.DataFrame) -> dict[str, float]:
    return {c.name: column_distance(c, a[c.name], b[c.name]) for c in codec.columns}


def association(codec: TableCodec, a: pd.DataFrame, b: pd.DataFrame) -> float:
    """Mean |corr_a − corr_b| over pairs of encoded dimensions from different columns."""
    owner = np.concatenate([np.full(c.width, i) for i, c in enumerate(codec.columns)])
    if len(set(owner.tolist())) < 2:
        return 0.0
    ca, cb = (_corr(codec.forward(t)) for t in (a, b))
    pairs = owner[:, None] != owner[None, :]
    return float(np.abs(ca - cb)[pairs].mean())


def _corr(z: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.nan_to_num(np.corrcoef(z, rowvar=False))  # a constant code: no correlation


def efficacy_score(
    codec: TableCodec, train: pd.DataFrame, test: pd.DataFrame, target: str, seed: int = 0
) -> float:
    """Held-out accuracy (categorical target) or R² (numeric) of a model trained on `train`."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    col = next(c for c in codec.columns if c.name == target)
    features = TableCodec(tuple(c for c in codec.columns if c.name != target))
    x_train, x_test = features.forward(train), features.forward(test)
    if col.kind == "categorical":
        y_train, y_test = (t[target].map(level_key).astype(str) for t in (train, test))
        if y_train.nunique() < 2:  # a synthetic table of one class predicts that class
            return float((y_test == y_train.iloc[0]).mean())
        model = HistGradientBoostingClassifier(max_iter=100, random_state=seed)
    else:
        y_train, y_test = col.numbers(train[target]), col.numbers(test[target])
        model = HistGradientBoostingRegressor(max_iter=100, random_state=seed)
    return float(model.fit(x_train, y_train).score(x_test, y_test))


def default_target(codec: TableCodec) -> str | None:
    """The last categorical column, else the last numeric one (what a user would predict)."""
    for kinds in (("categorical",), ("numeric", "positive", "bounded")):
        cols = [c for c in codec.columns if c.kind in kinds]
        if cols:
            return cols[-1].name
    return None


def dcr(codec: TableCodec, train: pd.DataFrame, *row_sets: pd.DataFrame) -> list[float]:
    """Median distance from each row of each set to its nearest training row (model encoding);
    the training rows are encoded and indexed once."""
    from scipy.spatial import cKDTree

    tree = cKDTree(codec.forward(train))
    return [float(np.median(tree.query(codec.forward(rows))[0])) for rows in row_sets]


def table_metrics(
    codec: TableCodec,
    samples: pd.DataFrame,
    train: pd.DataFrame,
    test: pd.DataFrame | None,
    target: str | None = None,
    seed: int = 0,
) -> dict:
    """Every metric of the module docstring at n = min(len(samples), len(test)); floors compare
    held-out with training rows (None without held-out rows: a tiny table)."""
    rng = np.random.default_rng(seed)
    n = min(len(samples), len(test)) if test is not None else len(samples)
    s = samples.iloc[rng.permutation(len(samples))[:n]].reset_index(drop=True)
    t = train.iloc[rng.permutation(len(train))[:n]].reset_index(drop=True)
    out: dict = {"n": int(n), "marginals": {}, "floors": test is not None}
    ref = (
        test.iloc[rng.permutation(len(test))[:n]].reset_index(drop=True) if test is not None else t
    )
    per_col = marginals(codec, s, ref)
    floor_col = marginals(codec, ref, t) if test is not None else {}
    for name, value in per_col.items():
        floor = floor_col.get(name)
        out["marginals"][name] = {"value": value, "floor": floor, "ratio": _ratio(value, floor)}
    a, fa = association(codec, s, ref), association(codec, ref, t) if test is not None else None
    out["association"] = {"value": a, "floor": fa, "ratio": _ratio(a, fa)}
    target = target or default_target(codec)
    if test is not None and target is not None:
        real = efficacy_score(codec, train, test, target, seed)
        synth = efficacy_score(codec, samples, test, target, seed)
        out["efficacy"] = {
            "target": target,
            "synthetic": synth,
            "real": real,
            "ratio": synth / real if real > 0 else None,
        }
    if test is not None:
        d_s, d_h = dcr(codec, train, s, ref)
        out["dcr"] = {"synthetic": d_s, "held_out": d_h, "ratio": d_s / d_h if d_h > 0 else None}
        if out["dcr"]["ratio"] is not None and out["dcr"]["ratio"] < MEMORISING:
            out["memorisation_warning"] = (
                f"synthetic rows lie {out['dcr']['ratio']:.2f}× as far from the training rows as "
                "new real rows do: the model is reproducing its training rows; train fewer steps "
                "or a smaller network (on a few hundred rows, ~1,000 steps: docs/tables.md)"
            )
    return out


def _ratio(value: float, floor: float | None) -> float | None:
    return value / floor if floor else None


__all__ = ["table_metrics", "marginals", "association", "efficacy_score", "dcr", "default_target"]
