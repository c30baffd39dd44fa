"""Sampler benchmark (not a test): `python benchmarks/samplers.py`, or `difflab bench samplers`.

Peers are optional: `pip install -e '.[bench]' && pip install --no-deps k-diffusion`.
Writes benchmarks/results/samplers.json; `python benchmarks/samplers_table.py` renders the tables.
"""

import sys

from difflab.cli import cli

if __name__ == "__main__":
    cli(["bench", "samplers", *sys.argv[1:]], prog_name="difflab")
