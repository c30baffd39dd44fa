"""Classifier-free guidance against the class-conditional ideal denoiser of a Gaussian mixture."""

import pytest
import torch

from difflab.data.toy import eight_gaussians
from difflab.nn import MLP
from difflab.parameterisation import Denoiser, EDMPrecond
from difflab.sampling import karras_sigmas, sample
from difflab.sampling.guidance import cfg

MIX = eight_gaussians()
SIGMAS = karras_sigmas(40, 0.002, 10.0)


def _noise(n: int, seed: int = 1) -> torch.Tensor:
    return (
        torch.randn(n, 2, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * 10.2
    )


def _modes(x: torch.Tensor) -> torch.Tensor:
    return torch.cdist(x, MIX.means).argmin(1)


@pytest.mark.parametrize("method", ["heun", "ddpm", "dpmpp-2m"])
def test_w0_is_the_unconditional_sampler_bit_for_bit(method):
    x = _noise(500)
    plain, guided_stats, plain_stats = (
        sample(MIX, x, SIGMAS, method, seed=3, stats=(s := {})),
        {},
        s,
    )
    guided = sample(cfg(MIX, 2, 0.0), x, SIGMAS, method, seed=3, stats=guided_stats)
    assert torch.equal(plain, guided)
    assert guided_stats["nfe"] == 2 * plain_stats["nfe"]  # both evaluations are counted


def test_w1_draws_the_class_distribution_exactly():
    """With D(·, c) = E[x0 | x̂, component c], w = 1 samples component c: its mean and std 0.15
    (started from that class's marginal at σ_max, N(μ_c, (0.15² + σ_max²) I), as any exact test
    must)."""
    for k in (0, 3):
        x_T = MIX.means[k] + _noise(4000, seed=k) * (0.15**2 + 10.0**2) ** 0.5 / 10.2
        x = sample(cfg(MIX, k, 1.0), x_T, SIGMAS, "heun")
        assert (_modes(x) == k).float().mean() > 0.999
        se = 0.15 / 4000**0.5
        assert torch.allclose(x.mean(0), MIX.means[k], atol=4 * se)
        assert torch.allclose(x.std(0), torch.full((2,), 0.15, dtype=torch.float64), rtol=0.05)


def test_w0_is_the_mixture():
    x = sample(cfg(MIX, 0, 0.0), _noise(8000), SIGMAS, "heun")
    freq = torch.bincount(_modes(x), minlength=8).double() / len(x)
    assert (freq - 1 / 8).abs().max() < 4 * (1 / 8 * 7 / 8 / 8000) ** 0.5


def test_guidance_extrapolates_the_difference():
    """D_w = D_∅ + w (D_c - D_∅) exactly, for a per-sample condition too."""
    x = _noise(64) / 10
    sigma = torch.full((64,), 0.7, dtype=torch.float64)
    cond = torch.arange(64) % 8
    d0, dc = MIX(x, sigma), MIX(x, sigma, cond)
    assert torch.allclose(cfg(MIX, cond, 3.0)(x, sigma), d0 + 3.0 * (dc - d0), atol=1e-12)


def test_network_condition_defaults_to_the_null_class():
    torch.manual_seed(0)
    net = MLP(2, width=16, depth=1, num_classes=3)
    torch.nn.init.normal_(net.out.weight)  # a non-trivial output
    torch.nn.init.normal_(net.class_emb.table.weight)
    den = Denoiser(net, EDMPrecond(1.0))
    x, sigma = torch.randn(5, 2), torch.full((5,), 0.5)
    assert torch.equal(den(x, sigma), den(x, sigma, torch.full((5,), -1)))
    assert not torch.allclose(den(x, sigma, torch.zeros(5, dtype=torch.long)), den(x, sigma))
    assert not torch.allclose(
        den(x, sigma, torch.zeros(5, dtype=torch.long)),
        den(x, sigma, torch.ones(5, dtype=torch.long)),
    )


def test_likelihood_through_the_guided_denoiser_is_the_class_density():
    """cfg(D, k, 1) is a two-argument denoiser like any other: the PF-ODE likelihood through it is
    the exact density of component k, log N(x; μ_k, 0.15² I); through w = 0, the mixture's."""
    from difflab.likelihood import log_prob

    k = 2
    comp = MIX.means[k]
    x = comp + 0.15 * torch.randn(
        32, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64
    )
    exact = -((x - comp) ** 2).sum(1) / (2 * 0.15**2) - torch.log(
        torch.tensor(2 * torch.pi * 0.15**2)
    )
    lp = log_prob(
        cfg(MIX, k, 1.0),
        x,
        rtol=1e-6,
        atol=1e-6,
        sigma_max=200.0,
        data_mean=comp,
        data_cov=torch.eye(2, dtype=torch.float64) * 0.15**2,
    )
    assert float((lp - exact).abs().max()) < 2e-3
    lp0 = log_prob(cfg(MIX, k, 0.0), x, rtol=1e-6, atol=1e-6, sigma_max=200.0)
    assert float((lp0 - MIX.log_prob(x)).abs().max()) < 2e-3
