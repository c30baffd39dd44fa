"""Inpainting / imputation with any trained (unconditional) denoiser: fill x[~mask] given
x[mask] = y.

Three training-free methods, all on the one denoiser protocol and the σ grid of the samplers:

- `replace` (Song et al. 2021, App. I.2): the observed coordinates are kept on the forward-noised
  observation y + σ·n all the way down; the rest follows any sampler. We realise it as a denoiser
  wrapper, D'(x̂; σ)[mask] = y: every PF-ODE solver then carries x̂[mask] = y + σ·n exactly (and
  an ancestral step draws it from q(x̂_σ' | x̂_σ, y)), so no sampler changes. Fast, but biased: the
  missing coordinates only see the observed ones through the noisy x̂, never through y itself.
- `repaint` (Lugmayr et al. 2022): ancestral steps with replacement, each repeated `jumps` times by
  noising back up one level, x̂_σ = x̂_σ' + sqrt(σ² - σ'²)·z, so the two parts can harmonise.
- `smc` (twisted diffusion sampler, Wu et al. 2023): `particles` chains per row, ancestral
  kernels with twisted proposals and importance weights, resampled when the effective sample size
  falls below half; asymptotically exact (as particles → ∞) for the model's own conditional.

Convention: `mask` is True (or 1) where `known` is observed; the result equals `known` there
exactly, and entries of `known` outside the mask are ignored (they may be NaN).
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor

from ..defaults import PARTICLES, SMC_LEVELS
from ..errors import DifflabError
from ..parameterisation import DenoiserFn
from ..processes import Process
from .prior import GaussianStart, isotropic_start
from .schedules import check_sigmas

Noise = Callable[[int], Tensor]
METHODS = ("replace", "repaint", "smc")
# smc's default kernel and levels, by measurement (docs/benchmarks.md, "Inpainting: a posterior
# split between modes"): with Heun means the split posterior's mode weights converge slowly in K
# (TV 0.055 at K = 32, 50 levels; 0.043 at 100), Euler at 100 levels gives TV 0.008 at the same
# 100 NFE per particle, and the correlated Gaussian's conditional sd within 0.013.
KERNEL = "euler"


class Replaced:
    """D'(x̂; σ) = D(x̂; σ) with the observed coordinates of the prediction set to y."""

    def __init__(self, denoiser: DenoiserFn, y: Tensor, mask: Tensor):
        self.denoiser, self.y, self.mask = denoiser, y, mask
        self.nfe_per_call = getattr(denoiser, "nfe_per_call", 1)

    def __call__(self, x: Tensor, sigma: Tensor | float) -> Tensor:
        return torch.where(self.mask, self.y, self.denoiser(x, sigma))


def check_mask(known: Tensor, mask: Tensor) -> Tensor:
    """mask as a boolean tensor shaped like `known` (one sample's shape applies to all)."""
    mask = torch.as_tensor(mask, device=known.device)
    if mask.shape == known.shape[1:]:
        mask = mask.expand_as(known)
    if mask.shape != known.shape:
        raise DifflabError(
            f"mask has shape {tuple(mask.shape)}; expected {tuple(known.shape)} (like the "
            f"known values) or {tuple(known.shape[1:])} (one sample's shape)"
        )
    if mask.dtype != torch.bool:
        if not ((mask == 0) | (mask == 1)).all():
            raise DifflabError("mask must hold booleans or 0/1 (1 where the value is observed)")
        mask = mask.bool()
    y = torch.where(mask, known, torch.zeros_like(known))
    if not torch.isfinite(y).all():
        raise DifflabError("known values must be finite where the mask marks them observed")
    return mask


def initial_noise(
    y: Tensor, mask: Tensor, z: Tensor, sigma_max: float, prior: GaussianStart, index: Tensor | None
) -> Tensor:
    """x̂ at σ_0 from the proposal q: the observed part noised, y + σ_0·z; the rest from the
    prior's marginals (the unconditional prior: sqrt(σ_0² + σ_d²)·z; a class: its own N(m_c,
    Σ_c + σ_0² I), sampling.prior)."""
    return torch.where(mask, y + sigma_max * z, prior.sample_marginals(z, index))


