"""The training loop in small pieces: one step, EMA, checkpoint, resume.

A run directory holds `config.json` (what was trained, human-readable), `checkpoint.safetensors`
(weights, EMA, optimizer, RNG, step and loss history; written atomically) and `loss.json`.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import math
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import Tensor
from tqdm import tqdm

from . import __version__
from .autoregressive.wavenet import receptive_field
from .batches import InMemory, Streamed
from .checkpoint import flatten_state, load_checkpoint, save_checkpoint, unflatten_state, write_json
from .data import Standardiser, max_pairwise_distance, scaler_from_dict
from .data.columns import TableCodec, describe_columns
from .data.images import SIGMA_DATA, PixelScaler
from .data.reference import LABEL, hold_out, write_reference
from .data.stream import ImageStream
from .distributed import DistEnv, any_across, barrier, mean_across, setup, teardown
from .errors import DifflabError, Interrupted
from .models import ModelConfig, build_model
from .objectives import OBJECTIVES
from .presets import Preset, get_preset
from .runconfig import DataInfo, RunConfig

CHECKPOINT = "checkpoint.safetensors"
LOSS = "loss.json"


@dataclass(frozen=True)
class TrainConfig:
    steps: int | None = None
    seconds: float | None = None
    batch_size: int = 512
    lr: float = 1e-3
    weight_decay: float = 0.0
    warmup_steps: int = 200
    ema_decay: float = 0.999
    grad_clip: float = 1.0
    seed: int = 0
    device: str = "cpu"
    checkpoint_every: int = 1000
    log_every: int = 25
    precision: str = (
        "fp32"  # fp32 | bf16 (autocast, CPU or GPU) | fp16 (autocast + loss scaling, GPU)
    )
    compile: bool = False  # torch.compile the loss (network and preconditioning)
    p_uncond: float = 0.1  # labelled data: probability of training a sample with the null class
    channels_last: bool = False  # images: NHWC memory layout (faster convolutions on CPU and GPU)
    hflip: bool = False  # images: mirror each drawn image left–right with probability 1/2
    workers: int = 2  # streamed images: DataLoader workers decoding ahead (results do not depend)

    def __post_init__(self) -> None:
        if not 0.0 <= self.p_uncond <= 1.0:
            raise DifflabError(f"p_uncond must lie in [0, 1], got {self.p_uncond}")
        self._check_precision()

    def _check_precision(self) -> None:
        if self.precision not in PRECISIONS:
            raise DifflabError(
                f"unknown precision {self.precision!r}; expected one of: {', '.join(PRECISIONS)}"
            )
        if self.precision == "fp16" and not self.device.startswith("cuda"):
            raise DifflabError(
                "--precision fp16 needs a CUDA device (loss scaling); on CPU use bf16"
            )


PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass
class TrainState:
    """Everything a resumed run needs to continue as if never stopped."""

    step: int
    model: torch.nn.Module
    ema: torch.nn.Module
    optimizer: torch.optim.Optimizer
    generator: torch.Generator
    objective: (
        torch.nn.Module
    )  # the per-sample loss of the model (objectives.py); draws the batches
    history: list = field(default_factory=list)  # [step, mean loss over the last log interval]
    elapsed: float = 0.0
    loss_fn: torch.nn.Module | None = (
        None  # what the step differentiates: the objective, compiled/DDP-wrapped
    )
    env: DistEnv = field(default_factory=DistEnv)
    scaler: torch.amp.GradScaler | None = None  # fp16 only

    def __post_init__(self) -> None:
        # walked once: Module.parameters() per step cost ~4% of a CPU step with a small MLP
        self.params = list(self.model.parameters())
        self.ema_tensors = (list(self.ema.parameters()), list(self.ema.buffers()))
        self.model_buffers = list(self.model.buffers())


def lr_factor(step: int, warmup: int) -> float:
    """Linear warm-up from 0 to the base rate over `warmup` steps, then constant."""
    return min(1.0, (step + 1) / max(warmup, 1))


def ema_update(state: TrainState, decay: float) -> None:
    """θ_ema ← β θ_ema + (1-β) θ with β = min(decay, (1+step)/(10+step)) so early EMA follows fast;
    buffers (masks, ActNorm's initialised flag) are copied."""
    beta = min(decay, (1 + state.step) / (10 + state.step))
    ema_params, ema_buffers = state.ema_tensors
    with torch.no_grad():  # one fused call for all tensors: a Python loop cost 7% of a CPU step
        torch._foreach_lerp_(ema_params, state.params, 1 - beta)
        for b_ema, b in zip(ema_buffers, state.model_buffers):
            b_ema.copy_(b)


def train_step(state: TrainState, batches: InMemory | Streamed, cfg: TrainConfig) -> Tensor:
    """One AdamW step on the step's global batch, of which this rank trains its slice (DDP averages
    the gradients); returns this rank's batch loss as a 0-d tensor (not synced)."""
    x0, labels = batches(state.step)
    part = state.env.slice(cfg.batch_size)
    batch = state.objective.draw(x0, labels, cfg.batch_size, state.generator, part)
    if cfg.channels_last:
        batch = tuple(_nhwc(b) for b in batch)
    loss_fn = state.loss_fn if state.loss_fn is not None else state.objective
    with _autocast(cfg):
        loss = loss_fn(*batch).float().mean()
    for group in state.optimizer.param_groups:
        group["lr"] = cfg.lr * lr_factor(state.step, cfg.warmup_steps)
    state.optimizer.zero_grad(set_to_none=True)
    if state.scaler is None:
        loss.backward()
        torch.nn.utils.clip_grad_norm_(state.params, cfg.grad_clip, foreach=True)
        state.optimizer.step()
    else:  # fp16: scale the loss so small gradients survive, unscale before clipping
        state.scaler.scale(loss).backward()
        state.scaler.unscale_(state.optimizer)
        torch.nn.utils.clip_grad_norm_(state.params, cfg.grad_clip, foreach=True)
        state.scaler.step(state.optimizer)
        state.scaler.update()
    ema_update(state, cfg.ema_decay)
    state.step += 1
    return loss.detach()


def _nhwc(t: Tensor | None) -> Tensor | None:
    """Image batches (4-D) in channels-last layout, other tensors as they are."""
    if t is None or t.dim() != 4:
        return t
    return t.contiguous(memory_format=torch.channels_last)


def _autocast(cfg: TrainConfig):
    """Mixed precision for the forward pass (weights and optimizer stay fp32), or nothing for fp32."""
    dtype = PRECISIONS[cfg.precision]
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=cfg.device.split(":")[0], dtype=dtype)


