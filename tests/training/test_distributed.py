"""Data-parallel training with torchrun (2 processes, gloo on CPU) against the single-process
run."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

from difflab.checkpoint import load_checkpoint
from difflab.run import load_run

# labelled: every rank slices the same global batch of (x0, σ, noise, class with dropout)
ARGS = [
    "train",
    "--data",
    "8-gaussians",
    "--steps",
    "150",
    "--width",
    "32",
    "--depth",
    "1",
    "--batch-size",
    "128",
    "--checkpoint-every",
    "50",
    "--n-toy",
    "4000",
    "--labels",
    "component",
]
TORCHRUN = shutil.which("torchrun", path=os.path.dirname(sys.executable)) or shutil.which(
    "torchrun"
)


def _run(cmd, **kw):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, **kw)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("ddp")
    single = _run([sys.executable, "-m", "difflab", *ARGS, "--out", str(root / "single")])
    assert single.returncode == 0, single.stderr
    ddp = _run(
        [
            TORCHRUN,
            "--standalone",
            "--nproc_per_node=2",
            "-m",
            "difflab",
            *ARGS,
            "--out",
            str(root / "ddp"),
        ]
    )
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    return root, ddp


@pytest.mark.skipif(TORCHRUN is None, reason="torchrun not found")
def test_two_processes_follow_the_single_process_run(runs):
    root, ddp = runs
    a = json.loads((root / "single" / "loss.json").read_text())["step_loss"]
    b = json.loads((root / "ddp" / "loss.json").read_text())["step_loss"]
    assert [s for s, _ in a] == [s for s, _ in b]
    # same global batch, gradients averaged by DDP: equal up to the reduction order of floats
    assert np.allclose([v for _, v in a], [v for _, v in b], rtol=1e-5)
    ta, _ = load_checkpoint(root / "single" / "checkpoint.safetensors")
    tb, meta = load_checkpoint(root / "ddp" / "checkpoint.safetensors")
    assert max(float((ta[k] - tb[k]).abs().max()) for k in ta if k.startswith("ema.")) < 1e-5
    assert meta["config"]["train"]["processes"] == 2
    assert ddp.stdout.count("run written to") == 1  # only rank 0 reports


@pytest.mark.skipif(TORCHRUN is None, reason="torchrun not found")
def test_the_ddp_checkpoint_loads_and_resumes_in_one_process(runs):
    root, _ = runs
    run = load_run(root / "ddp")
    x = run.sample(200, steps=6, cond=1)
    assert np.isfinite(x).all() and x.shape == (200, 2)
    more = _run(
        [
            sys.executable,
            "-m",
            "difflab",
            *ARGS[:4],
            "200",
            *ARGS[5:],
            "--out",
            str(root / "ddp"),
            "--resume",
        ]
    )
    assert more.returncode == 0, more.stderr
    assert (
        torch.load is not None
        and load_checkpoint(root / "ddp" / "checkpoint.safetensors")[1]["step"] == 200
    )


def test_batch_must_split_evenly(tmp_path):
    if TORCHRUN is None:
        pytest.skip("torchrun not found")
    r = _run(
        [
            TORCHRUN,
            "--standalone",
            "--nproc_per_node=2",
            "-m",
            "difflab",
            "train",
            "--data",
            "moons",
            "--steps",
            "5",
            "--batch-size",
            "127",
            "--out",
            str(tmp_path / "x"),
        ]
    )
    assert r.returncode != 0 and "divisible" in r.stderr
