"""Closed-form denoisers checked by Tweedie's formula: D(x; σ) = x + σ² ∇ log p(x; σ)."""

import torch

from difflab.data.toy import eight_gaussians
from difflab.ideal import Gaussian, GaussianMixture


def _tweedie(log_prob, x, sigma):
    x = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(log_prob(x, sigma).sum(), x)
    return x + sigma**2 * grad


def test_gaussian_denoiser_is_tweedie():
    g = Gaussian(torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64),
                 torch.tensor([[2.0, 0.3, 0.0], [0.3, 1.0, 0.2], [0.0, 0.2, 0.5]], dtype=torch.float64))
    x = torch.randn(64, 3, dtype=torch.float64) * 3
    for sigma in [0.01, 0.5, 3.0, 40.0]:
        assert torch.allclose(g(x, sigma), _tweedie(g.log_prob, x, sigma), atol=1e-9)


def test_mixture_denoiser_is_tweedie():
    gen = torch.Generator().manual_seed(0)
    mix = GaussianMixture(torch.randn(5, 2, generator=gen, dtype=torch.float64) * 2,
                          torch.tensor([0.1, 0.3, 0.2, 0.5, 0.05], dtype=torch.float64),
                          torch.tensor([0.1, 0.2, 0.3, 0.2, 0.2], dtype=torch.float64))
    x = torch.randn(128, 2, generator=gen, dtype=torch.float64) * 3
    for sigma in [0.02, 0.3, 2.0, 20.0]:
        assert torch.allclose(mix(x, sigma), _tweedie(mix.log_prob, x, sigma), atol=1e-8)


def test_mixture_sampling_matches_weights_and_variance():
    mix = eight_gaussians()
    x = mix.sample(40_000, sigma=0.5, generator=torch.Generator().manual_seed(1))
    # per-dimension variance of the marginal: spread of the means + s² + σ²
    expected = (mix.means**2).sum(1).mean() / 2 + 0.15**2 + 0.25
    assert torch.allclose(x.var(0), expected.expand(2), rtol=0.03)
