"""likelihood, compare and neural-ode: the other half of the seeds on the command line."""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from ..errors import DifflabError
from .base import Positive, _check_output, _device, _friendly, _positive, cli


def _test_images(
    run, data: str, n: int, bin_width: float | None
) -> tuple[np.ndarray, float | None]:
    """The first n images of the held-out test split of `data`, in the run's pixel units (a model
    from elsewhere reads 0–255 whatever the set's own range: the set's levels are mapped through
    [-1, 1]); integer levels are dequantised with bins of one level of the set (uniform noise)
    unless --dequantise says otherwise."""
    from ..data.images import load_images, rescale

    images = load_images(data, split="test", image_size=run.shape[-1])
    own, theirs = run.standardiser, images.scaler
    if bin_width is None and own.integer:
        bin_width = 1.0
    ratio = (own.hi - own.lo) / (theirs.hi - theirs.lo)  # one level of the set, in the run's units
    return rescale(images.pixels[:n], theirs, own), bin_width and bin_width * ratio


@cli.command()
@click.option(
    "--run",
    "run_dir",
    required=True,
    type=click.Path(path_type=Path),
    help="Run directory (diffusion or flow), or a diffusers model directory (difflab.external).",
)
@click.option(
    "--data",
    required=True,
    help="Toy set name (fresh held-out points) or a .npy/.npz/.csv file; for an image run its "
    "image set (the held-out test split, integer levels dequantised in bins of 1).",
)
@click.option(
    "--n",
    default=2000,
    show_default=True,
    type=Positive(limit=10_000_000, why="the standard error is already tiny; evaluate a subset"),
    help="Points to evaluate (a random subset of a file).",
)
@click.option(
    "--method",
    default="dopri5",
    show_default=True,
    type=click.Choice(["dopri5", "rk4", "heun", "euler", "vlb"]),
    help="PF-ODE integrator (diffusion runs); vlb: instead VDM's variational lower bound of the "
    "reverse-SDE model (--steps draws per point), beside which the PF-ODE value is exact.",
)
@click.option(
    "--steps",
    default=64,
    show_default=True,
    type=Positive(limit=100_000, why="use --method dopri5 for tight tolerances"),
    help="Steps of a fixed-step method (uniform in log σ).",
)
@click.option(
    "--rtol",
    default=1e-5,
    show_default=True,
    type=Positive(float),
    help="dopri5 tolerance (atol the same).",
)
@click.option(
    "--hutchinson",
    default=0,
    show_default=True,
    help="0: exact divergence (one backward pass per dimension); K > 0: Hutchinson with K probes.",
)
@click.option(
    "--sigma-max",
    default=80.0,
    show_default=True,
    type=Positive(float),
    help="Where the PF-ODE meets the Gaussian prior.",
)
@click.option(
    "--dequantise",
    "bin_width",
    type=Positive(float),
    default=None,
    help="Data quantised in bins of this width (data units, e.g. 1 for 0–255 pixels): add U[0, w) "
    "noise and report the discrete model's bits/dim. Tables need none: their integer columns are "
    "always dequantised by their own bins (U[-1/2, 1/2)), real-valued ones never.",
)
@click.option(
    "--seed", default=0, show_default=True, help="Seed of probes and dequantisation noise."
)
@click.option("--device", default="cpu", show_default=True)
@click.option(
    "--json", "json_out", type=click.Path(path_type=Path), help="Also write the numbers as JSON."
)
@_friendly
def likelihood(
    run_dir, data, n, method, steps, rtol, hutchinson, sigma_max, bin_width, seed, device, json_out
):
    """Mean negative log-likelihood of data under a trained run, in nats and bits/dim, with standard
    errors.

    Diffusion runs integrate the probability-flow ODE with the divergence (instantaneous change of
    variables); flow runs are exact. For Gaussian-mixture toy sets the true density's NLL is shown
    too."""
    from ..checkpoint import write_json

    from ..compare import log_probs, nll_summary, true_log_prob, true_nll
    from ..run import FlowRun, load_run

    if hutchinson < 0:
        raise DifflabError(
            f"--hutchinson must be 0 (exact) or a positive number of probes, got {hutchinson}"
        )
    run = load_run(run_dir, _device(device))
    exact = isinstance(run, FlowRun)
    if exact and method == "vlb":
        raise DifflabError(
            f"--method vlb bounds a diffusion model's likelihood; {run_dir} is a {run.name} "
            "model, whose likelihood is exact already"
        )
    x, bin_width, dequantised = _points(run, data, n, bin_width, seed)
    how = dict(method=method, steps=steps, rtol=rtol, atol=rtol, hutchinson=hutchinson)
    how.update(sigma_max=sigma_max, seed=seed, **({} if exact else {"progress": True}))
    lp, info = log_probs(run, x, **how)  # a minute on images: a bar
    true_lp = None if bin_width else true_log_prob(data, x)
    result = {
        "run": str(run_dir),
        "data": data,
        **nll_summary(lp, run.dim, true_lp, bin_width),
        "dequantised_bin_width": bin_width,
        "dequantised_columns": dequantised,
        "nfe": info["nfe"],
        "method": (f"exact ({run.config.model.kind})" if exact else _method_name(method, steps)),
        "bound": info.get("bound"),
        "true": None if bin_width else true_nll(data, x),
    }
    click.echo(f"{run.name} on {len(x)} points of {data} ({result['method']}, NFE {info['nfe']}):")
    if info.get("bound"):
        click.echo(f"  the bound spans {info['bound']}")
    elif info.get("sigma_max", sigma_max) < sigma_max:
        click.echo(
            f"  the PF-ODE starts at σ {info['sigma_max']:g}, the highest this recipe trained at"
        )
    click.echo(_nll_lines(result, bin_width, dequantised))
    if json_out:
        write_json(json_out, result)


