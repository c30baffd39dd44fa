"""Every sampler × every preset on tiny trained models: finite samples, NFE as the registry says."""

import numpy as np
import pytest
import torch

from difflab.data import load_data
from difflab.presets import PRESETS
from difflab.run import load_run
from difflab.sampling import SAMPLERS, make_sigmas
from difflab.training import ModelConfig, TrainConfig, TrainingData, train
from difflab.processes import VP


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    data = load_data("moons", n=2000)
    out = {}
    for name in [n for n, p in PRESETS.items() if not (p.distils or p.consistency)]:
        train(
            TrainingData(data, spec="moons"),
            name,
            root / name,
            TrainConfig(steps=60, batch_size=128),
            ModelConfig(width=32, depth=1, emb_dim=16),
            progress=False,
            log=lambda *_: None,
        )
        out[name] = load_run(root / name)
    return out


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_every_sampler_on_every_preset(runs, sampler):
    for name, run in runs.items():
        for own_time in (False, True):
            stats = {}
            x = run.sample(64, sampler=sampler, steps=5, seed=1, stats=stats, own_time=own_time)
            assert x.shape == (64, 2) and np.isfinite(x).all(), (sampler, name, own_time)
            assert stats["nfe"] >= 5


def test_nfe_counts(runs):
    run = runs["edm"]
    expected = {
        "euler": 5,
        "heun": 9,
        "midpoint": 9,
        "rk4": 17,
        "dpmpp-2m": 5,
        "deis": 5,
        "ddim": 5,
        "ddpm": 5,
        "euler-maruyama": 5,
        "edm-stochastic": 9,
        "pc": 9,
    }
    for sampler, nfe in expected.items():
        stats = {}
        run.sample(8, sampler=sampler, steps=5, stats=stats)
        assert stats["nfe"] == nfe, sampler
    stats = {}
    run.sample(8, sampler="langevin", steps=5, steps_per_level=3, stats=stats)
    assert stats["nfe"] == 5 * 3 + 1  # 5 levels × 3 Langevin steps + the final denoising


def test_stochastic_sample_does_not_depend_on_the_batch(runs):
    run = runs["ddpm"]
    a = run.sample(300, sampler="ddpm", steps=6, seed=4, batch_size=64)
    b = run.sample(300, sampler="ddpm", steps=6, seed=4)
    assert np.allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("schedule", ["karras", "time-uniform", "log-snr", "iddpm"])
def test_schedules_through_a_run(runs, schedule):
    sig = runs["vp-sde"].sigmas(10, schedule)
    assert sig[-1] == 0 and (sig[1:] < sig[:-1]).all() and len(sig) <= 11


def test_schedule_formulas():
    vp = VP()
    sig = make_sigmas(
        "time-uniform",
        5,
        float(vp.sigma(torch.tensor(1e-3, dtype=torch.float64))),
        vp.sigma_max,
        vp,
    )
    t = vp.t_of_sigma(sig[:-1])
    assert torch.allclose(t, torch.linspace(1.0, 1e-3, 5, dtype=torch.float64))  # EDM Table 1, VP
    geo = make_sigmas("log-snr", 5, 0.01, 100.0)
    assert torch.allclose(
        geo[:-1], torch.tensor([100.0, 10.0, 1.0, 0.1, 0.01], dtype=torch.float64)
    )
    iddpm = make_sigmas("iddpm", 10, 0.002, 80.0)
    assert float(iddpm[0]) <= 80.0 and float(iddpm[-2]) >= 0.002 and len(iddpm) == 11
