"""`difflab reproduce NAME`: the seeds' numerical experiments, as figures and a small JSON of
numbers.

Each experiment is a function (out_dir, quick, seed, log) → numbers; `reproduce` runs one into
OUT/NAME/ and writes OUT/NAME/numbers.json beside its figures.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..checkpoint import write_json
from ..errors import lookup
from . import gallery, images, lecture, sequences


@dataclass(frozen=True)
class Experiment:
    name: str
    fn: Callable[..., dict]
    summary: str


EXPERIMENTS: dict[str, Experiment] = {
    e.name: e
    for e in [
        Experiment(
            "uniform-1d",
            lecture.uniform_1d,
            "Level-1 DDPM on U[0, 1], 100 steps: histograms over the steps",
        ),
        Experiment(
            "flow-field",
            lecture.flow_field,
            "PF-ODE field over (t, x) for VP, VE, EDM with trajectories",
        ),
        Experiment(
            "steps-sweep", lecture.steps_sweep, "VP vs VE vs EDM against the number of ODE steps N"
        ),
        Experiment("torus", gallery.torus, "EDM from a 3-D Gaussian onto points on a torus"),
        Experiment(
            "toy-gallery",
            gallery.toy_gallery,
            "every preset on moons, swiss roll, 8 Gaussians, checkerboard",
        ),
        Experiment("sde-paths", lecture.sde_paths, "forward and reverse SDE paths over p_t(x)"),
        Experiment(
            "digits",
            images.digits,
            "class-conditional U-Net on 8×8 digits: grids, guidance, the left half blacked out",
        ),
        Experiment(
            "faces", images.faces, "U-Net on 25×25 faces: samples, the left half blacked out"
        ),
        Experiment(
            "sequences",
            sequences.sequences,
            "WaveNet on noisy damped oscillations (AR(2)): samples, autocorrelation, receptive "
            "field",
        ),
    ]
}


def get_experiment(name: str) -> Experiment:
    return lookup(EXPERIMENTS, name, "experiment")


def reproduce(
    name: str, out: str | Path = "runs/reproduce", quick: bool = False, seed: int = 0, log=print
) -> dict:
    """Run one experiment into OUT/NAME/; returns (and writes as numbers.json) its numbers."""
    exp = get_experiment(name)
    where = Path(out) / name
    where.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    numbers = exp.fn(where, quick, seed=seed, log=log)
    numbers = {
        "experiment": name,
        "quick": quick,
        "seed": seed,
        "seconds": time.perf_counter() - start,
        **numbers,
    }
    write_json(where / "numbers.json", numbers)
    return numbers


__all__ = ["EXPERIMENTS", "Experiment", "get_experiment", "reproduce"]
