"""Network parameterisations: a raw network F becomes a denoiser D(x̂; σ) on unscaled x̂ = x/s.

EDM Eq. 7:  D(x̂; σ) = c_skip(σ) x̂ + c_out(σ) F(c_in(σ) x̂, c_noise(σ)).
Each published form is one row of coefficients (EDM Table 1 and its appendix B.6); the network
target for a clean x0 is (x0 - c_skip x̂)/c_out (EDM Eq. 8).

c_noise is ¼·ln σ for every form: any monotone function of σ carries the same information to the
network, so it is a conditioning choice, not part of a recipe's mathematics.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch
from torch import Tensor, nn

from .utils import append_dims, as_sigma


class DenoiserFn(Protocol):
    """The one protocol every sampler, likelihood and metric talks to: D(x̂, σ) -> E[x0 | x̂].

    Samplers call it with two arguments; a conditional denoiser also takes `cond` (see
    ConditionalDenoiserFn) and is bound to a condition by a wrapper (sampling.cfg,
    sampling.inpaint).
    """

    def __call__(self, x: Tensor, sigma: Tensor | float) -> Tensor: ...


class ConditionalDenoiserFn(Protocol):
    """D(x̂, σ, cond) -> E[x0 | x̂, c]; cond=None (or -1 for a sample) is the unconditional D(x̂,
    σ).

    `cond` is a LongTensor [B] of class indices (0 … K-1), or -1 where a sample has no condition.
    """

    def __call__(self, x: Tensor, sigma: Tensor | float, cond: Tensor | None = None) -> Tensor: ...


@dataclass(frozen=True)
class Preconditioning:
    """Base row: unit-variance input scaling c_in = 1/sqrt(σ² + σ_data²) and c_noise = ¼ ln σ."""

    sigma_data: float = 1.0

    def c_skip(self, sigma: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def c_out(self, sigma: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def c_in(self, sigma: Tensor) -> Tensor:
        """Input scaling so the network sees unit variance (EDM Eq. 7, appendix B.6)."""
        return 1.0 / torch.sqrt(sigma**2 + self.sigma_data**2)

    def c_noise(self, sigma: Tensor) -> Tensor:
        """Noise conditioning ¼ ln σ (EDM Table 1)."""
        return 0.25 * torch.log(sigma)

    @property
    def form(self) -> str:
        return FORM_NAMES[type(self)]


@dataclass(frozen=True)
class EDMPrecond(Preconditioning):
    """EDM preconditioning (Table 1): c_skip = σd²/(σ²+σd²), c_out = σ·σd/sqrt(σ²+σd²)."""

    def c_skip(self, sigma: Tensor) -> Tensor:
        return self.sigma_data**2 / (sigma**2 + self.sigma_data**2)

    def c_out(self, sigma: Tensor) -> Tensor:
        return sigma * self.sigma_data / torch.sqrt(sigma**2 + self.sigma_data**2)


@dataclass(frozen=True)
class EpsPrecond(Preconditioning):
    """ε-prediction (DDPM, Ho et al. 2020): D = x̂ - σ·ε_θ, so c_skip = 1, c_out = -σ.

    With σ_data = 1, c_in = 1/sqrt(1+σ²) = s(t) of VP: the network sees the scaled x_t as in DDPM.
    """

    def c_skip(self, sigma: Tensor) -> Tensor:
        return torch.ones_like(sigma)

    def c_out(self, sigma: Tensor) -> Tensor:
        return -sigma


@dataclass(frozen=True)
class X0Precond(Preconditioning):
    """x0-prediction: D = F, so c_skip = 0, c_out = 1."""

    def c_skip(self, sigma: Tensor) -> Tensor:
        return torch.zeros_like(sigma)

    def c_out(self, sigma: Tensor) -> Tensor:
        return torch.ones_like(sigma)


@dataclass(frozen=True)
class VPrecond(Preconditioning):
    """v-prediction (Salimans & Ho 2022): v = α ε - σ_t x0 with α = σd/sqrt(σ²+σd²), σ_t =
    σ/sqrt(σ²+σd²).

    x0 = α² x̂ - σ_t σd v, hence c_skip = σd²/(σ²+σd²), c_out = -σ σd/sqrt(σ²+σd²).
    """

    def c_skip(self, sigma: Tensor) -> Tensor:
        return self.sigma_data**2 / (sigma**2 + self.sigma_data**2)

    def c_out(self, sigma: Tensor) -> Tensor:
        return -sigma * self.sigma_data / torch.sqrt(sigma**2 + self.sigma_data**2)


@dataclass(frozen=True)
class ScorePrecond(Preconditioning):
    """Noise-conditional score network (NCSN, Song & Ermon 2019/2020): s_θ(x̂; σ) = F/σ.

    D = x̂ + σ² s_θ = x̂ + σ F, so c_skip = 1, c_out = σ, and c_in = 1 as published (EDM Table 1,
    VE).
    """

    def c_skip(self, sigma: Tensor) -> Tensor:
        return torch.ones_like(sigma)

    def c_out(self, sigma: Tensor) -> Tensor:
        return sigma

    def c_in(self, sigma: Tensor) -> Tensor:
        return torch.ones_like(sigma)


@dataclass(frozen=True)
class FlowPrecond(Preconditioning):
    """Velocity prediction of rectified flow: u = n - x0 on x_t = (1-t) x0 + t n.

    With t = σ/(1+σ) and x_t = x̂/(1+σ): x0 = x_t - t u, so c_skip = c_in = 1/(1+σ), c_out =
    -σ/(1+σ).
    """

    def c_skip(self, sigma: Tensor) -> Tensor:
        return 1.0 / (1.0 + sigma)

    def c_out(self, sigma: Tensor) -> Tensor:
        return -sigma / (1.0 + sigma)

    def c_in(self, sigma: Tensor) -> Tensor:
        return 1.0 / (1.0 + sigma)


@dataclass(frozen=True)
class ConsistencyPrecond(Preconditioning):
    """A consistency function f(x̂, σ) = c_skip x̂ + c_out F (Song et al. 2023, Appendix C, in σ):
    c_skip = σd²/((σ − σ_min)² + σd²), c_out = (σ − σ_min)σd/sqrt(σ² + σd²). At σ = σ_min they
    are 1 and 0 exactly, so f(x̂, σ_min) = x̂ bit for bit whatever the weights (the boundary
    condition); above it they approach EDM's."""

    sigma_min: float = 0.002

    def c_skip(self, sigma: Tensor) -> Tensor:
        return self.sigma_data**2 / ((sigma - self.sigma_min) ** 2 + self.sigma_data**2)

    def c_out(self, sigma: Tensor) -> Tensor:
        return (
            (sigma - self.sigma_min) * self.sigma_data / torch.sqrt(sigma**2 + self.sigma_data**2)
        )


