"""MADE: a masked autoregressive network for vectors (Germain et al. 2015), seed 001's
P(x) = Π_i p(x_i | x_<i) with each conditional a mixture of K Gaussians (mixture.py).

Every unit gets a degree: input x_j the position of j in the ordering (1…D), hidden units 1…D−1.
A weight from a unit of degree m to one of degree m' exists only if m' ≥ m (hidden layers) or
m' > m (into the output of input j, degree = its position): so the parameters of p(x_i | ·)
depend on the inputs before i in the ordering only (Eq. 12–13). A direct masked linear path from
the inputs to the output (strictly lower triangular) makes linear-Gaussian conditionals — any
N(μ, Σ) — exactly representable.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import DifflabError
from .mixture import init_mixture_bias, mixture_icdf, mixture_log_prob, split_params


class MaskedLinear(nn.Linear):
    """y = (W ⊙ M) x + b with a fixed binary mask M [out, in]."""

    def __init__(self, mask: Tensor, bias: bool = True):
        super().__init__(mask.shape[1], mask.shape[0], bias=bias)
        self.register_buffer("mask", mask.to(torch.float32).clone())

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight * self.mask, self.bias)


def input_degrees(order: list[int]) -> Tensor:
    """deg(x_j) = 1 + the position of j in the ordering."""
    deg = torch.empty(len(order), dtype=torch.long)
    deg[torch.tensor(order)] = torch.arange(1, len(order) + 1)
    return deg


def hidden_degrees(width: int, dim: int) -> Tensor:
    """Degrees 1…D−1 in turn (every degree equally often; D = 1 gives degree 1: no input reaches
    the output, whose only conditional is then its bias — the marginal)."""
    return torch.arange(width) % max(dim - 1, 1) + 1


def made_mask(deg_in: Tensor, deg_out: Tensor, strict: bool) -> Tensor:
    """M[o, i] = 1 if deg_out[o] > deg_in[i] (strict: into the outputs) else ≥ (hidden)."""
    d_out, d_in = deg_out[:, None], deg_in[None, :]
    return (d_out > d_in) if strict else (d_out >= d_in)


class MADE(nn.Module):
    """log p(x) = Σ_i log p(x_i | x_<i) for x [B, D]; `order` a permutation of 0…D−1 (default the
    natural order); num_classes > 0: p(x | c), the label's embedding added to the first hidden
    layer (a context every unit may see), with the null class −1 for p(x)."""

    data_init = False  # no data-dependent initialisation (flows have ActNorm)

    def __init__(
        self,
        dim: int,
        width: int = 256,
        depth: int = 2,
        components: int = 8,
        order: list[int] | None = None,
        num_classes: int = 0,
    ):
        super().__init__()
        order = list(range(dim)) if order is None else [int(i) for i in order]
        if sorted(order) != list(range(dim)):
            raise DifflabError(f"MADE order must be a permutation of 0…{dim - 1}, got {order}")
        self.dim, self.k, self.order = dim, components, order
        deg_x = input_degrees(order)
        deg_h = hidden_degrees(width, dim)
        out_deg = deg_x.repeat_interleave(3 * components)  # output o belongs to entry o // 3K
        self.hidden = nn.ModuleList(
            [MaskedLinear(made_mask(deg_x, deg_h, strict=False))]
            + [MaskedLinear(made_mask(deg_h, deg_h, strict=False)) for _ in range(depth - 1)]
        )
        self.head = MaskedLinear(made_mask(deg_h, out_deg, strict=True))
        self.direct = MaskedLinear(made_mask(deg_x, out_deg, strict=True), bias=False)
        nn.init.zeros_(self.direct.weight)  # starts as a network of marginals
        init_mixture_bias(self.head.bias, components)
        self.embed = nn.Embedding(num_classes + 1, width) if num_classes else None

    def params(self, x: Tensor, cond: Tensor | None = None) -> Tensor:
        """The conditionals' parameters [B, D, 3K] (logits, μ, log s): entry i's from x_<i."""
        h = self._hidden(x, cond)
        return (self.head(h) + self.direct(x)).reshape(len(x), self.dim, 3 * self.k)

    def params_of(self, x: Tensor, i: int, cond: Tensor | None = None) -> Tensor:
        """Entry i's parameters [B, 3K] alone: the output rows of entry i only (sampling needs one
        entry per pass; the full head would cost D times more)."""
        rows = slice(3 * self.k * i, 3 * self.k * (i + 1))
        head, direct = self.head, self.direct
        out = F.linear(self._hidden(x, cond), (head.weight * head.mask)[rows], head.bias[rows])
        return out + F.linear(x, (direct.weight * direct.mask)[rows])

    def _hidden(self, x: Tensor, cond: Tensor | None) -> Tensor:
        h = self.hidden[0](x)
        if self.embed is not None:
            if cond is None:
                raise DifflabError("this MADE was trained with class labels: give a class")
            h = h + self.embed(torch.where(cond < 0, self.embed.num_embeddings - 1, cond))
        h = F.silu(h)
        for layer in self.hidden[1:]:
            h = F.silu(layer(h))
        return h

    def log_prob(self, x: Tensor, cond: Tensor | None = None) -> Tensor:
        """Exact log p(x) [B]: the sum of the D conditionals' log-densities."""
        return mixture_log_prob(x, *split_params(self.params(x, cond), self.k)).sum(-1)

    def forward(self, x: Tensor, cond: Tensor | None = None) -> Tensor:
        return self.log_prob(x, cond)

    def sample(self, z: Tensor, cond: Tensor | None = None) -> Tensor:
        """x = f⁻¹(z): entry by entry in the ordering, x_i = F_i⁻¹(Φ(z_i) | x_<i) (D passes)."""
        x = torch.zeros_like(z)
        for i in self.order:
            p = split_params(self.params_of(x, i, cond), self.k)
            x[:, i] = mixture_icdf(z[:, i], *p)
        return x


__all__ = ["MADE", "MaskedLinear", "made_mask", "input_degrees", "hidden_degrees"]
