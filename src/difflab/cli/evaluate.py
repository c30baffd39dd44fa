"""evaluate and report: how good the samples are, as numbers and as a page."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import DifflabError
from .base import Positive, cli, format_metrics
from .base import _friendly as friendly
from .common import read_rows


@cli.command()
@click.option(
    "--run", "run_dir", required=True, type=click.Path(path_type=Path), help="Run directory."
)
@click.option(
    "--samples",
    required=True,
    type=click.Path(path_type=Path),
    help="Samples .npy/.csv (data units).",
)
@click.option(
    "--reference", default=None, help="Toy set name or data file (default: the run's data)."
)
@click.option(
    "--json",
    "json_out",
    type=click.Path(path_type=Path),
    help="Metrics JSON (default: SAMPLES.metrics.json).",
)
@click.option(
    "--class",
    "cls",
    default=None,
    metavar="K",
    help="Compare with class K's data only (labelled runs).",
)
@click.option(
    "--target",
    default=None,
    help="Tables: the column whose prediction measures ML efficacy  [default: the run's label "
    "column when the samples carry it, else the last categorical column, else the last numeric "
    "one]",
)
@friendly
def evaluate(run_dir, samples, reference, json_out, cls, target):
    """SW2, energy distance (and mode coverage for mixtures) with their noise floors."""
    from ..checkpoint import write_json

    from ..run import load_run

    run = load_run(run_dir)
    k = None if cls is None else run.config.data.class_index(cls)
    if run.is_image:  # images: an N×C×H×W .npy as `difflab sample` writes it
        from ..data.images import read_image_array

        x = read_image_array(samples, None, None).pixels
    else:
        x = read_rows(run, samples)
    if target is not None and not run.is_table:
        raise DifflabError("--target names a column of a table run")
    if run.is_table:
        result = run.evaluate_table(x, reference, k, target)
    else:
        result = run.evaluate(x, reference, cls=k)
    json_out = json_out or samples.with_suffix(".metrics.json")
    write_json(json_out, result)
    click.echo(format_metrics(result))
    click.echo(f"metrics → {json_out}")


@cli.command()
@click.argument("run_dir", required=False, type=click.Path(path_type=Path))
@click.option(
    "--run",
    "run_opt",
    type=click.Path(path_type=Path),
    help="Run directory (as in every other command; the same as RUN_DIR).",
)
@click.option(
    "--n", default=5000, show_default=True, type=Positive(), help="Samples drawn for the page."
)
@click.option("--seed", default=0, show_default=True)
@friendly
def report(run_dir, run_opt, n, seed):
    """Write RUN_DIR/report/index.html: configuration, loss curve, samples vs data, metrics (offline
    page)."""
    from ..report import build_report

    if run_dir is None and run_opt is None:
        raise click.UsageError("missing the run directory: RUN_DIR or --run")
    if run_dir is not None and run_opt is not None and run_dir != run_opt:
        raise click.UsageError("two run directories: give RUN_DIR or --run, once")
    run_dir = run_dir or run_opt

    build_report(run_dir, n=n, seed=seed, log=click.echo)
