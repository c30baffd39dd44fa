"""The embedded Runge–Kutta solver bounds every sample's error, not the batch's average."""

import torch

from difflab.integrate import solve_adaptive


def test_a_hard_sample_is_not_hidden_by_easy_ones():
    """dx/dt = −λ_b x with one stiff-ish sample (λ = 40) among 599 easy ones (λ = 0.1): exact
    x(1) = e^{−λ}. The batch's error control must hold the hard sample to its tolerance too."""
    lam = torch.full((600, 1), 0.1, dtype=torch.float64)
    lam[17] = 40.0
    x0 = torch.ones(600, 1, dtype=torch.float64)
    tol = 1e-6
    x1 = solve_adaptive(lambda x, t: -lam * x, x0, 0.0, 1.0, rtol=tol, atol=tol)
    alone = solve_adaptive(lambda x, t: -lam[17:18] * x, x0[17:18], 0.0, 1.0, rtol=tol, atol=tol)
    exact = torch.exp(-lam)
    err_batch = float((x1[17] - exact[17]).abs())
    err_alone = float((alone[0] - exact[17]).abs())
    assert err_batch <= 2 * err_alone + 1e-9, (err_batch, err_alone)
    assert float((x1 - exact).abs().max()) < 100 * tol
