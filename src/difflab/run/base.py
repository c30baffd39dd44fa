"""A trained run as a Python object: its directory, configuration and data scaling; completion
of partly observed rows and log-likelihood in the data's units, for every kind of model."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..checkpoint import CHECKPOINT, load_checkpoint, read_history
from ..data import Standardiser, check_array
from ..data.codec import TableCodec
from ..data.labels import tidy_label
from ..errors import DifflabError
from ..runconfig import RunConfig
from .condition import Condition
from .evaluate import Evaluation


def chunks(n: int, size: int) -> Iterator[slice]:
    """Rows 0…n-1 in consecutive slices of at most `size`: every batch loop of a run."""
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def load_parts(run_dir: str | Path) -> tuple[Path, dict[str, torch.Tensor], RunConfig]:
    """(directory, tensors, configuration) of the run in `run_dir`, refused when it is none."""
    path = Path(run_dir)
    if not path.is_dir():
        raise DifflabError(f"{path}: no such run directory")
    tensors, meta = load_checkpoint(path / CHECKPOINT)
    config = meta.get("config")
    if not isinstance(config, dict) or "model" not in config or "data" not in config:
        raise DifflabError(f"{path / CHECKPOINT}: checkpoint metadata has no run configuration")
    return path, tensors, RunConfig.from_dict(config, str(path / CHECKPOINT))


def load_ema(module: torch.nn.Module, tensors: dict[str, torch.Tensor], path: Path) -> None:
    """The checkpoint's EMA weights into `module` (the weights every run samples with)."""
    try:
        module.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("ema.")})
    except RuntimeError:
        raise DifflabError(
            f"{path / CHECKPOINT}: weights do not match the model in its configuration"
        ) from None


