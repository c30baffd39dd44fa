"""Sampling as solving the probability-flow ODE: pure functions of (denoiser, x, sigmas, options).

    x̂_0 = sample(D, x̂_T, sigmas, method="heun")

x̂_T is unscaled noise at σ_0 = sigmas[0] (e.g. sqrt(σ_0² + σ_data²)·n); the result is in data space.
A process (σ(t), s(t)) may be given to integrate in its own time and scaling; by default EDM's
σ = t, s = 1. The step to σ = 0 is the Euler step in σ, x̂ ← D(x̂; σ_{N-1}) (EDM Alg. 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

from ..errors import DifflabError
from ..parameterisation import DenoiserFn
from ..processes import EDM, Process
from .ode import PFODE, euler_step, heun_step
from .schedules import check_sigmas, karras_sigmas

Step = Callable[[PFODE, Tensor, Tensor, Tensor], Tensor]


@dataclass(frozen=True)
class Solver:
    """A fixed-step ODE method: its step function, order and denoiser evaluations per step."""

    step: Step
    order: int
    nfe_per_step: int
    summary: str


SAMPLERS: dict[str, Solver] = {
    "euler": Solver(euler_step, 1, 1, "probability-flow ODE, explicit Euler"),
    "heun": Solver(heun_step, 2, 2, "probability-flow ODE, Heun 2nd order (EDM Alg. 1)"),
}


def get_sampler(name: str) -> Solver:
    try:
        return SAMPLERS[name]
    except KeyError:
        raise DifflabError(f"unknown sampler {name!r}; expected one of: {', '.join(SAMPLERS)}") from None


class _Counting:
    """Wraps a denoiser and counts its evaluations (one batch call = one NFE)."""

    def __init__(self, denoiser: DenoiserFn):
        self.denoiser, self.nfe = denoiser, 0

    def __call__(self, x: Tensor, sigma: Tensor | float) -> Tensor:
        self.nfe += 1
        return self.denoiser(x, sigma)


def solve(
    denoiser: DenoiserFn,
    x: Tensor,
    sigmas: Tensor,
    method: str = "heun",
    process: Process | None = None,
    stats: dict | None = None,
) -> Tensor:
    """Integrate the PF-ODE along a positive grid sigmas[0] > … > sigmas[-1] > 0 (no final denoise)."""
    sigmas = check_sigmas(sigmas, end_at_zero=False)
    return _integrate(denoiser, x, sigmas, method, process, stats)


def sample(
    denoiser: DenoiserFn,
    x: Tensor,
    sigmas: Tensor,
    method: str = "heun",
    process: Process | None = None,
    stats: dict | None = None,
) -> Tensor:
    """Draw x̂_0 from x̂_T along a grid that ends with 0; `stats`, if given, receives {'nfe': …}."""
    sigmas = check_sigmas(sigmas, end_at_zero=True)
    counting = _Counting(denoiser)
    x = _integrate(counting, x, sigmas[:-1], method, process, None)
    with torch.no_grad():
        x = counting(x, sigmas[-2].to(x.dtype))
    if stats is not None:
        stats["nfe"] = counting.nfe
    return x


@torch.no_grad()
def _integrate(
    denoiser: DenoiserFn,
    x: Tensor,
    sigmas: Tensor,
    method: str,
    process: Process | None,
    stats: dict | None,
) -> Tensor:
    solver = get_sampler(method)
    process = process if process is not None else EDM()
    counting = _Counting(denoiser)
    ode = PFODE(counting, process)
    ts = process.t_of_sigma(sigmas.to(torch.float64)).to(x.dtype).to(x.device)
    x = x * process.s(ts[0])
    for i in range(len(ts) - 1):
        x = solver.step(ode, x, ts[i], ts[i + 1])
    if stats is not None:
        stats["nfe"] = counting.nfe
    return x / process.s(ts[-1])


__all__ = ["SAMPLERS", "Solver", "get_sampler", "karras_sigmas", "check_sigmas", "sample", "solve"]
