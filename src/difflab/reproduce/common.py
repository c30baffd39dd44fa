"""What the experiments share: budgets, training a recipe in place, distances to U[0, 1]."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch

from ..losses import DiscreteT
from ..presets import Preset, get_preset
from ..random import randn_per_sample
from ..run import Run
from ..sampling import sample, solve
from ..training import ModelConfig, TrainConfig, TrainingData, train


def lecture_presets() -> dict[str, Preset]:
    """VP, VE and EDM as in the lecture's comparison: each recipe with its own σ range (not cut at
    the data's), VP and VE with 100 discrete noise levels (VP: DDPM with ᾱ_100 = e^-10,
    ε-prediction)."""
    fixed = {"sigma_max_from_data": False}
    return {
        "VP": dataclasses.replace(get_preset("ddpm"), noise=DiscreteT(levels=100), **fixed),
        "VE": dataclasses.replace(get_preset("ncsn"), **fixed),
        "EDM": dataclasses.replace(get_preset("edm"), **fixed),
    }


def train_recipe(
    data: np.ndarray,
    preset: Preset,
    out: Path,
    steps: int,
    seed: int = 0,
    standardise: bool = False,
    model: ModelConfig = ModelConfig(),
    data_spec: str = "array",
    log=print,
) -> Run:
    """Train `preset` on `data` for `steps` optimiser steps (a step budget, so the numbers are the
    same on any CPU) into `out` and load it back with the same recipe; data_spec (a toy set's name)
    is where evaluation draws its exact reference sets."""
    train(
        TrainingData(data, spec=data_spec, standardise=standardise),
        preset,
        out,
        TrainConfig(steps=steps, seed=seed),
        model,
        force=True,
        progress=True,  # a bar on stderr: the full budgets take minutes
        log=lambda *_: None,
    )
    run = Run.load(out, preset=preset)
    log(f"  trained {preset.name} for {steps} steps")
    return run


def ks_uniform(x: np.ndarray) -> float:
    """Kolmogorov–Smirnov statistic sup |F_n - F| against U[0, 1]."""
    x = np.sort(np.asarray(x, dtype=float).ravel())
    n = len(x)
    cdf = np.clip(x, 0.0, 1.0)
    i = np.arange(1, n + 1)
    return float(max(np.max(i / n - cdf), np.max(cdf - (i - 1) / n)))


def w1_uniform(x: np.ndarray) -> float:
    """Wasserstein-1 distance to U[0, 1]: ∫₀¹ |F_n⁻¹(u) - u| du, exact for the empirical
    quantiles."""
    x = np.sort(np.asarray(x, dtype=float).ravel())
    n = len(x)
    a, b = np.arange(n) / n, np.arange(1, n + 1) / n
    below = x <= a  # x_i left of its quantile bin [a, b]: ∫(u - x) du
    above = x >= b
    inside = (b * b - a * a) / 2
    val = np.where(
        below,
        inside - x * (b - a),
        np.where(above, x * (b - a) - inside, ((x - a) ** 2 + (b - x) ** 2) / 2),
    )
    return float(val.sum())


def densities(columns: list[np.ndarray], edges: np.ndarray) -> np.ndarray:
    """Histogram densities [bins, columns] of each 1-D sample set on common bin edges."""
    return np.stack(
        [
            np.histogram(np.ravel(c), bins=edges, density=False)[0]
            / (len(np.ravel(c)) * np.diff(edges))
            for c in columns
        ],
        axis=1,
    )


def sample_path(
    denoiser, x: torch.Tensor, sigmas: torch.Tensor, method: str, process=None, seed: int = 0
) -> torch.Tensor:
    """Every intermediate state x̂_i along the grid [len(sigmas), *x.shape], by running a one-step
    sampler on each pair (σ_i, σ_{i+1}); step i draws its noise from stream i + 1 of `seed`. Only
    for one-step methods (Euler, DDPM, Euler–Maruyama): a multistep method would restart at every
    pair."""
    states = [x]
    n = x.shape[0]
    for i in range(len(sigmas) - 1):
        pair = sigmas[i : i + 2]
        shape = tuple(x.shape[1:])
        noise = lambda _k, i=i: randn_per_sample(seed, 0, n, shape, stream=i + 1).to(x)  # noqa: E731
        step = sample if pair[-1] == 0 else solve
        x = step(denoiser, x, pair, method, process=process, noise=noise)
        states.append(x)
    return torch.stack(states)
