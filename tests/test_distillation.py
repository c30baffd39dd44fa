"""Consistency distillation (issue 25) against mathematics: the boundary condition holds bit for
bit, the teacher's Heun step is EDM's, and a student distilled from the exact Gaussian denoiser
approaches the PF-ODE's flow map, which is linear and known in closed form."""

import numpy as np
import pytest
import torch
from helpers import one_line_error, run

from difflab.errors import DifflabError
from difflab.ideal import Gaussian
from difflab.nn import MLP
from difflab.parameterisation import ConsistencyPrecond, Denoiser
from difflab.sampling.consistency import heun_step
from difflab.training import ModelConfig, TrainConfig, TrainingData, train

MU = torch.tensor([1.0, -0.5], dtype=torch.float64)
COV = torch.tensor([[1.0, 0.6], [0.6, 0.8]], dtype=torch.float64)
GAUSS = Gaussian(MU, COV)


def flow_map(x: torch.Tensor, sigma: float, to: float = 0.002) -> torch.Tensor:
    """The PF-ODE from σ to `to` for N(μ, Σ): μ + (Σ + to² I)^½ (Σ + σ² I)^−½ (x − μ)."""
    lam, u = torch.linalg.eigh(COV)
    a = u @ torch.diag(torch.sqrt((lam + to**2) / (lam + sigma**2))) @ u.T
    return MU + (x - MU) @ a.T


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_boundary_condition_holds_bit_for_bit_for_any_weights(dtype):
    torch.manual_seed(0)
    f = Denoiser(MLP(2, width=16, depth=2), ConsistencyPrecond(sigma_data=0.7)).to(dtype)
    for p in f.parameters():  # far from any trained state
        torch.nn.init.normal_(p, std=3.0)
    x = torch.randn(64, 2, dtype=dtype) * 5
    with torch.no_grad():
        assert torch.equal(f(x, torch.full((64,), 0.002, dtype=dtype)), x)
        assert not torch.equal(f(x, torch.full((64,), 0.01, dtype=dtype)), x)


def test_the_teacher_step_is_heun_and_exact_for_a_linear_ode():
    """One Heun step on the Gaussian's PF-ODE matches the closed-form flow to second order: its
    local error falls 8× (h³) when the step h halves."""
    x = GAUSS.sample(200, generator=torch.Generator().manual_seed(0)) + torch.randn(
        200, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64
    )
    errors = []
    for h in (0.1, 0.05, 0.025):
        hi = torch.full((200,), 1.0, dtype=torch.float64)
        step = heun_step(GAUSS, x, hi, hi - h)
        exact = flow_map(x, 1.0, to=1.0 - h)
        errors.append(float((step - exact).norm(dim=1).max()))
    assert 7 < errors[0] / errors[1] < 9 and 7.5 < errors[1] / errors[2] < 8.5, errors


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    """Distilled from the exact Gaussian denoiser (no teacher error): 2,000 steps."""
    x = GAUSS.sample(20_000, generator=torch.Generator().manual_seed(0)).numpy()
    teacher = lambda v, s: GAUSS(v.double(), s.double()).to(v.dtype)  # noqa: E731
    out = tmp_path_factory.mktemp("cd") / "student"
    cfg = TrainConfig(steps=2000, batch_size=256, lr=2e-3)
    data = TrainingData(x, standardise=False)
    train(data, "consistency", out, cfg, ModelConfig(width=64, depth=2), progress=False,
          log=lambda *_: None, teacher=teacher)  # fmt: skip
    from difflab.run import load_run

    return load_run(out)


def test_a_student_of_the_exact_teacher_approaches_the_flow_map(student):
    """Measured after 2,000 steps: relative squared error 1.8% at σ_max, 0.2% at σ = 0.1."""
    f = student.denoiser
    for sigma, bound in [(student.preset.sampling_range()[1], 0.05), (0.5, 0.05), (0.1, 0.01)]:
        gen = torch.Generator().manual_seed(5)
        z = GAUSS.sample(4000, generator=gen)
        z = z + sigma * torch.randn(4000, 2, generator=gen, dtype=torch.float64)
        with torch.no_grad():
            got = f(z.float(), torch.full((4000,), float(sigma))).double()
        exact = flow_map(z, sigma)
        relative = ((got - exact) ** 2).sum(1).mean() / ((exact - MU) ** 2).sum(1).mean()
        assert float(relative) < bound, (sigma, float(relative))


def test_one_step_samples_have_the_data_moments(student):
    x = student.sample(20_000, seed=1)  # the recipe's default: 1 step, 1 NFE
    for steps in (None, 2, 4):
        stats = {}
        student.sample(10, steps=steps, seed=1, stats=stats)
        assert stats["steps"] == stats["nfe"] == (steps or 1)
    # measured: mean (0.95, -0.49), covariance (1.05, 0.53, 0.96) for (1, 0.6, 0.8); the
    # teacher's σ_max = 8 start has variance 64: a student that is not consistent is far off
    assert np.abs(x.mean(0) - MU.numpy()).max() < 0.1
    assert np.abs(np.cov(x.T) - COV.numpy()).max() < 0.25


def test_a_consistency_preset_needs_a_teacher(tmp_path):
    with pytest.raises(DifflabError, match="distilled from a teacher"):
        train(np.zeros((10, 2)), "consistency", tmp_path / "r", TrainConfig(steps=1))
    assert not (tmp_path / "r").exists()
    r = run("train", "--data", "moons", "--preset", "consistency", "--steps", 1,
            "--out", tmp_path / "c")  # fmt: skip
    one_line_error(r, "distill --run TEACHER")