def start_log_weight(
    x: Tensor, y: Tensor, mask: Tensor, sigma_max: float, prior: GaussianStart, index: Tensor | None
) -> Tensor:
    """log p(x̂) - log q(x̂) of particles drawn by `initial_noise`: the chain's start is the prior p
    (TDS, Wu et al. 2023, Alg. 1: x_T ~ p), the proposal q puts the observed part at N(y, σ_0²).
    Without it the model's conditional is missed where σ_0 is not ≫ the data (2-D Gaussian,
    ρ = 0.8, y = 3, σ_0 = 1.5: conditional mean 2.264 for the chain's exact 2.321)."""
    log_q = prior.marginals_log_prob(x, ~mask, index)
    observed = -0.5 * ((x - y) / sigma_max).square() - math.log(sigma_max * math.sqrt(2 * math.pi))
    log_q = log_q + torch.where(mask, observed, 0.0).flatten(1).sum(1)
    return prior.log_prob(x, index) - log_q


def inpaint(
    denoiser: DenoiserFn,
    known: Tensor,
    mask: Tensor,
    sigmas: Tensor,
    method: str = "replace",
    *,
    sampler: str | None = None,
    sigma_data: float = 1.0,
    seed: int | None = None,
    noise: Noise | None = None,
    process: Process | None = None,
    stats: dict | None = None,
    jumps: int = 10,
    particles: int = PARTICLES,
    kernel: str = KERNEL,
    prior: GaussianStart | None = None,
    prior_index: Tensor | None = None,
    **options,
) -> Tensor:
    """Complete `known` where `mask` is False; returns a tensor equal to `known` where it is True.

    method: replace (with `sampler`, default heun, and its options), repaint (`jumps` U per level),
    smc (`particles` per row, `kernel` euler or heun for the ancestral mean). `noise(key)` supplies
    N(0, I) like `known` (smc: like `known` with every row repeated `particles` times); by default a
    generator seeded with `seed`. The chains start from `prior` (rows by `prior_index`, one per row
    of `known`; sampling.prior), by default the unconditional N(0, (σ_0² + σ_data²) I).
    `stats`, if given, receives {'nfe': …} (smc also 'resampled', the number of resampling steps).
    """
    from . import default_noise, sample

    if method not in METHODS:
        raise DifflabError(
            f"unknown inpainting method {method!r}; expected one of: {', '.join(METHODS)}"
        )
    if sampler is not None and method != "replace":
        raise DifflabError(
            f"--sampler applies to the replace method; {method} has its own ancestral steps"
        )
    sigmas = check_sigmas(sigmas, end_at_zero=True)
    mask = check_mask(known, mask)
    y = torch.where(mask, known, torch.zeros_like(known))
    stats = {} if stats is None else stats
    sigma_0 = float(sigmas[0])
    prior = prior or isotropic_start(tuple(known.shape[1:]), sigma_0**2 + sigma_data**2)
    if method == "smc":
        start = (prior, prior_index)
        out = _smc(denoiser, y, mask, sigmas, noise, seed, particles, kernel, start, stats, options)
    else:
        noise = noise or default_noise(y, seed)
        x = initial_noise(y, mask, noise(-1), sigma_0, prior, prior_index)
        replaced = Replaced(denoiser, y, mask)
        if method == "replace":
            how = {"process": process, "noise": noise, "stats": stats, **options}
            out = sample(replaced, x, sigmas, sampler or "heun", **how)
        else:
            if options:
                raise DifflabError(f"repaint takes jumps, not {', '.join(sorted(options))}")
            out = repaint(replaced, x, sigmas, noise, jumps, stats)
    return torch.where(mask, known, out)


def _smc(denoiser, y, mask, sigmas, noise, seed, particles, kernel, start, stats, options):
    """inpaint's smc branch: its options checked, its noise like y with rows repeated."""
    from . import default_noise

    if particles < 1:
        raise DifflabError(f"particles must be at least 1, got {particles}")
    if kernel not in ("heun", "euler"):
        raise DifflabError(f"smc kernel must be heun or euler, got {kernel!r}")
    if options:
        raise DifflabError(f"smc takes particles and kernel, not {', '.join(sorted(options))}")
    noise = noise or default_noise(y.repeat_interleave(particles, dim=0), seed)
    return smc(denoiser, y, mask, sigmas, noise, particles, start, stats, kernel == "heun")


