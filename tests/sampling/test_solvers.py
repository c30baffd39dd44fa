"""ODE solvers' orders of convergence: against the closed-form PF-ODE of Gaussian data, and on the
nonlinear PF-ODE of a Gaussian mixture against RK4 at 4096 steps (itself checked: RK4's order on the
closed form is 4, and 2048 → 4096 steps changes the reference by < 1e-12)."""

import functools

import numpy as np
import pytest
import torch

from difflab.ideal import Gaussian, GaussianMixture
from difflab.processes import VP
from difflab.sampling import SAMPLERS, karras_sigmas, sample, solve
from difflab.errors import DifflabError

GAUSS = Gaussian(
    torch.tensor([1.0, -2.0], dtype=torch.float64),
    torch.tensor([[1.25, 0.69], [0.69, 0.53]], dtype=torch.float64),
)
HI, LO = 10.0, 0.02
X_T = GAUSS.sample(300, sigma=HI, generator=torch.Generator().manual_seed(0))
EXACT = GAUSS.pf_ode_solution(X_T, HI, LO)


MIX = GaussianMixture(
    torch.tensor([[-1.0, 0.0], [1.0, 0.5], [0.0, -1.5]], dtype=torch.float64),
    torch.tensor([0.3, 0.5, 0.4], dtype=torch.float64),
    torch.tensor([0.3, 0.3, 0.4], dtype=torch.float64),
)
MIX_T = MIX.sample(300, sigma=HI, generator=torch.Generator().manual_seed(0))


@functools.lru_cache(maxsize=1)
def _mixture_reference():
    return solve(MIX, MIX_T, karras_sigmas(4096, 0.05, HI)[:-1], "rk4")


def _slope(method, ns, process=None, problem="gauss", **opts):
    denoiser, x_T = (GAUSS, X_T) if problem == "gauss" else (MIX, MIX_T)
    lo = LO if problem == "gauss" else 0.05
    exact = EXACT if problem == "gauss" else _mixture_reference()
    errs = [
        float(
            (
                solve(denoiser, x_T, karras_sigmas(n, lo, HI)[:-1], method, process=process, **opts)
                - exact
            )
            .abs()
            .max()
        )
        for n in ns
    ]
    return -np.polyfit(np.log(ns), np.log(errs), 1)[0], errs


@pytest.mark.parametrize(
    "method,order,ns",
    [
        ("euler", 1, [16, 32, 64, 128]),
        ("heun", 2, [16, 32, 64, 128]),
        ("rk4", 4, [8, 16, 32, 64]),
        ("dpmpp-2m", 2, [16, 32, 64, 128]),
    ],
)
def test_order_on_the_closed_form(method, order, ns):
    slope, errs = _slope(method, ns)
    assert slope == pytest.approx(order, abs=0.25), errs


def test_midpoint_on_the_closed_form_is_at_least_second_order():
    """On this linear ODE the midpoint rule's h² error term cancels (measured slope 3.0); ≥ 2 is the
    claim."""
    slope, errs = _slope("midpoint", [16, 32, 64, 128])
    assert slope > 1.9, errs


@pytest.mark.parametrize(
    "method,order", [("euler", 1), ("heun", 2), ("midpoint", 2), ("rk4", 4), ("dpmpp-2m", 2)]
)
def test_order_on_a_mixture(method, order):
    slope, errs = _slope(method, [16, 32, 64, 128, 256], problem="mixture")
    assert slope == pytest.approx(order, abs=0.25), errs


def test_rk4_in_vp_time():
    slope, errs = _slope("rk4", [8, 16, 32, 64], process=VP())
    assert slope == pytest.approx(4, abs=0.3), errs


def test_deis_is_third_order_on_a_mixture():
    """AB3 in σ with lower-order start-up steps: measured slope 2.8 over 16–256 steps, and it beats
    DPM-Solver++(2M) from 32 steps on."""
    ns = [16, 32, 64, 128, 256]
    slope, errs = _slope("deis", ns, problem="mixture")
    _, errs_2m = _slope("dpmpp-2m", ns, problem="mixture")
    assert slope > 2.6 and all(a < b for a, b in zip(errs[1:], errs_2m[1:])), (errs, errs_2m)


def test_adaptive_dopri5_meets_its_tolerance_and_reports_nfe():
    for tol, bound in [(1e-3, 1e-2), (1e-6, 1e-5)]:
        stats = {}
        x = solve(
            GAUSS, X_T, karras_sigmas(2, LO, HI)[:-1], "dopri5", rtol=tol, atol=tol, stats=stats
        )
        assert float((x - EXACT).abs().max()) < bound
        assert stats["nfe"] > 6 and stats["accepted_steps"] >= 1
    loose, tight = {}, {}
    solve(GAUSS, X_T, karras_sigmas(2, LO, HI)[:-1], "dopri5", rtol=1e-3, atol=1e-3, stats=loose)
    solve(GAUSS, X_T, karras_sigmas(2, LO, HI)[:-1], "dopri5", rtol=1e-6, atol=1e-6, stats=tight)
    assert tight["nfe"] > loose["nfe"]


