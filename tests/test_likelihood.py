"""Likelihood through the PF-ODE against closed forms: Gaussian and Gaussian-mixture data."""

import math

import pytest
import torch

from difflab.data.toy import TOY_SETS
from difflab.ideal import Gaussian
from difflab.likelihood import (
    bits_per_dim,
    divergence_exact,
    divergence_hutchinson,
    log_prob,
    make_probes,
)
from difflab.processes import EDM, OU, VP


def _gaussian() -> Gaussian:
    a = torch.randn(3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    return Gaussian(
        torch.tensor([0.3, -0.2, 0.1], dtype=torch.float64),
        a @ a.T / 3 + 0.1 * torch.eye(3, dtype=torch.float64),
    )


@pytest.mark.parametrize("prior", ["moments", "isotropic at sigma_max 1000"])
def test_gaussian_log_prob_matches_analytic_density(prior):
    g = _gaussian()
    x = g.sample(64, generator=torch.Generator().manual_seed(1))
    if prior == "moments":
        lp = log_prob(g, x, rtol=1e-7, atol=1e-7, data_mean=g.mean, data_cov=g.cov)
    else:
        lp = log_prob(g, x, rtol=1e-7, atol=1e-7, sigma_max=1000.0)
    assert float((lp - g.log_prob(x)).abs().max()) / 3 < 1e-3


@pytest.mark.parametrize("process", [EDM(), VP()], ids=["edm-time", "vp-time"])
def test_log_prob_is_the_same_in_any_process_time(process):
    """x = s·x̂ changes the density by D·log s at both ends; the answer must not depend on the
    time."""
    g = _gaussian()
    x = g.sample(16, generator=torch.Generator().manual_seed(2))
    lp = log_prob(g, x, process=process, rtol=1e-7, atol=1e-7, data_mean=g.mean, data_cov=g.cov)
    assert float((lp - g.log_prob(x)).abs().max()) / 3 < 1e-3


def test_fixed_step_rk4_converges_at_fourth_order():
    g = _gaussian()
    x = g.sample(16, generator=torch.Generator().manual_seed(3))
    exact = g.log_prob(x)
    errs = [
        float(
            (log_prob(g, x, method="rk4", steps=n, data_mean=g.mean, data_cov=g.cov) - exact)
            .abs()
            .max()
        )
        for n in (16, 32)
    ]
    assert (
        errs[1] < errs[0] / 10
    )  # 4th order: ÷16 per halving (÷10 leaves room for the σ_min residual)


def test_mixture_log_prob_within_a_hundredth_of_a_nat():
    mix = TOY_SETS["8-gaussians"].mixture
    x = mix.sample(150, generator=torch.Generator().manual_seed(4))
    stats = {}
    lp = log_prob(mix, x, rtol=1e-5, atol=1e-5, stats=stats)
    assert float((lp - mix.log_prob(x)).abs().mean()) < 0.01
    assert stats["nfe"] > 6


@pytest.mark.parametrize("kind", ["rademacher", "gaussian"])
def test_hutchinson_is_unbiased(kind):
    """The mean over many probes approaches the exact trace, within its own standard error."""
    mix = TOY_SETS["8-gaussians"].mixture
    x = mix.sample(4, sigma=0.5, generator=torch.Generator().manual_seed(5))

    def f(z):  # the PF-ODE field dx̂/dσ at σ = 0.5: nonlinear, with an off-diagonal Jacobian
        return (z - mix(z, 0.5)) / 0.5

    _, exact = divergence_exact(f, x)
    probes = make_probes(x, 2000, kind, torch.Generator().manual_seed(6))
    single = torch.stack([divergence_hutchinson(f, x, p[None])[1] for p in probes[:200]])
    _, mean = divergence_hutchinson(f, x, probes)
    se = single.std(0) / math.sqrt(len(probes))
    assert torch.all((mean - exact).abs() < 4 * se + 1e-9)
    assert float(single.std(0).max()) > 0  # the single-probe estimates do scatter


def test_exact_divergence_of_a_linear_field_is_its_trace():
    a = torch.randn(4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(7))
    x = torch.randn(3, 4, dtype=torch.float64)
    _, div = divergence_exact(lambda z: z @ a.T, x)
    assert torch.allclose(div, torch.trace(a).expand(3))


def test_bits_per_dim_of_uniform_bytes_is_eight():
    """p = 1 on [0, 1]^D, quantised to 256 bins of width 1/256: each bin has P = 256^-D, 8
    bits/dim."""
    assert float(bits_per_dim(torch.zeros(5), dim=10, bin_width=1 / 256)[0]) == pytest.approx(8.0)
    assert float(bits_per_dim(torch.tensor([-10 * math.log(2)]), dim=10)[0]) == pytest.approx(1.0)


@pytest.mark.parametrize("sigma_min", [0.5, 1.0])
@pytest.mark.parametrize("process", [VP(), OU()], ids=["vp-time", "ou-time"])
def test_log_prob_at_a_large_sigma_min_in_scaled_time(process, sigma_min):
    """log p(x̂; σ_min) of Gaussian data is log N(x̂; μ, Σ + σ_min² I). With σ_min ≥ 0.5 the
    scaling s(t) of VP/OU time differs visibly from 1 at both ends, so a wrong D·log s term shows
    (at σ_min = 0.002, s ≈ 1 there and the term is invisible)."""
    g = _gaussian()
    x = g.sample(16, sigma=sigma_min, generator=torch.Generator().manual_seed(3))
    lp = log_prob(
        g,
        x,
        process=process,
        sigma_min=sigma_min,
        rtol=1e-8,
        atol=1e-8,
        data_mean=g.mean,
        data_cov=g.cov,
    )
    eye = torch.eye(3, dtype=torch.float64)
    exact = Gaussian(g.mean, g.cov + sigma_min**2 * eye).log_prob(x)
    s0 = float(process.s(process.t_of_sigma(torch.tensor(sigma_min, dtype=torch.float64))))
    assert abs(math.log(s0)) > 0.05  # the scaling is really in play
    assert float((lp - exact).abs().max()) < 1e-4


def test_hutchinson_log_prob_is_within_its_standard_error():
    """Through log_prob itself: 40 independent Rademacher runs of one probe each average to the
    exact-divergence answer within 4 standard errors (per point)."""
    g = _gaussian()
    x = g.sample(8, generator=torch.Generator().manual_seed(5))
    kw = {"method": "rk4", "steps": 24, "data_mean": g.mean, "data_cov": g.cov}
    exact = log_prob(g, x, **kw)
    runs = torch.stack(
        [
            log_prob(g, x, hutchinson=1, generator=torch.Generator().manual_seed(100 + i), **kw)
            for i in range(40)
        ]
    )
    se = runs.std(0) / math.sqrt(len(runs))
    assert (se > 0).all() and ((runs.mean(0) - exact).abs() < 4 * se + 1e-9).all()
