"""Probability-flow ODE samplers: Runge–Kutta steps in a process's own time, and an adaptive one.

EDM Eq. 4 / Algorithm 1 in the time of a process (σ(t), s(t)), on the scaled x = s(t)·x̂:
    dx/dt = (σ̇/σ + ṡ/s)·x - (σ̇·s/σ)·D(x/s; σ).
For EDM (σ = t, s = 1) this is dx̂/dσ = (x̂ - D(x̂; σ))/σ. Every sampler here takes the whole grid
and, if it ends with 0, finishes with the Euler step in σ to 0, x̂ ← D(x̂; σ_{N-1}) (EDM Alg. 1);
a grid that ends at σ > 0 returns the ODE solution there.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..integrate import EULER, HEUN, MIDPOINT, RK4, AdaptiveStats, Tableau, rk_step, solve_adaptive
from ..parameterisation import DenoiserFn
from ..processes import EDM, Process


@dataclass(frozen=True)
class PFODE:
    """The right-hand side dx/dt of the probability-flow ODE for a denoiser and a process."""

    denoiser: DenoiserFn
    process: Process

    def __call__(self, x: Tensor, t: Tensor) -> Tensor:
        p = self.process
        sigma, s = p.sigma(t), p.s(t)
        sigma_d, s_d = p.sigma_deriv(t), p.s_deriv(t)
        denoised = self.denoiser(x / s, sigma)
        return (sigma_d / sigma + s_d / s) * x - (sigma_d * s / sigma) * denoised


def _times(process: Process, sigmas: Tensor, x: Tensor) -> Tensor:
    return process.t_of_sigma(sigmas.to(torch.float64)).to(dtype=x.dtype, device=x.device)


def positive_part(sigmas: Tensor) -> Tensor:
    """The grid without its final 0 (if it has one): what an ODE/SDE integrator steps along."""
    return sigmas[:-1] if sigmas[-1] == 0 else sigmas


def finish(denoiser: DenoiserFn, x: Tensor, sigmas: Tensor) -> Tensor:
    """The last step, from σ_{N-1} to 0, x̂ ← D(x̂; σ_{N-1}), if the grid ends with 0; else x̂ as is."""
    if sigmas[-1] != 0:
        return x
    return denoiser(x, sigmas[-2].to(dtype=x.dtype, device=x.device))


def rk_sampler(denoiser: DenoiserFn, x: Tensor, sigmas: Tensor, *, tableau: Tableau = HEUN,
               process: Process | None = None, **_) -> Tensor:
    """Fixed-step explicit RK along the grid in the process's time (EDM Alg. 1 for Heun)."""
    process = process or EDM()
    ode, ts = PFODE(denoiser, process), _times(process, positive_part(sigmas), x)
    x = x * process.s(ts[0])
    for i in range(len(ts) - 1):
        x = rk_step(ode, x, ts[i], ts[i + 1], tableau)
    return finish(denoiser, x / process.s(ts[-1]), sigmas)


def euler(denoiser, x, sigmas, **kw):
    """Explicit Euler on the PF-ODE (1st order, 1 NFE/step)."""
    return rk_sampler(denoiser, x, sigmas, tableau=EULER, **kw)


def heun(denoiser, x, sigmas, **kw):
    """Heun's method, EDM Algorithm 1 (2nd order, 2 NFE/step, Euler last step)."""
    return rk_sampler(denoiser, x, sigmas, tableau=HEUN, **kw)


def midpoint(denoiser, x, sigmas, **kw):
    """Explicit midpoint rule (2nd order, 2 NFE/step)."""
    return rk_sampler(denoiser, x, sigmas, tableau=MIDPOINT, **kw)


def rk4(denoiser, x, sigmas, **kw):
    """Classical Runge–Kutta (4th order, 4 NFE/step)."""
    return rk_sampler(denoiser, x, sigmas, tableau=RK4, **kw)


def dopri5(denoiser: DenoiserFn, x: Tensor, sigmas: Tensor, *, process: Process | None = None,
           rtol: float = 1e-3, atol: float = 1e-3, stats: dict | None = None, **_) -> Tensor:
    """Adaptive Dormand–Prince 5(4) from σ_0 to σ_{N-1} (only the grid's ends are used), then to 0."""
    process = process or EDM()
    ts = _times(process, positive_part(sigmas), x)
    info = AdaptiveStats()
    x = x * process.s(ts[0])
    if len(ts) > 1:
        x = solve_adaptive(PFODE(denoiser, process), x, float(ts[0]), float(ts[-1]), rtol=rtol, atol=atol, stats=info)
    if stats is not None:
        stats.update(accepted_steps=info.accepted, rejected_steps=info.rejected)
    return finish(denoiser, x / process.s(ts[-1]), sigmas)


__all__ = ["PFODE", "euler", "heun", "midpoint", "rk4", "dopri5", "rk_sampler", "finish", "positive_part"]
