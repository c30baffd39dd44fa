"""MADE against mathematics: the autoregressive property by autograd, normalisation on a grid, an
exactly represented Gaussian (log-density and samples), a maximum-likelihood fit."""

import math

import pytest
import torch

from difflab.autoregressive import MADE
from difflab.errors import DifflabError
from difflab.models import made_order


def _randomise(model: torch.nn.Module, std: float = 0.3, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * std)


@pytest.mark.parametrize("order", [[0, 1, 2, 3, 4], [4, 3, 2, 1, 0], [2, 0, 4, 1, 3]])
@pytest.mark.parametrize("depth", [1, 3])
def test_each_conditional_depends_on_exactly_the_earlier_entries(order, depth):
    """∂ params(x)_i / ∂ x_j ≠ 0 iff j comes before i in the ordering: strictly lower triangular
    in the ordering, and full below the diagonal (no earlier entry cut off)."""
    torch.manual_seed(0)
    model = MADE(5, width=16, depth=depth, components=2, order=order, num_classes=3)
    _randomise(model)
    x = torch.randn(5)
    c = torch.tensor([1])
    jac = torch.autograd.functional.jacobian(lambda v: model.params(v[None], c)[0], x)
    dep = jac.abs().sum(1) > 0  # [i, j]: does entry i's output depend on x_j
    pos = {e: k for k, e in enumerate(order)}
    want = torch.tensor([[pos[j] < pos[i] for j in range(5)] for i in range(5)])
    assert torch.equal(dep, want), (dep, want)


def _grid_mass(log_prob, lo: float, hi: float, n: int, dim: int) -> float:
    axis = torch.linspace(lo, hi, n, dtype=torch.float64)
    h = float(axis[1] - axis[0])
    if dim == 1:
        pts = axis[:, None]
    else:
        pts = torch.cartesian_prod(axis, axis)
    with torch.no_grad():
        p = torch.cat([torch.exp(log_prob(c.float()).double()) for c in pts.split(200_000)])
    return float(p.sum()) * h**dim


@pytest.mark.parametrize("dim", [1, 2])
def test_density_normalises(dim):
    model = MADE(dim, width=16, depth=2, components=3)
    _randomise(model, std=0.2, seed=dim)
    n = 4001 if dim == 1 else 1201
    assert _grid_mass(model.log_prob, -15, 15, n, dim) == pytest.approx(1.0, abs=1e-3)


def _gaussian_made(mean: torch.Tensor, cov: torch.Tensor) -> MADE:
    """A MADE with one Gaussian per conditional set to N(mean, cov) exactly: Σ = L D Lᵀ (L unit
    lower triangular) gives x_i = μ_i + Σ_{j<i} A_ij (x_j − μ_j) + e_i with A = I − L⁻¹ and
    e_i ~ N(0, D_i)."""
    d = len(mean)
    chol = torch.linalg.cholesky(cov)
    diag = torch.diagonal(chol)
    unit = chol / diag
    a = torch.eye(d, dtype=cov.dtype) - torch.linalg.inv(unit)
    model = MADE(d, width=8, depth=1, components=1)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        rows_mu, rows_s = torch.arange(d) * 3 + 1, torch.arange(d) * 3 + 2  # [logit, μ, log s]
        model.direct.weight[rows_mu] = a.float()
        model.head.bias[rows_mu] = (mean - a @ mean).float()
        model.head.bias[rows_s] = torch.log(diag).float()
    return model


def test_a_gaussian_is_represented_exactly_log_density_and_samples():
    mean = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    cov = torch.tensor([[1.0, 0.6, -0.3], [0.6, 2.0, 0.4], [-0.3, 0.4, 0.5]], dtype=torch.float64)
    model = _gaussian_made(mean, cov)
    law = torch.distributions.MultivariateNormal(mean, cov)
    x = law.sample((1000,))
    with torch.no_grad():
        assert torch.allclose(model.log_prob(x.float()).double(), law.log_prob(x), atol=2e-5)
        n = 200_000
        s = model.sample(torch.randn(n, 3, generator=torch.Generator().manual_seed(1))).double()
    se = torch.sqrt(torch.diagonal(cov) / n)
    assert (torch.abs(s.mean(0) - mean) < 4 * se).all(), s.mean(0)
    assert torch.allclose(torch.cov(s.T), cov, atol=4 * math.sqrt(2 / n) * 2), torch.cov(s.T)


def test_maximum_likelihood_reaches_the_entropy_of_a_gaussian():
    """Fitted to 4,096 draws of a 3-D Gaussian, one Gaussian per conditional: the NLL of fresh
    draws is within 0.02 nats of the true density's (the entropy), as the family contains it."""
    torch.manual_seed(0)
    mean = torch.tensor([1.0, -2.0, 0.5])
    cov = torch.tensor([[1.0, 0.6, -0.3], [0.6, 2.0, 0.4], [-0.3, 0.4, 0.5]])
    law = torch.distributions.MultivariateNormal(mean, cov)
    train, test = law.sample((4096,)), law.sample((20_000,))
    model = MADE(3, width=16, depth=1, components=1)
    opt = torch.optim.Adam(model.parameters(), lr=2e-2)
    for _ in range(600):
        opt.zero_grad()
        (-model.log_prob(train).mean()).backward()
        opt.step()
    with torch.no_grad():
        gap = float(-model.log_prob(test).mean() + law.log_prob(test).mean())
    assert -0.02 < gap < 0.02, gap


def test_orders_and_bad_orders():
    assert made_order("reverse", 3) == [2, 1, 0] and made_order("2,0,1", 3) == [2, 0, 1]
    assert sorted(made_order("random", 6)) == list(range(6))
    with pytest.raises(DifflabError, match="permutation of 0…2"):
        made_order("0,0,1", 3)
    with pytest.raises(DifflabError, match="permutation"):
        MADE(3, order=[0, 1])


def test_maximum_likelihood_fits_a_2d_mixture_within_005_nats():
    """Three round Gaussians of different widths in 2-D: p(x_0) is a mixture, p(x_1 | x_0) one whose
    weights vary with x_0 — inside MADE's family with K = 3. Fitted by maximum likelihood, the
    paired gap to the exact log-density on fresh points is below 0.05 nats."""
    from difflab.ideal import GaussianMixture

    torch.manual_seed(0)
    mix = GaussianMixture(
        torch.tensor([[-2.0, 0.0], [1.0, 1.5], [1.5, -1.5]], dtype=torch.float64),
        torch.tensor([0.4, 0.6, 0.3], dtype=torch.float64),
        torch.tensor([0.3, 0.4, 0.3], dtype=torch.float64),
    )
    g = torch.Generator().manual_seed(1)
    train, test = mix.sample(20_000, generator=g).float(), mix.sample(20_000, generator=g)
    model = MADE(2, width=64, depth=2, components=3)
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, 1500)
    for _ in range(1500):
        batch = train[torch.randint(0, len(train), (1024,))]
        opt.zero_grad()
        (-model.log_prob(batch).mean()).backward()
        opt.step()
        sched.step()
    with torch.no_grad():
        gap = float((mix.log_prob(test) - model.log_prob(test.float()).double()).mean())
    assert -0.02 < gap < 0.05, gap
