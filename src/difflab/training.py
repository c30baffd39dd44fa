"""The training loop in small pieces: one step, EMA, checkpoint, resume.

A run directory holds `config.json` (what was trained, human-readable), `checkpoint.safetensors`
(weights, EMA, optimizer, RNG, step and loss history; written atomically) and `loss.json`.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import math
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from . import __version__
from .checkpoint import flatten_state, load_checkpoint, save_checkpoint, unflatten_state, write_json
from .data import Standardiser, max_pairwise_distance
from .distributed import DistEnv, any_across, barrier, mean_across, setup, teardown
from .errors import DifflabError, Interrupted
from .losses import dsm_loss
from .flows import Flow, nice, realnvp
from .nn import MLP
from .parameterisation import Denoiser
from .presets import Preset, get_preset

CHECKPOINT = "checkpoint.safetensors"


MODEL_TYPES = ("mlp", "realnvp", "nice")


@dataclass(frozen=True)
class ModelConfig:
    """type: 'mlp' (a diffusion denoiser: residual MLP with `depth` blocks) or a flow, 'realnvp' |
    'nice' (`layers` coupling layers, each conditioner an MLP of `depth` hidden layers of `width`)."""

    type: str = "mlp"
    width: int = 128
    depth: int = 4
    emb_dim: int = 64
    layers: int = 8
    actnorm: bool = True

    def __post_init__(self) -> None:
        if self.type not in MODEL_TYPES:
            raise DifflabError(f"unknown model {self.type!r}; expected one of: {', '.join(MODEL_TYPES)}")

    @property
    def is_flow(self) -> bool:
        return self.type != "mlp"


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
    precision: str = "fp32"  # fp32 | bf16 (autocast, CPU or GPU) | fp16 (autocast + loss scaling, GPU)
    compile: bool = False  # torch.compile the loss (network and preconditioning)

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise DifflabError(f"unknown precision {self.precision!r}; expected one of: {', '.join(PRECISIONS)}")
        if self.precision == "fp16" and not self.device.startswith("cuda"):
            raise DifflabError("--precision fp16 needs a CUDA device (loss scaling); on CPU use bf16")


PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass
class TrainState:
    """Everything a resumed run needs to continue as if never stopped."""

    step: int
    model: Denoiser | Flow
    ema: Denoiser | Flow
    optimizer: torch.optim.Optimizer
    generator: torch.Generator
    history: list = field(default_factory=list)  # [step, mean loss over the last log interval]
    elapsed: float = 0.0
    objective: torch.nn.Module | None = None  # what the step differentiates: Objective(model), DDP-wrapped
    env: DistEnv = field(default_factory=DistEnv)
    scaler: torch.amp.GradScaler | None = None  # fp16 only

    def __post_init__(self) -> None:
        # walked once: Module.parameters() per step cost ~4% of a CPU step with a small MLP
        self.params = list(self.model.parameters())
        self.ema_tensors = (list(self.ema.parameters()), list(self.ema.buffers()))
        self.model_buffers = list(self.model.buffers())


def build_denoiser(preset: Preset, dim: int, model: ModelConfig) -> Denoiser:
    net = MLP(dim, width=model.width, depth=model.depth, emb_dim=model.emb_dim)
    return Denoiser(net, preset.precond)


def build_model(preset: Preset, dim: int, model: ModelConfig) -> Denoiser | Flow:
    """The network a run trains: a preconditioned denoiser, or a flow for maximum likelihood."""
    if model.type == "realnvp":
        return realnvp(dim, layers=model.layers, width=model.width, depth=model.depth, actnorm=model.actnorm)
    if model.type == "nice":
        return nice(dim, layers=model.layers, width=model.width, depth=model.depth)
    return build_denoiser(preset, dim, model)


class Objective(torch.nn.Module):
    """The per-sample training loss as a module, so DDP can wrap it: DSM for a denoiser at the drawn
    (σ, noise), NLL in nats per dimension for a flow."""

    def __init__(self, model: Denoiser | Flow, preset: Preset):
        super().__init__()
        self.model, self.preset = model, preset

    def forward(self, x0: Tensor, sigma: Tensor | None = None, noise: Tensor | None = None) -> Tensor:
        if isinstance(self.model, Flow):
            return -self.model.log_prob(x0) / x0.shape[1]
        return dsm_loss(self.model, x0, sigma, noise, self.preset.weighting)


def draw_batch(data: Tensor, preset: Preset, n: int, gen: torch.Generator, flow: bool) -> tuple:
    """A global batch: indices (with replacement), then σ and noise for a denoiser, from one generator."""
    x0 = data[torch.randint(0, data.shape[0], (n,), generator=gen, device=data.device)]
    if flow:
        return x0, None, None
    sigma = preset.noise.sample(n, preset.process, gen, data.device)
    return x0, sigma, torch.randn(x0.shape, generator=gen, device=data.device)


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


def train_step(state: TrainState, data: Tensor, preset: Preset, cfg: TrainConfig) -> Tensor:
    """One AdamW step on a random global batch, of which this rank trains its slice (DDP averages the
    gradients); returns this rank's batch loss as a 0-d tensor (not synced)."""
    batch = draw_batch(data, preset, cfg.batch_size, state.generator, isinstance(state.model, Flow))
    part = state.env.slice(cfg.batch_size)
    objective = state.objective if state.objective is not None else Objective(state.model, preset)
    with _autocast(cfg):
        loss = objective(*(b[part] if b is not None else None for b in batch)).float().mean()
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


