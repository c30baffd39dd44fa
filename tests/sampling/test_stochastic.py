"""Stochastic samplers with the ideal denoiser of Gaussian data reproduce its mean and
covariance."""

import math

import pytest
import torch

from difflab.ideal import Gaussian
from difflab.processes import VP
from difflab.sampling import karras_sigmas, sample

GAUSS = Gaussian(
    torch.tensor([1.0, -2.0], dtype=torch.float64),
    torch.tensor([[1.0, 0.4], [0.4, 0.5]], dtype=torch.float64),
)
N = 20_000
SIGMA_MAX = 40.0


@pytest.mark.parametrize(
    "method,steps,opts",
    [
        ("ddpm", 200, {}),
        ("ddim", 200, {"eta": 0.5}),
        ("euler-maruyama", 400, {}),
        ("euler-maruyama", 400, {"process": VP()}),
        ("edm-stochastic", 60, {"s_churn": 40.0, "s_tmin": 0.05, "s_tmax": 50.0, "s_noise": 1.0}),
        ("langevin", 60, {"steps_per_level": 10, "epsilon": 1e-4}),
        ("pc", 100, {"predictor": "ddpm", "corrector_steps": 1, "snr": 0.16}),
    ],
)
def test_moments(method, steps, opts):
    x_T = GAUSS.sample(N, sigma=SIGMA_MAX, generator=torch.Generator().manual_seed(1))
    sigmas = karras_sigmas(steps, 0.01 if method == "langevin" else 0.002, SIGMA_MAX)
    x = sample(GAUSS, x_T, sigmas, method, seed=2, **opts)
    se_mean = torch.sqrt(torch.diagonal(GAUSS.cov) / N)
    assert (torch.abs(x.mean(0) - GAUSS.mean) < 5 * se_mean).all(), x.mean(0)
    # covariance: statistical error ~ sqrt(2/N)·scale; allow 10% for the schemes' discretisation
    # bias
    assert torch.allclose(
        torch.cov(x.T), GAUSS.cov, atol=0.1 * float(GAUSS.cov.abs().max()) + 5 * math.sqrt(2 / N)
    ), torch.cov(x.T)


def test_stochastic_samplers_are_seeded():
    x_T = GAUSS.sample(100, sigma=10.0, generator=torch.Generator().manual_seed(1))
    s = karras_sigmas(10, 0.01, 10.0)
    a, b = sample(GAUSS, x_T, s, "ddpm", seed=3), sample(GAUSS, x_T, s, "ddpm", seed=3)
    assert torch.equal(a, b) and not torch.equal(a, sample(GAUSS, x_T, s, "ddpm", seed=4))


def test_pc_gives_every_inner_draw_its_own_noise():
    """A predictor that draws several times per step (Langevin) must not reuse one vector."""
    from difflab.sampling.sde import predictor_corrector

    keys = []

    def noise(key):
        keys.append(key)
        return torch.randn(4, 2, generator=torch.Generator().manual_seed(key))

    sigmas = karras_sigmas(6, 0.01, 10.0)
    predictor_corrector(
        GAUSS,
        torch.zeros(4, 2, dtype=torch.float64),
        sigmas,
        noise=noise,
        predictor="langevin",
        steps_per_level=3,
        epsilon=1e-5,
        corrector_steps=2,
    )
    assert len(keys) == len(set(keys)) > 6 * 3


def test_pc_edm_stochastic_churns_by_s_churn_over_the_whole_grid():
    """With D(x) = x the ODE steps stand still, so x gains exactly Σ_i sqrt(σ̂_i² − σ_i²)·z_i with
    σ̂_i = σ_i(1 + γ), γ = min(S_churn/N, √2 − 1) for the grid's N (EDM Alg. 2), z_i = 1 here."""
    from difflab.sampling.sde import predictor_corrector

    sigmas = karras_sigmas(10, 0.002, 80.0).double()
    n, churn = len(sigmas) - 1, 3.0
    gamma = min(churn / n, math.sqrt(2) - 1)  # 0.3, not √2 − 1 = 0.414 as on a 2-point grid
    want = sum(float(s) * math.sqrt((1 + gamma) ** 2 - 1) for s in sigmas[:-1])
    out = predictor_corrector(
        lambda x, s: x,
        torch.zeros(1, 1, dtype=torch.float64),
        sigmas,
        noise=lambda _k: torch.ones(1, 1, dtype=torch.float64),
        predictor="edm-stochastic",
        corrector_steps=0,
        s_churn=churn,
    )
    assert float(out) == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize("eta", [-0.1, 1.5])
