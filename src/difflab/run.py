"""A trained run as a Python object: sampling and log-likelihood in the data's units, evaluation."""

from __future__ import annotations

import copy
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm import tqdm

from .checkpoint import load_checkpoint, write_json

from .data import Standardiser, check_array, get_toy, is_toy, load_data, scaler_from_dict
from .data.columns import TableCodec
from .data.labels import load_labelled
from .data.reference import LABEL, read_array_reference, read_table_reference
from .data.tables import read_table
from .ideal import GaussianMixture
from .errors import DifflabError
from .metrics import compare
from .parameterisation import Denoiser
from .presets import Preset, get_preset
from .likelihood import log_prob
from .models import build_model
from .random import randn_per_sample
from .runconfig import RunConfig
from .sampling import get_sampler, karras_sigmas, make_sigmas, sample
from .sampling.guidance import Conditioned, cfg
from .sampling.inpaint import PARTICLES, SMC_LEVELS, inpaint
from .sampling.prior import (
    GaussianStart,
    class_start,
    flow_start,
    guided_limit_start,
)
from .training import CHECKPOINT, read_history


PILOT = 512  # antithetic pairs per class of the guided start's pilot (sampling.prior.flow_start)
PILOT_STREAM = 1 << 20  # its noise streams, PILOT_STREAM + class, apart from every sampler's
# tuned σ grids of a run: {"sampler@nfe[|class=K,w=W]": {"sigmas", "tuned", "karras", …}}
GRIDS = "grids.json"


def _load(run_dir: str | Path) -> tuple[Path, dict[str, torch.Tensor], RunConfig]:
    path = Path(run_dir)
    if not path.is_dir():
        raise DifflabError(f"{path}: no such run directory")
    tensors, meta = load_checkpoint(path / CHECKPOINT)
    config = meta.get("config")
    if not isinstance(config, dict) or "model" not in config or "data" not in config:
        raise DifflabError(f"{path / CHECKPOINT}: checkpoint metadata has no run configuration")
    return path, tensors, RunConfig.from_dict(config, str(path / CHECKPOINT))


def _ema_weights(module: torch.nn.Module, tensors: dict[str, torch.Tensor], path: Path) -> None:
    try:
        module.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("ema.")})
    except RuntimeError:
        raise DifflabError(
            f"{path / CHECKPOINT}: weights do not match the model in its configuration"
        ) from None


