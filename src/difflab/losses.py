"""Denoising score matching: a noise-level distribution p(σ) times a weighting λ(σ).

EDM Eq. 2/8:  L = E_{σ~p(σ), x0, n} [ λ(σ) ||D(x0 + σn; σ) - x0||² ]
            = E [ λ(σ) c_out(σ)² ||F(c_in x̂, c_noise) - (x0 - c_skip x̂)/c_out||² ].
We evaluate the second, equivalent form: it avoids cancellation in D - x0 at small σ.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from .parameterisation import Denoiser, Preconditioning, network_target
from .processes import Process
from .utils import append_dims


@dataclass(frozen=True)
class LogNormal:
    """ln σ ~ N(P_mean, P_std²) (EDM Table 1, 'Ours')."""

    p_mean: float = -1.2
    p_std: float = 1.2

    def sample(
        self,
        n: int,
        process: Process,
        generator: torch.Generator,
        device: torch.device | str = "cpu",
    ) -> Tensor:
        z = torch.randn(n, generator=generator, device=device)
        return torch.exp(self.p_mean + self.p_std * z)


@dataclass(frozen=True)
class UniformT:
    """t ~ U[t_min, t_max] of the process, σ = σ(t) (score SDE, continuous-time training)."""

    def sample(
        self,
        n: int,
        process: Process,
        generator: torch.Generator,
        device: torch.device | str = "cpu",
    ) -> Tensor:
        u = torch.rand(n, generator=generator, device=device, dtype=torch.float64)
        t = process.t_min + (process.t_max - process.t_min) * u
        return process.sigma(t).float()


@dataclass(frozen=True)
class DiscreteT:
    """i ~ U{1, …, M}, t_i = t_min + (t_max - t_min)·i/M, σ = σ(t_i) (DDPM/NCSN discrete noise
    levels)."""

    levels: int = 1000

    def sigmas(self, process: Process) -> Tensor:
        """The M noise levels σ(t_i), i = 1..M, increasing."""
        i = torch.arange(1, self.levels + 1, dtype=torch.float64)
        t = process.t_min + (process.t_max - process.t_min) * i / self.levels
        return process.sigma(t)

    def sample(
        self,
        n: int,
        process: Process,
        generator: torch.Generator,
        device: torch.device | str = "cpu",
    ) -> Tensor:
        i = torch.randint(0, self.levels, (n,), generator=generator, device=device)
        return self.sigmas(process).float().to(device)[i]


@dataclass(frozen=True)
class LogUniform:
    """ln σ ~ U[ln lo, ln hi]: with the weighting λ = 1/σ² the DSM loss is, up to the constant
    D·ln(hi/lo), VDM's continuous diffusion loss ∫σ⁻³E‖D − x0‖²dσ (likelihood weighting), and
    its Monte-Carlo variance stays bounded: σ⁻²‖D − x0‖² → ‖n‖² as σ → 0 (difflab.vlb)."""

    lo: float
    hi: float

    def sample(
        self,
        n: int,
        process: Process,
        generator: torch.Generator,
        device: torch.device | str = "cpu",
    ) -> Tensor:
        u = torch.rand(n, generator=generator, device=device, dtype=torch.float64)
        return torch.exp(math.log(self.lo) + u * math.log(self.hi / self.lo)).float()


@dataclass(frozen=True)
class LearnedT:
    """t ~ U[0, 1] on a low-discrepancy grid (VDM §3.6), σ = σ_η(t) of a schedule learned with
    the model between the preset's sampling ends (difflab.learned_schedule; the `vdm` preset).
    The levels depend on the schedule's weights, so the training objective draws t and maps it
    (training/objectives.py, VLB); this holds the recipe's choice as data."""

    def sample(self, n, process, generator, device="cpu") -> Tensor:  # pragma: no cover
        raise TypeError("a learned schedule's σ are drawn by the VLB objective, from its t")


@dataclass(frozen=True)
class ConsistencyGrid:
    """Adjacent levels σ_n < σ_{n+1} of the teacher's Karras grid of N levels (ρ = 7) over the
    preset's sampling range, n ~ U{0, …, N−2} (consistency distillation, Song et al. 2023 §4).
    The objective draws n and looks the levels up (training/objectives.py, Consistency)."""

    levels: int = 18
    rho: float = 7.0

    def grid(self, lo: float, hi: float) -> Tensor:
        """σ_0 = lo < σ_1 < … < σ_{N−1} = hi: the sampler's Karras grid (EDM Eq. 5), ascending."""
        from .sampling.schedules import karras_sigmas

        return karras_sigmas(self.levels, lo, hi, self.rho)[:-1].flip(0)

    def sample(self, n, process, generator, device="cpu") -> Tensor:  # pragma: no cover
        raise TypeError("consistency distillation draws grid indices, not σ (objectives.py)")


NoiseDistribution = LogNormal | UniformT | DiscreteT | LogUniform | LearnedT | ConsistencyGrid


def weight(name: str, precond: Preconditioning, sigma: Tensor) -> Tensor:
    """λ(σ). 'target': 1/c_out², unit weight on the network's own target (EDM's λ for EDM, DDPM's
    L_simple for ε, NCSN's σ² weighting for scores, the v-loss for v); 'uniform': 1; 'snr': 1/σ²."""
    if name == "target":
        return 1.0 / precond.c_out(sigma) ** 2
    if name == "uniform":
        return torch.ones_like(sigma)
    if name == "snr":
        return 1.0 / sigma**2
    raise ValueError(f"unknown weighting {name!r}; expected target, uniform or snr")


def dsm_loss(
    denoiser: Denoiser,
    x0: Tensor,
    sigma: Tensor,
    noise: Tensor,
    weighting: str = "target",
    cond: Tensor | None = None,
) -> Tensor:
    """Per-sample DSM loss λ(σ)·c_out²·mean||F(·, c) - target||² at x̂ = x0 + σ n (EDM Eq. 8); with
    a condition c its minimiser is E[x0 | x̂, c] (cond -1: the unconditional E[x0 | x̂])."""
    precond = denoiser.precond
    x = x0 + append_dims(sigma, x0.ndim) * noise
    target = network_target(precond, x0, x, sigma)
    err = (denoiser.raw(x, sigma, cond) - target) ** 2
    w = weight(weighting, precond, sigma) * precond.c_out(sigma) ** 2
    return w * err.flatten(1).mean(dim=1)