def test_eta_outside_unit_interval_is_refused(eta):
    from difflab.errors import DifflabError
    from difflab.sampling.sde import ancestral_sigmas

    with pytest.raises(DifflabError, match="eta must lie in"):
        ancestral_sigmas(2.0, 1.0, eta)


def _a(sigma: float) -> torch.Tensor:
    """The ideal denoiser's slope A_σ = Σ(Σ + σ²I)⁻¹: D(x̂) − μ = A_σ(x̂ − μ) for Gaussian data."""
    eye = torch.eye(2, dtype=torch.float64)
    return GAUSS.cov @ torch.linalg.inv(GAUSS.cov + sigma**2 * eye)


def _ddim_cov(grid: list[float], eta: float) -> torch.Tensor:
    """Output covariance of DDIM(η) (Song et al. Eq. 12 in x̂), step by step (_ddim_step)."""
    cov = GAUSS.cov + grid[0] ** 2 * torch.eye(2, dtype=torch.float64)
    for s, s_next in zip(grid[:-1], grid[1:]):
        cov = _ddim_step(cov, s, s_next, eta)
    return cov


def _edm_cov(grid: list[float], churn: float) -> torch.Tensor:
    """Output covariance of EDM Alg. 2 with S_noise = 1 on all levels (_edm_step)."""
    gamma = min(churn / (len(grid) - 1), math.sqrt(2) - 1)
    cov = GAUSS.cov + grid[0] ** 2 * torch.eye(2, dtype=torch.float64)
    for s, s_next in zip(grid[:-1], grid[1:]):
        cov = _edm_step(cov, s, s_next, gamma)
    return cov


def _euler_maruyama_cov(grid: list[float]) -> torch.Tensor:
    """Reverse SDE of EDM's process (σ = t, f = 0, g² = 2t) by Euler–Maruyama between the positive
    levels (_em_step), then D."""
    levels = [s for s in grid if s > 0]
    cov = GAUSS.cov + levels[0] ** 2 * torch.eye(2, dtype=torch.float64)
    for t, t_next in zip(levels[:-1], levels[1:]):
        cov = _em_step(cov, t, t_next)
    return _a(levels[-1]) @ cov @ _a(levels[-1]).T


def _em_step(cov: torch.Tensor, t: float, t_next: float) -> torch.Tensor:
    """x' = x + g²Δt(D − x)/t² + g√Δt z: B = I + 2Δt(A_t − I)/t, noise 2tΔt; into 0 it is D."""
    eye = torch.eye(2, dtype=torch.float64)
    if t_next == 0:
        return _a(t) @ cov @ _a(t).T
    dt = t - t_next
    b = eye + 2 * dt * (_a(t) - eye) / t
    return b @ cov @ b.T + 2 * t * dt * eye


def _edm_step(cov: torch.Tensor, s: float, s_next: float, gamma: float) -> torch.Tensor:
    """EDM Alg. 2, one step: churn σ → σ̂ = σ(1 + γ) adds (σ̂² − σ²)I; then the Heun step of the
    linear ODE dx̂/dσ = (I − A_σ)(x̂ − μ)/σ (into 0: D at σ̂)."""
    eye = torch.eye(2, dtype=torch.float64)
    hat = s * (1 + gamma)
    cov = cov + (hat**2 - s**2) * eye
    f_hat = (eye - _a(hat)) / hat
    if s_next == 0:
        b = _a(hat)
    else:
        euler = eye + (s_next - hat) * f_hat
        b = eye + 0.5 * (s_next - hat) * (f_hat + (eye - _a(s_next)) / s_next @ euler)
    return b @ cov @ b.T


