"""`difflab bench tables`: real tables that ship offline inside scikit-learn, and a synthetic one
with known dependence and text categories, each trained for a fixed time and scored by the table
metrics against their floors (difflab.table_metrics); categories one-hot and as analog bits."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ..data.codec import TableCodec
from ..data.reference import read_table_reference
from ..models import ModelConfig
from ..run import load_run
from ..table_metrics import table_metrics
from ..training import TrainConfig, TrainingData, train


def people(n: int = 5000, seed: int = 0) -> pd.DataFrame:
    """A synthetic table with known dependence: city → income (log-normal, ×2 in Paris), age →
    children (0–3, a category), a constant, and a noise column."""
    rng = np.random.default_rng(seed)
    city = rng.choice(["Paris", "Oslo", "Rome", "Lima"], n, p=[0.4, 0.3, 0.2, 0.1])
    age = rng.integers(18, 80, n)
    kids = np.clip(np.round((age - 18) / 15 + rng.normal(0, 0.7, n)), 0, 3).astype(int)
    income = rng.lognormal(0.0, 0.6, n) * np.where(city == "Paris", 2.0, 1.0) * (1 + age / 60)
    return pd.DataFrame(
        {
            "city": city,
            "age": age,
            "children": kids,
            "income": income,
            "country": "EU",
            "noise": rng.normal(size=n),
        }
    )


def sklearn_table(name: str) -> pd.DataFrame:
    """A bundled scikit-learn data set as a table, its target as the last column."""
    from sklearn import datasets

    if name == "diabetes":
        d = datasets.load_diabetes(scaled=False)
    else:
        d = getattr(datasets, f"load_{name}")()
    df = pd.DataFrame(d.data, columns=[str(c) for c in d.feature_names])
    target = d.target
    if name != "diabetes":  # classes as names: a categorical target
        target = np.asarray(d.target_names)[d.target]
    return df.assign(target=target)


TABLES = {
    "people": people,
    "diabetes": lambda: sklearn_table("diabetes"),
    "wine": lambda: sklearn_table("wine"),
    "breast_cancer": lambda: sklearn_table("breast_cancer"),
}


def one(name: str, seconds: float, encoding: str, seed: int = 0) -> dict:
    df = TABLES[name]()
    codec = TableCodec.fit(df, encoding=encoding)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        start = time.perf_counter()
        train(
            TrainingData(df, scaler=codec),
            "edm",
            out,
            TrainConfig(seconds=seconds, batch_size=256, seed=seed),
            ModelConfig(width=256, depth=4),
            progress=False,
            log=lambda *_: None,
        )
        trained = time.perf_counter() - start
        run = load_run(out)
        steps = run.trained_steps  # loss.json lives in the temporary run directory
        train_rows, test_rows = read_table_reference(out)
        samples = run.sample(max(len(train_rows), 2000), seed=seed)
        m = table_metrics(codec, samples, train_rows, test_rows, seed=seed)
    ratios = [v["ratio"] for v in m["marginals"].values() if v["ratio"] is not None]
    cat = [m["marginals"][c.name]["ratio"] for c in codec.columns if c.kind == "categorical"]
    return {
        "table": name,
        "encoding": encoding,
        "rows": len(df),
        "columns": df.shape[1],
        "train_seconds": trained,
        "steps": steps,
        "metrics": m,
        "worst_marginal_ratio": max(ratios),
        "worst_categorical_ratio": max(cat) if cat else None,
    }


def tables(names: list[str], seconds: float, encodings: list[str], log=print) -> list[dict]:
    rows = []
    for name in names:
        for encoding in encodings:
            r = one(name, seconds, encoding)
            rows.append(r)
            m = r["metrics"]
            log(
                f"{name:14s} {encoding:6s} {r['steps']:6d} steps  worst marginal "
                f"{r['worst_marginal_ratio']:.2f}×  correlations {m['association']['ratio']:.2f}×  "
                f"efficacy {m['efficacy']['ratio']:.2f}  DCR {m['dcr']['ratio']:.2f}"
            )
    return rows


__all__ = ["tables", "TABLES", "people"]
