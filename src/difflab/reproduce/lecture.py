"""The 1-D experiments of the lecture (seed 004) on U[0, 1]: Level-1 DDPM, flow fields, steps sweep,
SDE paths. Each function writes its figures into `out` and returns the numbers for numbers.json."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from ..data.toy import TOY_SETS
from ..ideal import Uniform01
from ..processes import VP, Process
from ..run import Run
from ..checkpoint import CHECKPOINT
from ..sampling.ode import PFODE
from . import figures
from .common import densities, ks_uniform, lecture_presets, sample_path, train_recipe, w1_uniform

# training steps per model (quick, full): ~110 steps/s on 2 CPU cores
BUDGET = {"uniform-1d": (4000, 30_000), "lecture-models": (2000, 15_000)}
SAMPLE_RANGE = {"VP": "time-uniform", "VE": "time-uniform", "EDM": "karras"}


def _uniform_data(seed: int, n: int = 50_000) -> np.ndarray:
    return TOY_SETS["uniform-1d"].sample(n, seed=seed).numpy()


def _floor(n: int, seed: int) -> dict:
    """KS and W1 of exact U[0, 1] sets of the same size: what 'perfect' looks like at this n."""
    sets = [TOY_SETS["uniform-1d"].sample(n, seed=seed + 100 + k).numpy() for k in range(5)]
    return {
        "ks": float(np.mean([ks_uniform(s) for s in sets])),
        "w1": float(np.mean([w1_uniform(s) for s in sets])),
    }


def uniform_1d(out: Path, quick: bool, seed: int = 0, log=print) -> dict:
    """Level 1: x_k = A_k x_{k-1} + B_k ε_k (A_k² + B_k² = 1, 100 steps), ε-prediction, ancestral
    sampling of 10,000 points with every intermediate step kept."""
    preset = lecture_presets()["VP"]
    run = train_recipe(
        _uniform_data(seed), preset, out / "model", BUDGET["uniform-1d"][not quick], seed, log=log
    )
    process: Process = run.preset.process
    levels = preset.noise.sigmas(process).flip(0)  # σ_100 > … > σ_1: the 100 trained levels
    sigmas = torch.cat([levels, levels.new_zeros(1)])
    n = 10_000
    x_T = torch.randn(n, 1, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    with torch.no_grad():
        states = sample_path(
            run.denoiser,
            x_T.float() * math.sqrt(1 + float(levels[0]) ** 2),
            sigmas,
            "ddpm",
            seed=seed,
        )
    # show the lecture's variable x_k = sqrt(ᾱ_k) x̂_k = x̂_k / sqrt(1 + σ_k²) (x_N ~ N(0, 1))
    scale = 1.0 / torch.sqrt(1 + sigmas.float() ** 2)
    x = (states[..., 0] * scale[:, None]).double().numpy()
    edges = np.linspace(-3, 3, 121)
    figures.step_histograms(
        x,
        edges,
        out / "histograms.png",
        steps=(1, 50, 100),
        title="Level-1 DDPM on U[0, 1]: 100 noise steps, 10,000 samples",
    )
    final = x[-1]
    # the same sampler and grid driven by the exact denoiser of U[0, 1]: what 100 steps alone allow
    ideal = sample_path(
        Uniform01(), x_T * math.sqrt(1 + float(levels[0]) ** 2), sigmas, "ddpm", seed=seed
    )[-1, :, 0]
    numbers = {
        "ks": ks_uniform(final),
        "w1": w1_uniform(final),
        "floor": _floor(n, seed),
        "n": n,
        "steps": len(sigmas) - 1,
        "train_steps": run.trained_steps,
        "exact_denoiser": {"ks": ks_uniform(ideal.numpy()), "w1": w1_uniform(ideal.numpy())},
    }
    log(
        f"  uniform-1d: KS {numbers['ks']:.4f} (exact denoiser, same 100 steps: "
        f"{numbers['exact_denoiser']['ks']:.4f}; "
        f"exact sets: {numbers['floor']['ks']:.4f}), W1 {numbers['w1']:.4f} (exact sets: "
        f"{numbers['floor']['w1']:.4f})"
    )
    return numbers


def _lecture_runs(out: Path, quick: bool, seed: int, log) -> dict:
    """VP, VE, EDM trained on U[0, 1]; shared by flow-field and steps-sweep through
    OUT/_lecture-models (reused when a model with the same budget and seed is there)."""
    data = _uniform_data(seed)
    steps = BUDGET["lecture-models"][not quick]
    runs = {}
    for name, preset in lecture_presets().items():
        where = out.parent / "_lecture-models" / f"{name}-{'quick' if quick else 'full'}-seed{seed}"
        if (where / CHECKPOINT).exists():
            runs[name] = Run.load(where, preset=preset)
            log(f"  reusing {where}")
        else:
            runs[name] = train_recipe(data, preset, where, steps, seed, log=log)
    return runs


def flow_field(out: Path, quick: bool, seed: int = 0, log=print) -> dict:
    """The learned PF-ODE field dx/dt over (t, x) in each recipe's own time and scaling, with
    trajectories integrated on it (Euler, 200 steps, own time)."""
    runs = _lecture_runs(out, quick, seed, log)
    panels, numbers = {}, {}
    for name, run in runs.items():
        p = run.preset.process
        lo, hi = p.sigma_min, p.sigma_max
        sig = _own_grid(name, run, 200, lo, hi)
        z = torch.randn(24, 1, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
        with torch.no_grad():
            path = sample_path(
                run.denoiser, (z * math.sqrt(hi**2 + 1 / 12)).float(), sig, "euler", process=p
            )
        ts = p.t_of_sigma(sig[:-1].double()).numpy()
        s = p.s(torch.as_tensor(ts)).numpy()
        xs = path[:-1, :, 0].double().numpy() * s[:, None]  # the process's own variable x = s·x̂
        t_grid, x_grid, field = _field(run.denoiser, p, ts, np.percentile(np.abs(xs), 99) * 1.1)
        panels[name] = {
            "t": ts,
            "paths": xs,
            "t_grid": t_grid,
            "x_grid": x_grid,
            "field": field,
            "final": path[-1, :, 0].numpy(),
        }
        numbers[name] = {
            "sigma_range": [lo, hi],
            "x_extent": float(np.abs(xs).max()),
            "w1_of_24_paths": w1_uniform(path[-1, :, 0].numpy()),
        }
    figures.flow_fields(panels, out / "flow_field.png")
    return numbers


def _own_grid(name: str, run, steps: int, lo: float, hi: float) -> torch.Tensor:
    return run.sigmas(steps, SAMPLE_RANGE[name], sigma_min=lo, sigma_max=hi)


def _field(denoiser, process: Process, ts: np.ndarray, x_max: float, n: int = 40):
    """dx/dt on a (t, x) grid of the process's time and variable."""
    t_grid = np.linspace(ts.min(), ts.max(), n)
    x_grid = np.linspace(-x_max, x_max, n)
    ode = PFODE(denoiser, process)
    field = np.stack(
        [
            ode(torch.tensor(x_grid, dtype=torch.float32)[:, None], float(t))[:, 0].detach().numpy()
            for t in t_grid
        ],
        axis=1,
    )  # [x, t]
    return t_grid, x_grid, field