def _langevin_cov(grid: list[float], steps: int) -> torch.Tensor:
    """NCSN Alg. 1: at each level M steps of size ε_i = 0.2σ_L²·σ_i²/σ_L² = 0.2σ_i² (difflab's
    default ε): B = I + ε_i(A_σi − I)/σ_i², noise 2ε_i; then D at σ_L."""
    eye = torch.eye(2, dtype=torch.float64)
    levels = [s for s in grid if s > 0]
    cov = GAUSS.cov + levels[0] ** 2 * eye
    for s in levels:
        eps = 0.2 * s**2
        b = eye + eps * (_a(s) - eye) / s**2
        for _ in range(steps):
            cov = b @ cov @ b.T + 2 * eps * eye
    return _a(levels[-1]) @ cov @ _a(levels[-1]).T


def _pc_cov(grid: list[float], snr: float, predictor=None) -> torch.Tensor:
    """Song et al. Alg. 1: a predictor step σ → σ' (default DDPM), then one Langevin step at σ' of
    size ε = 2(rσ')² (step="fixed"): B = I + ε(A_σ' − I)/σ'², noise 2ε; into σ' = 0 the
    predictor's last step ends it."""
    eye = torch.eye(2, dtype=torch.float64)
    predictor = predictor or _ddim_step
    cov = GAUSS.cov + grid[0] ** 2 * eye
    for s, s_next in zip(grid[:-1], grid[1:]):
        cov = predictor(cov, s, s_next)
        if s_next == 0:
            return cov
        eps = 2 * (snr * s_next) ** 2
        b = eye + eps * (_a(s_next) - eye) / s_next**2
        cov = b @ cov @ b.T + 2 * eps * eye
    return cov


def _ddim_step(cov: torch.Tensor, s: float, s_next: float, eta: float = 1.0) -> torch.Tensor:
    """x̂' − μ = B(x̂ − μ) + σ_up z with B = A + (σ_down/σ)(I − A), σ_up = η σ' √(σ² − σ'²)/σ,
    σ_down = √(σ'² − σ_up²); a step into σ' = 0 is D (B = A)."""
    eye = torch.eye(2, dtype=torch.float64)
    a = _a(s)
    if s_next == 0:
        return a @ cov @ a.T
    up = eta * s_next * math.sqrt(s**2 - s_next**2) / s
    b = a + math.sqrt(s_next**2 - up**2) / s * (eye - a)
    return b @ cov @ b.T + up**2 * eye


@pytest.mark.parametrize(
    "method, opts, exact",
    [
        ("ddpm", {}, lambda g: _ddim_cov(g, 1.0)),
        ("euler-maruyama", {}, _euler_maruyama_cov),
        ("pc", {"predictor": "ddpm", "snr": 0.16, "step": "fixed"}, lambda g: _pc_cov(g, 0.16)),
        ("ddim", {"eta": 0.5}, lambda g: _ddim_cov(g, 0.5)),
        ("edm-stochastic", {"s_churn": 5.0}, lambda g: _edm_cov(g, 5.0)),
        ("langevin", {"steps_per_level": 3}, lambda g: _langevin_cov(g, 3)),
        (
            "pc",
            {"predictor": "euler-maruyama", "snr": 0.16, "step": "fixed"},
            lambda g: _pc_cov(g, 0.16, _em_step),
        ),
        (
            "pc",
            {"predictor": "edm-stochastic", "s_churn": 5.0, "snr": 0.16, "step": "fixed"},
            lambda g: _pc_cov(
                g,
                0.16,
                lambda c, s, t: _edm_step(c, s, t, min(5.0 / (len(g) - 1), math.sqrt(2) - 1)),
            ),
        ),
        (
            "pc",
            {"predictor": "ddim", "eta": 0.5, "snr": 0.16, "step": "fixed"},
            lambda g: _pc_cov(g, 0.16, lambda c, s, t: _ddim_step(c, s, t, 0.5)),
        ),
    ],
)
def test_output_covariance_is_the_linear_gaussian_recursion(method, opts, exact):
    """A coarse 8-step grid keeps the schemes' own bias large (so it differs from Σ), and 400,000
    samples put the covariance's standard error near 0.2%: a wrong σ_up or churn shows at 2%."""
    sigmas = karras_sigmas(8, 0.05, SIGMA_MAX)
    n = 400_000
    x_t = GAUSS.sample(n, sigma=SIGMA_MAX, generator=torch.Generator().manual_seed(7))
    x = sample(GAUSS, x_t, sigmas, method, seed=8, **opts)
    want = exact(sigmas.tolist())
    assert not torch.allclose(want, GAUSS.cov, rtol=0.05)  # the recursion's own bias is visible
    assert torch.allclose(torch.cov(x.T), want, rtol=0.02, atol=0.004), (torch.cov(x.T), want)