FORMS: dict[str, type[Preconditioning]] = {
    "edm": EDMPrecond,
    "eps": EpsPrecond,
    "x0": X0Precond,
    "v": VPrecond,
    "score": ScorePrecond,
    "flow": FlowPrecond,
    "consistency": ConsistencyPrecond,
}
FORM_NAMES = {cls: name for name, cls in FORMS.items()}


class Denoiser(nn.Module):
    """D(x̂; σ, c) = c_skip x̂ + c_out F(c_in x̂, c_noise, c) for a raw network F (EDM Eq. 7); the
    condition c passes through to the network untouched (None: unconditional). `schedule`: a
    noise schedule learned with the network (the `vdm` preset), kept here so it trains, averages
    (EMA), saves and loads with the weights; D itself does not depend on it."""

    def __init__(self, net: nn.Module, precond: Preconditioning, schedule: nn.Module | None = None):
        super().__init__()
        self.net = net
        self.precond = precond
        self.schedule = schedule

    @property
    def num_classes(self) -> int:
        """Classes the network is conditioned on (0: unconditional network)."""
        return int(getattr(self.net, "num_classes", 0))

    def raw(self, x: Tensor, sigma: Tensor, cond: Tensor | None = None) -> Tensor:
        """F(c_in x̂, c_noise, c): the network output before the skip connection."""
        c_in = append_dims(self.precond.c_in(sigma), x.ndim)
        if cond is None:  # networks without a condition keep their two-argument signature
            return self.net(c_in * x, self.precond.c_noise(sigma))
        return self.net(c_in * x, self.precond.c_noise(sigma), cond)

    def forward(self, x: Tensor, sigma: Tensor | float, cond: Tensor | None = None) -> Tensor:
        sigma = as_sigma(sigma, x)
        c_skip = append_dims(self.precond.c_skip(sigma), x.ndim)
        c_out = append_dims(self.precond.c_out(sigma), x.ndim)
        return c_skip * x + c_out * self.raw(x, sigma, cond)


def network_target(precond: Preconditioning, x0: Tensor, x: Tensor, sigma: Tensor) -> Tensor:
    """The value of F for which D(x̂; σ) = x0 exactly: (x0 - c_skip x̂)/c_out (EDM Eq. 8)."""
    c_skip = append_dims(precond.c_skip(sigma), x.ndim)
    c_out = append_dims(precond.c_out(sigma), x.ndim)
    return (x0 - c_skip * x) / c_out
