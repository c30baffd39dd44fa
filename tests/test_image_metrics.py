"""Image metrics against closed forms: Fréchet distance of two Gaussians, memorised copies."""

import numpy as np

from difflab.image_metrics import frechet_distance, memorisation


def test_frechet_distance_of_two_gaussians():
    """Diagonal Gaussians: FD = ||μ₁ − μ₂||² + Σ_i (s₁ᵢ − s₂ᵢ)² exactly."""
    rng = np.random.default_rng(0)
    s1, s2 = np.array([1.0, 2.0, 0.5]), np.array([1.5, 1.0, 0.5])
    mu1, mu2 = np.zeros(3), np.array([1.0, -1.0, 0.0])
    a = mu1 + s1 * rng.standard_normal((200_000, 3))
    b = mu2 + s2 * rng.standard_normal((200_000, 3))
    exact = ((mu1 - mu2) ** 2).sum() + ((s1 - s2) ** 2).sum()  # 2 + 1.25 = 3.25
    assert abs(frechet_distance(a, b) - exact) < 0.03
    assert frechet_distance(a, a) < 1e-6


def test_memorisation_counts_copies_not_neighbours():
    rng = np.random.default_rng(1)
    train = rng.standard_normal((200, 1, 4, 4))
    copies = train[:50] + 1e-3 * rng.standard_normal((50, 1, 4, 4))
    fresh = rng.standard_normal((50, 1, 4, 4))
    assert memorisation(copies, train) == 1.0
    assert memorisation(fresh, train) < 0.1
