"""Built-in toy data sets, each an exact sampler so that fresh reference sets can always be
drawn."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

from ..ideal import GaussianMixture


def eight_gaussians() -> GaussianMixture:
    """8 equal Gaussians on a circle of radius 2, std 0.15."""
    angles = torch.arange(8, dtype=torch.float64) * (2 * math.pi / 8)
    means = 2.0 * torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)
    return GaussianMixture(
        means,
        torch.full((8,), 0.15, dtype=torch.float64),
        torch.full((8,), 1 / 8, dtype=torch.float64),
    )


def mixture_10d(seed: int = 0) -> GaussianMixture:
    """Eight components in 10-D: means on a sphere of radius 3, scales 0.2–0.6, unequal weights."""
    g = torch.Generator().manual_seed(seed)
    means = torch.randn(8, 10, generator=g, dtype=torch.float64)
    means = 3.0 * means / means.norm(dim=1, keepdim=True)
    scales = 0.2 + 0.4 * torch.rand(8, generator=g, dtype=torch.float64)
    weights = torch.rand(8, generator=g, dtype=torch.float64) + 0.5
    return GaussianMixture(means, scales, weights / weights.sum())


def twentyfive_gaussians() -> GaussianMixture:
    """25 equal Gaussians on the grid {-2,…,2}², std 0.05."""
    g = torch.arange(-2, 3, dtype=torch.float64)
    means = torch.cartesian_prod(g, g)
    return GaussianMixture(
        means,
        torch.full((25,), 0.05, dtype=torch.float64),
        torch.full((25,), 1 / 25, dtype=torch.float64),
    )


def _uniform_1d(n: int, gen: torch.Generator) -> Tensor:
    return torch.rand(n, 1, generator=gen, dtype=torch.float64)


def _moons(n: int, gen: torch.Generator, noise: float = 0.05) -> Tensor:
    """Two interleaving half circles (as scikit-learn's make_moons), Gaussian noise of std
    `noise`."""
    upper = torch.rand(n, generator=gen, dtype=torch.float64) < 0.5
    theta = math.pi * torch.rand(n, generator=gen, dtype=torch.float64)
    x = torch.where(upper, torch.cos(theta), 1 - torch.cos(theta))
    y = torch.where(upper, torch.sin(theta), 0.5 - torch.sin(theta))
    pts = torch.stack([x, y], dim=1)
    return pts + noise * torch.randn(n, 2, generator=gen, dtype=torch.float64)


def _swiss_roll(n: int, gen: torch.Generator, noise: float = 0.25) -> Tensor:
    """2-D swiss roll: angle t ~ U[1.5π, 4.5π], point (t cos t, t sin t)/5 plus noise/5."""
    t = 1.5 * math.pi * (1 + 2 * torch.rand(n, generator=gen, dtype=torch.float64))
    pts = torch.stack([t * torch.cos(t), t * torch.sin(t)], dim=1)
    return (pts + noise * torch.randn(n, 2, generator=gen, dtype=torch.float64)) / 5


def _checkerboard(n: int, gen: torch.Generator) -> Tensor:
    """Uniform on the 8 black squares of a 4×4 board over [-2, 2]²."""
    x1 = 4 * torch.rand(n, generator=gen, dtype=torch.float64) - 2
    x2 = (
        torch.rand(n, generator=gen, dtype=torch.float64)
        - torch.randint(0, 2, (n,), generator=gen) * 2.0
    )
    x2 = x2 + torch.floor(x1) % 2
    return torch.stack([x1, x2], dim=1)


TORUS_R, TORUS_r = 2.0, 0.5


def _torus(n: int, gen: torch.Generator) -> Tensor:
    """Points uniform (by area) on a torus with radii R = 2, r = 0.5 in 3-D (rejection on the tube
    angle)."""
    out = []
    while sum(len(o) for o in out) < n:
        u = 2 * math.pi * torch.rand(2 * n, generator=gen, dtype=torch.float64)
        v = 2 * math.pi * torch.rand(2 * n, generator=gen, dtype=torch.float64)
        keep = torch.rand(2 * n, generator=gen, dtype=torch.float64) < (
            TORUS_R + TORUS_r * torch.cos(v)
        ) / (TORUS_R + TORUS_r)
        u, v = u[keep], v[keep]
        ring = TORUS_R + TORUS_r * torch.cos(v)
        out.append(
            torch.stack([ring * torch.cos(u), ring * torch.sin(u), TORUS_r * torch.sin(v)], dim=1)
        )
    return torch.cat(out)[:n]


def torus_distance(x: Tensor) -> Tensor:
    """Distance of 3-D points to the torus surface: | ||(ρ - R, z)|| - r | with ρ = sqrt(x² +
    y²)."""
    rho = torch.sqrt(x[:, 0] ** 2 + x[:, 1] ** 2)
    return torch.abs(torch.sqrt((rho - TORUS_R) ** 2 + x[:, 2] ** 2) - TORUS_r)


@dataclass(frozen=True)
class ToySet:
    """A named exact sampler; `mixture` is set for Gaussian mixtures (ideal denoiser, mode
    coverage)."""

    name: str
    sampler: Callable[[int, torch.Generator], Tensor]
    dim: int
    summary: str
    mixture: GaussianMixture | None = None

    def sample(self, n: int, seed: int = 0) -> Tensor:
        """n fresh points (float64) from seed `seed`."""
        return self.sampler(n, torch.Generator().manual_seed(seed))


def _mixture_set(name: str, mixture: GaussianMixture, summary: str) -> ToySet:
    return ToySet(name, lambda n, g: mixture.sample(n, generator=g), mixture.dim, summary, mixture)


TOY_SETS: dict[str, ToySet] = {
    t.name: t
    for t in [
        ToySet("uniform-1d", _uniform_1d, 1, "U[0, 1] in 1-D (the lecture's example)"),
        _mixture_set(
            "8-gaussians", eight_gaussians(), "8 Gaussians on a ring of radius 2, std 0.15"
        ),
        _mixture_set(
            "25-gaussians", twentyfive_gaussians(), "25 Gaussians on a 5×5 grid, std 0.05"
        ),
        _mixture_set(
            "mixture-10d",
            mixture_10d(),
            "8 Gaussians in 10-D, means on a sphere of radius 3, std 0.2–0.6, unequal weights",
        ),
        ToySet("moons", _moons, 2, "two interleaving half circles, noise 0.05"),
        ToySet("swiss-roll", _swiss_roll, 2, "2-D swiss roll"),
        ToySet("checkerboard", _checkerboard, 2, "uniform on a 4×4 checkerboard's black squares"),
        ToySet("torus", _torus, 3, "points on a torus (R=2, r=0.5) in 3-D"),
    ]
}
