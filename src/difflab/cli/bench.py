"""difflab bench …: benchmarks that write machine-readable results (not tests)."""

from __future__ import annotations

from pathlib import Path

import click

from .base import _friendly, cli


@cli.group()
def bench() -> None:
    """Benchmarks (not tests): they write machine-readable results under benchmarks/results/."""


@bench.command("quality")
@click.option(
    "--seconds", default=60.0, show_default=True, help="Training time per (data, preset)."
)
@click.option(
    "--out",
    default="benchmarks/results/quality.json",
    show_default=True,
    type=click.Path(path_type=Path),
)
@click.option("--only", multiple=True, help="Restrict to DATA:PRESET pairs (repeatable).")
@_friendly
def bench_quality(seconds, out, only):
    """Train each preset for --seconds, sample with Heun at 35 NFE, report SW2/energy vs noise
    floor."""
    from ..data import load_data
    from ..presets import get_preset

    from ..bench import DEFAULT_PLAN, quality

    plan = [tuple(o.split(":", 1)) for o in only] if only else DEFAULT_PLAN
    for data, preset in plan:
        get_preset(preset)
        load_data(data, n=10)
    quality(plan, seconds=seconds, out=out, log=click.echo)
    click.echo(f"results → {out}")


@bench.command("samplers")
@click.option(
    "--out",
    default="benchmarks/results/samplers.json",
    show_default=True,
    type=click.Path(path_type=Path),
)
@click.option(
    "--n", default=5000, show_default=True, help="Samples per run (and per reference set)."
)
@click.option(
    "--only-overhead",
    is_flag=True,
    help="Measure the overhead again; keep the quality rows in --out.",
)
@_friendly
def bench_samplers(out, n, only_overhead):
    """Every sampler (and k-diffusion's and diffusers', if installed) on ideal mixture denoisers:
    SW2 vs noise floor at NFE 5–100, and time outside the denoiser at batch 20,000."""
    from ..bench.samplers import run

    run(str(out), n=n, log=click.echo, quality_rows=not only_overhead)
    click.echo(f"results → {out}")


@bench.command("throughput")
@click.option(
    "--out",
    default=None,
    type=click.Path(path_type=Path),
    help="[default: benchmarks/results/throughput.json, throughput-unet.json for the U-Net]",
)
@click.option(
    "--model",
    default="mlp",
    show_default=True,
    type=click.Choice(["mlp", "unet"]),
    help="mlp on 8-gaussians, or the U-Net (32 channels) on digits.",
)
@click.option("--steps", default=None, type=int, help="[default: 500 (mlp), 60 (unet)]")
@click.option("--batch-size", default=None, type=int, help="[default: 512 (mlp), 128 (unet)]")
@click.option("--repeats", default=3, show_default=True)
@_friendly
def bench_throughput(out, model, steps, batch_size, repeats):
    """Training samples/s of difflab's loop against a bare hand-written PyTorch loop (same model,
    batch)."""
    from ..bench import machine
    from ..bench.throughput import throughput
    from ..checkpoint import write_json

    unet = model == "unet"
    out = out or Path(f"benchmarks/results/throughput{'-unet' if unet else ''}.json")
    steps, batch_size = steps or (60 if unet else 500), batch_size or (128 if unet else 512)
    result = {"machine": machine(), **throughput(steps, batch_size, repeats, model)}
    write_json(out, result)
    r = result["samples_per_s"]
    click.echo(
        f"bare loop {r['bare']:,.0f} samples/s (with foreach AdamW "
        f"{r['bare, foreach AdamW']:,.0f}), "
        f"difflab {r['difflab']:,.0f}: ratio {result['ratio']:.3f} "
        f"({result['ratio_to_foreach']:.3f}) → {out}"
    )


@bench.command("inpainting")
@click.option(
    "--out",
    default="benchmarks/results/inpainting.json",
    show_default=True,
    type=click.Path(path_type=Path),
)
@click.option(
    "--n", default=2000, show_default=True, help="Rows per case (and per exact reference set)."
)
@click.option("--seed", default=0, show_default=True)
@_friendly
def bench_inpainting(out, n, seed):
    """Inpainting methods (replace, repaint, smc) vs NFE with ideal denoisers, against the exact
    conditional: Gaussian mean/variance bias; mixtures' component-weight TV and SW2 ÷ floor."""
    from ..bench import machine
    from ..bench.conditional import inpainting
    from ..checkpoint import write_json

    figure = out.with_suffix(".png")
    write_json(
        out, {"machine": machine(), **inpainting(n, seed, log=click.echo, figure=str(figure))}
    )
    click.echo(f"figure → {figure}")
    click.echo(f"results → {out}")


