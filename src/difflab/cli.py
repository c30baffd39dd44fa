"""The command line: parse → preset → library call → files. Nothing imports this module."""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

import click
import torch

from .checkpoint import write_json
from .data import TOY_SETS, load_array, load_data, save_array
from .errors import DifflabError
from .presets import PRESETS, get_preset
from .sampling import SAMPLERS, get_sampler


def _friendly(fn):
    """Turn DifflabError (and a few OS errors) into one line on stderr and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except DifflabError as e:
            click.echo(f"error: {e}", err=True)
            sys.exit(2)
        except PermissionError as e:
            click.echo(f"error: {e.filename}: permission denied", err=True)
            sys.exit(2)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)

    return wrapper


def _device(name: str) -> str:
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise DifflabError(f"--device {name}: CUDA is not available on this machine")
    return name


def _positive(name: str, value: float | None) -> None:
    if value is not None and value <= 0:
        raise DifflabError(f"{name} must be positive, got {value}")


def _check_output(path: Path, force: bool) -> None:
    if path.exists() and not force:
        raise DifflabError(f"{path} exists; use --force to overwrite it")


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="difflab")
def cli() -> None:
    """difflab: train, sample and evaluate diffusion models of every recipe in one design space.

    \b
    Quick start:
      difflab demo
      difflab train --data moons --preset edm --out runs/moons --seconds 60
      difflab sample --run runs/moons --n 5000 --out runs/moons/samples.npy
      difflab evaluate --run runs/moons --samples runs/moons/samples.npy
    """


@cli.command()
@click.option("--data", required=True, help="A toy set name (see `difflab datasets`) or an N×D .npy/.npz/.csv file.")
@click.option("--preset", default="edm", show_default=True, help="Recipe (see `difflab presets`).")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Run directory to write.")
@click.option("--steps", type=int, help="Train until this many optimiser steps in total.")
@click.option("--seconds", type=float, help="Train for this many seconds (of this invocation).")
@click.option("--seed", default=0, show_default=True, help="Seed of initialisation, batches and noise.")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda or cuda:N.")
@click.option("--batch-size", default=512, show_default=True)
@click.option("--lr", default=1e-3, show_default=True, help="AdamW learning rate after warm-up.")
@click.option("--width", default=128, show_default=True, help="MLP width.")
@click.option("--depth", default=4, show_default=True, help="Residual blocks of the MLP.")
@click.option("--n-toy", default=50_000, show_default=True, help="Training points drawn from a toy set.")
@click.option("--key", default=None, help="Array name inside a .npz file with several arrays.")
@click.option("--no-standardise", is_flag=True, help="Train on the raw data (σ_data from its std).")
@click.option("--checkpoint-every", default=1000, show_default=True, help="Steps between checkpoints.")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its checkpoint.")
@click.option("--force", is_flag=True, help="Overwrite an existing run in --out.")
@_friendly
def train(data, preset, out, steps, seconds, seed, device, batch_size, lr, width, depth, n_toy, key,
          no_standardise, checkpoint_every, resume, force):
    """Train a diffusion model; writes config.json, checkpoint.safetensors, loss.json, loss.png."""
    from . import plots
    from .training import ModelConfig, TrainConfig, train as train_run

    if steps is None and seconds is None:
        raise DifflabError("give a budget: --steps N or --seconds S")
    for name, v in [("--steps", steps), ("--seconds", seconds), ("--batch-size", batch_size), ("--lr", lr),
                    ("--width", width), ("--depth", depth), ("--n-toy", n_toy), ("--checkpoint-every", checkpoint_every)]:
        _positive(name, v)
    get_preset(preset)
    arr = load_data(data, n=n_toy, seed=seed, key=key)
    cfg = TrainConfig(steps=steps, seconds=seconds, batch_size=batch_size, lr=lr, seed=seed,
                      device=_device(device), checkpoint_every=checkpoint_every)
    run_dir = train_run(arr, preset, out, cfg, ModelConfig(width=width, depth=depth), data_spec=data,
                        standardise=not no_standardise, resume=resume, force=force, log=click.echo)
    history = json.loads((run_dir / "loss.json").read_text())["step_loss"]
    plots.loss_curve(history, run_dir / "loss.png", title=f"{preset} on {data}")
    click.echo(f"run written to {run_dir}/ (checkpoint.safetensors, config.json, loss.png)")


@cli.command()
@click.option("--run", "run_dir", required=True, type=click.Path(path_type=Path), help="Run directory.")
@click.option("--n", default=5000, show_default=True, help="Number of samples.")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Output .npy or .csv (data units).")
@click.option("--sampler", default="heun", show_default=True, help="Sampler (see `difflab samplers`).")
@click.option("--steps", default=18, show_default=True, help="Steps N of the σ grid (Heun: 2N-1 NFE).")
@click.option("--seed", default=0, show_default=True, help="Sample i depends only on (seed, i).")
@click.option("--sigma-min", type=float, help="Smallest nonzero σ of the grid (default: the preset's).")
@click.option("--sigma-max", type=float, help="Largest σ (default: the preset's, from the data for edm/ve).")
@click.option("--rho", default=7.0, show_default=True, help="EDM ρ of the σ grid.")
@click.option("--schedule", default="karras", show_default=True,
              help="σ grid: karras (EDM ρ), time-uniform (the preset's t), log-snr, iddpm.")
@click.option("--opt", "opts", multiple=True, metavar="KEY=VALUE",
              help="Sampler option, repeatable: eta=1, s_churn=40, rtol=1e-4, snr=0.16, predictor=ddpm …")
@click.option("--own-time", is_flag=True,
              help="Integrate ODE/SDE in the preset's own (σ(t), s(t)) instead of EDM's σ = t, s = 1.")
@click.option("--device", default="cpu", show_default=True)
@click.option("--force", is_flag=True, help="Overwrite --out if it exists.")
@click.option("--plot/--no-plot", default=True, show_default=True, help="Also write OUT.png: data vs samples.")
@_friendly
def sample(run_dir, n, out, sampler, steps, seed, sigma_min, sigma_max, rho, schedule, opts, own_time, device, force, plot):
    """Sample from a trained run with any sampler (see `difflab samplers`), in the data's original units."""
    from .run import load_run

    for name, v in [("--n", n), ("--steps", steps), ("--sigma-min", sigma_min), ("--sigma-max", sigma_max), ("--rho", rho)]:
        _positive(name, v)
    get_sampler(sampler)
    options = _parse_options(opts)
    if out.suffix.lower() not in (".npy", ".csv"):
        raise DifflabError(f"{out}: output must end in .npy or .csv")
    _check_output(out, force)
    run = load_run(run_dir, _device(device))
    stats: dict = {}
    x = run.sample(n, sampler=sampler, steps=steps, seed=seed, sigma_min=sigma_min, sigma_max=sigma_max,
                   rho=rho, schedule=schedule, stats=stats, own_time=own_time, **options)
    save_array(out, x)
    click.echo(f"{n} samples → {out} ({sampler}, {steps} steps, NFE {stats['nfe']}, "
               f"σ {stats['sigma_max']:.3g} → {stats['sigma_min']:.3g} → 0)")
    if plot:
        from . import plots

        ref = run.reference_sets(min(n, 5000), k=2)[0]
        plots.data_vs_samples(ref, x[:5000], out.with_suffix(".png"), title=f"{run.preset.name}: {sampler}, NFE {stats['nfe']}")


