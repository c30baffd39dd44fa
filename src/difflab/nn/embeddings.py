"""Embeddings of the scalar noise conditioning c_noise."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class FourierEmbedding(nn.Module):
    """[cos(2π f_k c), sin(2π f_k c)] with fixed frequencies f_k geometric in [f_min, f_max].

    Geometric frequencies resolve c_noise = ¼ ln σ over its whole range (|c| ≲ 2), from slow
    trends to fine detail, without the random draws of Gaussian Fourier features.
    """

    def __init__(self, dim: int, f_min: float = 0.1, f_max: float = 20.0):
        super().__init__()
        if dim % 2:
            raise ValueError("embedding dimension must be even")
        freqs = torch.exp(torch.linspace(math.log(f_min), math.log(f_max), dim // 2))
        self.register_buffer("freqs", freqs)

    def forward(self, c: Tensor) -> Tensor:
        arg = 2 * math.pi * c.to(self.freqs.dtype)[:, None] * self.freqs[None, :]
        return torch.cat([torch.cos(arg), torch.sin(arg)], dim=1)


class ClassEmbedding(nn.Module):
    """A learned vector per class plus one for 'no class' (index K), the null condition that
    classifier-free guidance trains by dropping labels (Ho & Salimans 2022). cond -1 or None →
    null."""

    def __init__(self, num_classes: int, dim: int):
        super().__init__()
        self.num_classes = num_classes
        self.table = nn.Embedding(num_classes + 1, dim)
        nn.init.zeros_(self.table.weight)  # start as the unconditional model

    def forward(self, cond: Tensor | None, batch: int) -> Tensor:
        if cond is None:
            cond = torch.full((batch,), -1, dtype=torch.long, device=self.table.weight.device)
        cond = torch.as_tensor(cond, device=self.table.weight.device).long().expand(batch)
        return self.table(torch.where(cond < 0, self.num_classes, cond))
