"""The command line: parse → library call → files. Nothing in the library imports this package.

One module per command or small group: train (train, demo), distill, sample (sample, tune-grid),
inpaint, evaluate (evaluate, report), info (presets, datasets, samplers), models (likelihood,
compare, neural-ode, reproduce), bench (the bench group). base: the group, errors as one line,
option types; common: what several commands share."""

# each module registers its commands on the group
from . import bench, distill, evaluate, info, inpaint, models, sample, train  # noqa: F401
from .base import cli


def main() -> None:
    cli(prog_name="difflab")


__all__ = ["cli", "main"]
