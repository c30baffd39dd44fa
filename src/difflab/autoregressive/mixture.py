"""One-dimensional conditionals of an autoregressive model: a mixture of K Gaussians per entry.

p(x_i | x_<i) = Σ_k π_k N(x_i; μ_k, s_k²), its parameters (logits, μ, log s) computed from x_<i.
Sampling inverts the conditional CDF: x_i = F_i⁻¹(Φ(z_i)) with z ~ N(0, I), so an autoregressive
model is a flow x = f⁻¹(z) (Papamakarios et al. 2017) and sample i depends only on its own z.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

LOG_SCALE_MIN, LOG_SCALE_MAX = -9.0, 5.0  # s in [1.2e-4, 148]: keeps the density finite


def split_params(p: Tensor, components: int) -> tuple[Tensor, Tensor, Tensor]:
    """[..., 3K] → log π (normalised), μ, log s, each [..., K]."""
    logits, mu, log_s = p.split(components, dim=-1)
    log_s = log_s.clamp(LOG_SCALE_MIN, LOG_SCALE_MAX)
    return torch.log_softmax(logits, dim=-1), mu, log_s


def init_mixture_bias(bias: Tensor, components: int) -> None:
    """Start every conditional's K components apart — means at the standard normal's quantiles
    (k + ½)/K, scales 1/√K, equal weights — for bias [entries × 3K]. Identical starting components
    share every gradient: training then sits on a plateau until noise breaks the symmetry
    (measured on the 8-Gaussian ring: thousands of steps at the marginals' loss)."""
    q = (torch.arange(components, dtype=torch.float64) + 0.5) / components
    mu = math.sqrt(2) * torch.special.erfinv(2 * q - 1)
    block = torch.cat(
        [
            torch.zeros(components),
            mu.float(),
            torch.full((components,), -0.5 * math.log(components)),
        ]
    )
    with torch.no_grad():
        bias.copy_(block.repeat(len(bias) // (3 * components)))


def normal_cdf(x: Tensor) -> Tensor:
    """Φ(x) = erfc(−x/√2)/2: full relative precision in the lower tail (torch.special.ndtr returns
    0 below x ≈ −8.3 in float64)."""
    return 0.5 * torch.special.erfc(-x / math.sqrt(2))


def mixture_log_prob(x: Tensor, log_pi: Tensor, mu: Tensor, log_s: Tensor) -> Tensor:
    """log Σ_k π_k N(x; μ_k, s_k²) for x [...] and parameters [..., K]."""
    z = (x.unsqueeze(-1) - mu) * torch.exp(-log_s)
    log_n = -0.5 * z**2 - log_s - 0.5 * math.log(2 * math.pi)
    return torch.logsumexp(log_pi + log_n, dim=-1)


def mixture_cdf(x: Tensor, log_pi: Tensor, mu: Tensor, log_s: Tensor) -> Tensor:
    """F(x) = Σ_k π_k Φ((x − μ_k)/s_k)."""
    z = (x.unsqueeze(-1) - mu) * torch.exp(-log_s)
    return (torch.exp(log_pi) * normal_cdf(z)).sum(-1)


def mixture_icdf(
    z: Tensor, log_pi: Tensor, mu: Tensor, log_s: Tensor, max_iterations: int = 100
) -> Tensor:
    """x with F(x) = Φ(z), in float64. The root lies between the components' own quantiles
    min_k(μ_k + s_k z) and max_k(μ_k + s_k z) (there every Φ((x − μ_k)/s_k) is ≤, resp. ≥, Φ(z)).
    Newton steps on log F(x) − log Φ(z) (nearly linear far into the tails, where F itself is
    exponentially flat) that leave the shrinking bracket are replaced by bisection: quadratic near
    the root, never worse than halving. For z > 0 it solves the upper tail 1 − F(x) = Φ(−z)
    instead (1 − Φ(z) rounds to 0 in float64 beyond z ≈ 8.3). Each entry stops on its own once a
    step moves it by < 1e-13·(1 + |x|), so its result does not depend on its batch."""
    dtype = z.dtype
    z, log_pi, mu, log_s = (t.double() for t in (z, log_pi, mu, log_s))
    s, pi = torch.exp(log_s), torch.exp(log_pi)
    upper = z > 0
    sign = torch.where(upper, -1.0, 1.0).to(z)  # F: Φ((x − μ)/s); 1 − F: Φ((μ − x)/s)
    log_tail = torch.log(normal_cdf(-z.abs()))
    quantiles = mu + s * z.unsqueeze(-1)
    lo, hi = quantiles.amin(-1), quantiles.amax(-1)
    x = 0.5 * (lo + hi)
    done = lo == hi  # one component, or all agree: the bracket is the answer
    for _ in range(max_iterations):
        if bool(done.all()):
            break
        u = (x.unsqueeze(-1) - mu) / s
        mass = (pi * normal_cdf(sign.unsqueeze(-1) * u)).sum(-1).clamp_min(1e-300)
        density = (pi * torch.exp(-0.5 * u**2) / s).sum(-1) / math.sqrt(2 * math.pi)
        gap = torch.log(mass) - log_tail  # > 0: past the root on the side of the tail
        past = gap > 0
        lo = torch.where(past != upper, lo, x)  # lower tail: past → hi = x; upper: past → lo = x
        hi = torch.where(past != upper, x, hi)
        newton = x - sign * gap * mass / density.clamp_min(1e-300)
        inside = (newton > lo) & (newton < hi)
        new = torch.where(inside, newton, 0.5 * (lo + hi))
        done = done | ((new - x).abs() < 1e-13 * (1 + x.abs()))
        x = torch.where(done, x, new)
    return x.to(dtype)


__all__ = [
    "split_params",
    "mixture_log_prob",
    "mixture_cdf",
    "mixture_icdf",
    "normal_cdf",
    "init_mixture_bias",
]
