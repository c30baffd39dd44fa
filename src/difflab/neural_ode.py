"""Neural ODEs (seed 000): learn the right-hand side dh/dt = f_θ(h, t) from trajectories.

A residual network h_{t+1} = h_t + f(h_t) is Euler's method with step 1; a neural ODE learns f
itself, so any Runge–Kutta solver (and any step size) can integrate it afterwards. Training follows
the seed: from an observed h(t₁), unroll a fixed-step solver (Euler or RK4) with step d up to t₂ >
t₁ and minimise ||ĥ(t₂) - h(t₂)||² (the seed's pseudocode omits d in h ← h + d·f(h, t)).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import Tensor, nn

from .errors import DifflabError, lookup
from .integrate import (
    EULER,
    HEUN,
    MIDPOINT,
    RK4,
    AdaptiveStats,
    Tableau,
    solve_adaptive,
    solve_fixed,
)

SCHEMES: dict[str, Tableau] = {"euler": EULER, "midpoint": MIDPOINT, "heun": HEUN, "rk4": RK4}


# -- example systems
# -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class System:
    """A known ODE dh/dt = field(h, t) with a distribution of initial conditions, to make data
    from."""

    name: str
    dim: int
    field: Callable[[Tensor, float], Tensor]
    initial: Callable[[int, torch.Generator], Tensor]
    t_end: float
    summary: str


def damped_oscillator_matrix(omega: float = 2.0, zeta: float = 0.1) -> Tensor:
    """ẍ + 2ζω ẋ + ω² x = 0 as dh/dt = A h with h = (x, ẋ): A = [[0, 1], [-ω², -2ζω]]."""
    return torch.tensor([[0.0, 1.0], [-(omega**2), -2 * zeta * omega]], dtype=torch.float64)


def _linear(a: Tensor) -> Callable[[Tensor, float], Tensor]:
    return lambda h, t: h @ a.to(h).T


def lotka_volterra(
    h: Tensor,
    t: float,
    alpha: float = 1.5,
    beta: float = 1.0,
    gamma: float = 3.0,
    delta: float = 1.0,
) -> Tensor:
    """Predator–prey: ẋ = αx - βxy, ẏ = δxy - γy (Lotka 1925, Volterra 1926)."""
    x, y = h[:, 0], h[:, 1]
    return torch.stack([alpha * x - beta * x * y, delta * x * y - gamma * y], 1)


SYSTEMS: dict[str, System] = {
    "damped-oscillator": System(
        "damped-oscillator",
        2,
        _linear(damped_oscillator_matrix()),
        lambda n, g: torch.randn(n, 2, generator=g, dtype=torch.float64),
        5.0,
        "linear: ẍ + 2ζωẋ + ω²x = 0, ω = 2, ζ = 0.1; h0 ~ N(0, I)",
    ),
    "lotka-volterra": System(
        "lotka-volterra",
        2,
        lotka_volterra,
        lambda n, g: 1.0 + 2.0 * torch.rand(n, 2, generator=g, dtype=torch.float64),
        4.0,
        "nonlinear predator–prey: α = 1.5, β = 1, γ = 3, δ = 1; h0 ~ U[1, 3]²",
    ),
}


def get_system(name: str) -> System:
    return lookup(SYSTEMS, name, "system")


def simulate(
    field: Callable[[Tensor, float], Tensor], h0: Tensor, times: list[float], substeps: int = 20
) -> Tensor:
    """Trajectories [len(times), B, D] of the true system by RK4 with `substeps` steps per
    interval."""
    out, h = [h0], h0
    for t, t_next in zip(times, times[1:]):
        h = solve_fixed(
            field, h, [t + (t_next - t) * k / substeps for k in range(substeps + 1)], RK4
        )
        out.append(h)
    return torch.stack(out)


def make_trajectories(
    system: System, n: int, points: int = 51, seed: int = 0
) -> tuple[Tensor, list[float]]:
    """n trajectories observed at `points` equally spaced times on [0, t_end]."""
    times = torch.linspace(0, system.t_end, points, dtype=torch.float64).tolist()
    h0 = system.initial(n, torch.Generator().manual_seed(seed))
    return simulate(system.field, h0, times), times


# -- models
# ---------------------------------------------------------------------------------------------
class VectorField(nn.Module):
    """f_θ(h, t): an MLP on (h, t) (or on h alone for an autonomous system)."""

    def __init__(self, dim: int, width: int = 64, depth: int = 3, autonomous: bool = True):
        super().__init__()
        self.autonomous = autonomous
        layers: list[nn.Module] = [nn.Linear(dim + (0 if autonomous else 1), width), nn.Tanh()]
        for _ in range(depth - 1):
            layers += [nn.Linear(width, width), nn.Tanh()]
        self.net = nn.Sequential(*layers, nn.Linear(width, dim))

    def forward(self, h: Tensor, t: float) -> Tensor:
        if self.autonomous:
            return self.net(h)
        return self.net(torch.cat([h, torch.full_like(h[:, :1], t)], 1))


class LinearField(nn.Module):
    """f_θ(h) = A h: the model class of a linear ODE, whose A can be compared with the truth."""

    def __init__(self, dim: int):
        super().__init__()
        self.a = nn.Parameter(torch.zeros(dim, dim))

    def forward(self, h: Tensor, t: float) -> Tensor:
        return h @ self.a.T


# -- training and inference
# -------------------------------------------------------------------------------
def unroll(
    field: Callable[[Tensor, float], Tensor],
    h: Tensor,
    t1: float,
    t2: float,
    d: float,
    scheme: str = "rk4",
) -> Tensor:
    """ĥ(t₂) from h(t₁) by ⌈(t₂ - t₁)/d⌉ equal steps of a fixed-step scheme (differentiable)."""
    if scheme not in SCHEMES:
        raise DifflabError(f"unknown scheme {scheme!r}; expected one of: {', '.join(SCHEMES)}")
    steps = max(1, math.ceil((t2 - t1) / d - 1e-9))
    return solve_fixed(
        field, h, [t1 + (t2 - t1) * k / steps for k in range(steps + 1)], SCHEMES[scheme]
    )


def rollout(
    field: Callable[[Tensor, float], Tensor],
    h0: Tensor,
    times: list[float],
    method: str = "rk4",
    d: float | None = None,
    rtol: float = 1e-6,
    stats: dict | None = None,
) -> Tensor:
    """The whole trajectory [len(times), B, D] from h0: fixed-step `method` with step d (default:
    the observation spacing), or 'dopri5' (adaptive, rtol = atol)."""
    out, h, info = [h0], h0, AdaptiveStats()
    for t, t_next in zip(times, times[1:]):
        if method == "dopri5":
            h = solve_adaptive(field, h, t, t_next, rtol=rtol, atol=rtol, stats=info)
        else:
            h = unroll(field, h, t, t_next, d or (t_next - t), method)
        out.append(h)
    if stats is not None and method == "dopri5":
        stats["nfe"] = info.nfe
    return torch.stack(out)


@dataclass(frozen=True)
class NODETrainConfig:
    steps: int = 2000
    batch_size: int = 256
    lr: float = 3e-3
    scheme: str = "rk4"
    max_gap: int = 1  # t₂ - t₁ up to this many observation intervals (1: the seed's "d apart")
    d: float | None = None  # solver step (default: the observation spacing)
    seed: int = 0


def train_field(
    field: nn.Module,
    traj: Tensor,
    times: list[float],
    cfg: NODETrainConfig = NODETrainConfig(),
    progress: Callable[[int, float], None] | None = None,
) -> list[float]:
    """Fit f_θ by unrolled steps from random (trajectory, t₁) to t₂ = t₁ + k·Δ, k ≤ max_gap; MSE
    loss. Returns the loss of every step. Observations must be equally spaced."""
    gen = torch.Generator().manual_seed(cfg.seed)
    traj = traj.to(next(field.parameters()).dtype)
    dt = times[1] - times[0]
    opt = torch.optim.Adam(field.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.steps)
    losses = []
    for step in range(cfg.steps):
        gap = int(torch.randint(1, cfg.max_gap + 1, (1,), generator=gen))
        i1 = torch.randint(0, len(times) - gap, (cfg.batch_size,), generator=gen)
        which = torch.randint(0, traj.shape[1], (cfg.batch_size,), generator=gen)
        h1, h2 = traj[i1, which], traj[i1 + gap, which]
        if getattr(
            field, "autonomous", True
        ):  # f(h) ignores t: every pair can start at 0, one batch
            pred = unroll(field, h1, 0.0, gap * dt, cfg.d or dt, cfg.scheme)
        else:
            pred = _unroll_each(field, h1, i1, gap, times, cfg)
        loss = ((pred - h2) ** 2).mean()
        if not torch.isfinite(loss):
            raise DifflabError(
                f"loss became {float(loss)} at step {step}; try a smaller --lr or step d"
            )
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
        if progress is not None:
            progress(step, losses[-1])
    return losses


def _unroll_each(
    field, h1: Tensor, i1: Tensor, gap: int, times: list[float], cfg: NODETrainConfig
) -> Tensor:
    """Non-autonomous fields: unroll each distinct start time separately (they see t)."""
    out = torch.empty_like(h1)
    for i in i1.unique().tolist():
        sel = i1 == i
        out[sel] = unroll(
            field, h1[sel], times[i], times[i + gap], cfg.d or (times[1] - times[0]), cfg.scheme
        )
    return out


def trajectory_error(pred: Tensor, truth: Tensor) -> float:
    """Root-mean-square error over all times, trajectories and coordinates."""
    return float(torch.sqrt(((pred - truth) ** 2).mean()))


def run_example(
    system: str,
    out: str | Path,
    cfg: NODETrainConfig = NODETrainConfig(),
    trajectories: int = 128,
    points: int = 41,
    width: int = 64,
    progress: bool = True,
    log=print,
) -> dict:
    """Train a neural ODE on trajectories of a known system, then roll out held-out trajectories
    with every solver at the training step Δ and at Δ/4, and adaptively; writes OUT/results.json,
    OUT/field.safetensors, OUT/trajectories.png and OUT/loss.png."""
    from tqdm import tqdm

    from .checkpoint import save_checkpoint, write_json

    spec, out = get_system(system), Path(out)
    traj, times = make_trajectories(spec, trajectories, points, seed=cfg.seed)
    test, _ = make_trajectories(spec, 64, points, seed=cfg.seed + 1)
    torch.manual_seed(cfg.seed)
    field = VectorField(spec.dim, width=width)
    bar = tqdm(total=cfg.steps, disable=not progress, unit="step", mininterval=1.0)

    def tick(step: int, loss: float) -> None:
        bar.set_postfix(loss=f"{loss:.2e}", refresh=False)
        bar.update(1)

    losses = train_field(field, traj.float(), times, cfg, tick)
    bar.close()
    dt, test = times[1] - times[0], test.float()
    errors, preds = rollout_errors(field, test, times)
    report = {
        "system": spec.name,
        "summary": spec.summary,
        "train": dataclasses.asdict(cfg),
        "trajectories": trajectories,
        "points": points,
        "dt": dt,
        "final_loss": losses[-1],
        "rollout_rmse": errors,
    }
    out.mkdir(parents=True, exist_ok=True)
    save_checkpoint(
        out / "field.safetensors", dict(field.state_dict()), {"system": spec.name, "width": width}
    )
    write_json(out / "results.json", report)
    _figures(out, spec.name, cfg.scheme, losses, test, preds)
    log(format_example(report))
    return report


def _figures(out: Path, name: str, scheme: str, losses: list, test: Tensor, preds: dict) -> None:
    """OUT/loss.png and OUT/trajectories.png (Euler and RK4 at the training step)."""
    from . import plots

    history = [[i + 1, v] for i, v in enumerate(losses)]
    plots.loss_curve(history, out / "loss.png", title=f"neural ODE on {name}")
    plots.trajectories(
        test.numpy(),
        {k: preds[k].numpy() for k in ("euler, d = Δ", "rk4, d = Δ")},
        out / "trajectories.png",
        title=f"{name}: held-out trajectories (trained with {scheme})",
    )


@torch.no_grad()
def rollout_errors(field: nn.Module, test: Tensor, times: Tensor) -> tuple[dict, dict]:
    """({solver: RMSE and NFE per observation interval}, {solver: rollout}) of held-out
    trajectories: every fixed-step scheme at the training step Δ and at Δ/4, and dopri5."""
    dt, errors, preds = times[1] - times[0], {}, {}
    for method in SCHEMES:
        for label, d in ((f"{method}, d = Δ", dt), (f"{method}, d = Δ/4", dt / 4)):
            preds[label] = rollout(field, test[0], times, method, d=d)
            errors[label] = {
                "rmse": trajectory_error(preds[label], test),
                "nfe_per_interval": SCHEMES[method].stages * round(dt / d),
            }
    info: dict = {}
    preds["dopri5"] = rollout(field, test[0], times, "dopri5", rtol=1e-6, stats=info)
    errors["dopri5"] = {
        "rmse": trajectory_error(preds["dopri5"], test),
        "nfe_per_interval": info["nfe"] / (len(times) - 1),
    }
    return errors, preds


def format_example(report: dict) -> str:
    lines = [
        f"{report['system']}: rollout RMSE on 64 held-out trajectories over {report['points'] - 1} "
        "intervals "
        f"(Δ = {report['dt']:.3g}); trained with {report['train']['scheme']}, final loss "
        f"{report['final_loss']:.2e}"
    ]
    for label, e in report["rollout_rmse"].items():
        lines.append(
            f"  {label:22s} RMSE {e['rmse']:.4f}   NFE per interval {e['nfe_per_interval']:.1f}"
        )
    return "\n".join(lines)


__all__ = [
    "run_example",
    "format_example",
    "System",
    "SYSTEMS",
    "get_system",
    "simulate",
    "make_trajectories",
    "VectorField",
    "LinearField",
    "unroll",
    "rollout",
    "NODETrainConfig",
    "train_field",
    "trajectory_error",
    "SCHEMES",
    "damped_oscillator_matrix",
    "lotka_volterra",
]