# -- checkpoints ------------------------------------------------------------------------------------
def save_state(run_dir: Path, state: TrainState, run_config: RunConfig | dict) -> None:
    tensors: dict[str, Tensor] = {}
    tensors.update({f"model.{k}": v for k, v in state.model.state_dict().items()})
    tensors.update({f"ema.{k}": v for k, v in state.ema.state_dict().items()})
    opt = flatten_state("opt", state.optimizer.state_dict(), tensors)
    tensors["rng"] = state.generator.get_state()
    config = (
        run_config if isinstance(run_config, dict) else run_config.to_dict()
    )  # dict: benchmarks, tests
    meta = {
        "config": config,
        "step": state.step,
        "elapsed": state.elapsed,
        "optimizer": opt,
        "history": state.history,
        "scaler": state.scaler.state_dict() if state.scaler else None,
    }
    save_checkpoint(run_dir / CHECKPOINT, tensors, meta)
    write_json(run_dir / LOSS, {"step_loss": state.history})


def read_history(run_dir: str | Path) -> list:
    """[[step, mean loss], …] as logged in RUN/loss.json (empty if there is none)."""
    path = Path(run_dir) / LOSS
    return json.loads(path.read_text())["step_loss"] if path.exists() else []


def load_state(state: TrainState, tensors: dict[str, Tensor], meta: dict) -> None:
    """Restore weights, EMA, optimizer, RNG, step and history from a loaded checkpoint into `state`."""
    state.model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    state.ema.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("ema.")})
    state.optimizer.load_state_dict(unflatten_state(meta["optimizer"], tensors))
    state.generator.set_state(tensors["rng"])
    state.step, state.elapsed, state.history = meta["step"], meta["elapsed"], meta["history"]
    if state.scaler is not None and meta.get("scaler"):
        state.scaler.load_state_dict(meta["scaler"])


