"""The variational lower bound of a diffusion model (Kingma et al. 2021, VDM), in difflab's
convention x̂ = x0 + σ n (the scaling s(t) cancels from every term: SNR = 1/σ², docs/design.md):

    −log p(x) ≤ L_prior(x) + L_∞(x) + L_recon(x)                            (VDM Eq. 11)

- L_∞ = −½ ∫ SNR'(t) E‖x − D(x̂_t; σ_t)‖² dt = ∫_{σ_min}^{σ_max} σ⁻³ E‖x − D(x + σn; σ)‖² dσ
  (VDM Eq. 17 with SNR = σ⁻²; any schedule between the same endpoints gives the same value,
  VDM §3.4), estimated with log σ uniform: log(σ_max/σ_min)·E[σ⁻²‖x − D‖²];
- L_prior = KL(N(x, σ_max² I) ‖ p(x̂_σmax)), the prior N(μ, Σ + σ_max² I) of the PF-ODE likelihood
  (μ, Σ from the training data; N(0, (σ_data² + σ_max²) I) without them);
- L_recon = E −log N(x; x̂_σmin, σ_min² I) = D/2·(1 + log 2πσ_min²), the decoder at σ_min.

The bound belongs to the reverse-SDE model (the chain of Gaussian denoising steps), not to the
PF-ODE's density: both are reported side by side, and no order between them is asserted. For
Gaussian data N(μ, Σ) and the exact denoiser the bound is −log N(x; μ, Σ + σ_min² I) +
½σ_min² tr((Σ + σ_min² I)⁻¹) for every x (tests/test_vlb.py).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .parameterisation import DenoiserFn


def diffusion_loss(
    denoiser: DenoiserFn,
    x: Tensor,
    sigma_min: float,
    sigma_max: float,
    draws: int,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """L_∞(x) per sample and its Monte-Carlo standard error: `draws` (σ, n) pairs per sample,
    log σ on a low-discrepancy grid (one uniform shift per sample, VDM §3.6) between the
    endpoints."""
    span = math.log(sigma_max / sigma_min)
    shift = torch.rand(len(x), generator=generator, dtype=x.dtype, device=x.device)
    terms = []
    for k in range(draws):
        u = (k + shift) / draws
        sigma = torch.exp(math.log(sigma_min) + span * u)
        n = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        s = sigma.view(-1, *([1] * (x.dim() - 1)))
        error = (x - denoiser(x + s * n, sigma)).flatten(1).square().sum(1)
        terms.append(span * error / sigma**2)
    stacked = torch.stack(terms)
    return stacked.mean(0), stacked.std(0) / math.sqrt(draws)


def prior_loss(
    x: Tensor,
    sigma_max: float,
    sigma_data: float = 1.0,
    data_mean: Tensor | None = None,
    data_cov: Tensor | None = None,
) -> Tensor:
    """L_prior(x) = KL(N(x, σ_max² I) ‖ N(μ, C)) per sample, C = Σ + σ_max² I (or
    (σ_data² + σ_max²) I without Σ): ½[tr(C⁻¹)σ_max² + (x − μ)ᵀC⁻¹(x − μ) − D + log det C
    − D log σ_max²]."""
    flat = x.flatten(1)
    d = flat.shape[1]
    mu = torch.zeros(d, dtype=x.dtype, device=x.device)
    if data_mean is not None:
        mu = data_mean.to(flat).flatten()
    if data_cov is None:
        cov = torch.eye(d, dtype=x.dtype, device=x.device) * (sigma_data**2 + sigma_max**2)
    else:
        cov = data_cov.to(flat) + sigma_max**2 * torch.eye(d, dtype=x.dtype, device=x.device)
    chol = torch.linalg.cholesky(cov)
    centred = torch.cholesky_solve((flat - mu).T, chol).T  # C⁻¹(x − μ), one row per sample
    trace = torch.cholesky_inverse(chol).diagonal().sum() * sigma_max**2
    log_det = 2.0 * chol.diagonal().log().sum()
    mahalanobis = ((flat - mu) * centred).sum(1)
    return 0.5 * (trace + mahalanobis - d + log_det - d * math.log(sigma_max**2))


def reconstruction_loss(x: Tensor, sigma_min: float) -> Tensor:
    """L_recon(x) = E_n −log N(x; x + σ_min n, σ_min² I) = D/2·(1 + log 2πσ_min²) per sample."""
    d = x[0].numel()
    value = 0.5 * d * (1.0 + math.log(2 * math.pi * sigma_min**2))
    return torch.full((len(x),), value, dtype=x.dtype, device=x.device)


def vlb(
    denoiser: DenoiserFn,
    x: Tensor,
    *,
    sigma_min: float = 0.002,
    sigma_max: float = 80.0,
    sigma_data: float = 1.0,
    draws: int = 64,
    data_mean: Tensor | None = None,
    data_cov: Tensor | None = None,
    generator: torch.Generator | None = None,
    stats: dict | None = None,
) -> tuple[Tensor, Tensor]:
    """(the bound L(x) ≥ −log p(x) in nats per sample, its Monte-Carlo standard error); `stats`
    gets {'nfe': draws}."""
    with torch.no_grad():
        diffusion, se = diffusion_loss(denoiser, x, sigma_min, sigma_max, draws, generator)
        prior = prior_loss(x, sigma_max, sigma_data, data_mean, data_cov)
        bound = prior + diffusion + reconstruction_loss(x, sigma_min)
    if stats is not None:
        stats["nfe"] = draws
    return bound, se
