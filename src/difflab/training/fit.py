"""`train`: a preset fitted to TrainingData (or a flow or autoregressive model by maximum
likelihood), written to a run directory; resumable, under torchrun as under one process.

A run directory holds `config.json` (what was trained, human-readable), `checkpoint.safetensors`
(weights, EMA, optimizer, RNG, step and loss history; written atomically) and `loss.json`.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch

from .._version import __version__
from ..checkpoint import CHECKPOINT, check_writable_dir, load_checkpoint, write_json
from ..data import Standardiser, scaler_from_dict
from ..data.codec import TableCodec
from ..data.images import PixelScaler
from ..data.reference import LABEL, hold_out, write_reference
from ..data.stream import ImageStream
from ..data.training import TrainingData
from ..errors import DifflabError
from ..models import ModelConfig
from ..presets import Preset, get_preset
from ..runconfig import DataInfo, RunConfig
from .batches import InMemory, Streamed
from .config import TrainConfig
from .distributed import DistEnv, setup, teardown
from .early import EarlyStop
from .loop import free_cores, run_loop
from .objectives import OBJECTIVES
from .prepare import class_moments, data_covariance, describe, prepare_data
from .state import ema_update, load_state, make_state, training_lock


def train(
    data: TrainingData | np.ndarray | ImageStream,
    preset: str | Preset,
    out: str | Path,
    cfg: TrainConfig = TrainConfig(),
    model: ModelConfig = ModelConfig(),
    *,
    resume: bool = False,
    force: bool = False,
    progress: bool = True,
    log=print,
    teacher=None,
) -> Path:
    """Train `preset` (a diffusion recipe; ignored by flows and autoregressive models) on `data`
    and write the run to `out`; returns the run directory. See `difflab train --help`.

    `data`: TrainingData (data/training.py), or bare rows: an N×D array, an ImageStream, a table
    (a DataFrame of numeric and categorical columns). With class labels the model learns
    p(x | c) and, with probability cfg.p_uncond per sample, the unconditional p(x) (guidance).
    `teacher`: the denoiser D(x̂, σ[, cond]) in the model's units that a distilled recipe
    (`consistency`) learns from (difflab.distill builds it from a run)."""
    run_dir = _check_target(Path(out), cfg, resume, force)
    preset = get_preset(preset) if isinstance(preset, str) else preset
    _refuse_recipe(preset, model, cfg, teacher)
    data = TrainingData.of(data).checked()  # before the split: its log line, then an error
    if data.is_vectors and (cfg.hflip or cfg.channels_last):
        flag = "--hflip mirrors" if cfg.hflip else "--channels-last lays out"
        raise DifflabError(f"{flag} images; these data are vectors")
    data, kept, heldout = _split(data, log)
    if cfg.steps is None and cfg.seconds is None and data.heldout is None:
        raise DifflabError(
            "give a training budget (steps or seconds): training stops by itself only where rows "
            "are held out (a table or images, with --holdout > 0 or --validation)"
        )
    if data.labels is not None:
        model = dataclasses.replace(model, num_classes=len(data.classes))
    if "OMP_NUM_THREADS" not in os.environ:  # no more threads than cores this process may use
        torch.set_num_threads(max(1, min(torch.get_num_threads(), free_cores())))
    env = setup(cfg.device, cfg.batch_size)
    try:
        cfg = dataclasses.replace(cfg, device=env.device)
        log = log if env.is_main else _quiet
        how = (env, resume, progress and env.is_main, log, teacher)
        done = _train(data, preset, run_dir, cfg, model, *how)
        if done is not None and env.is_main:
            write_reference(run_dir, kept, heldout, data.labels)
        return run_dir
    finally:
        teardown(env)


def _refuse_recipe(preset: Preset | None, model: ModelConfig, cfg: TrainConfig, teacher) -> None:
    """Refused before any work: likelihood weighting of a flow or of a recipe that trains for
    likelihood already (vdm), a distilled recipe without its teacher."""
    if cfg.likelihood_weighting and model.is_flow:
        raise DifflabError(
            f"--weighting vlb trains a diffusion model for likelihood; a {model.type} model is "
            "trained by maximum likelihood already"
        )
    if preset is not None and preset.distils and teacher is None:
        raise DifflabError(
            f"the {preset.name} preset is distilled from a teacher: difflab distill --run TEACHER"
            + (" --method reflow" if preset.teacher == "coupling" else "")
        )
    if cfg.likelihood_weighting and preset is not None and preset.learns_schedule:
        raise DifflabError(
            f"--weighting vlb: the {preset.name} preset trains for likelihood already, with its "
            "own learned schedule"
        )


def _check_target(run_dir: Path, cfg: TrainConfig, resume: bool, force: bool) -> Path:
    """The run directory, refused before any work: a run there, nothing to resume, no place."""
    if (run_dir / CHECKPOINT).exists() and not (resume or force):
        raise DifflabError(
            f"{run_dir} already holds a run; use --resume to continue it or --force to overwrite"
        )
    if resume and not (run_dir / CHECKPOINT).exists():
        raise DifflabError(f"{run_dir}: nothing to resume (no {CHECKPOINT})")
    check_writable_dir(run_dir)
    return run_dir


def _split(data: TrainingData, log) -> tuple[TrainingData, object, object]:
    """(what the model trains on, the rows the run keeps, held-out rows or None). Tables: the
    column codec fitted on every row (held-out levels are known; a given codec, e.g. analog bits,
    is kept), then the fixed 80/20 split, labels travelling as a LABEL column of both parts."""
    if not data.is_table:
        return data, data.rows, None
    codec = data.scaler
    if not isinstance(codec, TableCodec):  # on every row: held-out levels are known
        every = pd.concat([data.rows, data.heldout]) if data.heldout is not None else data.rows
        codec = TableCodec.fit(every, data.column_types)
    if data.heldout is not None:  # the user's own held-out rows
        kept, heldout, labels = data.rows, data.heldout, data.labels
        if labels is not None:
            kept = kept.assign(**{LABEL: labels})
            heldout = heldout.assign(**{LABEL: data.heldout_labels})
    else:
        kept, heldout, labels = hold_out(data.rows, data.labels, log, data.holdout)
    rows = kept.drop(columns=[LABEL], errors="ignore")
    held = None if heldout is None else heldout.drop(columns=[LABEL], errors="ignore")
    held_labels = None if heldout is None or labels is None else heldout[LABEL].to_numpy()
    data = dataclasses.replace(data, rows=rows, labels=labels, scaler=codec, heldout=held)
    return dataclasses.replace(data, heldout_labels=held_labels), kept, heldout


def _quiet(*_args) -> None:
    pass


class Scaled(NamedTuple):
    """The training data in the model's units, with the scaling and σ's the run stores."""

    z: np.ndarray
    scaler: Standardiser | PixelScaler | TableCodec
    sigma_data: float
    sigma_max: float
    shape: tuple[int, ...]


def _train(
    data: TrainingData,
    preset: Preset,
    run_dir: Path,
    cfg: TrainConfig,
    model: ModelConfig,
    env: DistEnv,
    resume: bool,
    progress: bool,
    log,
    teacher=None,
) -> Path | None:
    """Train (or resume) into run_dir; None when a resumed run has already met cfg.steps."""
    saved = _saved(run_dir, preset, data.classes, model) if resume else None
    if saved is not None and cfg.steps is not None and saved[0][1]["step"] >= cfg.steps:
        log(
            f"nothing to do: {run_dir} is already at step {saved[0][1]['step']} and --steps "
            f"{cfg.steps} counts all steps, not more of them; give a larger --steps (or --seconds) "
            "to continue"
        )
        return None  # before any data preparation: nothing is trained or rewritten
    scaled = _scaled(data, None if saved is None else saved[1], run_dir)
    scaled, preset = _adapted(scaled, preset, cfg, teacher)
    run_config = _run_config(data, scaled, preset, model, cfg, env)
    batches = _batches(data.rows, scaled.z, data.labels, cfg, env)
    state = make_state(preset, scaled.shape, model, cfg, teacher)
    early = _early_stop(data, scaled, state, preset, model, cfg, teacher)
    if saved is not None:  # its recipe, classes, model and data shape were checked
        load_state(state, *saved[0])
        log(f"resuming {run_dir} from step {state.step}")
    else:
        state.objective.initialise(batches.first(cfg.batch_size))
        ema_update(state, 0.0)  # the EMA starts from the (data-initialised) model
    first, before = state.step, state.elapsed
    state.env, state.loss_fn = env, _wrap(state.objective, env, cfg.compile)
    if env.is_main:
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise DifflabError(f"{run_dir}: cannot make the run directory ({e.strerror})") from None
        write_json(run_dir / "config.json", run_config.to_dict())
    log(describe(run_config, preset, env, data.standardise))
    if early is not None:
        log(
            f"no budget: training until the held-out loss stops improving (checked every "
            f"{early.every} steps)"
        )
    with training_lock(run_dir, env.is_main):
        run_loop(state, batches, cfg, run_dir, run_config, progress, early)
    now = f" (now at step {state.step})" if first else ""
    log(
        f"trained {state.step - first} steps{now} in {state.elapsed - before:.1f} s; "
        f"final loss {state.history[-1][1]:.4f}"
    )
    if early is not None:
        log(early.summary(state.step))
    for note in getattr(state, "notes", []):
        log(note)
    return run_dir


def _adapted(scaled: Scaled, preset: Preset, cfg: TrainConfig, teacher) -> tuple:
    """The recipe with σ_data and σ_max from the data (a coupling's σ_T for reflow: its pairs
    start there, so does the student), trained for likelihood if asked."""
    if getattr(teacher, "sigma_max", None):
        scaled = scaled._replace(sigma_max=teacher.sigma_max)
    preset = preset.adapt(scaled.sigma_data, scaled.sigma_max)
    return scaled, preset.likelihood_weighted() if cfg.likelihood_weighting else preset


def _early_stop(data, scaled: Scaled, state, preset: Preset, model: ModelConfig, cfg, teacher):
    """Without a budget: the held-out loss of the EMA model on the held-out rows."""
    if cfg.steps is not None or cfg.seconds is not None:
        return None
    x0 = torch.as_tensor(scaled.scaler.forward(data.heldout), dtype=torch.float32)
    labels = data.heldout_labels if data.labels is not None else None
    # a copy: the held-out labels may be a read-only view of the loaded table
    labels = None if labels is None else torch.tensor(labels, device=cfg.device)
    objective = OBJECTIVES[model.kind](state.ema, preset, cfg.p_uncond, teacher)
    return EarlyStop.of(objective, x0.to(cfg.device), labels, cfg.seed)


def _saved(run_dir: Path, preset: Preset, classes, model: ModelConfig) -> tuple:
    """((tensors, meta), RunConfig) of the run to resume, its recipe checked before the data."""
    saved = load_checkpoint(run_dir / CHECKPOINT)
    old = RunConfig.from_dict(saved[1].get("config", {}), str(run_dir / CHECKPOINT))
    _check_recipe(old, None if model.is_flow else preset.name, classes, model)
    return saved, old


def _scaled(data: TrainingData, old: RunConfig | None, run_dir: Path) -> Scaled:
    """The data in the model's units; a resumed run keeps its own scaling and σ's (the same data
    for the model), and refuses data of another shape."""
    rows, streamed = data.rows, isinstance(data.rows, ImageStream)
    raw = rows.scan().pixels if streamed else rows  # a stream: its first images, for σ_max, means
    scaler = rows.scaler if streamed else data.scaler
    z, scaler, sigma_data, sigma_max = prepare_data(raw, data.standardise, scaler)
    shape = tuple(rows.shape) if streamed else tuple(z.shape[1:])
    if old is None:
        return Scaled(z, scaler, sigma_data, sigma_max, shape)
    if shape != old.data.shape:
        raise DifflabError(
            f"cannot resume: the data have shape {shape}, the run in {run_dir} was "
            f"trained on {old.data.shape} (data dimension differs)"
        )
    scaler = scaler_from_dict(old.data.standardiser)
    return Scaled(scaler.forward(raw), scaler, old.sigma_data, old.sigma_max, shape)


def _run_config(
    data: TrainingData,
    scaled: Scaled,
    preset: Preset,
    model: ModelConfig,
    cfg: TrainConfig,
    env: DistEnv,
) -> RunConfig:
    """What config.json records: the recipe, the data's provenance, scaling and class moments."""
    z, labels = scaled.z, data.labels
    moments = None if labels is None else class_moments(z, labels[: len(z)], len(data.classes))
    info = DataInfo(
        spec=data.spec,
        n=int(len(data.rows)),
        shape=scaled.shape,
        standardiser=scaled.scaler.to_dict(),
        cov=data_covariance(z),
        classes=data.classes,
        labels=data.labels_from,
        class_means=None if moments is None else moments[0],
        class_covs=None if moments is None else moments[1],
        holdout=data.holdout,
        validation=data.validation,
    )
    return RunConfig(
        preset=None if model.is_flow else preset.name,
        sigma_data=scaled.sigma_data,
        sigma_max=scaled.sigma_max,
        data=info,
        model=model,
        difflab_version=__version__,
        train={**dataclasses.asdict(cfg), "processes": env.world_size},
    )