# -- the loop ----------------------------------------------------------------------------------------
def prepare_data(
    raw: np.ndarray | pd.DataFrame,
    standardise: bool,
    pixels: PixelScaler | TableCodec | None = None,
) -> tuple[np.ndarray, Standardiser | PixelScaler | TableCodec, float, float]:
    """The training array in the model's units, its scaler, σ_data and σ_max derived from the data.

    Tables are encoded by their column codec (σ_data: the codes' standard deviation); vectors are
    standardised per dimension (σ_data: their standard deviation, 1 unless not
    standardised); images are scaled by their known pixel range to [-1, 1] with σ_data = 0.5 (EDM).
    σ_max is the largest pairwise distance between data points (Song & Ermon 2020, Technique 1),
    so the prior covers the data.
    """
    if isinstance(pixels, TableCodec):  # tables: encoded column by column (data/columns.py)
        std, z = pixels, pixels.forward(raw)
        sigma_data = float(z.std())
    elif pixels is not None:
        std, sigma_data = pixels, SIGMA_DATA
        z = std.forward(raw)
    else:
        std = Standardiser.fit(raw) if standardise else Standardiser.identity(raw.shape[1])
        z = std.forward(raw)
        sigma_data = float(z.std())
    sigma_max = max_pairwise_distance(torch.from_numpy(z.reshape(len(z), -1)))
    return z, std, sigma_data, float(f"{sigma_max:.3g}")


def class_moments(z: np.ndarray, labels: np.ndarray, k: int) -> tuple[list, list] | None:
    """Each class's mean [K][D] and covariance of the (standardised) data: [K][D][D] for
    D ≤ FULL_MAX_DIM, per-coordinate variances [K][D] above (images: per-pixel); a class without
    rows gets the overall moments. None for large images (z[0].size > 4096: σ_max ≫ the data there,
    and config.json stays small).

    Sampling class c starts from its flow's exact marginal N(m_c, Σ_c + σ_max² I)
    (sampling.prior.class_start): a start of variance σ_max² + σ_data² made a narrow class (sd 0.15
    in a standardised table, σ_max 1.43) come out 2.1× too wide."""
    from .sampling.prior import FULL_MAX_DIM

    flat = z.reshape(len(z), -1)
    if flat.shape[1] > 4096:
        return None
    full = flat.shape[1] <= FULL_MAX_DIM
    means, covs = [], []
    for c in range(k):
        rows = flat[labels == c] if (labels == c).any() else flat
        means.append(rows.mean(0))
        centred = rows - rows.mean(0)
        if full:
            covs.append(centred.T @ centred / max(len(rows) - 1, 1))
        else:
            covs.append((centred**2).sum(0) / max(len(rows) - 1, 1))
    return np.asarray(means).tolist(), np.asarray(covs).tolist()


def data_covariance(z: np.ndarray, max_dim: int = 64) -> list | None:
    """The (standardised) training data's covariance, kept for the likelihood's prior (small D only)."""
    flat = z.reshape(len(z), -1)
    return np.atleast_2d(np.cov(flat.T)).tolist() if flat.shape[1] <= max_dim else None


