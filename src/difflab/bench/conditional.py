"""Benchmarks of conditioning (not tests): inpainting methods against exact conditionals with ideal
denoisers, and classifier-free guidance of a trained labelled model against each class's exact law.

Inpainting: each row is a fresh exact draw with some coordinates hidden; the exact conditional is
closed form (Gaussian: N(μ_m|o, Σ_m|o); mixture: posterior component weights p(k | x_o), then the
component's law). Metrics: TV between the component frequencies of the completions and of exact
conditional draws for the same rows, and SW2 between completions and exact draws ÷ the floor (SW2
between two independent exact conditional draws). NFE is per chain; smc runs `particles` chains
per row.
"""

from __future__ import annotations

import itertools
import math
import time

import numpy as np
import torch

from ..data.toy import eight_gaussians, twentyfive_gaussians
from ..ideal import Gaussian, GaussianMixture, split_posterior_mixture
from ..metrics import sliced_wasserstein
from ..sampling import karras_sigmas
from ..sampling.inpaint import inpaint

F64 = torch.float64

METHODS = [  # (label, method, levels, options)
    ("replace heun", "replace", 18, {}),
    ("replace heun", "replace", 50, {}),
    ("repaint U=5", "repaint", 20, {"jumps": 5}),
    ("repaint U=10", "repaint", 20, {"jumps": 10}),
    ("repaint U=10", "repaint", 50, {"jumps": 10}),
    ("smc K=8", "smc", 25, {"particles": 8}),
    ("smc K=32", "smc", 25, {"particles": 32}),
    ("smc K=32", "smc", 50, {"particles": 32}),
    ("smc K=32", "smc", 100, {"particles": 32}),  # the default (Euler kernel)
]
SMC_VARIANTS = [  # (label, levels, options): the split posterior's NFE vs TV
    ("heun K=32", 50, {"particles": 32, "kernel": "heun"}),  # the default until issue 21
    ("heun K=32", 100, {"particles": 32, "kernel": "heun"}),
    ("heun K=128", 50, {"particles": 128, "kernel": "heun"}),
    ("euler K=32", 50, {"particles": 32, "kernel": "euler"}),
    ("euler K=64", 50, {"particles": 64, "kernel": "euler"}),
    ("euler K=32", 100, {"particles": 32, "kernel": "euler"}),  # the default
    ("euler K=16", 100, {"particles": 16, "kernel": "euler"}),
    ("euler K=32", 200, {"particles": 32, "kernel": "euler"}),
]


def mixture_10d(seed: int = 0) -> GaussianMixture:
    """10 components in 10-D, means uniform in [-2, 2]^10, std 0.3, random weights."""
    g = torch.Generator().manual_seed(seed)
    means = 4 * torch.rand(10, 10, generator=g, dtype=F64) - 2
    weights = torch.rand(10, generator=g, dtype=F64) + 0.5
    return GaussianMixture(means, torch.full((10,), 0.3, dtype=F64), weights / weights.sum())


CASES = {  # name: (mixture, observed coordinates)
    "8-gaussians": (eight_gaussians, torch.tensor([True, False])),
    "25-gaussians": (twentyfive_gaussians, torch.tensor([True, False])),
    "10-D mixture": (mixture_10d, torch.tensor([True] * 5 + [False] * 5)),
}


def _components(x: torch.Tensor, mix: GaussianMixture) -> np.ndarray:
    counts = torch.bincount(torch.cdist(x, mix.means).argmin(1), minlength=len(mix.weights))
    return (counts.double() / len(x)).numpy()


