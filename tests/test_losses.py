"""The DSM loss against closed forms for Gaussian data."""

import pytest
import torch
from helpers import IdealNet

from difflab.ideal import Gaussian
from difflab.losses import DiscreteT, LogNormal, UniformT, dsm_loss, weight
from difflab.parameterisation import FORMS, Denoiser
from difflab.processes import VP

V = 0.7  # data variance per dimension
GAUSS = Gaussian(torch.zeros(3, dtype=torch.float64), V * torch.eye(3, dtype=torch.float64))


@pytest.mark.parametrize("form", FORMS)
def test_ideal_denoiser_loss_is_the_posterior_variance(form):
    """With λ = 1, E||D*(x0 + σn; σ) - x0||²/d = Var(x0 | x̂) = Vσ²/(V + σ²) for Gaussian data."""
    precond = FORMS[form](sigma_data=1.0)
    d = Denoiser(IdealNet(precond, GAUSS), precond)
    g = torch.Generator().manual_seed(0)
    n = 200_000
    for sigma in [0.1, 1.0, 5.0]:
        x0 = GAUSS.sample(n, generator=g)
        noise = torch.randn(n, 3, generator=g, dtype=torch.float64)
        s = torch.full((n,), sigma, dtype=torch.float64)
        loss = dsm_loss(d, x0, s, noise, weighting="uniform").mean()
        assert float(loss) == pytest.approx(V * sigma**2 / (V + sigma**2), rel=0.01)


def test_target_weighting_is_one_over_c_out_squared():
    sigma = torch.tensor([0.1, 1.0, 10.0])
    assert torch.allclose(weight("target", FORMS["eps"](), sigma), 1 / sigma**2)
    assert torch.allclose(weight("target", FORMS["x0"](), sigma), torch.ones(3))
    edm = FORMS["edm"](sigma_data=0.5)
    assert torch.allclose(
        weight("target", edm, sigma), (sigma**2 + 0.25) / (sigma * 0.5) ** 2
    )  # EDM λ(σ)


def test_noise_distributions():
    g = torch.Generator().manual_seed(0)
    s = LogNormal(-1.2, 1.2).sample(200_000, VP(), g)
    assert float(torch.log(s).mean()) == pytest.approx(-1.2, abs=0.01)
    assert float(torch.log(s).std()) == pytest.approx(1.2, abs=0.01)
    p = VP()
    s = UniformT().sample(200_000, p, g).double()
    t = p.t_of_sigma(s)
    assert float(t.mean()) == pytest.approx((p.t_min + p.t_max) / 2, abs=0.003)
    levels = DiscreteT(levels=10).sigmas(p)
    s = DiscreteT(levels=10).sample(10_000, p, g).double()
    assert torch.isin(s.float(), levels.float()).all() and len(torch.unique(s)) == 10
    assert float(levels[-1]) == pytest.approx(p.sigma_max)


def test_likelihood_weighting_is_the_continuous_diffusion_loss():
    """`--weighting vlb`: σ log-uniform on [lo, hi] and λ = 1/σ² make D·ln(hi/lo) times the mean
    DSM loss of the exact denoiser equal to VDM's diffusion loss ∫σ⁻³E‖D − x0‖²dσ, whose
    expectation over x0 ~ N(0, V I) is (D/2)·ln[(hi²/(V + hi²))·((V + lo²)/lo²)]."""
    import math

    from difflab.presets import get_preset

    preset = get_preset("edm").adapt(1.0, 80.0).likelihood_weighted()
    lo, hi = preset.noise.lo, preset.noise.hi
    precond = preset.precond
    d = Denoiser(IdealNet(precond, GAUSS), precond)
    g = torch.Generator().manual_seed(0)
    n = 400_000
    x0 = GAUSS.sample(n, generator=g)
    sigma = preset.noise.sample(n, preset.process, g).double()
    noise = torch.randn(n, 3, generator=g, dtype=torch.float64)
    per = dsm_loss(d, x0, sigma, noise, weighting=preset.weighting) * 3 * math.log(hi / lo)
    exact = 1.5 * math.log(hi**2 / (V + hi**2) * (V + lo**2) / lo**2)
    se = float(per.std()) / math.sqrt(n)
    assert abs(float(per.mean()) - exact) < 4 * se, (float(per.mean()), exact, se)