def make_state(
    preset: Preset, shape: tuple[int, ...] | int, model_cfg: ModelConfig, cfg: TrainConfig
) -> TrainState:
    torch.manual_seed(cfg.seed)  # network initialisation
    model = build_model(preset, shape, model_cfg).to(cfg.device)
    if cfg.channels_last:  # NHWC weights and (in train_step) inputs: 1.2× per U-Net step at 32×32
        model = model.to(memory_format=torch.channels_last)
    ema = copy.deepcopy(model).requires_grad_(False)
    # foreach: one fused update for all tensors (the per-tensor loop is most of a small model's step on CPU)
    opt = torch.optim.AdamW(
        model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, foreach=True
    )
    gen = torch.Generator(device=cfg.device).manual_seed(cfg.seed)
    scaler = torch.amp.GradScaler("cuda") if cfg.precision == "fp16" else None
    objective = OBJECTIVES[model_cfg.kind](model, preset, cfg.p_uncond)
    return TrainState(0, model, ema, opt, gen, objective, scaler=scaler)


def run_loop(
    state: TrainState,
    batches: InMemory | Streamed,
    cfg: TrainConfig,
    run_dir: Path,
    run_config: RunConfig | dict,
    progress: bool = True,
) -> TrainState:
    """Train until cfg.steps (total) or cfg.seconds (this call) is reached, checkpointing every
    cfg.checkpoint_every steps and on SIGINT/SIGTERM (at the next log boundary; then raise Interrupted),
    so a stopped-and-resumed run equals an uninterrupted one. Ranks decide together."""
    start, start_elapsed, losses = time.perf_counter(), state.elapsed, []
    last_log, main = start, state.env.is_main
    bar = Progress(cfg, state.step, progress and main)
    with _stop_on_signals() as stop, contextlib.closing(batches):
        while True:
            # a signal stops at the next log boundary (≤ log_every steps), where the history is complete
            halt = bool(stop) and state.step % cfg.log_every == 0
            done = any_across(state.env, _done(state, cfg, time.perf_counter() - start) or halt)
            if done:
                break
            losses.append(train_step(state, batches, cfg))
            if state.step % cfg.log_every == 0:
                mean = _check_losses(
                    [mean_across(state.env, torch.stack(losses).mean())], state.step, run_dir
                )
                state.history.append([state.step, mean])
                state.elapsed = start_elapsed + time.perf_counter() - start
                now = time.perf_counter()
                rate, last_log = cfg.batch_size * len(losses) / max(now - last_log, 1e-9), now
                bar.log(state.step, now - start, mean, rate)
                losses = []
                if state.step % cfg.checkpoint_every < cfg.log_every and main:
                    save_state(run_dir, state, run_config)
    bar.close(state.step, time.perf_counter() - start)
    if losses:  # the steps since the last log line
        state.history.append(
            [
                state.step,
                _check_losses(
                    [mean_across(state.env, torch.stack(losses).mean())], state.step, run_dir
                ),
            ]
        )
    state.elapsed = start_elapsed + time.perf_counter() - start
    if main:
        save_state(run_dir, state, run_config)
    barrier(state.env)
    if stop:
        raise Interrupted(
            f"interrupted by {stop[0]} at step {state.step}; checkpoint written to "
            f"{run_dir / CHECKPOINT}; continue with --resume"
        )
    return state


