"""Sigma grids: explicit tensors, strictly decreasing, finite, ending with 0 (length N+1 for N steps)."""

from __future__ import annotations

import torch
from torch import Tensor

from ..errors import DifflabError


def karras_sigmas(
    n: int, sigma_min: float, sigma_max: float, rho: float = 7.0, dtype: torch.dtype = torch.float64
) -> Tensor:
    """EDM Eq. 5: σ_i = (σ_max^(1/ρ) + i/(n-1)·(σ_min^(1/ρ) - σ_max^(1/ρ)))^ρ for i < n, and σ_n = 0."""
    if n < 1:
        raise DifflabError(f"number of steps must be at least 1, got {n}")
    if not 0 < sigma_min < sigma_max:
        raise DifflabError(f"need 0 < sigma_min < sigma_max, got {sigma_min} and {sigma_max}")
    if n == 1:
        return torch.tensor([sigma_max, 0.0], dtype=dtype)
    i = torch.arange(n, dtype=torch.float64)
    lo, hi = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    sigmas = (hi + i / (n - 1) * (lo - hi)) ** rho
    return torch.cat([sigmas, torch.zeros(1, dtype=torch.float64)]).to(dtype)


def check_sigmas(sigmas: Tensor, end_at_zero: bool = True) -> Tensor:
    """Validate a grid: 1-D, ≥ 2 entries, finite, strictly decreasing, positive but for a final 0."""
    if not isinstance(sigmas, Tensor) or sigmas.ndim != 1 or sigmas.numel() < 2:
        raise DifflabError("sigmas must be a 1-D tensor with at least 2 entries (N steps → N+1 values)")
    if not torch.isfinite(sigmas).all():
        raise DifflabError("sigmas must be finite")
    if not (sigmas[1:] < sigmas[:-1]).all():
        raise DifflabError("sigmas must be strictly decreasing")
    if end_at_zero and sigmas[-1] != 0:
        raise DifflabError(f"sigmas must end with 0, got {float(sigmas[-1])}")
    if (sigmas[:-1] <= 0).any() or sigmas[-1] < 0:
        raise DifflabError("sigmas must be positive (only the last may be 0)")
    return sigmas