def _autocast(cfg: TrainConfig):
    """Mixed precision for the forward pass (weights and optimizer stay fp32), or nothing for fp32."""
    dtype = PRECISIONS[cfg.precision]
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=cfg.device.split(":")[0], dtype=dtype)


# -- checkpoints ------------------------------------------------------------------------------------
def save_state(run_dir: Path, state: TrainState, run_config: dict) -> None:
    tensors: dict[str, Tensor] = {}
    tensors.update({f"model.{k}": v for k, v in state.model.state_dict().items()})
    tensors.update({f"ema.{k}": v for k, v in state.ema.state_dict().items()})
    opt = flatten_state("opt", state.optimizer.state_dict(), tensors)
    tensors["rng"] = state.generator.get_state()
    meta = {"config": run_config, "step": state.step, "elapsed": state.elapsed, "optimizer": opt,
            "history": state.history, "scaler": state.scaler.state_dict() if state.scaler else None}
    save_checkpoint(run_dir / CHECKPOINT, tensors, meta)
    write_json(run_dir / "loss.json", {"step_loss": state.history})


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
def prepare_data(raw: np.ndarray, standardise: bool) -> tuple[np.ndarray, Standardiser, float, float]:
    """Standardised training array, the standardiser, σ_data and σ_max derived from the data.

    σ_data is the standard deviation of the (standardised) data; σ_max is the largest pairwise
    distance between data points (Song & Ermon 2020, Technique 1), so the prior covers the data.
    """
    std = Standardiser.fit(raw) if standardise else Standardiser.identity(raw.shape[1])
    z = std.forward(raw)
    sigma_data = float(z.std())
    sigma_max = max_pairwise_distance(torch.from_numpy(z))
    return z, std, sigma_data, float(f"{sigma_max:.3g}")


def data_covariance(z: np.ndarray, max_dim: int = 64) -> list | None:
    """The (standardised) training data's covariance, kept for the likelihood's prior (small D only)."""
    return np.atleast_2d(np.cov(z.T)).tolist() if z.shape[1] <= max_dim else None


