"""The U-Net's default batch size and learning rate, chosen by measurement: `difflab train --data
digits --model unet --seconds S` with each (batch, lr), then 360 unconditional samples (Heun,
35 NFE) scored as `difflab evaluate` does (FD in the features of a classifier trained on the
training split, ÷ the real-vs-real floor). Run it on an idle machine: a seconds budget measures
the machine as much as the recipe.

    .venv/bin/python benchmarks/unet_defaults.py --seconds 300
    # → benchmarks/results/unet_defaults.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

CONFIGS = ("512:1e-3", "128:1e-3", "64:1e-3", "128:3e-4", "32:1e-3")


def one(batch: int, lr: float, seconds: int, root: Path, seed: int) -> dict:
    from difflab.run import load_run

    out = root / f"b{batch}-lr{lr:g}"
    cmd = [sys.executable, "-m", "difflab", "train", "--data", "digits", "--model", "unet"]
    cmd += ["--seconds", str(seconds), "--batch-size", str(batch), "--lr", str(lr)]
    subprocess.run([*cmd, "--out", str(out), "--seed", str(seed), "--force"], check=True)
    run = load_run(out)
    m = run.evaluate(run.sample(360, seed=seed))
    return {
        "batch": batch,
        "lr": lr,
        "seconds": seconds,
        "steps": run.trained_steps,
        "fd_ratio": m["fd"]["ratio"],
        "fd": m["fd"]["value"],
        "fd_floor": m["fd"]["floor"],
    }


def main() -> None:
    from difflab.bench import machine

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=300)
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), help="BATCH:LR …")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="benchmarks/results/unet_defaults.json")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for spec in args.configs:
            batch, lr = spec.split(":")
            rows.append(one(int(batch), float(lr), args.seconds, Path(tmp), args.seed))
            r = rows[-1]
            print(
                f"batch {r['batch']:4d} lr {r['lr']:g}: {r['steps']:5d} steps in "
                f"{r['seconds']} s, FD ÷ floor {r['fd_ratio']:.2f}",
                flush=True,
            )
    out = Path(args.out)
    old = json.loads(out.read_text()) if out.exists() else {}
    kept = old.get("runs", {}).get(str(args.seconds), [])
    fresh = {(r["batch"], r["lr"]) for r in rows}  # a rerun config replaces its old row
    merged = [r for r in kept if (r["batch"], r["lr"]) not in fresh] + rows
    runs = {**old.get("runs", {}), str(args.seconds): merged}
    out.write_text(json.dumps({"machine": machine(), "runs": runs}, indent=2))


if __name__ == "__main__":
    main()
