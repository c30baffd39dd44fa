"""One and two steps: a student distilled from a trained diffusion run (issue 25).

`distill(TEACHER, OUT, cfg, method)` (difflab.distill) trains a student through the one training
loop, on the rows the teacher trained on, scaled by the teacher's own scaler, with the teacher's
architecture; the student is a run like any other (`sample`, `evaluate`, `report`, classes and
guidance kept):

- consistency: the `consistency` preset (Song et al. 2023); the teacher's denoiser, in the
  teacher's model units, is the objective's teacher (training/objectives.Consistency).
- reflow: the `reflow` preset (Liu et al. 2022); the teacher's ODE coupling (`Run.coupling`:
  starts x̂_T and their samples) is the objective's data (training/objectives.Reflow). The
  student is a denoiser like any diffusion run's (ODE samplers, likelihood, inpainting), with
  straighter paths (`straightness`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .errors import DifflabError
from .run import FlowRun, Run, load_run
from .training import TrainConfig, TrainingData, still_training, train

METHODS = {"consistency": "consistency", "reflow": "reflow"}  # method → the student's preset
MAX_PAIRS = 100_000  # reflow's default pairs for vectors and tables: 10 per row, 20,000 to this


@dataclass(frozen=True)
class Coupling:
    """Reflow's data, in model units: the teacher's samples x0 [N, …], z = (x̂_T − x0)/σ_T so that
    x0 + σ_T z is the start x̂_T each came from, their classes [N] (or None), and σ_T, where the
    student's range ends (its sampling starts where the pairs did)."""

    x0: torch.Tensor
    z: torch.Tensor
    labels: torch.Tensor | None = None
    sigma_max: float | None = None


def distill(
    teacher: str | Path,
    out: str | Path,
    cfg: TrainConfig = TrainConfig(),
    method: str = "consistency",
    *,
    pairs: int | None = None,
    resume: bool = False,
    force: bool = False,
    progress: bool = True,
    log=print,
) -> Path:
    """Distil the diffusion run in `teacher` into a `method` student written to `out`; without a
    budget in cfg, as many steps as the teacher trained. reflow: `pairs` starts and samples of
    the teacher's ODE (default: 10 per training row, 20,000 to 100,000; images: one per image),
    drawn again, identically, on --resume. Returns the student's run directory."""
    if method not in METHODS:
        raise DifflabError(f"unknown method {method!r}; expected one of: {', '.join(METHODS)}")
    run = load_run(teacher, cfg.device)
    _check_teacher(run, teacher)
    if cfg.steps is None and cfg.seconds is None:
        cfg = dataclasses.replace(cfg, steps=run.trained_steps)
    p_uncond = run.config.train.get("p_uncond", cfg.p_uncond)
    cfg = dataclasses.replace(cfg, p_uncond=p_uncond, teacher=str(teacher))
    model = dataclasses.replace(run.config.model, num_classes=0)  # train() sets the classes
    data = teacher_data(run)
    source = run.denoiser
    if method == "reflow":
        source = teacher_coupling(run, data, pairs, cfg.seed, progress, log)
    how = dict(resume=resume, force=force, progress=progress, log=log)
    student = train(data, METHODS[method], out, cfg, model, teacher=source, **how)
    if method == "reflow" and student is not None:
        n = 64 if run.is_image else 1000
        paths = [run_straightness(r, n, cfg.seed) for r in (run, load_run(student, cfg.device))]
        log(
            f"straightness (Liu et al. 2022; mean squared deviation of the velocity from the "
            f"chord, per dimension; 0: straight): teacher {paths[0]:.4g}, student {paths[1]:.4g}"
        )
    return student


def teacher_coupling(
    run: Run, data: TrainingData, n: int | None, seed: int = 0, progress: bool = True, log=print
) -> Coupling:
    """n pairs of the teacher's ODE coupling (Run.coupling), classes drawn as often as in the
    teacher's rows."""
    rows = len(data.rows)
    n = n or (rows if run.is_image else min(max(10 * rows, 20_000), MAX_PAIRS))
    cond = None
    if data.labels is not None:
        drawn = np.asarray(data.labels)[np.random.default_rng(seed).integers(0, rows, n)]
        indexed = np.issubdtype(drawn.dtype, np.integer)
        cond = [run.classes[int(c)] if indexed else str(c) for c in drawn]
    log(f"drawing {n:,} pairs from the teacher's ODE (Heun, 18 steps: 35 NFE each)")
    start, x0, labels, sigma_max = run.coupling(n, seed, cond=cond, progress=progress)
    return Coupling(x0.float(), ((start - x0) / sigma_max).float(), labels, sigma_max)


