"""Load time of a 1,000,000 × 20 numeric CSV: difflab's reader (pandas) against the hand-written
loop it replaced (csv module + float() per cell) and numpy.loadtxt, side by side in one run.

    .venv/bin/python benchmarks/csv_load.py [--rows 1000000]   # → benchmarks/results/csv_load.json
"""

from __future__ import annotations

import argparse
import csv
import json
import tempfile
import time
from pathlib import Path

import numpy as np


def handwritten(path: Path) -> np.ndarray:
    """The loop difflab used before (data/files.py until issue 14): csv.reader, float per cell."""
    with open(path, newline="") as f:
        rows = [[float(c) for c in fields] for fields in csv.reader(f) if fields]
    return np.asarray(rows)


def main() -> None:
    from difflab.bench import machine
    from difflab.data import load_array

    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--out", default="benchmarks/results/csv_load.json")
    args = ap.parse_args()
    x = np.random.default_rng(0).normal(size=(args.rows, 20))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.csv"
        np.savetxt(path, x, delimiter=",", fmt="%.9g")
        readers = {
            "difflab (pandas)": lambda: load_array(path),
            "numpy.loadtxt": lambda: np.loadtxt(path, delimiter=","),
            "hand-written csv loop (before)": lambda: handwritten(path),
        }
        seconds = {}
        for name, read in readers.items():
            start = time.perf_counter()
            got = read()
            seconds[name] = time.perf_counter() - start
            assert np.allclose(got, x, rtol=1e-8), name
            print(f"{name:32s} {seconds[name]:7.2f} s", flush=True)
    result = {"machine": machine(), "rows": args.rows, "columns": 20, "seconds": seconds}
    Path(args.out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
