"""train and demo."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from ..errors import Interrupted
from ..defaults import DELIMITERS
from .base import Finite, Positive, _device, cli, format_metrics
from .base import _friendly as friendly
from .common import is_main, loss_figure, names


@cli.command()
@click.option(
    "--data",
    required=True,
    help="A toy set name (see `difflab datasets`) or an N×D .npy/.npz/.csv file.",
)
@click.option(
    "--preset", default=None, help="Diffusion recipe (see `difflab presets`)  [default: edm]"
)
@click.option(
    "--model",
    "model_type",
    type=click.Choice(["mlp", "unet", "realnvp", "nice", "made", "wavenet"]),
    default=None,
    help="mlp (vectors) or unet (images): a diffusion model of --preset; realnvp/nice: a "
    "normalizing "
    "flow; made (vectors) / wavenet (sequences: N×T rows): an autoregressive model; the last four "
    "by maximum likelihood  [default: unet for images, else mlp]",
)
@click.option(
    "--image-size",
    type=click.IntRange(4, 1024),
    default=None,
    help="Images: resize every image to this square size.",
)
@click.option(
    "--channels",
    default=32,
    show_default=True,
    type=click.IntRange(8, 1024),
    help="U-Net base channels.",
)
@click.option(
    "--out", required=True, type=click.Path(path_type=Path), help="Run directory to write."
)
@click.option(
    "--steps",
    type=Positive(),
    help="Train until this many optimiser steps in total. Without --steps or --seconds, a table "
    "or images train until the held-out loss stops improving, and keep the best checkpoint.",
)
@click.option(
    "--seconds", type=Positive(float), help="Train for this many seconds (of this invocation)."
)
@click.option(
    "--seed", default=0, show_default=True, help="Seed of initialisation, batches and noise."
)
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda or cuda:N.")
@click.option("--batch-size", default=512, show_default=True, type=Positive())
@click.option(
    "--lr",
    default=1e-3,
    show_default=True,
    type=Positive(float),
    help="AdamW learning rate after warm-up.",
)
@click.option("--width", default=128, show_default=True, type=Positive(), help="MLP width.")
@click.option(
    "--depth",
    default=4,
    show_default=True,
    type=Positive(),
    help="Residual blocks of the MLP (flows: conditioner layers).",
)
@click.option(
    "--layers",
    default=8,
    show_default=True,
    type=Positive(),
    help="Coupling layers of a flow; gated blocks of a wavenet (dilations 1, 2, 4, …).",
)
@click.option(
    "--components",
    default=8,
    show_default=True,
    type=click.IntRange(1, 64),
    help="made/wavenet: Gaussians in each conditional's mixture.",
)
@click.option(
    "--order",
    default="natural",
    show_default=True,
    help="made: the entries' order — natural, reverse, random or a comma list (2,0,1).",
)
@click.option(
    "--n-toy",
    default=50_000,
    show_default=True,
    type=Positive(),
    help="Training points drawn from a toy set.",
)
@click.option("--key", default=None, help="Array name inside a .npz file with several arrays.")
@click.option(
    "--labels",
    default=None,
    metavar="COLUMN_OR_KEY",
    help="Class labels: a .csv column (name or index; removed from the data), an .npz array, or "
    "'component' for a toy mixture, 'class' for images that carry classes (digits, class folders). "
    "The model learns p(x | class) and, with --p-uncond, p(x).",
)
@click.option(
    "--p-uncond",
    default=0.1,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="With --labels: probability of training a sample without its class (for guidance).",
)
@click.option("--no-standardise", is_flag=True, help="Train on the raw data (σ_data from its std).")
@click.option(
    "--checkpoint-every",
    default=1000,
    show_default=True,
    type=Positive(),
    help="Steps between checkpoints.",
)
@click.option(
    "--precision",
    default="fp32",
    show_default=True,
    type=click.Choice(["fp32", "bf16", "fp16"]),
    help="Mixed precision of the forward pass: bf16 (CPU or GPU), fp16 (GPU, with loss scaling).",
)
@click.option(
    "--compile",
    "compile_",
    is_flag=True,
    help="torch.compile the network and loss (slow start, faster steps).",
)
@click.option(
    "--delimiter",
    type=click.Choice(sorted(DELIMITERS)),
    default=None,
    help="Tables: the field separator  [default: detected from the first lines]",
)
@click.option(
    "--columns",
    default=None,
    metavar="A,B,…",
    help="Tables: model only these columns (names or 0-based indices, comma-separated).",
)
@click.option("--drop-columns", default=None, metavar="A,B,…", help="Tables: leave these out.")
@click.option(
    "--column-type",
    "column_types",
    multiple=True,
    metavar="NAME=KIND",
    help="Tables: override a detected column type, repeatable: numeric, positive (log), "
    "bounded:LO:HI (logit), categorical, constant.",
)
@click.option("--drop-na", is_flag=True, help="Tables: train on the rows without missing cells.")
@click.option(
    "--stream",
    is_flag=True,
    help="Images larger than memory: decode each batch from the folder (or memory-mapped .npy) "
    "as it is needed; the same batches, and so the same model, as loading them all.",
)
@click.option(
    "--workers",
    default=2,
    show_default=True,
    type=click.IntRange(0, 64),
    help="With --stream: processes decoding images ahead of training (0: in the main process).",
)
@click.option(
    "--channels-last",
    is_flag=True,
    help="Images: NHWC memory layout for the U-Net's convolutions (≈1.2× faster steps at 32×32 on "
    "CPU; combine with --precision bf16 on CPUs with AMX/AVX512-bf16).",
)
@click.option(
    "--hflip", is_flag=True, help="Images: mirror each drawn image left–right with probability 1/2."
)
@click.option(
    "--weighting",
    type=click.Choice(["recipe", "vlb"]),
    default="recipe",
    show_default=True,
    help="Diffusion models: the preset's own loss weighting, or vlb: VDM's likelihood weighting "
    "(σ log-uniform, λ = 1/σ²), training for log-likelihood (see `likelihood --method vlb`).",
)
@click.option(
    "--holdout",
    type=Finite(min=0),
    default=None,
    metavar="FRACTION",
    help="Tables and images: the fraction of rows held out (a fixed split) for evaluate, report "
    "and stopping by itself; 0 trains on every row  [default: 0.2]",
)
@click.option(
    "--validation",
    default=None,
    metavar="FILE",
    help="Tables and images: your own held-out rows (a table with the same columns, or images); "
    "every row of --data trains, and evaluate, report and the stop use these.",
)
@click.option("--resume", is_flag=True, help="Continue the run in --out from its checkpoint.")
@click.option("--force", is_flag=True, help="Overwrite an existing run in --out.")
@friendly
def train(
    data,
    preset,
    model_type,
    image_size,
    channels,
    out,
    steps,
    seconds,
    seed,
    device,
    batch_size,
    lr,
    width,
    depth,
    layers,
    components,
    order,
    n_toy,
    key,
    labels,
    p_uncond,
    no_standardise,
    checkpoint_every,
    precision,
    compile_,
    delimiter,
    columns,
    drop_columns,
    column_types,
    drop_na,
    stream,
    workers,
    channels_last,
    hflip,
    weighting,
    holdout,
    validation,
    resume,
    force,
):
    """Train a diffusion model (or, with --model realnvp|nice, a normalizing flow; made|wavenet, an
    autoregressive model); writes config.json, checkpoint.safetensors, loss.json, loss.png."""
    from ..data.columns import parse_type
    from ..data.training import TableOptions, load_training_data, wants_images
    from ..models import choose_model
    from ..presets import get_preset

    from ..training import TrainConfig

    images = wants_images(data, model_type, stream)
    sizes = dict(width=width, depth=depth, layers=layers, channels=channels)
    model = choose_model(model_type, images, preset, components=components, order=order, **sizes)
    preset = preset or "edm"
    get_preset(preset)
    types = dict((n, (k, b)) for n, k, b in map(parse_type, column_types))
    table = TableOptions(delimiter, names(columns), names(drop_columns), types, drop_na)
    how = dict(key=key, n_toy=n_toy, seed=seed, images=images, image_size=image_size)
    how.update(holdout=holdout, validation=validation, stream=stream, table=table)
    rows = load_training_data(data, labels, log=click.echo, **how)
    rows = dataclasses.replace(rows, standardise=not no_standardise)
    cfg = TrainConfig(
        steps=steps,
        seconds=seconds,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        device=_device(device),
        checkpoint_every=checkpoint_every,
        precision=precision,
        compile=compile_,
        p_uncond=p_uncond,
        hflip=hflip,
        workers=workers,
        channels_last=channels_last,
        likelihood_weighting=weighting == "vlb",
    )
    title = f"{preset if model.type == 'mlp' else model.type} on {data}"
    _fit(rows, preset, out, cfg, model, resume, force, title)


def _fit(rows, preset: str, out: Path, cfg, model, resume: bool, force: bool, title: str) -> None:
    """Train, then draw the loss curve (also of an interrupted run, beside its checkpoint)."""

    from ..checkpoint import read_history
    from ..training import train as fit

    before = read_history(out) if resume else None
    try:
        run_dir = fit(rows, preset, out, cfg, model, resume=resume, force=force, log=click.echo)
    except Interrupted:
        if is_main():
            loss_figure(out, title)  # the curve so far, beside the checkpoint to resume
        raise
    if not is_main():
        return  # under torchrun only rank 0 writes
    if before is not None and read_history(run_dir) == before:
        return  # a finished run: nothing trained, nothing rewritten
    loss_figure(run_dir, title)
    click.echo(f"run written to {run_dir}/ (checkpoint.safetensors, config.json, loss.png)")


@cli.command()
@click.option("--out", default="runs/demo", show_default=True, type=click.Path(path_type=Path))
@click.option("--data", default="8-gaussians", show_default=True)
@click.option("--preset", default="edm", show_default=True)
@click.option("--seconds", default=90.0, show_default=True, help="Training budget.")
@click.option("--seed", default=0, show_default=True)
@click.option("--force", is_flag=True, help="Overwrite a run already in --out.")
@friendly
def demo(out, data, preset, seconds, seed, force):
    """The main job: train → sample (Heun, 35 NFE) → evaluate → plots, in about two minutes on a
    CPU."""
    from ..checkpoint import write_json
    from ..data import save_array

    from .. import plots
    from ..run import load_run
    from ..checkpoint import read_history
    from ..data import load_data
    from ..training import TrainConfig, TrainingData, train as fit

    rows = TrainingData(load_data(data, seed=seed), spec=data)
    fit(rows, preset, out, TrainConfig(seconds=seconds, seed=seed), force=force, log=click.echo)
    run = load_run(out)
    stats: dict = {}
    x = run.sample(5000, steps=18, seed=seed, stats=stats)
    save_array(out / "samples.npy", x)
    result = run.evaluate(x)
    write_json(out / "metrics.json", result)
    history = read_history(out)
    plots.loss_curve(history, out / "loss.png", title=f"{preset} on {data}")
    plots.data_vs_samples(
        run.reference_sets(5000, k=2)[0],
        x,
        out / "samples.png",
        title=f"{preset} on {data}: Heun, NFE {stats['nfe']}",
    )
    click.echo(format_metrics(result))
    click.echo(
        f"files in {out}/: samples.png, loss.png, samples.npy, metrics.json, checkpoint.safetensors"
    )
