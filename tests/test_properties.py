"""Property-based tests (hypothesis) of processes and preconditioners over their whole ranges, and
numerical robustness: finite denoisers and samplers for σ from 1e-4 to 1e4, in float32 and bf16."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from difflab.ideal import Gaussian
from difflab.nn import MLP
from difflab.parameterisation import FORMS, Denoiser, network_target
from difflab.processes import PROCESSES
from difflab.sampling import SAMPLERS, karras_sigmas, sample

FRACTION = st.floats(0.0, 1.0)
SIGMA = st.floats(1e-4, 1e4)
SIGMA_DATA = st.floats(0.05, 20.0)


def _time(process, u: float) -> torch.Tensor:
    return torch.tensor(process.t_min + u * (process.t_max - process.t_min), dtype=torch.float64)


@pytest.mark.parametrize("name", PROCESSES)
@settings(max_examples=60, deadline=None)
@given(u=FRACTION)
def test_process_identities_hold_everywhere(name, u):
    """t(σ(t)) = t, σ̇ > 0 (noise only grows), s > 0, and d(s²σ²)/dt = 2f s²σ² + g² at every t."""
    p = PROCESSES[name]()
    t = _time(p, u)
    sigma = p.sigma(t)
    assert torch.isfinite(sigma) and sigma > 0 and p.s(t) > 0 and p.sigma_deriv(t) > 0
    assert float(p.t_of_sigma(sigma)) == pytest.approx(float(t), rel=1e-6, abs=1e-9)
    tt = t.clone().requires_grad_(True)
    (lhs,) = torch.autograd.grad(p.s(tt) ** 2 * p.sigma(tt) ** 2, tt)
    rhs = 2 * p.f(t) * p.s(t) ** 2 * sigma**2 + p.g(t) ** 2
    assert float(lhs) == pytest.approx(float(rhs), rel=1e-6, abs=1e-12)


@pytest.mark.parametrize("form", FORMS)
@settings(max_examples=60, deadline=None)
@given(sigma=SIGMA, sigma_data=SIGMA_DATA, x0=st.floats(-10, 10), n=st.floats(-5, 5))
def test_preconditioning_recovers_x0_from_its_own_target(form, sigma, sigma_data, x0, n):
    """c_skip·x̂ + c_out·F* = x0 where F* is the network target: the parameterisation is invertible,
    with finite, positive scalings, for σ over eight decades."""
    pc = FORMS[form](sigma_data=sigma_data)
    s = torch.tensor([sigma], dtype=torch.float64)
    x0_t = torch.tensor([[x0]], dtype=torch.float64)
    x = x0_t + s[:, None] * n
    target = network_target(pc, x0_t, x, s)
    assert torch.isfinite(target).all()
    for c in (pc.c_skip(s), pc.c_out(s), pc.c_in(s), pc.c_noise(s)):
        assert torch.isfinite(c).all()
    assert float(pc.c_out(s)) != 0 and float(pc.c_in(s)) > 0  # c_out < 0 for ε and flow targets
    back = pc.c_skip(s)[:, None] * x + pc.c_out(s)[:, None] * target
    assert float(back) == pytest.approx(x0, rel=1e-6, abs=1e-6 * max(1.0, sigma))


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_denoiser_is_finite_from_1e_4_to_1e4(form, dtype):
    torch.manual_seed(0)
    d = Denoiser(MLP(2, width=32, depth=2), FORMS[form]()).eval()
    sigma = torch.logspace(-4, 4, 33)
    x = torch.randn(33, 2) * torch.sqrt(1 + sigma[:, None] ** 2)
    with (
        torch.no_grad(),
        torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == torch.bfloat16),
    ):
        out = d(x, sigma)
    assert torch.isfinite(out).all(), (form, dtype)


@pytest.mark.parametrize("name", [s for s in SAMPLERS if s != "consistency"])
def test_samplers_are_finite_from_1e4_down_to_1e_4(name):
    # (the consistency sampler re-noises a consistency function's ends; given a denoiser it
    # returns posterior means, tested with a student in tests/test_distillation.py)
    """The widest grid anyone would use, in float32, with a denoiser whose output is exact."""
    g = Gaussian(torch.zeros(2), torch.eye(2))
    sigmas = karras_sigmas(64, 1e-4, 1e4, dtype=torch.float32)
    x = torch.randn(256, 2, generator=torch.Generator().manual_seed(0)) * math.sqrt(1e8 + 1)
    out = sample(g, x, sigmas, name, seed=0)
    assert torch.isfinite(out).all()
    assert 0.5 < float(out.var()) < 2.0  # N(0, I) data: the variance comes back


def test_langevin_refuses_an_unstable_step_instead_of_diverging():
    from difflab.errors import DifflabError

    g = Gaussian(torch.zeros(2), torch.eye(2))
    with pytest.raises(DifflabError, match="ε/σ_L²"):
        sample(
            g, torch.randn(8, 2), karras_sigmas(8, 1e-4, 10.0), "langevin", seed=0, epsilon=2e-5
        )  # NCSN's ε
