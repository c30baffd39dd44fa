"""Multistep solvers that reuse past denoiser outputs: one NFE per step at higher order.

Both work on x̂ in σ: for any process, the PF-ODE in (x̂, σ) is dx̂/dσ = ε̂ = (x̂ - D(x̂; σ))/σ, and
the scaling s(t) cancels from the exponential-integrator formulas (see docs/design.md).
"""

from __future__ import annotations

import functools
import math
from typing import Sequence

import numpy as np
import torch
from torch import Tensor

from ..errors import DifflabError
from ..parameterisation import DenoiserFn


def dpmpp_2m(denoiser: DenoiserFn, x: Tensor, sigmas: Tensor, **_) -> Tensor:
    """DPM-Solver++(2M) (Lu et al. 2022b, Alg. 2) in λ = -ln σ, data prediction:

    x̂_{i+1} = (σ_{i+1}/σ_i) x̂_i - (e^{-h_i} - 1) D̃_i,  h_i = λ_{i+1} - λ_i,
    D̃_i = (1 + 1/(2r_i)) D_i - 1/(2r_i) D_{i-1},  r_i = h_{i-1}/h_i  (D̃_0 = D_0; last step → D).
    """
    levels, grid = sigmas.to(dtype=x.dtype, device=x.device).unbind(), sigmas.tolist()
    d_prev, h_prev = None, None
    for i in range(len(grid) - 1):
        d = denoiser(x, levels[i])
        if grid[i + 1] == 0:
            return d
        h = math.log(grid[i] / grid[i + 1])  # λ_{i+1} - λ_i
        d_eff = (
            d
            if d_prev is None
            else torch.add(d * (1 + h / (2 * h_prev)), d_prev, alpha=-h / (2 * h_prev))
        )
        x = torch.add(x * (grid[i + 1] / grid[i]), d_eff, alpha=-math.expm1(-h))
        d_prev, h_prev = d, h
    return x


def dpmpp_3m(denoiser: DenoiserFn, x: Tensor, sigmas: Tensor, **_) -> Tensor:
    """DPM-Solver++(3M) (Lu et al. 2022b, Sec. 3.3, multistep): the data-prediction exponential
    integrator with D(λ) expanded to second order, in λ = -ln σ with h = λ_{i+1} - λ_i:

    x̂_{i+1} = (σ_{i+1}/σ_i) x̂_i + (1 - e^{-h}) D_i + φ₂ d₁ + 2φ₃ d₂,
    φ₂ = 1 + (e^{-h} - 1)/h,  φ₃ = ½ - φ₂/h,

    with d₁ ≈ h D' and d₂ ≈ h² D''/2 the divided differences over the last three λ (so d₂ carries
    2φ₃: with φ₃ alone the local error stops falling as h⁴, measured); fewer at the start (a 2M
    step, then first order). One NFE per step."""
    levels, grid = sigmas.to(dtype=x.dtype, device=x.device).unbind(), sigmas.tolist()
    past: list[tuple[Tensor, float]] = []  # (D, h) of the previous steps, newest first
    for i in range(len(grid) - 1):
        d = denoiser(x, levels[i])
        if grid[i + 1] == 0:
            return d
        h = math.log(grid[i] / grid[i + 1])
        phi_2 = math.expm1(-h) / h + 1.0
        # (σ'/σ) x̂ + (1 − e^{−h}) D in one pass: 1 − e^{−h} = 1 − σ'/σ
        x = torch.lerp(d, x, grid[i + 1] / grid[i])
        if len(past) >= 2:
            (d_1, h_1), (d_2, h_2) = past[0], past[1]
            r0, r1 = h_1 / h, h_2 / h
            # φ₂ d₁ + 2φ₃ d₂ with d1_0 = (D − D₁)/r0, d1_1 = (D₁ − D₂)/r1, d₁ = d1_0 + (d1_0 −
            # d1_1)·r0/(r0 + r1), d₂ = (d1_0 − d1_1)/(r0 + r1): a·(D − D₁) + b·(D₁ − D₂)
            c3, q = 2 * (0.5 - phi_2 / h), r0 / (r0 + r1)
            a = (phi_2 * (1 + q) + c3 / (r0 + r1)) / r0
            b = -(phi_2 * q + c3 / (r0 + r1)) / r1
            x.add_(d, alpha=a).add_(d_1, alpha=b - a).add_(d_2, alpha=-b)
        elif past:
            d_1, h_1 = past[0]
            x.add_(d, alpha=phi_2 * h / h_1).add_(d_1, alpha=-phi_2 * h / h_1)
        past = [(d, h)] + past[:1]
    return x