def _parse_options(opts: tuple[str, ...]) -> dict:
    """KEY=VALUE pairs; values become int, float or stay strings."""
    options = {}
    for item in opts:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise DifflabError(f"--opt {item!r}: expected KEY=VALUE")
        for cast in (int, float):
            try:
                options[key] = cast(value)
                break
            except ValueError:
                continue
        else:
            options[key] = value
    return options


@cli.command()
@click.option("--run", "run_dir", required=True, type=click.Path(path_type=Path), help="Run directory.")
@click.option("--samples", required=True, type=click.Path(path_type=Path), help="Samples .npy/.csv (data units).")
@click.option("--reference", default=None, help="Toy set name or data file (default: the run's data).")
@click.option("--json", "json_out", type=click.Path(path_type=Path), help="Metrics JSON (default: SAMPLES.metrics.json).")
@_friendly
def evaluate(run_dir, samples, reference, json_out):
    """SW2, energy distance (and mode coverage for mixtures) with their noise floors."""
    from .run import load_run

    run = load_run(run_dir)
    result = run.evaluate(load_array(samples), reference)
    json_out = json_out or samples.with_suffix(".metrics.json")
    write_json(json_out, result)
    click.echo(format_metrics(result))
    click.echo(f"metrics → {json_out}")


def format_metrics(result: dict) -> str:
    lines = [f"n = {result['n']} samples vs {result['n_references']} exact reference sets ({result['reference']})"]
    for name in ("sw2", "energy"):
        m = result[name]
        lines.append(f"  {name:7s} {m['value']:.4g}   noise floor {m['floor']:.4g}   ratio {m['ratio']:.2f}×")
    if "modes" in result:
        m = result["modes"]
        lines.append(f"  modes   dropped {m['dropped_modes'] or 'none'}, off-mode {100 * m['off_mode_fraction']:.2f}%, "
                     f"TV to weights {m['tv_distance']:.3f}")
    return "\n".join(lines)


