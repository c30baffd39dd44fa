"""The listings: presets, datasets, samplers."""

from __future__ import annotations

import click

from .base import cli


@cli.command()
def presets():
    """List the training recipes."""
    from ..presets import PRESETS

    for name, p in PRESETS.items():
        click.echo(f"{name:15s} {p.summary}")


@cli.command()
def datasets():
    """List the built-in toy data sets."""
    from ..data import TOY_SETS

    for name, t in TOY_SETS.items():
        click.echo(f"{name:13s} {t.dim}-D  {t.summary}")


@cli.command()
def samplers():
    """List the samplers: order, network evaluations (NFE) per step, options (give them with
    --opt)."""
    from ..sampling import SAMPLERS

    for name, s in SAMPLERS.items():
        kind = "SDE" if s.stochastic else "ODE"
        opts = f"  options: {', '.join(s.options)}" if s.options else ""
        click.echo(
            f"{name:15s} {kind}  order {s.order}  NFE/step {s.nfe_per_step:22s} {s.summary}{opts}"
        )
