"""inpaint: complete partly observed rows or images."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import numpy as np

from ..errors import DifflabError
from ..defaults import PARTICLES
from .base import _check_output, _device, cli
from .base import _friendly as friendly
from .common import check_suffix, condition_options, read_rows, run_option


@cli.command()
@run_option
@click.option(
    "--data",
    "data_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Rows to complete (.csv/.npy/.npz, the model's columns): empty cells or NaN mark what to "
    "fill.",
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
    help="With --images, what is blacked out: left-half, right-half, top-half, bottom-half, "
    "center, "
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
@condition_options
@click.option("--seed", default=0, show_default=True, help="Row i depends only on (seed, i).")
@click.option("--device", default="cpu", show_default=True)
@click.option("--force", is_flag=True, help="Overwrite --out if it exists.")
@friendly
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
    condition,
    seed,
    device,
    force,
):
    """Complete partly observed rows with a trained diffusion or autoregressive model (imputation /
    inpainting; MADE/WaveNet: exact when the known entries come first in the order): the
    observed values come back exactly; a row with nothing missing is passed through; a row with
    everything missing is sampled unconditionally. Images: --images with --mask (the seed's
    'left half blacked out'); OUT is then a folder (completions.npy, inpainting.png)."""
    from ..data import save_array

    from ..run import Run, load_run

    if sampler is not None and method != "replace":
        raise DifflabError(f"--sampler applies to --method replace, not {method}")
    if (data_path is None) == (images is None):
        raise DifflabError("give the rows to complete: --data FILE, or --images for an image run")
    run = load_run(run_dir, _device(device))
    if images is None:
        check_suffix(out, run)
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
    option = {"smc": ("particles", particles), "repaint": ("jumps", jumps)}
    name, value = option.get(method, ("sampler", sampler))
    kwargs = {"method": method, "steps": steps, "seed": seed, **condition.kwargs()}
    kwargs["progress"] = sys.stderr.isatty()  # a bar of NFE in a terminal, not in logs
    kwargs.update({name: value} if value is not None else {})
    if images is not None:
        return _inpaint_images(run, images, mask_name, n_images, per_image, out, key, kwargs)
    stats: dict = {}
    filled = run.inpaint(known, stats=stats, **kwargs)
    save_array(out, filled)
    click.echo(f"{len(known)} rows → {out} ({_described(run, known, method, stats)}")


def _described(run, known, method: str, stats: dict) -> str:
    """How the rows were completed, and how many of each kind there were."""
    observed = known.notna().to_numpy() if run.is_table else np.isfinite(known)
    full, empty = int(observed.all(1).sum()), int((~observed).all(1).sum())
    how = (
        f"{method}, {stats['steps']} levels"
        if "steps" in stats
        else f"exact, {stats['particles']} particles, smallest ESS {stats['min_ess']:.1f}"
    )
    return (
        f"{how}, NFE {stats['nfe']}): {len(known) - full - empty} completed, {full} passed "
        f"through (nothing missing), {empty} sampled unconditionally (everything missing); "
        f"{int((~observed).sum())} values filled"
    )


def _inpaint_images(
    run, spec: str, mask_name: str, n: int, per_image: int, out: Path, key: str | None, kwargs: dict
) -> None:
    """--images: the first n images, the --mask region hidden, `per_image` completions each; writes
    OUT/completions.npy (n·per_image×C×H×W) and OUT/inpainting.png (original, masked,
    completions)."""
    from ..data import save_array
    from ..data.images import load_images

    from ..data.images import image_mask, rescale
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
    originals = rescale(ims.pixels[:n], ims.scaler, run.standardiser)  # in the run's levels
    observed = image_mask(mask_name, run.shape)
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
        f"{len(originals)} images × {per_image} completions → {out}/ (completions.npy, "
        "inpainting.png; "
        f"{kwargs['method']}, {stats['steps']} levels, NFE {stats['nfe']})"
    )