def steps_sweep(out: Path, quick: bool, seed: int = 0, log=print) -> dict:
    """VP, VE and EDM (trained on 100 noise levels) sampled with N ODE steps, N = 2 … 100: sample
    distribution against N and W1 to U[0, 1] against N."""
    runs = _lecture_runs(out, quick, seed, log)
    ns = (
        [2, 3, 4, 5, 6, 8, 10, 13, 16, 20, 25, 32, 40, 50, 64, 80, 100]
        if quick
        else list(range(2, 101))
    )
    n = 2000 if quick else 10_000
    edges = np.linspace(-0.5, 1.5, 81)
    maps, w1 = {}, {}
    for name, run in runs.items():
        p = run.preset.process
        cols = []
        for steps in ns:
            x = run.sample(
                n,
                sampler="euler",
                steps=steps,
                seed=seed,
                schedule=SAMPLE_RANGE[name],
                own_time=True,
                sigma_min=p.sigma_min,
                sigma_max=p.sigma_max,
            )[:, 0]
            cols.append(x)
        maps[name] = densities(cols, edges)
        w1[name] = [w1_uniform(c) for c in cols]
    figures.steps_sweep(ns, edges, maps, w1, out / "steps_sweep.png")
    small = {k: float(np.mean([v for s, v in zip(ns, w) if s <= 10])) for k, w in w1.items()}
    best = min(small, key=small.get)
    verdict = (
        "agrees: EDM has the smallest mean W1 for N ≤ 10"
        if best == "EDM"
        else f"does not agree: {best} has the smallest mean W1 for N ≤ 10"
    )
    log(
        "  steps-sweep: mean W1 for N ≤ 10: "
        + ", ".join(f"{k} {v:.3f}" for k, v in small.items())
        + f" → {verdict}"
    )
    return {
        "n": n,
        "N": ns,
        "w1": w1,
        "mean_w1_small_N": small,
        "lecture_claim": verdict,
        "floor_w1": _floor(n, seed)["w1"],
    }


