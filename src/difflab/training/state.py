"""One training step and the state it changes: AdamW on the step's batch, EMA, save and restore."""

from __future__ import annotations

import contextlib
import copy
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from ..checkpoint import CHECKPOINT, LOSS, flatten_state, save_checkpoint, unflatten_state
from ..checkpoint import write_json
from ..models import ModelConfig, build_model
from ..presets import Preset
from ..runconfig import RunConfig
from .batches import InMemory, Streamed
from .config import PRECISIONS, TrainConfig
from .distributed import DistEnv
from .objectives import OBJECTIVES


TRAINING = "training.lock"  # in a run directory while a process trains it: "host pid"


@contextlib.contextmanager
def training_lock(run_dir: Path, held: bool = True):
    """RUN/training.lock names this host and process while the loop runs (`held`: the main rank),
    so `distill` can refuse a teacher that is still training; removed however the loop ends."""
    path = run_dir / TRAINING
    if held:
        path.write_text(f"{socket.gethostname()} {os.getpid()}\n")
    try:
        yield
    finally:
        if held:
            path.unlink(missing_ok=True)


def still_training(run_dir: Path) -> str | None:
    """Who trains RUN now ('pid N' or 'host H'), or None: no lock, or a stale one (its process
    on this host is gone; a killed run leaves it)."""
    try:
        host, pid = (run_dir / TRAINING).read_text().split()
    except (OSError, ValueError):
        return None
    if host != socket.gethostname():
        return f"host {host}"
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return None
    except (PermissionError, ValueError):
        pass
    return f"pid {pid}"


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


def make_state(
    preset: Preset,
    shape: tuple[int, ...] | int,
    model_cfg: ModelConfig,
    cfg: TrainConfig,
    teacher=None,
) -> TrainState:
    """A fresh state: the model (initialised from cfg.seed), its EMA, AdamW, the generator and the
    objective (`teacher`: the denoiser a distilled recipe learns from)."""
    torch.manual_seed(cfg.seed)  # network initialisation
    model = build_model(preset, shape, model_cfg).to(cfg.device)
    if cfg.channels_last:  # NHWC weights and (in train_step) inputs: 1.2× per U-Net step at 32×32
        model = model.to(memory_format=torch.channels_last)
    ema = copy.deepcopy(model).requires_grad_(False)
    # foreach: one fused update for all tensors (the per-tensor loop is most of a small model's step
    # on CPU)
    opt = torch.optim.AdamW(
        model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, foreach=True
    )
    gen = torch.Generator(device=cfg.device).manual_seed(cfg.seed)
    scaler = torch.amp.GradScaler("cuda") if cfg.precision == "fp16" else None
    objective = OBJECTIVES[model_cfg.kind](model, preset, cfg.p_uncond, teacher)
    return TrainState(0, model, ema, opt, gen, objective, scaler=scaler)


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
    """Mixed precision for the forward pass (weights and optimizer stay fp32), or nothing for
    fp32."""
    dtype = PRECISIONS[cfg.precision]
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=cfg.device.split(":")[0], dtype=dtype)


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


def load_state(state: TrainState, tensors: dict[str, Tensor], meta: dict) -> None:
    """Restore weights, EMA, optimizer, RNG, step and history from a loaded checkpoint into
    `state`."""
    state.model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    state.ema.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("ema.")})
    state.optimizer.load_state_dict(unflatten_state(meta["optimizer"], tensors))
    state.generator.set_state(tensors["rng"])
    state.step, state.elapsed, state.history = meta["step"], meta["elapsed"], meta["history"]
    if state.scaler is not None and meta.get("scaler"):
        state.scaler.load_state_dict(meta["scaler"])
