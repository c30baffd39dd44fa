"""Sampler benchmark: ideal denoisers of 2-D Gaussian mixtures, so every error is discretisation
error.

difflab's samplers and, where installed (`pip install -e '.[bench]'`), k-diffusion's and diffusers'
are driven by the same denoiser in one run: SW2 to exact samples against the noise floor at equal
NFE, and the time spent outside the denoiser (overhead) at batch 20,000.
"""

from __future__ import annotations

import functools
import importlib.util
import itertools
import json
import math
import os
import sys
import time
import types
from typing import Callable

import numpy as np
import torch

from ..data.toy import TOY_SETS
from ..errors import DifflabError
from ..ideal import GaussianMixture
from ..metrics import sliced_wasserstein
from ..sampling import CountingDenoiser, karras_sigmas, sample
from ..sampling.tune import steps_for_nfe

NFES = (5, 10, 20, 35, 50, 100)
# difflab samplers: name → (steps for an NFE budget, options)
OURS: dict[str, tuple[Callable[[int], int], dict]] = {
    "euler": (lambda n: n, {}),
    "heun": (lambda n: (n + 1) // 2, {}),
    "midpoint": (lambda n: (n + 1) // 2, {}),
    "rk4": (lambda n: (n + 3) // 4, {}),
    "dpmpp-2m": (lambda n: n, {}),
    "deis": (lambda n: n, {}),
    "ddim": (lambda n: n, {"eta": 0.0}),
    "ddpm": (lambda n: n, {}),
    "euler-maruyama": (lambda n: n, {}),
    "edm-stochastic": (lambda n: (n + 1) // 2, {"s_churn": 10.0, "s_tmin": 0.05, "s_tmax": 50.0}),
}


class Timed(CountingDenoiser):
    """A counting denoiser that also adds up the seconds spent inside the calls."""

    def __init__(self, denoiser):
        super().__init__(denoiser)
        self.seconds = 0.0

    def __call__(self, x, sigma):
        t0 = time.perf_counter()
        out = super().__call__(x, sigma)
        self.seconds += time.perf_counter() - t0
        return out


# -- peers
# ------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def load_k_diffusion():
    """k_diffusion.sampling without importing the package (its __init__ needs torchvision)."""
    spec = importlib.util.find_spec("k_diffusion")
    if spec is None:
        return None
    root = os.path.dirname(spec.origin)
    pkg = types.ModuleType("k_diffusion")
    pkg.__path__ = [root]
    utils = types.ModuleType("k_diffusion.utils")
    utils.append_dims = lambda x, n: x[(...,) + (None,) * (n - x.ndim)]
    sys.modules.setdefault("k_diffusion", pkg)
    sys.modules.setdefault("k_diffusion.utils", utils)
    s = importlib.util.spec_from_file_location(
        "k_diffusion.sampling", os.path.join(root, "sampling.py")
    )
    mod = importlib.util.module_from_spec(s)
    s.loader.exec_module(mod)
    return mod


def k_diffusion_runs(kd) -> dict[str, Callable]:
    """name → fn(denoiser, x, sigmas) for k-diffusion's samplers (they take the same σ grid)."""
    quiet = {"disable": True}
    return {
        "kd-euler": lambda d, x, s: kd.sample_euler(d, x, s, **quiet),
        "kd-heun": lambda d, x, s: kd.sample_heun(d, x, s, **quiet),
        "kd-dpmpp_2m": lambda d, x, s: kd.sample_dpmpp_2m(d, x, s, **quiet),
        "kd-lms": lambda d, x, s: kd.sample_lms(d, x, s, **quiet),
    }


# -- the benchmark
# -----------------------------------------------------------------------------------
def _sw2_ratio(x: np.ndarray, refs: list[np.ndarray], floor: float) -> float:
    return float(np.mean([sliced_wasserstein(x, r, n_projections=200) for r in refs])) / floor


def _references(mixture: GaussianMixture, n: int) -> tuple[list[np.ndarray], float]:
    """Six exact sets of n points and their SW2 noise floor (the mean over pairs)."""
    refs = [
        mixture.sample(n, generator=torch.Generator().manual_seed(100 + k)).numpy()
        for k in range(6)
    ]
    pairs = itertools.combinations(refs, 2)
    floor = float(np.mean([sliced_wasserstein(a, b, n_projections=200) for a, b in pairs]))
    return refs, floor


def quality(
    mixture: GaussianMixture, n: int = 5000, sigma_max: float = 80.0, seed: int = 0, log=print
) -> list[dict]:
    """Rows {sampler, library, nfe, sw2_ratio} for every sampler and NFE budget on one mixture."""
    refs, floor = _references(mixture, n)
    var = float(
        ((mixture.means - mixture.means.mean(0)) ** 2).sum(1).mean() / mixture.dim
        + mixture.stds.max() ** 2
    )
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(n, mixture.dim, generator=gen, dtype=torch.float64)
    # the same initial noise for every sampler on the EDM grid
    x_T = z * math.sqrt(sigma_max**2 + var)
    rows = []

    def record(name, lib, nfe, x):
        ratio = _sw2_ratio(x.numpy(), refs, floor)
        rows.append({"sampler": name, "library": lib, "nfe": nfe, "sw2_ratio": ratio})

    for name, (steps_for, opts) in OURS.items():
        for budget in NFES:
            steps = max(1, steps_for(budget))
            sig = karras_sigmas(steps, 0.002, sigma_max)
            stats: dict = {}
            x = sample(mixture, x_T, sig, name, seed=seed, stats=stats, **opts)
            record(name, "difflab", stats["nfe"], x)
    kd = load_k_diffusion()
    if kd is not None:
        for name, fn in k_diffusion_runs(kd).items():
            for budget in NFES:
                steps = (budget + 1) // 2 if name == "kd-heun" else budget
                timed = Timed(mixture)
                x = fn(timed, x_T, karras_sigmas(steps, 0.002, sigma_max))
                record(name, "k-diffusion", timed.nfe, x)
        for rtol in (0.1, 0.05, 0.01, 0.001):
            timed = Timed(mixture)
            x = kd.sample_dpm_adaptive(timed, x_T, 0.002, sigma_max, rtol=rtol, atol=rtol / 10)
            record("kd-dpm_adaptive", "k-diffusion", timed.nfe, x)
    for rtol in (1e-1, 3e-2, 1e-2, 1e-3):  # atol = rtol, integrated in log σ (the defaults)
        stats = {}
        x = sample(
            mixture, x_T, karras_sigmas(2, 0.002, sigma_max), "dopri5", rtol=rtol, stats=stats
        )
        record("dopri5", "difflab", stats["nfe"], x)
    _diffusers_rows(mixture, z, record)
    log(f"  floor {floor:.4f}, {len(rows)} rows")
    return rows


def _diffusers_schedulers() -> dict:
    try:
        import diffusers
    except ImportError:
        return {}
    return {
        "df-Euler": (diffusers.EulerDiscreteScheduler, {"use_karras_sigmas": True}),
        "df-Heun": (diffusers.HeunDiscreteScheduler, {"use_karras_sigmas": True}),
        "df-DPMSolverMultistep": (
            diffusers.DPMSolverMultistepScheduler,
            {"use_karras_sigmas": True},
        ),
        "df-UniPC": (diffusers.UniPCMultistepScheduler, {"use_karras_sigmas": True}),
        "df-DDIM": (diffusers.DDIMScheduler, {"clip_sample": False}),
    }


def _make_scheduler(name: str, budget: int):
    cls, cfg = _diffusers_schedulers()[name]
    sch = cls(
        num_train_timesteps=1000, beta_start=1e-4, beta_end=0.02, beta_schedule="linear", **cfg
    )
    sch.set_timesteps(max(1, (budget + 1) // 2) if name == "df-Heun" else budget)
    return sch


def _diffusers_rows(mixture, z, record_fn) -> None:
    for name in _diffusers_schedulers():
        for budget in NFES:
            # each scheduler starts from its own prior at its own σ_max (≈ 157 for this VP schedule)
            x, calls = _run_diffusers(_make_scheduler(name, budget), mixture, z)
            record_fn(name, "diffusers", calls, x)


def _run_diffusers(sch, denoiser, z: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Drive one configured diffusers scheduler with the ideal denoiser as ε-prediction of VP."""
    abar = sch.alphas_cumprod.to(torch.float64)
    x = z * float(sch.init_noise_sigma)
    calls = 0
    for t in sch.timesteps:
        inp = sch.scale_model_input(x, t)  # VP-scaled x_t for every scheduler
        a = abar_at(abar, t)
        sigma = torch.sqrt(1 / a - 1)
        x_hat = inp / torch.sqrt(a)
        eps = (x_hat - denoiser(x_hat, sigma.expand(len(x)))) / sigma
        calls += 1
        x = sch.step(eps, t, x).prev_sample
    return x, calls


def abar_at(abar: torch.Tensor, t) -> torch.Tensor:
    """ᾱ at a diffusers timestep: the table entry, interpolated for a fractional one."""
    return abar[int(t)] if float(t) == int(t) else _interp(abar, float(t))


def _interp(abar: torch.Tensor, t: float) -> torch.Tensor:
    """ᾱ at a fractional timestep (Karras sigmas map to non-integer t in diffusers), interpolated in
    log σ."""
    log_sigma = torch.log(torch.sqrt(1 / abar - 1))
    lo = int(math.floor(t))
    w = t - lo
    ls = (1 - w) * log_sigma[lo] + w * log_sigma[min(lo + 1, len(abar) - 1)]
    return 1 / (1 + torch.exp(ls) ** 2)


# -- overhead
# ---------------------------------------------------------------------------------------
def mlp_denoiser(dim: int = 2) -> Callable:
    """difflab's default network (MLP width 128, 4 blocks, EDM preconditioning), float32 in and out:
    what a trained low-dimensional model costs per call."""
    from ..nn import MLP
    from ..parameterisation import Denoiser, EDMPrecond

    torch.manual_seed(0)
    d = Denoiser(MLP(dim), EDMPrecond()).eval().requires_grad_(False)
    return lambda x, sigma: d(x.float(), torch.as_tensor(sigma, dtype=torch.float32)).to(x.dtype)


def overhead(
    denoiser: Callable, dim: int = 2, n: int = 20_000, nfe: int = 20, repeats: int = 3
) -> list[dict]:
    """Time outside the denoiser per step (µs) and its share of the total, best of `repeats`."""
    z = torch.randn(n, dim, generator=torch.Generator().manual_seed(0))
    runs: dict[str, Callable] = {}
    # the few-step solvers (unipc, ipndm, dpmpp-3m) too: their quality is `bench ode-error`'s
    for name in ["euler", "heun", "dpmpp-2m", "deis", "ddim", "unipc", "ipndm", "dpmpp-3m"]:
        steps = steps_for_nfe(name, nfe)
        runs[f"difflab {name}"] = lambda d, name=name, steps=steps: sample(
            d, z * 80.0, karras_sigmas(steps, 0.002, 80.0, dtype=torch.float32), name
        )
    kd = load_k_diffusion()
    if kd is not None:
        for name, fn in k_diffusion_runs(kd).items():
            steps = (nfe + 1) // 2 if name == "kd-heun" else nfe
            runs[f"k-diffusion {name[3:]}"] = lambda d, fn=fn, steps=steps: fn(
                d, z * 80.0, karras_sigmas(steps, 0.002, 80.0, dtype=torch.float32)
            )
    for name in _diffusers_schedulers():
        runs[f"diffusers {name[3:]}"] = lambda d, name=name: _run_diffusers(
            _make_scheduler(name, nfe), d, z
        )
    best: dict[str, dict] = {}
    with torch.no_grad():
        denoiser(z, torch.tensor(1.0))  # warm-up
        for _ in range(
            repeats
        ):  # round-robin, so no library is timed only on a cold or a hot machine
            for label, fn in runs.items():
                timed = Timed(denoiser)
                t0 = time.perf_counter()
                fn(timed)
                total = time.perf_counter() - t0
                outside = total - timed.seconds
                if label not in best or outside < best[label]["outside_s"]:
                    best[label] = {
                        "sampler": label,
                        "nfe": timed.nfe,
                        "total_s": total,
                        "outside_s": outside,
                        "outside_us_per_step": 1e6 * outside / timed.nfe,
                        "outside_pct": 100 * outside / total,
                    }
    rows = list(best.values())
    return rows


def smallest_nfe_within(rows: list[dict], factor: float = 2.0) -> dict[str, int | None]:
    """For each sampler, the smallest NFE at which its SW2 ratio is ≤ factor (None if never)."""
    out: dict[str, int | None] = {}
    for r in rows:
        key = r["sampler"]
        out.setdefault(key, None)
        if r["sw2_ratio"] <= factor and (out[key] is None or r["nfe"] < out[key]):
            out[key] = r["nfe"]
    return out


def run(
    out: str = "benchmarks/results/samplers.json",
    n: int = 5000,
    log=print,
    quality_rows: bool = True,
) -> dict:
    """The whole benchmark: quality on 8-gaussians and 25-gaussians, and overhead; writes JSON.
    quality_rows=False measures the overhead only and keeps the quality rows already in `out`."""
    from importlib.metadata import PackageNotFoundError, version

    from . import machine
    from ..checkpoint import write_json

    def ver(pkg):
        try:
            return version(pkg)
        except PackageNotFoundError:
            return None

    report = {
        "machine": machine(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "versions": {p: ver(p) for p in ("difflab", "k-diffusion", "diffusers")},
        "quality": {},
    }
    if not quality_rows:
        if not os.path.exists(out):
            raise DifflabError(f"{out}: no earlier results to keep the quality rows from")
        with open(out) as f:
            report["quality"] = json.load(f)["quality"]
    for name in ("8-gaussians", "25-gaussians") if quality_rows else ():
        log(f"quality on {name}")
        rows = quality(TOY_SETS[name].mixture, n=n, log=log)
        report["quality"][name] = {
            "rows": rows,
            "smallest_nfe_within_2x": smallest_nfe_within(rows),
        }
    log("overhead at batch 20,000")
    report["overhead"] = overhead(TOY_SETS["25-gaussians"].mixture.to(torch.float32), repeats=5)
    report["overhead_mlp"] = overhead(mlp_denoiser(), repeats=5)
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    write_json(out, report)
    return report