@cli.command()
@click.option("--out", default="runs/demo", show_default=True, type=click.Path(path_type=Path))
@click.option("--data", default="8-gaussians", show_default=True)
@click.option("--preset", default="edm", show_default=True)
@click.option("--seconds", default=90.0, show_default=True, help="Training budget.")
@click.option("--seed", default=0, show_default=True)
@_friendly
def demo(out, data, preset, seconds, seed):
    """The main job: train → sample (Heun, 35 NFE) → evaluate → plots, in about two minutes on a CPU."""
    from . import plots
    from .run import load_run
    from .training import TrainConfig, train as train_run

    arr = load_data(data, seed=seed)
    train_run(arr, preset, out, TrainConfig(seconds=seconds, seed=seed), data_spec=data, force=True, log=click.echo)
    run = load_run(out)
    stats: dict = {}
    x = run.sample(5000, steps=18, seed=seed, stats=stats)
    save_array(out / "samples.npy", x)
    result = run.evaluate(x)
    write_json(out / "metrics.json", result)
    history = json.loads((out / "loss.json").read_text())["step_loss"]
    plots.loss_curve(history, out / "loss.png", title=f"{preset} on {data}")
    plots.data_vs_samples(run.reference_sets(5000, k=2)[0], x, out / "samples.png",
                          title=f"{preset} on {data}: Heun, NFE {stats['nfe']}")
    click.echo(format_metrics(result))
    click.echo(f"files in {out}/: samples.png, loss.png, samples.npy, metrics.json, checkpoint.safetensors")


@cli.group()
def bench() -> None:
    """Benchmarks (not tests): they write machine-readable results under benchmarks/results/."""


@bench.command("quality")
@click.option("--seconds", default=60.0, show_default=True, help="Training time per (data, preset).")
@click.option("--out", default="benchmarks/results/quality.json", show_default=True, type=click.Path(path_type=Path))
@click.option("--only", multiple=True, help="Restrict to DATA:PRESET pairs (repeatable).")
@_friendly
def bench_quality(seconds, out, only):
    """Train each preset for --seconds, sample with Heun at 35 NFE, report SW2/energy vs noise floor."""
    from .bench import DEFAULT_PLAN, quality

    plan = [tuple(o.split(":", 1)) for o in only] if only else DEFAULT_PLAN
    for data, preset in plan:
        get_preset(preset)
        load_data(data, n=10)
    quality(plan, seconds=seconds, out=out, log=click.echo)
    click.echo(f"results → {out}")


@bench.command("samplers")
@click.option("--out", default="benchmarks/results/samplers.json", show_default=True, type=click.Path(path_type=Path))
@click.option("--n", default=5000, show_default=True, help="Samples per run (and per reference set).")
@click.option("--only-overhead", is_flag=True, help="Measure the overhead again; keep the quality rows in --out.")
@_friendly
def bench_samplers(out, n, only_overhead):
    """Every sampler (and k-diffusion's and diffusers', if installed) on ideal mixture denoisers:
    SW2 vs noise floor at NFE 5–100, and time outside the denoiser at batch 20,000."""
    from .bench_samplers import run

    run(str(out), n=n, log=click.echo, quality_rows=not only_overhead)
    click.echo(f"results → {out}")


@cli.command()
def presets():
    """List the training recipes."""
    for name, p in PRESETS.items():
        click.echo(f"{name:15s} {p.summary}")


@cli.command()
def datasets():
    """List the built-in toy data sets."""
    for name, t in TOY_SETS.items():
        click.echo(f"{name:13s} {t.dim}-D  {t.summary}")


@cli.command()
def samplers():
    """List the samplers: order, network evaluations (NFE) per step, options (give them with --opt)."""
    for name, s in SAMPLERS.items():
        kind = "SDE" if s.stochastic else "ODE"
        opts = f"  options: {', '.join(s.options)}" if s.options else ""
        click.echo(f"{name:15s} {kind}  order {s.order}  NFE/step {s.nfe_per_step:22s} {s.summary}{opts}")


def main() -> None:
    cli(prog_name="difflab")


if __name__ == "__main__":
    main()
