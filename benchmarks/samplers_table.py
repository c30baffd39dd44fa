"""Render benchmarks/results/samplers.json as the markdown tables of docs/benchmarks.md."""

import json
import sys
from collections import defaultdict

path = sys.argv[1] if len(sys.argv) > 1 else "benchmarks/results/samplers.json"
rep = json.load(open(path))
print(
    f"{rep['machine']}, torch {rep['torch']}, {rep['threads']} threads; versions "
    f"{rep['versions']}\n"
)
for data, q in rep["quality"].items():
    print(
        f"**{data}** — SW2 / noise floor at (about) equal NFE; last column: smallest NFE within 2× "
        "of the floor\n"
    )
    by = defaultdict(dict)
    for r in q["rows"]:
        by[(r["library"], r["sampler"])][r["nfe"]] = r["sw2_ratio"]
    print("| library | sampler | NFE: ratio … | ≤ 2× at NFE |")
    print("|---|---|---|---:|")
    for (lib, name), d in by.items():
        cells = ", ".join(f"{k}: {v:.2f}" for k, v in sorted(d.items()))
        print(f"| {lib} | {name} | {cells} | {q['smallest_nfe_within_2x'][name]} |")
    print()
for key, what in [
    ("overhead", "the ideal 25-Gaussian denoiser (~2.5 ms per call)"),
    ("overhead_mlp", "difflab's default MLP (width 128, 4 blocks)"),
]:
    if key not in rep:
        continue
    print(
        f"**Overhead with {what}** — time outside the denoiser, batch 20,000, 2-D, 20 NFE, best of "
        "5\n"
    )
    print("| sampler | NFE | total s | outside µs/step | outside % |")
    print("|---|---:|---:|---:|---:|")
    for r in rep[key]:
        print(
            f"| {r['sampler']} | {r['nfe']} | {r['total_s']:.3f} | {r['outside_us_per_step']:.0f} "
            f"| {r['outside_pct']:.2f} |"
        )
    print()
