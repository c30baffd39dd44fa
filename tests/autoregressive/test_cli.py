"""MADE and WaveNet through the same train / sample / likelihood / evaluate / inpaint / report
commands as every model, with class labels, and their errors."""

import json

import numpy as np
import pytest

from helpers import one_line_error, run


@pytest.fixture(scope="module")
def made_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("made") / "run"
    r = run("train", "--data", "8-gaussians", "--model", "made", "--out", out, "--steps", 40,
            "--width", 32, "--depth", 1, "--components", 4, "--order", "reverse")  # fmt: skip
    assert r.exit_code == 0, r.output
    return out


def test_made_samples_likelihood_evaluate_report(made_run, tmp_path):
    cfg = json.loads((made_run / "config.json").read_text())
    assert cfg["model"]["type"] == "made" and cfg["model"]["order"] == "reverse"
    r = run("sample", "--run", made_run, "--n", 300, "--out", tmp_path / "s.npy", "--seed", 3)
    assert r.exit_code == 0 and "exact samples, made" in r.output, r.output
    a = np.load(tmp_path / "s.npy")
    again = run("sample", "--run", made_run, "--n", 5, "--out", tmp_path / "t.npy", "--seed", 3)
    assert again.exit_code == 0
    assert np.array_equal(np.load(tmp_path / "t.npy"), a[:5])  # sample i depends on (seed, i)
    r = run("likelihood", "--run", made_run, "--data", "8-gaussians", "--n", 200)
    assert r.exit_code == 0 and "exact" in r.output, r.output
    r = run("evaluate", "--run", made_run, "--samples", tmp_path / "s.npy")
    assert r.exit_code == 0, r.output
    r = run("report", made_run, "--n", 300)
    assert r.exit_code == 0, r.output


def test_made_inpaints_rows_and_keeps_known_values(made_run, tmp_path):
    rows = np.array([[1.5, np.nan], [np.nan, -0.5], [np.nan, np.nan], [0.1, 0.2]])
    np.save(tmp_path / "gaps.npy", rows)
    r = run("inpaint", "--run", made_run, "--data", tmp_path / "gaps.npy", "--out",
            tmp_path / "f.npy", "--particles", 16)  # fmt: skip
    assert r.exit_code == 0 and "exact, 16 particles" in r.output, r.output
    filled = np.load(tmp_path / "f.npy")
    known = np.isfinite(rows)
    assert np.array_equal(filled[known], rows[known]) and np.isfinite(filled).all()
    one_line_error(
        run(
            "inpaint",
            "--run",
            made_run,
            "--data",
            tmp_path / "gaps.npy",
            "--out",
            tmp_path / "g.npy",
            "--method",
            "repaint",
        ),  # fmt: skip
        "completes rows exactly",
    )


def test_conditional_wavenet_needs_a_class(tmp_path):
    x = np.cumsum(np.random.default_rng(0).normal(size=(400, 12)), axis=1)
    labels = (x[:, -1] > 0).astype(int)
    np.savez(tmp_path / "seq.npz", x=x, y=labels)
    r = run("train", "--data", tmp_path / "seq.npz", "--key", "x", "--labels", "y",
            "--model", "wavenet", "--out", tmp_path / "w", "--steps", 20, "--channels", 8,
            "--layers", 3, "--components", 2)  # fmt: skip
    assert r.exit_code == 0, r.output
    out = tmp_path / "s.npy"
    one_line_error(run("sample", "--run", tmp_path / "w", "--n", 4, "--out", out), "give a class")
    for extra in (["--class", 1], ["--unconditional"]):
        r = run("sample", "--run", tmp_path / "w", "--n", 4, "--out", out, "--force", *extra)
        assert r.exit_code == 0, r.output
        assert np.load(out).shape == (4, 12)
    one_line_error(
        run(
            "sample",
            "--run",
            tmp_path / "w",
            "--n",
            4,
            "--out",
            out,
            "--force",
            "--class",
            1,
            "--guidance",
            2,
        ),  # fmt: skip
        "without guidance",
    )


def test_bad_autoregressive_options(tmp_path):
    out = tmp_path / "r"
    one_line_error(
        run(
            "train",
            "--data",
            "moons",
            "--model",
            "made",
            "--order",
            "0,0",
            "--out",
            out,
            "--steps",
            1,
        ),  # fmt: skip
        "permutation of 0…1",
    )
    one_line_error(
        run(
            "train",
            "--data",
            "moons",
            "--model",
            "wavenet",
            "--preset",
            "vp",
            "--out",
            out,
            "--steps",
            1,
        ),  # fmt: skip
        "maximum likelihood",
    )
    one_line_error(
        run("train", "--data", "moons", "--order", "reverse", "--out", out, "--steps", 1),
        "--order sets",
    )
    r = run("train", "--data", "digits", "--model", "made", "--out", out, "--steps", 1)
    assert r.exit_code == 2 and "a made model takes vectors" in r.output, r.output
    assert "Traceback" not in r.output and not out.exists()
