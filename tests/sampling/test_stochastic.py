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


def test_pc_gives_every_inner_draw_its_own_noise():
    """A predictor that draws several times per step (Langevin) must not reuse one vector."""
    from difflab.sampling.sde import predictor_corrector

    keys = []

    def noise(key):
        keys.append(key)
        return torch.randn(4, 2, generator=torch.Generator().manual_seed(key))

    sigmas = karras_sigmas(6, 0.01, 10.0)
    predictor_corrector(
        GAUSS,
        torch.zeros(4, 2, dtype=torch.float64),
        sigmas,
        noise=noise,
        predictor="langevin",
        steps_per_level=3,
        epsilon=1e-5,
        corrector_steps=2,
    )
    assert len(keys) == len(set(keys)) > 6 * 3


def test_pc_edm_stochastic_churns_by_s_churn_over_the_whole_grid():
    """With D(x) = x the ODE steps stand still, so x gains exactly Σ_i sqrt(σ̂_i² − σ_i²)·z_i with
    σ̂_i = σ_i(1 + γ), γ = min(S_churn/N, √2 − 1) for the grid's N (EDM Alg. 2), z_i = 1 here."""
    from difflab.sampling.sde import predictor_corrector

    sigmas = karras_sigmas(10, 0.002, 80.0).double()
    n, churn = len(sigmas) - 1, 3.0
    gamma = min(churn / n, math.sqrt(2) - 1)  # 0.3, not √2 − 1 = 0.414 as on a 2-point grid
    want = sum(float(s) * math.sqrt((1 + gamma) ** 2 - 1) for s in sigmas[:-1])
    out = predictor_corrector(
        lambda x, s: x,
        torch.zeros(1, 1, dtype=torch.float64),
        sigmas,
        noise=lambda _k: torch.ones(1, 1, dtype=torch.float64),
        predictor="edm-stochastic",
        corrector_steps=0,
        s_churn=churn,
    )
    assert float(out) == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize("eta", [-0.1, 1.5])
def test_eta_outside_unit_interval_is_refused(eta):
    from difflab.errors import DifflabError
    from difflab.sampling.sde import ancestral_sigmas

    with pytest.raises(DifflabError, match="eta must lie in"):
        ancestral_sigmas(2.0, 1.0, eta)