class Progress:
    """The training bar: steps with an ETA under a step budget, seconds under a time budget; and one
    warning when throughput falls below a third of its best for three log intervals in a row
    (another process on the cores, or more threads than cores)."""

    def __init__(self, cfg: TrainConfig, step: int, enabled: bool):
        self.by_time = cfg.steps is None
        self.total = float(cfg.seconds) if self.by_time else cfg.steps
        self.bar = tqdm(
            total=self.total,
            initial=0 if self.by_time else step,
            disable=not enabled,
            unit="s" if self.by_time else "step",
            dynamic_ncols=True,
            mininterval=1.0,
            bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} s [{elapsed}<{remaining}{postfix}]"
            if self.by_time
            else None,
        )
        self.best, self.slow, self.warned = 0.0, 0, not enabled

    def log(self, step: int, seconds: float, loss: float, rate: float) -> None:
        self.bar.set_postfix(step=step, loss=f"{loss:.4f}", samples_s=f"{rate:,.0f}", refresh=False)
        self._advance(step, seconds)
        self.best = max(self.best, rate)
        self.slow = self.slow + 1 if rate < self.best / 3 else 0
        if self.slow >= 3 and not self.warned:
            self.warned = True
            tqdm.write(
                f"warning: training slowed from {self.best:,.0f} to {rate:,.0f} samples/s; is "
                f"another process using the cores? (torch threads {torch.get_num_threads()}, "
                f"cores {os.cpu_count()}; OMP_NUM_THREADS sets the threads)",
                file=sys.stderr,
            )

    def _advance(self, step: int, seconds: float) -> None:
        target = min(seconds, self.total) if self.by_time else step
        self.bar.update(target - self.bar.n)

    def close(self, step: int, seconds: float) -> None:
        """The bar ends at its total when the budget was met (a step budget of 10 ends at 10/10)."""
        self._advance(step, self.total if self.by_time and seconds >= self.total else seconds)
        self.bar.close()


@contextlib.contextmanager
def _stop_on_signals():
    """A list that receives the name of SIGINT/SIGTERM when one arrives, instead of dying mid-step."""
    received: list[str] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def handler(signum, _frame):
        received.append(signal.Signals(signum).name)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield received
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def _done(state: TrainState, cfg: TrainConfig, seconds: float) -> bool:
    if cfg.steps is not None and state.step >= cfg.steps:
        return True
    return cfg.seconds is not None and seconds >= cfg.seconds


def _check_losses(losses: list[Tensor], step: int, run_dir: Path) -> float:
    """Mean of the logged losses; stops the run on NaN/Inf, keeping the last good checkpoint."""
    mean = float(torch.stack(losses).mean())
    if not math.isfinite(mean):
        kept = run_dir / CHECKPOINT
        where = (
            f"the last good checkpoint {kept} is kept"
            if kept.exists()
            else "no checkpoint was written"
        )
        raise DifflabError(f"loss became {mean} by step {step}; training stopped, {where}")
    return mean


def train(
    data: np.ndarray | ImageStream | pd.DataFrame,
    preset: str | Preset,
    out: str | Path,
    cfg: TrainConfig = TrainConfig(),
    model: ModelConfig = ModelConfig(),
    data_spec: str = "array",
    standardise: bool = True,
    resume: bool = False,
    force: bool = False,
    progress: bool = True,
    log=print,
    labels: np.ndarray | None = None,
    classes: list[str] | None = None,
    labels_from: str | None = None,
    pixels: PixelScaler | None = None,
    column_types: dict | None = None,
) -> Path:
    """Train a preset on an N×D array (or N×C×H×W images with their `pixels` range, or an
    ImageStream decoded on demand, or a table: a DataFrame of numeric and categorical columns,
    `column_types` {name: (kind, bounds)} overriding the detected ones); returns the run directory.
    See `difflab train --help`.

    labels: class indices [N] in 0…K-1 (names in `classes`, default '0'…'K-1'): the model learns
    p(x | c) and, with probability cfg.p_uncond per sample, the unconditional p(x) (for guidance)."""
    if cfg.steps is None and cfg.seconds is None:
        raise DifflabError("give a training budget: steps or seconds")
    run_dir = Path(out)
    if (run_dir / CHECKPOINT).exists() and not (resume or force):
        raise DifflabError(
            f"{run_dir} already holds a run; use --resume to continue it or --force to overwrite"
        )
    if resume and not (run_dir / CHECKPOINT).exists():
        raise DifflabError(f"{run_dir}: nothing to resume (no {CHECKPOINT})")
    preset = get_preset(preset) if isinstance(preset, str) else preset
    heldout, model_data = None, data
    if isinstance(data, pd.DataFrame):
        if not isinstance(pixels, TableCodec):  # a codec may be given (e.g. analog bits)
            pixels = TableCodec.fit(data, column_types)  # every row: held-out levels are known
        data, heldout, labels = hold_out(data, labels, log)
        model_data = data.drop(columns=[LABEL], errors="ignore")
    vectors = not isinstance(pixels, PixelScaler) and not isinstance(data, ImageStream)
    if vectors and (cfg.hflip or cfg.channels_last):
        flag = "--hflip mirrors" if cfg.hflip else "--channels-last lays out"
        raise DifflabError(f"{flag} images; these data are vectors")
    if isinstance(data, ImageStream) and labels is None and data.labels is not None:
        labels, classes = data.labels, data.classes
    if labels is not None:
        labels, classes = check_labels(labels, len(data), classes)
        model = dataclasses.replace(model, num_classes=len(classes))
    env = setup(cfg.device, cfg.batch_size)
    try:
        done = _train(
            model_data,
            preset,
            run_dir,
            dataclasses.replace(cfg, device=env.device),
            model,
            data_spec,
            standardise,
            resume,
            progress and env.is_main,
            log if env.is_main else _quiet,
            env,
            labels,
            classes,
            labels_from,
            pixels,
        )
        if done is not None and env.is_main:
            write_reference(run_dir, data, heldout, labels)
        return run_dir
    finally:
        teardown(env)


