"""Training without a budget on real tables (scikit-learn's, shipped offline): steps and seconds
to the best held-out loss, where it stopped, and the table metrics of the kept checkpoint beside
their floors, against the fixed budgets docs/tables.md measured.

    .venv/bin/python benchmarks/early_stop.py   # → benchmarks/results/early_stop.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd


def tables() -> dict[str, pd.DataFrame]:
    from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine

    out = {}
    for name, load in [
        ("diabetes", load_diabetes),
        ("wine", load_wine),
        ("breast_cancer", load_breast_cancer),
    ]:
        bunch = load(as_frame=True)
        out[name] = bunch.frame
    return out


def row(name: str, df: pd.DataFrame, root: Path) -> dict:
    from difflab.run import load_run
    from difflab.training import ModelConfig, TrainConfig, train

    start = time.perf_counter()
    out = train(
        df,
        "edm",
        root / name,
        TrainConfig(batch_size=256),
        ModelConfig(width=256, depth=4),
        progress=False,
        log=lambda *_: None,
    )
    seconds = time.perf_counter() - start
    curve = np.array(json.loads((out / "loss.json").read_text())["held_out"])
    best = int(curve[np.argmin(curve[:, 1]), 0])
    last = int(curve[-1, 0])
    run = load_run(out)
    metrics = run.evaluate(run.sample(2000, seed=0))
    worst = max(m["ratio"] or 0 for m in metrics["marginals"].values())
    return {
        "table": name,
        "rows": len(df),
        "columns": df.shape[1],
        "best_step": best,
        "stopped_at": last,
        "seconds_total": seconds,
        "seconds_to_best": seconds * best / last,
        "worst_marginal_ratio": worst,
        "correlation_ratio": metrics["association"]["ratio"],
        "efficacy_ratio": metrics.get("efficacy", {}).get("ratio"),
        "dcr_ratio": metrics.get("dcr", {}).get("ratio"),
    }


def main() -> None:
    from difflab.bench import machine

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="benchmarks/results/early_stop.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = [row(name, df, Path(tmp)) for name, df in tables().items()]
    for r in rows:
        print(
            f"{r['table']:14s} {r['rows']:4d}×{r['columns']:<3d} best step {r['best_step']:5d} "
            f"(stopped {r['stopped_at']:5d}) {r['seconds_to_best']:6.1f} s to best, "
            f"{r['seconds_total']:6.1f} s in all; worst column {r['worst_marginal_ratio']:.2f}×, "
            f"DCR {r['dcr_ratio']:.2f}, efficacy {r['efficacy_ratio']:.2f}"
        )
    Path(args.out).write_text(json.dumps({"machine": machine(), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
