"""A trained run as a Python object: sampling, completion and log-likelihood in the data's units,
and evaluation.

    base.py       TrainedRun: the run directory, configuration, scaling; inpaint and log_prob
    evaluate.py   metrics against exact reference sets, tables, images
    diffusion.py  Run: a diffusion model's sampling, start of class chains, PF-ODE likelihood
    grids.py      tuned σ grids (RUN/grids.json) and the choice for an NFE budget
    exact.py      FlowRun: flows and autoregressive models, exact in everything
    condition.py  Condition: class, guidance or unconditional, and its refusals
    spec.py       SamplingSpec: sampler, steps and σ grid, with the defaults
"""

from __future__ import annotations

from pathlib import Path

from .base import TrainedRun, load_parts
from .condition import Condition
from .diffusion import Run
from .starts import PILOT, PILOT_STREAM
from .exact import FlowRun
from .grids import GRIDS
from .spec import SamplingSpec


def load_run(run_dir: str | Path, device: str = "cpu") -> Run | FlowRun:
    """The run in RUN_DIR: a diffusion Run or a FlowRun, by its configuration; the checkpoint is
    read once. A diffusers model's directory (a pipeline or a UNet folder saved by
    save_pretrained) is read as a diffusion Run too (difflab.external)."""
    from ..checkpoint import CHECKPOINT

    if not (Path(run_dir) / CHECKPOINT).exists():
        from ..external import is_diffusers_dir, load_external

        if is_diffusers_dir(run_dir):
            return load_external(run_dir, device)
    path, tensors, config = load_parts(run_dir)
    kind = FlowRun if config.model.is_flow else Run
    return kind.from_parts(path, tensors, config, device)


__all__ = [
    "GRIDS",
    "PILOT",
    "PILOT_STREAM",
    "Condition",
    "FlowRun",
    "Run",
    "SamplingSpec",
    "TrainedRun",
    "load_run",
]