def _method_name(method: str, steps: int) -> str:
    if method == "vlb":
        return f"vlb: a lower bound on log p of the reverse-SDE model, {steps} draws per point"
    return method


def _points(run, data: str, n: int, bin_width: float | None, seed: int) -> tuple:
    """(points in data units, bin width, a table's dequantised columns): an image run's held-out
    test split, a table's rows or a vector set's held-out points, dequantised where asked."""

    from ..compare import held_out

    dequantised = None  # a table's integer columns
    if run.is_table and bin_width:
        raise DifflabError(
            "--dequantise: a table's integer columns are dequantised by their own bins and its "
            "real-valued columns are densities; give no bin width"
        )
    if run.is_image:  # images: the held-out test split, dequantised by integer levels
        x, bin_width = _test_images(run, data, n, bin_width)
    elif run.is_table:
        rng = np.random.default_rng(seed)
        x, dequantised = run.standardiser.dequantise(_table_rows(run, data, n), rng)
    else:
        x = held_out(data, n)
    if not run.is_table and x.shape[1:] != run.shape:
        raise DifflabError(f"{data}: {x.shape[1]} columns, the model was trained on {run.dim}")
    if bin_width:
        x = x + np.random.default_rng(seed).uniform(0, bin_width, size=x.shape)
    return x, bin_width, dequantised


def _nll_lines(result: dict, bin_width, dequantised) -> str:
    """NLL in nats and bits/dim with standard errors, and the true density's when known."""
    lines = [
        f"  NLL {result['nll']:.4f} ± {result['nll_se']:.4f} nats   "
        f"{result['bits_per_dim']:.4f} ± {result['bits_per_dim_se']:.4f} bits/dim"
        + (" (dequantised)" if bin_width else "")
    ]
    if dequantised is not None:
        columns = ", ".join(dequantised) or "none"
        lines.append(f"  integer columns dequantised by U[-1/2, 1/2): {columns}")
    if result["true"]:
        t = result["true"]
        lines.append(
            f"  true density: NLL {t['nll']:.4f} ± {t['nll_se']:.4f} nats; "
            f"gap (paired) {result['gap_to_true']:.4f} ± {result['gap_to_true_se']:.4f}"
        )
    return "\n".join(lines)


def _table_rows(run, data: str, n: int):
    """A table run's rows: its held-out rows when --data is its training file, else the file's."""
    from ..data.reference import read_table_reference
    from ..data.tables import read_table

    if Path(data).resolve() == Path(run.config.data.spec):
        test = read_table_reference(run.path)[1]
        if test is not None:
            return test.iloc[:n]
    table = read_table(data)
    return table.iloc[np.random.default_rng(20_000).permutation(len(table))[:n]]