def dpmpp_2s(denoiser: DenoiserFn, x: Tensor, sigmas: Tensor, *, r: float = 0.5, **_) -> Tensor:
    """DPM-Solver++(2S) (Lu et al. 2022b, Alg. 1): a single step with an intermediate point at
    λ_i + r·h, two NFE per step (one on the last step into σ = 0):

    u = (σ_s/σ_i) x̂_i - (e^{-rh} - 1) D_i,  D̃ = (1 - 1/(2r)) D_i + 1/(2r) D(u; σ_s),
    x̂_{i+1} = (σ_{i+1}/σ_i) x̂_i - (e^{-h} - 1) D̃,  σ_s = σ_i e^{-rh}."""
    if not 0.0 < r < 1.0:
        raise DifflabError(f"dpmpp-2s r must lie in (0, 1), got {r}")
    levels, grid = sigmas.to(dtype=x.dtype, device=x.device).unbind(), sigmas.tolist()
    for i in range(len(grid) - 1):
        d = denoiser(x, levels[i])
        if grid[i + 1] == 0:
            return d
        h = math.log(grid[i] / grid[i + 1])
        sigma_s = grid[i] * math.exp(-r * h)
        u = torch.add(x * (sigma_s / grid[i]), d, alpha=-math.expm1(-r * h))
        d_s = denoiser(u, torch.as_tensor(sigma_s, dtype=x.dtype, device=x.device))
        d_eff = torch.add(d * (1 - 1 / (2 * r)), d_s, alpha=1 / (2 * r))
        x = torch.add(x * (grid[i + 1] / grid[i]), d_eff, alpha=-math.expm1(-h))
    return x


IPNDM = ((1.0,), (1.5, -0.5), (23 / 12, -16 / 12, 5 / 12), (55 / 24, -59 / 24, 37 / 24, -9 / 24))


def ipndm(denoiser: DenoiserFn, x: Tensor, sigmas: Tensor, *, order: int = 4, **_) -> Tensor:
    """iPNDM (Zhang & Chen 2022, as in Zhou et al. 2023): Euler steps in σ on a combination of the
    last ε̂ = (x̂ - D)/σ with the fixed Adams–Bashforth weights of equal steps (IPNDM), order
    rising 1 → `order` over the first steps. Fixed weights: at its best on near-uniform grids;
    DEIS uses the weights of the actual grid."""
    if order < 1 or order > 4:
        raise DifflabError(f"ipndm order must be 1–4, got {order}")
    levels, grid = sigmas.to(dtype=x.dtype, device=x.device).unbind(), sigmas.tolist()
    history: list[Tensor] = []
    for i in range(len(grid) - 1):
        d = denoiser(x, levels[i])
        if grid[i + 1] == 0:
            return d
        # ε̂_j = (x̂_j − D_j)/σ_j kept as (x̂_j − D_j, σ_j): 1/σ_j folds into each weight
        history = ([(x - d, grid[i])] + history)[:order]
        step = grid[i + 1] - grid[i]
        x = x.clone()
        for w, (e, s) in zip(IPNDM[len(history) - 1], history):
            x.add_(e, alpha=w * step / s)
    return x


@functools.lru_cache(maxsize=8)
def _gauss_legendre(n: int) -> tuple[list[float], list[float]]:
    xi, w = np.polynomial.legendre.leggauss(n)
    return xi.tolist(), w.tolist()


def adams_bashforth_weights(nodes: Sequence[float], a: float, b: float) -> list[float]:
    """w_j = ∫_a^b L_j(τ) dτ for the Lagrange basis polynomials L_j on `nodes` (variable-step AB).

    Gauss–Legendre with as many points as nodes is exact: L_j has degree len(nodes) - 1."""
    xi, wq = _gauss_legendre(len(nodes))
    half, mid = (b - a) / 2, (a + b) / 2
    taus = [mid + half * x for x in xi]

    def basis(j: int, tau: float) -> float:
        return math.prod((tau - m) / (nodes[j] - m) for k, m in enumerate(nodes) if k != j)

    return [half * sum(w * basis(j, tau) for w, tau in zip(wq, taus)) for j in range(len(nodes))]


def deis(denoiser: DenoiserFn, x: Tensor, sigmas: Tensor, *, order: int = 3, **_) -> Tensor:
    """ρAB-DEIS (Zhang & Chen 2022, Sec. 4 with ρ = σ): Adams–Bashforth in σ on ε̂ = (x̂ - D)/σ,

    x̂_{i+1} = x̂_i + Σ_j w_ij ε̂_{i-j}, w_ij = ∫_{σ_i}^{σ_{i+1}} L_j(σ) dσ over the last `order`
    nodes (fewer at the start). With s = 1 the exponential integrator of DEIS reduces to this.
    """
    if order < 1 or order > 4:
        raise DifflabError(f"deis order must be 1–4, got {order}")
    grid = sigmas.tolist()
    levels = sigmas.to(dtype=x.dtype, device=x.device).unbind()
    weights = [
        adams_bashforth_weights(grid[max(0, i - order + 1) : i + 1][::-1], grid[i], grid[i + 1])
        for i in range(len(grid) - 1)
        if grid[i + 1] > 0
    ]  # all before the loop: they depend on the grid only
    history: list[Tensor] = []
    for i in range(len(grid) - 1):
        d = denoiser(x, levels[i])
        if grid[i + 1] == 0:
            return d
        history = ([(x - d) * (1.0 / grid[i])] + history)[:order]  # ε̂ at σ_i, σ_{i-1}, …
        for w_j, eps_j in zip(weights[i], history):
            x = x.add(eps_j, alpha=w_j)
    return x


