"""`difflab bench autoregressive`: how fast the autoregressive models sample and score.

MADE samples D entries one after another (D network passes, each entry a mixture CDF inverted by
safeguarded Newton); WaveNet samples T steps with its cache (every layer once per step) or without
(the whole prefix again at every step). Models are trained briefly on 64-step AR(2) sequences (the
`reproduce sequences` law) so the mixtures are realistic; times are best of `repeats`.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import torch

from . import machine
from ..checkpoint import write_json
from ..models import ModelConfig
from ..reproduce.sequences import ar2_law, draw_sequences
from ..run import FlowRun
from ..training import TrainConfig, train


def _best(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def autoregressive_speed(
    out_dir: Path, n: int = 10_000, steps: int = 300, repeats: int = 3, log=print
) -> dict:
    law = ar2_law(64)
    data = draw_sequences(law, 20_000, 0)
    rows = {}
    for name, model in [
        ("made", ModelConfig(type="made")),
        ("wavenet", ModelConfig(type="wavenet", channels=32, layers=6, components=4)),
    ]:
        log(f"training {name} for {steps} steps on 64-D AR(2) sequences")
        start = time.perf_counter()
        cfg = TrainConfig(steps=steps, seed=0)
        train(
            data, "edm", out_dir / name, cfg, model, force=True, progress=False, log=lambda *_: None
        )
        train_s = time.perf_counter() - start
        run = FlowRun.load(out_dir / name)
        sample_s = _best(lambda run=run: run.sample(n, seed=1), repeats)
        x = data[:n]
        score_s = _best(lambda run=run: run.log_prob(x), repeats)
        rows[name] = {
            "config": dataclasses.asdict(model),
            "train_steps_per_second": steps / train_s,
            "sample_seconds": sample_s,
            "samples": n,
            "log_prob_seconds": score_s,
        }
        if name == "wavenet":
            z = torch.randn(200, 64, generator=torch.Generator().manual_seed(2))
            with torch.no_grad():
                cached = _best(lambda: run.flow.sample(z), repeats)
                again = _best(lambda: run.flow.sample(z, cache=False), 1)
            rows[name] |= {"cached_200_seconds": cached, "recomputed_200_seconds": again}
        log(
            f"  {name}: {n:,} samples of 64 dimensions in {sample_s:.2f} s; "
            f"log p in {score_s:.2f} s"
        )
    return {
        "machine": machine(),
        "torch_threads": torch.get_num_threads(),
        "rows": rows,
    }


def run(out: str | Path, log=print, **kwargs) -> dict:
    """The benchmark into `out` (JSON); the trained models go to a temporary directory."""
    import tempfile

    out = Path(out)
    with tempfile.TemporaryDirectory() as tmp:
        report = autoregressive_speed(Path(tmp), log=log, **kwargs)
    write_json(out, report)
    return report


__all__ = ["autoregressive_speed", "run"]
