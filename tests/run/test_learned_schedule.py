"""A `vdm` run keeps the schedule it learned (in its safetensors, with the weights) and uses it:
its time-uniform grid is σ_η on uniform t, its bound draws from it between its own ends; a
discrete recipe's bound is the T-step one on its trained levels."""

import numpy as np
import pytest
import torch
from helpers import one_line_error, run

from difflab.run import load_run
from difflab.training import ModelConfig, TrainConfig, train


@pytest.fixture(scope="module")
def vdm_run(tmp_path_factory):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 2)) * [1.0, 0.5]
    out = tmp_path_factory.mktemp("vdm") / "run"
    cfg = TrainConfig(steps=40, batch_size=128, lr=1e-2)
    train(x, "vdm", out, cfg, ModelConfig(width=16, depth=1), progress=False, log=lambda *_: None)
    return load_run(out), x


def test_the_schedule_is_trained_saved_and_loaded(vdm_run):
    from safetensors.torch import load_file

    from difflab.learned_schedule import LearnedSchedule

    r, _ = vdm_run
    saved = load_file(str(r.path / "checkpoint.safetensors"))
    learned = r.learned_schedule.state_dict()
    assert learned and all(
        torch.equal(v.cpu(), saved[f"ema.schedule.{k}"]) for k, v in learned.items()
    ), sorted(saved)
    fresh = LearnedSchedule(r.process.sigma_min, r.process.sigma_max).state_dict()
    assert any(not torch.equal(fresh[k], v) for k, v in learned.items())  # it moved
    lo, hi = r.preset.sampling_range()
    assert (r.process.sigma_min, r.process.sigma_max) == (lo, hi)


def test_grids_and_the_bound_use_it(vdm_run):
    r, x = vdm_run
    grid = r.sigmas(6, "time-uniform")
    t = torch.linspace(1, 0, 6, dtype=torch.float64)
    assert torch.allclose(grid[:-1], r.process.sigma(t), rtol=1e-9) and grid[-1] == 0
    stats = {}
    lp = r.log_prob(x[:20], method="vlb", steps=8, stats=stats)
    assert np.isfinite(lp).all() and "learned schedule" in stats["bound"]


def test_a_discrete_recipe_is_bounded_on_its_own_levels(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 2))
    out = tmp_path / "ddpm"
    cfg = TrainConfig(steps=5, batch_size=64)
    train(x, "ddpm", out, cfg, ModelConfig(width=16, depth=1), progress=False, log=lambda *_: None)
    r, stats = load_run(out), {}
    r.log_prob(x[:10], method="vlb", steps=4, stats=stats)
    levels = r.preset.noise.sigmas(r.preset.process)
    kept = int(((levels >= 0.002) & (levels <= 80.0)).sum())
    assert f"the {kept - 1}-step bound" in stats["bound"]


def test_a_preset_with_its_own_schedule_refuses_another_weighting(tmp_path):
    r = run("train", "--data", "moons", "--preset", "vdm", "--weighting", "vlb",
            "--steps", 5, "--out", tmp_path / "r")  # fmt: skip
    one_line_error(r, "trains for likelihood already")
    assert not (tmp_path / "r").exists()


def test_the_likelihood_stops_at_the_highest_level_the_recipe_trained_at(vdm_run):
    """A vdm run integrated to σ 80 was 62 nats off on 8-gaussians (its ε-network never saw
    σ above the data's σ_max): the PF-ODE and the bound start where its schedule ends."""
    from difflab.presets import get_preset

    r, x = vdm_run
    hi = r.process.sigma_max
    assert r.preset.trained_sigma_max == hi
    assert get_preset("edm").adapt(1.0, 5.0).likelihood_weighted().trained_sigma_max == 5.0
    assert get_preset("edm").adapt(1.0, 5.0).trained_sigma_max is None  # log-normal: unbounded
    stats = {}
    far = r.log_prob(x[:8], method="euler", steps=8, sigma_max=80.0, stats=stats)
    assert stats["sigma_max"] == hi
    assert np.array_equal(far, r.log_prob(x[:8], method="euler", steps=8, sigma_max=hi))
