"""Render benchmarks/results/quality.json as the markdown table of docs/benchmarks.md."""

import json
import sys

path = sys.argv[1] if len(sys.argv) > 1 else "benchmarks/results/quality.json"
report = json.load(open(path))
print(
    f"difflab {report['difflab']}, torch {report['torch']}, {report['machine']}, "
    f"{report['threads']} threads\n"
)
print(
    "| data | preset | train steps (60 s) | final loss | NFE | SW2 | SW2 floor | SW2 ratio | "
    "energy ratio | dropped modes | σ_max | SW2 ratio from the recipe's σ_max |"
)
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---|")
for r in report["results"]:
    m = r["metrics"]
    dropped = m["modes"]["dropped_modes"] if "modes" in m else "–"
    print(
        f"| {r['data']} | {r['preset']} | {r['train_steps']} | {r['final_loss']:.3f} | {r['nfe']} "
        "| "
        f"{m['sw2']['value']:.4f} | {m['sw2']['floor']:.4f} | {m['sw2']['ratio']:.2f}× | "
        f"{m['energy']['ratio']:.2f}× | {dropped or 'none'} | {r['sigma_max']:.3g} | "
        f"{r['recipe_sigma_max']['sw2_ratio']:.2f}× (σ_max "
        f"{r['recipe_sigma_max']['sigma_max']:.3g}) |"
    )
