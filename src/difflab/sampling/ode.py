"""Probability-flow ODE and its fixed-step solvers.

EDM Eq. 4 / Algorithm 1 in the time of a process (σ(t), s(t)), on the scaled x = s(t)·x̂:
    dx/dt = (σ̇/σ + ṡ/s)·x - (σ̇·s/σ)·D(x/s; σ).
For EDM (σ = t, s = 1) this is dx̂/dσ = (x̂ - D(x̂; σ))/σ.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from ..parameterisation import DenoiserFn
from ..processes import Process


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


def euler_step(ode: PFODE, x: Tensor, t: Tensor, t_next: Tensor) -> Tensor:
    """Explicit Euler: x + h·f(x, t) (EDM Alg. 1, line 5)."""
    return x + (t_next - t) * ode(x, t)


def heun_step(ode: PFODE, x: Tensor, t: Tensor, t_next: Tensor) -> Tensor:
    """Heun's 2nd-order method: trapezoid of f at (x, t) and at the Euler guess (EDM Alg. 1, lines 5-8)."""
    h = t_next - t
    d = ode(x, t)
    x_euler = x + h * d
    return x + 0.5 * h * (d + ode(x_euler, t_next))
