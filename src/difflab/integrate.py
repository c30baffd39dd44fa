"""Explicit Runge–Kutta methods as data (Butcher tableaux) and one driver, fixed-step and adaptive.

Shared by PF-ODE sampling, likelihoods and neural ODEs: the right-hand side is any f(x, t). Times
and step sizes are Python floats (a right-hand side that needs a tensor makes one): that keeps the
driver free of 0-d tensor arithmetic, which would otherwise cost more than the update itself for
cheap f.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

RHS = Callable[[Tensor, float], Tensor]


@dataclass(frozen=True)
class Tableau:
    """c_i, a_ij (rows of the strictly lower triangle), weights b_j; b_err = b - b̂ of an embedded
    lower-order pair for error control; fsal: the last stage is f at the new point (first same as
    last)."""

    name: str
    order: int
    c: tuple[float, ...]
    a: tuple[tuple[float, ...], ...]
    b: tuple[float, ...]
    b_err: tuple[float, ...] | None = None
    fsal: bool = False

    @property
    def stages(self) -> int:
        return len(self.b)


EULER = Tableau("euler", 1, (0.0,), ((),), (1.0,))
MIDPOINT = Tableau("midpoint", 2, (0.0, 0.5), ((), (0.5,)), (0.0, 1.0))
HEUN = Tableau("heun", 2, (0.0, 1.0), ((), (1.0,)), (0.5, 0.5))
RK4 = Tableau(
    "rk4",
    4,
    (0.0, 0.5, 0.5, 1.0),
    ((), (0.5,), (0.0, 0.5), (0.0, 0.0, 1.0)),
    (1 / 6, 1 / 3, 1 / 3, 1 / 6),
)
# Dormand & Prince (1980), RK5(4)7FM: 5th-order solution, 4th-order embedded estimate, FSAL.
_DP_B = (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84, 0.0)
_DP_B4 = (5179 / 57600, 0.0, 7571 / 16695, 393 / 640, -92097 / 339200, 187 / 2100, 1 / 40)
DOPRI5 = Tableau(
    "dopri5",
    5,
    (0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0, 1.0),
    (
        (),
        (1 / 5,),
        (3 / 40, 9 / 40),
        (44 / 45, -56 / 15, 32 / 9),
        (19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729),
        (9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656),
        _DP_B[:6],
    ),
    _DP_B,
    tuple(b - bh for b, bh in zip(_DP_B, _DP_B4)),
    fsal=True,
)


def stage_times(t: float, t_next: float, tab: Tableau) -> list[float]:
    """The times t + c_i h at which rk_step evaluates f (the same float expressions, bit for
    bit)."""
    return [t + c * (t_next - t) for c in tab.c]


def rk_stages(
    f: RHS, x: Tensor, t: float, h: float, tab: Tableau, k0: Tensor | None = None
) -> list[Tensor]:
    """The stage derivatives k_i = f(x + h Σ_j a_ij k_j, t + c_i h); k0 reuses a known f(x, t)."""
    ks: list[Tensor] = []
    for i in range(tab.stages):
        if i == 0 and k0 is not None:
            ks.append(k0)
            continue
        ks.append(f(_combine(x, h, tab.a[i], ks), t + tab.c[i] * h))
    return ks


def rk_step(f: RHS, x: Tensor, t: float, t_next: float, tab: Tableau) -> Tensor:
    """One explicit RK step from t to t_next: x + h Σ_j b_j k_j."""
    h = t_next - t
    return _combine(x, h, tab.b, rk_stages(f, x, t, h, tab))


def _combine(x: Tensor, h: float, weights: tuple[float, ...], ks: list[Tensor]) -> Tensor:
    """x + h Σ_j w_j k_j, one fused multiply-add per non-zero weight."""
    out = x
    for w, k in zip(weights, ks):
        if w != 0.0:
            out = out.add(k, alpha=h * w)
    return out


def solve_fixed(f: RHS, x: Tensor, ts: list[float], tab: Tableau) -> Tensor:
    """Integrate along the grid ts (floats) with one RK step per interval."""
    for t, t_next in zip(ts, ts[1:]):
        x = rk_step(f, x, t, t_next, tab)
    return x


@dataclass
class AdaptiveStats:
    nfe: int = 0
    accepted: int = 0
    rejected: int = 0


def error_ratio(err: Tensor, scale: Tensor) -> float:
    """The worst sample's RMS of err/scale over its own entries (dim 0 indexes samples). One RMS
    over the whole batch would let a hard sample's error hide among easy ones: in a batch of 600,
    one point's log-density came out 15× less accurate than alone."""
    e = (err / scale) ** 2
    per_sample = e.reshape(e.shape[0], -1).mean(1) if e.dim() > 1 else e
    return float(torch.sqrt(per_sample.max()))


def solve_adaptive(
    f: RHS,
    x: Tensor,
    t0: float,
    t1: float,
    rtol: float = 1e-5,
    atol: float = 1e-5,
    tab: Tableau = DOPRI5,
    h0: float | None = None,
    max_steps: int = 10_000,
    stats: AdaptiveStats | None = None,
) -> Tensor:
    """Embedded RK with step-size control (Hairer, Nørsett & Wanner I, II.4): accept when every
    sample's RMS of err/(atol + rtol·max(|x|, |x_new|)) ≤ 1 (error_ratio), and scale h by
    0.9·err^(-1/(q+1)) within [0.2, 10]."""
    if tab.b_err is None:
        raise ValueError(f"{tab.name} has no embedded error estimate")
    stats = stats if stats is not None else AdaptiveStats()
    t, direction = float(t0), (1.0 if t1 > t0 else -1.0)
    h = direction * (h0 if h0 is not None else 0.01 * abs(t1 - t0))
    k0 = None
    for _ in range(max_steps):
        if direction * (t1 - t) <= 1e-12 * max(abs(t0), abs(t1), 1.0):
            return x
        h = direction * min(abs(h), abs(t1 - t))
        if k0 is None:
            k0 = f(x, t)
            stats.nfe += 1
        ks = rk_stages(f, x, t, h, tab, k0=k0)
        stats.nfe += tab.stages - 1
        x_new = _combine(x, h, tab.b, ks)
        err = _combine(torch.zeros_like(x), h, tab.b_err, ks)
        scale = atol + rtol * torch.maximum(x.abs(), x_new.abs())
        ratio = error_ratio(err, scale)
        if ratio <= 1.0:
            t, x = t + h, x_new
            k0 = ks[-1] if tab.fsal else None
            stats.accepted += 1
        else:
            stats.rejected += 1
        factor = 10.0 if ratio == 0 else min(10.0, max(0.2, 0.9 * ratio ** (-1.0 / tab.order)))
        h = h * factor
    raise RuntimeError(f"adaptive solver did not reach t = {t1} in {max_steps} steps")
