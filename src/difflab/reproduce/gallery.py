"""The 2-D and 3-D pictures: EDM on a torus, and every preset on the toy sets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..data.toy import TOY_SETS, torus_distance
from ..presets import PRESETS
from ..training import ModelConfig
from . import figures
from .common import train_recipe

GALLERY_DATA = ("moons", "swiss-roll", "8-gaussians", "checkerboard")
# trained from data and sampled on their PF-ODE: not a student (it needs a teacher), not a
# consistency model (its own sampler only)
TRAINED = {name: p for name, p in PRESETS.items() if not (p.distils or p.consistency)}


def torus(out: Path, quick: bool, seed: int = 0, log=print) -> dict:
    """EDM maps a 3-D Gaussian onto a 2-D surface: samples' distance to the torus (R = 2, r =
    0.5)."""
    data = TOY_SETS["torus"].sample(50_000, seed=seed).numpy()
    run = train_recipe(
        data,
        PRESETS["edm"],
        out / "model",
        4500 if quick else 40_000,
        seed,
        standardise=True,
        data_spec="torus",
        log=log,
    )
    n = 5000
    x = run.sample(n, steps=32, seed=seed)
    dist = torus_distance(torch.from_numpy(x)).numpy()
    # a 'near miss' scale: the distance of exact samples perturbed by σ = 0.05 (what the final
    # noise levels of a sampler would leave behind)
    exact = TOY_SETS["torus"].sample(n, seed=seed + 1).numpy()
    blur = torus_distance(
        torch.from_numpy(exact + 0.05 * np.random.default_rng(seed).standard_normal(exact.shape))
    ).numpy()
    figures.torus_views(
        x,
        dist,
        out / "torus.png",
        title="EDM on a torus: 3-D Gaussian → 2-D surface (Heun, 63 NFE)",
    )
    numbers = {
        "n": n,
        "mean_distance": float(dist.mean()),
        "median_distance": float(np.median(dist)),
        "within_0.1": float((dist < 0.1).mean()),
        "mean_distance_exact_plus_0.05_noise": float(blur.mean()),
        "metrics": run.evaluate(x)["sw2"],
    }
    log(
        f"  torus: mean distance to the surface {numbers['mean_distance']:.4f} (exact points + "
        "N(0, 0.05²): "
        f"{numbers['mean_distance_exact_plus_0.05_noise']:.4f}); "
        f"{100 * numbers['within_0.1']:.1f}% within 0.1"
    )
    return numbers


def toy_gallery(out: Path, quick: bool, seed: int = 0, log=print) -> dict:
    """Every preset on moons, swiss roll, 8 Gaussians and checkerboard, SW2 vs floor in each
    panel."""
    steps = 400 if quick else 2500
    model = ModelConfig(width=64, depth=2) if quick else ModelConfig()
    n = 2000 if quick else 5000
    panels, numbers = {}, {}
    for data_name in GALLERY_DATA:
        data = TOY_SETS[data_name].sample(50_000, seed=seed).numpy()
        panels[(data_name, "data")] = {"x": TOY_SETS[data_name].sample(n, seed=seed + 1).numpy()}
        for name, preset in TRAINED.items():
            run = train_recipe(
                data,
                preset,
                out / "models" / f"{data_name}-{name}",
                steps,
                seed,
                standardise=True,
                model=model,
                data_spec=data_name,
                log=lambda *_: None,
            )
            x = run.sample(n, steps=18, seed=seed)
            ratio = run.evaluate(x)["sw2"]["ratio"]
            panels[(data_name, name)] = {"x": x, "sw2_ratio": ratio}
            numbers[f"{data_name}/{name}"] = ratio
        log(
            f"  {data_name}: "
            + ", ".join(f"{p} {numbers[f'{data_name}/{p}']:.2f}×" for p in TRAINED)
        )
    figures.gallery(panels, out / "gallery.png")
    return {"sw2_ratio": numbers, "train_steps": steps, "n": n}