def check_labels(
    labels: np.ndarray, n: int, classes: list[str] | None
) -> tuple[np.ndarray, list[str]]:
    """Labels as int64 class indices, one per data row, and the class names; one-line errors."""
    labels = np.asarray(labels)
    if labels.shape != (n,):
        raise DifflabError(f"labels: expected one per data row ({n}), got shape {labels.shape}")
    if labels.dtype.kind == "f" and not np.isfinite(labels).all():
        raise DifflabError(
            f"labels: {int((~np.isfinite(labels)).sum())} missing (NaN) label(s), first at row "
            f"{int(np.argmax(~np.isfinite(labels)))}"
        )
    if labels.dtype.kind not in "iuf" or (
        labels.dtype.kind == "f" and (labels != np.round(labels)).any()
    ):
        raise DifflabError("labels: expected class indices 0…K-1 (integers)")
    labels = labels.astype(np.int64)
    k = len(classes) if classes else int(labels.max()) + 1
    if labels.min() < 0 or labels.max() >= k:
        raise DifflabError(
            f"labels: class indices must lie in 0…{k - 1}, found {labels.min()}…{labels.max()}"
        )
    return labels, list(classes) if classes else [str(i) for i in range(k)]


def _quiet(*_args) -> None:
    pass


def _train(
    data: np.ndarray | ImageStream,
    preset: Preset,
    run_dir: Path,
    cfg: TrainConfig,
    model: ModelConfig,
    data_spec: str,
    standardise: bool,
    resume: bool,
    progress: bool,
    log,
    env: DistEnv,
    labels: np.ndarray | None,
    classes: list[str] | None,
    labels_from: str | None,
    pixels: PixelScaler | TableCodec | None,
) -> Path | None:
    """Train (or resume) into run_dir; None when a resumed run has already met cfg.steps."""
    saved = load_checkpoint(run_dir / CHECKPOINT) if resume else None
    if saved is not None:  # what can be checked before the data: a finished run still refuses
        old = RunConfig.from_dict(saved[1].get("config", {}), str(run_dir / CHECKPOINT))
        _check_recipe(old, None if model.is_flow else preset.name, classes, model)
    if saved is not None and cfg.steps is not None and saved[1]["step"] >= cfg.steps:
        log(
            f"nothing to do: {run_dir} is already at step {saved[1]['step']} and --steps "
            f"{cfg.steps} counts all steps, not more of them; give a larger --steps (or --seconds) "
            "to continue"
        )
        return None  # before any data preparation: nothing is trained or rewritten
    streamed = isinstance(data, ImageStream)
    scanned = data.scan() if streamed else None  # the first images, for σ_max and class means
    raw = scanned.pixels if streamed else data
    pixels = data.scaler if streamed else pixels
    z, std, sigma_data, sigma_max = prepare_data(raw, standardise, pixels)
    shape = tuple(data.shape) if streamed else tuple(z.shape[1:])
    if saved is not None:  # keep the run's own standardisation and σ's: the same data for the model
        if shape != old.data.shape:
            raise DifflabError(
                f"cannot resume: the data have shape {shape}, the run in {run_dir} was "
                f"trained on {old.data.shape} (data dimension differs)"
            )
        std = scaler_from_dict(old.data.standardiser)
        z, sigma_data, sigma_max = std.forward(raw), old.sigma_data, old.sigma_max
    preset = preset.adapt(sigma_data, sigma_max)
    scan_labels = None if labels is None else labels[: len(z)]
    moments = None if labels is None else class_moments(z, scan_labels, len(classes))
    info = DataInfo(
        spec=data_spec,
        n=int(len(data)),
        shape=shape,
        standardiser=std.to_dict(),
        cov=data_covariance(z),
        classes=classes,
        labels=labels_from,
        class_means=None if moments is None else moments[0],
        class_covs=None if moments is None else moments[1],
    )
    run_config = RunConfig(
        preset=None if model.is_flow else preset.name,
        sigma_data=sigma_data,
        sigma_max=sigma_max,
        data=info,
        model=model,
        difflab_version=__version__,
        train={**dataclasses.asdict(cfg), "processes": env.world_size},
    )
    batches = _batches(data, z, labels, cfg, env)
    state = make_state(preset, info.shape, model, cfg)
    if saved is not None:  # its recipe, classes, model and data shape were checked above
        load_state(state, *saved)
        log(f"resuming {run_dir} from step {state.step}")
    else:
        state.objective.initialise(batches.first(cfg.batch_size))
        ema_update(state, 0.0)  # the EMA starts from the (data-initialised) model
    first, before = state.step, state.elapsed
    state.env, state.loss_fn = env, _wrap(state.objective, env, cfg.compile)
    if env.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_json(run_dir / "config.json", run_config.to_dict())
    log(_describe(run_config, preset, env, standardise))
    run_loop(state, batches, cfg, run_dir, run_config, progress)
    now = f" (now at step {state.step})" if first else ""
    log(
        f"trained {state.step - first} steps{now} in {state.elapsed - before:.1f} s; "
        f"final loss {state.history[-1][1]:.4f}"
    )
    return run_dir


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


