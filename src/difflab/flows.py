"""Normalizing flows with exact log-likelihood: NICE and RealNVP (seed 001).

A flow is an invertible map z = f(x) onto a standard normal prior; by the change of variables
    log p(x) = log N(f(x); 0, I) + log |det ∂f/∂x|.
Coupling layers split x by a binary mask b: the masked part passes unchanged and conditions an
update of the rest, so the Jacobian is triangular and its log-determinant is a sum.
- NICE (Dinh et al. 2015, Eq. 4): additive coupling y = b⊙x + (1-b)⊙(x + m(b⊙x)), log-det 0; a final
  diagonal scaling y = e^s ⊙ h (Sec. 3.3) gives the flow its volume change, log-det Σ s.
- RealNVP (Dinh et al. 2017, Eq. 9): affine coupling y = b⊙x + (1-b)⊙(x ⊙ e^{s(b⊙x)} + t(b⊙x)),
  log-det Σ (1-b)⊙s; masks alternate between layers. ActNorm (Kingma & Dhariwal 2018, Sec. 3.1):
  per-dimension affine with data-dependent initialisation, optional.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .errors import DifflabError


def _net(dim: int, width: int, depth: int, out: int) -> nn.Sequential:
    """A plain MLP conditioner; the last layer starts at zero so each coupling starts as
    identity."""
    layers: list[nn.Module] = [nn.Linear(dim, width), nn.SiLU()]
    for _ in range(depth - 1):
        layers += [nn.Linear(width, width), nn.SiLU()]
    last = nn.Linear(width, out)
    nn.init.zeros_(last.weight)
    nn.init.zeros_(last.bias)
    return nn.Sequential(*layers, last)


def alternating_masks(dim: int, count: int) -> list[Tensor]:
    """Masks b_k: even/odd coordinates, alternating per layer, so every coordinate gets updated."""
    even = (torch.arange(dim) % 2 == 0).to(torch.float32)
    return [
        (even if k % 2 == 0 else 1 - even).clone() for k in range(count)
    ]  # own storage each (safetensors)


class AdditiveCoupling(nn.Module):
    """NICE's additive coupling layer, volume preserving (log-det exactly 0)."""

    def __init__(self, mask: Tensor, width: int, depth: int):
        super().__init__()
        self.register_buffer("mask", mask)
        self.m = _net(len(mask), width, depth, len(mask))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        b = self.mask
        return x + (1 - b) * self.m(b * x), torch.zeros(len(x), dtype=x.dtype, device=x.device)

    def inverse(self, y: Tensor) -> Tensor:
        b = self.mask
        return y - (1 - b) * self.m(b * y)


class AffineCoupling(nn.Module):
    """RealNVP's affine coupling layer; s = scale·tanh(·) keeps the log-scales bounded early in
    training."""

    def __init__(self, mask: Tensor, width: int, depth: int):
        super().__init__()
        self.register_buffer("mask", mask)
        self.st = _net(len(mask), width, depth, 2 * len(mask))
        self.scale = nn.Parameter(torch.ones(len(mask)))

    def _s_t(self, xb: Tensor) -> tuple[Tensor, Tensor]:
        s, t = self.st(xb).chunk(2, dim=1)
        return (1 - self.mask) * self.scale * torch.tanh(s), (1 - self.mask) * t

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        s, t = self._s_t(self.mask * x)
        return x * torch.exp(s) + t, s.sum(1)

    def inverse(self, y: Tensor) -> Tensor:
        s, t = self._s_t(self.mask * y)
        return (y - t) * torch.exp(-s)


class ActNorm(nn.Module):
    """y = (x - μ)·e^{-log σ} per dimension; μ, log σ set from the first batch it sees (then
    trained)."""

    def __init__(self, dim: int):
        super().__init__()
        self.loc = nn.Parameter(torch.zeros(dim))
        self.log_scale = nn.Parameter(torch.zeros(dim))
        self.register_buffer("initialised", torch.tensor(False))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if not bool(self.initialised) and self.training:
            with torch.no_grad():
                self.loc.copy_(x.mean(0))
                self.log_scale.copy_(torch.log(x.std(0) + 1e-6))
                self.initialised.fill_(True)
        y = (x - self.loc) * torch.exp(-self.log_scale)
        return y, (-self.log_scale.sum()).expand(len(x))

    def inverse(self, y: Tensor) -> Tensor:
        return y * torch.exp(self.log_scale) + self.loc


class DiagonalScaling(nn.Module):
    """NICE's final layer y = e^s ⊙ h (Sec. 3.3): log-det Σ s."""

    def __init__(self, dim: int):
        super().__init__()
        self.s = nn.Parameter(torch.zeros(dim))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return x * torch.exp(self.s), self.s.sum().expand(len(x))

    def inverse(self, y: Tensor) -> Tensor:
        return y * torch.exp(-self.s)


class Flow(nn.Module):
    """A stack of invertible layers onto N(0, I): forward (x → z, log-det), inverse, log_prob,
    sample."""

    def __init__(self, layers: list[nn.Module]):
        super().__init__()
        self.layers = nn.ModuleList(layers)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        logdet = torch.zeros(len(x), dtype=x.dtype, device=x.device)
        for layer in self.layers:
            x, ld = layer(x)
            logdet = logdet + ld
        return x, logdet

    def inverse(self, z: Tensor) -> Tensor:
        for layer in reversed(self.layers):
            z = layer.inverse(z)
        return z

    def log_prob(self, x: Tensor) -> Tensor:
        """log p(x) = log N(f(x); 0, I) + log |det ∂f/∂x| (change of variables), nats per sample."""
        z, logdet = self(x)
        return -0.5 * (z**2).sum(1) - 0.5 * z.shape[1] * math.log(2 * math.pi) + logdet

    def sample(self, z: Tensor) -> Tensor:
        """x = f⁻¹(z) for prior draws z ~ N(0, I) (the caller owns the random numbers)."""
        return self.inverse(z)


def nice(dim: int, layers: int = 4, width: int = 128, depth: int = 3) -> Flow:
    """NICE: `layers` additive couplings with alternating masks, then the diagonal scaling."""
    _check_dim(dim)
    couplings: list[nn.Module] = [
        AdditiveCoupling(m, width, depth) for m in alternating_masks(dim, layers)
    ]
    return Flow(couplings + [DiagonalScaling(dim)])


def realnvp(
    dim: int, layers: int = 8, width: int = 128, depth: int = 3, actnorm: bool = True
) -> Flow:
    """RealNVP: `layers` affine couplings with alternating masks, each preceded by ActNorm if
    asked."""
    _check_dim(dim)
    stack: list[nn.Module] = []
    for mask in alternating_masks(dim, layers):
        if actnorm:
            stack.append(ActNorm(dim))
        stack.append(AffineCoupling(mask, width, depth))
    return Flow(stack)


def _check_dim(dim: int) -> None:
    if dim < 2:
        raise DifflabError(
            f"coupling flows need data of dimension ≥ 2 (one part conditions the other), got {dim}"
        )


FLOWS = {"nice": nice, "realnvp": realnvp}

__all__ = [
    "Flow",
    "nice",
    "realnvp",
    "FLOWS",
    "AdditiveCoupling",
    "AffineCoupling",
    "ActNorm",
    "DiagonalScaling",
    "alternating_masks",
]
