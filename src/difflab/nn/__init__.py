"""Networks F(x, c_noise) that the parameterisations wrap into denoisers."""

from .embeddings import FourierEmbedding
from .mlp import MLP

__all__ = ["FourierEmbedding", "MLP"]