def _check_teacher(run, path) -> None:
    """A diffusion run (flows and autoregressive models sample in one pass already), and not a
    student (distilling a distilled model compounds its error without a better ODE)."""
    if isinstance(run, FlowRun):
        raise DifflabError(
            f"{path}: a {run.name} model samples exactly in one pass already; distill a diffusion "
            "run"
        )
    if run.preset.consistency:  # a reflow student is a denoiser: reflowed again, or distilled
        teacher = run.config.train.get("teacher")
        raise DifflabError(
            f"{path}: a {run.preset.name} model has no ODE to distil; distill a diffusion run"
            + (f" (its teacher: {teacher})" if teacher else "")
        )
    who = still_training(run.path)
    if who is not None:
        raise DifflabError(
            f"{path}: still training ({who}); distill it once its training has finished"
        )


def straightness(denoiser, x: torch.Tensor, sigma_max: float, steps: int = 64) -> float:
    """Straightness (Liu et al. 2022, Def. 3.5) in rectified flow's frame x = x̂/(1+σ), t =
    σ/(1+σ): the mean over t ∈ [0, t_T] and over the paths from the starts x̂_T at σ_max of
    ‖v − v̄‖² per dimension, v = ε̂ − D(x̂; σ) the velocity dx/dt (ε̂ = (x̂ − D)/σ) and v̄ its mean
    along the path, the chord's slope; 0 iff every path is a straight line at constant speed.
    Paths by Euler on rectified flow's uniform t grid (an Euler step is the same in either frame:
    x̂' = D + σ'ε̂)."""
    from .presets import SIGMA_FLOOR
    from .sampling.schedules import flow_uniform_sigmas

    sigmas = flow_uniform_sigmas(steps, SIGMA_FLOOR, sigma_max)
    t = sigmas / (1 + sigmas)
    weights = (t[:-1] - t[1:]) / t[0]
    velocities = []
    with torch.no_grad():
        for i in range(steps):
            sigma = sigmas[i].to(x.device, x.dtype)
            d = denoiser(x, sigma)
            eps = (x - d) / sigma
            velocities.append((eps - d).double())
            x = d + float(sigmas[i + 1]) * eps
    v = torch.stack(velocities)
    w = weights.reshape(-1, *[1] * (v.ndim - 1)).to(v.device)
    deviation = (w * (v - (w * v).sum(0)) ** 2).sum(0)
    return float(deviation.flatten(1).mean(1).mean())


def run_straightness(run: Run, n: int = 1000, seed: int = 0) -> float:
    """`straightness` of a diffusion run's PF-ODE from n starts of its sampling prior (a labelled
    run: classes drawn uniformly, each path conditional on its class)."""
    gen = np.random.default_rng(seed)
    cond = gen.integers(0, len(run.classes), n).tolist() if run.classes else None
    start, _, _, sigma_max = run.coupling(n, seed, cond=cond, steps=1)
    denoiser = run.conditioned(cond) if cond is not None else run.denoiser
    device = next(run.denoiser.parameters()).device
    return straightness(denoiser, start.to(device), sigma_max)


def teacher_data(run: Run) -> TrainingData:
    """The rows the teacher trained on, in data units, with the teacher's scaler (so the student's
    model units are the teacher's) and labels: a table's and an array's kept rows, an image set's
    fixed training split."""
    from .data.images import load_images
    from .data.reference import LABEL, read_array_reference, read_table_reference

    data, labels = run.config.data, None
    common = dict(spec=data.spec, classes=data.classes, labels_from=data.labels, holdout=0.0)
    if run.is_image:
        images = load_images(data.spec, split="train")
        labels = images.labels if data.classes else None
        return TrainingData(images.pixels, labels=labels, scaler=images.scaler, **common)
    if run.is_table:
        rows = read_table_reference(run.path)[0]
        if LABEL in rows.columns:
            labels, rows = rows[LABEL].to_numpy(), rows.drop(columns=[LABEL])
        return TrainingData(rows, labels=labels, scaler=run.standardiser, **common)
    kept = read_array_reference(run.path)
    if kept is None:
        raise DifflabError(f"{run.path}: keeps no training rows (a run from before 0.1); retrain")
    rows, labels = kept
    return TrainingData(rows, labels=labels, scaler=run.standardiser, **common)


__all__ = ["Coupling", "METHODS", "distill", "straightness", "teacher_coupling", "teacher_data"]
