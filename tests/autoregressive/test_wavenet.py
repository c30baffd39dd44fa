"""WaveNet against mathematics: causality and the exact receptive field by autograd, normalisation,
cached sampling equal to recomputation bit for bit, an AR(1) sequence law learnt."""

import math

import pytest
import torch

from difflab.autoregressive import WaveNet


def _randomise(model: torch.nn.Module, std: float = 0.3, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * std)


@pytest.mark.parametrize("blocks,cycle", [(1, 10), (4, 10), (5, 3)])
def test_position_t_sees_exactly_its_receptive_field(blocks, cycle):
    """∂ params_t / ∂ x_s ≠ 0 iff t − R ≤ s < t, R = 1 + Σ dilations (every dilation in play)."""
    length = 40
    model = WaveNet(length, channels=8, blocks=blocks, components=2, cycle=cycle, num_classes=2)
    _randomise(model)
    x = torch.randn(length)
    jac = torch.autograd.functional.jacobian(
        lambda v: model.params(v[None], torch.tensor([1]))[0], x
    )
    dep = jac.abs().sum(1) > 0  # [t, s]
    r = model.receptive_field
    assert r == 1 + sum(2 ** (i % cycle) for i in range(blocks))
    t, s = torch.meshgrid(torch.arange(length), torch.arange(length), indexing="ij")
    assert torch.equal(dep, (s < t) & (s >= t - r))


@pytest.mark.parametrize("length", [1, 2])
def test_density_normalises(length):
    model = WaveNet(length, channels=8, blocks=2, components=3)
    _randomise(model, std=0.2, seed=length)
    axis = torch.linspace(-15, 15, 4001 if length == 1 else 1201, dtype=torch.float64)
    pts = axis[:, None] if length == 1 else torch.cartesian_prod(axis, axis)
    with torch.no_grad():
        p = torch.cat([model.log_prob(c.float()).double().exp() for c in pts.split(200_000)])
    mass = float(p.sum()) * float(axis[1] - axis[0]) ** length
    assert mass == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize("batch", [1, 7, 64])
def test_cached_sampling_equals_recomputation_bit_for_bit(batch):
    """The cache (a ring of each block's last d inputs) against recomputing every position from x
    at every step; and both agree with the training network params() to float rounding."""
    model = WaveNet(24, channels=8, blocks=6, components=3, num_classes=3)
    _randomise(model, seed=batch)
    z = torch.randn(batch, 24, generator=torch.Generator().manual_seed(batch))
    c = torch.arange(batch) % 3
    with torch.no_grad():
        cached, again = model.sample(z, c), model.sample(z, c, cache=False)
        assert torch.equal(cached, again)
        # the samples' z back through the training network's conditionals (F_t(x_t) = Φ(z_t))
        from difflab.autoregressive.mixture import mixture_cdf, normal_cdf, split_params

        p = split_params(model.params(cached, c).double(), 3)
        u = mixture_cdf(cached.double(), *p)
    assert torch.allclose(u, normal_cdf(z.double()), atol=1e-5)


def _ar1(n: int, length: int, a: float, seed: int) -> torch.Tensor:
    """A stationary Gaussian AR(1) of unit variance: x_0 ~ N(0, 1), x_t = a x_{t−1} + e_t with
    e_t ~ N(0, 1 − a²)."""
    g = torch.Generator().manual_seed(seed)
    e = torch.randn(n, length, generator=g)
    x = torch.empty(n, length)
    x[:, 0] = e[:, 0]
    for t in range(1, length):
        x[:, t] = a * x[:, t - 1] + math.sqrt(1 - a**2) * e[:, t]
    return x


def test_fits_an_ar1_sequence_and_samples_its_covariance():
    """Trained by maximum likelihood on AR(1) sequences (a = 0.8, T = 8): NLL per sequence within
    0.05 nats of the true one (log N(x_0; 0, 1) + Σ_t log N(x_t; a x_{t−1}, 1 − a²)), and its
    samples' covariance a^|s−t|."""
    torch.manual_seed(0)
    a, length = 0.8, 8
    train, test = _ar1(8192, length, a, 0), _ar1(20_000, length, a, 1)
    model = WaveNet(length, channels=16, blocks=3, components=2)
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, 500)
    for _ in range(500):
        opt.zero_grad()
        (-model.log_prob(train[torch.randint(0, 8192, (1024,))]).mean()).backward()
        opt.step()
        sched.step()
    innov = torch.distributions.Normal(0.0, math.sqrt(1 - a**2))
    true_lp = torch.distributions.Normal(0.0, 1.0).log_prob(test[:, 0])
    true_lp = true_lp + innov.log_prob(test[:, 1:] - a * test[:, :-1]).sum(1)
    with torch.no_grad():
        gap = float(-model.log_prob(test).mean() + true_lp.mean())
        s = model.sample(torch.randn(20_000, length, generator=torch.Generator().manual_seed(2)))
    assert -0.02 < gap < 0.05, gap
    lags = torch.arange(length)
    want = a ** (lags[:, None] - lags[None, :]).abs().float()
    assert torch.allclose(torch.cov(s.T), want, atol=0.04), torch.cov(s.T) - want
