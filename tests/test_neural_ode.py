"""Neural ODEs against known systems: the learned field of a linear ODE, solver orders at
inference."""

import pytest
import torch

from difflab.errors import DifflabError
from difflab.neural_ode import (
    LinearField,
    NODETrainConfig,
    VectorField,
    damped_oscillator_matrix,
    get_system,
    make_trajectories,
    rollout,
    trajectory_error,
    train_field,
    unroll,
)


@pytest.fixture(scope="module")
def oscillator():
    return make_trajectories(get_system("damped-oscillator"), 64, points=26)


def test_rk4_training_recovers_the_true_matrix(oscillator):
    traj, times = oscillator
    field = LinearField(2).double()
    train_field(field, traj, times, NODETrainConfig(steps=600, lr=0.05, scheme="rk4"))
    assert torch.allclose(field.a.data, damped_oscillator_matrix(), atol=0.01)


def test_euler_training_learns_the_finite_difference(oscillator):
    """A residual net is Euler's method (seed 000): trained with Euler at step Δ on exact data, the
    field that fits is (e^{AΔ} - I)/Δ, not A."""
    traj, times = oscillator
    dt = times[1] - times[0]
    a = damped_oscillator_matrix()
    field = LinearField(2).double()
    train_field(field, traj, times, NODETrainConfig(steps=600, lr=0.05, scheme="euler"))
    expected = (torch.linalg.matrix_exp(a * dt) - torch.eye(2, dtype=torch.float64)) / dt
    assert torch.allclose(field.a.data, expected, atol=0.01)
    assert (field.a.data - a).abs().max() > 0.1  # and that is far from A


def test_rk4_inference_beats_euler_at_equal_steps(oscillator):
    traj, times = oscillator
    torch.manual_seed(0)
    field = VectorField(2, width=32, depth=2)
    train_field(field, traj.float(), times, NODETrainConfig(steps=400, lr=1e-2, scheme="rk4"))
    test, _ = make_trajectories(get_system("damped-oscillator"), 32, points=26, seed=1)
    with torch.no_grad():
        errors = {
            m: trajectory_error(rollout(field, test[0].float(), times, m), test.float())
            for m in ("euler", "rk4")
        }
        finer = trajectory_error(
            rollout(field, test[0].float(), times, "euler", d=(times[1] - times[0]) / 8),
            test.float(),
        )
    assert errors["rk4"] < errors["euler"] / 3
    assert finer < errors["euler"]  # any step size works at inference: a finer Euler step helps


@pytest.mark.parametrize("scheme,order", [("euler", 1), ("heun", 2), ("rk4", 4)])
def test_unroll_converges_at_the_scheme_order(scheme, order):
    a = damped_oscillator_matrix()
    h0 = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    exact = h0 @ torch.linalg.matrix_exp(a * 2.0).T
    errs = [
        float((unroll(lambda h, t: h @ a.T, h0, 0.0, 2.0, d, scheme) - exact).norm())
        for d in (0.02, 0.01)
    ]
    assert errs[0] / errs[1] == pytest.approx(2**order, rel=0.15)


def test_unknown_names_are_clear_errors():
    with pytest.raises(DifflabError, match="system"):
        get_system("pendulum-9000")
    with pytest.raises(DifflabError, match="scheme"):
        unroll(lambda h, t: h, torch.zeros(1, 2), 0.0, 1.0, 0.1, "rk9")
