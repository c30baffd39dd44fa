"""Classifier-free guidance as a denoiser wrapper (Ho & Salimans 2022), usable with every sampler.

    D_w(x̂; σ) = D(x̂; σ, ∅) + w·(D(x̂; σ, c) - D(x̂; σ, ∅))

w = 0 is the unconditional model, w = 1 the conditional model, w > 1 guided (sharper classes, less
diversity). Each call evaluates the network twice, and NFE counts both.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..parameterisation import ConditionalDenoiserFn


class Guided:
    """A two-argument denoiser D_w bound to a condition; `nfe_per_call` = 2 network evaluations."""

    nfe_per_call = 2

    def __init__(self, denoiser: ConditionalDenoiserFn, cond: Tensor | int, scale: float):
        self.denoiser, self.cond, self.scale = denoiser, cond, float(scale)

    def __call__(self, x: Tensor, sigma: Tensor | float) -> Tensor:
        cond = torch.as_tensor(self.cond, device=x.device).long().expand(x.shape[0])
        # two separate calls (not one concatenated batch) so that w = 0 is the unconditional
        # model bit for bit: D_∅ + 0·(D_c - D_∅) = D_∅ exactly
        uncond = self.denoiser(x, sigma)
        return uncond.add(self.denoiser(x, sigma, cond) - uncond, alpha=self.scale)


def cfg(denoiser: ConditionalDenoiserFn, cond: Tensor | int, scale: float) -> Guided:
    """Classifier-free guidance: D_w = D(∅) + w·(D(c) - D(∅)) as a two-argument denoiser.

    `cond`: a class index for every sample, or a LongTensor [B] (one per sample, batch-aligned).
    """
    return Guided(denoiser, cond, scale)


class Conditioned:
    """D(x̂; σ, c) with c bound: the plain conditional model (w = 1) at one NFE per call."""

    nfe_per_call = 1

    def __init__(self, denoiser: ConditionalDenoiserFn, cond: Tensor | int):
        self.denoiser, self.cond = denoiser, cond

    def __call__(self, x: Tensor, sigma: Tensor | float) -> Tensor:
        return self.denoiser(
            x, sigma, torch.as_tensor(self.cond, device=x.device).long().expand(x.shape[0])
        )


__all__ = ["cfg", "Guided", "Conditioned"]
