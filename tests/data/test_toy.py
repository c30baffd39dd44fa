import numpy as np
import pytest
import torch

from difflab.data.toy import TOY_SETS, torus_distance


@pytest.mark.parametrize("name", TOY_SETS)
def test_toy_sets_are_seeded_and_finite(name):
    t = TOY_SETS[name]
    a, b = t.sample(500, seed=3), t.sample(500, seed=3)
    assert torch.equal(a, b) and a.shape == (500, t.dim) and torch.isfinite(a).all()
    assert not torch.equal(a, t.sample(500, seed=4))


def test_uniform_and_torus_support():
    u = TOY_SETS["uniform-1d"].sample(10_000).numpy()
    assert (
        u.min() >= 0
        and u.max() <= 1
        and abs(u.mean() - 0.5) < 0.01
        and abs(u.var() - 1 / 12) < 0.003
    )
    x = TOY_SETS["torus"].sample(2000)
    assert float(torus_distance(x).max()) < 1e-12


def test_checkerboard_occupies_black_squares_only():
    x = TOY_SETS["checkerboard"].sample(20_000).numpy()
    cells = (np.floor(x[:, 0]) + np.floor(x[:, 1])) % 2
    assert np.all(cells == cells[0]) and len(np.unique(np.floor(x), axis=0)) == 8
