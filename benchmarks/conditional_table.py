"""Markdown tables of benchmarks/results/inpainting.json and guidance.json (docs/benchmarks.md)."""

import json
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def inpainting() -> None:
    r = json.loads((RESULTS / "inpainting.json").read_text())
    print(
        "| method | levels | NFE per chain | chains per row | filled mean (exact −0.100) "
        "| filled variance (exact 0.190) |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for g in r["gaussian"]:
        print(
            f"| {g['method']} | {g['levels']} | {g['nfe']} | {g['chains_per_row']} | "
            f"{g['mean']:+.3f} ± "
            f"{g['mean_se']:.3f} | {g['var']:.3f} |"
        )
    print()
    print(
        "| data | method | levels | NFE per chain | chains per row | TV of weights (floor) "
        "| SW2 ÷ floor | s |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for m in r["mixtures"]:
        print(
            f"| {m['data']} | {m['method']} | {m['levels']} | {m['nfe']} | {m['chains_per_row']} | "
            f"{m['tv_weights']:.3f} ({m['tv_floor']:.3f}) | {m['sw2_ratio']:.2f}× | "
            f"{m['seconds']:.1f} |"
        )


def guidance() -> None:
    r = json.loads((RESULTS / "guidance.json").read_text())
    print("| w | class accuracy (min over classes) | per-class SW2 ÷ floor, mean (max) |")
    print("|---:|---:|---:|")
    for row in r["rows"]:
        print(
            f"| {row['w']:g} | {100 * row['accuracy']:.2f}% ({100 * row['min_accuracy']:.2f}%) | "
            f"{row['sw2_ratio_mean']:.2f}× ({row['sw2_ratio_max']:.2f}×) |"
        )


if __name__ == "__main__":
    inpainting()
    print()
    guidance()