def make_state(preset: Preset, dim: int, model_cfg: ModelConfig, cfg: TrainConfig) -> TrainState:
    torch.manual_seed(cfg.seed)  # network initialisation
    model = build_model(preset, dim, model_cfg).to(cfg.device)
    ema = copy.deepcopy(model).requires_grad_(False)
    # foreach: one fused update for all tensors (the per-tensor loop is most of a small model's step on CPU)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, foreach=True)
    gen = torch.Generator(device=cfg.device).manual_seed(cfg.seed)
    scaler = torch.amp.GradScaler("cuda") if cfg.precision == "fp16" else None
    return TrainState(0, model, ema, opt, gen, scaler=scaler)


def run_loop(state: TrainState, data: Tensor, preset: Preset, cfg: TrainConfig, run_dir: Path,
             run_config: dict, progress: bool = True) -> TrainState:
    """Train until cfg.steps (total) or cfg.seconds (this call) is reached, checkpointing every
    cfg.checkpoint_every steps and on SIGINT/SIGTERM (at the next log boundary; then raise Interrupted),
    so a stopped-and-resumed run equals an uninterrupted one. Ranks decide together."""
    start, start_elapsed, losses = time.perf_counter(), state.elapsed, []
    last_log, main = start, state.env.is_main
    bar = tqdm(total=cfg.steps, initial=state.step, disable=not (progress and main), unit="step",
               dynamic_ncols=True, mininterval=1.0)
    with _stop_on_signals() as stop:
        while True:
            # a signal stops at the next log boundary (≤ log_every steps), where the history is complete
            halt = bool(stop) and state.step % cfg.log_every == 0
            done = any_across(state.env, _done(state, cfg, time.perf_counter() - start) or halt)
            if done:
                break
            losses.append(train_step(state, data, preset, cfg))
            if state.step % cfg.log_every == 0:
                mean = _check_losses([mean_across(state.env, torch.stack(losses).mean())], state.step, run_dir)
                state.history.append([state.step, mean])
                state.elapsed = start_elapsed + time.perf_counter() - start
                now = time.perf_counter()
                rate, last_log = cfg.batch_size * len(losses) / max(now - last_log, 1e-9), now
                bar.set_postfix(loss=f"{mean:.4f}", samples_s=f"{rate:,.0f}", refresh=False)
                bar.update(len(losses))
                losses = []
                if state.step % cfg.checkpoint_every < cfg.log_every and main:
                    save_state(run_dir, state, run_config)
    bar.close()
    if losses:  # the steps since the last log line
        state.history.append([state.step, _check_losses([mean_across(state.env, torch.stack(losses).mean())],
                                                        state.step, run_dir)])
    state.elapsed = start_elapsed + time.perf_counter() - start
    if main:
        save_state(run_dir, state, run_config)
    barrier(state.env)
    if stop:
        raise Interrupted(f"interrupted by {stop[0]} at step {state.step}; checkpoint written to "
                          f"{run_dir / CHECKPOINT}; continue with --resume")
    return state


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
        where = f"the last good checkpoint {kept} is kept" if kept.exists() else "no checkpoint was written"
        raise DifflabError(f"loss became {mean} by step {step}; training stopped, {where}")
    return mean


def train(
    data: np.ndarray,
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
) -> Path:
    """Train a preset on an N×D array; returns the run directory. See `difflab train --help`."""
    if cfg.steps is None and cfg.seconds is None:
        raise DifflabError("give a training budget: steps or seconds")
    run_dir = Path(out)
    if (run_dir / CHECKPOINT).exists() and not (resume or force):
        raise DifflabError(f"{run_dir} already holds a run; use --resume to continue it or --force to overwrite")
    if resume and not (run_dir / CHECKPOINT).exists():
        raise DifflabError(f"{run_dir}: nothing to resume (no {CHECKPOINT})")
    preset = get_preset(preset) if isinstance(preset, str) else preset
    env = setup(cfg.device, cfg.batch_size)
    try:
        return _train(data, preset, run_dir, dataclasses.replace(cfg, device=env.device), model, data_spec,
                      standardise, resume, progress and env.is_main, log if env.is_main else _quiet, env)
    finally:
        teardown(env)


def _quiet(*_args) -> None:
    pass


