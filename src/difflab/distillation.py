"""One and two steps: a student distilled from a trained diffusion run (issue 25).

`distill(TEACHER, OUT, cfg)` (difflab.distill) trains the `consistency` preset (Song et al. 2023)
through the one training loop: the teacher's denoiser, in the teacher's model units, is the
objective's teacher (training/objectives.Consistency), the data are the rows the teacher trained
on, scaled by the teacher's own scaler, and the student is a run like any other (`sample`,
`evaluate`, `report`, classes and guidance kept). The student's network has the teacher's
architecture.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from .errors import DifflabError
from .run import FlowRun, Run, load_run
from .training import TrainConfig, TrainingData, train

METHODS = ("consistency",)


def distill(
    teacher: str | Path,
    out: str | Path,
    cfg: TrainConfig = TrainConfig(),
    method: str = "consistency",
    *,
    resume: bool = False,
    force: bool = False,
    progress: bool = True,
    log=print,
) -> Path:
    """Distil the diffusion run in `teacher` into a `method` student written to `out`; without a
    budget in cfg, as many steps as the teacher trained. Returns the student's run directory."""
    if method not in METHODS:
        raise DifflabError(f"unknown method {method!r}; expected one of: {', '.join(METHODS)}")
    run = load_run(teacher, cfg.device)
    _check_teacher(run, teacher)
    if cfg.steps is None and cfg.seconds is None:
        cfg = dataclasses.replace(cfg, steps=run.trained_steps)
    p_uncond = run.config.train.get("p_uncond", cfg.p_uncond)
    cfg = dataclasses.replace(cfg, p_uncond=p_uncond, teacher=str(teacher))
    model = dataclasses.replace(run.config.model, num_classes=0)  # train() sets the classes
    how = dict(resume=resume, force=force, progress=progress, log=log)
    return train(teacher_data(run), method, out, cfg, model, teacher=run.denoiser, **how)


def _check_teacher(run, path) -> None:
    """A diffusion run (flows and autoregressive models sample in one pass already), and not a
    student (distilling a distilled model compounds its error without a better ODE)."""
    if isinstance(run, FlowRun):
        raise DifflabError(
            f"{path}: a {run.name} model samples exactly in one pass already; distill a diffusion "
            "run"
        )
    if run.preset.distils:
        raise DifflabError(f"{path}: a distilled student; distill its teacher instead")


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


__all__ = ["distill", "teacher_data", "METHODS"]
