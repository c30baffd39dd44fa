"""Published recipes as data: each is one (process, parameterisation, loss) triple.

A preset is frozen; `adapt` fills in what should come from the user's data (σ_data, and σ_max for
the processes whose range is free) and returns a new preset.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from .errors import lookup
from .losses import (
    ConsistencyGrid,
    DiscreteT,
    LearnedT,
    LogNormal,
    LogUniform,
    NoiseDistribution,
    UniformT,
)
from .parameterisation import (
    ConsistencyPrecond,
    EDMPrecond,
    EpsPrecond,
    FlowPrecond,
    Preconditioning,
    ScorePrecond,
    VPrecond,
)
from .processes import EDM, VE, VP, Process, RectifiedFlow, VPCosine

SIGMA_FLOOR = 0.002  # EDM's σ_min: below it the denoiser is the identity to float precision


@dataclass(frozen=True)
class Preset:
    """A training recipe: the process, the network's parameterisation and the DSM loss."""

    name: str
    process: Process
    precond: Preconditioning
    noise: NoiseDistribution
    weighting: str = "target"
    sigma_max_from_data: bool = False
    summary: str = ""
    data_sigma_max: float | None = None  # set by adapt: the data's largest pairwise distance
    sampling: tuple = ()  # ((name, value), …): the recipe's own sampling defaults
    teacher: str = ""  # what a distilled recipe learns from: "ode-step" or "coupling"

    def adapt(self, sigma_data: float, sigma_max: float | None = None) -> "Preset":
        """This preset with σ_data, and σ_max where the process leaves it free, set from data."""
        precond = dataclasses.replace(self.precond, sigma_data=sigma_data)
        process = self.process
        if self.sigma_max_from_data and sigma_max is not None:
            process = _with_sigma_max(process, sigma_max)
        return dataclasses.replace(self, precond=precond, process=process, data_sigma_max=sigma_max)

    @property
    def trained_sigma_max(self) -> float | None:
        """The highest σ the loss draws, where the recipe bounds it (log-uniform σ, a learned
        schedule); None where its σ reach the whole process range or have no bound (log-normal)."""
        if isinstance(self.noise, LogUniform):
            return self.noise.hi
        if isinstance(self.noise, LearnedT):
            return self.sampling_range()[1]
        return None

    @property
    def distils(self) -> bool:
        """Whether the recipe is trained from a teacher: its ODE steps (consistency distillation)
        or its ODE's coupling of noise and samples (reflow)."""
        return bool(self.teacher)

    @property
    def consistency(self) -> bool:
        """Whether the network is a consistency function f(x̂, σ) (the end of the trajectory
        through x̂), not a denoiser E[x0 | x̂]: sampled only by the consistency sampler."""
        return isinstance(self.precond, ConsistencyPrecond)

    @property
    def learns_schedule(self) -> bool:
        """Whether the recipe learns its noise schedule with the model (`vdm`)."""
        return isinstance(self.noise, LearnedT)

    def likelihood_weighted(self) -> "Preset":
        """This recipe trained for likelihood (`train --weighting vlb`): σ log-uniform over its
        sampling range and λ(σ) = 1/σ², so the loss is VDM's diffusion loss (difflab.vlb) up to a
        constant; process and parameterisation unchanged. Call after `adapt` (the range then
        ends at the data's σ_max)."""
        lo, hi = self.sampling_range()
        return dataclasses.replace(self, noise=LogUniform(lo, hi), weighting="snr")

    def sampling_range(self) -> tuple[float, float]:
        """(σ_min, σ_max) of the default sampling grid: the process's range, floored at 0.002 and
        cut at the data's σ_max. Above it the prior N(0, σ² + σ_data²) is already exact enough, and
        an ε-network's errors grow with σ: on the 8-Gaussian ring a DDPM model sampled from the
        recipe's σ_max = 152 lands at 17× the SW2 noise floor, from the data's σ_max = 3.5 at
        1.0×."""
        hi = self.process.sigma_max
        if self.data_sigma_max is not None:
            hi = min(hi, self.data_sigma_max)
        lo = max(self.process.sigma_min, SIGMA_FLOOR)
        if isinstance(self.noise, DiscreteT):  # never below the smallest level it was trained at
            lo = max(lo, float(self.noise.sigmas(self.process)[0]))
        return lo, hi


