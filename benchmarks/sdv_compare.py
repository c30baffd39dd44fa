"""difflab against SDV's synthesizers on real tables, scored by SDMetrics' QualityReport, fitted
on the same rows in one run: seconds to fit and the quality of the synthetic rows against
held-out real rows (beside the real-vs-real score, the ceiling).

SDV installs torch, rdt, copulas and ctgan; keep it out of difflab's environment. One-off setup
(CPU torch pinned first, so SDV does not pull a CUDA build):

    python3 -m venv /tmp/peers && /tmp/peers/bin/pip install torch==2.13.0
    /tmp/peers/bin/pip install sdv palmerpenguins vega_datasets statsmodels
    .venv/bin/python benchmarks/sdv_compare.py --peers /tmp/peers/bin/python
    # → benchmarks/results/sdv_compare.json

The tables: the Palmer penguins (rows with missing cells dropped), vega's `cars` (a name column
and a date column), statsmodels' `fair`. Each is split 80/20 with one seed; every tool fits the
80% (difflab: `train` without a budget, `--validation` the 20% for early stopping, so it sees
those rows' loss, never their values in a gradient; `--drop-na`: cars has 10 rows with a
missing cell, which SDV models and difflab refuses) and samples as many rows; SDMetrics scores
each synthetic table against the 20%, on the columns every tool writes back.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

TABLES = ("penguins", "cars", "fair")
PEERS = ("GaussianCopula", "TVAE", "CTGAN")


def peer_tables(root: Path, seed: int) -> None:
    """(peers' environment) The three tables, split 80/20 into ROOT/NAME/{train,test}.csv."""
    import palmerpenguins
    import statsmodels.api as sm
    import vega_datasets

    frames = {
        "penguins": palmerpenguins.load_penguins().dropna(),
        "cars": vega_datasets.data.cars(),
        "fair": sm.datasets.fair.load_pandas().data,
    }
    for name, df in frames.items():
        test = df.sample(frac=0.2, random_state=seed)
        (root / name).mkdir(parents=True, exist_ok=True)
        df.drop(test.index).to_csv(root / name / "train.csv", index=False)
        test.to_csv(root / name / "test.csv", index=False)


def peer_fit(root: Path, seed: int) -> None:
    """(peers' environment) Fit each SDV synthesizer on ROOT/NAME/train.csv, with SDV's own
    metadata detection and default settings, and write ROOT/NAME/NAME-SYNTH.csv."""
    import pandas as pd
    import torch
    from sdv import single_table
    from sdv.metadata import Metadata

    for name in TABLES:
        train = pd.read_csv(root / name / "train.csv")
        metadata = Metadata.detect_from_dataframes({"table": train})
        seconds = {}
        for synth in PEERS:
            torch.manual_seed(seed)
            model = getattr(single_table, f"{synth}Synthesizer")(metadata)
            start = time.perf_counter()
            model.fit({"table": train})  # SDV 2: one table, by name
            seconds[synth] = time.perf_counter() - start
            out = model.sample(len(train))
            out = out["table"] if isinstance(out, dict) else out  # SDV 2 returns either
            out.to_csv(root / name / f"{synth}.csv", index=False)
            print(f"{name}: {synth} fitted in {seconds[synth]:.1f} s", flush=True)
        (root / name / "peers.json").write_text(json.dumps(seconds))


def peer_score(root: Path) -> None:
    """(peers' environment) SDMetrics' QualityReport of every synthetic table against the
    held-out rows, on the columns all of them carry; the training rows give the ceiling."""
    import pandas as pd
    from sdmetrics.reports.single_table import QualityReport
    from sdv.metadata import Metadata

    scores = {}
    for name in TABLES:
        test = pd.read_csv(root / name / "test.csv")
        tools = {
            "real (train split)": root / name / "train.csv",
            "difflab": root / name / "difflab.csv",
        }
        tools |= {synth: root / name / f"{synth}.csv" for synth in PEERS}
        frames = {tool: pd.read_csv(path) for tool, path in tools.items()}
        common = [c for c in test.columns if all(c in f.columns for f in frames.values())]
        meta = Metadata.detect_from_dataframes({"table": test[common]}).to_dict()["tables"]["table"]
        scores[name] = {"columns": common, "left_out": sorted(set(test.columns) - set(common))}
        for tool, frame in frames.items():
            report = QualityReport()
            report.generate(test[common], frame[common], meta, verbose=False)
            props = report.get_properties().set_index("Property")["Score"]
            scores[name][tool] = {
                "quality": report.get_score(),
                "column_shapes": props["Column Shapes"],
                "column_pair_trends": props["Column Pair Trends"],
            }
    (root / "scores.json").write_text(json.dumps(scores, indent=2))


def difflab_fit(root: Path, seed: int) -> None:
    """(difflab's environment) `difflab train` without a budget on each train.csv, the test rows
    as --validation, then as many rows sampled; seconds in all and to the best checkpoint."""
    seconds = {}
    for name in TABLES:
        d = root / name
        start = time.perf_counter()
        _difflab(
            "train", "--data", d / "train.csv", "--validation", d / "test.csv",
            "--out", d / "run", "--seed", seed, "--force", "--drop-na",
        )  # fmt: skip
        total = time.perf_counter() - start
        n = sum(1 for _ in open(d / "train.csv")) - 1
        _difflab(
            "sample",
            "--run",
            d / "run",
            "--n",
            n,
            "--seed",
            seed,
            "--out",
            d / "difflab.csv",
            "--force",
        )
        curve = json.loads((d / "run" / "loss.json").read_text())["held_out"]
        best = min(curve, key=lambda r: r[1])[0]
        seconds[name] = {"total": total, "to_best": total * best / curve[-1][0], "best": best}
        print(f"{name}: difflab {total:.1f} s, best step {best}", flush=True)
    (root / "difflab.json").write_text(json.dumps(seconds))


def _difflab(*args) -> None:
    cmd = [sys.executable, "-m", "difflab", *map(str, args)]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)  # errors show


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--peers", help="python of the environment with SDV installed")
    parser.add_argument("--root", default="/tmp/difflab-sdv-compare")
    parser.add_argument("--out", default="benchmarks/results/sdv_compare.json")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--part", choices=["tables", "fit", "score"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    root = Path(args.root)
    if args.part:  # the peers' half, run in their environment
        {"tables": peer_tables, "fit": peer_fit, "score": lambda r, _: peer_score(r)}[args.part](
            root, args.seed
        )
        return
    peer = [args.peers, __file__, "--root", str(root), "--seed", str(args.seed), "--part"]
    subprocess.run([*peer, "tables"], check=True)
    difflab_fit(root, args.seed)
    subprocess.run([*peer, "fit"], check=True)
    subprocess.run([*peer, "score"], check=True)
    report(root, Path(args.out))


def report(root: Path, out: Path) -> None:
    from difflab.bench import machine

    scores = json.loads((root / "scores.json").read_text())
    ours = json.loads((root / "difflab.json").read_text())
    rows = []
    for name in TABLES:
        peers = json.loads((root / name / "peers.json").read_text())
        fit = {"difflab": ours[name]["to_best"], **peers}
        for tool, s in scores[name].items():
            if tool in ("columns", "left_out"):
                continue
            rows.append({"table": name, "tool": tool, "fit_s": fit.get(tool), **s})
            secs = "" if tool not in fit else f"{fit[tool]:7.1f} s"
            print(
                f"{name:9s} {tool:19s} quality {s['quality']:.3f} (shapes "
                f"{s['column_shapes']:.3f}, pairs {s['column_pair_trends']:.3f}) {secs}"
            )
    result = {"machine": machine(), "difflab": ours, "rows": rows, "scores": scores}
    out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