@torch.no_grad()
def repaint(
    denoiser: Replaced, x: Tensor, sigmas: Tensor, noise: Noise, jumps: int, stats: dict
) -> Tensor:
    """RePaint (Lugmayr et al. 2022, Alg. 1, jump length 1): at each level, U times: an ancestral
    step σ_i → σ_{i+1} with the known part replaced, then (but the last time) noise back up to
    σ_i."""
    from .sde import ddim

    if jumps < 1:
        raise DifflabError(f"jumps must be at least 1, got {jumps}")
    grid, nfe = sigmas.tolist(), 0
    for i in range(len(grid) - 1):
        repeats = jumps if grid[i + 1] > 0 else 1  # the final step to σ = 0 is deterministic
        for u in range(repeats):
            key = 2 * (i * jumps + u)
            x_next = ddim(
                denoiser, x, sigmas[i : i + 2], noise=lambda _k, key=key: noise(key), eta=1.0
            )
            nfe += denoiser.nfe_per_call
            if u < repeats - 1:  # forward kernel q(x̂_σi | x̂_σi+1) of the VE chain x̂ = x0 + σ n
                x_next = x_next + math.sqrt(grid[i] ** 2 - grid[i + 1] ** 2) * noise(key + 1)
            x = x_next
    stats["nfe"] = nfe
    return x


def _twist(denoiser: DenoiserFn, x: Tensor, sigma: float, y: Tensor, mask: Tensor) -> tuple:
    """D(x̂), log g(x̂) = -||y - D(x̂)[mask]||²/(2σ²) and ∇ log g(x̂): TDS's twisting function
    p̃(y | x̂_σ) = N(y; D(x̂; σ)[mask], σ²) (Wu et al. 2023, Eq. 8 with σ̄² = σ² in x̂ units)."""
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        d = denoiser(x, sigma)
        log_g = -torch.where(mask, y - d, 0.0).square().flatten(1).sum(1) / (2 * sigma**2)
        (grad,) = torch.autograd.grad(log_g.sum(), x)
    return d.detach(), log_g.detach(), grad


def _systematic(weights: Tensor, u: Tensor) -> Tensor:
    """Systematic resampling per row: weights [B, K] (normalised), u [B] ~ U[0, 1) → indices."""
    k = weights.shape[1]
    points = (torch.arange(k, device=weights.device, dtype=weights.dtype) + u[:, None]) / k
    cdf = weights.cumsum(1)
    cdf[:, -1] = 1.0  # guard round-off at the top
    return torch.searchsorted(cdf, points).clamp_max(k - 1)


@torch.no_grad()
def ancestral_mean(
    denoiser: DenoiserFn, x: Tensor, d: Tensor, sigma: float, sigma_next: float, heun: bool
) -> Tensor:
    """Mean of the ancestral kernel σ → σ': the PF-ODE from σ to σ_down = σ'²/σ, by Euler (DDPM/DDIM
    η = 1: D + (σ_down/σ)(x̂ - D)) or by Heun (one more NFE; second order, so the chain keeps the
    data's variance: on a correlated Gaussian, 50 levels lose 0.5% instead of 13%)."""
    sigma_down = sigma_next**2 / sigma
    euler = torch.lerp(d, x, sigma_down / sigma)
    if not heun:
        return euler
    slope = (x - d) / sigma + (euler - denoiser(euler, sigma_down)) / sigma_down
    return x + 0.5 * (sigma_down - sigma) * slope