@dataclass
class TrainedRun(Evaluation):
    """What every trained run has: its directory, configuration and data standardisation."""

    path: Path
    config: RunConfig
    standardiser: Standardiser

    @property
    def dim(self) -> int:
        return self.config.data.dim

    @property
    def shape(self) -> tuple[int, ...]:
        """One sample's shape: (D,) for vectors, (C, H, W) for images."""
        return self.config.data.shape

    @property
    def is_image(self) -> bool:
        """Samples are images C×H×W (pixel units), not vectors."""
        return len(self.shape) == 3

    @property
    def is_table(self) -> bool:
        """Samples are tables (a pandas DataFrame with the training columns), not arrays."""
        return isinstance(self.standardiser, TableCodec)

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def classes(self) -> list[str] | None:
        """Class names of a run trained with labels (label i is classes[i]), else None."""
        return self.config.data.classes

    @property
    def history(self) -> list:
        """[[step, mean loss], …] as logged during training (loss.json; empty if absent)."""
        return read_history(self.path)

    @property
    def trained_steps(self) -> int:
        history = self.history  # read loss.json once
        return int(history[-1][0]) if history else 0

    def _check_data(self, x: np.ndarray, what: str) -> np.ndarray:
        x = check_array(np.asarray(x), what)
        if x.shape[1] != self.dim:
            raise DifflabError(
                f"{what} have {x.shape[1]} columns, the model was trained on {self.dim}"
            )
        return x

    def inpaint(
        self,
        known: np.ndarray,
        mask: np.ndarray | None = None,
        method: str = "smc",
        steps: int | None = None,
        seed: int = 0,
        batch_size: int = 2000,
        stats: dict | None = None,
        cond: int | str | None = None,
        guidance: float = 1.0,
        unconditional: bool = False,
        **options,
    ) -> np.ndarray:
        """Fill the missing entries of `known` (data units; NaN where missing, or `mask` False) with
        difflab.sampling.inpaint (diffusion; method, steps, guidance) or autoregressive.inpaint
        (MADE/WaveNet: exact, `particles`); observed entries come back exactly. Steps default to
        18 (replace, Heun), 50 (repaint) or 100 (smc, Euler kernel). Rows are N×D vectors or
        N×C×H×W images (pixel units); a table's missing cells are its empty ones (no mask). Row i
        depends only on (seed, i); lower `batch_size` for large images (smc holds K copies)."""
        self.refuse_student("inpainting (its chains need E[x0 | x̂])")
        condition = Condition(cond, guidance, unconditional)
        if self.is_table:
            condition = self._row_condition(known, condition)
        how = dict(method=method, steps=steps, seed=seed, batch_size=batch_size, stats=stats)
        how.update(condition=condition, **options)
        if self.is_table:
            if mask is not None:
                raise DifflabError(
                    "a table's missing cells are its empty cells (NaN, None); no mask"
                )
            return self._inpaint_table(known, how)
        known = np.asarray(known, dtype=np.float64)
        if known.shape[1:] != self.shape:
            want = "×".join(str(s) for s in ("N", *self.shape))
            raise DifflabError(f"rows to complete must be {want}, got shape {known.shape}")
        mask = np.isfinite(known) if mask is None else np.array(mask, dtype=bool)  # a copy
        if mask.shape != known.shape:
            raise DifflabError(f"mask has shape {mask.shape}; expected {known.shape} like the rows")
        if np.isinf(known[mask]).any():
            raise DifflabError(
                "observed values must be finite (NaN or an empty cell marks a missing one)"
            )
        z = np.where(mask, self.standardiser.forward(np.where(mask, known, 0.0)), np.nan)
        filled = self.standardiser.inverse(self._inpaint_codes(z, mask, **how))
        return np.where(mask, known, filled)

    @property
    def label_column(self) -> str | None:
        """The table column the classes came from (`train --labels COLUMN`), if any."""
        data = self.config.data
        return data.labels if self.is_table and data.classes and data.labels else None

    def _with_labels(self, samples, labels: torch.Tensor | None):
        """A table's samples with each row's class in the label column; other samples as
        they are (and rows of the null class, −1, without one)."""
        if self.label_column is None or labels is None:
            return samples
        names = np.array([*self.classes, None], dtype=object)[labels.cpu().numpy()]
        return samples.assign(**{self.label_column: names})

    def _row_condition(self, known, condition: Condition) -> Condition:
        """Rows that carry their label column, filled, are each conditioned on their own class
        unless a class or unconditional was given."""
        column = self.label_column
        if condition.cond is not None or condition.unconditional or column is None:
            return condition
        if not isinstance(known, pd.DataFrame) or column not in known.columns:
            return condition
        gone = known[column].isna().to_numpy()
        if gone.any():
            raise DifflabError(
                f"column {column!r}: {int(gone.sum())} row(s) without a class (first: row "
                f"{int(np.argmax(gone))}); fill them, or give a class (--class K) or "
                "--unconditional"
            )
        names = [tidy_label(v) for v in known[column]]
        return Condition(names, condition.guidance, condition.unconditional)

    def _inpaint_table(self, known: pd.DataFrame, how: dict) -> pd.DataFrame:
        """A table's missing cells (NaN, None, empty) completed; observed cells kept as given."""
        codec = self.standardiser
        if not isinstance(known, pd.DataFrame):
            raise DifflabError(f"rows to complete must be a table with columns {codec.names}")
        z = codec.forward(known, missing=True)
        filled = codec.inverse(self._inpaint_codes(z, np.isfinite(z), **how))
        out = known.copy()
        for name in codec.names:
            gone = out[name].isna().to_numpy()
            if gone.any():
                column = out[name].astype(object).to_numpy().copy()
                column[gone] = filled[name].to_numpy()[gone]
                # an integer column read with empty cells is float; complete, it is integer again
                out[name] = pd.Series(column, index=out.index).astype(filled[name].dtype)
        return out

    def refuse_student(self, what: str) -> None:
        """A consistency model's f(x̂, σ) is the end of the trajectory through x̂, not E[x0 | x̂]:
        what needs the denoiser (ODE solvers, the likelihood, inpainting) is refused."""
        preset = getattr(self, "preset", None)
        if preset is not None and preset.consistency:
            teacher = self.config.train.get("teacher")
            also = f", or use its teacher ({teacher})" if teacher else ""
            raise DifflabError(
                f"{self.path}: a {preset.name} model has no denoiser for {what}; sample it with "
                f"the consistency sampler (--steps 1–4){also}"
            )

    def log_prob(self, x: np.ndarray, **options) -> np.ndarray:
        """log p(x) in nats per point, x in the data's original units (vectors, or images in pixel
        units), the scaling's Jacobian log|dz/dx| included."""
        if self.is_table:
            z = self.standardiser.forward(x)
            jacobian = self.standardiser.log_abs_det(x)
            return self.log_prob_standardised(torch.from_numpy(z), **options) + jacobian
        if self.is_image:
            x = np.asarray(x, dtype=np.float64)
            if x.shape[1:] != self.shape or not np.isfinite(x).all():
                raise DifflabError(
                    f"points must be finite and of shape N×{'×'.join(map(str, self.shape))}, "
                    f"got {x.shape}"
                )
        else:
            x = self._check_data(x, "points")
        z = self.standardiser.forward(x)
        jacobian = self.standardiser.log_abs_det(self.shape)
        return self.log_prob_standardised(torch.from_numpy(z), **options) + jacobian

    def log_prob_standardised(
        self, z: torch.Tensor, **options
    ) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _inpaint_codes(self, z: np.ndarray, mask: np.ndarray, **how) -> np.ndarray:
        """The model-space core of inpaint: z (NaN where missing) with mask → completed z."""
        raise NotImplementedError  # pragma: no cover - each kind of run has its own
