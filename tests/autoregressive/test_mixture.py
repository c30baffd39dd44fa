"""The mixture conditionals: density, CDF and its inverse agree with each other and with Φ."""

import math

import torch

from difflab.autoregressive.mixture import (
    mixture_cdf,
    mixture_icdf,
    mixture_log_prob,
    normal_cdf,
    split_params,
)

LOG_PI = torch.log(torch.tensor([0.2, 0.5, 0.3], dtype=torch.float64))
MU = torch.tensor([-2.0, 0.5, 3.0], dtype=torch.float64)
LOG_S = torch.log(torch.tensor([0.3, 1.0, 0.05], dtype=torch.float64))


def test_log_prob_is_the_derivative_of_the_cdf():
    x = torch.linspace(-4, 5, 301, dtype=torch.float64)
    h = 1e-6
    args = [t.expand(len(x), 3) for t in (LOG_PI, MU, LOG_S)]
    slope = (mixture_cdf(x + h, *args) - mixture_cdf(x - h, *args)) / (2 * h)
    assert torch.allclose(torch.exp(mixture_log_prob(x, *args)), slope, rtol=1e-6, atol=1e-9)


def test_icdf_inverts_the_cdf_into_both_tails():
    z = torch.linspace(-12, 12, 241, dtype=torch.float64)
    args = [t.expand(len(z), 3) for t in (LOG_PI, MU, LOG_S)]
    x = mixture_icdf(z, *args)
    lower, upper = z <= 0, z > 0
    # lower tail: F(x) = Φ(z) to relative precision; upper: 1 − F(x) = Φ(−z) likewise
    f = mixture_cdf(x, *args)
    sf = (torch.exp(args[0]) * normal_cdf((args[1] - x[:, None]) / torch.exp(args[2]))).sum(-1)
    assert torch.allclose(f[lower], normal_cdf(z[lower]), rtol=1e-9, atol=0)
    assert torch.allclose(sf[upper], normal_cdf(-z[upper]), rtol=1e-9, atol=0)
    assert (x[1:] > x[:-1]).all()  # monotone


def test_normal_cdf_keeps_the_lower_tail():
    """Φ(−30) = 4.907e-198 (erfc's asymptotic series), where ndtr-style 1 − … gives 0."""
    assert float(normal_cdf(torch.tensor(-30.0, dtype=torch.float64))) == (
        __import__("pytest").approx(0.5 * math.erfc(30 / math.sqrt(2)), rel=1e-12)
    )


def test_split_params_normalises_the_weights():
    p = torch.randn(5, 4, 9, generator=torch.Generator().manual_seed(0))
    log_pi, mu, log_s = split_params(p, 3)
    assert torch.allclose(log_pi.exp().sum(-1), torch.ones(5, 4))
    assert torch.equal(mu, p[..., 3:6])
