"""Every `difflab reproduce NAME --quick` runs and its numbers are within bounds measured on 2 CPU
cores (the budgets are in optimiser steps, so the numbers do not depend on the machine's speed)."""

import json

import numpy as np

from difflab.presets import PRESETS
import pytest

from difflab.reproduce import EXPERIMENTS, reproduce


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    return tmp_path_factory.mktemp("reproduce")


def _files(where):
    return {p.name for p in where.iterdir()}


def test_uniform_1d(out):
    r = reproduce("uniform-1d", out, quick=True, log=lambda *_: None)
    assert r["ks"] < 0.05 and r["w1"] < 0.03  # measured 0.035 and 0.018 after 4000 steps
    assert r["ks"] > r["floor"]["ks"]  # a trained model is not better than exact samples
    # ... and the 100-step grid itself limits it: the exact denoiser on the same grid reaches KS
    # 0.031
    assert r["ks"] < 1.5 * r["exact_denoiser"]["ks"]
    assert {"histograms.png", "numbers.json"} <= _files(out / "uniform-1d")


def test_steps_sweep_and_flow_field_share_their_models(out):
    r = reproduce("steps-sweep", out, quick=True, log=lambda *_: None)
    for name, w1 in r["w1"].items():
        assert w1[-1] < 0.06, name  # N = 100: every recipe draws U[0, 1]
        assert w1[-1] < w1[0], name  # and more steps help
    assert r["lecture_claim"].startswith(("agrees", "does not agree"))
    f = reproduce("flow-field", out, quick=True, log=lambda *_: None)
    # the lecture: "exploding formulations sample from a much more spread-out region"
    assert (
        f["VE"]["x_extent"] > 10 * f["VP"]["x_extent"]
        and f["EDM"]["x_extent"] > 10 * f["VP"]["x_extent"]
    )
    assert f["seconds"] < r["seconds"]  # the second experiment reused the trained models
    assert (out / "flow-field" / "flow_field.png").exists() and (
        out / "steps-sweep" / "steps_sweep.png"
    ).exists()


def test_sde_paths(out):
    r = reproduce("sde-paths", out, quick=True, log=lambda *_: None)
    assert abs(r["forward_end_mean"]) < 0.1 and 0.9 < r["forward_end_var"] < 1.1  # x_T ~ N(0, 1)
    assert r["reverse_ks"] < 0.04  # exact denoiser: only discretisation and sampling error (0.020)


def test_torus(out):
    r = reproduce("torus", out, quick=True, log=lambda *_: None)
    assert r["mean_distance"] < 0.03 and r["within_0.1"] > 0.97  # measured 0.012 and 99.7%
    json.loads((out / "torus" / "numbers.json").read_text())


def test_toy_gallery(out):
    r = reproduce("toy-gallery", out, quick=True, log=lambda *_: None)
    ratios = r["sw2_ratio"]
    trained = [p for p in PRESETS.values() if not (p.distils or p.consistency)]
    assert len(ratios) == 4 * len(trained) and all(np.isfinite(v) for v in ratios.values())
    assert ratios["moons/edm"] < 2.0
    assert (out / "toy-gallery" / "gallery.png").exists()


def test_digits(out, monkeypatch, tmp_path):
    """600 steps of a small class-conditional U-Net: the classes are learnt (chance is 10%) and the
    class recovers what the blacked-out left half hid (measured 45%; 25% → 65% → 85%)."""
    monkeypatch.setenv("DIFFLAB_CACHE", str(tmp_path))
    r = reproduce("digits", out, quick=True, log=lambda *_: None)
    q, lh = r["quality"], r["left_half"]
    assert q["w=1"]["accuracy"] > 0.25 and q["w=2"]["accuracy"] > 0.25
    assert lh["whole"] >= 0.85  # the classifier itself (measured 0.90 on these 20)
    assert lh["completed_with_class"] > lh["right_half_alone"] + 0.2
    assert {"samples.png", "classes.png", "inpainting.png"} <= _files(out / "digits")


def test_faces(out, monkeypatch, tmp_path):
    monkeypatch.setenv("DIFFLAB_CACHE", str(tmp_path))
    r = reproduce("faces", out, quick=True, log=lambda *_: None)
    assert r["memorisation"]["samples"] <= 0.1  # samples are not copies of the 80 training faces
    assert {"samples.png", "inpainting.png"} <= _files(out / "faces")


def test_sequences(out):
    """A quick WaveNet on AR(2) sequences: its receptive field covers the 64 steps, every output
    sees only the past (the map), and its NLL approaches the exact one (measured gap after 150
    steps: see numbers.json; the full budget in docs/benchmarks.md)."""
    r = reproduce("sequences", out, quick=True, log=lambda *_: None)
    assert r["receptive_field"] == 64
    assert 0 < r["gap_nats"] < 10 and r["nll_per_sequence"] > r["true_nll_per_sequence"] - 0.5
    assert r["sample_seconds_per_1000_cached"] < r["sample_seconds_per_1000_recomputed"]
    assert 0.85 < r["variance_ratio_samples"] < 1.2  # measured 1.02 (the data 1.007)
    assert {"sequences.png", "numbers.json"} <= _files(out / "sequences")


def test_ar2_autocovariance_is_the_processs():
    """Yule–Walker's γ(k) against a long simulation of x_t = a₁x_{t−1} + a₂x_{t−2} + e_t."""
    from difflab.reproduce.sequences import ar2_autocovariance, ar2_coefficients

    a1, a2 = ar2_coefficients()
    rng = np.random.default_rng(0)
    e = rng.normal(size=400_000)
    x = np.zeros_like(e)
    for t in range(2, len(e)):
        x[t] = a1 * x[t - 1] + a2 * x[t - 2] + e[t]
    x = x[1000:]
    gamma = ar2_autocovariance(a1, a2, 20)
    empirical = np.array([np.mean(x[: len(x) - k] * x[k:]) for k in range(20)])
    assert np.allclose(empirical, gamma, atol=0.05 * gamma[0])


def test_every_experiment_is_tested():
    assert set(EXPERIMENTS) == {
        "uniform-1d",
        "steps-sweep",
        "flow-field",
        "sde-paths",
        "torus",
        "toy-gallery",
        "digits",
        "faces",
        "sequences",
    }