def smc(
    denoiser: DenoiserFn,
    y: Tensor,
    mask: Tensor,
    sigmas: Tensor,
    noise: Noise,
    particles: int,
    start: tuple[GaussianStart, Tensor | None],
    stats: dict,
    heun: bool = True,
) -> Tensor:
    """Twisted diffusion sampler (Wu et al. 2023, Alg. 1) on an ancestral chain in x̂:
    p(x̂' | x̂) = N(m(x̂), v) with m = the ODE step to σ'²/σ (ancestral_mean), v = σ'²(σ² - σ'²)/σ².
    Proposal: the same Gaussian with its mean moved by v·∇log g(x̂); weight
    w' = w·p(x̂'|x̂) g(x̂') / (q(x̂'|x̂) g(x̂)), from w_0 = g(x̂_0) p(x̂_0)/q(x̂_0) for particles
    proposed by `initial_noise` from `start` (the prior table and each row's index). The target
    at the last level σ_{N-1} is p(x̂) g(x̂), the result D(x̂; σ_{N-1}) with y put in; as
    σ_{N-1} → 0 and the particles → ∞ it is the model's exact conditional."""
    b, k = y.shape[0], particles
    ys, ms = y.repeat_interleave(k, 0), mask.repeat_interleave(k, 0)
    grid = sigmas.tolist()
    prior, index = start[0], None if start[1] is None else start[1].repeat_interleave(k)
    x = initial_noise(ys, ms, noise(-1), grid[0], prior, index)
    d, log_g, grad = _twist(denoiser, x, grid[0], ys, ms)
    log_w = (log_g + start_log_weight(x, ys, ms, grid[0], prior, index)).view(b, k)
    nfe, resampled = 1, 0
    last = len(grid) - 2  # index of the smallest positive σ
    for i in range(last):
        # u is drawn only when a row resamples: noise(key) may be one sequential generator
        def uniform(i: int = i) -> Tensor:
            return _row_uniform(noise(2 * i), k)

        log_w, (x, d, log_g, grad), moved = _resample(log_w, uniform, (x, d, log_g, grad))
        resampled += moved
        x_new, log_ratio = _propose(
            denoiser, x, d, grad, grid[i], grid[i + 1], heun, noise(2 * i + 1)
        )
        d_new, log_g_new, grad_new = _twist(denoiser, x_new, grid[i + 1], ys, ms)
        nfe += 1 + int(heun)
        log_w = log_w + (log_ratio + log_g_new - log_g).view(b, k)
        x, d, log_g, grad = x_new, d_new, log_g_new, grad_new
    # one particle per row, drawn by its final weight
    u = _row_uniform(noise(2 * last + 2), k)
    cdf = torch.softmax(log_w, 1).cumsum(1)
    pick = torch.searchsorted(cdf, u[:, None] * cdf[:, -1:]).clamp_max(k - 1)[:, 0]
    ess = float((1 / torch.softmax(log_w, 1).square().sum(1)).mean())
    stats.update(nfe=nfe, resampled=resampled, ess=ess)
    out = d.view(b, k, *y.shape[1:])[torch.arange(b, device=y.device), pick]
    return torch.where(mask, y, out)


def _row_uniform(z: Tensor, particles: int) -> Tensor:
    """One U[0, 1) per row from the first entry of its first particle's N(0, I) draw."""
    return torch.special.ndtr(z.flatten(1)[::particles, 0])


def _resample(log_w: Tensor, uniform, particles: tuple[Tensor, ...]) -> tuple:
    """(log weights, particle tensors, whether any row moved): rows whose effective sample size
    fell below K/2 are resampled systematically (u from `uniform()`); their tensors [B·K, …] move
    together and their weights restart equal."""
    b, k = log_w.shape
    w = torch.softmax(log_w, 1)
    low = 1.0 / w.square().sum(1) < k / 2
    if not low.any():
        return log_w, particles, False
    idx = torch.where(low[:, None], _systematic(w, uniform()), torch.arange(k, device=w.device))
    flat = (idx + k * torch.arange(b, device=idx.device)[:, None]).flatten()
    log_w = torch.where(low[:, None], torch.zeros_like(log_w), log_w)
    return log_w, tuple(t[flat] for t in particles), True


def _propose(
    denoiser: DenoiserFn, x: Tensor, d: Tensor, grad: Tensor, s: float, s_next: float, heun: bool,
    z: Tensor,
) -> tuple[Tensor, Tensor]:  # fmt: skip
    """x̂' from the twisted proposal q = N(m + v∇log g, v) of the ancestral kernel
    p = N(m, v), v = σ'²(σ² - σ'²)/σ², and log p(x̂'|x̂) - log q(x̂'|x̂) (equal variances)."""
    v = s_next**2 * (s**2 - s_next**2) / s**2
    mean = ancestral_mean(denoiser, x, d, s, s_next, heun)
    proposal = mean + v * grad
    x_new = proposal + math.sqrt(v) * z
    log_ratio = ((x_new - proposal).square() - (x_new - mean).square()).flatten(1).sum(1)
    return x_new, log_ratio / (2 * v)


__all__ = [
    "inpaint",
    "repaint",
    "smc",
    "Replaced",
    "METHODS",
    "check_mask",
    "initial_noise",
    "start_log_weight",
    "PARTICLES",
    "KERNEL",
    "SMC_LEVELS",
]