def _solve(a: list[list[float]], b: list[float]) -> list[float]:
    """x with a x = b for UniPC's ≤ 3×3 systems: Gaussian elimination with partial pivoting in
    plain Python (numpy's solve costs more than the step's tensor work at batch 20,000)."""
    n = len(b)
    m = [list(row) + [rhs] for row, rhs in zip(a, b)]
    for c in range(n):
        pivot = max(range(c, n), key=lambda r: abs(m[r][c]))
        m[c], m[pivot] = m[pivot], m[c]
        for r in range(c + 1, n):
            f = m[r][c] / m[c][c]
            m[r] = [x - f * y for x, y in zip(m[r], m[c])]
    x = [0.0] * n
    for r in reversed(range(n)):
        x[r] = (m[r][n] - sum(m[r][k] * x[k] for k in range(r + 1, n))) / m[r][r]
    return x


def unipc_coefficients(rks: list[float], h: float, variant: str) -> tuple[list, list, float]:
    """UniPC's (ρ_p, ρ_c, B(h)) for one step of size h in λ with past nodes at r_k·h (r_k < 0,
    then r = 1 for the new point): the order conditions R ρ = b with R_jk = r_k^(j−1),
    b_j = h φ_{j+1}(−h)·j!/B(h) (Zhao et al. 2023, Alg. 1/2, data prediction); B(h) = −h for
    bh1, e^(−h) − 1 for bh2. Order-2 predictors and order-1 correctors use ρ = ½ (the paper's)."""
    p = len(rks)
    hh = -h
    b_h = hh if variant == "bh1" else math.expm1(hh)
    h_phi_k, factorial, b = math.expm1(hh) / hh - 1.0, 1.0, []
    for j in range(1, p + 1):
        b.append(h_phi_k * factorial / b_h)
        factorial *= j + 1
        h_phi_k = h_phi_k / hh - 1.0 / factorial
    big_r = [[r ** (j - 1) for r in rks] for j in range(1, p + 1)]
    if p == 1:
        rho_p, rho_c = [], [0.5]
    else:
        rho_c = _solve(big_r, b)
        rho_p = [0.5] if p == 2 else _solve([row[:-1] for row in big_r[:-1]], b[:-1])
    return rho_p, rho_c, b_h


def unipc(
    denoiser: DenoiserFn,
    x: Tensor,
    sigmas: Tensor,
    *,
    order: int = 2,
    variant: str = "bh2",
    **_,
) -> Tensor:
    """UniPC (Zhao et al. 2023) in λ = −ln σ with data prediction: a UniP predictor of order p from
    the last p outputs, then a UniC corrector with the output at the predicted point — which is the
    next step's evaluation anyway, so the corrector costs no NFE (order p + 1 for p NFE per step).
    No corrector on the last step (nothing would reuse its evaluation); warm-up and, under 15
    steps, the final steps at lower order (UniPC's lower_order_final); a step into σ = 0 is D."""
    if order < 1 or order > 3 or variant not in ("bh1", "bh2"):
        raise DifflabError(f"unipc takes order 1–3 and variant bh1|bh2, got {order}, {variant!r}")
    grid = sigmas.tolist()
    levels = sigmas.to(dtype=x.dtype, device=x.device).unbind()
    steps = len(grid) - 1 - (grid[-1] == 0)  # UniPC steps; a final step into σ = 0 is D
    lams = [-math.log(g) for g in grid[: steps + 1]]
    ms: list[Tensor] = [denoiser(x, levels[0])]  # outputs at the past points, newest last
    for i in range(steps):
        p = min(order, len(ms), steps - i) if steps < 15 else min(order, len(ms))
        h = lams[i + 1] - lams[i]
        rks = [(lams[i - k] - lams[i]) / h for k in range(1, p)] + [1.0]
        rho_p, rho_c, b_h = unipc_coefficients(rks, h, variant)
        # D_{i−k} − D_i once each; the divided differences' 1/r_k fold into the weights
        diffs = [ms[-1 - k] - ms[-1] for k in range(1, p)]
        base = torch.lerp(ms[-1], x, grid[i + 1] / grid[i])  # (σ'/σ) x̂ + (1 − σ'/σ) D_i
        x_pred = base.clone()
        for rho, diff, r in zip(rho_p, diffs, rks):
            x_pred.add_(diff, alpha=-b_h * rho / r)
        if i == steps - 1:  # last step: no corrector
            x = x_pred
            break
        m_new = denoiser(x_pred, levels[i + 1])
        c = -b_h * rho_c[-1]
        x = torch.add(base, m_new, alpha=c).add_(ms[-1], alpha=-c)
        for rho, diff, r in zip(rho_c[:-1], diffs, rks):
            x.add_(diff, alpha=-b_h * rho / r)
        ms = (ms + [m_new])[-order:]
    if grid[-1] == 0:
        return denoiser(x, levels[steps])
    return x


__all__ = [
    "dpmpp_2m",
    "dpmpp_3m",
    "dpmpp_2s",
    "ipndm",
    "deis",
    "unipc",
    "unipc_coefficients",
    "adams_bashforth_weights",
]