@bench.command("guidance")
@click.option(
    "--run",
    "run_dir",
    default=None,
    type=click.Path(path_type=Path),
    help="A run trained on a toy mixture with --labels component (default: train one, --seconds).",
)
@click.option("--data", default="8-gaussians", show_default=True)
@click.option(
    "--seconds", default=60.0, show_default=True, help="Training time when no --run is given."
)
@click.option(
    "--out",
    default="benchmarks/results/guidance.json",
    show_default=True,
    type=click.Path(path_type=Path),
)
@click.option("--n", default=2000, show_default=True, help="Samples per class and scale.")
@_friendly
def bench_guidance(run_dir, data, seconds, out, n):
    """Classifier-free guidance w ∈ {0, 1, 2, 3}: class accuracy and per-class SW2 ÷ floor."""
    import tempfile

    from ..bench import machine
    from ..bench.conditional import guidance
    from ..checkpoint import write_json
    from ..data.labels import load_labelled
    from ..training import TrainConfig, TrainingData, train

    with tempfile.TemporaryDirectory() as tmp:
        if run_dir is None:
            x, y, classes = load_labelled(data, "component")
            run_dir = train(
                TrainingData(x, data, y, classes, labels_from="component"),
                "edm",
                Path(tmp) / "run",
                TrainConfig(seconds=seconds),
                log=click.echo,
            )
        rows = guidance(str(run_dir), n=n, log=click.echo)
    write_json(out, {"machine": machine(), "data": data, "train_seconds": seconds, "rows": rows})
    click.echo(f"results → {out}")


@bench.command("images")
@click.option(
    "--out",
    default="benchmarks/results/images.json",
    show_default=True,
    type=click.Path(path_type=Path),
)
@click.option(
    "--seed",
    "seeds",
    multiple=True,
    type=int,
    default=(0, 1, 2),
    show_default=True,
    help="Seeds to repeat the digits run with (repeatable).",
)
@_friendly
def bench_images(out, seeds):
    """`reproduce digits`' numbers (class-conditional U-Net, 3,000 steps: FD ÷ floor, accuracy,
    memorisation at w = 1, 2 and unconditional; left-half accuracies) over seeds, each stage
    timed."""
    from ..bench import machine
    from ..bench.images import images
    from ..checkpoint import write_json

    result = {"machine": machine(), **images(list(seeds), log=click.echo)}
    write_json(out, result)
    click.echo(f"results → {out}")


@bench.command("tables")
@click.option(
    "--out",
    default="benchmarks/results/tables.json",
    show_default=True,
    type=click.Path(path_type=Path),
)
@click.option("--seconds", default=90.0, show_default=True, help="Training time per table.")
@click.option(
    "--table",
    "names",
    multiple=True,
    type=click.Choice(["people", "diabetes", "wine", "breast_cancer"]),
    help="Restrict to these tables (repeatable)  [default: all]",
)
@click.option(
    "--encoding",
    "encodings",
    multiple=True,
    type=click.Choice(["onehot", "bits"]),
    default=("onehot", "bits"),
    show_default=True,
    help="Encodings of categorical columns to compare.",
)
@_friendly
def bench_tables(out, seconds, names, encodings):
    """Real tables (scikit-learn's, offline) and a synthetic one: per-column KS/TV, correlations,
    ML efficacy and distance to closest record, each against its real-vs-real floor."""
    from ..bench import machine
    from ..bench.tables import TABLES, tables
    from ..checkpoint import write_json

    rows = tables(list(names or TABLES), seconds, list(encodings), log=click.echo)
    write_json(out, {"machine": machine(), "seconds": seconds, "rows": rows})
    click.echo(f"results → {out}")


@bench.command("ode-error")
@click.option(
    "--out",
    default="benchmarks/results/ode-error.json",
    show_default=True,
    type=click.Path(path_type=Path),
)
@click.option("--n", default=20_000, show_default=True, help="Samples per problem.")
@_friendly
def bench_ode_error(out, n):
    """Few-step samplers × grids at 5 and 10 NFE on ideal mixture denoisers: RMS distance to the
    exact PF-ODE solution from the same initial noise (no noise floor)."""
    from ..bench import machine
    from ..bench.ode_error import ode_errors
    from ..checkpoint import write_json

    rows = ode_errors(n, log=click.echo)
    write_json(out, {"machine": machine(), "n": n, "rows": rows})
    click.echo(f"results → {out}")


@bench.command("autoregressive")
@click.option(
    "--out",
    default="benchmarks/results/autoregressive.json",
    show_default=True,
    type=click.Path(path_type=Path),
)
@click.option("--n", default=10_000, show_default=True, help="Samples to draw (64-D each).")
@click.option("--steps", default=300, show_default=True, help="Training steps before timing.")
@_friendly
def bench_autoregressive(out, n, steps):
    """MADE and WaveNet on 64-step sequences: training steps/s, sampling time for --n samples
    (WaveNet with and without its cache), exact log p time."""
    from ..bench.autoregressive import run

    run(out, log=click.echo, n=n, steps=steps)
    click.echo(f"results → {out}")
