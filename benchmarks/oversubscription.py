"""Several trainings on the same cores: each process's steps per second alone, and K at once with
difflab's thread policy against threads forced for the whole run (OMP_NUM_THREADS=2, what every
process did before issue 23, and 1). Run it on an idle machine.

    .venv/bin/python benchmarks/oversubscription.py   # → benchmarks/results/oversubscription.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def batch(k: int, steps: int, root: Path, forced: int | None) -> dict:
    """K `difflab train` processes started together (`forced`: OMP_NUM_THREADS for each, None:
    difflab's own choice); wall-clock of each and steps/s."""
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    if forced:
        env["OMP_NUM_THREADS"] = str(forced)
    cmd = [sys.executable, "-m", "difflab", "train", "--data", "moons", "--steps", str(steps)]
    start = time.perf_counter()
    procs = [
        subprocess.Popen(
            [*cmd, "--out", str(root / f"r{k}-{forced}-{i}"), "--force"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for i in range(k)
    ]
    ends = []
    for p in procs:
        p.wait()
        ends.append(time.perf_counter() - start)
    return {
        "processes": k,
        "forced_threads": forced,
        "seconds": ends,
        "steps_per_second_each": [steps / s for s in ends],
        "steps_per_second_total": k * steps / max(ends),
    }


def main() -> None:
    from difflab.bench import machine

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument("--out", default="benchmarks/results/oversubscription.json")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for k, forced in [(1, None), (1, 1), (args.k, None), (args.k, 2), (args.k, 1)]:
            rows.append(batch(k, args.steps, Path(tmp), forced))
            r = rows[-1]
            print(
                f"{k} process(es){f' ({forced} thread(s) forced)' if forced else ''}: "
                f"{r['steps_per_second_total']:.1f} steps/s in all, each "
                + ", ".join(f"{v:.1f}" for v in r["steps_per_second_each"]),
                flush=True,
            )
    Path(args.out).write_text(json.dumps({"machine": machine(), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
