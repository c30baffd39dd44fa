"""Render benchmarks/results/compare-*.json (from `difflab compare`) as the table of docs/benchmarks.md."""

import glob
import json
import sys

paths = sys.argv[1:] or sorted(glob.glob("benchmarks/results/compare-*.json"))
print(
    "| data | model | train steps | NLL (nats) | bits/dim | NFE (likelihood) | SW2 / floor | energy / floor |"
)
print("|---|---|---:|---:|---:|---:|---:|---:|")
for path in paths:
    rep = json.load(open(path))
    for label, m in rep["models"].items():
        print(
            f"| {rep['data']} | {label} ({m['kind']}) | {m['steps']} | {m['nll']:.3f} ± {m['nll_se']:.3f} | "
            f"{m['bits_per_dim']:.3f} ± {m['bits_per_dim_se']:.3f} | {m['nfe']} | {m['sw2_ratio']:.2f}× | "
            f"{m['energy_ratio']:.2f}× |"
        )
    if rep.get("true"):
        print(
            f"| {rep['data']} | true density | – | {rep['true']['nll']:.3f} ± {rep['true']['nll_se']:.3f} | | | | |"
        )
