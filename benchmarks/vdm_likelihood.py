"""Training for likelihood (issue 24): EDM as it is, EDM with `--weighting vlb`, the `vdm` preset
(VDM's bound as the loss, its schedule learned with the model) and MADE (exact likelihood) on
Gaussian mixtures with a known density, the same seconds each on the same machine; the paired gap
of each model's NLL to the true density's on held-out points (PF-ODE, exact up to the solver's
tolerance), VDM's bound beside it, and for the vdm run the bound's Monte-Carlo variance under its
learned schedule against fixed schedules between the same ends at equal cost (64 draws).

    .venv/bin/python benchmarks/vdm_likelihood.py --seconds 60   # → benchmarks/results/vdm.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
from pathlib import Path

import numpy as np
import torch

RECIPES = {  # label: (preset or None, model type, likelihood weighting)
    "edm": ("edm", "mlp", False),
    "edm --weighting vlb": ("edm", "mlp", True),
    "vdm": ("vdm", "mlp", False),
    "made": (None, "made", False),
}


def one(data: str, label: str, seconds: float, seed: int, root: Path, x: np.ndarray) -> dict:
    from difflab.compare import log_probs, mean_and_se, true_log_prob
    from difflab.run import load_run
    from difflab.training import ModelConfig, TrainConfig, TrainingData, train

    preset, model, weighted = RECIPES[label]
    cfg = TrainConfig(seconds=seconds, seed=seed, likelihood_weighting=weighted)
    out = root / f"{data}-{label.replace(' ', '')}-{seed}"
    rows = TrainingData(_train_rows(data, seed), spec=data)
    train(rows, preset or "edm", out, cfg, ModelConfig(type=model), progress=False,
          log=lambda *_: None)  # fmt: skip
    run, true = load_run(out), true_log_prob(data, x)
    lp, _ = log_probs(run, x)
    row = {"data": data, "recipe": label, "seed": seed, "steps": run.trained_steps}
    row["gap"], row["gap_se"] = mean_and_se(true - lp)
    if model != "made":
        bound, _ = log_probs(run, x, method="vlb", steps=64, seed=seed)
        row["vlb_gap"], row["vlb_gap_se"] = mean_and_se(true - bound)
    if preset == "vdm":
        row["bound_variance"] = _variances(run, x[:500], seed)
    return row


def _train_rows(data: str, seed: int) -> np.ndarray:
    from difflab.data import load_data

    return load_data(data, n=50_000, seed=seed)


def _variances(run, x: np.ndarray, seed: int) -> dict:
    """Per point, the variance of the 64-draw diffusion-loss estimate under the learned schedule
    and under two fixed ones with the same ends (log σ uniform; VP-cosine's t uniform)."""
    from difflab.processes import VE, VPCosine
    from difflab.vlb import diffusion_loss

    learned = run.learned_schedule.cpu()
    lo, hi = learned.sigma_min, learned.sigma_max
    cosine = VPCosine()
    ends = [float(cosine.t_of_sigma(torch.tensor(v, dtype=torch.float64))) for v in (lo, hi)]
    cosine = dataclasses.replace(cosine, t_min=ends[0], t_max=ends[1])
    z = torch.as_tensor(run.standardiser.forward(x), dtype=torch.float64)
    d = run._in(torch.float64)
    out = {}
    for name, schedule in [("learned", learned), ("log-uniform", VE(lo, hi)), ("cosine", cosine)]:
        gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            _, se = diffusion_loss(d, z, schedule, 64, gen)
        out[name] = float((se**2 * 64).mean())  # the per-draw variance, averaged over points
    return out


def main() -> None:
    from difflab.bench import machine
    from difflab.compare import held_out

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", nargs="+", default=["8-gaussians", "mixture-10d"])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--out", default="benchmarks/results/vdm.json")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for data in args.data:
            x = held_out(data, 2000)
            for seed in args.seeds:
                for label in RECIPES:
                    rows.append(one(data, label, args.seconds, seed, Path(tmp), x))
                    r = rows[-1]
                    vlb = f", bound gap {r['vlb_gap']:.3f}" if "vlb_gap" in r else ""
                    var = r.get("bound_variance", "")
                    print(f"{data} {label} seed {seed}: {r['steps']} steps, gap to true "
                          f"{r['gap']:.3f} ± {r['gap_se']:.3f}{vlb} {var}", flush=True)  # fmt: skip
    result = {"machine": machine(), "seconds": args.seconds, "rows": rows}
    Path(args.out).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
