"""train, sample, evaluate, demo and the listings."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import click
import numpy as np

from ..checkpoint import write_json
from ..data import TOY_SETS, load_array, load_data, save_array
from ..data.images import is_image_spec, load_images
from ..data.labels import load_labelled
from ..data.columns import parse_type
from ..data.stream import open_stream
from ..data.tables import DELIMITERS, is_table_file, read_table
from ..sampling.inpaint import PARTICLES
from ..errors import DifflabError, Interrupted
from ..presets import PRESETS, get_preset
from ..sampling import SAMPLERS, get_sampler
from .base import (
    _at_most,
    _check_output,
    _device,
    _friendly,
    _parse_options,
    _positive,
    cli,
    format_metrics,
)


def _training_data(
    data: str,
    labels: str | None,
    key: str | None,
    n_toy: int,
    seed: int,
    image_size: int | None,
    images: bool,
    stream: bool = False,
    table: dict | None = None,
):
    """(array or ImageStream or table, labels, class names, pixel scaler or None) for `train`: vectors (a
    toy set or a file; labels from a column, an .npz array or a toy mixture's components) or images
    (a built-in set, a folder, an array; a built-in set's or class folders' own labels with
    --labels class), streamed from disk with --stream."""
    if not images:
        if image_size is not None:
            raise DifflabError(
                "--image-size applies to image data (a folder, digits, faces, or --model unet)"
            )
        if is_table_file(data):
            return (*_table_data(data, labels, table), None)
        if labels is None:
            return load_data(data, n=n_toy, seed=seed, key=key), None, None, None
        return (*load_labelled(data, labels, n=n_toy, seed=seed, key=key), None)
    own = labels == "class"
    load = open_stream if stream else load_images
    ims = load(data, key=key, labels=None if own else labels, image_size=image_size)
    if own and ims.labels is None:
        raise DifflabError(
            f"{data}: these images carry no classes (a folder needs one sub-folder per class)"
        )
    click.echo(
        f"{data}: training on the fixed 80% train split ({len(ims)} images"
        + (", streamed" if stream else "")
        + "); the other 20% is held out for image metrics"
    )
    use = labels is not None
    if stream:
        return ims if use else dataclasses.replace(ims, labels=None, classes=None), None, None, None
    return ims.pixels, ims.labels if use else None, ims.classes if use else None, ims.scaler


def _table_data(path: str, labels: str | None, opts: dict | None) -> tuple:
    """(table, labels, class names) of a .csv/.tsv/.txt/.parquet file: the chosen columns, the
    label column taken out, rows with missing cells dropped (--drop-na) or refused."""
    from ..data.labels import class_indices
    from ..data.tables import _column

    opts = opts or {}
    df = read_table(path, opts.get("delimiter"), opts.get("columns"), opts.get("drop_columns"))
    unknown = sorted(set(opts.get("types", {})) - set(df.columns))
    if unknown:
        raise DifflabError(f"--column-type: no column {unknown[0]!r} in {path}")
    y = classes = None
    if labels is not None:
        name = _column(df, labels, path)
        values, df = df[name], df.drop(columns=[name])
        if not opts.get("drop_na"):  # a missing label is named as one, not as a missing cell
            y, classes = class_indices(values.to_numpy(), f"{path}[{name}]")
    bad = df.isna().any(axis=1).to_numpy() | (values.isna().to_numpy() if labels else False)
    if bad.any() and not opts.get("drop_na"):
        row = int(np.argmax(bad))
        column = (
            df.columns[df.iloc[row].isna().to_numpy()][0] if df.iloc[row].isna().any() else name
        )
        raise DifflabError(
            f"{path}: {int(bad.sum())} row(s) with missing cells (first: row {row}, column "
            f"{column!r}); --drop-na trains on the complete rows, then `difflab inpaint` fills them"
        )
    if bad.any():
        click.echo(f"{path}: dropped {int(bad.sum())} row(s) with missing cells (--drop-na)")
        df = df[~bad].reset_index(drop=True)
        values = values[~bad] if labels else None
    if labels is not None and y is None:  # --drop-na: the labels of the rows kept
        y, classes = class_indices(values.to_numpy(), f"{path}[{name}]")
    return df, y, classes


def _check_suffix(out: Path, run) -> None:
    """Outputs: .npy/.csv; tables also .tsv/.parquet (with the header)."""
    allowed = (".npy", ".csv", ".tsv", ".parquet") if run.is_table else (".npy", ".csv")
    if out.suffix.lower() not in allowed:
        raise DifflabError(f"{out}: output must end in {', '.join(allowed[:-1])} or {allowed[-1]}")


def _loss_figure(run_dir: Path, title: str) -> None:
    from .. import plots
    from ..training import read_history

    history = read_history(run_dir)
    if history:
        plots.loss_curve(history, Path(run_dir) / "loss.png", title=title)


def _names(text: str | None) -> list[str] | None:
    return [c.strip() for c in text.split(",") if c.strip()] if text else None


def read_rows(run, path: Path, key: str | None = None, missing: bool = False):
    """Rows for a trained run: a table for a table run (its columns by name), else an array."""
    if run.is_table:
        return read_table(path)
    return load_array(path, key=key, missing=missing)


def _samples_exactly(run_dir, run, what: str) -> DifflabError:
    """The refusal of sampler settings for a flow or autoregressive run."""
    return DifflabError(
        f"{run_dir} is a {run.name} {run.config.model.kind} model: it samples exactly, without "
        f"{what}"
    )


def _inpaint_images(
    run, spec: str, mask_name: str, n: int, per_image: int, out: Path, key: str | None, kwargs: dict
) -> None:
    """--images: the first n images, the --mask region hidden, `per_image` completions each; writes
    OUT/completions.npy (n·per_image×C×H×W) and OUT/inpainting.png (original, masked, completions)."""
    from ..data.images import image_mask
    from ..report import completion_grid

    if not run.is_image:
        raise DifflabError(
            f"--images needs a run trained on images; this one models shape {run.shape}"
        )
    ims = load_images(spec, key=key, split="test", image_size=run.shape[-1])
    if ims.shape != run.shape:
        raise DifflabError(
            f"{spec}: images of shape {ims.shape}, the run was trained on {run.shape}"
        )
    originals, observed = ims.pixels[:n], image_mask(mask_name, run.shape)
    # completion_grid makes OUT only once the completions exist: bad input leaves nothing behind
    filled, stats = completion_grid(
        run,
        originals,
        observed,
        per_image,
        out / "inpainting.png",
        f"{mask_name} hidden",
        batch_size=64,
        **kwargs,
    )
    save_array(out / "completions.npy", filled)
    click.echo(
        f"{len(originals)} images × {per_image} completions → {out}/ (completions.npy, inpainting.png; "
        f"{kwargs['method']}, {stats['steps']} levels, NFE {stats['nfe']})"
    )


def _condition_options(fn):
    """--class, --guidance and --unconditional: the decision a model trained with labels needs."""
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
            type=float,
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
    for option in reversed(options):
        fn = option(fn)
    return fn


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
    help="mlp (vectors) or unet (images): a diffusion model of --preset; realnvp/nice: a normalizing "
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
@click.option("--steps", type=int, help="Train until this many optimiser steps in total.")
@click.option("--seconds", type=float, help="Train for this many seconds (of this invocation).")
@click.option(
    "--seed", default=0, show_default=True, help="Seed of initialisation, batches and noise."
)
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda or cuda:N.")
@click.option("--batch-size", default=512, show_default=True)
@click.option("--lr", default=1e-3, show_default=True, help="AdamW learning rate after warm-up.")
@click.option("--width", default=128, show_default=True, help="MLP width.")
@click.option(
    "--depth",
    default=4,
    show_default=True,
    help="Residual blocks of the MLP (flows: conditioner layers).",
)
@click.option(
    "--layers",
    default=8,
    show_default=True,
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
    "--n-toy", default=50_000, show_default=True, help="Training points drawn from a toy set."
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
    "--checkpoint-every", default=1000, show_default=True, help="Steps between checkpoints."
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
@click.option("--resume", is_flag=True, help="Continue the run in --out from its checkpoint.")
@click.option("--force", is_flag=True, help="Overwrite an existing run in --out.")
@_friendly
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
    resume,
    force,
):
    """Train a diffusion model (or, with --model realnvp|nice, a normalizing flow; made|wavenet, an
    autoregressive model); writes config.json, checkpoint.safetensors, loss.json, loss.png."""
    from ..training import ModelConfig, TrainConfig, read_history, train as train_run

    if steps is None and seconds is None:
        raise DifflabError("give a budget: --steps N or --seconds S")
    for name, v in [
        ("--steps", steps),
        ("--seconds", seconds),
        ("--batch-size", batch_size),
        ("--lr", lr),
        ("--width", width),
        ("--depth", depth),
        ("--layers", layers),
        ("--n-toy", n_toy),
        ("--checkpoint-every", checkpoint_every),
    ]:
        _positive(name, v)
    images = is_image_spec(data) or model_type == "unet" or stream
    model_type = model_type or ("unet" if images else "mlp")
    if model_type in ("realnvp", "nice", "made", "wavenet") and preset is not None:
        raise DifflabError(
            f"--preset is a diffusion recipe; a {model_type} model is trained by maximum likelihood"
        )
    if order != "natural" and model_type != "made":
        raise DifflabError("--order sets the entries' order of a made model")
    preset = preset or "edm"
    get_preset(preset)
    model = ModelConfig(
        type=model_type,
        width=width,
        depth=depth,
        layers=layers,
        channels=channels,
        components=components,
        order=order,
    )
    table = {
        "delimiter": delimiter,
        "columns": _names(columns),
        "drop_columns": _names(drop_columns),
        "drop_na": drop_na,
    }
    types = dict((n, (k, b)) for n, k, b in map(parse_type, column_types))
    if (any(v for v in table.values()) or types) and not is_table_file(data):
        raise DifflabError(
            f"--delimiter/--columns/--column-type/--drop-na read tables; {data} is not"
        )
    arr, y, classes, pixels = _training_data(
        data, labels, key, n_toy, seed, image_size, images, stream, {**table, "types": types}
    )
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
    )
    title = f"{preset if model_type == 'mlp' else model_type} on {data}"
    before = read_history(out) if resume else None
    try:
        run_dir = train_run(
            arr,
            preset,
            out,
            cfg,
            model,
            data_spec=str(Path(data).resolve()) if Path(data).exists() else data,
            column_types=types or None,
            standardise=not no_standardise,
            resume=resume,
            force=force,
            log=click.echo,
            labels=y,
            classes=classes,
            labels_from=labels,
            pixels=pixels,
        )
    except Interrupted:
        if int(os.environ.get("RANK", "0")) == 0:
            _loss_figure(out, title)  # the curve so far, beside the checkpoint to resume
        raise
    if int(os.environ.get("RANK", "0")) != 0:
        return  # under torchrun only rank 0 writes
    if before is not None and read_history(run_dir) == before:
        return  # a finished run: nothing trained, nothing rewritten
    _loss_figure(run_dir, title)
    click.echo(f"run written to {run_dir}/ (checkpoint.safetensors, config.json, loss.png)")


@cli.command()
@click.option(
    "--run", "run_dir", required=True, type=click.Path(path_type=Path), help="Run directory."
)
@click.option("--n", default=5000, show_default=True, help="Number of samples.")
@click.option(
    "--out",
    required=True,
    type=click.Path(path_type=Path),
    help="Output .npy or .csv (data units).",
)
@click.option("--sampler", default=None, help="Sampler (see `difflab samplers`)  [default: heun]")
@click.option(
    "--steps", type=int, default=None, help="Steps N of the σ grid (Heun: 2N-1 NFE)  [default: 18]"
)
@click.option("--seed", default=0, show_default=True, help="Sample i depends only on (seed, i).")
@click.option(
    "--sigma-min", type=float, help="Smallest nonzero σ of the grid (default: the preset's)."
)
@click.option(
    "--sigma-max", type=float, help="Largest σ (default: the preset's, from the data for edm/ve)."
)
@click.option("--rho", type=float, default=None, help="EDM ρ of the σ grid  [default: 7]")
@click.option(
    "--schedule",
    default=None,
    help="σ grid: karras (EDM ρ), time-uniform (the preset's t), vp-time (uniform in VP's t, "
    "for few steps), log-snr, iddpm  [default: karras]",
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
@_condition_options
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
@_friendly
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
    cls,
    guidance,
    unconditional,
    grid,
    device,
    force,
    plot,
):
    """Sample from a trained run with any sampler (see `difflab samplers`), in the data's original units.
    A flow or autoregressive run samples exactly (x = f⁻¹(z)) and takes none of the sampler options.
    A run trained with --labels needs --class K (optionally --guidance W, diffusion only) or
    --unconditional."""
    from ..run import FlowRun, load_run

    for name, v in [
        ("--n", n),
        ("--steps", steps),
        ("--sigma-min", sigma_min),
        ("--sigma-max", sigma_max),
        ("--rho", rho),
    ]:
        _positive(name, v)
    _at_most(
        "--steps",
        steps,
        100_000,
        "no sampler gains anything from more (the σ grid is already continuous)",
    )
    _at_most("--n", n, 100_000_000, "sample in several runs with different --seed")
    get_sampler(sampler or "heun")
    options = _parse_options(opts)
    run = load_run(run_dir, _device(device))
    _check_suffix(out, run)
    _check_output(out, force)
    if nfe is not None:
        if sampler or steps or schedule:
            raise DifflabError("--nfe chooses sampler, steps and grid; give it alone")
        if isinstance(run, FlowRun):
            raise _samples_exactly(run_dir, run, "NFE")
        run.conditioned(cls, guidance, unconditional)  # refuse before any tuning
        chosen = run.for_nfe(
            nfe,
            tune=tune,
            log=lambda m: click.echo(m, err=True),
            cond=cls,
            guidance=guidance,
            unconditional=unconditional,
        )
        sampler, steps, schedule = chosen["sampler"], chosen["steps"], chosen["schedule"]
    if run.is_image and out.suffix.lower() == ".csv":
        raise DifflabError(f"{out}: images of shape {run.shape} are saved as .npy (N×C×H×W)")
    if grid is not None:
        if not run.is_image:
            raise DifflabError("--grid draws images; this run models vectors (see OUT.png)")
        if grid.suffix.lower() != ".png":
            raise DifflabError(f"{grid}: --grid must end in .png")
        _check_output(grid, force)
    stats: dict = {}
    given = {
        "sampler": sampler,
        "steps": steps,
        "sigma_min": sigma_min,
        "sigma_max": sigma_max,
        "rho": rho,
        "schedule": schedule,
        "own_time": own_time or None,
        **options,
    }
    if isinstance(run, FlowRun):
        if guidance != 1:
            raise DifflabError(
                f"{run_dir} is a {run.name} model: it samples p(x | c) exactly (--class K), "
                "without guidance"
            )
        x = run.sample(n, seed=seed, stats=stats, cond=cls, unconditional=unconditional, **given)
        what = f"exact samples, {run.name}"
    else:
        defaults = {
            "sampler": "heun",
            "steps": 18,
            "rho": 7.0,
            "schedule": "karras",
            "own_time": False,
        }
        kwargs = {k: (defaults.get(k) if v is None else v) for k, v in given.items()}
        x = run.sample(
            n,
            seed=seed,
            stats=stats,
            cond=cls,
            guidance=guidance,
            unconditional=unconditional,
            **kwargs,
        )
        grid_name = kwargs["schedule"] + (
            f" ρ {kwargs['rho']:g}" if kwargs["schedule"] == "karras" else ""
        )
        extra = "".join(f", {k}={v}" for k, v in options.items())
        what = (
            f"{kwargs['sampler']}{extra}, {stats['steps']} steps on the {grid_name} grid, "
            f"NFE {stats['nfe']}, σ {stats['sigma_max']:.3g} → {stats['sigma_min']:.3g} → 0"
            + (
                f", start measured by a pilot of {stats['pilot_nfe']} NFE"
                if stats.get("pilot_nfe")
                else ""
            )
            + (f", class {cls}, guidance {guidance:g}" if cls is not None else "")
            + (", unconditional" if unconditional else "")
        )
    save_array(out, x)
    click.echo(f"{n} samples → {out} ({what})")
    if run.is_image and (plot or grid):  # images: a grid of the first 64
        from .. import plots

        grid = grid or out.with_suffix(".png")
        scale = run.standardiser
        plots.image_grid(x[:64], grid, f"{run.name}: {what.split(',')[0]}", scale.lo, scale.hi)
        click.echo(f"grid of {min(n, 64)} → {grid}")
    elif plot and run.is_table:
        from .. import plots
        from ..data.reference import read_table_reference

        real = read_table_reference(run.path)[0]
        plots.table_columns(real, x, run.standardiser, out.with_suffix(".png"), run.name)
        click.echo(f"columns, data vs samples → {out.with_suffix('.png')}")
    elif plot:
        from .. import plots

        k = None if cls is None else run.config.data.class_index(cls)
        ref = run.reference_sets(min(n, 5000), k=2, cls=k)[0]
        plots.data_vs_samples(
            ref, x[:5000], out.with_suffix(".png"), title=f"{run.name}: {what.split(',')[0]}"
        )


@cli.command()
@click.option(
    "--run", "run_dir", required=True, type=click.Path(path_type=Path), help="Run directory."
)
@click.option(
    "--data",
    "data_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Rows to complete (.csv/.npy/.npz, the model's columns): empty cells or NaN mark what to fill.",
)
@click.option(
    "--images",
    default=None,
    help="Image runs: images to complete (a folder, .npy/.npz, or digits/faces: their test split).",
)
@click.option(
    "--mask",
    "mask_name",
    default="left-half",
    show_default=True,
    help="With --images, what is blacked out: left-half, right-half, top-half, bottom-half, center, "
    "or an .npy of 0/1 (1 = observed).",
)
@click.option(
    "--n",
    "n_images",
    default=8,
    show_default=True,
    type=click.IntRange(1, 10_000),
    help="With --images: how many images (the first N).",
)
@click.option(
    "--per-image",
    default=4,
    show_default=True,
    type=click.IntRange(1, 64),
    help="With --images: completions per image.",
)
@click.option(
    "--out", required=True, type=click.Path(path_type=Path), help="Completed rows, .csv or .npy."
)
@click.option(
    "--method",
    default="smc",
    show_default=True,
    type=click.Choice(["replace", "repaint", "smc"]),
    help="smc: twisted sequential Monte Carlo, asymptotically exact (--particles); repaint: "
    "resampling (--jumps); replace: fast, biased (keeps the observed part noised, any --sampler).",
)
@click.option(
    "--steps",
    type=click.IntRange(1, 100_000),
    default=None,
    help="σ levels  [default: 18 for replace, 50 for repaint, 100 for smc]",
)
@click.option(
    "--particles",
    type=click.IntRange(1, 4096),
    default=PARTICLES,
    show_default=True,
    help="smc: particles per row (cost and exactness grow with it).",
)
@click.option(
    "--jumps",
    type=click.IntRange(1, 1000),
    default=10,
    show_default=True,
    help="repaint: resampling jumps U per level.",
)
@click.option(
    "--sampler", default=None, help="replace: the sampler (see `difflab samplers`)  [default: heun]"
)
@click.option("--key", default=None, help="Array name inside an .npz file.")
@_condition_options
@click.option("--seed", default=0, show_default=True, help="Row i depends only on (seed, i).")
@click.option("--device", default="cpu", show_default=True)
@click.option("--force", is_flag=True, help="Overwrite --out if it exists.")
@_friendly
def inpaint(
    run_dir,
    data_path,
    images,
    mask_name,
    n_images,
    per_image,
    out,
    method,
    steps,
    particles,
    jumps,
    sampler,
    key,
    cls,
    guidance,
    unconditional,
    seed,
    device,
    force,
):
    """Complete partly observed rows with a trained diffusion or autoregressive model (imputation /
    inpainting; MADE/WaveNet: exact when the known entries come first in the order): the
    observed values come back exactly; a row with nothing missing is passed through; a row with
    everything missing is sampled unconditionally. Images: --images with --mask (the seed's
    'left half blacked out'); OUT is then a folder (completions.npy, inpainting.png)."""
    from ..run import Run, load_run

    if sampler is not None and method != "replace":
        raise DifflabError(f"--sampler applies to --method replace, not {method}")
    if (data_path is None) == (images is None):
        raise DifflabError("give the rows to complete: --data FILE, or --images for an image run")
    run = load_run(run_dir, _device(device))
    if images is None:
        _check_suffix(out, run)
    _check_output(out, force)
    known = read_rows(run, data_path, key=key, missing=True) if images is None else None
    if not isinstance(run, Run) and not run.is_autoregressive:
        raise DifflabError(
            f"{run_dir} is a {run.name} flow; inpainting needs a diffusion or autoregressive model"
        )
    if not isinstance(run, Run) and method != "smc":  # autoregressive: exact, by particles only
        raise DifflabError(
            f"--method {method} is a diffusion sampler; a {run.name} model completes rows exactly "
            "(--particles M for known entries that come late in its order)"
        )
    options = {
        "smc": {"particles": particles},
        "repaint": {"jumps": jumps},
        "replace": {"sampler": sampler},
    }[method]
    kwargs = {
        "method": method,
        "steps": steps,
        "seed": seed,
        "cond": cls,
        "guidance": guidance,
        "unconditional": unconditional,
        **{k: v for k, v in options.items() if v is not None},
    }
    if images is not None:
        return _inpaint_images(run, images, mask_name, n_images, per_image, out, key, kwargs)
    stats: dict = {}
    filled = run.inpaint(known, stats=stats, **kwargs)
    save_array(out, filled)
    observed = known.notna().to_numpy() if run.is_table else np.isfinite(known)
    full, empty = int(observed.all(1).sum()), int((~observed).all(1).sum())
    how = (
        f"{method}, {stats['steps']} levels"
        if "steps" in stats
        else f"exact, {stats['particles']} particles, smallest ESS {stats['min_ess']:.1f}"
    )
    click.echo(
        f"{len(known)} rows → {out} ({how}, NFE {stats['nfe']}): "
        f"{len(known) - full - empty} completed, {full} passed through (nothing missing), "
        f"{empty} sampled unconditionally (everything missing); {int((~observed).sum())} values filled"
    )


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
    help="Tables: the column whose prediction measures ML efficacy  [default: the last "
    "categorical column, else the last numeric one]",
)
@_friendly
def evaluate(run_dir, samples, reference, json_out, cls, target):
    """SW2, energy distance (and mode coverage for mixtures) with their noise floors."""
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
@click.option("--out", default="runs/demo", show_default=True, type=click.Path(path_type=Path))
@click.option("--data", default="8-gaussians", show_default=True)
@click.option("--preset", default="edm", show_default=True)
@click.option("--seconds", default=90.0, show_default=True, help="Training budget.")
@click.option("--seed", default=0, show_default=True)
@click.option("--force", is_flag=True, help="Overwrite a run already in --out.")
@_friendly
def demo(out, data, preset, seconds, seed, force):
    """The main job: train → sample (Heun, 35 NFE) → evaluate → plots, in about two minutes on a CPU."""
    from .. import plots
    from ..run import load_run
    from ..training import TrainConfig, read_history, train as train_run

    arr = load_data(data, seed=seed)
    train_run(
        arr,
        preset,
        out,
        TrainConfig(seconds=seconds, seed=seed),
        data_spec=data,
        force=force,
        log=click.echo,
    )
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
        click.echo(
            f"{name:15s} {kind}  order {s.order}  NFE/step {s.nfe_per_step:22s} {s.summary}{opts}"
        )


@cli.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--n", default=5000, show_default=True, help="Samples drawn for the page.")
@click.option("--seed", default=0, show_default=True)
@_friendly
def report(run_dir, n, seed):
    """Write RUN_DIR/report/index.html: configuration, loss curve, samples vs data, metrics (offline page)."""
    from ..report import build_report

    _positive("--n", n)
    build_report(run_dir, n=n, seed=seed, log=click.echo)


@cli.command("tune-grid")
@click.option(
    "--run", "run_dir", required=True, type=click.Path(path_type=Path), help="Run directory."
)
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
    type=click.FloatRange(min=0),
    help="With --class: tune on the guided D_w that `sample --guidance W` uses.",
)
@_friendly
def tune_grid(run_dir, nfe, sampler, n, seed, cls, guidance):
    """Find the σ grid for --sampler at --nfe evaluations that lands closest to the exact PF-ODE
    solution of this run's own model (Nelder–Mead from the Karras grid, against a 256-step Heun
    solution); stored in RUN/grids.json and used by `difflab sample --schedule tuned` (for a
    labelled run, by samples of the same --class and --guidance)."""
    from ..run import Run, load_run

    run = load_run(run_dir)
    if not isinstance(run, Run):
        raise _samples_exactly(run_dir, run, "a grid")
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
