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
        (["--run", runs / "student"], "distill its teacher instead"),
        (["--run", runs / "teacher", "--steps", 0], "--steps"),
        (["--run", tmp_path / "none"], "none"),
    ]
    for args, needle in cases:
        r = run("distill", *args, "--out", tmp_path / "s")
        one_line_error(r, needle)
        assert not (tmp_path / "s").exists()
