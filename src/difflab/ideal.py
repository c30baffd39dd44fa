"""Distributions whose ideal denoiser E[x0 | x̂ = x0 + σn] is closed form.

They are the ground truth of our tests and benchmarks: with an ideal denoiser, every error a
sampler makes is discretisation error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from .utils import append_dims, as_sigma


@dataclass(frozen=True)
class Gaussian:
    """x0 ~ N(μ, Σ). D(x̂; σ) = μ + Σ(Σ + σ²I)⁻¹(x̂ - μ); the PF-ODE is linear and solved
    exactly."""

    mean: Tensor  # [D]
    cov: Tensor  # [D, D]

    def _eig(self) -> tuple[Tensor, Tensor]:
        lam, u = torch.linalg.eigh(self.cov)
        return lam, u

    def denoise(self, x: Tensor, sigma: Tensor | float) -> Tensor:
        """E[x0 | x̂] (Gaussian conditioning), in the eigenbasis of Σ."""
        sigma = as_sigma(sigma, x)
        lam, u = self._eig()
        z = (x - self.mean) @ u
        shrink = lam / (lam + append_dims(sigma, 2) ** 2)
        return self.mean + (shrink * z) @ u.T

    __call__ = denoise

    def conditional(self, observed: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """The exact law of the missing coordinates given x[o] = y: N(μ_m|o, Σ_m|o) with
        μ_m|o = μ_m + Σ_mo Σ_oo⁻¹ (y - μ_o) and Σ_m|o = Σ_mm - Σ_mo Σ_oo⁻¹ Σ_om (Schur complement).
        `observed` is a boolean [D] mask, y [B, |o|]; returns means [B, |m|] and the covariance."""
        o, m = observed, ~observed
        gain = torch.linalg.solve(self.cov[o][:, o], self.cov[o][:, m]).T  # Σ_mo Σ_oo⁻¹
        mean = self.mean[m] + (y - self.mean[o]) @ gain.T
        return mean, self.cov[m][:, m] - gain @ self.cov[o][:, m]

    def pf_ode_solution(self, x: Tensor, sigma_from: float, sigma_to: float) -> Tensor:
        """Exact PF-ODE flow dx̂/dσ = (x̂ - D)/σ: each eigen-coordinate scales by
        sqrt((λ+σ_to²)/(λ+σ_from²))."""
        lam, u = self._eig()
        z = (x - self.mean) @ u
        z = z * torch.sqrt((lam + sigma_to**2) / (lam + sigma_from**2))
        return self.mean + z @ u.T

    def sample(
        self, n: int, sigma: float = 0.0, generator: torch.Generator | None = None
    ) -> Tensor:
        """n draws from the marginal p(x̂; σ) = N(μ, Σ + σ²I)."""
        d = self.mean.shape[0]
        cov = self.cov + sigma**2 * torch.eye(d, dtype=self.cov.dtype)
        chol = torch.linalg.cholesky(cov)
        z = torch.randn(n, d, generator=generator, dtype=self.cov.dtype)
        return self.mean + z @ chol.T

    def log_prob(self, x: Tensor, sigma: float = 0.0) -> Tensor:
        """log N(x̂; μ, Σ + σ²I)."""
        d = self.mean.shape[0]
        cov = self.cov + sigma**2 * torch.eye(d, dtype=self.cov.dtype)
        return torch.distributions.MultivariateNormal(self.mean, cov).log_prob(x)


@dataclass(frozen=True)
class GaussianMixture:
    """x0 ~ Σ_k w_k N(μ_k, s_k² I). D(x̂; σ) = Σ_k r_k(x̂) [μ_k + s_k²/(s_k²+σ²)(x̂ - μ_k)],

    with responsibilities r_k ∝ w_k N(x̂; μ_k, (s_k²+σ²)I) (Bayes' rule for each component).
    """

    means: Tensor  # [K, D]
    stds: Tensor  # [K]
    weights: Tensor  # [K], sums to 1

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    def _component_log_prob(self, x: Tensor, var: Tensor) -> Tensor:
        """log w_k N(x̂; μ_k, var_k I) for every sample and component: [B, K]."""
        d = self.dim
        sq = torch.cdist(x, self.means.to(x.dtype)) ** 2
        return torch.log(self.weights) - 0.5 * sq / var - 0.5 * d * torch.log(2 * math.pi * var)

    def denoise(self, x: Tensor, sigma: Tensor | float, cond: Tensor | None = None) -> Tensor:
        """E[x0 | x̂] (cond None), or with cond = k ≥ 0 the class-conditional E[x0 | x̂, k] of
        component k alone: the class-conditional ideal denoiser (cond -1: unconditional)."""
        sigma = append_dims(as_sigma(sigma, x), 2)  # [B, 1]
        var = self.stds.to(x.dtype) ** 2 + sigma**2  # [B, K]
        logits = self._component_log_prob(x, var)
        if cond is not None:  # p(k | x̂, c) is one-hot at the class c
            cond = torch.as_tensor(cond, device=x.device).long().expand(x.shape[0])[:, None]
            other = torch.arange(len(self.weights), device=x.device) != cond
            logits = logits.masked_fill(other & (cond >= 0), -math.inf)
        r = torch.softmax(logits, dim=1)  # [B, K]
        shrink = self.stds.to(x.dtype) ** 2 / var  # [B, K]
        means = self.means.to(x.dtype)
        # Σ_k r_k (μ_k + shrink_k (x - μ_k)) = Σ_k r_k(1-shrink_k) μ_k + (Σ_k r_k shrink_k) x
        return (r * (1 - shrink)) @ means + (r * shrink).sum(1, keepdim=True) * x

    __call__ = denoise

    def log_prob(self, x: Tensor, sigma: float = 0.0) -> Tensor:
        var = (self.stds.to(x.dtype) ** 2 + sigma**2).expand(x.shape[0], -1)
        return torch.logsumexp(self._component_log_prob(x, var), dim=1)

    def sample(
        self, n: int, sigma: float = 0.0, generator: torch.Generator | None = None
    ) -> Tensor:
        return self.sample_labelled(n, sigma, generator)[0]

    def sample_labelled(
        self, n: int, sigma: float = 0.0, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor]:
        """n draws and the component k each came from (its true class label)."""
        k = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        z = torch.randn(n, self.dim, generator=generator, dtype=self.means.dtype)
        std = torch.sqrt(self.stds[k] ** 2 + sigma**2)
        return self.means[k] + std[:, None] * z, k

    def posterior_weights(self, observed: Tensor, y: Tensor) -> Tensor:
        """p(k | x[o] = y) ∝ w_k N(y; μ_k[o], s_k² I): the exact conditional's component weights [B,
        K]."""
        means = self.means[:, observed].to(y.dtype)
        var = (self.stds.to(y.dtype) ** 2).expand(y.shape[0], -1)
        sq = torch.cdist(y, means) ** 2
        logits = (
            torch.log(self.weights) - 0.5 * sq / var - 0.5 * int(observed.sum()) * torch.log(var)
        )
        return torch.softmax(logits, dim=1)

    def sample_conditional(
        self, observed: Tensor, y: Tensor, generator: torch.Generator | None = None
    ) -> Tensor:
        """Exact draws of x given x[o] = y (one per row of y): k ~ p(k | y), then the missing
        coordinates from N(μ_k[m], s_k² I) (isotropic components: independent of y given k)."""
        k = torch.multinomial(self.posterior_weights(observed, y), 1, generator=generator)[:, 0]
        m = ~observed
        x = torch.empty(y.shape[0], self.dim, dtype=y.dtype)
        x[:, observed] = y
        z = torch.randn(y.shape[0], int(m.sum()), generator=generator, dtype=y.dtype)
        x[:, m] = self.means[k][:, m].to(y.dtype) + self.stds[k, None].to(y.dtype) * z
        return x

    def to(self, dtype: torch.dtype) -> "GaussianMixture":
        return GaussianMixture(self.means.to(dtype), self.stds.to(dtype), self.weights.to(dtype))


def split_posterior_mixture() -> tuple[GaussianMixture, Tensor, Tensor]:
    """A posterior split between modes: 10-D, six components of sd 0.15–0.75 far apart
    (pairwise 11–27); components 0 (sd 0.6) and 1 (sd 0.45) put their observed halves 3.16 apart,
    and y, the first 5 coordinates at their midpoint (a low-density gap), has the exact posterior
    0.78 / 0.22 on them — the width terms decide it. Returns (mixture, observed mask, y)."""
    g = torch.Generator().manual_seed(3)
    means = 15 * torch.rand(6, 10, generator=g, dtype=torch.float64) - 7.5
    u = torch.randn(5, generator=g, dtype=torch.float64)
    means[1, :5] = means[0, :5] + 3.16 * u / u.norm()
    stds = torch.tensor([0.6, 0.45, 0.15, 0.3, 0.75, 0.25], dtype=torch.float64)
    mixture = GaussianMixture(means, stds, torch.full((6,), 1 / 6, dtype=torch.float64))
    observed = torch.tensor([True] * 5 + [False] * 5)
    return mixture, observed, (means[0, :5] + means[1, :5]) / 2


def _log_interval_mass(a: Tensor, b: Tensor) -> Tensor:
    """log(Φ(b) - Φ(a)) for a < b, stable in both tails (mirrored so the mass is taken from the
    left)."""
    flip = (a + b) > 0  # both far right: Φ(b) - Φ(a) = Φ(-a) - Φ(-b)
    lo, hi = torch.where(flip, -b, a), torch.where(flip, -a, b)
    log_hi, log_lo = torch.special.log_ndtr(hi), torch.special.log_ndtr(lo)
    return log_hi + torch.log1p(-torch.exp(log_lo - log_hi))


@dataclass(frozen=True)
class Uniform01:
    """x0 ~ U[0, 1] in each coordinate (the lecture's example). p(x̂; σ) = Φ(x̂/σ) - Φ((x̂ - 1)/σ),
    and E[x0 | x̂] is the mean of N(x̂, σ²) truncated to [0, 1]: x̂ + σ(φ(α) - φ(β))/(Φ(β) - Φ(α)),
    α = -x̂/σ, β = (1 - x̂)/σ."""

    dim: int = 1

    def denoise(self, x: Tensor, sigma: Tensor | float) -> Tensor:
        sigma = append_dims(as_sigma(sigma, x), x.ndim)
        alpha, beta = -x / sigma, (1 - x) / sigma
        log_z = _log_interval_mass(alpha, beta)
        log_phi = lambda v: -0.5 * v**2 - 0.5 * math.log(2 * math.pi)  # noqa: E731
        shift = torch.exp(log_phi(alpha) - log_z) - torch.exp(log_phi(beta) - log_z)
        return (x + sigma * shift).clamp(0.0, 1.0)  # the mean of a law on [0, 1] lies in it

    __call__ = denoise

    def log_prob(self, x: Tensor, sigma: float = 0.0) -> Tensor:
        """log p(x̂; σ) summed over coordinates (σ = 0: the uniform density, -inf outside)."""
        if sigma == 0:
            inside = ((x >= 0) & (x <= 1)).all(dim=-1)
            return torch.where(
                inside, torch.zeros_like(x[..., 0]), torch.full_like(x[..., 0], -math.inf)
            )
        return _log_interval_mass(-x / sigma, (1 - x) / sigma).sum(-1)

    def sample(
        self, n: int, sigma: float = 0.0, generator: torch.Generator | None = None
    ) -> Tensor:
        x0 = torch.rand(n, self.dim, generator=generator, dtype=torch.float64)
        return x0 + sigma * torch.randn(n, self.dim, generator=generator, dtype=torch.float64)
