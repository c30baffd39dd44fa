"""What a new user met: typed sampler options, honest resume messages, a progress bar that ends at
its total, files with the umask's mode, demo refusing to overwrite, runs evaluable from anywhere."""

import os

import numpy as np
import pytest

from difflab.training import Progress, TrainConfig
from helpers import one_line_error, run, train_tiny


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    out = tmp_path_factory.mktemp("u") / "r"
    train_tiny(out, "moons", 20)
    return out


def test_sampler_options_are_typed(small, tmp_path):
    out = tmp_path / "s.npy"
    one_line_error(
        run(
            "sample",
            "--run",
            small,
            "--n",
            4,
            "--out",
            out,
            "--sampler",
            "ddim",
            "--opt",
            "eta=abc",
        ),
        "option eta='abc' must be a number",
    )
    r = run(
        "sample",
        "--run",
        small,
        "--n",
        4,
        "--out",
        out,
        "--sampler",
        "ddim",
        "--opt",
        "eta=1",
        "--schedule",
        "log-snr",
        "--no-plot",
    )
    assert r.exit_code == 0, r.output
    assert "ddim, eta=1, 18 steps on the log-snr grid" in r.output  # what ran, said


def test_a_finished_run_has_nothing_to_do(small):
    before = (small / "checkpoint.safetensors").stat().st_mtime_ns
    r = run(
        "train",
        "--data",
        "moons",
        "--out",
        small,
        "--steps",
        10,
        "--resume",
        "--width",
        16,
        "--depth",
        1,
    )
    assert r.exit_code == 0 and "nothing to do: " in r.output and "already at step 20" in r.output
    assert "trained" not in r.output and "run written" not in r.output
    assert (small / "checkpoint.safetensors").stat().st_mtime_ns == before
    # a finished run asked to resume with another model is refused, not "nothing to do"
    r = run("train", "--data", "moons", "--out", small, "--steps", 10, "--resume",
            "--width", 32, "--depth", 1)  # fmt: skip
    assert r.exit_code == 2 and "cannot resume" in r.output, r.output
    assert (small / "checkpoint.safetensors").stat().st_mtime_ns == before


def test_progress_ends_at_its_total(capsys):
    bar = Progress(TrainConfig(steps=10), 0, True)
    bar.log(5, 0.1, 1.0, 100.0)
    bar.close(10, 0.2)  # 10 steps with a log interval of 25: the bar still reaches 10/10
    assert "10/10" in capsys.readouterr().err
    timed = Progress(TrainConfig(seconds=3.0), 0, True)
    timed.log(25, 1.0, 1.0, 100.0)
    timed.close(60, 3.2)
    assert "3/3 s" in capsys.readouterr().err


def test_a_collapse_of_throughput_is_reported_once(capsys):
    bar = Progress(TrainConfig(steps=100), 0, True)
    for step, rate in enumerate([900, 1000, 300, 250, 200, 200, 100], start=1):
        bar.log(step, step, 1.0, rate)
    bar.close(100, 10)
    err = capsys.readouterr().err
    assert err.count("warning: training slowed from 1,000 to 200 samples/s") == 1


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600)])
def test_written_files_follow_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        train_tiny(tmp_path / "r", "moons", 3)
    finally:
        os.umask(old)
    for name in ("checkpoint.safetensors", "config.json", "loss.json", "loss.png"):
        assert (tmp_path / "r" / name).stat().st_mode & 0o777 == mode, name


def test_demo_refuses_to_overwrite(small):
    one_line_error(run("demo", "--out", small, "--seconds", 1), "--force to overwrite")


def test_python_trained_and_tiny_runs_evaluate_and_report(tmp_path, monkeypatch):
    from difflab import load_run
    from difflab.report import build_report
    from difflab.training import ModelConfig, train

    x = np.random.default_rng(0).normal(size=(3, 2))  # three rows: no room for a noise floor
    train(
        x,
        "edm",
        tmp_path / "py",
        TrainConfig(steps=5, batch_size=8),
        ModelConfig(width=8, depth=1),
        progress=False,
        log=lambda *_: None,
    )
    monkeypatch.chdir(tmp_path.parent)
    r = load_run(tmp_path / "py")
    m = r.evaluate(r.sample(50, steps=3))
    assert m["sw2"]["floor"] is None and "no noise floor" in m["warning"]
    build_report(tmp_path / "py", n=50, log=lambda *_: None)
    assert "no noise floor" in (tmp_path / "py" / "report" / "index.html").read_text()
