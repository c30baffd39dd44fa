"""Small helpers shared across the package."""

from __future__ import annotations

import torch
from torch import Tensor


def append_dims(v: Tensor, ndim: int) -> Tensor:
    """Broadcast a per-sample tensor [B] (or a scalar) against data of `ndim` dims by appending
    axes."""
    if v.ndim > ndim:
        raise ValueError(f"cannot broadcast a tensor of {v.ndim} dims to {ndim} dims")
    return v.reshape(v.shape + (1,) * (ndim - v.ndim))


def as_sigma(sigma: Tensor | float, x: Tensor) -> Tensor:
    """σ as a tensor of shape [B] on x's device and dtype, from a scalar, a 0-d or a [B] tensor."""
    sigma = torch.as_tensor(sigma, dtype=x.dtype, device=x.device)
    if sigma.ndim == 0:
        sigma = sigma.expand(x.shape[0])
    if sigma.shape != (x.shape[0],):
        raise ValueError(
            f"sigma must be a scalar or of shape [{x.shape[0]}], got {tuple(sigma.shape)}"
        )
    return sigma
