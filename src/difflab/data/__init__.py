"""Data: built-in toy sets and user files, and the standardisation stored with a model."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..errors import lookup
from .files import check_array, load_array, save_array
from .toy import TOY_SETS, ToySet


def is_toy(spec: str) -> bool:
    return spec in TOY_SETS


def get_toy(name: str) -> ToySet:
    return lookup(TOY_SETS, name, "data set", "a file or one of")


def load_data(spec: str, n: int = 50_000, seed: int = 0, key: str | None = None) -> np.ndarray:
    """A data set by name (n fresh points from a toy sampler) or by path (.npy/.npz/.csv)."""
    if is_toy(spec):
        return TOY_SETS[spec].sample(n, seed=seed).numpy()
    if not Path(spec).suffix and not Path(spec).exists():
        get_toy(spec)  # raises the error that lists the toy sets
    return load_array(spec, key=key)


@dataclass(frozen=True)
class Standardiser:
    """Per-dimension x ↦ (x - mean)/std, stored with the model; outputs are mapped back."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, data: np.ndarray) -> "Standardiser":
        std = data.std(axis=0)
        # A constant column cannot be standardised; keep its scale so it round-trips exactly.
        std = np.where(std > 1e-12, std, 1.0)
        return cls(data.mean(axis=0), std)

    @classmethod
    def identity(cls, dim: int) -> "Standardiser":
        return cls(np.zeros(dim), np.ones(dim))

    def forward(self, x: np.ndarray) -> np.ndarray:
        return (x - self.mean) / self.std

    def inverse(self, z: np.ndarray) -> np.ndarray:
        return z * self.std + self.mean

    def log_abs_det(self, shape: tuple[int, ...]) -> float:
        """log|dz/dx| of one sample: -Σ log std."""
        return -float(np.log(self.std).sum())

    def to_dict(self) -> dict:
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> "Standardiser":
        return cls(np.asarray(d["mean"], dtype=np.float64), np.asarray(d["std"], dtype=np.float64))


def scaler_from_dict(d: dict):
    """The data scaling a run stored: a table's column codec, pixel-range scaling (images) or
    per-dimension standards."""
    from .codec import TableCodec
    from .images import PixelScaler

    kind = d.get("kind")
    if kind == "table":
        return TableCodec.from_dict(d)
    return PixelScaler.from_dict(d) if kind == "pixels" else Standardiser.from_dict(d)


def max_pairwise_distance(x: Tensor, n: int = 2000) -> float:
    """Largest Euclidean distance between two points of (a subsample of) x: σ_max's scale."""
    x = x[:n].to(torch.float64)
    return float(torch.cdist(x, x).max())


__all__ = [
    "TOY_SETS",
    "ToySet",
    "Standardiser",
    "check_array",
    "get_toy",
    "is_toy",
    "load_array",
    "load_data",
    "max_pairwise_distance",
    "save_array",
    "scaler_from_dict",
]
