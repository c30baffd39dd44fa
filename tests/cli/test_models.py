"""likelihood, compare and neural-ode from the command line, on tiny budgets."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from difflab.cli import cli


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="module")
def flow_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("flow") / "run"
    r = invoke(
        "train",
        "--data",
        "8-gaussians",
        "--model",
        "realnvp",
        "--out",
        out,
        "--steps",
        200,
        "--width",
        32,
        "--depth",
        2,
        "--layers",
        4,
    )
    assert r.exit_code == 0, r.output
    return out


def test_flow_samples_exactly_and_refuses_sampler_options(flow_run, tmp_path):
    r = invoke("sample", "--run", flow_run, "--n", 300, "--out", tmp_path / "s.npy")
    assert r.exit_code == 0, r.output
    assert np.isfinite(np.load(tmp_path / "s.npy")).all()
    r = invoke(
        "sample", "--run", flow_run, "--n", 30, "--out", tmp_path / "t.npy", "--sampler", "euler"
    )
    assert r.exit_code == 2 and "samples exactly" in r.output
    assert not (tmp_path / "t.npy").exists()


def test_flow_rejects_a_preset(tmp_path):
    r = invoke(
        "train",
        "--data",
        "moons",
        "--model",
        "nice",
        "--preset",
        "ddpm",
        "--out",
        tmp_path / "x",
        "--steps",
        5,
    )
    assert r.exit_code == 2 and "maximum likelihood" in r.output


def test_likelihood_of_a_flow_and_its_json(flow_run, tmp_path):
    r = invoke(
        "likelihood",
        "--run",
        flow_run,
        "--data",
        "8-gaussians",
        "--n",
        500,
        "--json",
        tmp_path / "l.json",
    )
    assert r.exit_code == 0, r.output
    result = json.loads((tmp_path / "l.json").read_text())
    assert np.isfinite(result["nll"]) and result["nll_se"] > 0
    assert result["bits_per_dim"] == pytest.approx(result["nll"] / 2 / np.log(2))
    assert "true density" in r.output


def test_likelihood_of_a_diffusion_run_and_bad_input(tmp_path):
    run = tmp_path / "edm"
    assert (
        invoke(
            "train", "--data", "moons", "--out", run, "--steps", 100, "--width", 32, "--depth", 1
        ).exit_code
        == 0
    )
    r = invoke(
        "likelihood",
        "--run",
        run,
        "--data",
        "moons",
        "--n",
        100,
        "--method",
        "rk4",
        "--steps",
        8,
        "--hutchinson",
        2,
    )
    assert r.exit_code == 0, r.output
    assert "NFE 32" in r.output
    r = invoke("likelihood", "--run", run, "--data", "torus", "--n", 10)
    assert r.exit_code == 2 and "3 columns" in r.output
    r = invoke("likelihood", "--run", run, "--data", "moons", "--hutchinson", -1)
    assert r.exit_code == 2 and "--hutchinson" in r.output


def test_neural_ode_example(tmp_path):
    r = invoke(
        "neural-ode",
        "--steps",
        100,
        "--trajectories",
        16,
        "--points",
        11,
        "--out",
        tmp_path / "node",
    )
    assert r.exit_code == 0, r.output
    report = json.loads((tmp_path / "node" / "results.json").read_text())
    assert (
        report["rollout_rmse"]["rk4, d = Δ"]["rmse"]
        < report["rollout_rmse"]["euler, d = Δ"]["rmse"]
    )
    assert (tmp_path / "node" / "trajectories.png").exists()
    r = invoke("neural-ode", "--system", "pendulum", "--out", tmp_path / "n2")
    assert r.exit_code == 2 and "unknown system" in r.output


def test_compare_trains_three_families_and_reports(tmp_path):
    r = invoke(
        "compare", "--data", "8-gaussians", "--seconds", 2, "--n-eval", 100, "--out", tmp_path / "c"
    )
    assert r.exit_code == 0, r.output
    report = json.loads((tmp_path / "c" / "compare.json").read_text())
    assert list(report["models"]) == ["edm", "vdm", "realnvp", "made"]
    assert [m["kind"] for m in report["models"].values()] == [
        "diffusion",
        "diffusion",
        "flow",
        "autoregressive",
    ]
    for m in report["models"].values():
        assert np.isfinite(m["nll"]) and m["steps_per_second"] == m["steps"] / 2
        assert m["sample_seconds_per_1000"] > 0
        assert ("vlb_nll" in m) == (m["kind"] == "diffusion")  # the bound beside the PF-ODE
    assert "VLB" in r.output
    assert (tmp_path / "c" / "samples.png").exists()
    r = invoke("compare", "--data", "uniform-1d", "--seconds", 1, "--out", tmp_path / "d")
    assert r.exit_code == 2 and "dimension" in r.output
