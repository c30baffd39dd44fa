"""Single steps pinned to each paper's own variables on a non-uniform grid: a wrong coefficient
changes the result at 1e-3 or more, far beyond these 1e-12 tolerances (an order test alone
would pass some wrong formulas: r/2 for 1/(2r) in DPM-Solver++(2M) still converges at 1.96)."""

import math

import torch

from difflab.sampling.multistep import dpmpp_2m
from difflab.sampling.sde import ddim


def gauss_denoiser(x, sigma):
    """E[x0 | x̂] for x0 ~ N(0.3, 0.8²) (scalar σ)."""
    v = 0.64
    return 0.3 + v / (v + float(sigma) ** 2) * (x - 0.3)


def test_dpmpp_2m_is_lu_et_al_algorithm_2():
    sigmas = torch.tensor([5.0, 2.0, 1.1, 0.3], dtype=torch.float64)
    x0 = torch.tensor([[1.7], [-4.0]], dtype=torch.float64)
    # Lu et al. 2022b, Alg. 2 with α_t = 1, σ_t = σ, λ_t = −log σ:
    # x_i = (σ_i/σ_{i−1}) x_{i−1} − (e^{−h_i} − 1) D_i',
    # D_i' = (1 + 1/(2r_i)) D(x_{i−1}) − 1/(2r_i) D(x_{i−2})
    lam = [-math.log(s) for s in sigmas.tolist()]
    x, prev = x0.clone(), None
    for i in range(3):
        d = gauss_denoiser(x, sigmas[i])
        h = lam[i + 1] - lam[i]
        if prev is None:
            dd = d
        else:
            r = (lam[i] - lam[i - 1]) / h
            dd = (1 + 1 / (2 * r)) * d - 1 / (2 * r) * prev
        x = (sigmas[i + 1] / sigmas[i]) * x - (math.exp(-h) - 1) * dd
        prev = d
    assert torch.allclose(dpmpp_2m(gauss_denoiser, x0, sigmas), x, atol=1e-12, rtol=0)


def test_ddim_step_is_song_et_al_eq_12_in_vp_variables():
    """x_{t−1} = √ᾱ_{t−1} x̂0 + √(1 − ᾱ_{t−1} − σ_t²) ε̂ + σ_t z with
    σ_t = η √((1 − ᾱ_{t−1})/(1 − ᾱ_t)) √(1 − ᾱ_t/ᾱ_{t−1}); difflab steps x̂ = x/√ᾱ in σ."""
    a_t, a_prev, eta = 0.2, 0.6, 0.5
    x_t = torch.tensor([[0.9], [-2.2], [3.1]], dtype=torch.float64)
    z = torch.tensor([[0.4], [-1.3], [0.7]], dtype=torch.float64)
    sig = lambda a: math.sqrt((1 - a) / a)  # noqa: E731 - σ of x̂ = x/√ᾱ
    x0_hat = gauss_denoiser(x_t / math.sqrt(a_t), sig(a_t))
    eps = (x_t - math.sqrt(a_t) * x0_hat) / math.sqrt(1 - a_t)
    s_t = eta * math.sqrt((1 - a_prev) / (1 - a_t)) * math.sqrt(1 - a_t / a_prev)
    want = math.sqrt(a_prev) * x0_hat + math.sqrt(1 - a_prev - s_t**2) * eps + s_t * z
    sigmas = torch.tensor([sig(a_t), sig(a_prev)], dtype=torch.float64)
    got = ddim(gauss_denoiser, x_t / math.sqrt(a_t), sigmas, noise=lambda _k: z, eta=eta)
    assert torch.allclose(got * math.sqrt(a_prev), want, atol=1e-12, rtol=0)
