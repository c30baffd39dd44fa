"""Completing partly observed rows with an autoregressive model.

The target is p(x_u | x_k) ∝ p(x). Filling the unknown entries in the model's order, each from its
conditional given everything before it (known or filled), draws from q(x_u) = Π_{i∈u} p(x_i | x_<i).
When every known entry comes before every unknown one in the ordering, q is the target: one draw
is exact. Otherwise q ignores what the later known entries say about the earlier unknown ones; the
importance weight p(x)/q(x_u) = Π_{i∈k} p(x_i | x_<i) corrects it, and resampling one of M
particles by these weights is exact as M → ∞ (sampling–importance resampling). The effective
sample size 1/Σw² per row says how far from that limit a row is (M when known entries come first).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .mixture import mixture_icdf, mixture_log_prob, split_params


def ar_inpaint(
    model: nn.Module, x: Tensor, known: Tensor, z: Tensor, u: Tensor, cond: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """x [N, D] (any value where unknown), known [N, D] bool, z [N, M, D] standard normal noise of
    M particles, u [N] uniforms for resampling → (completed x [N, D], effective sample size [N])."""
    n, m, d = z.shape
    xs = torch.where(known, x, 0.0).repeat_interleave(m, 0)
    kn = known.repeat_interleave(m, 0)
    zs = z.reshape(n * m, d)
    extra = () if cond is None else (cond.repeat_interleave(m, 0),)
    log_w = torch.zeros(n * m, dtype=torch.float64, device=x.device)
    for i in model.order:
        p = split_params(model.params_of(xs, i, *extra), model.k)
        xs[:, i] = torch.where(kn[:, i], xs[:, i], mixture_icdf(zs[:, i], *p))
        log_w += torch.where(kn[:, i], mixture_log_prob(xs[:, i], *p), 0.0).double()
    w = torch.softmax(log_w.view(n, m), dim=1)
    ess = 1 / (w**2).sum(1)
    pick = torch.searchsorted(w.cumsum(1), u.double()[:, None].to(w.device)).clamp_max(m - 1)
    return xs.view(n, m, d)[torch.arange(n), pick[:, 0]], ess


__all__ = ["ar_inpaint"]
