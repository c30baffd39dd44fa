"""Quality benchmark: train each (data set, preset) for a fixed time, sample with Heun at 35 NFE,
and compare with fresh exact data. Results are machine-readable JSON; see docs/benchmarks.md."""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import torch

from .._version import __version__
from ..checkpoint import write_json
from ..data import load_data
from ..run import load_run
from ..training import TrainConfig, TrainingData, read_history, train

DEFAULT_PLAN = [
    ("8-gaussians", p)
    for p in ["edm", "ddpm", "ncsn", "vp-sde", "ve-sde", "v-pred", "rectified-flow"]
] + [("moons", "edm"), ("swiss-roll", "edm"), ("25-gaussians", "edm")]


def machine() -> str:
    """CPU model name (from /proc/cpuinfo where there is one) and core count."""
    try:
        with open("/proc/cpuinfo") as f:
            name = next(
                line.split(":", 1)[1].strip() for line in f if line.startswith("model name")
            )
    except (OSError, StopIteration):
        name = platform.processor() or platform.machine()
    import os

    return f"{name}, {os.cpu_count()} cores"


def quality(
    plan=DEFAULT_PLAN,
    seconds: float = 60.0,
    n: int = 5000,
    steps: int = 18,
    seed: int = 0,
    workdir: str | Path = "runs/bench",
    out: str | Path = "benchmarks/results/quality.json",
    log=print,
) -> dict:
    """Run the plan; returns and writes {'machine': …, 'results': [...]}. Rows of an existing
    results file for other (data, preset) pairs are kept; each row is written as soon as it is
    measured."""
    results = _previous_rows(out, plan)
    for data, preset in plan:
        run_dir = Path(workdir) / f"{data}-{preset}"
        train(
            TrainingData(load_data(data, seed=seed), spec=data),
            preset,
            run_dir,
            TrainConfig(seconds=seconds, seed=seed),
            force=True,
            progress=False,
            log=lambda *_: None,
        )
        run = load_run(run_dir)
        stats: dict = {}
        t0 = time.perf_counter()
        x = run.sample(n, steps=steps, seed=seed, stats=stats)
        sample_s = time.perf_counter() - t0
        metrics = run.evaluate(x)
        # the recipe's own σ range, for comparison with the data-derived default
        lo, hi = run.preset.process.sigma_min, run.preset.process.sigma_max
        x_recipe = run.sample(n, steps=steps, seed=seed, sigma_min=max(lo, 0.002), sigma_max=hi)
        recipe = {"sigma_max": hi, "sw2_ratio": run.evaluate(x_recipe)["sw2"]["ratio"]}
        meta = read_history(run_dir)
        row = {
            "data": data,
            "preset": preset,
            "train_seconds": seconds,
            "train_steps": meta[-1][0],
            "final_loss": meta[-1][1],
            "nfe": stats["nfe"],
            "sigma_max": stats["sigma_max"],
            "sample_seconds": sample_s,
            "metrics": metrics,
            "recipe_sigma_max": recipe,
        }
        results.append(row)
        _write(out, results)
        m = metrics
        log(
            f"{data:13s} {preset:15s} steps {row['train_steps']:6d}  SW2 {m['sw2']['ratio']:.2f}× "
            "floor  "
            f"energy {m['energy']['ratio']:.2f}×  dropped "
            f"{m.get('modes', {}).get('dropped_modes', '-')}  "
            f"(from the recipe's σ_max {hi:.3g}: SW2 {recipe['sw2_ratio']:.2f}×)"
        )
    return _write(out, results)


def _previous_rows(out: str | Path, plan) -> list:
    try:
        rows = json.loads(Path(out).read_text())["results"]
    except (OSError, ValueError, KeyError):
        return []
    return [r for r in rows if (r.get("data"), r.get("preset")) not in set(plan)]


def _write(out: str | Path, results: list) -> dict:
    report = {
        "difflab": __version__,
        "torch": torch.__version__,
        "machine": machine(),
        "threads": torch.get_num_threads(),
        "results": results,
    }
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    write_json(out, report)
    return report