def _with_sigma_max(process: Process, sigma_max: float) -> Process:
    if isinstance(process, EDM):
        return dataclasses.replace(process, t_max=sigma_max)
    if isinstance(process, VE):
        return dataclasses.replace(process, sigma_hi=sigma_max)
    if isinstance(process, RectifiedFlow):
        return dataclasses.replace(process, sigma_cap=sigma_max, t_max=sigma_max / (1 + sigma_max))
    raise ValueError(f"{process.name} has no free σ_max")


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in [
        Preset(
            "ddpm",
            VP(),
            EpsPrecond(),
            DiscreteT(levels=1000),
            summary="DDPM (Ho et al. 2020): VP with linear β, ε-prediction, 1000 discrete steps",
        ),
        Preset(
            "ncsn",
            VE(),
            ScorePrecond(),
            DiscreteT(levels=100),
            sigma_max_from_data=True,
            summary="NCSN (Song & Ermon 2019): VE geometric σ levels, score network, σ²-weighting",
        ),
        Preset(
            "vp-sde",
            VP(),
            EpsPrecond(),
            UniformT(),
            summary="VP SDE (Song et al. 2021): continuous t ~ U[ε, 1], ε-prediction",
        ),
        Preset(
            "ve-sde",
            VE(),
            ScorePrecond(),
            UniformT(),
            sigma_max_from_data=True,
            summary="VE SDE (Song et al. 2021): continuous t ~ U[0, 1], score network",
        ),
        Preset(
            "edm",
            EDM(),
            EDMPrecond(),
            LogNormal(),
            sigma_max_from_data=True,
            summary="EDM (Karras et al. 2022): σ = t, preconditioning, log-normal σ",
        ),
        Preset(
            "v-pred",
            VPCosine(),
            VPrecond(),
            UniformT(),
            summary="v-prediction (Salimans & Ho 2022) on the iDDPM cosine schedule",
        ),
        Preset(
            "vdm",
            VE(sigma_lo=SIGMA_FLOOR, sigma_hi=80.0),
            EpsPrecond(),
            LearnedT(),
            weighting="vlb",
            sigma_max_from_data=True,
            summary="VDM (Kingma et al. 2021): the continuous VLB as the loss, ε-prediction, a "
            "monotone noise schedule learned with the model to minimise the bound's variance",
        ),
        Preset(
            "consistency",
            EDM(),
            ConsistencyPrecond(sigma_min=SIGMA_FLOOR),
            ConsistencyGrid(levels=18),
            weighting="uniform",
            sigma_max_from_data=True,
            summary="consistency distillation (Song et al. 2023): f(x̂, σ) = x̂ at σ_min exactly, "
            "trained from a teacher's Heun steps (`difflab distill`); 1–4 step sampling",
            sampling=(("sampler", "consistency"), ("steps", 1)),
            teacher="ode-step",
        ),
        Preset(
            "consistency-training",
            EDM(),
            ConsistencyPrecond(sigma_min=SIGMA_FLOOR),
            ConsistencyGrid(levels=40),
            weighting="uniform",
            sigma_max_from_data=True,
            summary="consistency training (Song et al. 2023 §5): the consistency model from data "
            "alone, x̂_n = x0 + σ_n·n in place of a teacher's step; 1–4 step sampling",
            sampling=(("sampler", "consistency"), ("steps", 1)),
        ),
        Preset(
            "reflow",
            RectifiedFlow(),
            FlowPrecond(),
            UniformT(),
            sigma_max_from_data=True,
            summary="reflow (Liu et al. 2022, 2-rectified flow): rectified flow on a teacher's ODE "
            "coupling of its start and its sample (`difflab distill --method reflow`); straight "
            "paths, 1–2 Euler steps",
            sampling=(("sampler", "euler"), ("steps", 1), ("schedule", "flow-uniform")),
            teacher="coupling",
        ),
        Preset(
            "rectified-flow",
            RectifiedFlow(),
            FlowPrecond(),
            UniformT(),
            summary="Rectified flow (Liu et al. 2022): x_t = (1-t)x0 + t·n, velocity prediction",
        ),
    ]
}


def get_preset(name: str) -> Preset:
    """The preset called `name`, or a one-line error listing the known ones."""
    return lookup(PRESETS, name, "preset")