def test_song_corrector_step_is_2r2_times_data_plus_noise_variance():
    """Gaussian data N(0, vI), ideal denoiser: ||x̂ − D||² → nσ⁴/(v + σ²) and ||z||² → n, so Song
    et al.'s ε = 2(r||z||/||∇log p||)² → 2r²(v + σ²) — at σ = 0.01 that is 10⁴× the fixed 2(rσ)²."""
    from difflab.sampling.sde import corrector_step

    n, v, r = 4000, 2.0, 0.16
    gauss = Gaussian(torch.zeros(n, dtype=torch.float64), v * torch.eye(n, dtype=torch.float64))
    for sigma in (0.01, 0.3, 3.0):
        x = gauss.sample(64, sigma=sigma, generator=torch.Generator().manual_seed(0))
        z = torch.randn(x.shape, generator=torch.Generator().manual_seed(1), dtype=x.dtype)
        eps = corrector_step(z, x, x * v / (v + sigma**2), torch.tensor(sigma).double(), r)
        assert float(eps) == pytest.approx(2 * r**2 * (v + sigma**2), rel=0.01)


def test_song_corrector_moves_samples_at_small_sigma_and_keeps_the_law():
    """One corrector step at σ = 0.01 on samples of p_σ (unit-variance 1-D Gaussian): Song's step
    moves a point by sqrt(2ε) ≈ 2r·sqrt(1 + σ²) ≈ 0.32 in std while keeping the variance 1 + σ²
    (Langevin leaves p_σ nearly invariant); the fixed step moves it by ~2rσ = 0.0032."""
    from difflab.sampling.sde import predictor_corrector

    g1 = Gaussian(torch.zeros(1, dtype=torch.float64), torch.eye(1, dtype=torch.float64))
    x0 = g1.sample(40_000, sigma=0.01, generator=torch.Generator().manual_seed(3))
    sigmas = torch.tensor([0.01, 0.01 - 1e-12, 0.0], dtype=torch.float64)[:2]
    moved, var = {}, {}
    for step in ("song", "fixed"):
        x = predictor_corrector(
            lambda x, s: g1(x, s), x0, sigmas, noise=lambda k: torch.randn(
                x0.shape, generator=torch.Generator().manual_seed(k), dtype=x0.dtype
            ), predictor="euler", snr=0.16, step=step
        )  # fmt: skip
        moved[step], var[step] = float((x - x0).std()), float(x.var())
    assert moved["song"] == pytest.approx(2 * 0.16, rel=0.03), moved
    assert moved["fixed"] == pytest.approx(2 * 0.16 * 0.01, rel=0.03), moved
    assert var["song"] == pytest.approx(1.0, abs=0.03), var  # the law kept (SE of var ≈ 0.007)


def test_song_corrector_step_stays_finite_where_d_rounds_to_x():
    """float32 at σ = 1e-4 on unit-variance data: D(x̂) = x̂/(1 + 1e-8) rounds to x̂, the score's
    norm to 0; the Cramér–Rao floor keeps ε ≤ 8r²·Var instead of dividing by 0."""
    from difflab.sampling.sde import corrector_step

    x = torch.randn(500, 2, generator=torch.Generator().manual_seed(0))
    z = torch.randn(500, 2, generator=torch.Generator().manual_seed(1))
    eps = corrector_step(z, x, x.clone(), torch.tensor(1e-4), 0.16)
    var = float(((x - x.mean(0)) ** 2).sum(1).mean()) / 2
    assert 0 < float(eps) <= 8 * 0.16**2 * var * 1.01
