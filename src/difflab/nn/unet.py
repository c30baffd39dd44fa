"""A compact U-Net denoiser network for small images, in the style of DDPM++ / EDM's SongUNet.

F(x, c_noise, cond) on [B, C, H, W]: residual blocks (GroupNorm, SiLU, 3×3 convolutions) that take
the noise embedding (and a class embedding with a null class, for guidance); stride-2 downsampling;
self-attention at the lowest resolution; skip connections from every encoder block to the decoder.
Any H, W (odd sizes too): the decoder upsamples to each skip's exact size.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from .embeddings import ClassEmbedding, FourierEmbedding


def _groups(channels: int) -> int:
    """GroupNorm groups: up to 32, at least 4 channels each where possible (EDM: min(32, C // 4)),
    and a divisor of C."""
    return next(
        g for g in (32, 16, 8, 4, 2, 1) if channels % g == 0 and (channels // g >= 4 or g == 1)
    )


class ResBlock(nn.Module):
    """h + conv(SiLU(GN(conv(SiLU(GN(h))))·(1 + a) + b)) with (a, b) = W·e: the noise/class
    embedding scales and shifts every channel after the normalisation (adaptive GroupNorm, as ADM
    and EDM's DhariwalUNet). Added before a GroupNorm instead, a per-channel shift is erased
    wherever a group holds one channel."""

    def __init__(self, c_in: int, c_out: int, emb: int, dropout: float = 0.0):
        super().__init__()
        self.norm1 = nn.GroupNorm(_groups(c_in), c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb = nn.Linear(emb, 2 * c_out)  # per-channel scale and shift
        self.norm2 = nn.GroupNorm(_groups(c_out), c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.dropout = nn.Dropout(dropout)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()
        nn.init.zeros_(self.conv2.weight)  # each block starts as the identity
        nn.init.zeros_(self.conv2.bias)

    def forward(self, h: Tensor, e: Tensor) -> Tensor:
        z = self.norm2(self.conv1(F.silu(self.norm1(h))))
        scale, shift = self.emb(e)[:, :, None, None].chunk(2, dim=1)
        z = self.conv2(self.dropout(F.silu(torch.addcmul(shift, z, 1 + scale))))
        return self.skip(h) + z


class Attention(nn.Module):
    """Multi-head self-attention over the H·W positions, residual, zero-initialised output."""

    def __init__(self, channels: int, heads: int = 1):
        super().__init__()
        self.heads = heads
        self.norm = nn.GroupNorm(_groups(channels), channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.out = nn.Conv2d(channels, channels, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, h: Tensor) -> Tensor:
        b, c, hh, ww = h.shape
        q, k, v = (
            self.qkv(self.norm(h)).reshape(b, 3, self.heads, c // self.heads, hh * ww).unbind(1)
        )
        a = F.scaled_dot_product_attention(
            q.transpose(-1, -2), k.transpose(-1, -2), v.transpose(-1, -2)
        )
        return h + self.out(a.transpose(-1, -2).reshape(b, c, hh, ww))


class UNet(nn.Module):
    """F(x, c_noise, cond) for images [B, C, H, W].

    channels: base width; mults: width multiplier per resolution (len(mults) − 1 downsamplings);
    blocks: residual blocks per resolution; attention at the lowest resolution; num_classes > 0
    adds a class embedding (plus the null class) to the noise embedding.
    """

    def __init__(
        self,
        shape: tuple[int, int, int],
        channels: int = 64,
        mults: tuple[int, ...] = (1, 2, 2),
        blocks: int = 2,
        num_classes: int = 0,
        dropout: float = 0.0,
        heads: int = 1,
    ):
        super().__init__()
        c_img = shape[0]
        self.num_classes = num_classes
        emb = 4 * channels
        self.embed = FourierEmbedding(channels)
        self.emb_mlp = nn.Sequential(nn.Linear(channels, emb), nn.SiLU(), nn.Linear(emb, emb))
        self.class_emb = ClassEmbedding(num_classes, emb) if num_classes else None
        self.inp = nn.Conv2d(c_img, channels, 3, padding=1)
        widths = [channels * m for m in mults]
        self.down, skips, c = nn.ModuleList(), [channels], channels
        for level, width in enumerate(widths):
            for _ in range(blocks):
                self.down.append(ResBlock(c, width, emb, dropout))
                c = width
                skips.append(c)
            if level < len(widths) - 1:
                self.down.append(nn.Conv2d(c, c, 3, stride=2, padding=1))
                skips.append(c)
        self.mid = nn.ModuleList(
            [ResBlock(c, c, emb, dropout), Attention(c, heads), ResBlock(c, c, emb, dropout)]
        )
        self.up = nn.ModuleList()
        for level, width in reversed(list(enumerate(widths))):
            for _ in range(blocks + 1):
                self.up.append(ResBlock(c + skips.pop(), width, emb, dropout))
                c = width
            if level > 0:
                self.up.append(nn.Conv2d(c, c, 3, padding=1))  # after a nearest upsampling
        self.out_norm = nn.GroupNorm(_groups(c), c)
        self.out = nn.Conv2d(c, c_img, 3, padding=1)
        nn.init.zeros_(self.out.weight)  # D = c_skip·x̂ at initialisation
        nn.init.zeros_(self.out.bias)

    def forward(self, x: Tensor, c_noise: Tensor, cond: Tensor | None = None) -> Tensor:
        e = self.emb_mlp(self.embed(c_noise))
        if self.class_emb is not None:
            e = e + self.class_emb(cond, x.shape[0])
        h = self.inp(x)
        hs = [h]
        for layer in self.down:
            h = layer(h, e) if isinstance(layer, ResBlock) else layer(h)
            hs.append(h)
        for layer in self.mid:
            h = layer(h, e) if isinstance(layer, ResBlock) else layer(h)
        for layer in self.up:
            if isinstance(layer, ResBlock):
                h = layer(torch.cat([h, hs.pop()], dim=1), e)
            else:  # upsample to the next skip's exact size (odd sizes round up on the way down)
                h = layer(F.interpolate(h, size=hs[-1].shape[-2:], mode="nearest"))
        return self.out(F.silu(self.out_norm(h)))


def parameter_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


__all__ = ["UNet", "ResBlock", "Attention", "parameter_count"]
