"""sample and tune-grid."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import click
import numpy as np

from ..errors import DifflabError, DifflabWarning
from .base import Finite, Positive, _check_output, _device, _parse_options, cli
from .base import _friendly as friendly
from .common import check_suffix, condition_options, run_option, samples_exactly


@cli.command()
@run_option
@click.option(
    "--n",
    default=5000,
    show_default=True,
    type=Positive(limit=100_000_000, why="sample in several runs with different --seed"),
    help="Number of samples.",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(path_type=Path),
    help="Output .npy or .csv (data units).",
)
@click.option("--sampler", default=None, help="Sampler (see `difflab samplers`)  [default: heun]")
@click.option(
    "--steps",
    type=Positive(
        limit=100_000, why="no sampler gains anything from more (the σ grid is already continuous)"
    ),
    default=None,
    help="Steps N of the σ grid (Heun: 2N-1 NFE)  [default: 18]",
)
@click.option("--seed", default=0, show_default=True, help="Sample i depends only on (seed, i).")
@click.option(
    "--sigma-min",
    type=Positive(float),
    help="Smallest nonzero σ of the grid (default: the preset's).",
)
@click.option(
    "--sigma-max",
    type=Positive(float),
    help="Largest σ (default: the preset's, from the data for edm/ve).",
)
@click.option("--rho", type=Positive(float), default=None, help="EDM ρ of the σ grid  [default: 7]")
@click.option(
    "--schedule",
    default=None,
    help="σ grid: karras (EDM ρ), time-uniform (the preset's t), vp-time (uniform in VP's t, "
    "for few steps), log-snr, iddpm, flow-uniform (rectified flow's t down to 0: a reflow "
    "student's)  [default: karras; the recipe's own for consistency and reflow runs]",
)
@click.option(
    "--opt",
    "opts",
    multiple=True,
    metavar="KEY=VALUE",
    help="Sampler option, repeatable: eta=1, s_churn=40, rtol=1e-4, snr=0.16, predictor=ddpm …",
)
@click.option(
    "--nfe",
    type=click.IntRange(2, 1000),
    default=None,
    help="A budget of network evaluations instead of --sampler/--steps/--schedule: the run's best "
    "tuned grid at that budget; a vector run without one tunes unipc and ipndm grids first (~1 s "
    "each, stored in the run); images and --no-tune: unipc on the vp-time grid.",
)
@click.option(
    "--tune/--no-tune",
    default=True,
    show_default=True,
    help="With --nfe: tune a grid when the run has none at that budget.",
)
@click.option(
    "--own-time",
    is_flag=True,
    help="Integrate ODE/SDE in the preset's own (σ(t), s(t)) instead of EDM's σ = t, s = 1.",
)
@condition_options
@click.option(
    "--grid",
    type=click.Path(path_type=Path),
    default=None,
    help="Images: also write the first 64 as one PNG grid here (default OUT.png).",
)
@click.option("--device", default="cpu", show_default=True)
@click.option("--force", is_flag=True, help="Overwrite --out if it exists.")
@click.option(
    "--plot/--no-plot", default=True, show_default=True, help="Also write OUT.png: data vs samples."
)
@friendly
def sample(
    run_dir,
    n,
    out,
    sampler,
    steps,
    seed,
    sigma_min,
    sigma_max,
    rho,
    schedule,
    opts,
    nfe,
    tune,
    own_time,
    condition,
    grid,
    device,
    force,
    plot,
):
    """Sample from a trained run with any sampler (see `difflab samplers`), in the data's original
    units. A flow or autoregressive run samples exactly (x = f⁻¹(z)) and takes none of the sampler
    options. A run trained with --labels needs --class K (optionally --guidance W, diffusion only)
    or --unconditional."""
    from ..data import save_array

    from ..run import FlowRun, SamplingSpec, load_run

    given = dict(sampler=sampler, steps=steps, schedule=schedule, rho=rho, sigma_min=sigma_min)
    given.update(sigma_max=sigma_max, own_time=own_time or None, **_parse_options(opts))
    SamplingSpec.of(**given)  # an unknown sampler is refused before the run is loaded
    run = load_run(run_dir, _device(device))
    check_suffix(out, run)
    _check_output(out, force)
    if nfe is not None:
        given.update(_for_nfe(run, run_dir, nfe, tune, given, condition))
    if run.is_image and out.suffix.lower() == ".csv":
        raise DifflabError(f"{out}: images of shape {run.shape} are saved as .npy (N×C×H×W)")
    _check_grid(run, grid, force)
    stats: dict = {}
    bar = sys.stderr.isatty()  # a bar of NFE in a terminal; none in logs and pipes
    x = run.sample(n, seed=seed, stats=stats, progress=bar, **condition.kwargs(), **given)
    if isinstance(run, FlowRun):
        what = f"exact samples, {run.name}"
    else:
        what = _described(stats, _parse_options(opts)) + condition.describe()
    _say_non_finite(x)
    save_array(out, x)
    click.echo(f"{n} samples → {out} ({what})")
    title = f"{run.name}: {what.split(',')[0]}{condition.describe()}"  # the grid says the class
    _figures(run, x, out, grid, plot, title, condition.cond)


def _say_non_finite(x) -> None:
    """A warning when samples are NaN or infinite (the model or sampler diverged): such a file
    is never written without saying so."""

    values = x.select_dtypes("number").to_numpy() if hasattr(x, "select_dtypes") else x
    bad = int((~np.isfinite(np.asarray(values, dtype=np.float64))).reshape(len(x), -1).any(1).sum())
    if bad:
        warnings.warn(
            f"{bad} of {len(x)} samples are not finite (NaN or inf): the model or the sampler "
            "diverged; try more --steps, another --sampler, or a longer-trained run",
            DifflabWarning,
            stacklevel=2,
        )


def _for_nfe(run, run_dir, nfe: int, tune: bool, given: dict, condition) -> dict:
    """--nfe: the sampler, steps and grid the run chooses for that budget (tuning if need be)."""

    from ..run import FlowRun

    if given["sampler"] or given["steps"] or given["schedule"]:
        raise DifflabError("--nfe chooses sampler, steps and grid; give it alone")
    if isinstance(run, FlowRun):
        raise samples_exactly(run_dir, run, "NFE")
    run.conditioned(**condition.kwargs())  # refuse before any tuning
    log = lambda m: click.echo(m, err=True)  # noqa: E731
    return run.for_nfe(nfe, tune=tune, log=log, **condition.kwargs())


def _check_grid(run, grid: Path | None, force: bool) -> None:
    """--grid: a .png, for an image run."""

    if grid is None:
        return
    if not run.is_image:
        raise DifflabError("--grid draws images; this run models vectors (see OUT.png)")
    if grid.suffix.lower() != ".png":
        raise DifflabError(f"{grid}: --grid must end in .png")
    _check_output(grid, force)


def _described(stats: dict, options: dict) -> str:
    """The sampler, grid, NFE and σ range that `sample` reports, as the run used them."""
    extra = "".join(f", {k}={v}" for k, v in options.items())
    what = (
        f"{stats['sampler']}{extra}, {stats['steps']} steps on the {stats['grid']} grid, "
        f"NFE {stats['nfe']}, σ {stats['sigma_max']:.3g} → {stats['sigma_min']:.3g} → 0"
    )
    if stats.get("pilot_nfe"):
        what += f", start measured by a pilot of {stats['pilot_nfe']} NFE"
    return what


def _figures(run, x, out: Path, grid: Path | None, plot: bool, title: str, cls) -> None:
    """Images: a grid of the first 64; tables: columns of data vs samples; vectors: a scatter."""
    from .. import plots

    if run.is_image and (plot or grid):
        grid = grid or out.with_suffix(".png")
        scale = run.standardiser
        plots.image_grid(x[:64], grid, title, scale.lo, scale.hi)
        click.echo(f"grid of {min(len(x), 64)} → {grid}")
    elif plot and run.is_table:
        from ..data.reference import read_table_reference

        real = read_table_reference(run.path)[0]
        plots.table_columns(real, x, run.standardiser, out.with_suffix(".png"), run.name)
        click.echo(f"columns, data vs samples → {out.with_suffix('.png')}")
    elif plot:
        k = None if cls is None else run.config.data.class_index(cls)
        ref = run.reference_sets(min(len(x), 5000), k=2, cls=k)[0]
        plots.data_vs_samples(ref, x[:5000], out.with_suffix(".png"), title=title)


@cli.command("tune-grid")
@run_option
@click.option(
    "--nfe", required=True, type=click.IntRange(2, 100), help="Network evaluations to tune for."
)
@click.option("--sampler", default="unipc", show_default=True, help="The solver the grid is for.")
@click.option(
    "--n",
    default=512,
    show_default=True,
    type=click.IntRange(16, 100_000),
    help="Noise draws to tune on (and as many fresh ones to check on).",
)
@click.option("--seed", default=0, show_default=True)
@click.option(
    "--class",
    "cls",
    default=None,
    help="A labelled run: tune on the class-conditional model D(·, c) of this class (name or "
    "index) that `sample --class` uses; without it, on the unconditional D(·, ∅).",
)
@click.option(
    "--guidance",
    default=1.0,
    show_default=True,
    type=Finite(min=0),
    help="With --class: tune on the guided D_w that `sample --guidance W` uses.",
)
@friendly
def tune_grid(run_dir, nfe, sampler, n, seed, cls, guidance):
    """Find the σ grid for --sampler at --nfe evaluations that lands closest to the exact PF-ODE
    solution of this run's own model (Nelder–Mead from the Karras grid, against a 256-step Heun
    solution); stored in RUN/grids.json and used by `difflab sample --schedule tuned` (for a
    labelled run, by samples of the same --class and --guidance)."""

    from ..run import Run, load_run

    run = load_run(run_dir)
    if not isinstance(run, Run):
        raise samples_exactly(run_dir, run, "a grid")
    if guidance != 1.0 and cls is None:
        raise DifflabError("--guidance needs --class (the guided model of that class)")
    r = run.tune_grid(
        nfe, sampler, n=n, seed=seed, cond=cls, guidance=guidance, unconditional=cls is None
    )
    steps = len(r["sigmas"]) - 1
    on = f", tuned on the {r['condition']} model" if run.classes else ""
    click.echo(
        f"{sampler} at {nfe} NFE ({steps} steps{on}): RMS distance to the exact ODE on {n} fresh "
        f"draws {r['karras']:.4g} (Karras grid) → {r['tuned']:.4g} (tuned) in "
        f"{r['seconds']:.1f} s"
    )
    click.echo("σ: " + ", ".join(f"{s:.4g}" for s in r["sigmas"]))
    given = (
        "" if cls is None else f" --class {cls}" + (f" --guidance {guidance:g}" * (guidance != 1))
    )
    click.echo(
        f"→ {run_dir}/grids.json; use: difflab sample --run {run_dir} --sampler {sampler} "
        f"--steps {steps} --schedule tuned{given or (' --unconditional' if run.classes else '')} …"
    )
