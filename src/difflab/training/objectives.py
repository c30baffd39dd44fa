"""Training objectives, apart from the loop: each draws the random parts of its global batch (σ,
noise, label dropout) from one seeded generator — the rows come from batches.py — and returns
per-sample losses, as a module so DDP can wrap it.

- DSM: denoising score matching of a denoiser at drawn (σ, noise), with the batch's class labels
  replaced by the null class (-1) with probability p_uncond (classifier-free guidance training).
- NLL: negative log-likelihood of a flow or an autoregressive model, in nats per dimension; class
  labels (autoregressive models) dropped to the null class with probability p_uncond.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..losses import dsm_loss
from ..presets import Preset


class DSM(nn.Module):
    """L = λ(σ)·c_out²·||F(c_in x̂, c_noise, c) - target||² (EDM Eq. 8), per sample."""

    def __init__(self, model: nn.Module, preset: Preset, p_uncond: float = 0.0):
        super().__init__()
        self.model, self.preset, self.p_uncond = model, preset, p_uncond

    def draw(
        self, x0: Tensor, labels: Tensor | None, n: int, gen: torch.Generator, part: slice
    ) -> tuple:
        """(x0, σ, noise[, cond]) of this rank's `part` of a global batch of n: σ, noise and label
        dropout are drawn for all n (the same on every rank), x0 and labels are the part's rows."""
        dev = x0.device
        sigma = self.preset.noise.sample(n, self.preset.process, gen, dev)[part]
        noise = torch.randn((n, *x0.shape[1:]), generator=gen, device=dev)[part]
        if labels is None:
            return x0, sigma, noise
        drop = (torch.rand(n, generator=gen, device=dev) < self.p_uncond)[part]
        return x0, sigma, noise, torch.where(drop, -1, labels)

    def initialise(self, first: Tensor) -> None:
        """No data-dependent initialisation for a denoiser."""

    def forward(
        self, x0: Tensor, sigma: Tensor, noise: Tensor, cond: Tensor | None = None
    ) -> Tensor:
        return dsm_loss(self.model, x0, sigma, noise, self.preset.weighting, cond)


class NLL(nn.Module):
    """-log p(x0 [| c]) / D for a flow or an autoregressive model (exact)."""

    def __init__(self, model: nn.Module, preset: Preset | None = None, p_uncond: float = 0.0):
        super().__init__()
        self.model, self.p_uncond = model, p_uncond

    def draw(
        self, x0: Tensor, labels: Tensor | None, n: int, gen: torch.Generator, part: slice
    ) -> tuple:
        if labels is None:
            return (x0,)
        drop = (torch.rand(n, generator=gen, device=x0.device) < self.p_uncond)[part]
        return x0, torch.where(drop, -1, labels)

    def initialise(self, first: Tensor) -> None:
        """Data-dependent initialisation (ActNorm) on the first rows of the data, the same on every
        rank, before DDP wraps the model (DDP broadcasts parameters once, at wrapping)."""
        if getattr(self.model, "data_init", True):
            with torch.no_grad():
                self.model(first)

    def forward(self, x0: Tensor, cond: Tensor | None = None) -> Tensor:
        lp = self.model.log_prob(x0) if cond is None else self.model.log_prob(x0, cond)
        return -lp / math.prod(x0.shape[1:])


OBJECTIVES = {"denoiser": DSM, "flow": NLL, "autoregressive": NLL}

__all__ = ["DSM", "NLL", "OBJECTIVES"]
