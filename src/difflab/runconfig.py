"""The typed configuration of a run, as written to config.json and the checkpoint's metadata."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from .errors import DifflabError
from .models import ModelConfig


@dataclass(frozen=True)
class DataInfo:
    """What the model was trained on: the data's name or path, its size, the shape of one sample,
    the standardisation, the covariance (small D, for the likelihood's prior) and the class names
    (label i is classes[i]; None for unlabelled data)."""

    spec: str
    n: int
    shape: tuple[int, ...]
    standardiser: dict
    cov: list | None = None
    classes: list[str] | None = None
    labels: str | None = None  # where the labels came from: a column, a key, 'components'
    class_means: list | None = None  # per class, the (standardised) data's mean: the prior's centre
    # per class, the data's covariance [K][D][D] (D ≤ 64) or variances [K][*shape]: the prior's
    # spread (runs from before it: None, then the prior keeps σ_data² for the class's spread)
    class_covs: list | None = None
    holdout: float = 0.2  # tables and images: the fraction held out (the fixed split's seed 0)
    validation: str | None = None  # the user's own held-out rows (a file or folder) instead

    @property
    def dim(self) -> int:
        return math.prod(self.shape)

    @property
    def num_classes(self) -> int:
        return len(self.classes) if self.classes else 0

    def class_index(self, name: str | int) -> int:
        """A class given by its name or its index → its index; a one-line error otherwise."""
        if not self.classes:
            raise DifflabError(
                f"the model was trained without labels (data {self.spec}); it has no classes"
            )
        if str(name) in self.classes:
            return self.classes.index(str(name))
        try:
            k = int(name)
        except (TypeError, ValueError):
            k = -1
        if not 0 <= k < len(self.classes):
            raise DifflabError(
                f"unknown class {name!r}; the model knows {len(self.classes)}: "
                f"{', '.join(self.classes)} (or their indices 0…{len(self.classes) - 1})"
            )
        return k


@dataclass(frozen=True)
class RunConfig:
    preset: str | None  # None for a flow (trained by maximum likelihood)
    sigma_data: float
    sigma_max: float
    data: DataInfo
    model: ModelConfig
    train: dict = field(default_factory=dict)
    difflab_version: str = ""

    @property
    def name(self) -> str:
        return self.preset or self.model.type

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["data"]["shape"] = list(self.data.shape)
        return out

    @classmethod
    def from_dict(cls, d: dict, where: str = "run configuration") -> "RunConfig":
        try:
            data = dict(d["data"])
            if "shape" not in data:  # runs written before sample shapes: N×D vectors
                data["shape"] = [data.pop("dim")]
            data.pop("dim", None)
            data["shape"] = tuple(int(s) for s in data["shape"])
            return cls(
                preset=d["preset"],
                sigma_data=float(d["sigma_data"]),
                sigma_max=float(d["sigma_max"]),
                data=DataInfo(**data),
                model=ModelConfig(**d["model"]),
                train=d.get("train", {}),
                difflab_version=d.get("difflab_version", ""),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise DifflabError(
                f"{where}: malformed run configuration ({type(e).__name__}: {e})"
            ) from None


__all__ = ["DataInfo", "RunConfig"]
