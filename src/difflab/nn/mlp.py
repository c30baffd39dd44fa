"""An MLP denoiser network for low-dimensional data (points, tabular and scientific vectors)."""

from __future__ import annotations

from torch import Tensor, nn

from .embeddings import ClassEmbedding, FourierEmbedding


class ResidualBlock(nn.Module):
    """h + W₂·SiLU(W₁·SiLU(LN(h)) + e): pre-norm residual block with the noise embedding added."""

    def __init__(self, width: int):
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.fc1 = nn.Linear(width, width)
        self.emb = nn.Linear(width, width)
        self.fc2 = nn.Linear(width, width)
        self.act = nn.SiLU()

    def forward(self, h: Tensor, e: Tensor) -> Tensor:
        z = self.act(self.fc1(self.act(self.norm(h))) + self.emb(e))
        return h + self.fc2(z)


class MLP(nn.Module):
    """F(x, c_noise): input and embedding projections, residual blocks, a zero-initialised output.

    The zero output layer makes D(x̂; σ) = c_skip·x̂ at initialisation, the trained model's
    behaviour at the noise extremes.
    """

    def __init__(
        self, dim: int, width: int = 128, depth: int = 4, emb_dim: int = 64, num_classes: int = 0
    ):
        super().__init__()
        self.config = {"dim": dim, "width": width, "depth": depth, "emb_dim": emb_dim}
        self.num_classes = num_classes
        self.embed = FourierEmbedding(emb_dim)
        self.emb_mlp = nn.Sequential(nn.Linear(emb_dim, width), nn.SiLU(), nn.Linear(width, width))
        self.class_emb = ClassEmbedding(num_classes, width) if num_classes else None
        self.inp = nn.Linear(dim, width)
        self.blocks = nn.ModuleList(ResidualBlock(width) for _ in range(depth))
        self.out_norm = nn.LayerNorm(width)
        self.out = nn.Linear(width, dim)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: Tensor, c_noise: Tensor, cond: Tensor | None = None) -> Tensor:
        e = self.emb_mlp(self.embed(c_noise))
        if self.class_emb is not None:  # the class joins the noise embedding of every block
            e = e + self.class_emb(cond, x.shape[0])
        h = self.inp(x.flatten(1))
        for block in self.blocks:
            h = block(h, e)
        return self.out(nn.functional.silu(self.out_norm(h))).view_as(x)
