"""Stochastic samplers. The random source is passed in: `noise(key)` returns N(0, I) shaped like x.

All but Euler–Maruyama work on x̂ in σ; DDPM's and DDIM's updates are exactly these in x̂ (the VP
chain x_t = sqrt(1-β)x_{t-1} + sqrt(β)z is the VE chain x̂_t = x̂_{t-1} + sqrt(σ_t² - σ_{t-1}²)z
after x̂ = x/s, so their posteriors coincide).
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor

from ..errors import DifflabError
from ..parameterisation import DenoiserFn
from ..processes import EDM, Process
from ..utils import append_dims
from .ode import finish, positive_part

Noise = Callable[[int], Tensor]


def ancestral_sigmas(sigma: float, sigma_next: float, eta: float = 1.0) -> tuple[float, float]:
    """(σ_down, σ_up) of one DDIM/ancestral step: σ_up = η·σ_next·sqrt(σ² - σ_next²)/σ (DDPM's
    posterior std β̃ in x̂ for η = 1, DDIM's σ_t(η) in general), σ_down = sqrt(σ_next² - σ_up²)."""
    if not 0.0 <= eta <= 1.0:  # η > 1 would ask for σ_up > σ_next: more noise than the level holds
        raise DifflabError(f"eta must lie in [0, 1] (0: DDIM, 1: DDPM), got {eta:g}")
    sigma_up = eta * sigma_next * math.sqrt(sigma**2 - sigma_next**2) / sigma
    return math.sqrt(max(sigma_next**2 - sigma_up**2, 0.0)), sigma_up


def ddim(
    denoiser: DenoiserFn, x: Tensor, sigmas: Tensor, *, noise: Noise, eta: float = 0.0, **_
) -> Tensor:
    """DDIM (Song et al. 2021a, Eq. 12) in x̂: x̂_{i+1} = D + σ_down·ε̂ + σ_up·z, ε̂ = (x̂ - D)/σ.

    η = 0 is deterministic (the Euler step of the PF-ODE in σ); η = 1 is DDPM ancestral sampling.
    """
    levels, grid = sigmas.to(dtype=x.dtype, device=x.device).unbind(), sigmas.tolist()
    for i in range(len(grid) - 1):
        d = denoiser(x, levels[i])
        if grid[i + 1] == 0:
            return d
        sigma_down, sigma_up = ancestral_sigmas(grid[i], grid[i + 1], eta)
        x = torch.lerp(d, x, sigma_down / grid[i])  # D + (σ_down/σ)(x̂ - D), one fused kernel
        if eta > 0:
            x = x.add(noise(i), alpha=sigma_up)
    return x


def ddpm(denoiser: DenoiserFn, x: Tensor, sigmas: Tensor, *, noise: Noise, **kw) -> Tensor:
    """DDPM ancestral sampling (Ho et al. 2020, Alg. 2) with the posterior variance β̃: DDIM at η =
    1."""
    return ddim(denoiser, x, sigmas, noise=noise, eta=1.0, **kw)


def euler_maruyama(
    denoiser: DenoiserFn,
    x: Tensor,
    sigmas: Tensor,
    *,
    noise: Noise,
    process: Process | None = None,
    **_,
) -> Tensor:
    """Reverse SDE dx = [f x - g² ∇log p_t(x)] dt + g dw̄ (Anderson 1982; seed 004), Euler–Maruyama
    backwards in the process's t, with ∇_x log p_t(x) = (D(x/s; σ) - x/s)/(s σ²)."""
    process = process or EDM()
    ts = process.t_of_sigma(positive_part(sigmas).to(torch.float64)).to(
        dtype=x.dtype, device=x.device
    )
    x = x * process.s(ts[0])
    for i in range(len(ts) - 1):
        t, dt = ts[i], ts[i] - ts[i + 1]
        s, sigma = process.s(t), process.sigma(t)
        score = (denoiser(x / s, sigma) - x / s) / (s * sigma**2)
        g = process.g(t)
        x = x - (process.f(t) * x - g**2 * score) * dt + g * torch.sqrt(dt) * noise(i)
    return finish(denoiser, x / process.s(ts[-1]), sigmas)


def edm_stochastic(
    denoiser: DenoiserFn,
    x: Tensor,
    sigmas: Tensor,
    *,
    noise: Noise,
    s_churn: float = 0.0,
    s_tmin: float = 0.0,
    s_tmax: float = float("inf"),
    s_noise: float = 1.0,
    **_,
) -> Tensor:
    """EDM Algorithm 2: raise σ_i to σ̂ = σ_i(1 + γ_i) by adding noise, then a Heun step σ̂ →
    σ_{i+1} (Euler when σ_{i+1} = 0); γ_i = min(S_churn/N, √2 - 1) for σ_i in [S_tmin, S_tmax], else
    0."""
    sigmas = sigmas.to(dtype=x.dtype, device=x.device)
    n = len(sigmas) - 1
    for i in range(n):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        gamma = min(s_churn / n, math.sqrt(2) - 1) if s_tmin <= float(sigma) <= s_tmax else 0.0
        sigma_hat = sigma * (1 + gamma)
        if gamma > 0:
            x = x + torch.sqrt(sigma_hat**2 - sigma**2) * s_noise * noise(i)
        d = (x - denoiser(x, sigma_hat)) / sigma_hat
        x_next = x + (sigma_next - sigma_hat) * d
        if sigma_next > 0:
            d_next = (x_next - denoiser(x_next, sigma_next)) / sigma_next
            x_next = x + (sigma_next - sigma_hat) * 0.5 * (d + d_next)
        x = x_next
    return x


def langevin_step(
    denoiser: DenoiserFn, x: Tensor, sigma: Tensor, step: Tensor, z: Tensor
) -> Tensor:
    """x̂ + ε ∇log p(x̂; σ) + sqrt(2ε) z with ∇log p = (D - x̂)/σ² (seed 003, Eq. 1; ε per sample or
    scalar)."""
    return langevin_update(x, denoiser(x, sigma), sigma, step, z)


def langevin_update(x: Tensor, d: Tensor, sigma: Tensor, step: Tensor, z: Tensor) -> Tensor:
    """The Langevin step given D(x̂; σ) = d: x̂ + ε(d − x̂)/σ² + sqrt(2ε) z."""
    step = append_dims(step, x.ndim) if step.ndim else step
    return x + step * (d - x) / sigma**2 + torch.sqrt(2 * step) * z


def annealed_langevin(
    denoiser: DenoiserFn,
    x: Tensor,
    sigmas: Tensor,
    *,
    noise: Noise,
    steps_per_level: int = 5,
    epsilon: float | None = None,
    **_,
) -> Tensor:
    """Annealed Langevin dynamics (NCSN, Song & Ermon 2019, Alg. 1): at each σ_i, M Langevin steps
    of size ε_i = ε·σ_i²/σ_L² (σ_L the smallest nonzero level); then the denoiser at σ_L (NCSNv2's
    final step). ε defaults to 0.2·σ_L², NCSN's ratio (ε = 2e-5 at σ_L = 0.01), so the default fits
    any grid."""
    sigmas = sigmas.to(dtype=x.dtype, device=x.device)
    levels = positive_part(sigmas)
    sigma_l = float(levels[-1])
    epsilon = 0.2 * sigma_l**2 if epsilon is None else epsilon
    # every level takes the same relative step r = ε_i/σ_i² = ε/σ_L²; a Gaussian's Langevin update
    # x - D ← (1 - r)(x - D) + noise diverges for r ≥ 2: refuse rather than return NaNs
    if epsilon / sigma_l**2 >= 2:
        raise DifflabError(
            f"langevin epsilon {epsilon:g} is too large for the smallest σ {sigma_l:g}: "
            f"ε/σ_L² = {epsilon / sigma_l**2:.3g} must be below 2 (NCSN uses 0.2, the default)"
        )
    for i, sigma in enumerate(levels):
        step = epsilon * sigma**2 / levels[-1] ** 2
        for m in range(steps_per_level):
            x = langevin_step(denoiser, x, sigma, step, noise(i * steps_per_level + m))
    return finish(denoiser, x, sigmas)


def corrector_step(z: Tensor, x: Tensor, d: Tensor, sigma: Tensor, snr: float) -> Tensor:
    """Song et al. 2021b Alg. 5: ε = 2(r·||z||/||∇log p||)² with ∇log p = (D − x̂)/σ² and both
    norms averaged over the batch. Where D rounds to x̂ (float32 at σ ≪ the data's scale) the bare
    rule divides by 0: the mean norm is floored at half of Cramér–Rao's root-mean-square bound,
    E||∇log p||² ≥ n²/E||x̂ − E x̂||² (tight for Gaussians; the batch's own spread), which never
    binds otherwise (a mean norm is ≥ 0.8× its RMS for a Gaussian even in 1-D) and keeps ε below
    8r²·Var, inside Langevin's stable range for r < ½. A per-sample ε would avoid the batch but
    biases Langevin (points near a mode take long steps, far ones short: +26% variance on a 2-D
    Gaussian, measured); the batch mean ties a sample to its batch (step="fixed" does not)."""

    def norm(v: Tensor) -> Tensor:
        return v.reshape(len(v), -1).norm(dim=1).mean()

    n = x[0].numel()
    grad = norm(x - d) / sigma**2
    spread = ((x - x.mean(0)) ** 2).reshape(len(x), -1).sum(1).sum() / max(len(x) - 1, 1)
    if spread > 0:
        grad = torch.maximum(grad, 0.5 * n / spread.sqrt())
    if grad == 0:  # one sample and D = x̂: nothing is known about the score
        return torch.zeros((), dtype=x.dtype, device=x.device)
    return 2 * (snr * norm(z) / grad) ** 2


def predictor_corrector(
    denoiser: DenoiserFn,
    x: Tensor,
    sigmas: Tensor,
    *,
    noise: Noise,
    predictor: str = "ddpm",
    corrector_steps: int = 1,
    snr: float = 0.16,
    step: str = "song",
    **kw,
) -> Tensor:
    """Predictor–corrector (Song et al. 2021b, Alg. 1–3): one step of any sampler, then Langevin
    corrector steps at σ_{i+1} of size ε: step="song", the paper's batch-mean rule
    (`corrector_step`); step="fixed", ε = 2(rσ)² — E||∇log p||² at its bound n/σ², independent of
    the batch and linear in x̂, but 10²–10⁴× too small at small σ, where the corrector then does
    nothing (2(rσ)² against Song's 2r²(v + σ²) for data of variance v)."""
    from . import SAMPLERS  # the registry: any sampler can predict

    if step not in ("song", "fixed"):
        raise DifflabError(f"pc step must be 'song' or 'fixed', got {step!r}")
    step_fn = SAMPLERS[predictor].fn
    sigmas = sigmas.to(dtype=x.dtype, device=x.device)
    n = len(sigmas) - 1
    if predictor == "edm-stochastic" and "s_churn" in kw:
        # EDM's γ = min(S_churn/N, √2 − 1) counts the whole grid's N; the predictor sees N = 1
        kw = {**kw, "s_churn": kw["s_churn"] / n}
    stride = corrector_steps + PREDICTOR_KEYS
    for i in range(n):
        key = i * stride
        # a single step of the predictor on the two-point grid (multistep methods reduce to 1st
        # order); its inner draws j get keys of their own (Langevin draws several per level)
        x = step_fn(denoiser, x, sigmas[i : i + 2], noise=lambda j, k=key: noise(k + j), **kw)
        sigma = sigmas[i + 1]
        if sigma == 0:
            return x
        for m in range(corrector_steps):
            d, z = denoiser(x, sigma), noise(key + PREDICTOR_KEYS + m)
            eps = corrector_step(z, x, d, sigma, snr) if step == "song" else 2 * (snr * sigma) ** 2
            x = langevin_update(x, d, sigma, eps, z)
    return x


PREDICTOR_KEYS = 1024  # noise keys reserved per step for the predictor's inner draws


__all__ = [
    "ddim",
    "ddpm",
    "euler_maruyama",
    "edm_stochastic",
    "annealed_langevin",
    "predictor_corrector",
    "ancestral_sigmas",
    "langevin_step",
    "corrector_step",
]
