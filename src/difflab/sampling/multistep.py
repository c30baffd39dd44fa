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


__all__ = ["dpmpp_2m", "deis", "adams_bashforth_weights"]
