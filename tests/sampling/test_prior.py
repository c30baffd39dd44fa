"""Where class-conditional chains start, against closed forms: the class flow's marginal at σ_max
is N(m_c, Σ_c + σ_max² I); a guided flow's is measured by the pilot and must give the same output
as the same guided ODE started at σ = 500, where the start's centre no longer matters."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from difflab.data import Standardiser
from difflab.ideal import GaussianMixture
from difflab.models import ModelConfig
from difflab.presets import get_preset
from difflab.run import Run
from difflab.runconfig import DataInfo, RunConfig
from difflab.sampling import karras_sigmas, sample
from difflab.sampling.guidance import cfg
from difflab.sampling.prior import GaussianStart, class_start, flow_start, guided_limit_start

F64 = torch.float64
# the two standardised 1-D classes: m_c = ±1, σ_c = 0.07, σ_max = 2.4
TWO = GaussianMixture(
    torch.tensor([[1.0], [-1.0]], dtype=F64), torch.full((2,), 0.07, dtype=F64), torch.ones(2) / 2
)
SIGMA_MAX, N = 2.4, 20_000


def _z(n: int, seed: int, d: int = 1) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=F64)


def test_gaussian_start_samples_and_scores_its_law():
    cov = torch.tensor([[[1.0, 0.6], [0.6, 0.5]], [[2.0, -0.3], [-0.3, 0.4]]], dtype=F64)
    table = GaussianStart(torch.tensor([[1.0, -2.0], [0.0, 3.0]], dtype=F64), cov)
    index = torch.tensor([1, 0, 1, 1])
    x = _z(4, 0, 2)
    exact = torch.distributions.MultivariateNormal(table.mean[index], cov[index]).log_prob(x)
    assert torch.allclose(table.log_prob(x, index), exact, atol=1e-12)
    draws = table.sample(_z(200_000, 1, 2), torch.ones(200_000, dtype=torch.long))
    assert torch.allclose(draws.mean(0), table.mean[1], atol=0.01)
    assert torch.allclose(torch.cov(draws.T), cov[1], atol=0.02)
    diagonal = GaussianStart(table.mean, torch.tensor([[1.0, 0.5], [2.0, 0.4]], dtype=F64))
    exact = torch.distributions.Normal(diagonal.mean[index], diagonal.cov[index].sqrt())
    assert torch.allclose(diagonal.log_prob(x, index), exact.log_prob(x).sum(1), atol=1e-12)


def _se_std(x: torch.Tensor) -> float:
    """Standard error of a sample's std from its fourth moment (w = 0.5's output is bimodal)."""
    c = x - x.mean()
    var = float(c.square().mean())
    return math.sqrt((float(c.pow(4).mean()) - var**2) / len(x)) / (2 * math.sqrt(var))


def _reference(w: float) -> torch.Tensor:
    """The guided ODE from σ = 500 (its start's centre and spread no longer matter there)."""
    x = TWO.means[0] + 500.0 * _z(N, 2)
    return sample(cfg(TWO, 0, w), x, karras_sigmas(256, 0.002, 500.0), "heun")


def _from(start: torch.Tensor, w: float) -> torch.Tensor:
    return sample(cfg(TWO, 0, w), start, karras_sigmas(64, 0.002, SIGMA_MAX), "heun")


@pytest.mark.parametrize("w", [0.5, 1.0, 2.0, 4.0])
def test_class_start_matches_the_guided_flow_from_far_above(w):
    """The output's mean and std within 3 s.e. of the flow from σ = 500; the old start
    N(min(w, 1)·m_c, σ_max² + σ_data²) is far outside at w = 1 (std), 2 and 4 (mean)."""
    ref = _reference(w)
    if w == 1.0:
        start = class_start(TWO.means, (TWO.stds**2)[:, None, None], SIGMA_MAX)
    else:
        start = flow_start(cfg(TWO, 0, w), TWO.means[:1], _z(512, 3), SIGMA_MAX, full=True)
    out = _from(start.sample(_z(N, 4)), w)
    se_mean, se_std = math.sqrt(2 / N) * float(ref.std()), math.sqrt(2) * _se_std(ref)
    assert abs(float(out.mean() - ref.mean())) < 3 * se_mean
    assert abs(float(out.std() - ref.std())) < 3 * se_std
    old = _from(min(w, 1.0) * TWO.means[0] + math.sqrt(SIGMA_MAX**2 + 1) * _z(N, 4), w)
    if w >= 1:
        mean_off = abs(float(old.mean() - ref.mean())) / se_mean
        assert max(mean_off, abs(float(old.std() - ref.std())) / se_std) > 6


def _exact_run(tmp_path: Path, mixture: GaussianMixture, sigma_max: float) -> Run:
    """A Run whose denoiser is the exact class-conditional one of `mixture` (each component a
    class), with the class moments a trained run stores."""
    k, d = mixture.means.shape

    class Exact(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.anchor = torch.nn.Parameter(torch.zeros(()))  # gives the run a device

        def forward(self, x, sigma, cond=None):
            return mixture.to(x.dtype)(x, sigma, cond)

    stds = mixture.stds.tolist()
    data = DataInfo(
        spec="array",
        n=1000,
        shape=(d,),
        standardiser=Standardiser.identity(d).to_dict(),
        classes=[f"c{i}" for i in range(k)],
        labels="component",
        class_means=mixture.means.tolist(),
        class_covs=[(s**2 * np.eye(d)).tolist() for s in stds],
    )
    config = RunConfig("edm", 1.0, sigma_max, data, ModelConfig(num_classes=k))
    preset = get_preset("edm").adapt(1.0, sigma_max)
    return Run(tmp_path, config, Standardiser.identity(d), preset, Exact())


def test_a_narrow_class_comes_out_at_its_own_width(tmp_path):
    """The issue's table: a narrow class (sd 0.15) beside a wide one (sd 0.6), σ_max 1.43 as a
    run derives it: `sample(cond=narrow)` has sd 0.15 (it had 0.31 from the σ_data² start), and
    per-sample classes draw each class at its own width."""
    mix = GaussianMixture(
        torch.tensor([[1.2, 0.4], [-1.2, -0.4]], dtype=F64),
        torch.tensor([0.15, 0.6], dtype=F64),
        torch.ones(2, dtype=F64) / 2,
    )
    run = _exact_run(tmp_path, mix, 1.43)
    n = 8000
    narrow = run.sample(n, steps=40, cond="c0")
    se = 0.15 / math.sqrt(2 * n)
    assert np.abs(narrow.std(0) - 0.15).max() < 4 * se
    assert np.abs(narrow.mean(0) - [1.2, 0.4]).max() < 4 * 0.15 / math.sqrt(n)
    both = run.sample(n, steps=40, cond=["c0", "c1"] * (n // 2))
    assert np.abs(both[1::2].std(0) - 0.6).max() < 4 * 0.6 / math.sqrt(2 * n / 2)
    assert np.abs(both[::2].std(0) - 0.15).max() < 4 * 0.15 / math.sqrt(2 * n / 2)


def test_guided_run_is_independent_of_batching_and_w0_stays_unconditional(tmp_path):
    run = _exact_run(tmp_path, TWO, SIGMA_MAX)
    a = run.sample(300, steps=10, cond=0, guidance=2.0, seed=7)
    b = run.sample(300, steps=10, cond=0, guidance=2.0, seed=7, batch_size=64)
    assert np.array_equal(a, b)
    plain = run.sample(300, steps=10, unconditional=True, seed=7)
    assert np.array_equal(plain, run.sample(300, steps=10, cond=0, guidance=0.0, seed=7))


def test_the_large_sigma_limit_agrees_with_the_pilot_where_images_use_it():
    """Images (σ_max ≫ the data) start guided chains from m_∅ + w(m_c − m_∅) with the class's
    spread instead of a pilot: at σ_max = 60 within 0.03 of the pilot's mean and 0.1% of its
    variance (the output moves by ~σ_c/σ_max of that); at the vectors' σ_max = 2.4 it is 0.6 off."""
    for sigma_max, close in [(60.0, True), (2.4, False)]:
        table = class_start(TWO.means, (TWO.stds**2)[:, None, None], sigma_max)
        limit = guided_limit_start(table, 4.0)
        pilot = flow_start(cfg(TWO, 0, 4.0), TWO.means[:1], _z(512, 3), sigma_max, full=True)
        gap = abs(float(limit.mean[0] - pilot.mean[0]))
        if close:
            assert gap < 0.03 and abs(float(limit.cov[0] / pilot.cov[0]) - 1) < 1e-3
        else:
            assert gap > 0.5
