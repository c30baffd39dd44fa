"""A noise schedule learned to minimise the variance of VDM's bound (Kingma et al. 2021, §5).

The continuous diffusion loss L_∞ = E_t[σ̇/σ³ ‖x − D(x + σ(t)n; σ(t))‖²] has the same value for
every schedule σ(t) between the same ends (difflab.vlb), but not the same variance: a schedule
that spends its draws where ‖x − D‖²/σ² changes fastest estimates it with fewer of them. Here the
schedule is log σ(t) = log σ_lo + log(σ_hi/σ_lo)·m(t), t ∈ [0, 1], with m a monotone network
(positive weights, VDM Appendix H) normalised to m(0) = 0, m(1) = 1, so the ends are fixed; it is
fitted to a trained (frozen) denoiser by minimising the estimator's second moment, which with
the mean fixed is minimising its variance.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn.functional import softplus

from .parameterisation import DenoiserFn
from .processes import Process


class LearnedSchedule(nn.Module, Process):
    """σ(t) between fixed ends σ_lo = σ(0) and σ_hi = σ(1), monotone in t, with s(t) = 1: a
    Process whose σ(t) is learned (the `vdm` preset trains it with the model and stores it in
    the run; its time-uniform grid and the bound use it)."""

    t_min, t_max = 0.0, 1.0

    def __init__(self, sigma_lo: float, sigma_hi: float, hidden: int = 16):
        super().__init__()
        self.sigma_lo, self.sigma_hi = sigma_lo, sigma_hi
        self.linear = nn.Parameter(torch.zeros((), dtype=torch.float64))  # a·t, a = softplus
        gen = torch.Generator().manual_seed(0)
        self.w = nn.Parameter(torch.randn(hidden, generator=gen, dtype=torch.float64))
        self.c = nn.Parameter(torch.randn(hidden, generator=gen, dtype=torch.float64))
        self.b = nn.Parameter(torch.full((hidden,), -3.0, dtype=torch.float64))

    def _h(self, t: Tensor) -> Tensor:
        """An increasing function of t: softplus(a)·t + Σ softplus(b_k)·sigmoid(softplus(w_k)(t −
        c_k)), positive weights throughout (the monotone net of VDM Appendix H, one layer)."""
        inner = softplus(self.w) * (t[..., None] - self.c)
        return softplus(self.linear) * t + (softplus(self.b) * torch.sigmoid(inner)).sum(-1)

    def m(self, t: Tensor) -> Tensor:
        """The normalised schedule: m(0) = 0, m(1) = 1, increasing."""
        ends = self._h(torch.tensor([0.0, 1.0], dtype=torch.float64))
        return (self._h(t) - ends[0]) / (ends[1] - ends[0])

    def sigma(self, t: Tensor) -> Tensor:
        span = math.log(self.sigma_hi / self.sigma_lo)
        return self.sigma_lo * torch.exp(span * self.m(t.to(torch.float64)))

    def sigma_deriv(self, t: Tensor) -> Tensor:
        """σ̇(t) = σ(t)·log(σ_hi/σ_lo)·m'(t), m' by autograd (kept in the graph for fitting)."""
        t = t.to(torch.float64).detach().requires_grad_(True)
        with torch.enable_grad():
            m = self.m(t)
            (dm,) = torch.autograd.grad(m.sum(), t, create_graph=True)
        span = math.log(self.sigma_hi / self.sigma_lo)
        return self.sigma_lo * torch.exp(span * m) * span * dm

    def s(self, t: Tensor) -> Tensor:
        return torch.ones_like(t)

    def s_deriv(self, t: Tensor) -> Tensor:
        return torch.zeros_like(t)

    def t_of_sigma(self, sigma: Tensor) -> Tensor:
        """t(σ) by bisection on the monotone σ(t) (60 halvings: float64's resolution)."""
        sigma = torch.as_tensor(sigma, dtype=torch.float64)
        lo, hi = torch.zeros_like(sigma), torch.ones_like(sigma)
        with torch.no_grad():
            for _ in range(60):
                mid = (lo + hi) / 2
                below = self.sigma(mid) < sigma
                lo, hi = torch.where(below, mid, lo), torch.where(below, hi, mid)
        return (lo + hi) / 2

    @property
    def sigma_min(self) -> float:
        return self.sigma_lo

    @property
    def sigma_max(self) -> float:
        return self.sigma_hi


def fit_schedule(
    denoiser: DenoiserFn,
    x: Tensor,
    sigma_lo: float,
    sigma_hi: float,
    steps: int = 200,
    draws: int = 8,
    seed: int = 0,
) -> LearnedSchedule:
    """A schedule that minimises the second moment of the diffusion-loss terms
    σ̇/σ³·‖x − D(x + σn; σ)‖² (their mean does not depend on it) on the rows `x`, by Adam on the
    schedule's weights; the denoiser stays as it is."""
    schedule = LearnedSchedule(sigma_lo, sigma_hi)
    opt = torch.optim.Adam(schedule.parameters(), lr=0.05)
    gen = torch.Generator().manual_seed(seed)
    rows = x.repeat_interleave(draws, 0)
    for _ in range(steps):
        t = torch.rand(len(rows), generator=gen, dtype=torch.float64)
        n = torch.randn(rows.shape, generator=gen, dtype=rows.dtype)
        sigma = schedule.sigma(t)
        s = sigma.to(rows.dtype).view(-1, *([1] * (rows.dim() - 1)))
        error = (rows - denoiser(rows + s * n, sigma.to(rows.dtype))).flatten(1).square().sum(1)
        term = schedule.sigma_deriv(t) / sigma**3 * error
        loss = term.square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return schedule.requires_grad_(False)
