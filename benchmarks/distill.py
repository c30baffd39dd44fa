"""One and two steps (issue 25): consistency distillation (CD), reflow and consistency training
(CT) against their teacher on 8-gaussians, moons and the 10-D mixture, at 1, 2 and 4 NFE.

Per data set: an EDM teacher trained for SECONDS; its best tuned grid (`Run.for_nfe`) at 2, 4, 5
and 35 NFE and Euler's one step at 1 NFE; students distilled from it (`difflab.distill`, the same
SECONDS each: distillation time, pair generation included, against the teacher's training time)
and CT trained from the data for SECONDS. On the Gaussian mixtures, students of the exact denoiser
(difflab.ideal) too: their distance to the floor is distillation error alone, the trained
teacher's students' is both. SW2 and energy distance of 5,000 samples to 5,000 fresh rows, ÷ the
same metric between two fresh sets (the floor). Data are scaled by one scalar for every run (mean
shift and a common std), so the mixture stays a mixture in the model's units and the exact
teacher is exact there. Run on an idle machine: budgets are seconds.

    .venv/bin/python benchmarks/distill.py --seconds 60   # → benchmarks/results/distill.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

DATA = ("8-gaussians", "moons", "mixture-10d")
N = 5000


class Exact(torch.nn.Module):
    """The mixture's ideal denoiser in model units z = (x − m)/s (s a scalar):
    D_z(ẑ, σ) = (D_x(m + s ẑ, sσ) − m)/s."""

    def __init__(self, mixture, mean: np.ndarray, std: float):
        super().__init__()
        self.mixture, self.std = mixture, std
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float64))
        self.anchor = torch.nn.Parameter(torch.zeros(()))  # Run asks its parameters for a device

    def forward(self, z, sigma, cond=None):
        x = self.mean + self.std * z.double()
        sigma = torch.as_tensor(sigma, dtype=torch.float64) * self.std
        return ((self.mixture(x, sigma) - self.mean) / self.std).to(z.dtype)


def scores(x: np.ndarray, ref: np.ndarray, floor: dict) -> dict:
    from difflab.metrics import energy_distance, sliced_wasserstein

    sw, en = sliced_wasserstein(x, ref), energy_distance(x, ref)
    return {"sw2": sw / floor["sw2"], "energy": en / floor["energy"]}


def teacher_rows(run, data: str, ref, floor: dict, budgets=(1, 2, 4, 5, 35)) -> list[dict]:
    rows = []
    for nfe in budgets:
        # the best grid tuned for this budget (Run.for_nfe); 1 NFE: Euler's one step (no grid)
        how = {"sampler": "euler", "steps": 1} if nfe == 1 else run.for_nfe(nfe)
        stats: dict = {}
        x = run.sample(N, seed=1, stats=stats, **how)
        label = f"{how['sampler']} {how.get('schedule', 'karras')}"
        rows.append({"data": data, "model": "teacher", "how": label, "nfe": stats["nfe"],
                     **scores(x, ref, floor)})  # fmt: skip
    return rows


def student_rows(path: Path, data: str, name: str, ref, floor, seconds: float) -> list[dict]:
    from difflab.run import load_run

    run, rows = load_run(path), []
    for steps in (1, 2, 4):
        stats: dict = {}
        x = run.sample(N, steps=steps, seed=1, stats=stats)
        row = {"data": data, "model": name, "how": stats["sampler"], "nfe": stats["nfe"]}
        row.update(seconds=seconds, steps=run.trained_steps, **scores(x, ref, floor))
        rows.append(row)
    return rows


def one(data: str, seconds: float, root: Path) -> list[dict]:
    from difflab.data import Standardiser, get_toy, load_data
    from difflab.distillation import distill, teacher_coupling, teacher_data
    from difflab.run import load_run
    from difflab.training import TrainConfig, TrainingData, train

    quiet = dict(progress=False, log=lambda *_: None)
    x = load_data(data, n=50_000, seed=0)
    scaler = Standardiser(x.mean(0), np.full(x.shape[1], x.std(0).mean()))
    ref, other = load_data(data, n=N, seed=101), load_data(data, n=N, seed=102)
    floor = {"sw2": 1.0, "energy": 1.0}
    floor = scores(other, ref, floor)
    rows = [{"data": data, "model": "floor", **floor}]
    cfg = TrainConfig(seconds=seconds)
    start = time.perf_counter()
    train(TrainingData(x, spec=data, scaler=scaler), "edm", root / "teacher", cfg, **quiet)
    taught = time.perf_counter() - start
    teacher = load_run(root / "teacher")
    rows += [dict(r, seconds=taught, steps=teacher.trained_steps)
             for r in teacher_rows(teacher, data, ref, floor)]  # fmt: skip
    for method in ("consistency", "reflow"):
        start = time.perf_counter()
        distill(root / "teacher", root / method, cfg, method, **quiet)
        wall = time.perf_counter() - start
        rows += student_rows(root / method, data, method, ref, floor, wall)
    start = time.perf_counter()
    train(TrainingData(x, spec=data, scaler=scaler), "consistency-training", root / "ct", cfg,
          **quiet)  # fmt: skip
    rows += student_rows(root / "ct", data, "ct", ref, floor, time.perf_counter() - start)
    mixture = get_toy(data).mixture
    if mixture is not None:  # the exact teacher: distillation error alone
        exact = Exact(mixture, scaler.mean, float(scaler.std[0]))
        teacher.denoiser = exact
        rows += [dict(r, model="exact teacher")
                 for r in teacher_rows(teacher, data, ref, floor, (35,))]  # fmt: skip
        source = teacher_data(teacher)
        model = teacher.config.model
        pairs = teacher_coupling(teacher, source, None, **quiet)
        for name, given in (("consistency", exact), ("reflow", pairs)):
            out = root / f"exact-{name}"
            start = time.perf_counter()
            train(source, name, out, cfg, model, teacher=given, **quiet)
            wall = time.perf_counter() - start
            rows += student_rows(out, data, f"{name} of the exact teacher", ref, floor, wall)
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| data | model | sampler | NFE | SW2 ÷ floor | energy ÷ floor | seconds (steps) |",
             "|---|---|---|---:|---:|---:|---:|"]  # fmt: skip
    for r in rows:
        if r["model"] == "floor":
            continue
        took = f"{r['seconds']:.0f} ({r['steps']:,})" if "seconds" in r else ""
        lines.append(
            f"| {r['data']} | {r['model']} | {r['how']} | {r['nfe']} | {r['sw2']:.2f} | "
            f"{r['energy']:.2f} | {took} |"
        )
    return "\n".join(lines)


def main() -> None:
    from difflab.bench import machine

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--data", nargs="+", default=list(DATA))
    parser.add_argument("--out", default="benchmarks/results/distill.json")
    args = parser.parse_args()
    rows = []
    for data in args.data:
        with tempfile.TemporaryDirectory() as tmp:
            rows += one(data, args.seconds, Path(tmp))
        print(table([r for r in rows if r["data"] == data]), flush=True)
    result = {"machine": machine(), "seconds": args.seconds, "rows": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(table(rows))


if __name__ == "__main__":
    main()
