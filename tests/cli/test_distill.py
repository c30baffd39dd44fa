"""`difflab distill`: a student is a run like any other, sampled in one step by default; what
needs a denoiser is refused for it, and bad teachers are refused before anything is written."""

import json

import numpy as np
import pytest
from helpers import one_line_error, run, train_tiny


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("distill")
    train_tiny(root / "teacher", "8-gaussians", 30, 16, "--labels", "component")
    r = run("distill", "--run", root / "teacher", "--out", root / "student", "--steps", 20)
    assert r.exit_code == 0, r.output
    return root


def test_the_student_is_a_labelled_run_sampled_in_one_step(runs, tmp_path):
    config = json.loads((runs / "student" / "config.json").read_text())
    teacher = json.loads((runs / "teacher" / "config.json").read_text())
    assert config["preset"] == "consistency" and config["train"]["teacher"] == str(runs / "teacher")
    assert config["data"]["classes"] == teacher["data"]["classes"]
    assert config["data"]["standardiser"] == teacher["data"]["standardiser"]  # the teacher's units
    r = run(
        "sample", "--run", runs / "student", "--n", 50, "--class", 1, "--out", tmp_path / "s.npy"
    )
    assert r.exit_code == 0, r.output
    assert "NFE 1" in r.output and np.isfinite(np.load(tmp_path / "s.npy")).all()


@pytest.mark.parametrize(
    "args, needle",
    [
        (["sample", "--sampler", "heun", "--n", 5, "--unconditional"], "no denoiser"),
        (["likelihood", "--data", "8-gaussians", "--n", 5], "no denoiser"),
    ],
)
def test_what_needs_a_denoiser_is_refused_for_a_student(runs, tmp_path, args, needle):
    cmd, *rest = args
    out = ["--out", tmp_path / "x.npy"] if cmd == "sample" else []
    one_line_error(run(cmd, "--run", runs / "student", *rest, *out), needle)
    assert not (tmp_path / "x.npy").exists()


def test_bad_teachers_and_budgets_are_refused_before_anything_is_written(runs, tmp_path):
    train_tiny(tmp_path / "flow", "moons", 5, 16, "--model", "realnvp")
    cases = [
        (["--run", tmp_path / "flow"], "exactly in one pass already"),
        (["--run", runs / "student"], "no ODE to distil"),
        (["--run", runs / "teacher", "--steps", 0], "--steps"),
        (["--run", tmp_path / "none"], "none"),
    ]
    for args, needle in cases:
        r = run("distill", *args, "--out", tmp_path / "s")
        one_line_error(r, needle)
        assert not (tmp_path / "s").exists()


def test_a_reflow_student_is_a_denoiser_with_its_teachers_classes(runs, tmp_path):
    """Reflow gives a rectified-flow run sampled with 1 Euler step by default, whose paths are
    measured straighter than the teacher's, and which keeps everything a denoiser gives."""
    out = tmp_path / "rf"
    r = run("distill", "--run", runs / "teacher", "--method", "reflow", "--out", out,
            "--steps", 20, "--pairs", 500)  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "500 pairs" in r.output and "straightness" in r.output
    config = json.loads((out / "config.json").read_text())
    assert config["preset"] == "reflow" and config["train"]["teacher"] == str(runs / "teacher")
    r = run("sample", "--run", out, "--n", 20, "--class", 0, "--out", tmp_path / "s.npy")
    assert r.exit_code == 0 and "NFE 1" in r.output, r.output
    r = run("likelihood", "--run", out, "--data", "8-gaussians", "--n", 5)
    assert r.exit_code == 0, r.output


def test_a_teacher_still_training_is_refused_and_a_stale_lock_is_not(runs, tmp_path):
    import os
    import shutil
    import socket
    import subprocess
    import sys

    teacher = tmp_path / "teacher"
    shutil.copytree(runs / "teacher", teacher)
    lock = teacher / "training.lock"
    lock.write_text(f"{socket.gethostname()} {os.getpid()}\n")  # this process: alive
    one_line_error(run("distill", "--run", teacher, "--out", tmp_path / "s"), "still training")
    assert not (tmp_path / "s").exists()
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()  # fmt: skip
    lock.write_text(f"{socket.gethostname()} {gone}\n")  # a killed run's lock: ignored
    r = run("distill", "--run", teacher, "--out", tmp_path / "s", "--steps", 2)
    assert r.exit_code == 0, r.output


def test_training_holds_a_lock_only_while_it_runs(tmp_path, monkeypatch):
    import difflab.training.fit as fit

    seen = []

    def loop(state, batches, cfg, run_dir, *rest):
        seen.append((run_dir / "training.lock").read_text().split()[1])
        return real(state, batches, cfg, run_dir, *rest)

    real = fit.run_loop
    monkeypatch.setattr(fit, "run_loop", loop)
    fit.train(np.random.default_rng(0).normal(size=(64, 2)), "edm", tmp_path / "r",
              fit.TrainConfig(steps=2), progress=False, log=lambda *_: None)  # fmt: skip
    import os

    assert seen == [str(os.getpid())] and not (tmp_path / "r" / "training.lock").exists()
