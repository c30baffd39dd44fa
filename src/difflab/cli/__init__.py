"""The command line: parse → library call → files. Nothing in the library imports this package."""

from . import bench, core, models  # noqa: F401  (each module registers its commands on the group)
from .base import cli


def main() -> None:
    cli(prog_name="difflab")


__all__ = ["cli", "main"]
