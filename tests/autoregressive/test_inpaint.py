"""Completing rows with an autoregressive model against the exact Gaussian conditional: one draw
is exact when the known entries come first in the order; otherwise the importance weights of the
known entries make it exact as particles grow (and without them it is visibly wrong)."""

import torch

from difflab.autoregressive.inpaint import ar_inpaint
from .test_made import _gaussian_made

MEAN = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
COV = torch.tensor([[1.0, 0.6, -0.3], [0.6, 2.0, 0.4], [-0.3, 0.4, 0.5]], dtype=torch.float64)


def _conditional(k: list[int], value: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and covariance of x_u given x_k = value (Gaussian conditioning)."""
    u = [i for i in range(3) if i not in k]
    s_uk, s_kk = COV[u][:, k], COV[k][:, k]
    gain = s_uk @ torch.linalg.inv(s_kk)
    return MEAN[u] + gain @ (value - MEAN[k]), COV[u][:, u] - gain @ COV[k][:, u]


def _complete(k: list[int], particles: int, n: int = 40_000):
    model = _gaussian_made(MEAN, COV)
    value = torch.tensor([-0.8] * len(k), dtype=torch.float64)
    x = torch.zeros(n, 3)
    x[:, k] = value.float()
    known = torch.zeros(n, 3, dtype=torch.bool)
    known[:, k] = True
    g = torch.Generator().manual_seed(particles)
    z = torch.randn(n, particles, 3, generator=g)
    with torch.no_grad():
        out, ess = ar_inpaint(model, x, known, z, torch.rand(n, generator=g))
    u = [i for i in range(3) if i not in k]
    assert torch.equal(out[:, k], x[:, k])  # known entries come back exactly
    return out[:, u].double(), ess, _conditional(k, value)


def test_known_entries_first_one_draw_is_exact():
    got, ess, (mean, cov) = _complete([0], particles=1)
    se = torch.sqrt(torch.diagonal(cov) / len(got))
    assert (torch.abs(got.mean(0) - mean) < 4 * se).all(), (got.mean(0), mean)
    assert torch.allclose(torch.cov(got.T), cov, atol=0.03), (torch.cov(got.T), cov)
    assert torch.equal(ess, torch.ones_like(ess))


def test_known_entry_last_needs_the_weights():
    """x_2 known, x_0 and x_1 unknown: one draw ignores x_2 (gives the marginal of x_0, x_1); 64
    particles resampled by p(x_2 | x_0, x_1) recover the conditional."""
    naive, _, (mean, cov) = _complete([2], particles=1)
    assert torch.abs(naive.mean(0) - mean).max() > 0.3  # biased: E[x_0] stays 1.0
    got, ess, _ = _complete([2], particles=64, n=20_000)
    assert torch.allclose(got.mean(0), mean, atol=0.03), (got.mean(0), mean)
    assert torch.allclose(torch.cov(got.T), cov, rtol=0.06, atol=0.02), (torch.cov(got.T), cov)
    assert 1 < float(ess.mean()) < 64
