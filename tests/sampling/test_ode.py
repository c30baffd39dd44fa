"""PF-ODE solvers against the closed-form flow of Gaussian data and the ideal mixture denoiser."""

import math

import numpy as np
import pytest
import torch

from difflab.data.toy import eight_gaussians, twentyfive_gaussians
from difflab.ideal import Gaussian
from difflab.metrics import sliced_wasserstein
from difflab.processes import EDM, VP, VPCosine, RectifiedFlow
from difflab.sampling import karras_sigmas, sample, solve

GAUSS = Gaussian(
    torch.tensor([1.0, -2.0], dtype=torch.float64),
    torch.tensor([[1.25, 0.69], [0.69, 0.53]], dtype=torch.float64),
)
SIGMA_HI, SIGMA_LO = 10.0, 0.02


def _errors(method, process, ns):
    x_T = GAUSS.sample(500, sigma=SIGMA_HI, generator=torch.Generator().manual_seed(0))
    exact = GAUSS.pf_ode_solution(x_T, SIGMA_HI, SIGMA_LO)
    return [
        float(
            (
                solve(
                    GAUSS, x_T, karras_sigmas(n, SIGMA_LO, SIGMA_HI)[:-1], method, process=process
                )
                - exact
            )
            .abs()
            .max()
        )
        for n in ns
    ]


def _slope(ns, errs):
    return -np.polyfit(np.log(ns), np.log(errs), 1)[0]


@pytest.mark.parametrize(
    "process", [EDM(), VP(), VPCosine(), RectifiedFlow()], ids=lambda p: p.name
)
@pytest.mark.parametrize("method,order", [("euler", 1), ("heun", 2)])
def test_order_of_convergence(method, order, process):
    """Error ∝ h^order: halving the step divides the error by ~2^order, in any process's time."""
    ns = [16, 32, 64, 128]
    errs = _errors(method, process, ns)
    assert _slope(ns, errs) == pytest.approx(order, abs=0.15)
    assert errs[-1] < errs[0]


def test_heun_gaussian_mean_and_covariance():
    """From the exact marginal at σ_max = 80, Heun with 100 steps lands on N(μ, Σ).

    (With 18 steps the small eigen-direction's variance is still 8% off: discretisation, not
    noise.)"""
    n = 40_000
    x_T = GAUSS.sample(n, sigma=80.0, generator=torch.Generator().manual_seed(1))
    stats = {}
    x = sample(GAUSS, x_T, karras_sigmas(100, 0.002, 80.0), stats=stats)
    assert stats["nfe"] == 199
    se = torch.sqrt(torch.diagonal(GAUSS.cov) / n)
    assert (torch.abs(x.mean(0) - GAUSS.mean) < 4 * se).all()
    # the ODE is a deterministic map of an exact Gaussian sample, so the covariance error is
    # statistical
    assert torch.allclose(torch.cov(x.T), GAUSS.cov, atol=4 * math.sqrt(2 / n) * 1.25)


@pytest.mark.parametrize(
    "mixture,sigma_max", [(eight_gaussians(), 80.0), (twentyfive_gaussians(), 10.0)]
)
def test_heun_35_nfe_on_mixtures_is_at_the_noise_floor(mixture, sigma_max):
    """SW2(samples, exact) within 1.5× of SW2(exact, exact), averaged over 6 reference sets."""
    n = 10_000
    refs = [
        mixture.sample(n, generator=torch.Generator().manual_seed(100 + k)).numpy()
        for k in range(6)
    ]
    floor = np.mean([sliced_wasserstein(refs[k], refs[(k + 1) % 6]) for k in range(6)])
    var = float(
        ((mixture.means - mixture.means.mean(0)) ** 2).sum(1).mean() / 2 + mixture.stds[0] ** 2
    )
    x_T = torch.randn(n, 2, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    x_T = x_T * math.sqrt(sigma_max**2 + var)
    stats = {}
    x = sample(mixture, x_T, karras_sigmas(18, 0.002, sigma_max), stats=stats).numpy()
    value = np.mean([sliced_wasserstein(x, r) for r in refs])
    assert stats["nfe"] == 35
    assert value < 1.5 * floor
    # and the check can fail: 3 Euler steps are far from the floor
    bad = sample(mixture, x_T, karras_sigmas(3, 0.002, sigma_max), method="euler").numpy()
    assert np.mean([sliced_wasserstein(bad, r) for r in refs]) > 3 * floor


def test_step_to_zero_is_the_denoiser():
    x = torch.randn(10, 2, dtype=torch.float64)
    out = sample(GAUSS, x, torch.tensor([3.0, 0.0], dtype=torch.float64), method="euler")
    assert torch.allclose(out, GAUSS(x, 3.0))
