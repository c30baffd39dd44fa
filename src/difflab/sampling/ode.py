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

from ..integrate import (
    EULER,
    HEUN,
    MIDPOINT,
    RK4,
    AdaptiveStats,
    Tableau,
    solve_adaptive,
    solve_fixed,
    stage_times,
)
from ..parameterisation import DenoiserFn
from ..processes import EDM, VE, Process


@dataclass(frozen=True)
class PFODE:
    """The right-hand side dx/dt = a(t)·x - b(t)·D(x/s; σ) of the probability-flow ODE, with
    a = σ̇/σ + ṡ/s and b = σ̇·s/σ, for a denoiser and a process."""

    denoiser: DenoiserFn
    process: Process

    def coefficients(self, t: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """(σ, s, a, b) at the times t (any shape, float64 for accuracy)."""
        p = self.process
        sigma, s = p.sigma(t), p.s(t)
        sigma_d, s_d = p.sigma_deriv(t), p.s_deriv(t)
        return sigma, s, sigma_d / sigma + s_d / s, sigma_d * s / sigma

    def __call__(self, x: Tensor, t: float) -> Tensor:
        sigma, s, a, b = self.coefficients(torch.tensor(t, dtype=torch.float64))
        return _rhs(
            self.denoiser, x, sigma.to(dtype=x.dtype, device=x.device), float(s), float(a), float(b)
        )

    def on_grid(self, times: list[float], like: Tensor) -> "GridPFODE":
        """The same right-hand side with its coefficients computed once, vectorised, for known
        times."""
        sigma, s, a, b = self.coefficients(torch.tensor(times, dtype=torch.float64))
        sig = sigma.to(dtype=like.dtype, device=like.device).unbind()
        table = {
            t: (sg, si, ai, bi)
            for t, sg, si, ai, bi in zip(times, sig, s.tolist(), a.tolist(), b.tolist())
        }
        return GridPFODE(self, table)


def _rhs(denoiser: DenoiserFn, x: Tensor, sigma: Tensor, s: float, a: float, b: float) -> Tensor:
    denoised = denoiser(x if s == 1.0 else x * (1.0 / s), sigma)
    return torch.add(x * a, denoised, alpha=-b)


@dataclass(frozen=True)
class GridPFODE:
    """A PFODE whose coefficients at the times a fixed-step solver will visit are looked up, not
    recomputed: per stage only the denoiser and two fused tensor operations remain."""

    ode: PFODE
    table: dict[float, tuple[Tensor, float, float, float]]

    def __call__(self, x: Tensor, t: float) -> Tensor:
        if t not in self.table:
            return self.ode(x, t)
        return _rhs(self.ode.denoiser, x, *self.table[t])


def _times(process: Process, sigmas: Tensor) -> list[float]:
    return process.t_of_sigma(sigmas.to(torch.float64)).tolist()


def _s(process: Process, t: float) -> float:
    return float(process.s(torch.tensor(t, dtype=torch.float64)))


def positive_part(sigmas: Tensor) -> Tensor:
    """The grid without its final 0 (if it has one): what an ODE/SDE integrator steps along."""
    return sigmas[:-1] if sigmas[-1] == 0 else sigmas


def finish(denoiser: DenoiserFn, x: Tensor, sigmas: Tensor) -> Tensor:
    """The last step, from σ_{N-1} to 0, x̂ ← D(x̂; σ_{N-1}), if the grid ends with 0; else x̂ as
    is."""
    if sigmas[-1] != 0:
        return x
    return denoiser(x, sigmas[-2].to(dtype=x.dtype, device=x.device))


def _integrate(denoiser: DenoiserFn, x: Tensor, sigmas: Tensor, process: Process, solve) -> Tensor:
    """Scale x̂ → x = s·x̂ at the first time, solve(PFODE, x, times) → x, unscale, finish at σ =
    0."""
    ts = _times(process, positive_part(sigmas))
    x = x * _s(process, ts[0])
    if len(ts) > 1:
        x = solve(PFODE(denoiser, process), x, ts)
    return finish(denoiser, x * (1.0 / _s(process, ts[-1])), sigmas)


def rk_sampler(
    denoiser: DenoiserFn,
    x: Tensor,
    sigmas: Tensor,
    *,
    tableau: Tableau = HEUN,
    process: Process | None = None,
    **_,
) -> Tensor:
    """Fixed-step explicit RK along the grid in the process's time (EDM Alg. 1 for Heun)."""

    def solve(ode: PFODE, x: Tensor, ts: list[float]) -> Tensor:
        visited = [tau for t, t_next in zip(ts, ts[1:]) for tau in stage_times(t, t_next, tableau)]
        return solve_fixed(ode.on_grid(visited, x), x, ts, tableau)

    return _integrate(denoiser, x, sigmas, process or EDM(), solve)


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


def dopri5(
    denoiser: DenoiserFn,
    x: Tensor,
    sigmas: Tensor,
    *,
    process: Process | None = None,
    rtol: float = 1e-3,
    atol: float | None = None,
    stats: dict | None = None,
    **_,
) -> Tensor:
    """Adaptive Dormand–Prince 5(4) from σ_0 to σ_{N-1} (only the grid's ends are used), then to 0.

    Without a process it integrates in t = log σ (VE time, s = 1), where the PF-ODE's scales are
    even and the step-size control spends steps evenly across noise levels (in σ-time most of the
    work is at small σ). atol defaults to rtol (|x̂| ≈ σ_data ≈ 1 at the end after
    standardisation)."""
    info = AdaptiveStats()
    ends = positive_part(sigmas)
    process = process or VE(sigma_lo=float(ends.min()), sigma_hi=float(ends.max()))

    def solve(ode: PFODE, x: Tensor, ts: list[float]) -> Tensor:
        return solve_adaptive(
            ode, x, ts[0], ts[-1], rtol=rtol, atol=rtol if atol is None else atol, stats=info
        )

    out = _integrate(denoiser, x, sigmas, process, solve)
    if stats is not None:
        stats.update(accepted_steps=info.accepted, rejected_steps=info.rejected)
    return out


__all__ = [
    "PFODE",
    "GridPFODE",
    "euler",
    "heun",
    "midpoint",
    "rk4",
    "dopri5",
    "rk_sampler",
    "finish",
    "positive_part",
]