def _batches(
    data: np.ndarray | ImageStream,
    z: np.ndarray,
    labels: np.ndarray | None,
    cfg: TrainConfig,
    env: DistEnv,
) -> InMemory | Streamed:
    """The step's rows: from the whole (scaled) array on the device, or decoded by workers."""
    part = env.slice(cfg.batch_size)
    if isinstance(data, ImageStream):
        return Streamed(data, cfg.seed, cfg.batch_size, part, cfg.hflip, cfg.workers, cfg.device)
    data_t = torch.as_tensor(z, dtype=torch.float32, device=cfg.device)
    labels_t = None if labels is None else torch.as_tensor(labels, device=cfg.device)
    return InMemory(data_t, labels_t, cfg.seed, cfg.batch_size, part, cfg.hflip)


def _wrap(objective: torch.nn.Module, env: DistEnv, compile: bool = False) -> torch.nn.Module:
    """The objective as the step calls it: compiled if asked, DDP-wrapped under torchrun."""
    if compile:
        objective = torch.compile(objective)
    if not env.active:
        return objective
    from torch.nn.parallel import DistributedDataParallel

    ids = [int(env.device.split(":")[1])] if env.device.startswith("cuda:") else None
    return DistributedDataParallel(objective, device_ids=ids)


def _check_recipe(saved: RunConfig, preset: str | None, classes, model: ModelConfig) -> None:
    """A resumed run keeps its preset, classes and model (checked before any data is read)."""
    if saved.model.type != model.type:
        raise DifflabError(
            f"cannot resume: the run is a {saved.model.type} model, not {model.type} "
            f"(give --model {saved.model.type}, or train a new run with --force)"
        )
    if saved.preset != preset:
        raise DifflabError(
            f"cannot resume: the run was trained with preset {saved.preset!r}, not {preset!r}"
        )
    if saved.data.classes != classes:  # before the model check: num_classes follows from it
        raise DifflabError(
            f"cannot resume: the run was trained with classes {saved.data.classes}, "
            f"the data now has {classes}"
        )
    if saved.model != model:
        raise DifflabError("cannot resume: data dimension or model size differs from the saved run")