def mixture_row(
    name: str,
    label: str,
    method: str,
    levels: int,
    options: dict,
    n: int,
    seed: int,
    figures: dict | None = None,
) -> dict:
    mix, observed = CASES[name][0](), CASES[name][1]
    rows = mix.sample(n, generator=torch.Generator().manual_seed(seed))
    known = rows.clone()
    known[:, ~observed] = float("nan")
    y = rows[:, observed]
    # 4 exact conditional sets for the same rows: the floor is averaged over their 6 pairs (one pair
    # alone scatters by ±30%), the method's value over the 4 sets
    exact = [
        mix.sample_conditional(observed, y, torch.Generator().manual_seed(seed + i)).numpy()
        for i in range(1, 5)
    ]
    sigmas = karras_sigmas(levels, 0.002, 10.0 if name != "10-D mixture" else 20.0)
    stats: dict = {}
    t0 = time.perf_counter()
    filled = inpaint(mix, known, observed, sigmas, method, seed=seed, stats=stats, **options)
    seconds = time.perf_counter() - t0
    pairs = list(itertools.combinations(exact, 2))
    sw2 = float(np.mean([sliced_wasserstein(filled.numpy(), e) for e in exact]))
    floor = float(np.mean([sliced_wasserstein(a, b) for a, b in pairs]))
    weights = [_components(torch.from_numpy(e), mix) for e in exact]
    got = _components(filled, mix)
    tv = float(np.mean([0.5 * np.abs(got - w).sum() for w in weights]))
    tv_floor = float(
        np.mean([0.5 * np.abs(a - b).sum() for a, b in itertools.combinations(weights, 2)])
    )
    if figures is not None:
        figures.update(
            {
                "observed": y[:, 0].numpy(),
                "exact": exact[0],
                f"{label}, NFE {stats['nfe']}": filled.numpy(),
            }
        )
    return {
        "data": name,
        "method": label,
        "levels": levels,
        "nfe": stats["nfe"],
        "chains_per_row": options.get("particles", 1),
        "tv_weights": tv,
        "tv_floor": tv_floor,
        "sw2": sw2,
        "sw2_floor": floor,
        "sw2_ratio": sw2 / floor,
        "seconds": seconds,
        "n": n,
    }


def gaussian_rows(n: int, seed: int) -> list[dict]:
    """A correlated 2-D Gaussian (ρ = 0.9, x₁ observed at 1.5): bias of the conditional mean and
    variance (exact: mean μ₂ + 0.9·(1.5 − μ₁), variance 0.19) for every method."""
    gauss = Gaussian(
        torch.tensor([0.5, -1.0], dtype=F64), torch.tensor([[1.0, 0.9], [0.9, 1.0]], dtype=F64)
    )
    observed = torch.tensor([True, False])
    mean, cov = gauss.conditional(observed, torch.tensor([[1.5]], dtype=F64))
    known = torch.full((n, 2), float("nan"), dtype=F64)
    known[:, 0] = 1.5
    out = []
    for label, method, levels, options in METHODS:
        stats: dict = {}
        x = inpaint(
            gauss,
            known,
            observed,
            karras_sigmas(levels, 0.002, 10.0),
            method,
            seed=seed,
            stats=stats,
            **options,
        )[:, 1]
        out.append(
            {
                "data": "gaussian ρ=0.9",
                "method": label,
                "levels": levels,
                "nfe": stats["nfe"],
                "chains_per_row": options.get("particles", 1),
                "mean": float(x.mean()),
                "mean_exact": float(mean),
                "var": float(x.var()),
                "var_exact": float(cov),
                "mean_se": math.sqrt(float(cov) / n),
                "n": n,
            }
        )
    return out


def split_rows(n: int, seed: int, log=print) -> list[dict]:
    """The split posterior (ideal.split_posterior_mixture): the completions' mode frequencies
    against the exact p(k | y) (0.78 / 0.22), TV with its floor (TV of n exact draws' frequencies),
    per smc variant and for replace / repaint."""
    mix, observed, y = split_posterior_mixture()
    exact = mix.posterior_weights(observed, y[None])[0].numpy()
    known = torch.full((n, 10), float("nan"), dtype=F64)
    known[:, :5] = y
    draws = mix.sample_conditional(observed, y.expand(n, 5), torch.Generator().manual_seed(seed))
    floor = 0.5 * float(np.abs(_components(draws, mix) - exact).sum())
    rows = []
    variants = [(f"smc {v}", "smc", lv, o) for v, lv, o in SMC_VARIANTS] + [
        m for m in METHODS if m[1] != "smc"
    ]
    for label, method, levels, options in variants:
        stats: dict = {}
        t0 = time.perf_counter()
        x = inpaint(
            mix, known, observed, karras_sigmas(levels, 0.002, 20.0), method, seed=seed,
            stats=stats, **options,
        )  # fmt: skip
        freq = _components(x, mix)
        rows.append(
            {
                "data": "split posterior",
                "method": label,
                "levels": levels,
                "nfe": stats["nfe"],
                "chains_per_row": options.get("particles", 1),
                "weight_0": float(freq[0]),
                "weight_0_exact": float(exact[0]),
                "tv_weights": 0.5 * float(np.abs(freq - exact).sum()),
                "tv_floor": floor,
                "seconds": time.perf_counter() - t0,
                "n": n,
            }
        )
        r = rows[-1]
        log(
            f"split     {label:15s} {levels:3d} levels NFE {r['nfe']:4d} ×{r['chains_per_row']:3d}"
            f"  p(mode 0) {r['weight_0']:.3f} (exact {r['weight_0_exact']:.3f})  TV "
            f"{r['tv_weights']:.3f} (floor {floor:.3f})  {r['seconds']:.1f} s"
        )
    return rows


