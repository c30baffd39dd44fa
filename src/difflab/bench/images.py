"""`difflab bench images`: the digits quality table of `reproduce digits` repeated over seeds, each
stage timed, with mean ± standard deviation — one run's numbers at small n are noisy."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from ..reproduce.images import BUDGETS, left_half, quality, train_images

PER_CLASS, LEFT_HALF, PARTICLES = 36, 100, 16  # as `difflab reproduce digits`


def one_seed(seed: int, workdir: Path, log=print) -> dict:
    """Train (the full budget), then FD/accuracy/memorisation and the left-half accuracies."""
    t0 = time.perf_counter()
    run = train_images("digits", workdir, False, seed, labelled=True, log=log)
    t1 = time.perf_counter()
    classifier = run.image_classifier()[0]
    q = quality(run, classifier, PER_CLASS, seed)
    t2 = time.perf_counter()
    lh = left_half(run, classifier, LEFT_HALF, particles=PARTICLES, seed=seed)
    t3 = time.perf_counter()
    seconds = {"train": t1 - t0, "quality": t2 - t1, "left_half": t3 - t2, "total": t3 - t0}
    return {
        "seed": seed,
        "steps": run.trained_steps,
        "quality": q,
        "left_half": lh,
        "seconds": seconds,
    }


def summary(rows: list[dict]) -> dict:
    """Mean and sample standard deviation of every number over the seeds."""
    flat = [_flatten(r) for r in rows]
    out = {}
    for key in flat[0]:
        v = np.array([f[key] for f in flat], dtype=float)
        out[key] = {"mean": float(v.mean()), "sd": float(v.std(ddof=1)) if len(v) > 1 else None}
    return out


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        elif isinstance(v, (int, float)) and k != "seed":
            out[f"{prefix}{k}"] = v
    return out


def images(seeds: list[int], log=print) -> dict:
    rows = []
    for seed in seeds:
        with tempfile.TemporaryDirectory() as tmp:
            rows.append(one_seed(seed, Path(tmp), log))
        q, lh, s = rows[-1]["quality"], rows[-1]["left_half"], rows[-1]["seconds"]
        log(
            f"seed {seed}: w=1 FD {q['w=1']['fd_ratio']:.2f}× acc {q['w=1']['accuracy']:.3f}; "
            f"w=2 {q['w=2']['fd_ratio']:.2f}× {q['w=2']['accuracy']:.3f}; uncond "
            f"{q['unconditional']['fd_ratio']:.2f}×; left half {lh['right_half_alone']:.2f} → "
            f"{lh['completed_unconditional']:.2f} / {lh['completed_with_class']:.2f}; "
            f"{s['total'] / 60:.1f} min (train {s['train'] / 60:.1f})"
        )
    return {"budget_steps": BUDGETS["digits"][0], "seeds": rows, "summary": summary(rows)}


__all__ = ["images", "one_seed", "summary"]
