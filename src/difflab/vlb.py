"""The variational lower bound of a diffusion model (Kingma et al. 2021, VDM), in difflab's
convention x̂ = x0 + σ n (the scaling s(t) cancels from every term: SNR = 1/σ², docs/design.md):

    −log p(x) ≤ L_prior(x) + L_∞(x) + L_recon(x)                            (VDM Eq. 11)

- L_∞ = −½ ∫ SNR'(t) E‖x − D(x̂_t; σ_t)‖² dt = ∫_{σ_min}^{σ_max} σ⁻³ E‖x − D(x + σn; σ)‖² dσ
  (VDM Eq. 17 with SNR = σ⁻²; any schedule between the same endpoints gives the same value,
  VDM §3.4, but not the same variance), estimated by default with log σ uniform;
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

from .errors import DifflabError
from .parameterisation import DenoiserFn
from .processes import VE, Process


def diffusion_loss(
    denoiser: DenoiserFn,
    x: Tensor,
    schedule: Process,
    draws: int,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """L_∞(x) = −½ E_t[SNR'(t)‖x − D(x + σ(t)n; σ(t))‖²] (VDM Eq. 17), SNR = σ⁻², so
    −½SNR' = σ̇/σ³, per sample, with its Monte-Carlo standard error: t uniform over
    [t_min, t_max] of `schedule`. The expectation depends on the schedule's endpoints only; its
    variance on the schedule (VDM §3.4, §5)."""
    t_min, t_max = schedule.t_min, schedule.t_max

    def level(u: Tensor) -> tuple[Tensor, Tensor]:
        t = t_min + (t_max - t_min) * u
        sigma = schedule.sigma(t)
        return sigma, (t_max - t_min) * schedule.sigma_deriv(t) / sigma**3

    return _estimate(denoiser, x, level, draws, generator)


def discrete_diffusion_loss(
    denoiser: DenoiserFn,
    x: Tensor,
    sigmas: Tensor,
    draws: int,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """The T-step diffusion loss L_T(x) = ½ Σ_i (σ_{i−1}⁻² − σ_i⁻²) E‖x − D(x + σ_i n; σ_i)‖²
    (VDM Eq. 13 with SNR = σ⁻²; DDPM's L_vlb without its end terms) on the ascending grid
    σ_0 = σ_min < … < σ_T = σ_max, with its standard error, the steps i drawn uniformly.
    L_T ≥ L_2T ≥ … → L_∞ (VDM §3.3): more steps, a tighter bound."""
    sigmas = sigmas.to(torch.float64)
    steps = len(sigmas) - 1
    gain = sigmas[:-1] ** -2 - sigmas[1:] ** -2  # SNR(s) − SNR(t) of each step

    def level(u: Tensor) -> tuple[Tensor, Tensor]:
        i = (u * steps).long().clamp_max(steps - 1)  # step i + 1 of T
        return sigmas.to(u.device)[i + 1], 0.5 * steps * gain.to(u.device)[i]

    return _estimate(denoiser, x, level, draws, generator)


def _estimate(denoiser: DenoiserFn, x: Tensor, level, draws: int, generator) -> tuple:
    """(mean, standard error) over `draws` terms weight·‖x − D(x + σn; σ)‖² per sample, with
    (σ, weight) = level(u) for u on a low-discrepancy grid of [0, 1) (one uniform shift per
    sample, VDM §3.6) and n ~ N(0, I)."""
    shift = torch.rand(len(x), generator=generator, dtype=torch.float64, device=x.device)
    terms = []
    for k in range(draws):
        sigma, weight = (v.to(x.device, x.dtype) for v in level((k + shift) / draws))
        n = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        s = sigma.view(-1, *([1] * (x.dim() - 1)))
        error = (x - denoiser(x + s * n, sigma)).flatten(1).square().sum(1)
        terms.append(weight * error)
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
    schedule: Process | Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """(the bound L(x) ≥ −log p(x) in nats per sample, its Monte-Carlo standard error); `stats`
    gets {'nfe': draws}. `schedule`: where the diffusion loss draws its σ — a Process (the
    continuous L_∞; default log σ uniform, VE's geometric σ(t)) or the ascending levels
    σ_min = σ_0 < … < σ_T = σ_max of a discrete model (the T-step L_T, DDPM's L_vlb); its ends
    must be σ_min and σ_max."""
    schedule = schedule if schedule is not None else VE(sigma_lo=sigma_min, sigma_hi=sigma_max)
    discrete = isinstance(schedule, Tensor)
    ends = (float(schedule[0]), float(schedule[-1])) if discrete else None
    ends = ends or (schedule.sigma_min, schedule.sigma_max)
    if not (
        math.isclose(ends[0], sigma_min, rel_tol=1e-6)
        and math.isclose(ends[1], sigma_max, rel_tol=1e-6)
    ):
        raise DifflabError(
            f"the schedule runs from σ {ends[0]:g} to {ends[1]:g}; the bound's ends are "
            f"{sigma_min:g} and {sigma_max:g}"
        )
    with torch.no_grad():
        loss = discrete_diffusion_loss if discrete else diffusion_loss
        diffusion, se = loss(denoiser, x, schedule, draws, generator)
        prior = prior_loss(x, sigma_max, sigma_data, data_mean, data_cov)
        bound = prior + diffusion + reconstruction_loss(x, sigma_min)
    if stats is not None:
        stats["nfe"] = draws
    return bound, se
