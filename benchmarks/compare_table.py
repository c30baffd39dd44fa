"""Render benchmarks/results/compare-*.json (from `difflab compare`) as the table of
docs/benchmarks.md."""

import glob
import json
import sys

paths = sys.argv[1:] or sorted(glob.glob("benchmarks/results/compare-*.json"))
print(
    "| data | model | steps/s | NLL (nats) | NLL − true (paired) | bits/dim | NFE (likelihood) "
    "| SW2 / floor | energy / floor | s per 1,000 samples |"
)
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for path in paths:
    rep = json.load(open(path))
    for label, m in rep["models"].items():
        gap = f"{m['gap_to_true']:.4f} ± {m['gap_to_true_se']:.4f}" if "gap_to_true" in m else ""
        print(
            f"| {rep['data']} | {label} ({m['kind']}) | {m['steps_per_second']:.0f} | "
            f"{m['nll']:.3f} ± {m['nll_se']:.3f} | {gap} | "
            f"{m['bits_per_dim']:.3f} ± {m['bits_per_dim_se']:.3f} | {m['nfe']} | "
            f"{m['sw2_ratio']:.2f}× | {m['energy_ratio']:.2f}× | "
            f"{m['sample_seconds_per_1000']:.3f} |"
        )
    if rep.get("true"):
        t = rep["true"]
        print(
            f"| {rep['data']} | true density | | {t['nll']:.3f} ± {t['nll_se']:.3f} | | | | | | |"
        )