def _train(data: np.ndarray, preset: Preset, run_dir: Path, cfg: TrainConfig, model: ModelConfig, data_spec: str,
           standardise: bool, resume: bool, progress: bool, log, env: DistEnv) -> Path:
    z, std, sigma_data, sigma_max = prepare_data(data, standardise)
    saved = load_checkpoint(run_dir / CHECKPOINT) if resume else None
    if saved is not None:  # keep the run's own standardisation and σ's so the model sees the same data
        cfg_saved = saved[1]["config"]
        if data.shape[1] != cfg_saved["data"]["dim"]:
            raise DifflabError(f"cannot resume: the data has {data.shape[1]} columns, the run in {run_dir} was "
                               f"trained on {cfg_saved['data']['dim']} (data dimension differs)")
        std = Standardiser.from_dict(cfg_saved["data"]["standardiser"])
        z, sigma_data, sigma_max = std.forward(data), cfg_saved["sigma_data"], cfg_saved["sigma_max"]
    preset = preset.adapt(sigma_data, sigma_max)
    run_config = {
        "difflab_version": __version__, "preset": None if model.is_flow else preset.name,
        "sigma_data": sigma_data, "sigma_max": sigma_max,
        "data": {"spec": data_spec, "n": int(len(z)), "dim": int(z.shape[1]), "standardiser": std.to_dict(),
                 "cov": data_covariance(z)},
        "model": dataclasses.asdict(model), "train": {**dataclasses.asdict(cfg), "processes": env.world_size},
    }
    data_t = torch.as_tensor(z, dtype=torch.float32, device=cfg.device)
    state = make_state(preset, z.shape[1], model, cfg)
    if saved is not None:
        _check_resume(saved[1]["config"], run_config)
        load_state(state, *saved)
        log(f"resuming {run_dir} from step {state.step}")
    else:
        _initialise(state, data_t[: cfg.batch_size])
    state.env, state.objective = env, _objective(state.model, preset, env, cfg.compile)
    if env.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_json(run_dir / "config.json", run_config)
    what = (f"{model.type} flow, maximum likelihood" if model.is_flow else
            f"preset {preset.name}: σ_data = {sigma_data:.3g}, σ_max = {preset.sampling_range()[1]:.3g}")
    log(f"{what} (data: {data_spec}, {len(z)}×{z.shape[1]}, standardised={standardise}"
        + (f", {env.world_size} processes" if env.active else "") + ")")
    run_loop(state, data_t, preset, cfg, run_dir, run_config, progress)
    log(f"trained {state.step} steps in {state.elapsed:.1f} s; final loss {state.history[-1][1]:.4f}")
    return run_dir


def _initialise(state: TrainState, first: Tensor) -> None:
    """Data-dependent initialisation (ActNorm) on the first rows of the data, the same on every rank,
    before DDP wraps the model (DDP broadcasts parameters once, at wrapping)."""
    if isinstance(state.model, Flow):
        with torch.no_grad():
            state.model(first)
        ema_update(state, 0.0)  # the EMA starts from the initialised model


def _objective(model: torch.nn.Module, preset: Preset, env: DistEnv, compile: bool = False) -> torch.nn.Module:
    objective = Objective(model, preset)
    if compile:
        objective = torch.compile(objective)
    if not env.active:
        return objective
    from torch.nn.parallel import DistributedDataParallel

    ids = [int(env.device.split(":")[1])] if env.device.startswith("cuda:") else None
    return DistributedDataParallel(objective, device_ids=ids)


def _check_resume(saved: dict, new: dict) -> None:
    if saved["preset"] != new["preset"]:
        raise DifflabError(f"cannot resume: the run was trained with preset {saved['preset']!r}, not {new['preset']!r}")
    if saved["data"]["dim"] != new["data"]["dim"] or ModelConfig(**saved["model"]) != ModelConfig(**new["model"]):
        raise DifflabError("cannot resume: data dimension or model size differs from the saved run")
