"""Metrics against closed forms and an independent implementation (POT)."""

import numpy as np
import ot
import pytest
import torch

from difflab.data.toy import eight_gaussians
from difflab.metrics import (
    compare,
    energy_distance,
    mode_coverage,
    random_directions,
    sliced_wasserstein,
)


def test_sw2_of_shifted_gaussians_is_closed_form():
    """For N(0, I) and N(m, I) in d dims, W2 along θ is |θ·m|, so SW2² = |m|²/d (plus sampling
    noise)."""
    rng = np.random.default_rng(0)
    n, d = 20_000, 3
    m = np.array([1.0, -2.0, 0.5])
    x, y = rng.standard_normal((n, d)), rng.standard_normal((n, d)) + m
    assert sliced_wasserstein(x, y, n_projections=1000) == pytest.approx(
        np.linalg.norm(m) / np.sqrt(d), rel=0.03
    )


def test_sw2_equals_pot_with_the_same_directions():
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((700, 2)), rng.standard_normal((700, 2)) * 1.5 + 0.3
    theta = random_directions(2, 200, seed=5)
    ours = sliced_wasserstein(x, y, n_projections=200, seed=5)
    pot = ot.sliced_wasserstein_distance(x, y, n_projections=200, projections=theta, p=2)
    assert ours == pytest.approx(float(pot), rel=1e-9)


def test_energy_distance_of_shifted_points():
    """Two point masses at distance r: energy distance² = 2r - 0 - 0, so ED = sqrt(2r)."""
    x, y = np.zeros((50, 2)), np.tile([3.0, 4.0], (50, 1))
    assert energy_distance(x, y) == pytest.approx(np.sqrt(10.0))


def test_mode_coverage_finds_a_dropped_mode():
    mix = eight_gaussians()
    x = mix.sample(8000, generator=torch.Generator().manual_seed(0)).numpy()
    full = mode_coverage(x, mix)
    assert (
        full["dropped_modes"] == []
        and full["tv_distance"] < 0.03
        and full["off_mode_fraction"] < 0.01
    )
    nearest = np.linalg.norm(x[:, None] - mix.means.numpy()[None], axis=2).argmin(1)
    x_missing = x[nearest != 3]
    assert mode_coverage(x_missing, mix)["dropped_modes"] == [3]


def test_compare_floor_and_ratio():
    """Exact samples sit at ratio ≈ 1 (one set alone scatters over ~0.85–1.5, so take a median);
    samples blurred by noise of four times the modes' std are far above it."""
    mix = eight_gaussians()
    refs = [
        mix.sample(3000, generator=torch.Generator().manual_seed(10 + k)).numpy() for k in range(4)
    ]
    exact = [
        mix.sample(3000, generator=torch.Generator().manual_seed(90 + s)).numpy() for s in range(5)
    ]
    ratios = [compare(x, refs, mix)["sw2"]["ratio"] for x in exact]
    assert 0.7 < np.median(ratios) < 1.4
    blurred = exact[0] + np.random.default_rng(0).standard_normal(exact[0].shape) * 0.6
    assert compare(blurred, refs, mix)["sw2"]["ratio"] > 3 * np.median(ratios)
