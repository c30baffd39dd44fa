"""Sigma grids: explicit tensors, strictly decreasing, finite, ending with 0 (length N+1 for N
steps)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from ..errors import DifflabError

if TYPE_CHECKING:
    from ..processes import Process


def karras_sigmas(
    n: int, sigma_min: float, sigma_max: float, rho: float = 7.0, dtype: torch.dtype = torch.float64
) -> Tensor:
    """EDM Eq. 5: σ_i = (σ_max^(1/ρ) + i/(n-1)·(σ_min^(1/ρ) - σ_max^(1/ρ)))^ρ for i < n, and σ_n =
    0."""
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
    """Validate a grid: 1-D, ≥ 2 entries, finite, strictly decreasing, positive but for a final
    0."""
    if not isinstance(sigmas, Tensor) or sigmas.ndim != 1 or sigmas.numel() < 2:
        raise DifflabError(
            "sigmas must be a 1-D tensor with at least 2 entries (N steps → N+1 values)"
        )
    if not torch.isfinite(sigmas).all():
        raise DifflabError("sigmas must be finite")
    if not (sigmas[1:] < sigmas[:-1]).all():
        raise DifflabError("sigmas must be strictly decreasing")
    if end_at_zero and sigmas[-1] != 0:
        raise DifflabError(f"sigmas must end with 0, got {float(sigmas[-1])}")
    if (sigmas[:-1] <= 0).any() or sigmas[-1] < 0:
        raise DifflabError("sigmas must be positive (only the last may be 0)")
    return sigmas


def _append_zero(sigmas: Tensor, dtype: torch.dtype) -> Tensor:
    return torch.cat([sigmas.to(torch.float64), torch.zeros(1, dtype=torch.float64)]).to(dtype)


def time_uniform_sigmas(
    n: int,
    process: "Process",
    sigma_min: float,
    sigma_max: float,
    dtype: torch.dtype = torch.float64,
) -> Tensor:
    """σ(t_i) for t uniform between t(σ_max) and t(σ_min) of a process (EDM Table 1: VP's
    t_i = 1 + i/(N-1)(ε_s - 1); for VE geometric σ this is VE's σ_i =
    σ_max(σ_min/σ_max)^(i/(N-1)))."""
    if n < 1 or not 0 < sigma_min < sigma_max:
        raise DifflabError(
            f"need n ≥ 1 and 0 < sigma_min < sigma_max, got {n}, {sigma_min}, {sigma_max}"
        )
    lo, hi = (
        process.t_of_sigma(torch.tensor(v, dtype=torch.float64)) for v in (sigma_min, sigma_max)
    )
    t = torch.linspace(float(hi), float(lo), n, dtype=torch.float64) if n > 1 else hi.reshape(1)
    return _append_zero(process.sigma(t), dtype)


def log_snr_sigmas(
    n: int, sigma_min: float, sigma_max: float, dtype: torch.dtype = torch.float64
) -> Tensor:
    """Uniform in log-SNR λ = -2 ln σ, i.e. geometric σ from σ_max to σ_min (then 0)."""
    if n < 1 or not 0 < sigma_min < sigma_max:
        raise DifflabError(
            f"need n ≥ 1 and 0 < sigma_min < sigma_max, got {n}, {sigma_min}, {sigma_max}"
        )
    if n == 1:
        return torch.tensor([sigma_max, 0.0], dtype=dtype)
    return _append_zero(
        torch.exp(torch.linspace(math.log(sigma_max), math.log(sigma_min), n, dtype=torch.float64)),
        dtype,
    )


def iddpm_sigmas(
    n: int,
    sigma_min: float,
    sigma_max: float,
    m: int = 1000,
    c1: float = 0.001,
    c2: float = 0.008,
    dtype: torch.dtype = torch.float64,
) -> Tensor:
    """iDDPM's time steps as in EDM Table 1: u_M = 0, u_{j-1} = sqrt((u_j² + 1)/max(ᾱ_{j-1}/ᾱ_j, C1)
    - 1) with ᾱ_j = sin²(π j/(2M(C2+1))); σ_i = u_⌊j0 + (M-1-j0)i/(N-1) + ½⌋ over the u_j in [σ_min,
    σ_max]."""
    if n < 1 or not 0 < sigma_min < sigma_max:
        raise DifflabError(
            f"need n ≥ 1 and 0 < sigma_min < sigma_max, got {n}, {sigma_min}, {sigma_max}"
        )
    j = torch.arange(m + 1, dtype=torch.float64)
    alpha_bar = torch.sin(0.5 * math.pi * j / (m * (c2 + 1))) ** 2
    u = torch.zeros(m + 1, dtype=torch.float64)
    for k in range(m, 0, -1):
        u[k - 1] = torch.sqrt(
            (u[k] ** 2 + 1) / torch.clamp(alpha_bar[k - 1] / alpha_bar[k], min=c1) - 1
        )
    u = u[(u >= sigma_min) & (u <= sigma_max)]  # decreasing
    if len(u) == 0:
        raise DifflabError(f"no iDDPM level lies in [{sigma_min}, {sigma_max}]")
    idx = (
        torch.floor(torch.linspace(0, len(u) - 1, n, dtype=torch.float64) + 0.5).long()
        if n > 1
        else torch.zeros(1, dtype=torch.long)
    )
    return _append_zero(torch.unique_consecutive(u[idx]), dtype)


def flow_uniform_sigmas(
    n: int, sigma_min: float, sigma_max: float, dtype: torch.dtype = torch.float64
) -> Tensor:
    """Rectified flow's Euler grid (Liu et al. 2022): t = σ/(1+σ) uniform from t(σ_max) to 0 in n
    steps, σ_i = t_i/(1 − t_i), with no σ_min level (sigma_min only checked). For straight paths
    (a reflow student) an Euler step to σ = 0 is exact; on a karras grid, 2 steps would spend one
    between σ_min and 0."""
    if n < 1 or not 0 < sigma_min < sigma_max:
        raise DifflabError(
            f"need n ≥ 1 and 0 < sigma_min < sigma_max, got {n}, {sigma_min}, {sigma_max}"
        )
    t = sigma_max / (1 + sigma_max) * torch.linspace(1.0, 0.0, n + 1, dtype=torch.float64)
    return (t / (1 - t)).to(dtype)


SCHEDULES = {
    "karras": karras_sigmas,
    "log-snr": log_snr_sigmas,
    "iddpm": iddpm_sigmas,
    "time-uniform": time_uniform_sigmas,
    # uniform in VP's t whatever the preset (the peers' few-step grid)
    "vp-time": time_uniform_sigmas,
    "flow-uniform": flow_uniform_sigmas,
}


def make_sigmas(
    name: str,
    n: int,
    sigma_min: float,
    sigma_max: float,
    process: "Process | None" = None,
    rho: float = 7.0,
) -> Tensor:
    """A grid by name: karras (EDM ρ), time-uniform (in the process's t), vp-time (uniform in
    VP's t for any process: DDPM's linear-β grid, what diffusers' schedulers step on), log-snr,
    iddpm."""
    if name == "karras":
        return karras_sigmas(n, sigma_min, sigma_max, rho)
    if name == "time-uniform":
        from ..processes import EDM

        return time_uniform_sigmas(n, process or EDM(), sigma_min, sigma_max)
    if name == "vp-time":
        from ..processes import VP

        return time_uniform_sigmas(n, VP(), sigma_min, sigma_max)
    if name in SCHEDULES:
        return SCHEDULES[name](n, sigma_min, sigma_max)
    raise DifflabError(f"unknown schedule {name!r}; expected one of: {', '.join(SCHEDULES)}")
