"""Where a diffusion run's chains start (sampling.prior): the class flow's exact marginal at
σ_max, or under guidance the guided flow's, measured by a pilot."""

from __future__ import annotations

import torch

from ..random import randn_per_sample
from ..sampling.prior import GaussianStart, class_start, flow_start, guided_limit_start
from .condition import Condition

PILOT = 512  # antithetic pairs per class of the guided start's pilot (sampling.prior.flow_start)
PILOT_STREAM = 1 << 20  # its noise streams, PILOT_STREAM + class, apart from every sampler's


class Starts:
    """The start methods of a diffusion Run (run/diffusion.py)."""

    def _start(
        self,
        condition: Condition,
        labels: torch.Tensor | None,
        sigma_max: float,
        seed: int,
        stats: dict | None = None,
    ) -> GaussianStart | None:
        """Where class-conditional chains start at σ_max (a table indexed by class): the class
        flow's exact marginal N(m_c, Σ_c + σ_max² I) at w = 1 (sampling.prior.class_start); for
        w ∉ {0, 1} the guided flow's own, measured by a pilot from 200·σ_max (flow_start; images:
        its σ_max ≫ data limit, guided_limit_start). None: the unconditional prior
        N(0, (σ_max² + σ_data²) I), so w = 0 stays the unconditional sampler bit for bit.
        `stats` gets the pilot's network evaluations, 'pilot_nfe'."""
        data = self.config.data
        if labels is None or not condition.starts_per_class(data):
            return None
        k = len(data.class_means)
        means = torch.tensor(data.class_means, dtype=torch.float64).reshape(k, *self.shape)
        if data.class_covs is None:  # a run from before class covariances: σ_data² as before
            covs = torch.full_like(means, self.preset.precond.sigma_data**2)
        else:
            covs = torch.tensor(data.class_covs, dtype=torch.float64)
            covs = covs if covs.shape[1:] == (self.dim, self.dim) else covs.reshape(means.shape)
        table = class_start(means, covs, sigma_max)
        if condition.guidance == 1:
            return table
        if self.is_image:  # σ_max ≫ the data, and a U-Net pilot costs minutes on a CPU
            return guided_limit_start(table, condition.guidance)
        classes = labels.unique().tolist()
        return self._guided_start(table, classes, condition.guidance, sigma_max, seed, stats)

    def _guided_start(
        self,
        table: GaussianStart,
        classes: list[int],
        guidance: float,
        sigma_max: float,
        seed: int,
        stats: dict | None = None,
    ) -> GaussianStart:
        """`table` with the rows of `classes` replaced by the guided flow's measured marginal at
        σ_max: PILOT antithetic pairs per class, the pilot's noise its own stream of `seed`, so a
        sample still depends only on (seed, i)."""
        device = next(self.denoiser.parameters()).device
        full = table.full
        mean, cov = table.mean.clone(), table.cov.clone()
        nfe = 0
        for c in classes:
            info: dict = {}
            z = randn_per_sample(seed, 0, PILOT, self.shape, stream=PILOT_STREAM + c)
            found = flow_start(
                self.conditioned(c, guidance),
                table.mean[c : c + 1].float().to(device),
                z.to(device),
                sigma_max,
                full,
                info,
            )
            mean[c], cov[c], nfe = found.mean[0], found.cov[0], nfe + info["nfe"]
        if stats is not None:
            stats["pilot_nfe"] = nfe
        return GaussianStart(mean, cov)
