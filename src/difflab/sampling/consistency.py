"""Consistency models' samplers and the teacher step of their distillation (Song et al. 2023).

A consistency function f(x̂, σ) maps any point of a PF-ODE trajectory to its end at σ_min; it has
the denoiser's signature, so it is sampled through the one protocol: `multistep` is Algorithm 1
(one network evaluation per level), and `heun_step` is the teacher's ODE step that consistency
distillation (training/objectives.py) learns to be consistent across.
"""

from __future__ import annotations

import math

from torch import Tensor

from ..parameterisation import DenoiserFn
from ..utils import append_dims
from .ode import positive_part


def multistep(
    denoiser: DenoiserFn,
    x: Tensor,
    sigmas: Tensor,
    *,
    noise,
    sigma_min: float = 0.002,
    **_,
) -> Tensor:
    """Multistep consistency sampling (Song et al. 2023, Algorithm 1): x0 ← f(x̂, σ_0), then for
    each later level σ_i of the grid x̂ ← x0 + sqrt(σ_i² − σ_min²)·z, x0 ← f(x̂, σ_i). One
    evaluation per level (a grid of one level is the one-step generator); levels at or below
    σ_min are skipped, where f is the identity."""
    levels = [float(s) for s in positive_part(sigmas)]
    x0 = denoiser(x, sigmas[0].to(x.device, x.dtype))
    for i, sigma in enumerate(levels[1:]):
        if sigma <= sigma_min * (1 + 1e-6):  # the grid's σ_min end, up to rounding of its ρ-powers
            continue
        x = x0 + math.sqrt(sigma**2 - sigma_min**2) * noise(i)
        x0 = denoiser(x, sigmas.new_tensor(sigma).to(x.device, x.dtype))
    return x0


def heun_step(denoiser: DenoiserFn, x: Tensor, hi: Tensor, lo: Tensor) -> Tensor:
    """One Heun step of the PF-ODE dx̂/dσ = (x̂ − D(x̂; σ))/σ from σ = hi to lo > 0, per sample
    (EDM Algorithm 1, one step; hi and lo are [B] tensors)."""
    top, end = append_dims(hi, x.ndim), append_dims(lo, x.ndim)
    d = (x - denoiser(x, hi)) / top
    euler = x + (end - top) * d
    return x + (end - top) * 0.5 * (d + (euler - denoiser(euler, lo)) / end)
