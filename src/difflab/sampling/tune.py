"""Tuned σ grids: the K-step grid that minimises a solver's distance to the exact PF-ODE on a given
denoiser (the idea behind Align Your Steps and GITS-style optimised schedules).

The positive levels after σ_max are log σ_max − cumsum(span·softmax(z)) (monotone by
construction, ending above σ_floor); Nelder–Mead over z from the Karras grid minimises the RMS
distance between the solver's output and a fine solution from the same noise. Pure functions of
(denoiser, noise, reference); `Run.tune_grid` stores the result in the run.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from ..errors import DifflabError
from ..parameterisation import DenoiserFn
from .schedules import karras_sigmas

TWO_NFE_PER_STEP = ("heun", "midpoint", "dpmpp-2s")
# what `sample --nfe K` tunes when a run has no grid at K: the better of the two on fresh draws is
# ≤ 0.46× the best peer in every cell of the ODE-error benchmark (docs/benchmarks.md)
AUTO_TUNE = ("unipc", "ipndm")


def steps_for_nfe(sampler: str, nfe: int) -> int:
    """Grid steps that cost `nfe` evaluations (two per step for Heun-like methods, one on the last
    step into σ = 0)."""
    return (nfe + 1) // 2 if sampler in TWO_NFE_PER_STEP else nfe


def grid_from(z: np.ndarray, sigma_max: float, sigma_floor: float) -> Tensor:
    """[σ_max, σ_1 … σ_{K−1}, 0] from K free numbers: log-decrements span·softmax(z)."""
    w = np.exp(z - z.max())
    w = w / w.sum()
    span = math.log(sigma_max) - math.log(sigma_floor)
    levels = math.log(sigma_max) - span * np.cumsum(w)[:-1]
    sigmas = np.concatenate([[sigma_max], np.exp(levels), [0.0]])
    return torch.tensor(sigmas, dtype=torch.float64)


def z_from(sigmas: Tensor, sigma_floor: float) -> np.ndarray:
    """The inverse of grid_from for a grid ending [..., σ_min, 0] with σ_min ≥ σ_floor."""
    logs = np.log(sigmas[:-1].double().numpy())
    steps = np.append(-np.diff(logs), logs[-1] - math.log(sigma_floor))
    return np.log(np.maximum(steps, 1e-12))


def exact_solution(
    denoiser: DenoiserFn, x_t: Tensor, sigma_max: float = 80.0, sigma_min: float = 0.002
) -> Tensor:
    """The PF-ODE from σ_max to σ_min by RK4 in 512 log-uniform steps, then D at σ_min: the
    reference a few-step solution's error is measured against (RK4's error at 512 steps is far
    below any budget's)."""
    from . import solve
    from .schedules import log_snr_sigmas

    grid = log_snr_sigmas(512, sigma_min, sigma_max)[:-1]
    x = solve(denoiser, x_t, grid, "rk4")
    return denoiser(x, torch.tensor(sigma_min, dtype=x.dtype))


def ode_error(denoiser: DenoiserFn, x_t: Tensor, reference: Tensor, sigmas: Tensor, sampler: str):
    """RMS distance of the solver's output from the reference solution (same noise)."""
    from . import sample

    x = sample(denoiser, x_t, sigmas.to(x_t.dtype), sampler)
    return float(((x - reference) ** 2).reshape(len(x), -1).sum(1).mean().sqrt())


def tune_grid(
    denoiser: DenoiserFn,
    x_t: Tensor,
    reference: Tensor,
    nfe: int,
    sampler: str = "ipndm",
    sigma_max: float = 80.0,
    sigma_min: float = 0.002,
    sigma_floor: float | None = None,
    iterations: int = 400,
) -> tuple[Tensor, dict]:
    """The grid of steps_for_nfe(sampler, nfe) steps minimising ode_error, started from Karras
    (ρ = 7) between sigma_min and sigma_max; σ_min may move down to sigma_floor (default σ_min/2).
    Returns (sigmas, {'start': error of the Karras grid, 'tuned': error of the result})."""
    from scipy.optimize import minimize

    steps = steps_for_nfe(sampler, nfe)
    if steps < 2:
        raise DifflabError(f"tuning needs at least 2 steps; {sampler} at {nfe} NFE has {steps}")
    floor = sigma_floor or sigma_min / 2
    start = karras_sigmas(steps, sigma_min, sigma_max)

    def loss(z: np.ndarray) -> float:
        err = ode_error(denoiser, x_t, reference, grid_from(z, sigma_max, floor), sampler)
        return err if math.isfinite(err) else 1e9

    z0 = z_from(start, floor)
    result = minimize(loss, z0, method="Nelder-Mead", options={"maxfev": iterations, "xatol": 1e-3})
    first = loss(z0)
    best = result.x if result.fun < first else z0  # never worse than where it started
    return grid_from(best, sigma_max, floor), {"start": first, "tuned": min(result.fun, first)}


__all__ = ["AUTO_TUNE", "tune_grid", "ode_error", "steps_for_nfe", "grid_from", "z_from"]
