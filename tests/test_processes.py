"""Processes against their papers' own formulas, and the identities of the one convention."""

import math

import pytest
import torch

from difflab.processes import EDM, OU, PROCESSES, VE, VP, RectifiedFlow, VPCosine

ALL = [cls() for cls in PROCESSES.values()]


def _grid(p, n=200):
    # interior grid, away from the endpoints where finite differences lose accuracy
    lo, hi = p.t_min, p.t_max
    return torch.linspace(lo + 0.02 * (hi - lo), hi - 0.02 * (hi - lo), n, dtype=torch.float64)


@pytest.mark.parametrize("p", ALL, ids=lambda p: p.name)
def test_inverse_time(p):
    t = _grid(p)
    assert torch.allclose(p.t_of_sigma(p.sigma(t)), t, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("p", ALL, ids=lambda p: p.name)
def test_sigma_increasing(p):
    sigma = p.sigma(_grid(p, 2000))
    assert (sigma[1:] > sigma[:-1]).all()


@pytest.mark.parametrize("p", ALL, ids=lambda p: p.name)
def test_derivatives_match_finite_differences(p):
    t = _grid(p)
    h = 1e-6 * (p.t_max - p.t_min)
    for f, df in [(p.sigma, p.sigma_deriv), (p.s, p.s_deriv)]:
        fd = (f(t + h) - f(t - h)) / (2 * h)
        assert torch.allclose(df(t), fd, rtol=1e-6, atol=1e-8), f.__name__


@pytest.mark.parametrize("p", ALL, ids=lambda p: p.name)
def test_f_g_reproduce_the_marginal_variance(p):
    """Seed 004: for dx = f x dt + g dw, Var(x|x0) = s²σ² obeys d(s²σ²)/dt = 2 f s²σ² + g²."""
    t = _grid(p)
    h = 1e-6 * (p.t_max - p.t_min)
    var = lambda t: (p.s(t) * p.sigma(t)) ** 2  # noqa: E731
    lhs = (var(t + h) - var(t - h)) / (2 * h)
    rhs = 2 * p.f(t) * var(t) + p.g(t) ** 2
    assert torch.allclose(lhs, rhs, rtol=1e-6, atol=1e-8)


def test_vp_is_ddpm_alpha_bar():
    """VP: s² = ᾱ(t) = exp(-∫β) with β(t) = β_min + β_d t, and variance is preserved: s²(1+σ²) =
    1."""
    p = VP()
    t = _grid(p)
    alpha_bar = torch.exp(-(0.1 * t + 0.5 * 19.9 * t**2))
    assert torch.allclose(p.s(t) ** 2, alpha_bar, rtol=1e-12)
    assert torch.allclose(p.s(t) ** 2 * (1 + p.sigma(t) ** 2), torch.ones_like(t), rtol=1e-12)
    assert torch.allclose(p.f(t), -0.5 * (0.1 + 19.9 * t), rtol=1e-12)  # f = -β/2
    assert torch.allclose(p.g(t), torch.sqrt(0.1 + 19.9 * t), rtol=1e-9)  # g = sqrt(β)


def test_vp_cosine_is_iddpm():
    p = VPCosine()
    t = _grid(p)
    f = lambda t: torch.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2  # noqa: E731
    assert torch.allclose(p.s(t) ** 2, f(t) / f(torch.zeros(1, dtype=torch.float64)), rtol=1e-12)
    assert p.sigma_max == pytest.approx(80.0, rel=1e-9)


def test_ou_is_the_lecture_process():
    """α_t = e^-t, β_t = sqrt(1 - e^-2t): s = α, s·σ = β, f = -1 and g = √2."""
    p = OU()
    t = _grid(p)
    assert torch.allclose(p.s(t), torch.exp(-t))
    assert torch.allclose(p.s(t) * p.sigma(t), torch.sqrt(1 - torch.exp(-2 * t)), rtol=1e-12)
    assert torch.allclose(p.f(t), -torch.ones_like(t))
    assert torch.allclose(p.g(t), torch.full_like(t, math.sqrt(2.0)), rtol=1e-12)


def test_rectified_flow_interpolates_linearly():
    p = RectifiedFlow()
    t = _grid(p)
    assert torch.allclose(p.s(t), 1 - t) and torch.allclose(p.s(t) * p.sigma(t), t, rtol=1e-12)


def test_ve_geometric_and_edm_identity():
    ve = VE(sigma_lo=0.01, sigma_hi=50.0)
    assert ve.sigma_min == pytest.approx(0.01) and ve.sigma_max == pytest.approx(50.0)
    t = torch.tensor([0.25, 0.5], dtype=torch.float64)
    assert torch.allclose(ve.sigma(t), 0.01 * 5000.0**t)
    e = EDM()
    assert torch.equal(e.sigma(t), t) and torch.equal(e.s(t), torch.ones_like(t))
