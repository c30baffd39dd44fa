"""Seed 001's autoregressive example on sequences: a WaveNet (dilated causal convolutions) learns
a noisy damped oscillation — an AR(2) process x_t = a₁x_{t−1} + a₂x_{t−2} + e_t, the
discretised stochastic damped oscillator, whose exact log-density is known — and shows samples, the
autocorrelation and its receptive field (which past values each output sees, by autograd)."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import torch

from ..autoregressive import WaveNet
from ..models import ModelConfig
from ..run import FlowRun
from ..training import TrainConfig, train

LENGTH, RADIUS, PERIOD = 64, 0.95, 16.0  # sequence length; damping and period of the AR(2) roots
BUDGET = {"steps": 1500, "quick": 150}


def ar2_coefficients(radius: float = RADIUS, period: float = PERIOD) -> tuple[float, float]:
    """Roots r·e^{±iω} of z² − a₁z − a₂: a₁ = 2r cos ω, a₂ = −r² (ω = 2π/period)."""
    omega = 2 * math.pi / period
    return 2 * radius * math.cos(omega), -(radius**2)


def ar2_autocovariance(a1: float, a2: float, length: int) -> np.ndarray:
    """γ(0…T−1) of the stationary AR(2) with unit innovations (Yule–Walker: ρ₁ = a₁/(1 − a₂),
    γ₀ = 1/(1 − a₁ρ₁ − a₂ρ₂), γ_k = a₁γ_{k−1} + a₂γ_{k−2})."""
    rho1 = a1 / (1 - a2)
    rho2 = a1 * rho1 + a2
    gamma = np.empty(length)
    gamma[0] = 1 / (1 - a1 * rho1 - a2 * rho2)
    gamma[1] = rho1 * gamma[0]
    for k in range(2, length):
        gamma[k] = a1 * gamma[k - 1] + a2 * gamma[k - 2]
    return gamma


def ar2_law(length: int = LENGTH) -> torch.distributions.MultivariateNormal:
    """The exact law of T consecutive values: N(0, Toeplitz(γ))."""
    gamma = ar2_autocovariance(*ar2_coefficients(), length)
    lags = np.abs(np.subtract.outer(np.arange(length), np.arange(length)))
    cov = torch.tensor(gamma[lags], dtype=torch.float64)
    return torch.distributions.MultivariateNormal(torch.zeros(length, dtype=torch.float64), cov)


def acf_gamma0() -> float:
    """The process's variance γ(0)."""
    return float(ar2_autocovariance(*ar2_coefficients(), 2)[0])


def autocorrelation(x: np.ndarray) -> np.ndarray:
    """Mean over positions of corr(x_t, x_{t+k}), k = 0…T−1 (the stationary estimate)."""
    x = x - x.mean(0)
    cov = x.T @ x / len(x)
    return np.array([np.mean(np.diagonal(cov, k)) for k in range(x.shape[1])]) / np.mean(
        np.diagonal(cov)
    )


def receptive_map(model: WaveNet, length: int) -> np.ndarray:
    """[t, s]: whether p(x_t | ·) depends on x_s (autograd through the network, random x)."""
    x = torch.randn(length)
    jac = torch.autograd.functional.jacobian(lambda v: model.params(v[None])[0], x)
    return (jac.abs().sum(1) > 0).numpy()


