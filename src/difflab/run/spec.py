"""How to sample, as one value: the one place that holds the sampling defaults."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from ..sampling import get_sampler

GRID_KEYS = ("steps", "schedule", "rho", "sigma_min", "sigma_max")


@dataclass(frozen=True)
class SamplingSpec:
    """A sampler (see `difflab samplers`) on a σ grid of `steps` steps: `schedule` (karras: EDM's
    ρ-grid; time-uniform, vp-time, log-snr, iddpm; tuned: the run's stored grid) between
    sigma_min and sigma_max (default: the preset's range), in EDM's time or the preset's
    own (`own_time`); `options` go to the sampler (eta, s_churn, …)."""

    sampler: str = "heun"
    steps: int = 18
    schedule: str = "karras"
    rho: float = 7.0
    sigma_min: float | None = None
    sigma_max: float | None = None
    own_time: bool = False
    options: dict = field(default_factory=dict)

    @classmethod
    def of(cls, **given) -> SamplingSpec:
        """From keyword values: None means the default; names that are not fields are sampler
        options. The sampler's name is checked here, before any work."""
        names = {f.name for f in dataclasses.fields(cls)} - {"options"}
        fields = {k: v for k, v in given.items() if k in names and v is not None}
        options = {k: v for k, v in given.items() if k not in names and v is not None}
        spec = cls(**fields, options=options)
        get_sampler(spec.sampler)
        return spec

    @property
    def levels(self) -> int:
        """Steps of the σ grid to make: one more for multistep consistency sampling, whose last
        level (σ_min, where f is the identity) it skips."""
        return self.steps + 1 if self.sampler == "consistency" else self.steps

    def grid_name(self) -> str:
        """'karras ρ 7' or the schedule's name."""
        return self.schedule + (f" ρ {self.rho:g}" if self.schedule == "karras" else "")
