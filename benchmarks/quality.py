"""Quality benchmark (not a test): `python benchmarks/quality.py [--seconds 60]`, or `difflab bench
quality`.

Writes benchmarks/results/quality.json; the table in docs/benchmarks.md is made from it.
"""

import sys

from difflab.cli import cli

if __name__ == "__main__":
    cli(["bench", "quality", *sys.argv[1:]], prog_name="difflab")
