"""A WaveNet-style autoregressive model for 1-D sequences (van den Oord et al. 2016), seed 001's
dilated causal convolutions: depth log T instead of T for a receptive field of T.

Input at position t is x_{t−1} (and a flag that it exists), so the output at t sees x_<t only.
Each block: a causal convolution of kernel 2 and dilation d (y_t = W_past h_{t−d} + W_now h_t + b),
a gated activation tanh(a) ⊙ σ(g) (Eq. 2; a class label's embedding added to both, Eq. 3), a 1×1
residual and a 1×1 skip; dilations 1, 2, 4, … The skips' sum gives each entry's mixture of K
Gaussians (mixture.py). Sampling with a cache of each block's past inputs (fast WaveNet, Paine et
al. 2016) evaluates every layer once per generated value: O(T) layer evaluations, not O(T²).
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .mixture import init_mixture_bias, mixture_icdf, mixture_log_prob, split_params


def dilations(blocks: int, cycle: int = 10) -> list[int]:
    """d_l = 2^(l mod cycle): 1, 2, 4, …, 512, 1, 2, … (WaveNet Sec. 2.1)."""
    return [2 ** (i % cycle) for i in range(blocks)]


def receptive_field(blocks: int, cycle: int = 10) -> int:
    """How many past values p(x_t | ·) sees: x_{t−R} … x_{t−1}, R = 1 + Σ dilations (the input
    shift by one adds the 1)."""
    return 1 + sum(dilations(blocks, cycle))


class CausalConv(nn.Module):
    """y_t = W_past h_{t−d} + W_now h_t + b on [B, T, C] (channels last), h_{<0} = 0."""

    def __init__(self, c_in: int, c_out: int, dilation: int):
        super().__init__()
        self.dilation = dilation
        self.past = nn.Linear(c_in, c_out, bias=False)
        self.now = nn.Linear(c_in, c_out)

    def forward(self, h: Tensor) -> Tensor:
        past = F.pad(h, (0, 0, self.dilation, 0))[:, : h.shape[1]]
        return self.past(past) + self.now(h)

    def step(self, h_t: Tensor, h_past: Tensor) -> Tensor:
        """One position: h_t [B, 1, C] and h_{t−d} [B, 1, C] — the same two linear maps."""
        return self.past(h_past) + self.now(h_t)


class GatedBlock(nn.Module):
    """z = tanh(a) ⊙ σ(g), [a, g] = conv(h) + V c; returns (h + W_res z, W_skip z)."""

    def __init__(self, channels: int, dilation: int, num_classes: int):
        super().__init__()
        self.conv = CausalConv(channels, 2 * channels, dilation)
        self.res = nn.Linear(channels, channels)
        self.skip = nn.Linear(channels, channels)
        self.embed = nn.Embedding(num_classes + 1, 2 * channels) if num_classes else None

    def gate(self, u: Tensor, emb: Tensor | None) -> tuple[Tensor, Tensor]:
        if emb is not None:
            u = u + emb
        a, g = u.chunk(2, dim=-1)
        z = torch.tanh(a) * torch.sigmoid(g)
        return self.res(z), self.skip(z)

    def label(self, cond: Tensor | None) -> Tensor | None:
        if self.embed is None:
            return None
        if cond is None:
            raise ValueError("this WaveNet was trained with class labels: give a class")
        return self.embed(torch.where(cond < 0, self.embed.num_embeddings - 1, cond))[:, None]


class WaveNet(nn.Module):
    """log p(x) = Σ_t log p(x_t | x_<t) for sequences x [B, T]; `blocks` gated blocks with
    dilations 2^(l mod cycle)."""

    data_init = False  # no data-dependent initialisation (flows have ActNorm)

    def __init__(
        self,
        length: int,
        channels: int = 64,
        blocks: int = 6,
        components: int = 8,
        cycle: int = 10,
        num_classes: int = 0,
    ):
        super().__init__()
        self.length, self.k = length, components
        self.dilations = dilations(blocks, cycle)
        self.cycle = cycle
        self.inp = nn.Linear(2, channels)  # (x_{t−1}, 1) or (0, 0) at t = 0
        self.blocks = nn.ModuleList(GatedBlock(channels, d, num_classes) for d in self.dilations)
        self.out1 = nn.Linear(channels, channels)
        self.out2 = nn.Linear(channels, 3 * components)
        init_mixture_bias(self.out2.bias, components)

    @property
    def order(self) -> range:
        """Entries are generated in time order."""
        return range(self.length)

    @property
    def receptive_field(self) -> int:
        return receptive_field(len(self.dilations), self.cycle)

    def _features(self, x: Tensor) -> Tensor:
        """[B, T, 2]: at t the pair (x_{t−1}, 1); at t = 0 (0, 0)."""
        prev = F.pad(x, (1, 0))[:, :-1]
        flag = torch.ones_like(prev)
        flag[:, 0] = 0
        return torch.stack([prev, flag], dim=-1)

    def _head(self, skips: Tensor) -> Tensor:
        return self.out2(F.silu(self.out1(F.silu(skips))))

    def params(self, x: Tensor, cond: Tensor | None = None) -> Tensor:
        """The conditionals' parameters [B, T, 3K]: position t's from x_<t."""
        h = self.inp(self._features(x))
        skips = torch.zeros_like(h)
        for block in self.blocks:
            res, skip = block.gate(block.conv(h), block.label(cond))
            h, skips = h + res, skips + skip
        return self._head(skips)

    def params_of(self, x: Tensor, t: int, cond: Tensor | None = None) -> Tensor:
        """Position t's parameters [B, 3K] (the network on the prefix x_≤t)."""
        return self.params(x[:, : t + 1], cond)[:, t]

    def _position(self, x: Tensor, t: int, past: Callable, labels: list) -> Tensor:
        """Position t's parameters [B, 3K] from x_<t, one layer after another on [B, 1, C];
        past(i, h) gives block i's input at t − d_l (and is told this position's input h)."""
        feat = self._features(x[:, max(t - 1, 0) : t + 1])[:, -1:]
        h = self.inp(feat)
        skips = torch.zeros_like(h)
        for i, (block, emb) in enumerate(zip(self.blocks, labels)):
            res, skip = block.gate(block.conv.step(h, past(i, h)), emb)
            h, skips = h + res, skips + skip
        return self._head(skips)[:, 0]

    def log_prob(self, x: Tensor, cond: Tensor | None = None) -> Tensor:
        return mixture_log_prob(x, *split_params(self.params(x, cond), self.k)).sum(-1)

    def forward(self, x: Tensor, cond: Tensor | None = None) -> Tensor:
        return self.log_prob(x, cond)

    def sample(self, z: Tensor, cond: Tensor | None = None, cache: bool = True) -> Tensor:
        """x = f⁻¹(z), x_t = F_t⁻¹(Φ(z_t) | x_<t). cache: each block keeps its last d inputs in a
        ring, so step t evaluates every layer at position t only (O(T)); cache=False recomputes
        every position of the prefix from x alone at every step (O(T²)): the reference the cache
        must equal bit for bit (same per-position shapes: CPU kernels round a 16-element tensor
        and a 320-element one differently, so params() on the prefix agrees to ~1e-7 only)."""
        x = torch.zeros_like(z)
        labels = [block.label(cond) for block in self.blocks]
        step = self._ring(z) if cache else None
        for t in range(z.shape[1]):
            if cache:
                p = self._position(x, t, lambda i, h, t=t: step(i, h, t), labels)
            else:
                p = self._recomputed(x, t, labels)
            x[:, t] = mixture_icdf(z[:, t], *split_params(p, self.k))
        return x

    def _ring(self, z: Tensor) -> Callable:
        """past(i, h, t): block i's input at t − d from ring[i][t mod d], then h stored there.
        A dilation d ≥ T never reaches back inside the sequence: its past is always zero."""
        length, width = z.shape[1], self.inp.out_features
        rings = [z.new_zeros(d, len(z), 1, width) if d < length else None for d in self.dilations]

        def past(i: int, h: Tensor, t: int) -> Tensor:
            ring = rings[i]
            if ring is None:
                return torch.zeros_like(h)
            out = ring[t % self.dilations[i]].clone()
            ring[t % self.dilations[i]] = h
            return out

        return past

    def _recomputed(self, x: Tensor, t: int, labels: list) -> Tensor:
        """Position t's parameters with every earlier position recomputed from x (no cache)."""
        inputs: list[list[Tensor]] = [[] for _ in self.blocks]

        def past(i: int, h: Tensor, s: int) -> Tensor:
            d, seen = self.dilations[i], inputs[i]
            seen.append(h)
            return seen[s - d] if s >= d else torch.zeros_like(h)

        for s in range(t + 1):
            p = self._position(x, s, lambda i, h, s=s: past(i, h, s), labels)
        return p


__all__ = ["WaveNet", "CausalConv", "GatedBlock", "dilations", "receptive_field"]
