"""Noise processes in one convention: x = s(t) · (x0 + σ(t) · n), n ~ N(0, I).

EDM (Karras et al. 2022) Eq. 4 and Table 1. Every process is a pair (σ(t), s(t)) with derivatives
and the inverse t(σ). Other papers' symbols (ᾱ, β(t), α_t/σ_t, the lecture's A_k/B_k) are converted
here, once, in each process's own formulas.

The forward SDE dx = f(t) x dt + g(t) dw that produces these marginals has (seed 004, "Design
Space")
    f(t) = ṡ/s,        g(t) = s · sqrt(2 σ̇ σ).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor


def _as_tensor(t: Tensor | float) -> Tensor:
    return t if isinstance(t, Tensor) else torch.tensor(t, dtype=torch.float64)


@dataclass(frozen=True)
class Process:
    """Base class: subclasses give σ(t), σ̇(t), s(t), ṡ(t), t(σ) and the time range [t_min,
    t_max]."""

    t_min: float
    t_max: float

    def sigma(self, t: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def sigma_deriv(self, t: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def s(self, t: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def s_deriv(self, t: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def t_of_sigma(self, sigma: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- derived quantities, identical for every process ---------------------------------------
    def f(self, t: Tensor) -> Tensor:
        """Drift coefficient f(t) = ṡ(t)/s(t) of the forward SDE (seed 004, EDM Eq. 28)."""
        return self.s_deriv(t) / self.s(t)

    def g(self, t: Tensor) -> Tensor:
        """Diffusion coefficient g(t) = s(t)·sqrt(2 σ̇(t) σ(t)) of the forward SDE (EDM Eq. 28)."""
        return self.s(t) * torch.sqrt(2.0 * self.sigma_deriv(t) * self.sigma(t))

    def log_snr(self, t: Tensor) -> Tensor:
        """λ(t) = log SNR(t) = log α_t²/σ_t² = −2 log σ(t) (VDM's −γ(t)): with α_t = s(t) and
        σ_t = s(t)σ(t), the scaling s(t) cancels, so SNR = 1/σ(t)² in every process."""
        return -2.0 * torch.log(self.sigma(t))

    def log_snr_deriv(self, t: Tensor) -> Tensor:
        """λ'(t) = −2 σ̇(t)/σ(t)."""
        return -2.0 * self.sigma_deriv(t) / self.sigma(t)

    @property
    def sigma_min(self) -> float:
        return float(self.sigma(_as_tensor(self.t_min)))

    @property
    def sigma_max(self) -> float:
        return float(self.sigma(_as_tensor(self.t_max)))

    @property
    def name(self) -> str:
        return type(self).__name__


@dataclass(frozen=True)
class EDM(Process):
    """EDM: σ(t) = t, s(t) = 1 (Karras et al. 2022, Table 1, 'Ours')."""

    t_min: float = 0.002
    t_max: float = 80.0

    def sigma(self, t: Tensor) -> Tensor:
        return t

    def sigma_deriv(self, t: Tensor) -> Tensor:
        return torch.ones_like(t)

    def s(self, t: Tensor) -> Tensor:
        return torch.ones_like(t)

    def s_deriv(self, t: Tensor) -> Tensor:
        return torch.zeros_like(t)

    def t_of_sigma(self, sigma: Tensor) -> Tensor:
        return sigma


@dataclass(frozen=True)
class VP(Process):
    """Variance preserving SDE = continuous DDPM with linear β(t) = β_min + β_d·t (EDM Table 1).

    ᾱ(t) = exp(-½β_d t² - β_min t), s(t) = sqrt(ᾱ), σ(t) = sqrt(1/ᾱ - 1), so s²(1+σ²) = 1.
    """

    beta_d: float = 19.9
    beta_min: float = 0.1
    t_min: float = 1e-5
    t_max: float = 1.0

    def _log_inv_alpha_bar(self, t: Tensor) -> Tensor:
        return 0.5 * self.beta_d * t**2 + self.beta_min * t

    def sigma(self, t: Tensor) -> Tensor:
        return torch.sqrt(torch.expm1(self._log_inv_alpha_bar(t)))

    def sigma_deriv(self, t: Tensor) -> Tensor:
        beta = self.beta_d * t + self.beta_min
        return 0.5 * beta * torch.exp(self._log_inv_alpha_bar(t)) / self.sigma(t)

    def s(self, t: Tensor) -> Tensor:
        return torch.exp(-0.5 * self._log_inv_alpha_bar(t))

    def s_deriv(self, t: Tensor) -> Tensor:
        return -0.5 * (self.beta_d * t + self.beta_min) * self.s(t)

    def t_of_sigma(self, sigma: Tensor) -> Tensor:
        disc = self.beta_min**2 + 2.0 * self.beta_d * torch.log1p(sigma**2)
        return (torch.sqrt(disc) - self.beta_min) / self.beta_d


@dataclass(frozen=True)
class VPCosine(Process):
    """Cosine schedule of iDDPM (Nichol & Dhariwal 2021, Eq. 17): ᾱ(t) = cos²(φ(t))/cos²(φ(0)),

    φ(t) = (π/2)(t + c)/(1 + c); s = sqrt(ᾱ), σ = sqrt(1/ᾱ - 1). σ(1) = ∞, so t_max is cut where
    σ reaches `sigma_cap`.
    """

    c: float = 0.008
    t_min: float = 1e-5
    t_max: float = -1.0  # set from sigma_cap in __post_init__
    sigma_cap: float = 80.0

    def __post_init__(self) -> None:
        if self.t_max < 0:
            object.__setattr__(self, "t_max", float(self.t_of_sigma(_as_tensor(self.sigma_cap))))

    def _phi(self, t: Tensor) -> Tensor:
        return 0.5 * math.pi * (t + self.c) / (1.0 + self.c)

    @property
    def _cos_phi0(self) -> float:
        return math.cos(0.5 * math.pi * self.c / (1.0 + self.c))

    def sigma(self, t: Tensor) -> Tensor:
        ratio = self._cos_phi0 / torch.cos(self._phi(t))
        return torch.sqrt(ratio**2 - 1.0)

    def sigma_deriv(self, t: Tensor) -> Tensor:
        phi, dphi = self._phi(t), 0.5 * math.pi / (1.0 + self.c)
        return self._cos_phi0**2 * torch.tan(phi) * dphi / (torch.cos(phi) ** 2 * self.sigma(t))

    def s(self, t: Tensor) -> Tensor:
        return torch.cos(self._phi(t)) / self._cos_phi0

    def s_deriv(self, t: Tensor) -> Tensor:
        dphi = 0.5 * math.pi / (1.0 + self.c)
        return -torch.sin(self._phi(t)) * dphi / self._cos_phi0

    def t_of_sigma(self, sigma: Tensor) -> Tensor:
        phi = torch.acos(self._cos_phi0 / torch.sqrt(1.0 + sigma**2))
        return phi * 2.0 * (1.0 + self.c) / math.pi - self.c


@dataclass(frozen=True)
class VE(Process):
    """Variance exploding SDE of SMLD/NCSN with geometric σ(t) = σ_min (σ_max/σ_min)^t, s = 1.

    Song et al. 2021 (score SDE), Sec. 3.4; t ∈ [0, 1].
    """

    sigma_lo: float = 0.01
    sigma_hi: float = 50.0
    t_min: float = 0.0
    t_max: float = 1.0

    @property
    def _log_ratio(self) -> float:
        return math.log(self.sigma_hi / self.sigma_lo)

    def sigma(self, t: Tensor) -> Tensor:
        return self.sigma_lo * torch.exp(t * self._log_ratio)

    def sigma_deriv(self, t: Tensor) -> Tensor:
        return self.sigma(t) * self._log_ratio

    def s(self, t: Tensor) -> Tensor:
        return torch.ones_like(t)

    def s_deriv(self, t: Tensor) -> Tensor:
        return torch.zeros_like(t)

    def t_of_sigma(self, sigma: Tensor) -> Tensor:
        return torch.log(sigma / self.sigma_lo) / self._log_ratio


@dataclass(frozen=True)
class OU(Process):
    """Ornstein–Uhlenbeck process of the lecture (seed 004): α_t = e^(-t), β_t = sqrt(1 - e^(-2t)).

    In our convention s = α_t = e^(-t), σ = β_t/α_t = sqrt(e^(2t) - 1); then f = -1, g = √2.
    """

    t_min: float = 1e-5
    t_max: float = 4.382  # σ(t_max) ≈ 80

    def sigma(self, t: Tensor) -> Tensor:
        return torch.sqrt(torch.expm1(2.0 * t))

    def sigma_deriv(self, t: Tensor) -> Tensor:
        return torch.exp(2.0 * t) / self.sigma(t)

    def s(self, t: Tensor) -> Tensor:
        return torch.exp(-t)

    def s_deriv(self, t: Tensor) -> Tensor:
        return -torch.exp(-t)

    def t_of_sigma(self, sigma: Tensor) -> Tensor:
        return 0.5 * torch.log1p(sigma**2)


@dataclass(frozen=True)
class RectifiedFlow(Process):
    """Rectified flow / flow matching: x_t = (1 - t) x0 + t n (Liu et al. 2022, Lipman et al. 2022).

    s = 1 - t, σ = t/(1 - t); t ∈ (0, 1), cut where σ reaches `sigma_cap`.
    """

    t_min: float = 1e-5
    t_max: float = -1.0
    sigma_cap: float = 80.0

    def __post_init__(self) -> None:
        if self.t_max < 0:
            object.__setattr__(self, "t_max", self.sigma_cap / (1.0 + self.sigma_cap))

    def sigma(self, t: Tensor) -> Tensor:
        return t / (1.0 - t)

    def sigma_deriv(self, t: Tensor) -> Tensor:
        return 1.0 / (1.0 - t) ** 2

    def s(self, t: Tensor) -> Tensor:
        return 1.0 - t

    def s_deriv(self, t: Tensor) -> Tensor:
        return -torch.ones_like(t)

    def t_of_sigma(self, sigma: Tensor) -> Tensor:
        return sigma / (1.0 + sigma)


@dataclass(frozen=True)
class DiscreteVP(Process):
    """A discrete-time VP model's table (DDPM, and every diffusers scheduler): ᾱ_k for timesteps
    k = 0…T−1 gives σ_k = sqrt((1 − ᾱ_k)/ᾱ_k) and s_k = sqrt(ᾱ_k) = 1/sqrt(1 + σ_k²). Between
    levels log σ is linear in the fractional timestep t (k-diffusion's DiscreteSchedule), so
    t(σ) gives the network the fractional timestep of any σ in [σ_0, σ_{T−1}]."""

    log_sigmas: tuple = ()  # log σ_k, increasing in k
    t_min: float = 0.0
    t_max: float = -1.0  # T − 1

    def __post_init__(self) -> None:
        if self.t_max < 0:
            object.__setattr__(self, "t_max", float(len(self.log_sigmas) - 1))

    @classmethod
    def from_alphas_cumprod(cls, alphas_cumprod: Tensor) -> "DiscreteVP":
        """From the ᾱ table: log σ_k = ½ log((1 − ᾱ_k)/ᾱ_k)."""
        a = alphas_cumprod.double()
        return cls(log_sigmas=tuple((0.5 * torch.log((1 - a) / a)).tolist()))

    def _table(self, like: Tensor) -> Tensor:
        return torch.tensor(self.log_sigmas, dtype=torch.float64, device=like.device)

    def _piece(self, t: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(log σ at t, the slope d log σ/dt of its piece, t's dtype template)."""
        t = _as_tensor(t)
        table = self._table(t)
        low = t.double().floor().clamp(0, len(table) - 2).long()
        slope = table[low + 1] - table[low]
        return table[low] + (t.double() - low) * slope, slope, t

    def sigma(self, t: Tensor) -> Tensor:
        log, _, t = self._piece(t)
        return torch.exp(log).to(t.dtype)

    def sigma_deriv(self, t: Tensor) -> Tensor:
        log, slope, t = self._piece(t)
        return (torch.exp(log) * slope).to(t.dtype)

    def s(self, t: Tensor) -> Tensor:
        return 1.0 / torch.sqrt(1.0 + self.sigma(t) ** 2)

    def s_deriv(self, t: Tensor) -> Tensor:
        sigma = self.sigma(t)
        return -sigma * self.sigma_deriv(t) / (1.0 + sigma**2) ** 1.5

    def t_of_sigma(self, sigma: Tensor) -> Tensor:
        """The fractional timestep of σ: its piece by binary search, then linear in log σ."""
        sigma = _as_tensor(sigma)
        table, log = self._table(sigma), torch.log(sigma.double())
        low = (torch.searchsorted(table, log, right=True) - 1).clamp(0, len(table) - 2)
        w = ((log - table[low]) / (table[low + 1] - table[low])).clamp(0, 1)
        return (low + w).to(sigma.dtype)


PROCESSES: dict[str, type[Process]] = {
    "edm": EDM,
    "vp": VP,
    "vp-cosine": VPCosine,
    "ve": VE,
    "ou": OU,
    "rectified-flow": RectifiedFlow,
}
