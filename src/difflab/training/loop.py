"""The loop around the step: budget, logging, progress bar, checkpoints, signals, NaN guard."""

from __future__ import annotations

import contextlib
import math
import os
import signal
import sys
import threading
import time
from pathlib import Path

import torch
from torch import Tensor
from tqdm import tqdm

from ..checkpoint import CHECKPOINT
from ..errors import DifflabError, Interrupted
from ..runconfig import RunConfig
from .batches import InMemory, Streamed
from .config import TrainConfig
from .distributed import any_across, barrier, mean_across
from .state import TrainState, save_state, train_step


def run_loop(
    state: TrainState,
    batches: InMemory | Streamed,
    cfg: TrainConfig,
    run_dir: Path,
    run_config: RunConfig | dict,
    progress: bool = True,
) -> TrainState:
    """Train until cfg.steps (total) or cfg.seconds (this call) is reached, checkpointing every
    cfg.checkpoint_every steps and on SIGINT/SIGTERM (at the next log boundary; then raise
    Interrupted),
    so a stopped-and-resumed run equals an uninterrupted one. Ranks decide together."""
    start, start_elapsed, losses = time.perf_counter(), state.elapsed, []
    last_log, main = start, state.env.is_main
    bar = Progress(cfg, state.step, progress and main)
    with _stop_on_signals() as stop, contextlib.closing(batches):
        while True:
            # a signal stops at the next log boundary (≤ log_every steps), where the history is
            # complete
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
    """A list that receives the name of SIGINT/SIGTERM when one arrives, instead of dying
    mid-step."""
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