def sequences(out: Path, quick: bool, seed: int = 0, log=print) -> dict:
    law = ar2_law()
    n = 5000 if quick else 20_000
    data = draw_sequences(law, n, seed)
    model = ModelConfig(type="wavenet", channels=32, layers=6, components=4)
    steps = BUDGET["quick" if quick else "steps"]
    start = time.perf_counter()
    cfg = TrainConfig(steps=steps, batch_size=256, seed=seed)
    train(data, "edm", out / "run", cfg, model, force=True, log=lambda *_: None)
    train_s = time.perf_counter() - start
    run = FlowRun.load(out / "run")
    log(f"  trained a WaveNet (receptive field {run.flow.receptive_field}) for {steps} steps")
    test = draw_sequences(law, 2000, seed + 1)
    lp = run.log_prob(test)
    true_lp = law.log_prob(torch.from_numpy(test).double()).numpy()
    numbers = _sampling(run, 1000 if quick else 2000, seed)
    samples = numbers.pop("samples")
    acf = {"data": autocorrelation(test), "samples": autocorrelation(samples)}
    acf["exact"] = ar2_autocovariance(*ar2_coefficients(), LENGTH)
    acf["exact"] = acf["exact"] / acf["exact"][0]
    narrow = WaveNet(LENGTH, channels=8, blocks=4)  # R = 16: the band a shallower stack sees
    maps = {f"{len(d)} blocks, R = {r.receptive_field}": receptive_map(r, LENGTH)
            for d, r in [(run.flow.dilations, run.flow), (narrow.dilations, narrow)]}  # fmt: skip
    _figures(out, test, samples, acf, maps)
    gap = true_lp - lp
    return {
        "receptive_field": run.flow.receptive_field,
        "train_seconds": train_s,
        "nll_per_sequence": float(-lp.mean()),
        "true_nll_per_sequence": float(-true_lp.mean()),
        "gap_nats": float(gap.mean()),
        "gap_se": float(gap.std(ddof=1) / math.sqrt(len(gap))),
        "acf_max_error_samples": float(np.abs(acf["samples"] - acf["exact"]).max()),
        "acf_max_error_data": float(np.abs(acf["data"] - acf["exact"]).max()),
        "variance_ratio_samples": float(samples.var(0).mean() / acf_gamma0()),
        "variance_ratio_data": float(test.var(0).mean() / acf_gamma0()),
        **numbers,
    }


def draw_sequences(law, n: int, seed: int) -> np.ndarray:
    """n sequences of the law, float32, from a seeded generator (x = L z, Σ = LLᵀ)."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, law.loc.shape[0], generator=g, dtype=torch.float64)
    return (z @ law.scale_tril.T).float().numpy()


def _sampling(run: FlowRun, n: int, seed: int) -> dict:
    """Samples with the cache, and the time per 1,000 with and without it (recomputing, on 50)."""
    start = time.perf_counter()
    samples = run.sample(n, seed=seed)
    cached = (time.perf_counter() - start) * 1000 / n
    z = torch.randn(50, LENGTH, generator=torch.Generator().manual_seed(seed))
    start = time.perf_counter()
    with torch.no_grad():
        run.flow.sample(z, cache=False)
    uncached = (time.perf_counter() - start) * 1000 / 50
    return {
        "samples": samples,
        "sample_seconds_per_1000_cached": cached,
        "sample_seconds_per_1000_recomputed": uncached,
    }


def _figures(out: Path, data, samples, acf: dict, maps: dict) -> None:
    from ..plots import _save, plt

    fig, axes = plt.subplots(1, 2 + len(maps), figsize=(5 * (2 + len(maps)), 4))
    for i in range(3):
        axes[0].plot(data[i], color="tab:blue", alpha=0.7, lw=1, label="data" if i == 0 else None)
        axes[0].plot(samples[i], color="tab:orange", alpha=0.7, lw=1,
                     label="WaveNet" if i == 0 else None)  # fmt: skip
    axes[0].set(title="sequences", xlabel="t", ylabel="x_t")
    axes[0].legend()
    for name, style in [("exact", "k-"), ("data", "b--"), ("samples", "r:")]:
        axes[1].plot(acf[name], style, label=name)
    axes[1].set(title="autocorrelation", xlabel="lag k", ylabel="corr(x_t, x_{t+k})")
    axes[1].legend()
    for ax, (name, rmap) in zip(axes[2:], maps.items()):
        ax.imshow(rmap, cmap="Greys", origin="upper", interpolation="nearest")
        ax.set(title=f"p(x_t | ·) depends on x_s: {name}", xlabel="s", ylabel="t")
    _save(fig, out / "sequences.png")
