"""Tuned grids: a grid tuned on some noise draws lands closer to the exact PF-ODE on fresh draws
than every fixed grid, at the same NFE."""

import json

import numpy as np
import torch

from difflab.data import get_toy
from difflab.sampling.schedules import make_sigmas
from difflab.sampling.tune import exact_solution as exact
from difflab.sampling.tune import grid_from, ode_error, tune_grid, z_from
from helpers import one_line_error, run, train_tiny


def test_grid_parametrisation_round_trips():
    sigmas = make_sigmas("karras", 7, 0.002, 80.0)
    again = grid_from(z_from(sigmas, 0.001), 80.0, 0.001)
    assert torch.allclose(again, sigmas, rtol=1e-10)
    z = np.random.default_rng(0).normal(size=6)
    g = grid_from(z, 80.0, 0.001)  # any z: strictly decreasing, within (σ_floor, σ_max], then 0
    assert (g[1:] < g[:-1]).all() and g[-2] > 0.001 and g[0] == 80.0 and g[-1] == 0


def test_tuned_grid_beats_every_fixed_grid_on_fresh_noise():
    mix = get_toy("25-gaussians").mixture
    draw = lambda n, s: mix.sample(n, sigma=80.0, generator=torch.Generator().manual_seed(s))  # noqa: E731
    x_t, fresh = draw(256, 3), draw(2000, 4)
    grid, info = tune_grid(mix, x_t, exact(mix, x_t), 5, "unipc")
    truth = exact(mix, fresh)
    fixed = [
        ode_error(mix, fresh, truth, make_sigmas(g, 5, 0.002, 80.0), "unipc")
        for g in ("karras", "vp-time", "log-snr")
    ]
    tuned = ode_error(mix, fresh, truth, grid, "unipc")
    assert info["tuned"] < info["start"] and len(grid) == 6
    assert tuned < 0.5 * min(fixed), (tuned, fixed)  # measured 0.074 against 0.489


def test_tune_grid_command_and_tuned_sampling(tmp_path):
    train_tiny(tmp_path / "r", "moons", 30)
    one_line_error(
        run(
            "sample",
            "--run",
            tmp_path / "r",
            "--n",
            5,
            "--out",
            tmp_path / "s.npy",
            "--steps",
            5,
            "--schedule",
            "tuned",
        ),
        "no tuned grid of 5 steps",
    )
    r = run("tune-grid", "--run", tmp_path / "r", "--nfe", 5, "--n", 64)
    assert r.exit_code == 0 and "(tuned)" in r.output, r.output
    r = run(
        "sample",
        "--run",
        tmp_path / "r",
        "--n",
        5,
        "--out",
        tmp_path / "s.npy",
        "--sampler",
        "unipc",
        "--steps",
        5,
        "--schedule",
        "tuned",
        "--no-plot",
    )
    assert r.exit_code == 0 and "on the tuned grid" in r.output, r.output


def test_nfe_picks_the_tuned_grid_else_unipc_on_vp_time(tmp_path):
    train_tiny(tmp_path / "r", "moons", 20)
    out = tmp_path / "s.npy"
    r = run(
        "sample", "--run", tmp_path / "r", "--n", 5, "--out", out, "--nfe", 6, "--no-plot",
        "--no-tune",
    )  # fmt: skip
    assert r.exit_code == 0 and "unipc, 6 steps on the vp-time grid" in r.output, r.output
    assert not (tmp_path / "r" / "grids.json").exists()
    assert (
        run(
            "tune-grid", "--run", tmp_path / "r", "--nfe", 6, "--n", 32, "--sampler", "dpmpp-2m"
        ).exit_code
        == 0
    )
    r = run(
        "sample",
        "--run",
        tmp_path / "r",
        "--n",
        5,
        "--out",
        out,
        "--nfe",
        6,
        "--no-plot",
        "--force",
    )
    assert r.exit_code == 0 and "dpmpp-2m, 6 steps on the tuned grid, NFE 6" in r.output, r.output
    one_line_error(
        run("sample", "--run", tmp_path / "r", "--out", out, "--nfe", 6, "--steps", 3, "--force"),
        "give it alone",
    )


def test_nfe_without_a_grid_tunes_unipc_and_ipndm_and_takes_the_better(tmp_path):
    train_tiny(tmp_path / "r", "moons", 20)
    out = tmp_path / "s.npy"
    r = run("sample", "--run", tmp_path / "r", "--n", 5, "--out", out, "--nfe", 5, "--no-plot")
    assert r.exit_code == 0 and "tuned a 5-NFE grid for ipndm" in r.output, r.output
    grids = json.loads((tmp_path / "r" / "grids.json").read_text())
    assert set(grids) == {"unipc@5", "ipndm@5"}
    best = min(grids, key=lambda k: grids[k]["tuned"]).split("@")[0]
    assert f"{best}, 5 steps on the tuned grid, NFE 5" in r.output, r.output
    r = run(
        "sample", "--run", tmp_path / "r", "--n", 5, "--out", out, "--nfe", 5, "--no-plot",
        "--force",
    )  # fmt: skip
    assert r.exit_code == 0 and "tuned a" not in r.output  # stored: tuned once
