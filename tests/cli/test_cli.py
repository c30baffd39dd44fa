"""The command line end to end on a tiny budget, and bad input: one line, exit code ≠ 0, nothing
lost."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from difflab.cli import cli
from helpers import train_tiny


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "run"
    train_tiny(out, "8-gaussians", steps=150, width=32)
    return out


def test_train_sample_evaluate(run_dir, tmp_path):
    assert {"checkpoint.safetensors", "config.json", "loss.json", "loss.png"} <= {
        p.name for p in run_dir.iterdir()
    }
    samples = tmp_path / "s.npy"
    r = invoke("sample", "--run", run_dir, "--n", 500, "--out", samples, "--steps", 6)
    assert r.exit_code == 0, r.output
    assert "NFE 11" in r.output
    x = np.load(samples)
    assert x.shape == (500, 2) and np.isfinite(x).all()
    # samples are in the data's units: the ring has radius 2, not the standardised ~1.4
    assert 1.2 < np.median(np.linalg.norm(x, axis=1)) < 2.8
    r = invoke("evaluate", "--run", run_dir, "--samples", samples)
    assert r.exit_code == 0, r.output
    metrics = json.loads((tmp_path / "s.metrics.json").read_text())
    assert metrics["sw2"]["floor"] > 0 and len(metrics["modes"]["counts"]) == 8
    assert (tmp_path / "s.png").exists()


def test_sampler_options_and_schedule(run_dir, tmp_path):
    out = tmp_path / "ddim.npy"
    r = invoke(
        "sample",
        "--run",
        run_dir,
        "--n",
        50,
        "--out",
        out,
        "--sampler",
        "ddim",
        "--opt",
        "eta=0.5",
        "--schedule",
        "log-snr",
        "--steps",
        8,
        "--no-plot",
    )
    assert r.exit_code == 0, r.output
    assert np.isfinite(np.load(out)).all()
    r = CliRunner().invoke(
        cli,
        [
            "sample",
            "--run",
            str(run_dir),
            "--n",
            "5",
            "--out",
            str(tmp_path / "b.npy"),
            "--sampler",
            "heun",
            "--opt",
            "eta=1",
        ],
    )
    assert r.exit_code == 2 and "no option eta" in r.output
    r = CliRunner().invoke(
        cli,
        [
            "sample",
            "--run",
            str(run_dir),
            "--n",
            "5",
            "--out",
            str(tmp_path / "b.npy"),
            "--schedule",
            "cosine",
        ],
    )
    assert r.exit_code == 2 and "unknown schedule" in r.output


def test_sample_csv_and_no_overwrite(run_dir, tmp_path):
    out = tmp_path / "s.csv"
    assert invoke("sample", "--run", run_dir, "--n", 10, "--out", out, "--no-plot").exit_code == 0
    before = out.read_bytes()
    r = invoke("sample", "--run", run_dir, "--n", 20, "--out", out)
    assert r.exit_code == 2 and "--force" in r.output and out.read_bytes() == before


@pytest.mark.parametrize(
    "args,needle",
    [
        (["train", "--data", "missing.csv", "--out", "{tmp}/r", "--steps", 5], "no such file"),
        (
            ["train", "--data", "moons", "--preset", "nope", "--out", "{tmp}/r", "--steps", 5],
            "unknown preset",
        ),
        (["train", "--data", "{tmp}/nan.csv", "--out", "{tmp}/r", "--steps", 5], "missing cells"),
        (["train", "--data", "{tmp}/cube.npy", "--out", "{tmp}/r", "--steps", 5], "N×D"),
        (["train", "--data", "moons", "--out", "{tmp}/r"], "budget"),
        (["train", "--data", "moons", "--out", "{tmp}/r", "--steps", -3], "positive"),
        (
            ["train", "--data", "moons", "--out", "{tmp}/r", "--steps", 5, "--device", "cuda:7"],
            "CUDA",
        ),
        (["sample", "--run", "{tmp}/none", "--n", 5, "--out", "{tmp}/s.npy"], "no such run"),
        (
            ["sample", "--run", "{run}", "--n", 5, "--out", "{tmp}/s.npy", "--sampler", "ddim9"],
            "unknown sampler",
        ),
        (["sample", "--run", "{run}", "--n", 5, "--out", "{tmp}/s.txt"], ".npy or .csv"),
        (["sample", "--run", "{run}", "--n", 0, "--out", "{tmp}/s.npy"], "positive"),
        (["evaluate", "--run", "{run}", "--samples", "{tmp}/wide.npy"], "columns"),
    ],
)
def test_bad_input_is_one_line(args, needle, tmp_path, run_dir):
    (tmp_path / "nan.csv").write_text("1,2\nnan,3\n")
    np.save(tmp_path / "cube.npy", np.zeros((3, 2, 2)))
    np.save(tmp_path / "wide.npy", np.zeros((10, 3)))
    args = [str(a).format(tmp=tmp_path, run=run_dir) for a in args]
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 2, r.output
    assert needle in r.output and r.output.count("\n") == 1 and "Traceback" not in r.output
    assert not (tmp_path / "r").exists() and not (tmp_path / "s.npy").exists()


def test_module_entry_point_and_help():
    r = subprocess.run([sys.executable, "-m", "difflab", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "train" in r.stdout and "sample" in r.stdout
    for cmd in ["train", "sample", "evaluate", "demo"]:
        assert invoke(cmd, "--help").exit_code == 0
    assert "heun" in invoke("samplers").output and "rectified-flow" in invoke("presets").output


def test_non_finite_samples_are_never_written_silently():
    from difflab.cli.sample import _say_non_finite
    from difflab.errors import DifflabWarning

    with pytest.warns(DifflabWarning, match="1 of 3 samples are not finite"):
        _say_non_finite(np.array([[0.0, 1.0], [np.nan, 1.0], [2.0, 3.0]]))
    with pytest.warns(DifflabWarning, match="2 of 2 samples"):
        _say_non_finite(pd.DataFrame({"a": ["x", "y"], "b": [np.inf, np.nan]}))
