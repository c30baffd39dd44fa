"""Every parameterisation reproduces the same ideal denoiser, and its network target matches the
quantity its paper says the network predicts (ε, x0, v, score·σ, velocity)."""

import pytest
import torch
from helpers import IdealNet

from difflab.ideal import Gaussian
from difflab.parameterisation import FORMS, Denoiser, network_target

GAUSS = Gaussian(
    torch.tensor([0.5, -1.0], dtype=torch.float64),
    torch.tensor([[1.0, 0.4], [0.4, 0.8]], dtype=torch.float64),
)


def _batch(n=256, seed=0):
    g = torch.Generator().manual_seed(seed)
    sigma = torch.exp(torch.randn(n, generator=g, dtype=torch.float64) * 1.5)
    x = GAUSS.mean + torch.randn(n, 2, generator=g, dtype=torch.float64) * (1 + sigma[:, None])
    return x, sigma


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("sigma_data", [1.0, 0.5])
def test_round_trip_to_the_ideal_denoiser(form, sigma_data):
    precond = FORMS[form](sigma_data=sigma_data)
    d = Denoiser(IdealNet(precond, GAUSS), precond)
    x, sigma = _batch()
    assert torch.allclose(d(x, sigma), GAUSS(x, sigma), rtol=1e-9, atol=1e-9)


def test_targets_are_the_papers_quantities():
    x, sigma = _batch()
    D = GAUSS(x, sigma)
    s = sigma[:, None]
    eps = (x - D) / s  # predicted noise
    alpha, sig_t = 1 / torch.sqrt(1 + s**2), s / torch.sqrt(1 + s**2)  # VP α_t, σ_t for σ_data = 1
    expected = {
        "eps": eps,
        "x0": D,
        "v": alpha * eps - sig_t * D,  # Salimans & Ho: v = α ε - σ_t x0
        "score": s * (D - x) / s**2,  # σ · ∇log p = (D - x)/σ
        "flow": eps - D,  # u = n - x0
        "edm": (D - 1 / (1 + s**2) * x) / (s / torch.sqrt(1 + s**2)),  # EDM Eq. 8
    }
    for form, want in expected.items():
        got = network_target(FORMS[form](sigma_data=1.0), D, x, sigma)
        assert torch.allclose(got, want, rtol=1e-9, atol=1e-9), form


def test_edm_coefficients_table1():
    p = FORMS["edm"](sigma_data=0.5)
    sigma = torch.tensor([0.1, 1.0, 10.0], dtype=torch.float64)
    assert torch.allclose(p.c_skip(sigma), 0.25 / (sigma**2 + 0.25))
    assert torch.allclose(p.c_out(sigma), sigma * 0.5 / torch.sqrt(sigma**2 + 0.25))
    assert torch.allclose(p.c_in(sigma), 1 / torch.sqrt(sigma**2 + 0.25))
    assert torch.allclose(p.c_noise(sigma), torch.log(sigma) / 4)


def test_denoiser_accepts_scalar_sigma_and_any_shape():
    class Zero(torch.nn.Module):
        def forward(self, x, c):
            return torch.zeros_like(x)

    d = Denoiser(Zero(), FORMS["edm"]())
    x = torch.randn(4, 3, 5, 5)
    out = d(x, 2.0)
    assert torch.allclose(out, x * 1 / 5)  # c_skip(2) = 1/(4+1)


@pytest.mark.parametrize("sigma_data", [0.5, 2.0])
@pytest.mark.parametrize("sigma", [0.01, 0.3, 1.0, 7.0, 80.0])
def test_edm_inputs_and_targets_have_unit_variance_at_any_sigma_data(sigma_data, sigma):
    """EDM's design (App. B.6): for x0 ~ N(0, σ_d²) and x̂ = x0 + σn, Var[c_in x̂] = 1 and the
    training target (x0 − c_skip x̂)/c_out has unit variance — in closed form: c_in²(σ² + σ_d²)
    and ((1 − c_skip)² σ_d² + c_skip² σ²)/c_out². At σ_d = 1 a misplaced σ_d cannot show."""
    from difflab.parameterisation import EDMPrecond, VPrecond

    s = torch.tensor(sigma, dtype=torch.float64)
    for pc in (EDMPrecond(sigma_data=sigma_data), VPrecond(sigma_data=sigma_data)):
        c_skip, c_out, c_in = pc.c_skip(s), pc.c_out(s), pc.c_in(s)
        assert float(c_in**2 * (s**2 + sigma_data**2)) == pytest.approx(1.0, rel=1e-12)
        target_var = ((1 - c_skip) ** 2 * sigma_data**2 + c_skip**2 * s**2) / c_out**2
        assert float(target_var) == pytest.approx(1.0, rel=1e-12), type(pc).__name__
