"""What a run trained with class labels is asked for, as one value: `Condition`.

A class label goes `sample --class K` → Condition(cond=K) → `labels` (class indices, one per
sample) → the sampler's denoiser D(·, c) (`sampling.guidance.Conditioned`) or guided
D_w = D(∅) + w·(D(c) − D(∅)) (`sampling.guidance.cfg`), and → where the chain starts
(`sampling.prior.class_start`). The refusals live here: a labelled run refuses to guess
(conditioning silently ignored is a classic peer bug), an unlabelled run refuses a class.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import DifflabError
from ..runconfig import DataInfo
from ..sampling.guidance import Conditioned, cfg


@dataclass(frozen=True)
class Condition:
    """`cond`: a class (its name or index) or one per sample; `guidance`: w (0 unconditional,
    1 conditional, > 1 guided); `unconditional`: p(x) of a labelled run."""

    cond: object = None
    guidance: float = 1.0
    unconditional: bool = False

    def kwargs(self) -> dict:
        """As the keyword arguments of Run.sample, Run.inpaint, Run.for_nfe, … take it."""
        return {"cond": self.cond, "guidance": self.guidance, "unconditional": self.unconditional}

    def describe(self) -> str:
        """', class K, guidance W', ', unconditional' or '' for a line that reports samples."""
        if self.cond is not None:
            return f", class {self.cond}, guidance {self.guidance:g}"
        return ", unconditional" if self.unconditional else ""

    def check(self, data: DataInfo, where: Path) -> None:
        """Refuse what this run cannot do: a class or guidance without labels; neither a class
        nor unconditional, or both, with labels."""
        if not data.classes:
            if self.cond is not None or self.guidance != 1.0:
                what = "a class" if self.cond is not None else f"guidance {self.guidance:g}"
                raise DifflabError(
                    f"{where} was trained without labels: {what} cannot apply (train with "
                    f"--labels to condition a model)"
                )
            return
        if self.unconditional and self.cond is not None:
            raise DifflabError("give either a class or unconditional, not both")
        if not self.unconditional and self.cond is None:
            raise DifflabError(
                f"{where} was trained with labels ({len(data.classes)} classes: "
                f"{short(data.classes)}); give a class (--class K) or --unconditional"
            )

    def labels(self, data: DataInfo, n: int) -> torch.Tensor | None:
        """The class as indices [n]: one class for all (a name or an index) or one per sample;
        None without a class; an empty tensor for a class an unlabelled run lacks (`check`
        explains)."""
        if self.cond is None or not data.classes:
            return None if self.cond is None else torch.zeros(0)
        if isinstance(self.cond, (str, int, np.integer)):
            return torch.full((n,), data.class_index(self.cond), dtype=torch.long)
        given = list(self.cond)
        if len(given) != n:
            raise DifflabError(f"give one class per sample: {len(given)} classes for {n} samples")
        return torch.tensor([data.class_index(c) for c in given], dtype=torch.long)

    def single(self, data: DataInfo) -> int | None:
        """The one class of a class chain (labelled, a single class, w ≠ 0), else None."""
        if not data.classes or self.unconditional or self.guidance == 0 or self.cond is None:
            return None
        if not isinstance(self.cond, (str, int, np.integer)):
            return None
        return data.class_index(self.cond)

    def key(self, data: DataInfo) -> str:
        """What a tuned grid was tuned on, as its key's suffix: '' for the unconditional model
        (an unlabelled run, unconditional, w = 0), '|class=K,w=W' for one class. One class per
        sample has no single denoiser to tune on: those use the unconditional grids."""
        k = self.single(data)
        return "" if k is None else f"|class={k},w={self.guidance:g}"

    def starts_per_class(self, data: DataInfo) -> bool:
        """Whether chains start at their class's marginal (sampling.prior), not N(0, σ²I)."""
        return (
            self.cond is not None
            and not self.unconditional
            and self.guidance != 0
            and bool(data.class_means)
        )

    def denoiser(self, base, data: DataInfo, where: Path, labels=None):
        """The two-argument denoiser to sample: D(·, c), guided D_w, or the unconditional
        D(·, ∅) of `base`; `labels` (class indices) instead of the class when given."""
        self.check(data, where)
        if not data.classes or self.unconditional:
            return base
        if labels is not None or isinstance(self.cond, torch.Tensor):
            k = labels if labels is not None else self.cond
        elif isinstance(self.cond, (str, int, np.integer)):
            k = data.class_index(self.cond)
        else:  # one class per sample
            k = self.labels(data, len(self.cond))
        return Conditioned(base, k) if self.guidance == 1.0 else cfg(base, k, self.guidance)


def short(names: list[str], k: int = 10) -> str:
    """The first k names, comma-separated."""
    return ", ".join(names[:k]) + (", …" if len(names) > k else "")
