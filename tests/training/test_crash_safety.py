"""A run killed with SIGKILL (or stopped with SIGTERM) and resumed ends bit-identical to one that
was never interrupted: checkpoints are atomic and hold weights, EMA, optimizer, RNG and history."""

import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from difflab.checkpoint import load_checkpoint

ARGS = [
    "train",
    "--data",
    "8-gaussians",
    "--width",
    "32",
    "--depth",
    "1",
    "--batch-size",
    "64",
    "--checkpoint-every",
    "25",
    "--n-toy",
    "2000",
]
STEPS = 1500


def _cmd(out, *extra):
    return [
        sys.executable,
        "-m",
        "difflab",
        *ARGS,
        "--steps",
        str(STEPS),
        "--out",
        str(out),
        *extra,
    ]


def _wait_for_checkpoint(path, proc, min_step=100, timeout=120):
    start = time.time()
    while time.time() - start < timeout:
        if proc.poll() is not None:
            pytest.fail(f"training ended before it could be interrupted: {proc.stderr.read()}")
        try:
            if load_checkpoint(path)[1]["step"] >= min_step:
                return
        except Exception:  # noqa: BLE001 - not written yet
            pass
        time.sleep(0.05)
    pytest.fail("no checkpoint appeared")


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("straight") / "run"
    assert subprocess.run(_cmd(out), capture_output=True).returncode == 0
    return load_checkpoint(out / "checkpoint.safetensors")


def _assert_same(a, b):
    (ta, ma), (tb, mb) = a, b
    assert ma["step"] == mb["step"] == STEPS
    assert ma["history"] == mb["history"]
    for k in ta:
        assert torch.equal(ta[k], tb[k]), k


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_interrupted_and_resumed_equals_uninterrupted(tmp_path, uninterrupted, how):
    out = tmp_path / "run"
    proc = subprocess.Popen(_cmd(out), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for_checkpoint(out / "checkpoint.safetensors", proc)
    os.kill(proc.pid, how)
    proc.wait(timeout=60)
    stopped = load_checkpoint(out / "checkpoint.safetensors")[1]["step"]
    assert 0 < stopped < STEPS
    if how == signal.SIGTERM:  # a clean stop: checkpoint at the step it stopped, exit 130, one line
        assert proc.returncode == 130
        assert "continue with --resume" in proc.stderr.read()
        assert (out / "loss.png").exists()  # the curve so far is drawn on a clean stop
    else:
        assert proc.returncode == -signal.SIGKILL
    resumed = subprocess.run(_cmd(out, "--resume"), capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming {out} from step {stopped}" in resumed.stdout
    _assert_same(uninterrupted, load_checkpoint(out / "checkpoint.safetensors"))
