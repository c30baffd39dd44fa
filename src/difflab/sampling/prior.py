"""Where a chain starts: a Gaussian N(μ, C) at σ_max that matches the flow's own marginal there.

The PF-ODE of class c carries p(x | c) ∗ N(0, σ²I); at σ_max its mean is the class mean m_c and its
covariance Σ_c + σ_max² I, whatever the class's law (`class_start`). Started anywhere else, the
offset is carried down to σ_min shrunk only by ~σ_c/σ_max: a prior of variance σ_max² + σ_data²
for a class of σ_c ≪ σ_data made a narrow class 2× too wide.

Under guidance w ∉ {0, 1} the flow of D_w has no closed-form marginal. `flow_start` measures it:
a pilot batch integrates the guided PF-ODE from σ_hi = PILOT_RATIO·σ_max (where the centre of the
start no longer matters: an offset shrinks by σ_max/σ_hi) down to σ_max, and its moments are taken
by regression on the pilot noise (x = a + Bz + r): the mean is a and the covariance BBᵀ + Cov(r),
exact for a linear flow whatever the pilot's size, so the pilot's sampling error only enters
through the (small) nonlinear part of the flow above σ_max.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from ..parameterisation import DenoiserFn

PILOT_RATIO = 200.0  # σ_hi / σ_max of the pilot
PILOT_STEPS = 32  # Heun steps of the pilot
FULL_MAX_DIM = 64  # above this, covariances are kept diagonal (images: per-pixel variances)


@dataclass(frozen=True)
class GaussianStart:
    """A table of K Gaussians N(mean_k, C_k): mean [K, *shape]; cov [K, D, D] (full) or [K, *shape]
    (diagonal variances). Each sample takes its row by `index` [B] (None: row 0 for all), so a
    batch of per-sample classes never holds B copies of a D×D matrix."""

    mean: Tensor
    cov: Tensor

    @property
    def full(self) -> bool:
        return self.cov.shape != self.mean.shape

    def variances(self) -> Tensor:
        """The marginal variances [K, *shape] (the diagonal of a full covariance)."""
        if self.full:
            return torch.diagonal(self.cov, dim1=1, dim2=2).reshape(self.mean.shape)
        return self.cov

    def _rows(self, index: Tensor | None, like: Tensor) -> Tensor:
        if index is None:
            return torch.zeros(like.shape[0], dtype=torch.long)
        return torch.as_tensor(index).long().cpu()

    def sample(self, z: Tensor, index: Tensor | None = None) -> Tensor:
        """mean + C^½ z for z ~ N(0, I) [B, *shape] (C^½ the Cholesky factor of a full C)."""
        rows = self._rows(index, z)
        if not self.full:
            return self._put(self.mean, rows, z) + self._put(self.cov.sqrt(), rows, z) * z
        chol = torch.linalg.cholesky(self.cov.double())
        out = torch.empty_like(z.flatten(1))
        for k in rows.unique():
            sel = (rows == k).to(z.device)
            out[sel] = self.mean[k].flatten().to(z) + z.flatten(1)[sel] @ chol[k].T.to(z)
        return out.reshape(z.shape)

    def sample_marginals(self, z: Tensor, index: Tensor | None = None) -> Tensor:
        """mean + sqrt(diag C) z: each coordinate from its own marginal, independently."""
        rows = self._rows(index, z)
        return self._put(self.mean, rows, z) + self._put(self.variances().sqrt(), rows, z) * z

    def log_prob(self, x: Tensor, index: Tensor | None = None) -> Tensor:
        """log N(x; mean, C) per sample [B]."""
        rows = self._rows(index, x)
        if not self.full:
            return _diagonal_log_prob(
                x, self._put(self.mean, rows, x), self._put(self.cov, rows, x)
            )
        chol = torch.linalg.cholesky(self.cov.double())
        log_det = torch.log(torch.diagonal(chol, dim1=1, dim2=2)).sum(1)
        out = torch.empty(x.shape[0], dtype=torch.float64, device=x.device)
        for k in rows.unique():
            sel = (rows == k).to(x.device)
            r = (x.flatten(1)[sel].double() - self.mean[k].flatten().double().to(x.device)).T
            w = torch.linalg.solve_triangular(chol[k].to(x.device), r, upper=False)
            out[sel] = -0.5 * w.square().sum(0) - log_det[k].to(x.device)
        return (out - 0.5 * x[0].numel() * math.log(2 * math.pi)).to(x.dtype)

    def marginals_log_prob(self, x: Tensor, keep: Tensor, index: Tensor | None = None) -> Tensor:
        """Σ over coordinates where `keep` of log N(x_i; mean_i, C_ii): the law of
        sample_marginals restricted to those coordinates, per sample [B]."""
        rows = self._rows(index, x)
        mean, var = self._put(self.mean, rows, x), self._put(self.variances(), rows, x)
        per = _diagonal_log_prob(x, mean, var, reduce=False)
        return torch.where(keep, per, 0.0).flatten(1).sum(1)

    @staticmethod
    def _put(table: Tensor, rows: Tensor, like: Tensor) -> Tensor:
        return table[rows].to(like)


def _diagonal_log_prob(x: Tensor, mean: Tensor, var: Tensor, reduce: bool = True) -> Tensor:
    per = -0.5 * ((x - mean).square() / var + torch.log(2 * math.pi * var))
    return per.flatten(1).sum(1) if reduce else per


def isotropic_start(shape: tuple[int, ...], variance: float) -> GaussianStart:
    """N(0, variance·I): the unconditional prior N(0, (σ_max² + σ_data²) I)."""
    return GaussianStart(
        torch.zeros(1, *shape, dtype=torch.float64),
        torch.full((1, *shape), float(variance), dtype=torch.float64),
    )


def class_start(means: Tensor, covs: Tensor, sigma: float) -> GaussianStart:
    """The class-conditional PF-ODE's exact marginal moments at σ: N(m_c, Σ_c + σ² I) for each
    class, from the classes' data means [K, *shape] and covariances ([K, D, D] or variances
    [K, *shape])."""
    means, covs = means.double(), covs.double()
    if covs.shape == means.shape:  # diagonal
        return GaussianStart(means, covs + sigma**2)
    eye = torch.eye(covs.shape[-1], dtype=covs.dtype)
    return GaussianStart(means, covs + sigma**2 * eye)


def guided_limit_start(table: GaussianStart, guidance: float) -> GaussianStart:
    """The guided flow's marginal where σ_max ≫ the data (images): far above the data D_w tends to
    m_∅ + w(m_c − m_∅), so the flow's centre does too, and its spread is the class's; the error is
    O(σ_data²/σ_max²). m_∅ is taken as the mean of the class means (exact for balanced classes).
    Used instead of the pilot where a pilot would cost minutes (a U-Net on a CPU)."""
    centre = table.mean.mean(0, keepdim=True)
    return GaussianStart(centre + guidance * (table.mean - centre), table.cov)


def pilot_sigmas(sigma_max: float, steps: int | None = None) -> Tensor:
    """The pilot's positive grid from PILOT_RATIO·σ_max down to σ_max, geometric in σ (far above
    the data the flow is x̂ ∝ σ: uniform in log σ; Karras's ρ = 7 spacing, too sparse up there,
    put the guided mean at σ_max 0.6% off with 32 steps)."""
    steps = steps or PILOT_STEPS
    hi, lo = math.log(PILOT_RATIO * sigma_max), math.log(sigma_max)
    return torch.linspace(hi, lo, steps + 1, dtype=torch.float64).exp()


@torch.no_grad()
def flow_start(
    denoiser: DenoiserFn,
    centre: Tensor,
    z: Tensor,
    sigma_max: float,
    full: bool,
    stats: dict | None = None,
) -> GaussianStart:
    """The marginal moments at σ_max of the PF-ODE of `denoiser` started from N(centre, σ_hi² I)
    at σ_hi = PILOT_RATIO·σ_max, with pilot noise z [n, *shape]: antithetic pairs (z, −z), the
    flow integrated by Heun on `pilot_sigmas`, moments by regression on the noise (module
    docstring). One row: a full covariance when `full`, per-coordinate variances otherwise. The
    pilot runs in `centre`'s dtype and on its device (the network's); the moments in float64.
    `stats`, if given, receives the pilot's {'nfe': …}."""
    from . import solve

    z = torch.cat([z, -z]).to(centre)
    grid = pilot_sigmas(sigma_max)
    x = solve(denoiser, centre + float(grid[0]) * z, grid, "heun", stats=stats)
    x, e = x.double().cpu().flatten(1), z.double().cpu().flatten(1)
    mean = x.mean(0)  # = a: the antithetic noise has mean 0 exactly
    if full:
        b = torch.linalg.lstsq(e, x - mean).solution  # x - a = e B + r
        r = x - mean - e @ b
        cov = b.T @ b + r.T @ r / (len(x) - e.shape[1])
        return GaussianStart(mean.reshape(1, *z.shape[1:]), cov[None])
    b = ((x - mean) * e).sum(0) / e.square().sum(0)  # per coordinate: x_j - a_j = b_j e_j + r_j
    r = x - mean - b * e
    var = b.square() + r.square().sum(0) / (len(x) - 1)
    return GaussianStart(mean.reshape(1, *z.shape[1:]), var.reshape(1, *z.shape[1:]))


__all__ = [
    "GaussianStart",
    "isotropic_start",
    "class_start",
    "flow_start",
    "guided_limit_start",
    "pilot_sigmas",
    "PILOT_RATIO",
    "FULL_MAX_DIM",
]
