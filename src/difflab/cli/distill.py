"""distill: one- and few-step students of a trained diffusion run."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import Interrupted
from .base import Positive, _device, cli
from .base import _friendly as friendly
from .common import is_main, loss_figure


@cli.command()
@click.option(
    "--run",
    "teacher",
    required=True,
    type=click.Path(path_type=Path),
    help="The teacher: a trained diffusion run (any preset, vectors, tables or images).",
)
@click.option(
    "--method",
    default="consistency",
    show_default=True,
    type=click.Choice(["consistency", "reflow"]),
    help="consistency: consistency distillation from the teacher's Heun steps (Song et al. "
    "2023; a consistency model, 1–4 steps). reflow: rectified flow on pairs of the teacher's "
    "ODE (Liu et al. 2022; a denoiser with straight paths, 1–2 Euler steps).",
)
@click.option("--out", required=True, type=click.Path(path_type=Path), help="The student's run.")
@click.option(
    "--steps",
    type=Positive(),
    default=None,
    help="Training steps  [default: as many as the teacher trained]",
)
@click.option("--seconds", type=Positive(float), default=None, help="Training budget in seconds.")
@click.option(
    "--pairs",
    type=Positive(),
    default=None,
    help="reflow: starts and samples drawn from the teacher's ODE (35 NFE each)  [default: 10 "
    "per training row, 20,000 to 100,000; images: one per image]",
)
@click.option("--batch-size", default=512, show_default=True, type=Positive())
@click.option("--lr", default=1e-3, show_default=True, type=Positive(float))
@click.option("--seed", default=0, show_default=True)
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda or cuda:N.")
@click.option("--resume", is_flag=True, help="Continue an interrupted distillation.")
@click.option("--force", is_flag=True, help="Overwrite a run already in --out.")
@friendly
def distill(teacher, method, out, steps, seconds, pairs, batch_size, lr, seed, device, **flags):
    """Distil a trained diffusion run into a student that samples in 1–4 network evaluations
    (`difflab sample --run OUT` takes 1 step by default, `--steps 2|4` more). The student has
    the teacher's network, data, scaling and classes, and is a run like any other; a reflow
    student is a denoiser (every sampler, the likelihood, inpainting), a consistency student
    samples with the consistency sampler only."""
    from ..distillation import distill as run_distill
    from ..training import TrainConfig

    how = dict(steps=steps, seconds=seconds, batch_size=batch_size, lr=lr, seed=seed)
    cfg = TrainConfig(**how, device=_device(device))
    try:
        run_dir = run_distill(teacher, out, cfg, method, pairs=pairs, log=click.echo, **flags)
    except Interrupted:
        if is_main():
            loss_figure(out, f"{method} student of {teacher}")
        raise
    loss_figure(run_dir, f"{method} student of {teacher}")
    click.echo(f"student written to {run_dir}/; sample it with difflab sample --run {run_dir}")
