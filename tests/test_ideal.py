"""Closed-form denoisers checked by Tweedie's formula: D(x; σ) = x + σ² ∇ log p(x; σ)."""

import torch

from difflab.data.toy import eight_gaussians
from difflab.ideal import Gaussian, GaussianMixture


def _tweedie(log_prob, x, sigma):
    x = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(log_prob(x, sigma).sum(), x)
    return x + sigma**2 * grad


def test_gaussian_denoiser_is_tweedie():
    g = Gaussian(
        torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64),
        torch.tensor([[2.0, 0.3, 0.0], [0.3, 1.0, 0.2], [0.0, 0.2, 0.5]], dtype=torch.float64),
    )
    x = torch.randn(64, 3, dtype=torch.float64) * 3
    for sigma in [0.01, 0.5, 3.0, 40.0]:
        assert torch.allclose(g(x, sigma), _tweedie(g.log_prob, x, sigma), atol=1e-9)


def test_mixture_denoiser_is_tweedie():
    gen = torch.Generator().manual_seed(0)
    mix = GaussianMixture(
        torch.randn(5, 2, generator=gen, dtype=torch.float64) * 2,
        torch.tensor([0.1, 0.3, 0.2, 0.5, 0.05], dtype=torch.float64),
        torch.tensor([0.1, 0.2, 0.3, 0.2, 0.2], dtype=torch.float64),
    )
    x = torch.randn(128, 2, generator=gen, dtype=torch.float64) * 3
    for sigma in [0.02, 0.3, 2.0, 20.0]:
        assert torch.allclose(mix(x, sigma), _tweedie(mix.log_prob, x, sigma), atol=1e-8)


def test_mixture_sampling_matches_weights_and_variance():
    mix = eight_gaussians()
    x = mix.sample(40_000, sigma=0.5, generator=torch.Generator().manual_seed(1))
    # per-dimension variance of the marginal: spread of the means + s² + σ²
    expected = (mix.means**2).sum(1).mean() / 2 + 0.15**2 + 0.25
    assert torch.allclose(x.var(0), expected.expand(2), rtol=0.03)


def test_uniform_denoiser_is_tweedie_and_finite_in_the_tails():
    from difflab.ideal import Uniform01

    u = Uniform01()
    x = torch.linspace(-2, 3, 101, dtype=torch.float64)[:, None]
    for sigma in [0.05, 0.3, 2.0, 20.0]:
        assert torch.allclose(u(x, sigma), _tweedie(u.log_prob, x, sigma), atol=1e-8)
    far = torch.tensor([[-50.0], [0.5], [50.0]], dtype=torch.float64)
    d = u(far, 0.01)
    assert torch.isfinite(d).all() and torch.allclose(
        d, torch.tensor([[0.0], [0.5], [1.0]], dtype=torch.float64), atol=1e-3
    )
    # p(x̂; σ) integrates to 1
    grid = torch.linspace(-6, 7, 20001, dtype=torch.float64)[:, None]
    mass = torch.trapezoid(torch.exp(u.log_prob(grid, 1.0)), grid[:, 0])
    assert abs(float(mass) - 1) < 1e-6
