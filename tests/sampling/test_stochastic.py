"""Stochastic samplers with the ideal denoiser of Gaussian data reproduce its mean and covariance."""

import math

import pytest
import torch

from difflab.ideal import Gaussian
from difflab.processes import VP
from difflab.sampling import karras_sigmas, sample

GAUSS = Gaussian(
    torch.tensor([1.0, -2.0], dtype=torch.float64),
    torch.tensor([[1.0, 0.4], [0.4, 0.5]], dtype=torch.float64),
)
N = 20_000
SIGMA_MAX = 40.0


@pytest.mark.parametrize(
    "method,steps,opts",
    [
        ("ddpm", 200, {}),
        ("ddim", 200, {"eta": 0.5}),
        ("euler-maruyama", 400, {}),
        ("euler-maruyama", 400, {"process": VP()}),
        ("edm-stochastic", 60, {"s_churn": 40.0, "s_tmin": 0.05, "s_tmax": 50.0, "s_noise": 1.0}),
        ("langevin", 60, {"steps_per_level": 10, "epsilon": 1e-4}),
        ("pc", 100, {"predictor": "ddpm", "corrector_steps": 1, "snr": 0.16}),
    ],
)
def test_moments(method, steps, opts):
    x_T = GAUSS.sample(N, sigma=SIGMA_MAX, generator=torch.Generator().manual_seed(1))
    sigmas = karras_sigmas(steps, 0.01 if method == "langevin" else 0.002, SIGMA_MAX)
    x = sample(GAUSS, x_T, sigmas, method, seed=2, **opts)
    se_mean = torch.sqrt(torch.diagonal(GAUSS.cov) / N)
    assert (torch.abs(x.mean(0) - GAUSS.mean) < 5 * se_mean).all(), x.mean(0)
    # covariance: statistical error ~ sqrt(2/N)·scale; allow 10% for the schemes' discretisation bias
    assert torch.allclose(
        torch.cov(x.T), GAUSS.cov, atol=0.1 * float(GAUSS.cov.abs().max()) + 5 * math.sqrt(2 / N)
    ), torch.cov(x.T)


def test_stochastic_samplers_are_seeded():
    x_T = GAUSS.sample(100, sigma=10.0, generator=torch.Generator().manual_seed(1))
    s = karras_sigmas(10, 0.01, 10.0)
    a, b = sample(GAUSS, x_T, s, "ddpm", seed=3), sample(GAUSS, x_T, s, "ddpm", seed=3)
    assert torch.equal(a, b) and not torch.equal(a, sample(GAUSS, x_T, s, "ddpm", seed=4))
