"""Normalizing flows against the change-of-variables formula."""

import math

import pytest
import torch

from difflab.errors import DifflabError
from difflab.flows import AdditiveCoupling, DiagonalScaling, nice, realnvp


def _randomise(flow, scale=0.3, seed=0):
    """Random weights everywhere (a fresh flow is the identity: zero-initialised last layers)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in flow.parameters():
            p.copy_(scale * torch.randn(p.shape, generator=gen, dtype=p.dtype))
    return flow


FLOWS = {
    "nice": lambda d: nice(d, layers=4, width=16, depth=2),
    "realnvp": lambda d: realnvp(d, layers=4, width=16, depth=2),
    "realnvp-no-actnorm": lambda d: realnvp(d, layers=4, width=16, depth=2, actnorm=False),
}


@pytest.mark.parametrize("name", FLOWS)
@pytest.mark.parametrize("dim", [2, 3, 5])
def test_inverse_undoes_forward(name, dim):
    flow = _randomise(FLOWS[name](dim)).double().eval()
    x = torch.randn(64, dim, dtype=torch.float64)
    z, _ = flow(x)
    assert not torch.allclose(z, x)  # the flow does something
    assert torch.allclose(flow.inverse(z), x, atol=1e-5)
    assert torch.allclose(flow(flow.sample(z))[0], z, atol=1e-5)


@pytest.mark.parametrize("name", FLOWS)
@pytest.mark.parametrize("dim", [2, 3, 4])
def test_log_det_matches_brute_force_jacobian(name, dim):
    flow = _randomise(FLOWS[name](dim), seed=1).double().eval()
    x = torch.randn(5, dim, dtype=torch.float64)
    _, logdet = flow(x)
    for i in range(len(x)):
        jac = torch.autograd.functional.jacobian(lambda v: flow(v[None])[0][0], x[i])
        assert float(logdet[i].detach()) == pytest.approx(
            float(torch.linalg.slogdet(jac.detach())[1]), abs=1e-8
        )


def test_nice_couplings_are_volume_preserving_before_the_scaling():
    flow = _randomise(nice(4, layers=4, width=16, depth=2)).double()
    x = torch.randn(8, 4, dtype=torch.float64)
    for layer in flow.layers:
        x, logdet = layer(x)
        if isinstance(layer, AdditiveCoupling):
            assert torch.all(logdet == 0)
        else:
            assert isinstance(layer, DiagonalScaling)
            assert torch.allclose(logdet, layer.s.sum().expand(8))


@pytest.mark.parametrize("name", FLOWS)
def test_density_integrates_to_one(name):
    """∫ p(x) dx = 1 on a 2-D grid wide enough to hold the mass (the prior is N(0, I) in z)."""
    flow = _randomise(FLOWS[name](2), scale=0.2, seed=2).double().eval()
    h = 0.05
    g = torch.arange(-9, 9, h, dtype=torch.float64)
    xx = torch.cartesian_prod(g, g)
    with torch.no_grad():
        mass = float(torch.exp(flow.log_prob(xx)).sum()) * h * h
    assert mass == pytest.approx(1.0, abs=0.01)


def test_actnorm_initialises_from_the_first_batch():
    flow = realnvp(3, layers=2, width=8, depth=1)
    x = 5 + 3 * torch.randn(4096, 3)
    z, _ = flow(x)  # fresh couplings are the identity: z is x standardised by ActNorm
    assert torch.allclose(z.mean(0), torch.zeros(3), atol=1e-4)
    assert torch.allclose(z.std(0), torch.ones(3), atol=1e-3)


def test_coupling_flows_need_two_dimensions():
    with pytest.raises(DifflabError, match="dimension"):
        realnvp(1)


def test_flow_trained_on_a_gaussian_learns_its_density():
    """Maximum likelihood on N(μ, Σ): the flow's NLL approaches the Gaussian's entropy."""
    torch.manual_seed(0)
    cov = torch.tensor([[1.0, 0.8], [0.8, 1.0]])
    dist = torch.distributions.MultivariateNormal(torch.tensor([1.0, -1.0]), cov)
    flow = realnvp(2, layers=4, width=32, depth=2)
    opt = torch.optim.Adam(flow.parameters(), lr=3e-3)
    for _ in range(400):
        loss = -flow.log_prob(dist.sample((256,))).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    x = dist.sample((4000,))
    with torch.no_grad():
        nll = -float(flow.log_prob(x).mean())
    entropy = float(dist.entropy())
    assert nll == pytest.approx(entropy, abs=0.05)
    assert math.isfinite(nll)
