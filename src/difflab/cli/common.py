"""What several commands share: the condition options, reading rows for a run, output checks."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import click

from ..errors import DifflabError
from .base import Finite


run_option = click.option(
    "--run",
    "run_dir",
    required=True,
    type=click.Path(path_type=Path),
    help="Run directory, or a diffusers model saved with save_pretrained (a pipeline, or a UNet "
    "folder with its scheduler_config.json): read as a run (difflab.external).",
)


def condition_options(fn):
    """--class, --guidance and --unconditional: the decision a model trained with labels needs,
    given to the command as one `condition` (run.Condition, which holds the refusals)."""
    options = [
        click.option(
            "--class",
            "cls",
            default=None,
            metavar="K",
            help="Model trained with --labels: the class (its name or index).",
        ),
        click.option(
            "--guidance",
            default=1.0,
            show_default=True,
            type=Finite(),
            metavar="W",
            help="Classifier-free guidance D(∅) + W·(D(K) - D(∅)) with --class: 0 unconditional, "
            "1 conditional, >1 guided (2 NFE per evaluation unless W = 1).",
        ),
        click.option(
            "--unconditional",
            is_flag=True,
            help="Model trained with --labels: use p(x), ignoring classes.",
        ),
    ]

    @functools.wraps(fn)
    def with_condition(*args, cls, guidance, unconditional, **kwargs):
        from ..run.condition import Condition

        return fn(*args, condition=Condition(cls, guidance, unconditional), **kwargs)

    for option in reversed(options):
        with_condition = option(with_condition)
    return with_condition


def check_suffix(out: Path, run) -> None:
    """Outputs: .npy/.csv; tables also .tsv/.parquet (with the header)."""

    allowed = (".npy", ".csv", ".tsv", ".parquet") if run.is_table else (".npy", ".csv")
    if out.suffix.lower() not in allowed:
        raise DifflabError(f"{out}: output must end in {', '.join(allowed[:-1])} or {allowed[-1]}")


def read_rows(run, path: Path, key: str | None = None, missing: bool = False):
    """Rows for a trained run: a table for a table run (its columns by name), else an array."""
    from ..data import load_array

    if run.is_table:
        from ..data.tables import read_table

        return read_table(path)
    return load_array(path, key=key, missing=missing)


def samples_exactly(run_dir, run, what: str) -> DifflabError:
    """The refusal of sampler settings for a flow or autoregressive run."""

    return DifflabError(
        f"{run_dir} is a {run.name} {run.config.model.kind} model: it samples exactly, without "
        f"{what}"
    )


def names(text: str | None) -> list[str] | None:
    """'a, b,c' → ['a', 'b', 'c']; None for nothing."""
    return [c.strip() for c in text.split(",") if c.strip()] if text else None


def loss_figure(run_dir: Path, title: str) -> None:
    """RUN/loss.png from RUN/loss.json, when there is a history."""
    from .. import plots
    from ..checkpoint import read_history

    history = read_history(run_dir)
    if history:
        plots.loss_curve(history, Path(run_dir) / "loss.png", title=title)


def is_main() -> bool:
    """Rank 0 under torchrun, or a single process: the one that writes files and figures."""
    return int(os.environ.get("RANK", "0")) == 0