def test_ddim_eta0_is_euler():
    """DDIM with η = 0 is exactly the Euler step of the PF-ODE in σ (Karras et al. 2022, Sec. 3)."""
    sig = karras_sigmas(10, 0.01, 10.0)
    assert torch.allclose(
        sample(GAUSS, X_T, sig, "ddim", eta=0.0), sample(GAUSS, X_T, sig, "euler"), atol=1e-12
    )


def test_unknown_option_is_refused():
    with pytest.raises(DifflabError, match="no option"):
        sample(GAUSS, X_T, karras_sigmas(4, 0.01, 10.0), "heun", eta=1.0)
    with pytest.raises(DifflabError, match="unknown sampler"):
        sample(GAUSS, X_T, karras_sigmas(4, 0.01, 10.0), "plms")


def test_registry_orders_are_what_the_tests_measure():
    assert {k: SAMPLERS[k].order for k in ["euler", "heun", "midpoint", "rk4", "dpmpp-2m"]} == {
        "euler": 1,
        "heun": 2,
        "midpoint": 2,
        "rk4": 4,
        "dpmpp-2m": 2,
    }


@pytest.mark.parametrize("nodes", [[3.0], [3.0, 5.0], [3.0, 5.5, 9.0], [2.0, 2.5, 4.0, 7.0]])
def test_adams_bashforth_weights_integrate_polynomials_exactly(nodes):
    """Σ_j w_j p(n_j) = ∫_a^b p(τ) dτ for every polynomial of degree < len(nodes)."""
    from difflab.sampling.multistep import adams_bashforth_weights

    a, b = 3.0, 1.5
    w = adams_bashforth_weights(nodes, a, b)
    for degree in range(len(nodes)):
        exact = (b ** (degree + 1) - a ** (degree + 1)) / (degree + 1)
        assert sum(wj * n**degree for wj, n in zip(w, nodes)) == pytest.approx(
            exact, rel=1e-12, abs=1e-12
        )


@pytest.mark.parametrize("variant", ["bh1", "bh2"])
@pytest.mark.parametrize("order", [1, 2, 3])
def test_unipc_corrector_raises_the_order_by_one(order, variant):
    """UniPC-p: a p-th order predictor plus a corrector that reuses the next evaluation gives order
    p + 1 at one NFE per step (measured slopes 2.0–2.1, 3.0–3.2, 4.1–4.2)."""
    for problem, ns in [("gauss", [16, 32, 64, 128]), ("mixture", [16, 32, 64, 128, 256])]:
        slope, errs = _slope("unipc", ns, problem=problem, order=order, variant=variant)
        assert slope == pytest.approx(order + 1, abs=0.3), (problem, errs)


def test_unipc_costs_one_evaluation_per_step():
    stats, positive = {}, {}
    sample(GAUSS, X_T, karras_sigmas(10, LO, HI), "unipc", stats=stats)  # 10 steps, the last to 0
    solve(GAUSS, X_T, karras_sigmas(10, LO, HI)[:-1], "unipc", stats=positive)  # 9 steps
    assert stats["nfe"] == 10 and positive["nfe"] == 9


def test_dpmpp_3m_is_third_order():
    """Measured slopes 2.75 (closed form, the first-order start-up limits it) and 2.7 (mixture);
    the second-order term at half its weight (φ₃ for 2φ₃ on d₂) falls to 1.7."""
    for problem, ns in [("gauss", [16, 32, 64, 128, 256]), ("mixture", [16, 32, 64, 128, 256])]:
        slope, errs = _slope("dpmpp-3m", ns, problem=problem)
        assert slope > 2.5, (problem, errs)


def test_dpmpp_2s_is_second_order():
    for problem, ns in [("gauss", [16, 32, 64, 128]), ("mixture", [16, 32, 64, 128, 256])]:
        slope, errs = _slope("dpmpp-2s", ns, problem=problem)
        assert slope == pytest.approx(2, abs=0.25), (problem, errs)


def test_ipndm_converges_at_second_order_on_a_karras_grid():
    """Equal-step Adams–Bashforth weights on an unequal grid: measured slope 2.0 on both problems
    (its fourth order needs equal steps; DEIS adapts the weights to the grid)."""
    for problem in ("gauss", "mixture"):
        slope, errs = _slope("ipndm", [16, 32, 64, 128, 256], problem=problem)
        assert slope > 1.8, (problem, errs)
