"""The seeds' image examples: p(x; c) for a class c, and "the left half blacked out: hallucinate the
other half" — on digits (class-conditional) and faces (unconditional), with measured numbers."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data.images import image_mask, load_images
from ..image_metrics import class_accuracy
from ..models import ModelConfig
from ..run import Run
from ..training import TrainConfig, TrainingData, train

# step budgets (machine-independent numbers): digits' 3,000 steps ≈ 6.5 min on 2 idle cores (7.7
# steps/s), leaving the 10-minute budget's rest to the metrics and the left-half completions
BUDGETS = {"digits": (3000, 600, 64), "faces": (1500, 100, 32)}  # steps, quick steps, quick batch


def train_images(spec: str, out: Path, quick: bool, seed: int, labelled: bool, log=print) -> Run:
    """The reproduction's U-Net on a built-in set (BUDGETS: full or --quick), written to OUT/run."""
    steps, quick_steps, batch = BUDGETS[spec]
    images = load_images(spec)
    model = ModelConfig(type="unet", channels=16 if quick else 32)
    train(
        TrainingData(
            images.pixels,
            spec=spec,
            labels=images.labels if labelled else None,
            classes=images.classes if labelled else None,
            labels_from="class" if labelled else None,
            scaler=images.scaler,
        ),
        "edm",
        out / "run",
        TrainConfig(
            steps=quick_steps if quick else steps, batch_size=batch if quick else 128, seed=seed
        ),
        model,
        force=True,
        progress=True,  # a bar on stderr: the full budgets take minutes
        log=lambda *_: None,
    )
    run = Run.load(out / "run")
    what = "class-conditional U-Net" if labelled else "U-Net"
    log(f"  trained a {what} on {spec}: {run.trained_steps} steps")
    return run


def quality(run: Run, classifier, per_class: int, seed: int = 0) -> dict:
    """FD ÷ floor, class accuracy (by `classifier`) and memorisation at w = 1, w = 2 and
    unconditionally."""
    labels = [c for c in run.classes for _ in range(per_class)]
    out = {}
    for name, kw in [
        ("w=1", {"cond": labels}),
        ("w=2", {"cond": labels, "guidance": 2.0}),
        ("unconditional", {"unconditional": True}),
    ]:
        x = run.sample(len(labels), seed=seed, **kw)
        m = run.evaluate(x)
        out[name] = {
            "fd_ratio": m["fd"]["ratio"],
            "fd": m["fd"]["value"],
            "fd_floor": m["fd"]["floor"],
            "memorised": m["memorisation"]["samples"],
            "memorised_held_out": m["memorisation"]["held_out"],
        }
        if "cond" in kw:
            y = np.repeat(np.arange(len(run.classes)), per_class)
            out[name]["accuracy"] = class_accuracy(classifier, run.standardiser.forward(x), y)
    return out


def left_half(
    run: Run, classifier, n: int, particles: int = 16, steps: int | None = None, seed: int = 0
) -> dict:
    """Classifier accuracy on n held-out images: whole, right half alone (left blacked out),
    completions of the unconditional model, and completions given the true class."""
    test = load_images(run.config.data.spec, split="test")
    x, y = test.pixels[:n], test.labels[:n]
    observed = np.broadcast_to(image_mask("left-half", run.shape), x.shape)
    opts = {"particles": particles, "steps": steps, "seed": seed, "batch_size": 50}
    unconditional = run.inpaint(x, observed, unconditional=True, **opts)
    given = np.empty_like(x)
    for c in np.unique(y):
        given[y == c] = run.inpaint(x[y == c], observed[y == c], cond=int(c), **opts)
    acc = lambda v: class_accuracy(classifier, run.standardiser.forward(v), y)  # noqa: E731
    return {
        "n": int(n),
        "particles": particles,
        "whole": acc(x),
        "right_half_alone": acc(np.where(observed, x, run.standardiser.lo)),
        "completed_unconditional": acc(unconditional),
        "completed_with_class": acc(given),
    }


def _smc(quick: bool) -> dict:
    """Inpainting effort: a few particles and levels for --quick, else 16 particles, 50 levels."""
    return {"particles": 4, "steps": 10} if quick else {"particles": 16, "steps": None}


def digits(out: Path, quick: bool, seed: int = 0, log=print) -> dict:
    """Class-conditional U-Net on digits: sample grid, class × guidance grid, left-half inpainting,
    FD/accuracy/memorisation and the left-half accuracies."""
    from ..report import image_figures

    run = train_images("digits", out, quick, seed, labelled=True, log=log)
    x = run.sample(64, seed=seed, unconditional=True)
    image_figures(run, out, x, "digits: unconditional samples", seed, **_smc(quick))
    classifier = run.image_classifier()[0]  # trained or loaded once for both
    numbers = {
        "train_steps": run.trained_steps,
        "quality": quality(run, classifier, 4 if quick else 36, seed),
        "left_half": left_half(run, classifier, 20 if quick else 100, seed=seed, **_smc(quick)),
    }
    q, lh = numbers["quality"], numbers["left_half"]
    log(
        f"  w=1: FD {q['w=1']['fd_ratio']:.2f}× floor, accuracy {100 * q['w=1']['accuracy']:.1f}%; "
        f"w=2: {q['w=2']['fd_ratio']:.2f}×, {100 * q['w=2']['accuracy']:.1f}%; "
        f"unconditional {q['unconditional']['fd_ratio']:.2f}×"
    )
    log(
        f"  left half: right half alone {100 * lh['right_half_alone']:.1f}%, completions "
        f"{100 * lh['completed_unconditional']:.1f}% "
        f"(with the class {100 * lh['completed_with_class']:.1f}%)"
    )
    return numbers


def faces(out: Path, quick: bool, seed: int = 0, log=print) -> dict:
    """Unconditional U-Net on 80 faces (25×25): sample grid and left-half completions (smc)."""
    from ..report import image_figures

    run = train_images("faces", out, quick, seed, labelled=False, log=log)
    x = run.sample(36, seed=seed)
    image_figures(run, out, x, "faces: samples", seed, **_smc(quick))
    m = run.evaluate(x)
    log(
        f"  memorised {100 * m['memorisation']['samples']:.1f}% of samples "
        f"({100 * m['memorisation']['held_out']:.1f}% of held-out faces)"
    )
    return {"train_steps": run.trained_steps, "memorisation": m["memorisation"]}


__all__ = ["digits", "faces", "quality", "left_half", "train_images", "BUDGETS"]
