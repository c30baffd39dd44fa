"""`difflab bench ode-error`: few-step samplers scored by their distance to the exact PF-ODE.

For the closed-form denoisers of Gaussian mixtures, every (sampler, grid) pair at a budget of K
network evaluations starts from the same initial noise x_T at σ_max; its output is compared with
the PF-ODE solution from that same x_T (float64 RK4 with 512 steps uniform in log σ to σ_min, then
the ideal denoiser at σ_min, as every sampler ends). The RMS distance has no noise floor, so it
separates samplers that SW2 at a few thousand samples cannot.
"""

from __future__ import annotations

import math
import time

import torch

from ..data import get_toy
from ..data.toy import mixture_10d
from ..ideal import GaussianMixture
from ..sampling import CountingDenoiser, make_sigmas, sample
from ..sampling.tune import AUTO_TUNE, exact_solution, ode_error, steps_for_nfe, tune_grid

SIGMA_MIN, SIGMA_MAX = 0.002, 80.0
GRIDS = ("karras", "vp-time", "log-snr")
# scored at a budget of K NFE: sampling.tune.steps_for_nfe gives each its steps
SAMPLERS = ("euler", "heun", "dpmpp-2s", "dpmpp-2m", "dpmpp-3m", "deis", "ipndm", "unipc")


def problems() -> dict[str, GaussianMixture]:
    return {
        "8-gaussians": get_toy("8-gaussians").mixture,
        "25-gaussians": get_toy("25-gaussians").mixture,
        "10-D mixture": mixture_10d(),
    }


def exact(
    mixture: GaussianMixture, x_t: torch.Tensor, sigma_max: float = SIGMA_MAX
) -> torch.Tensor:
    """The PF-ODE from σ_max to σ_min by RK4 in 512 log-uniform steps, then D at σ_min."""
    return exact_solution(mixture, x_t, sigma_max, SIGMA_MIN)