def sde_paths(out: Path, quick: bool, seed: int = 0, log=print) -> dict:
    """Forward and reverse VP-SDE paths of U[0, 1] data over the exact p_t(x) colour map; the
    reverse SDE is driven by the exact denoiser of U[0, 1] (a truncated-normal mean), so the picture
    is the process itself, not a model of it."""
    process, ideal = VP(), Uniform01()
    steps, n = (300, 2000) if quick else (1000, 10_000)
    ts = np.linspace(process.t_min, process.t_max, steps + 1)
    gen = torch.Generator().manual_seed(seed)
    x0 = ideal.sample(n, generator=gen)
    forward = _forward_em(process, x0, ts, gen)
    sig = process.sigma(torch.as_tensor(ts[::-1].copy()))
    sigmas = torch.cat([sig, sig.new_zeros(1)])
    x_T = torch.randn(n, 1, generator=gen, dtype=torch.float64) * torch.sqrt(sig[0] ** 2 + 1 / 12)
    rev = sample_path(ideal, x_T, sigmas, "euler-maruyama", process=process, seed=seed)
    s_rev = process.s(torch.as_tensor(ts[::-1].copy()))
    reverse = (rev[:-1, :, 0] * s_rev[:, None]).numpy()  # x = s·x̂ at each time, backwards
    x_grid = np.linspace(-3, 3, 241)
    density = np.stack([_vp_marginal(process, ideal, x_grid, t) for t in ts], axis=1)
    figures.sde_paths(ts, x_grid, density, forward.numpy(), reverse, out / "sde_paths.png")
    final = rev[-1, :, 0].numpy()
    numbers = {
        "steps": steps,
        "n": n,
        "forward_end_mean": float(forward[-1].mean()),
        "forward_end_var": float(forward[-1].var()),
        "reverse_ks": ks_uniform(final),
        "reverse_w1": w1_uniform(final),
        "floor": _floor(n, seed),
    }
    log(
        f"  sde-paths: forward x_T mean {numbers['forward_end_mean']:+.3f} var "
        f"{numbers['forward_end_var']:.3f}; "
        f"reverse KS {numbers['reverse_ks']:.4f} (exact sets {numbers['floor']['ks']:.4f})"
    )
    return numbers


def _forward_em(
    process: Process, x0: torch.Tensor, ts: np.ndarray, gen: torch.Generator
) -> torch.Tensor:
    """x_{k+1} = x_k + f x_k Δt + g sqrt(Δt) ε (the lecture's discretisation), all paths [T+1,
    n]."""
    x, out = x0[:, 0], [x0[:, 0]]
    for t, t_next in zip(ts[:-1], ts[1:]):
        tt = torch.tensor(t, dtype=torch.float64)
        dt = t_next - t
        x = (
            x
            + process.f(tt) * x * dt
            + process.g(tt)
            * math.sqrt(dt)
            * torch.randn(len(x), generator=gen, dtype=torch.float64)
        )
        out.append(x)
    return torch.stack(out)


def _vp_marginal(process: Process, ideal: Uniform01, x: np.ndarray, t: float) -> np.ndarray:
    """p_t(x) = p̂(x/s; σ)/s for x = s(x0 + σn)."""
    tt = torch.tensor(t, dtype=torch.float64)
    s, sigma = float(process.s(tt)), float(process.sigma(tt))
    xs = torch.as_tensor(x / s)[:, None]
    return (torch.exp(ideal.log_prob(xs, sigma)) / s).numpy()
