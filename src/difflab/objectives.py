"""Training objectives, apart from the loop: each draws its global batch from one seeded generator
and returns per-sample losses, as a module so DDP can wrap it.

- DSM: denoising score matching of a denoiser at drawn (σ, noise), with the batch's class labels
  replaced by the null class (-1) with probability p_uncond (classifier-free guidance training).
- NLL: negative log-likelihood of a flow, in nats per dimension.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .losses import dsm_loss
from .presets import Preset


class DSM(nn.Module):
    """L = λ(σ)·c_out²·||F(c_in x̂, c_noise, c) - target||² (EDM Eq. 8), per sample."""

    def __init__(self, model: nn.Module, preset: Preset, p_uncond: float = 0.0):
        super().__init__()
        self.model, self.preset, self.p_uncond = model, preset, p_uncond

    def draw(self, data: Tensor, labels: Tensor | None, n: int, gen: torch.Generator) -> tuple:
        """(x0, σ, noise[, cond]): indices with replacement, then σ, noise and label dropout."""
        idx = torch.randint(0, data.shape[0], (n,), generator=gen, device=data.device)
        x0 = data[idx]
        sigma = self.preset.noise.sample(n, self.preset.process, gen, data.device)
        noise = torch.randn(x0.shape, generator=gen, device=data.device)
        if labels is None:
            return x0, sigma, noise
        drop = torch.rand(n, generator=gen, device=data.device) < self.p_uncond
        return x0, sigma, noise, torch.where(drop, -1, labels[idx])

    def initialise(self, first: Tensor) -> None:
        """No data-dependent initialisation for a denoiser."""

    def forward(
        self, x0: Tensor, sigma: Tensor, noise: Tensor, cond: Tensor | None = None
    ) -> Tensor:
        return dsm_loss(self.model, x0, sigma, noise, self.preset.weighting, cond)


class NLL(nn.Module):
    """-log p(x0) / D for a flow (exact by the change of variables)."""

    def __init__(self, model: nn.Module, preset: Preset | None = None, p_uncond: float = 0.0):
        super().__init__()
        self.model = model

    def draw(self, data: Tensor, labels: Tensor | None, n: int, gen: torch.Generator) -> tuple:
        return (data[torch.randint(0, data.shape[0], (n,), generator=gen, device=data.device)],)

    def initialise(self, first: Tensor) -> None:
        """Data-dependent initialisation (ActNorm) on the first rows of the data, the same on every
        rank, before DDP wraps the model (DDP broadcasts parameters once, at wrapping)."""
        with torch.no_grad():
            self.model(first)

    def forward(self, x0: Tensor) -> Tensor:
        return -self.model.log_prob(x0) / math.prod(x0.shape[1:])


OBJECTIVES = {"denoiser": DSM, "flow": NLL}

__all__ = ["DSM", "NLL", "OBJECTIVES"]