def rms(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(((a - b) ** 2).sum(dim=1).mean().sqrt())


TUNED = ("unipc", "ipndm", "dpmpp-3m")  # samplers also scored on a grid tuned for them


def side_draws(mixture: GaussianMixture) -> dict:
    """512 draws to tune on and 512 to choose with (apart from the benchmark's and each other),
    each with its exact solution — the same for every sampler and budget."""
    out = {}
    for name, seed in (("tune", 2), ("check", 3)):
        x = mixture.sample(512, sigma=SIGMA_MAX, generator=torch.Generator().manual_seed(seed))
        out[name] = (x, exact(mixture, x))
    return out


def _tuned_row(name, mixture, x_t, truth, k: int, sampler: str, side: dict) -> dict:
    """A grid tuned on side["tune"] (sampling.tune), scored on the benchmark's draws."""
    start = time.perf_counter()
    grid, _ = tune_grid(mixture, *side["tune"], k, sampler, SIGMA_MAX, SIGMA_MIN)
    seconds = time.perf_counter() - start
    stats: dict = {}
    x = sample(mixture, x_t, grid, sampler, stats=stats)
    return {
        "problem": name,
        "nfe_budget": k,
        "nfe": stats["nfe"],
        "sampler": sampler,
        "grid": "tuned",
        "rms_ode_error": rms(x, truth),
        "tune_seconds": seconds,
        "check_error": ode_error(mixture, *side["check"], grid, sampler),
        "sigmas": grid.tolist(),
    }


def auto_row(tuned: list[dict]) -> dict:
    """What `sample --nfe K` does on a run without a grid: tune AUTO_TUNE's samplers and keep the
    one with the smaller error on fresh draws (check_error: 512 draws apart from both the tuning
    and the benchmark's)."""
    best = min((r for r in tuned if r["sampler"] in AUTO_TUNE), key=lambda r: r["check_error"])
    return {**best, "grid": "tuned", "sampler": f"--nfe default ({best['sampler']})"}


PEERS = {  # diffusers schedulers on their own VP linear-β grids (and with Karras σ where offered)
    "UniPC": ("UniPCMultistepScheduler", {}),
    "UniPC-karras": ("UniPCMultistepScheduler", {"use_karras_sigmas": True}),
    "DEIS": ("DEISMultistepScheduler", {}),
    "DPM++2M": ("DPMSolverMultistepScheduler", {}),
    "DPM++2M-karras": ("DPMSolverMultistepScheduler", {"use_karras_sigmas": True}),
    "Euler": ("EulerDiscreteScheduler", {}),
    "DDIM": ("DDIMScheduler", {"clip_sample": False}),
}


def peer_rows(name: str, mixture, n: int, k: int) -> list[dict]:
    """diffusers' schedulers at k NFE, each from its own first state (its σ_max), scored against
    the exact PF-ODE from that state (empty when diffusers is not installed)."""
    try:
        import diffusers
    except ImportError:
        return []
    from .samplers import _run_diffusers, abar_at

    rows = []
    for peer, (cls_name, cfg) in PEERS.items():
        sch = getattr(diffusers, cls_name)(
            num_train_timesteps=1000, beta_start=1e-4, beta_end=0.02, beta_schedule="linear", **cfg
        )
        sch.set_timesteps(k)
        z = torch.randn(
            n, mixture.dim, generator=torch.Generator().manual_seed(1), dtype=torch.float64
        )
        t0 = sch.timesteps[0]
        x0 = z * float(sch.init_noise_sigma)
        a = abar_at(sch.alphas_cumprod.to(torch.float64), t0)
        first = float(torch.sqrt(1 / a - 1))
        x_hat = sch.scale_model_input(x0, t0) / torch.sqrt(a)  # its first state in x̂ at σ_first
        x, calls = _run_diffusers(sch, mixture, z)
        truth = exact(mixture, x_hat, sigma_max=first)
        rows.append(
            {
                "problem": name,
                "nfe_budget": k,
                "nfe": calls,
                "sampler": f"diffusers {peer}",
                "grid": "its own",
                "sigma_max": first,
                "rms_ode_error": rms(x, truth),
            }
        )
    return rows


KD_SAMPLERS = {  # k-diffusion's deterministic samplers: name → (steps for k NFE, call)
    "euler": (lambda k: k, lambda kd, d, x, s: kd.sample_euler(d, x, s, disable=True)),
    "heun": (lambda k: (k + 1) // 2, lambda kd, d, x, s: kd.sample_heun(d, x, s, disable=True)),
    "dpm_2": (lambda k: (k + 1) // 2, lambda kd, d, x, s: kd.sample_dpm_2(d, x, s, disable=True)),
    "lms": (lambda k: k, lambda kd, d, x, s: kd.sample_lms(d, x, s, disable=True)),
    "dpmpp_2m": (lambda k: k, lambda kd, d, x, s: kd.sample_dpmpp_2m(d, x, s, disable=True)),
    "dpmpp_2s (η=0)": (
        lambda k: (k + 1) // 2,
        lambda kd, d, x, s: kd.sample_dpmpp_2s_ancestral(d, x, s, eta=0.0, disable=True),
    ),
    "dpmpp_3m_sde (η=0)": (
        lambda k: k,
        lambda kd, d, x, s: kd.sample_dpmpp_3m_sde(d, x, s, eta=0.0, disable=True),
    ),
}


def kd_rows(name: str, mixture, x_t, truth, k: int) -> list[dict]:
    """k-diffusion's samplers from difflab's own first state on the same three grids (empty when
    k-diffusion is not installed: `pip install --no-deps k-diffusion torchdiffeq torchsde`)."""
    from .samplers import load_k_diffusion

    try:
        kd = load_k_diffusion()
    except ImportError:
        kd = None
    if kd is None:
        return []
    rows = []
    for sampler, (steps_for, call) in KD_SAMPLERS.items():
        for grid in GRIDS:
            sigmas = make_sigmas(grid, steps_for(k), SIGMA_MIN, SIGMA_MAX)
            counted = CountingDenoiser(mixture)
            x = call(kd, counted, x_t.clone(), sigmas)
            rows.append(
                {
                    "problem": name,
                    "nfe_budget": k,
                    "nfe": counted.nfe,
                    "sampler": f"k-diffusion {sampler}",
                    "grid": grid,
                    "rms_ode_error": rms(x, truth),
                }
            )
    return rows


def ode_errors(n: int = 20_000, budgets: tuple[int, ...] = (5, 10), log=print) -> list[dict]:
    rows = []
    for name, mixture in problems().items():
        x_t = mixture.sample(n, sigma=SIGMA_MAX, generator=torch.Generator().manual_seed(1))
        truth, side = exact(mixture, x_t), side_draws(mixture)
        for k in budgets:
            for sampler in SAMPLERS:
                for grid in GRIDS:
                    sigmas = make_sigmas(grid, steps_for_nfe(sampler, k), SIGMA_MIN, SIGMA_MAX)
                    stats: dict = {}
                    x = sample(mixture, x_t, sigmas, sampler, stats=stats)
                    err = rms(x, truth)
                    rows.append(
                        {
                            "problem": name,
                            "nfe_budget": k,
                            "nfe": stats["nfe"],
                            "sampler": sampler,
                            "grid": grid,
                            "rms_ode_error": err,
                        }
                    )
            tuned = [_tuned_row(name, mixture, x_t, truth, k, s, side) for s in TUNED]
            rows.extend([*tuned, auto_row(tuned)])
            peers = kd_rows(name, mixture, x_t, truth, k) + peer_rows(name, mixture, n, k)
            rows.extend(peers)
            if peers:
                p = min(peers, key=lambda r: r["rms_ode_error"])
                log(
                    f"{name:13s} {k:3d} NFE: best peer {p['sampler']} ({p['nfe']} NFE): "
                    f"{p['rms_ode_error']:.3f}"
                )
            best = min(
                (r for r in rows if r["problem"] == name and r["nfe_budget"] == k),
                key=lambda r: r["rms_ode_error"] if math.isfinite(r["rms_ode_error"]) else math.inf,
            )
            log(
                f"{name:13s} {k:3d} NFE: best {best['sampler']} on {best['grid']} "
                f"({best['nfe']} NFE): RMS ODE error {best['rms_ode_error']:.3f}"
            )
    return rows


__all__ = ["ode_errors", "problems", "exact", "mixture_10d", "kd_rows", "SAMPLERS", "GRIDS"]