@dataclass
class TrainedRun:
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

    def _class_labels(self, cond, n: int) -> torch.Tensor | None:
        """cond as class indices [n]: one class for all (a name or an index) or one per sample."""
        if cond is None or not self.config.data.classes:
            return None if cond is None else torch.zeros(0)  # conditioned() explains the latter
        if isinstance(cond, (str, int, np.integer)):
            return torch.full((n,), self.config.data.class_index(cond), dtype=torch.long)
        cond = list(cond)
        if len(cond) != n:
            raise DifflabError(f"give one class per sample: {len(cond)} classes for {n} samples")
        return torch.tensor([self.config.data.class_index(c) for c in cond], dtype=torch.long)

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
        if self.is_table and mask is not None:
            raise DifflabError("a table's missing cells are its empty cells (NaN, None); no mask")
        if self.is_table:
            return self._inpaint_table(
                known,
                method,
                steps,
                seed,
                batch_size,
                stats,
                cond,
                guidance,
                unconditional,
                **options,
            )
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
        args = (method, steps, seed, batch_size, stats, cond, guidance, unconditional)
        filled = self.standardiser.inverse(self._inpaint_codes(z, mask, *args, **options))
        return np.where(mask, known, filled)

    def _inpaint_table(self, known: pd.DataFrame, *args, **options) -> pd.DataFrame:
        """A table's missing cells (NaN, None, empty) completed; observed cells kept as given."""
        codec = self.standardiser
        if not isinstance(known, pd.DataFrame):
            raise DifflabError(f"rows to complete must be a table with columns {codec.names}")
        z = codec.forward(known, missing=True)
        filled = codec.inverse(self._inpaint_codes(z, np.isfinite(z), *args, **options))
        out = known.copy()
        for name in codec.names:
            gone = out[name].isna().to_numpy()
            if gone.any():
                column = out[name].astype(object).to_numpy().copy()
                column[gone] = filled[name].to_numpy()[gone]
                # an integer column read with empty cells is float; complete, it is integer again
                out[name] = pd.Series(column, index=out.index).astype(filled[name].dtype)
        return out

    def reference_sets(
        self, n: int, spec: str | None = None, k: int = 6, cls: int | None = None
    ) -> list[np.ndarray]:
        """k independent exact sets for the noise floor: fresh draws of a toy set, or disjoint
        random chunks of a data file (fewer and smaller when the file is small); with `cls`, of
        that class only (a toy mixture's component, or the file's rows with that label)."""
        spec = spec or self.config.data.spec
        if is_toy(spec):
            toy = get_toy(spec)
            if toy.dim != self.dim:
                raise DifflabError(
                    f"reference {spec} has dimension {toy.dim}, the model {self.dim}"
                )
            if cls is not None:
                component = _component(toy.mixture, cls)
                return [
                    component.sample(n, generator=torch.Generator().manual_seed(10_000 + i)).numpy()
                    for i in range(k)
                ]
            return [toy.sample(n, seed=10_000 + i).numpy() for i in range(k)]
        stored = read_array_reference(self.path) if spec == self.config.data.spec else None
        if stored is not None:  # the rows the run trained on, kept in the run
            data, labels = stored
            data = data if cls is None or labels is None else data[labels == cls]
        elif spec == "array":
            raise DifflabError(
                f"{self.path}: trained from an array in Python, before runs kept their rows; "
                "give --reference FILE"
            )
        elif self.config.data.labels:  # the label column is not data
            data, labels, _ = load_labelled(spec, self.config.data.labels)
            data = data if cls is None else data[labels == cls]
        else:
            data = load_data(spec)
        if data.shape[1] != self.dim:
            raise DifflabError(
                f"{spec}: reference has {data.shape[1]} columns, the model was trained on {self.dim}"
            )
        if len(data) == 0:
            raise DifflabError(f"{spec}: no reference rows" + (f" of class {cls}" if cls else ""))
        data = data[np.random.default_rng(0).permutation(len(data))]
        if len(data) < 4:  # a tiny data set: one set, metrics without a floor (compare warns)
            return [data]
        k = max(2, min(k, len(data) // n))
        size = min(n, len(data) // k)
        return [data[i * size : (i + 1) * size] for i in range(k)]

    def evaluate(
        self, samples: np.ndarray, reference: str | None = None, cls: int | None = None
    ) -> dict:
        """Metrics of samples (original units) against the reference, with the noise floor; with
        `cls` (a class index) against that class's data only."""
        if self.is_image:
            return self.evaluate_images(np.asarray(samples), reference, cls)
        if self.is_table:
            return self.evaluate_table(samples, reference, cls)
        samples = self._check_data(samples, "samples")
        spec = reference or self.config.data.spec
        refs = self.reference_sets(len(samples), spec, cls=cls)
        mixture = get_toy(spec).mixture if is_toy(spec) else None
        if mixture is not None and cls is not None:
            mixture = _component(mixture, cls)
        result = compare(samples, refs, mixture)
        result["reference"] = spec
        return result

    def evaluate_table(
        self,
        samples: pd.DataFrame,
        reference: str | None = None,
        cls: int | None = None,
        target: str | None = None,
    ) -> dict:
        """Table metrics (difflab.table_metrics) of synthetic rows against the rows the run keeps
        (or the table `reference`, then without held-out rows), each beside its floor."""
        from .table_metrics import table_metrics

        codec = self.standardiser
        if reference is None:
            train, test = read_table_reference(self.path)
        else:
            train, test = read_table(reference), None
        if cls is not None:
            train, test = (_of_class(t, cls) for t in (train, test))
        if target is not None and target not in codec.names:
            raise DifflabError(f"--target {target!r}: not a column; the columns are {codec.names}")
        result = table_metrics(codec, codec.inverse(codec.forward(samples)), train, test, target)
        if test is None:
            result["warning"] = "no held-out rows (a tiny table): the metrics have no floor"
        result["reference"] = reference or self.config.data.spec
        return result

    def evaluate_images(
        self, samples: np.ndarray, reference: str | None = None, cls: int | None = None
    ) -> dict:
        """Image metrics (difflab.image_metrics) of samples in pixel units against the data set's
        held-out test split: FD in a difflab-trained classifier's features beside its floor, class
        accuracy for samples of class `cls`, memorisation beside held-out real images."""
        from .image_metrics import image_metrics

        if samples.shape[1:] != self.shape:
            raise DifflabError(f"samples have shape {samples.shape[1:]}, the model {self.shape}")
        spec = reference or self.config.data.spec
        train, test = self._image_splits(spec)
        classifier, accuracy = self._classifier_for(train, test)
        scale = self.standardiser
        x_train, x_test = scale.forward(train.pixels), scale.forward(test.pixels)
        reference = None
        if cls is not None and test.labels is not None:  # that class's real images only
            x_test, reference = x_test[test.labels == cls], x_train[train.labels == cls]
        result = image_metrics(
            scale.forward(samples), x_train, x_test, classifier, cls, reference=reference
        )
        result.update(reference=spec, classifier_accuracy=accuracy)
        return result

    def image_classifier(self, spec: str | None = None) -> tuple:
        """(classifier, its held-out accuracy) for the image metrics, trained on the train split
        of `spec` (default: the run's data) or loaded from the cache; (None, None) without labels."""
        return self._classifier_for(*self._image_splits(spec or self.config.data.spec))

    def _image_splits(self, spec: str) -> tuple:
        from .data.images import load_images

        return tuple(
            load_images(spec, split=s, image_size=self.shape[-1]) for s in ("train", "test")
        )

    def _classifier_for(self, train, test) -> tuple:
        from .image_metrics import train_classifier

        if train.labels is None:
            return None, None
        f = self.standardiser.forward
        return train_classifier(
            f(train.pixels), train.labels, f(test.pixels), test.labels, len(train.classes)
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


@dataclass
class Run(TrainedRun):
    """A trained diffusion model: the EMA denoiser (on standardised data) and its preset."""

    preset: Preset
    denoiser: Denoiser

    @classmethod
    def load(cls, run_dir: str | Path, device: str = "cpu", preset: Preset | None = None) -> "Run":
        """Load RUN_DIR/checkpoint.safetensors (the EMA weights) without unpickling anything. `preset`
        replaces the registered preset of that name (for runs trained with a customised recipe)."""
        path, tensors, config = _load(run_dir)
        if config.preset is None:
            raise DifflabError(f"{path}: not a diffusion run (model {config.model.type!r})")
        preset = (preset or get_preset(config.preset)).adapt(config.sigma_data, config.sigma_max)
        denoiser = build_model(preset, config.data.shape, config.model)
        _ema_weights(denoiser, tensors, path)
        denoiser.to(device).eval().requires_grad_(False)
        return cls(path, config, scaler_from_dict(config.data.standardiser), preset, denoiser)

    def sigmas(
        self,
        steps: int = 18,
        schedule: str = "karras",
        sigma_min: float | None = None,
        sigma_max: float | None = None,
        rho: float = 7.0,
        condition: str = "",
    ) -> torch.Tensor:
        """The σ grid: the preset's range (cut at the data's σ_max) unless given; `tuned`: the grid
        `tune_grid` stored in the run for this number of steps (any sampler tuned at that size)
        and for this `condition` (`_condition`: '' unconditional, or a class and w)."""
        if schedule == "tuned":
            return self._tuned(steps, condition)
        lo, hi = self.preset.sampling_range()
        return make_sigmas(
            schedule, steps, sigma_min or lo, sigma_max or hi, self.preset.process, rho
        )

    def _grids(self) -> dict:
        """The tuned grids stored in RUN/grids.json (empty if none)."""
        if getattr(self, "_memory_grids", None):
            return dict(self._memory_grids)
        path = self.path / GRIDS
        return json.loads(path.read_text()) if path.exists() else {}

    def _tuned(self, steps: int, condition: str = "") -> torch.Tensor:
        grids = self._grids()
        found = {
            k: v
            for k, v in grids.items()
            if len(v["sigmas"]) == steps + 1 and _grid_condition(k) == condition
        }
        if not found:
            have = ", ".join(f"{k} ({len(v['sigmas']) - 1} steps)" for k, v in grids.items())
            what = f"{steps} steps" + (f" for {condition[1:]}" if condition else "")
            raise DifflabError(
                f"{self.path}: no tuned grid of {what} (have: {have or 'none'}); make one with "
                f"`difflab tune-grid --run {self.path} --nfe K --sampler S`"
                + (" --class K [--guidance W]" if condition else "")
            )
        key = min(found, key=lambda k: found[k]["tuned"])  # the best tuned at this size
        return torch.tensor(found[key]["sigmas"], dtype=torch.float64)

    def for_nfe(
        self,
        nfe: int,
        tune: bool = True,
        log=None,
        cond=None,
        guidance: float = 1.0,
        unconditional: bool = False,
    ) -> dict:
        """Sampler, steps and grid for a budget of `nfe` evaluations: the best grid tuned for this
        run at that budget. Without one, a vector model tunes grids for AUTO_TUNE (unipc, ipndm;
        ~1 s each on a small MLP), stores them and takes the better on fresh draws — in
        docs/benchmarks.md's ODE-error table this beats the best peer in every cell (≤ 0.46×), where
        no fixed (sampler, grid) pair does. With tune=False, or for images (tuning a U-Net costs
        minutes): UniPC on the VP-time grid, the fixed pair with the smallest worst cell (1.32×).
        A class (and w) is tuned on the very denoiser it samples with (`_condition`)."""
        from .sampling.tune import AUTO_TUNE

        how = {"cond": cond, "guidance": guidance, "unconditional": unconditional}
        condition = self._condition(**how)
        tuned = {k: v for k, v in self._grids().items() if k.endswith(f"@{nfe}{condition}")}
        if not tuned and tune and not self.is_image:
            draws = self._tuning_draws(512, 0, **how)  # one reference solution for both samplers
            for sampler in AUTO_TUNE:
                r = self.tune_grid(nfe, sampler, store=False, draws=draws, **how)
                tuned[f"{sampler}@{nfe}{condition}"] = r
                if log:
                    on = f" on {condition[1:]}" if condition else ""
                    log(f"tuned a {nfe}-NFE grid for {sampler}{on} in {r['seconds']:.1f} s")
            self._store_grids(tuned, log)
        if tuned:
            key = min(tuned, key=lambda k: tuned[k]["tuned"])
            steps = len(tuned[key]["sigmas"]) - 1
            return {"sampler": key.split("@")[0], "steps": steps, "schedule": "tuned"}
        return {"sampler": "unipc", "steps": nfe, "schedule": "vp-time"}

    def _store_grids(self, grids: dict, log=None) -> None:
        """Add tuned grids to RUN/grids.json; a read-only run keeps them for this call only."""
        merged = {**self._grids(), **grids}
        try:
            write_json(self.path / GRIDS, merged)
        except OSError as e:
            self._memory_grids = merged
            if log:
                log(f"note: could not store the tuned grids in {self.path} ({e.strerror})")

    def _condition(self, cond=None, guidance: float = 1.0, unconditional: bool = False) -> str:
        """What a tuned grid was tuned on, as its key's suffix: '' for the unconditional model
        (an unlabelled run, unconditional, w = 0), '|class=K,w=W' for one class. One class per
        sample has no single denoiser to tune on: those use the unconditional grids."""
        if not self.classes or unconditional or guidance == 0 or cond is None:
            return ""
        if not isinstance(cond, (str, int, np.integer)):
            return ""
        return f"|class={self.config.data.class_index(cond)},w={guidance:g}"

    def _tuning_draws(
        self, n: int, seed: int, cond=None, guidance: float = 1.0, unconditional: bool = False
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """[(x_T, its 256-step Heun solution)] for the tuning noise and for fresh noise, float64,
        from where sampling starts and with the denoiser it uses (a class: `_start`)."""
        d64 = self._tuned_denoiser(cond, guidance, unconditional)
        lo, hi = self.preset.sampling_range()
        labels = (
            self._class_labels(cond, n) if self._condition(cond, guidance, unconditional) else None
        )
        start = self._start(labels, guidance, unconditional, hi, seed)
        draws = []
        for k in (0, 1):  # tuning noise, fresh noise
            z = randn_per_sample(seed + k, 0, n, self.shape).double()
            x_t = math.sqrt(hi**2 + self.preset.precond.sigma_data**2) * z
            x_t = x_t if start is None else start.sample(z, labels)
            draws.append((x_t, sample(d64, x_t, karras_sigmas(256, lo, hi), "heun")))
        return draws

    def _tuned_denoiser(self, cond=None, guidance: float = 1.0, unconditional: bool = False):
        """The float64 denoiser a grid is tuned on: the one `_condition` names."""
        d64 = self._in(torch.float64)
        if not self._condition(cond, guidance, unconditional):
            return d64
        k = self.config.data.class_index(cond)
        return Conditioned(d64, k) if guidance == 1.0 else cfg(d64, k, guidance)

    def tune_grid(
        self,
        nfe: int,
        sampler: str = "unipc",
        n: int = 512,
        seed: int = 0,
        iterations: int = 400,
        store: bool = True,
        draws: list | None = None,
        cond=None,
        guidance: float = 1.0,
        unconditional: bool = False,
    ) -> dict:
        """Tune a grid for `sampler` at `nfe` evaluations on this run's own denoiser (sampling.tune:
        Nelder–Mead on n noise draws against a 256-step Heun solution), check it on n fresh draws,
        store it in RUN/grids.json (used by sample(schedule="tuned")); returns the numbers.
        `draws`: `_tuning_draws(n, seed)` made once for several samplers. A labelled run is tuned
        on the denoiser it will sample with: D(·, c) or D_w for one class `cond`, D(·, ∅) without
        (`condition` in the result says which)."""
        from .sampling.tune import ode_error, steps_for_nfe, tune_grid

        get_sampler(sampler)
        how = {"cond": cond, "guidance": guidance, "unconditional": unconditional}
        self.conditioned(cond, guidance, unconditional)  # refuse a class an unlabelled run lacks
        condition = self._condition(**how)
        d64 = self._tuned_denoiser(**how)
        lo, hi = self.preset.sampling_range()
        draws = draws or self._tuning_draws(n, seed, **how)
        start = time.perf_counter()
        grid, _ = tune_grid(d64, *draws[0], nfe, sampler, hi, lo, iterations=iterations)
        seconds = time.perf_counter() - start
        fresh = {
            "karras": ode_error(
                d64, *draws[1], self.sigmas(steps_for_nfe(sampler, nfe)).double(), sampler
            ),
            "tuned": ode_error(d64, *draws[1], grid, sampler),
        }
        record = {
            "sigmas": grid.tolist(),
            "tuned": fresh["tuned"],
            "karras": fresh["karras"],
            "seconds": seconds,
            "n": len(draws[0][0]),
        }
        if store:
            self._store_grids({f"{sampler}@{nfe}{condition}": record})
        return {
            "sampler": sampler,
            "nfe": nfe,
            "condition": condition[1:] or "unconditional",
            **record,
        }

    def sample(
        self,
        n: int,
        sampler: str = "heun",
        steps: int = 18,
        seed: int = 0,
        sigma_min: float | None = None,
        sigma_max: float | None = None,
        rho: float = 7.0,
        schedule: str = "karras",
        batch_size: int = 10_000,
        stats: dict | None = None,
        own_time: bool = False,
        cond: int | str | None = None,
        guidance: float = 1.0,
        unconditional: bool = False,
        **options,
    ) -> np.ndarray:
        """n samples in the data's original units. Sample i depends only on (seed, i), not on batching:
        its initial noise is stream 0 and the sampler's noise key k is stream k + 1 of its chunk.
        ODE solvers and Euler–Maruyama integrate in EDM's time σ = t, s = 1 (EDM Sec. 3: the best ODE
        for sampling), or with own_time=True in the preset's process (σ(t), s(t)).

        A run trained with labels needs a decision: `cond` (a class name or index, or one per
        sample) with guidance scale w (D_w = D(∅) + w·(D(c) - D(∅)); w = 0 unconditional,
        1 conditional, > 1 guided; 2 NFE per evaluation unless w = 1), or unconditional=True."""
        if n < 1:
            raise DifflabError(f"number of samples must be positive, got {n}")
        get_sampler(sampler)
        labels = self._class_labels(cond, n)
        self.conditioned(labels, guidance, unconditional)  # refuse before any work
        condition = self._condition(cond, guidance, unconditional)
        sigmas = self.sigmas(steps, schedule, sigma_min, sigma_max, rho, condition)
        scale = math.sqrt(float(sigmas[0]) ** 2 + self.preset.precond.sigma_data**2)
        info: dict = {}
        prior = self._start(labels, guidance, unconditional, float(sigmas[0]), seed, info)
        device = next(self.denoiser.parameters()).device
        out = []
        for start in range(0, n, batch_size):
            count = min(batch_size, n - start)
            classes = None if labels is None else labels[start : start + count]
            denoiser = self.conditioned(classes, guidance, unconditional)
            x = randn_per_sample(seed, start, count, self.shape).to(device)
            x = scale * x if prior is None else prior.sample(x, classes)

            def noise(key: int, start=start, count=count) -> torch.Tensor:
                return randn_per_sample(seed, start, count, self.shape, stream=key + 1).to(device)

            out.append(
                sample(
                    denoiser,
                    x,
                    sigmas,
                    method=sampler,
                    noise=noise,
                    stats=info,
                    process=self.preset.process if own_time else None,
                    **options,
                ).cpu()
            )
        if stats is not None:
            stats.update(
                info, sigma_min=float(sigmas[-2]), sigma_max=float(sigmas[0]), steps=len(sigmas) - 1
            )
        return self.standardiser.inverse(torch.cat(out).double().numpy())

    def conditioned(self, cond, guidance: float = 1.0, unconditional: bool = False):
        """The two-argument denoiser to sample: D(·, c), guided D_w, or the unconditional D(·, ∅);
        `cond` a class (name or index) or class indices, one per sample. A labelled run refuses to
        guess: conditioning silently ignored is a classic peer bug."""
        classes = self.config.data.classes
        if not classes:
            if cond is not None or guidance != 1.0:
                what = "a class" if cond is not None else f"guidance {guidance:g}"
                raise DifflabError(
                    f"{self.path} was trained without labels: {what} cannot apply (train with "
                    f"--labels to condition a model)"
                )
            return self.denoiser
        if unconditional:
            if cond is not None:
                raise DifflabError("give either a class or unconditional, not both")
            return self.denoiser
        if cond is None:
            raise DifflabError(
                f"{self.path} was trained with labels ({len(classes)} classes: "
                f"{_short(classes)}); give a class (--class K) or --unconditional"
            )
        k = cond if isinstance(cond, torch.Tensor) else self.config.data.class_index(cond)
        return Conditioned(self.denoiser, k) if guidance == 1.0 else cfg(self.denoiser, k, guidance)

    def _start(
        self,
        labels: torch.Tensor | None,
        guidance: float,
        unconditional: bool,
        sigma_max: float,
        seed: int,
        stats: dict | None = None,
    ) -> GaussianStart | None:
        """Where class-conditional chains start at σ_max (a table indexed by class): the class
        flow's exact marginal N(m_c, Σ_c + σ_max² I) at w = 1 (sampling.prior.class_start); for
        w ∉ {0, 1} the guided flow's own, measured by a pilot from 200·σ_max (flow_start; images:
        its σ_max ≫ data limit, guided_limit_start). None:
        the unconditional prior N(0, (σ_max² + σ_data²) I), so w = 0 stays the unconditional
        sampler bit for bit. `stats` gets the pilot's network evaluations, 'pilot_nfe'."""
        data = self.config.data
        if labels is None or unconditional or guidance == 0 or not data.class_means:
            return None
        k = len(data.class_means)
        means = torch.tensor(data.class_means, dtype=torch.float64).reshape(k, *self.shape)
        if data.class_covs is None:  # a run from before class covariances: σ_data² as before
            covs = torch.full_like(means, self.preset.precond.sigma_data**2)
        else:
            covs = torch.tensor(data.class_covs, dtype=torch.float64)
            covs = covs if covs.shape[1:] == (self.dim, self.dim) else covs.reshape(means.shape)
        table = class_start(means, covs, sigma_max)
        if guidance == 1:
            return table
        if self.is_image:  # σ_max ≫ the data, and a U-Net pilot costs minutes on a CPU
            return guided_limit_start(table, guidance)
        classes = labels.unique().tolist()
        return self._guided_start(table, classes, guidance, sigma_max, seed, stats)

    def _guided_start(
        self,
        table: GaussianStart,
        classes: list[int],
        guidance: float,
        sigma_max: float,
        seed: int,
        stats: dict | None = None,
    ) -> GaussianStart:
        """`table` with the rows of `classes` replaced by the guided flow's measured marginal at
        σ_max: PILOT antithetic pairs per class, the pilot's noise its own stream of `seed`, so a
        sample still depends only on (seed, i)."""
        device = next(self.denoiser.parameters()).device
        full = table.full
        mean, cov = table.mean.clone(), table.cov.clone()
        nfe = 0
        for c in classes:
            info: dict = {}
            z = randn_per_sample(seed, 0, PILOT, self.shape, stream=PILOT_STREAM + c)
            found = flow_start(
                self.conditioned(c, guidance, False),
                table.mean[c : c + 1].float().to(device),
                z.to(device),
                sigma_max,
                full,
                info,
            )
            mean[c], cov[c], nfe = found.mean[0], found.cov[0], nfe + info["nfe"]
        if stats is not None:
            stats["pilot_nfe"] = nfe
        return GaussianStart(mean, cov)

    def _inpaint_codes(
        self,
        z: np.ndarray,
        mask: np.ndarray,
        method: str,
        steps: int | None,
        seed: int,
        batch_size: int,
        stats: dict | None,
        cond,
        guidance: float,
        unconditional: bool,
        **options,
    ) -> np.ndarray:
        """The model-space core of inpaint: z (NaN where missing) with mask → completed z."""
        denoiser = self.conditioned(cond, guidance, unconditional)
        sigmas = self.sigmas(steps or {"replace": 18, "repaint": 50}.get(method, SMC_LEVELS))
        labels = self._class_labels(cond, len(z))
        info: dict = {}
        prior = self._start(labels, guidance, unconditional, float(sigmas[0]), seed, info)
        z = torch.from_numpy(z)
        k = options.get("particles", PARTICLES) if method == "smc" else 1
        device = next(self.denoiser.parameters()).device
        out = []
        for start in range(0, len(z), batch_size):
            count = min(batch_size, len(z) - start)

            def noise(key: int, start=start, count=count) -> torch.Tensor:
                return randn_per_sample(seed, start * k, count * k, self.shape, stream=key + 2).to(
                    device
                )

            chunk = slice(start, start + count)
            out.append(
                inpaint(
                    denoiser,
                    z[chunk].float().to(device),
                    torch.from_numpy(mask[chunk]).to(device),
                    sigmas,
                    method,
                    noise=noise,
                    stats=info,
                    sigma_data=self.preset.precond.sigma_data,
                    prior=prior,
                    prior_index=None if labels is None else labels[chunk],
                    **options,
                ).cpu()
            )
        if stats is not None:
            stats.update(info, steps=len(sigmas) - 1)
        return torch.cat(out).double().numpy() if out else z.numpy()

    def _in(self, dtype: torch.dtype) -> Denoiser:
        """The denoiser in `dtype` (a float64 copy is made once, for the likelihood)."""
        if dtype == torch.float32:
            return self.denoiser
        if getattr(self, "_copies", None) is None:
            self._copies = {}
        if dtype not in self._copies:
            self._copies[dtype] = copy.deepcopy(self.denoiser).to(dtype)
        return self._copies[dtype]

    def log_prob_standardised(
        self,
        z: torch.Tensor,
        method: str = "dopri5",
        steps: int = 64,
        rtol: float = 1e-5,
        atol: float = 1e-5,
        hutchinson: int = 0,
        sigma_max: float = 80.0,
        seed: int = 0,
        batch_size: int = 2000,
        stats: dict | None = None,
        progress: bool = False,
    ) -> np.ndarray:
        """log p(ẑ) through the PF-ODE (difflab.likelihood.log_prob) from σ_min = 0.002 to sigma_max,
        with the prior N(0, Σ + σ_max² I) from the training data's covariance Σ when it was stored;
        in float64 on the CPU (in float32 at rtol 1e-5 the worst point was 1e-2 nats off)."""
        device = next(self.denoiser.parameters()).device
        dtype = torch.float64 if device.type == "cpu" else torch.float32  # float32: 1e-2 nats off
        cov = self.config.data.cov
        cov = torch.tensor(cov, dtype=dtype, device=device) if cov is not None else None
        gen = torch.Generator(device=device).manual_seed(seed)
        out, nfe = [], 0
        bar = tqdm(desc="log-likelihood", unit=" NFE", disable=not progress, mininterval=1.0)
        denoiser = _Counted(self._in(dtype), bar)
        chunks = z.to(dtype).split(batch_size)
        for i, chunk in enumerate(chunks):
            bar.set_postfix(batch=f"{i + 1}/{len(chunks)}", refresh=False)
            info: dict = {}
            out.append(
                log_prob(
                    denoiser,
                    chunk.to(device),
                    sigma_max=sigma_max,
                    sigma_data=self.preset.precond.sigma_data,
                    method=method,
                    steps=steps,
                    rtol=rtol,
                    atol=atol,
                    hutchinson=hutchinson,
                    generator=gen,
                    data_cov=cov,
                    stats=info,
                ).cpu()
            )
            nfe = max(nfe, info["nfe"])
        bar.close()
        if stats is not None:
            stats["nfe"] = nfe
        return torch.cat(out).double().numpy()


@dataclass
class FlowRun(TrainedRun):
    """A trained exact-likelihood model — a normalizing flow (NICE, RealNVP) or an autoregressive
    model (MADE, WaveNet), x = f⁻¹(z) either way: exact sampling and exact log-likelihood."""

    flow: nn.Module

    @classmethod
    def load(cls, run_dir: str | Path, device: str = "cpu") -> "FlowRun":
        path, tensors, config = _load(run_dir)
        if not config.model.is_flow:
            raise DifflabError(f"{path}: not a flow run (model {config.model.type!r})")
        flow = build_model(None, config.data.shape, config.model)
        _ema_weights(flow, tensors, path)
        flow.to(device).eval().requires_grad_(False)
        return cls(path, config, scaler_from_dict(config.data.standardiser), flow)

    @property
    def is_autoregressive(self) -> bool:
        return self.config.model.kind == "autoregressive"

    def _label(self, cond: int | str | None, unconditional: bool, n: int) -> torch.Tensor | None:
        """The class tensor for a labelled autoregressive run: class `cond` (a name or an index, or
        one per sample), or the null class −1 (p(x), trained with label dropout) when asked for
        unconditional samples."""
        if not self.classes:
            if cond is not None or unconditional:
                raise DifflabError(f"{self.path} was trained without labels: no class to give")
            return None
        if cond is None and not unconditional:
            raise DifflabError(
                f"{self.path} was trained with labels ({_short(self.classes)}): give a class "
                "(--class K) or ask for --unconditional samples"
            )
        if cond is None:
            return torch.full((n,), -1, dtype=torch.long)
        return self._class_labels(cond, n)

    def sample(
        self,
        n: int,
        seed: int = 0,
        batch_size: int = 10_000,
        stats: dict | None = None,
        cond=None,
        unconditional: bool = False,
        **options,
    ) -> np.ndarray:
        """n exact samples x = f⁻¹(z), z ~ N(0, I); sample i depends only on (seed, i). No
        sampler, steps or σ grid: passing sampler options is an error. An autoregressive run
        trained with labels samples p(x | c) for cond = c (or one class per sample), or p(x) with
        unconditional=True."""
        given = {k: v for k, v in options.items() if v is not None}
        if given:
            raise DifflabError(
                f"{self.path} is a {self.name} model: it samples exactly, without "
                f"{', '.join(sorted(given))}"
            )
        if n < 1:
            raise DifflabError(f"number of samples must be positive, got {n}")
        device = next(self.flow.parameters()).device
        label = self._label(cond, unconditional, n)
        out = []
        for start in range(0, n, batch_size):
            z = randn_per_sample(seed, start, min(batch_size, n - start), self.shape).to(device)
            extra = () if label is None else (label[start : start + len(z)].to(device),)
            out.append(self.flow.sample(z, *extra).cpu())
        if stats is not None:
            stats["nfe"] = self.dim if self.is_autoregressive else 1
        return self.standardiser.inverse(torch.cat(out).double().numpy())

    def _inpaint_codes(
        self,
        z: np.ndarray,
        mask: np.ndarray,
        method: str,
        steps: int | None,
        seed: int,
        batch_size: int,
        stats: dict | None,
        cond,
        guidance: float,
        unconditional: bool,
        particles: int = 64,
        **options,
    ) -> np.ndarray:
        """An autoregressive model's completion (autoregressive.inpaint): the unknown entries in
        the model's order, M = `particles` draws per row resampled by the known entries' weights —
        exact with one draw when the known entries come first in the order. Row i depends only
        on (seed, i). stats gets the rows' smallest effective sample size."""
        from .autoregressive.inpaint import ar_inpaint

        if not self.is_autoregressive:
            raise DifflabError(f"{self.path} is a {self.name} flow: it cannot fix some entries")
        if guidance != 1 or options or steps is not None:
            given = sorted(
                [*options, *(["steps"] if steps else []), *(["guidance"] * (guidance != 1))]
            )
            raise DifflabError(
                f"an autoregressive model completes rows exactly; no {', '.join(given)}"
            )
        device = next(self.flow.parameters()).device
        label = self._label(cond, unconditional, len(z))
        out, worst = [], float("inf")
        for start in range(0, len(z), batch_size):
            count = min(batch_size, len(z) - start)
            noise = randn_per_sample(seed, start * particles, count * particles, self.shape)
            u = torch.special.ndtr(randn_per_sample(seed, start, count, (), stream=1).double())
            rows = torch.from_numpy(np.nan_to_num(z[start : start + count])).float()
            with torch.no_grad():
                x, ess = ar_inpaint(
                    self.flow,
                    rows.to(device),
                    torch.from_numpy(mask[start : start + count]).to(device),
                    noise.view(count, particles, *self.shape).to(device),
                    u,
                    None if label is None else label[start : start + count].to(device),
                )
            out.append(x.cpu().double().numpy())
            worst = min(worst, float(ess.min()))
        if stats is not None:
            stats.update(nfe=self.dim * particles, min_ess=worst, particles=particles)
        return np.concatenate(out)

    def log_prob_standardised(
        self, z: torch.Tensor, stats: dict | None = None, cond: int | None = None, **options
    ) -> np.ndarray:
        """Exact log p(ẑ) (a labelled autoregressive run: log p(ẑ | c), or p(ẑ) through the null
        class); integration options do not apply."""
        device = next(self.flow.parameters()).device
        label = None
        if self.classes:
            label = self._label(cond, cond is None, len(z))
        chunks = z.to(torch.float32).split(10_000)
        labels = [None] * len(chunks) if label is None else label.split(10_000)
        with torch.no_grad():
            out = [
                self.flow.log_prob(c.to(device), *(() if y is None else (y.to(device),))).cpu()
                for c, y in zip(chunks, labels)
            ]
        if stats is not None:
            stats["nfe"] = 1
        return torch.cat(out).double().numpy()


def _grid_condition(key: str) -> str:
    """A grids.json key's condition ('' for 'sampler@nfe', '|class=K,w=W' after it)."""
    return key[key.index("|") :] if "|" in key else ""


def _component(mixture: GaussianMixture | None, k: int) -> GaussianMixture:
    """Component k of a toy mixture alone: the exact law of class k."""
    if mixture is None or not 0 <= k < len(mixture.weights):
        raise DifflabError(f"class {k}: no such component of the toy set")
    return GaussianMixture(
        mixture.means[k : k + 1],
        mixture.stds[k : k + 1],
        torch.ones(1, dtype=mixture.weights.dtype),
    )


class _Counted:
    """A denoiser that ticks a progress bar once per network evaluation."""

    def __init__(self, denoiser, bar):
        self.denoiser, self.bar = denoiser, bar

    def __call__(self, *args, **kwargs):
        self.bar.update(1)
        return self.denoiser(*args, **kwargs)


def _of_class(table: pd.DataFrame | None, cls: int) -> pd.DataFrame | None:
    """The rows of class `cls` (the label column the run stored beside the table)."""
    if table is None or LABEL not in table:
        return table
    return table[table[LABEL] == cls].drop(columns=[LABEL]).reset_index(drop=True)


def _short(names: list[str], k: int = 10) -> str:
    return ", ".join(names[:k]) + (", …" if len(names) > k else "")


def load_run(run_dir: str | Path, device: str = "cpu") -> Run | FlowRun:
    """The run in RUN_DIR: a diffusion Run or a FlowRun, by its configuration."""
    _, _, config = _load(run_dir)
    if config.model.is_flow:
        return FlowRun.load(run_dir, device)
    return Run.load(run_dir, device)
