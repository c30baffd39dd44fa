"""The loop around the step: budget, logging, progress bar, checkpoints, signals, NaN guard."""

from __future__ import annotations

import contextlib
import math
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor
from tqdm import tqdm

from ..checkpoint import CHECKPOINT, LOSS, write_json
from ..errors import DifflabError, Interrupted
from ..runconfig import RunConfig
from .batches import InMemory, Streamed
from .config import TrainConfig
from .distributed import any_across, barrier, mean_across
from .early import MAX_STEPS, EarlyStop
from .state import TrainState, save_state, train_step


def run_loop(
    state: TrainState,
    batches: InMemory | Streamed,
    cfg: TrainConfig,
    run_dir: Path,
    run_config: RunConfig | dict,
    progress: bool = True,
    early: EarlyStop | None = None,
) -> TrainState:
    """Train until cfg.steps (total) or cfg.seconds (this call) is reached — or, without either,
    until `early` (the held-out loss) says stop — checkpointing every cfg.checkpoint_every steps
    (early: at each new best) and on SIGINT/SIGTERM (at the next log boundary; then raise
    Interrupted), so a stopped-and-resumed run equals an uninterrupted one. Ranks decide
    together."""
    clock, first = _Clock(time.perf_counter(), state.elapsed), state.step
    losses: list = []
    threads = torch.get_num_threads()  # the bar may drop to 1 under contention: restored after

    def save() -> None:
        if state.env.is_main:
            save_state(run_dir, state, run_config)

    bar = Progress(cfg, state.step, progress and state.env.is_main)
    with _stop_on_signals() as stop, contextlib.closing(batches):
        while not _should_stop(state, cfg, clock, stop, early):
            losses.append(train_step(state, batches, cfg))
            bar.tick(state.step, time.perf_counter() - clock.start)
            if state.step % cfg.log_every == 0:
                losses = _log(state, cfg, losses, run_dir, bar, clock)
                if early is None and state.step % cfg.checkpoint_every < cfg.log_every:
                    save()
            if early is not None and state.step % early.every == 0:
                early.stop = early.check(state.step, save)
    bar.close(state.step, time.perf_counter() - clock.start)
    torch.set_num_threads(threads)
    note = bar.shortfall(state.step - first, time.perf_counter() - clock.start, cfg.batch_size)
    if losses:  # the steps since the last log line
        _log(state, cfg, losses, run_dir, None, clock)
    state.elapsed = clock.elapsed()
    state.notes = [note] if note else []
    _finish(state, run_dir, early, save)
    if stop:
        raise Interrupted(
            f"interrupted by {stop[0]} at step {state.step}; checkpoint written to "
            f"{run_dir / CHECKPOINT}; continue with --resume"
        )
    return state


@dataclass
class _Clock:
    """When this call started, and the run's training time before it."""

    start: float
    before: float

    def elapsed(self) -> float:
        return self.before + time.perf_counter() - self.start


def _should_stop(state, cfg: TrainConfig, clock: _Clock, stop: list, early) -> bool:
    """The budget is met, the held-out loss says so, or a signal arrived (at a log boundary,
    where the history is complete, ≤ log_every steps later); every rank agrees."""
    halt = bool(stop) and state.step % cfg.log_every == 0
    halt = halt or (early is not None and getattr(early, "stop", False))
    return any_across(state.env, _done(state, cfg, time.perf_counter() - clock.start) or halt)


def _log(state, cfg: TrainConfig, losses: list, run_dir: Path, bar, clock: _Clock) -> list:
    """One history entry [step, mean loss] (NaN/Inf stops the run), the bar updated; returns
    the emptied list of step losses."""
    mean = _check_losses([mean_across(state.env, torch.stack(losses).mean())], state.step, run_dir)
    state.history.append([state.step, mean])
    state.elapsed = clock.elapsed()
    if bar is not None:
        now = time.perf_counter()
        rate = cfg.batch_size * len(losses) / max(now - bar.last_log, 1e-9)
        bar.last_log = now
        bar.log(state.step, now - clock.start, mean, rate)
    return []


def _finish(state, run_dir: Path, early, save) -> None:
    """The last checkpoint: the final state, or with a held-out loss the best one already
    saved (loss.json gets the whole history and the held-out curve)."""
    if early is None or not early.saved:
        save()
    elif state.env.is_main:
        write_json(run_dir / LOSS, {"step_loss": state.history, "held_out": early.curve})
    barrier(state.env)


class Progress:
    """The training bar: steps with an ETA under a step budget, seconds under a time budget; and one
    warning when throughput falls below a third of its best for three log intervals in a row
    (another process on the cores, or more threads than cores)."""

    def __init__(self, cfg: TrainConfig, step: int, enabled: bool):
        self.by_time = cfg.seconds is not None and cfg.steps is None
        # no budget (stopping by the held-out loss): a step count without a total
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
        self.last_log = time.perf_counter()

    def tick(self, step: int, seconds: float) -> None:
        """Every step: the bar moves (and redraws at most once a second) between log lines, so
        a slow step never looks like a hang."""
        self._advance(step, seconds)

    def log(self, step: int, seconds: float, loss: float, rate: float) -> None:
        self.bar.set_postfix(step=step, loss=f"{loss:.4f}", samples_s=f"{rate:,.0f}", refresh=False)
        self._advance(step, seconds)
        self.best = max(self.best, rate)
        self.slow = self.slow + 1 if rate < self.best / 3 else 0
        if self.slow >= 3 and not self.warned:
            self.warned = True
            threads = torch.get_num_threads()
            fewer = threads > 1 and "OMP_NUM_THREADS" not in os.environ
            if fewer:  # threads waiting on each other's cores cost far more than a fair share
                torch.set_num_threads(1)
            tqdm.write(
                f"warning: training slowed from {self.best:,.0f} to {rate:,.0f} samples/s; is "
                f"another process using the cores? (torch threads {threads}, cores "
                f"{free_cores()}"
                + ("; continuing on 1 thread" if fewer else "; OMP_NUM_THREADS sets the threads")
                + ")",
                file=sys.stderr,
            )

    def _advance(self, step: int, seconds: float) -> None:
        target = min(seconds, self.total) if self.by_time else step
        self.bar.update(target - self.bar.n)

    def close(self, step: int, seconds: float) -> None:
        """The bar ends at its total when the budget was met (a step budget of 10 ends at 10/10)."""
        self._advance(step, self.total if self.by_time and seconds >= self.total else seconds)
        self.bar.close()

    def shortfall(self, steps: int, seconds: float, batch_size: int) -> str | None:
        """Under a seconds budget: a line when the steps delivered fall below a third of what
        the best pace of this call would have given (another process on the cores), for the
        summary — not only inside the bar."""
        expected = self.best * seconds / batch_size
        if not self.by_time or steps >= expected / 3:
            return None
        return (
            f"note: only {steps} steps in {seconds:.0f} s, under a third of the {expected:,.0f} "
            f"this machine's best pace ({self.best:,.0f} samples/s) would give: another process "
            "was using the cores, and the model is younger than its budget promised"
        )


def free_cores() -> int:
    """The cores this process may run on (a container's or taskset's share, not the machine's)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


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
    if cfg.steps is None and cfg.seconds is None:  # stopping by the held-out loss: a cap
        return state.step >= MAX_STEPS
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