@cli.command()
@click.option(
    "--data",
    required=True,
    help="Toy set name or data file (2-D or more: flows need ≥ 2 dimensions).",
)
@click.option("--seconds", default=60.0, show_default=True, help="Training time of each model.")
@click.option("--preset", default="edm", show_default=True, help="The diffusion recipe.")
@click.option(
    "--flow", default="realnvp", show_default=True, type=click.Choice(["realnvp", "nice"])
)
@click.option(
    "--autoregressive",
    default="made",
    show_default=True,
    type=click.Choice(["made", "wavenet", "none"]),
    help="The autoregressive model (wavenet: rows as sequences); none leaves it out.",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    help="Directory for the runs [default: runs/compare-DATA].",
)
@click.option(
    "--vdm/--no-vdm",
    default=True,
    show_default=True,
    help="Also train the vdm preset (VDM: trained for likelihood, its schedule learned).",
)
@click.option("--n-eval", default=2000, show_default=True, help="Held-out points for the NLL.")
@click.option("--seed", default=0, show_default=True)
@click.option("--force", is_flag=True, help="Overwrite runs in --out.")
@_friendly
def compare(data, seconds, preset, flow, autoregressive, vdm, out, n_eval, seed, force):
    """Train a diffusion preset, the vdm recipe, a flow and an autoregressive model on the same data
    for the same time; print NLL, bits/dim, SW2 ÷ floor, training and sampling speed side by
    side, and each diffusion model's variational bound beside its exact PF-ODE value."""

    from ..compare import compare_models, format_report
    from ..data import load_data
    from ..presets import get_preset

    _positive("--seconds", seconds)
    _positive("--n-eval", n_eval)
    get_preset(preset)
    out = out or Path("runs") / f"compare-{Path(data).stem}"
    _check_output(out / "compare.json", force)
    if load_data(data, n=10).shape[1] < 2:
        raise DifflabError(f"{data}: flows need data of dimension ≥ 2")
    report = compare_models(
        data,
        out,
        seconds,
        preset,
        flow,
        n_eval=n_eval,
        seed=seed,
        log=click.echo,
        autoregressive=None if autoregressive == "none" else autoregressive,
        vdm=vdm,
    )
    click.echo(format_report(report))
    click.echo(f"→ {out}/compare.json, {out}/samples.png")


@cli.command("neural-ode")
@click.option(
    "--system",
    default="damped-oscillator",
    show_default=True,
    help="damped-oscillator (linear) or lotka-volterra (nonlinear): data made by RK4 on the true "
    "field.",
)
@click.option(
    "--scheme",
    default="rk4",
    show_default=True,
    type=click.Choice(["euler", "midpoint", "heun", "rk4"]),
    help="Solver unrolled in training, from h(t₁) to h(t₂).",
)
@click.option("--steps", default=2000, show_default=True, help="Optimiser steps.")
@click.option(
    "--max-gap", default=1, show_default=True, help="t₂ - t₁ up to this many observation intervals."
)
@click.option("--trajectories", default=128, show_default=True, help="Training trajectories.")
@click.option("--points", default=41, show_default=True, help="Observations per trajectory.")
@click.option("--width", default=64, show_default=True)
@click.option("--lr", default=3e-3, show_default=True)
@click.option("--seed", default=0, show_default=True)
@click.option(
    "--out", default="runs/neural-ode", show_default=True, type=click.Path(path_type=Path)
)
@_friendly
def neural_ode(system, scheme, steps, max_gap, trajectories, points, width, lr, seed, out):
    """Learn dh/dt = f_θ(h) from trajectories of a known ODE (the lecture notes' neural-ODE
    example), then integrate it with every solver and step size."""

    from ..neural_ode import NODETrainConfig, get_system, run_example

    for name, v in [
        ("--steps", steps),
        ("--max-gap", max_gap),
        ("--trajectories", trajectories),
        ("--width", width),
        ("--lr", lr),
    ]:
        _positive(name, v)
    if points < max_gap + 2:
        raise DifflabError(f"--points must be at least --max-gap + 2 = {max_gap + 2}, got {points}")
    get_system(system)
    cfg = NODETrainConfig(steps=steps, lr=lr, scheme=scheme, max_gap=max_gap, seed=seed)
    run_example(
        system, out, cfg, trajectories=trajectories, points=points, width=width, log=click.echo
    )
    click.echo(f"→ {out}/results.json, trajectories.png, loss.png, field.safetensors")


@cli.command()
@click.argument("name", required=False)
@click.option("--list", "list_", is_flag=True, help="List the experiments.")
@click.option(
    "--out",
    default="runs/reproduce",
    show_default=True,
    type=click.Path(path_type=Path),
    help="Figures and numbers go to OUT/NAME/.",
)
@click.option(
    "--quick", is_flag=True, help="The CI budget: under 2 minutes on 2 CPU cores (full: under 20)."
)
@click.option("--seed", default=0, show_default=True)
@_friendly
def reproduce(name, list_, out, quick, seed):
    """Regenerate a figure of the lecture notes' and blog posts' numerical experiments and a JSON of
    its numbers (NAME or 'all')."""

    from ..reproduce import EXPERIMENTS, get_experiment, reproduce as run_experiment

    if list_ or name is None:
        for e in EXPERIMENTS.values():
            click.echo(f"{e.name:12s} {e.summary}")
        if name is None and not list_:
            raise DifflabError("give an experiment NAME (or 'all'); the list is above")
        return
    names = list(EXPERIMENTS) if name == "all" else [get_experiment(name).name]
    for n in names:
        click.echo(f"{n} ({'quick' if quick else 'full'}) → {out / n}/")
        numbers = run_experiment(n, out, quick=quick, seed=seed, log=click.echo)
        click.echo(f"  done in {numbers['seconds']:.0f} s; numbers in {out / n / 'numbers.json'}")