def _describe(rc: RunConfig, preset: Preset, env: DistEnv, standardise: bool) -> str:
    what = (
        f"{rc.model.type} {'flow' if rc.model.kind == 'flow' else 'model'}, maximum likelihood"
        + (
            f", receptive field {receptive_field(rc.model.layers)}"
            if rc.model.type == "wavenet"
            else ""
        )
        if rc.model.is_flow
        else f"preset {preset.name}: σ_data = {rc.sigma_data:.3g}, σ_max = {preset.sampling_range()[1]:.3g}"
    )
    labelled = (
        f", {rc.data.num_classes} classes from {rc.data.labels}, p_uncond {rc.train['p_uncond']}"
        if rc.data.classes
        else ""
    )
    scaling = rc.data.standardiser
    if scaling.get("kind") == "pixels":
        how = f"pixels {scaling['lo']:g}–{scaling['hi']:g} → [-1, 1]"
    elif scaling.get("kind") == "table":
        how = describe_columns(TableCodec.from_dict(scaling))
    else:
        how = f"standardised={standardise}"
    size = "×".join(str(s) for s in (rc.data.n, *rc.data.shape))
    return (
        f"{what} (data: {rc.data.spec}, {size}, {how}{labelled}"
        + (f", {env.world_size} processes" if env.active else "")
        + ")"
    )


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
