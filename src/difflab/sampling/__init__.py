"""Sampling as solving the PF-ODE or the reverse SDE: pure functions of (denoiser, x, sigmas,
options).

    x̂_0 = sample(D, x̂_T, sigmas, method="heun")

x̂_T is unscaled noise at σ_0 = sigmas[0] (e.g. sqrt(σ_0² + σ_data²)·n); the result is in data
space. Every sampler works with any callable D(x̂, σ) and any preset. ODE solvers and Euler–Maruyama
may be given a process (σ(t), s(t)) to integrate in its own time and scaling; by default EDM's σ =
t, s = 1. Stochastic samplers draw from `noise(key)` (passed in; by default torch.randn_like under
`seed`).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

from ..errors import DifflabError, lookup
from ..parameterisation import DenoiserFn
from ..processes import Process
from . import consistency, multistep, ode, sde
from .schedules import SCHEDULES, check_sigmas, karras_sigmas, make_sigmas

SamplerFn = Callable[..., Tensor]


@dataclass(frozen=True)
class Sampler:
    """A sampler: its function, order (of the ODE solver; 1 for SDE schemes), NFE per step, and
    kind."""

    fn: SamplerFn
    order: int
    nfe_per_step: str
    stochastic: bool
    summary: str

    @property
    def defaults(self) -> dict:
        """Each option's default value (its type is the option's type)."""
        params = inspect.signature(self.fn).parameters.values()
        return {p.name: p.default for p in params if p.name in self.options}

    @property
    def options(self) -> list[str]:
        """Keyword options the function takes beyond (denoiser, x, sigmas) and the common ones."""
        params = inspect.signature(self.fn).parameters.values()
        return [p.name for p in params if p.kind is p.KEYWORD_ONLY and p.name not in COMMON]


COMMON = {"process", "noise", "stats"}

SAMPLERS: dict[str, Sampler] = {
    "euler": Sampler(ode.euler, 1, "1", False, "PF-ODE, explicit Euler"),
    "heun": Sampler(ode.heun, 2, "2 (1 on the last step)", False, "PF-ODE, Heun (EDM Alg. 1)"),
    "midpoint": Sampler(
        ode.midpoint, 2, "2 (1 on the last step)", False, "PF-ODE, explicit midpoint"
    ),
    "rk4": Sampler(ode.rk4, 4, "4 (1 on the last step)", False, "PF-ODE, classical Runge–Kutta"),
    "dopri5": Sampler(
        ode.dopri5, 5, "adaptive (rtol, atol)", False, "PF-ODE, adaptive Dormand–Prince 5(4)"
    ),
    "dpmpp-2m": Sampler(
        multistep.dpmpp_2m, 2, "1", False, "DPM-Solver++(2M), multistep in λ = -ln σ"
    ),
    "dpmpp-3m": Sampler(
        multistep.dpmpp_3m, 3, "1", False, "DPM-Solver++(3M), multistep in λ = -ln σ"
    ),
    "dpmpp-2s": Sampler(
        multistep.dpmpp_2s, 2, "2 (1 on the last step)", False, "DPM-Solver++(2S), single step, r"
    ),
    "ipndm": Sampler(
        multistep.ipndm, 4, "1", False, "iPNDM: Adams–Bashforth in σ with equal-step weights"
    ),
    "deis": Sampler(
        multistep.deis, 3, "1", False, "ρAB-DEIS: Adams–Bashforth in σ (order option, ≤ 4)"
    ),
    "unipc": Sampler(
        multistep.unipc,
        3,
        "1",
        False,
        "UniPC: predictor + free corrector in λ (order 1–3 → p + 1, variant bh1|bh2)",
    ),
    "ddim": Sampler(sde.ddim, 1, "1", True, "DDIM with η (η = 0: deterministic)"),
    "ddpm": Sampler(sde.ddpm, 1, "1", True, "DDPM ancestral sampling, posterior variance β̃"),
    "euler-maruyama": Sampler(
        sde.euler_maruyama, 1, "1", True, "reverse SDE of the process, Euler–Maruyama"
    ),
    "edm-stochastic": Sampler(
        sde.edm_stochastic,
        2,
        "2 (1 on the last step)",
        True,
        "EDM Alg. 2: churn (s_churn, s_tmin, s_tmax, s_noise) + Heun",
    ),
    "langevin": Sampler(
        sde.annealed_langevin,
        1,
        "steps_per_level",
        True,
        "annealed Langevin dynamics (NCSN): steps_per_level, epsilon",
    ),
    "consistency": Sampler(
        consistency.multistep,
        1,
        "1",
        True,
        "multistep consistency sampling (Song et al. 2023 Alg. 1), for distilled students",
    ),
    "pc": Sampler(
        sde.predictor_corrector,
        1,
        "1 + corrector_steps",
        True,
        "predictor–corrector: predictor (any sampler) + Langevin corrector (snr, step)",
    ),
}


def get_sampler(name: str) -> Sampler:
    return lookup(SAMPLERS, name, "sampler")


class CountingDenoiser:
    """Wraps a denoiser and counts its evaluations (one batch call of the network = one NFE; a
    wrapper that calls the network k times per call, like guidance, says so by `nfe_per_call`)."""

    def __init__(self, denoiser: DenoiserFn):
        self.denoiser, self.nfe = denoiser, 0
        self.per_call = getattr(denoiser, "nfe_per_call", 1)

    def __call__(self, x: Tensor, sigma: Tensor | float) -> Tensor:
        self.nfe += self.per_call
        return self.denoiser(x, sigma)


def default_noise(x: Tensor, seed: int | None) -> Callable[[int], Tensor]:
    """noise(key) ~ N(0, I) like x: from one generator seeded with `seed`, or the global RNG."""
    if seed is None:
        return lambda _key: torch.randn_like(x)
    gen = torch.Generator(device=x.device).manual_seed(seed)
    return lambda _key: torch.randn(x.shape, generator=gen, device=x.device, dtype=x.dtype)


def _check_options(name: str, spec: Sampler, options: dict) -> None:
    allowed = set(spec.options)
    if name == "pc":  # the predictor's own options pass through
        allowed |= set(get_sampler(options.get("predictor", "ddpm")).options)
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise DifflabError(
            f"sampler {name!r} has no option {', '.join(unknown)}; "
            f"it takes: {', '.join(sorted(allowed)) or 'none'}"
        )
    defaults = {**spec.defaults}
    if name == "pc":
        defaults = {**get_sampler(options.get("predictor", "ddpm")).defaults, **defaults}
    for key, value in options.items():
        options[key] = _typed(name, key, value, defaults.get(key))


def _typed(sampler: str, key: str, value, default):
    """An option's value as its default's type: numbers for numbers, a bool from true/false/1/0."""
    if default is None or isinstance(default, str) or callable(default):
        return value
    if isinstance(default, bool):
        if str(value).lower() in ("1", "true", "yes"):
            return True
        if str(value).lower() in ("0", "false", "no"):
            return False
        raise DifflabError(f"sampler {sampler!r}: option {key}={value!r} must be true or false")
    if isinstance(default, (int, float)) and isinstance(value, (int, float)):
        if isinstance(default, int) and not float(value).is_integer():
            raise DifflabError(f"sampler {sampler!r}: option {key}={value!r} must be an integer")
        return type(default)(value)
    kind = "an integer" if isinstance(default, int) else "a number"
    raise DifflabError(f"sampler {sampler!r}: option {key}={value!r} must be {kind}")


@torch.no_grad()
def _run(denoiser, x, sigmas, method, process, noise, seed, stats, options) -> Tensor:
    spec = get_sampler(method)
    _check_options(method, spec, options)
    counting = CountingDenoiser(denoiser)
    noise = noise or default_noise(x, seed)
    out = spec.fn(counting, x, sigmas, process=process, noise=noise, stats=stats, **options)
    if stats is not None:
        stats["nfe"] = counting.nfe
    return out


def sample(
    denoiser: DenoiserFn,
    x: Tensor,
    sigmas: Tensor,
    method: str = "heun",
    *,
    process: Process | None = None,
    noise: Callable[[int], Tensor] | None = None,
    seed: int | None = None,
    stats: dict | None = None,
    **options,
) -> Tensor:
    """Draw x̂_0 from x̂_T along a grid that ends with 0; `stats`, if given, receives {'nfe': …}."""
    return _run(
        denoiser,
        x,
        check_sigmas(sigmas, end_at_zero=True),
        method,
        process,
        noise,
        seed,
        stats,
        options,
    )


def solve(
    denoiser: DenoiserFn,
    x: Tensor,
    sigmas: Tensor,
    method: str = "heun",
    *,
    process: Process | None = None,
    noise: Callable[[int], Tensor] | None = None,
    seed: int | None = None,
    stats: dict | None = None,
    **options,
) -> Tensor:
    """Like sample, along a positive grid σ_0 > … > σ_N > 0: returns x̂ at σ_N (no final
    denoising)."""
    return _run(
        denoiser,
        x,
        check_sigmas(sigmas, end_at_zero=False),
        method,
        process,
        noise,
        seed,
        stats,
        options,
    )


from .guidance import cfg  # noqa: E402  (wrappers over the protocol: guidance and inpainting)
from .inpaint import inpaint  # noqa: E402

__all__ = [
    "SAMPLERS",
    "SCHEDULES",
    "Sampler",
    "CountingDenoiser",
    "get_sampler",
    "karras_sigmas",
    "make_sigmas",
    "check_sigmas",
    "sample",
    "solve",
    "default_noise",
    "cfg",
    "inpaint",
]