def inpainting(n: int = 2000, seed: int = 0, log=print, figure: str | None = None) -> dict:
    split = split_rows(n, seed, log)
    gaussian = gaussian_rows(n, seed)
    for r in gaussian:
        log(
            f"gaussian  {r['method']:13s} {r['levels']:3d} levels NFE {r['nfe']:4d}  "
            f"mean {r['mean']:+.3f} (exact {r['mean_exact']:+.3f} ± {r['mean_se']:.3f})  "
            f"var {r['var']:.3f} (exact {r['var_exact']:.3f})"
        )
    mixtures, panels = [], {}
    for name in CASES:
        for label, method, levels, options in METHODS:
            keep = (
                name == "8-gaussians"
                and levels == (18 if method == "replace" else 20 if method == "repaint" else 25)
                and options.get("jumps", 10) == 10
            )
            r = mixture_row(name, label, method, levels, options, n, seed, panels if keep else None)
            mixtures.append(r)
            log(
                f"{name:13s} {label:13s} {levels:3d} levels NFE {r['nfe']:4d} "
                f"×{r['chains_per_row']:2d}  TV {r['tv_weights']:.3f} (floor {r['tv_floor']:.3f})  "
                f"SW2 {r['sw2_ratio']:.2f}× floor  "
                f"{r['seconds']:.1f} s"
            )
    if figure:
        from .. import plots

        observed, exact = panels.pop("observed"), panels.pop("exact")
        plots.inpainting(
            observed,
            panels,
            figure,
            "8-gaussians, x₁ hidden: completions vs the exact conditional",
            exact=exact,
        )
    return {"split": split, "gaussian": gaussian, "mixtures": mixtures}


def guidance(
    run_dir: str, scales=(0.0, 1.0, 2.0, 3.0), n: int = 2000, seed: int = 0, log=print
) -> list[dict]:
    """Per class of a labelled toy-mixture run: class accuracy (nearest mode = the class) and SW2 ÷
    floor against that class's exact law, for each guidance scale w."""
    from ..run import load_run

    run = load_run(run_dir)
    mix = _mixture_of(run.config.data.spec)
    rows = []
    for w in scales:
        acc, ratios = [], []
        for k in range(run.config.data.num_classes):
            x = run.sample(n, seed=seed + k, cond=k, guidance=w)
            acc.append(
                float((torch.cdist(torch.from_numpy(x), mix.means).argmin(1) == k).double().mean())
            )
            ratios.append(run.evaluate(x, cls=k)["sw2"]["ratio"])
        rows.append(
            {
                "w": w,
                "accuracy": float(np.mean(acc)),
                "min_accuracy": float(np.min(acc)),
                "sw2_ratio_mean": float(np.mean(ratios)),
                "sw2_ratio_max": float(np.max(ratios)),
                "per_class_sw2_ratio": ratios,
            }
        )
        r = rows[-1]
        log(
            f"w = {w:g}: class accuracy {100 * r['accuracy']:.2f}% "
            f"(min {100 * r['min_accuracy']:.2f}%), per-class SW2 {r['sw2_ratio_mean']:.2f}× floor "
            f"(max {r['sw2_ratio_max']:.2f}×)"
        )
    return rows


def _mixture_of(spec: str) -> GaussianMixture:
    from ..data import get_toy

    mix = get_toy(spec).mixture
    if mix is None:
        from ..errors import DifflabError

        raise DifflabError(f"the guidance benchmark needs a toy mixture run, not {spec}")
    return mix


__all__ = ["inpainting", "guidance", "CASES", "METHODS"]
