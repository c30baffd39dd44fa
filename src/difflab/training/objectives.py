"""Training objectives, apart from the loop: each draws the random parts of its global batch (σ,
noise, label dropout) from one seeded generator — the rows come from batches.py — and returns
per-sample losses, as a module so DDP can wrap it.

- DSM: denoising score matching of a denoiser at drawn (σ, noise), with the batch's class labels
  replaced by the null class (-1) with probability p_uncond (classifier-free guidance training).
- VLB: VDM's continuous diffusion loss with the noise schedule learned with the model (the `vdm`
  preset): the network gets the gradient of the bound, the schedule that of its second moment.
- Consistency: consistency distillation from a teacher denoiser (the `consistency` preset), or
  consistency training from data alone (`consistency-training`).
- Reflow: rectified flow on a teacher's coupling of starts and samples (the `reflow` preset).
- NLL: negative log-likelihood of a flow or an autoregressive model, in nats per dimension; class
  labels (autoregressive models) dropped to the null class with probability p_uncond.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..errors import DifflabError
from ..losses import dsm_loss
from ..presets import Preset
from ..utils import append_dims


class DSM(nn.Module):
    """L = λ(σ)·c_out²·||F(c_in x̂, c_noise, c) - target||² (EDM Eq. 8), per sample."""

    def __init__(self, model: nn.Module, preset: Preset, p_uncond: float = 0.0):
        super().__init__()
        self.model, self.preset, self.p_uncond = model, preset, p_uncond

    def draw(
        self, x0: Tensor, labels: Tensor | None, n: int, gen: torch.Generator, part: slice
    ) -> tuple:
        """(x0, σ, noise[, cond]) of this rank's `part` of a global batch of n: σ, noise and label
        dropout are drawn for all n (the same on every rank), x0 and labels are the part's rows."""
        dev = x0.device
        level = self.level(n, gen, dev)[part]
        noise = torch.randn((n, *x0.shape[1:]), generator=gen, device=dev)[part]
        if labels is None:
            return x0, level, noise
        drop = (torch.rand(n, generator=gen, device=dev) < self.p_uncond)[part]
        return x0, level, noise, torch.where(drop, -1, labels)

    def level(self, n: int, gen: torch.Generator, device) -> Tensor:
        """The noise level of each of the global batch's n samples: σ from the preset's p(σ)."""
        return self.preset.noise.sample(n, self.preset.process, gen, device)

    def initialise(self, first: Tensor) -> None:
        """No data-dependent initialisation for a denoiser."""

    def forward(
        self, x0: Tensor, sigma: Tensor, noise: Tensor, cond: Tensor | None = None
    ) -> Tensor:
        return dsm_loss(self.model, x0, sigma, noise, self.preset.weighting, cond)


class VLB(DSM):
    """VDM's diffusion loss per sample (Kingma et al. 2021, Eq. 17 in σ: −½SNR' = σ̇/σ³),
    σ̇_η(t)/σ_η(t)³ · mean‖D(x0 + σ_η(t)n; σ_η(t)) − x0‖², t on a low-discrepancy grid of the
    global batch (VDM §3.6) and σ_η the model's learned schedule (`model.schedule`). Its mean does
    not depend on η (the ends are fixed), its variance does: η gets the gradient of the second
    moment (VDM §5), the network that of the loss, from one backward pass."""

    def level(self, n: int, gen: torch.Generator, device) -> Tensor:
        """t = (u + i/n) mod 1 for one u ~ U[0, 1) per global batch (draw returns (x0, t, noise[,
        cond]))."""
        u = torch.rand((), generator=gen, device=device, dtype=torch.float64)
        return torch.remainder(u + torch.arange(n, device=device, dtype=torch.float64) / n, 1.0)

    def forward(self, x0: Tensor, t: Tensor, noise: Tensor, cond: Tensor | None = None) -> Tensor:
        schedule = self.model.schedule
        sigma, rate = schedule.sigma(t), schedule.sigma_deriv(t)
        error = dsm_loss(self.model, x0, sigma.to(x0.dtype), noise, "uniform", cond)
        loss = (rate / sigma**3).to(x0.dtype) * error
        if torch.is_grad_enabled() and sigma.requires_grad:
            # d(l²)/dη = 2l·dl/dη: scale what reaches σ_η(t) and σ̇_η(t), each of which feeds
            # only its own sample's l, so the schedule descends the second moment
            twice = 2.0 * loss.detach().to(sigma.dtype)
            sigma.register_hook(lambda g: g * twice)
            rate.register_hook(lambda g: g * twice)
        return loss


class Consistency(DSM):
    """Consistency distillation (Song et al. 2023, Algorithm 2, with iCT's target θ⁻ = θ without
    gradient, Song & Dhariwal 2023): on adjacent levels σ_n < σ_{n+1} of the grid,
    ‖f_θ(x̂_{n+1}, σ_{n+1}) − sg f_θ(x̂_n, σ_n)‖² per dimension, x̂_{n+1} = x0 + σ_{n+1} z and x̂_n
    the teacher's Heun step from it. With the boundary f(x̂, σ_min) = x̂, consistency along the
    teacher's trajectories makes f their end. Without a teacher (consistency training, §5 and
    Algorithm 3) x̂_n = x0 + σ_n z: the one-sample estimate of the score in the step."""

    def __init__(self, model: nn.Module, preset: Preset, p_uncond: float = 0.0, teacher=None):
        super().__init__(model, preset, p_uncond)
        if teacher is None and preset.distils:
            raise DifflabError(
                f"the {preset.name} preset is distilled from a teacher: difflab distill --run "
                "TEACHER (Python: train(…, teacher=denoiser))"
            )
        # not a submodule: neither trained, saved nor synchronised (DDP) with the student
        self.__dict__["teacher"] = teacher
        self.register_buffer("levels", preset.noise.grid(*preset.sampling_range()).float())

    def initialise(self, first: Tensor) -> None:
        """A student starts from its teacher's network where they mean the same thing (Song et
        al. 2023 §6: CD from the EDM model): F of an EDM-preconditioned teacher, whose c_skip,
        c_out equal the consistency ones up to σ_min, so f ≈ D from the first step."""
        from ..parameterisation import EDMPrecond

        teacher = self.teacher
        if isinstance(getattr(teacher, "precond", None), EDMPrecond):
            net = self.model.net
            if {k: v.shape for k, v in net.state_dict().items()} == {
                k: v.shape for k, v in teacher.net.state_dict().items()
            }:
                net.load_state_dict(teacher.net.state_dict())

    def level(self, n: int, gen: torch.Generator, device) -> Tensor:
        """The index n ~ U{0, …, N−2} of each sample's pair of adjacent levels (draw returns
        (x0, n, noise[, cond]))."""
        return torch.randint(0, len(self.levels) - 1, (n,), generator=gen, device=device)

    def forward(self, x0: Tensor, n: Tensor, noise: Tensor, cond: Tensor | None = None) -> Tensor:
        levels = self.levels.to(x0.device, x0.dtype)
        hi, lo = levels[n + 1], levels[n]
        x = x0 + append_dims(hi, x0.ndim) * noise
        kw = {} if cond is None else {"cond": cond}
        with torch.no_grad():
            target = self.model(self._step(x0, x, hi, lo, noise, kw), lo, **kw)
        # iCT's λ(σ_n) = 1/(σ_{n+1} − σ_n): the small steps near σ_min, whose differences are
        # small, weigh as much as the large ones (unweighted, f at σ ≤ 0.5 ended 2.6× worse
        # than the teacher's own D there)
        weight = 1.0 / (hi - lo)
        return weight * (self.model(x, hi, **kw) - target).flatten(1).square().mean(1)

    def _step(self, x0: Tensor, x: Tensor, hi: Tensor, lo: Tensor, noise: Tensor, kw) -> Tensor:
        """x̂_n: the teacher's Heun step from x̂_{n+1}, or x0 + σ_n z without a teacher."""
        if self.teacher is None:
            return x0 + append_dims(lo, x0.ndim) * noise
        from ..sampling.consistency import heun_step

        return heun_step(lambda v, s: self.teacher(v, s, **kw), x, hi, lo)


class Reflow(DSM):
    """Reflow (Liu et al. 2022, Algorithm 1 on a coupling): denoising score matching on the
    teacher's pairs (x0, z) instead of independent noise, x̂ = x0 + σ z with x0 the teacher's
    sample from the start x̂_T and z = (x̂_T − x0)/σ_T, so the line through them passes through
    x̂_T at σ_T. Rectified flow on any coupling keeps the marginals of its interpolation and
    straightens its paths; the pairs are the objective's own rows (the loop's rows are unused)."""

    def __init__(self, model: nn.Module, preset: Preset, p_uncond: float = 0.0, teacher=None):
        super().__init__(model, preset, p_uncond)
        if teacher is None:
            raise DifflabError(
                f"the {preset.name} preset learns a teacher's coupling: difflab distill --method "
                "reflow --run TEACHER (Python: train(…, teacher=Coupling(…)))"
            )
        self.__dict__["pairs"] = teacher  # not a buffer: never broadcast, saved or trained

    def draw(
        self, x0: Tensor, labels: Tensor | None, n: int, gen: torch.Generator, part: slice
    ) -> tuple:
        """(x0, σ, z[, cond]) of n pairs drawn from the coupling (the same on every rank)."""
        pairs, dev = self.pairs, x0.device
        rows = torch.randint(0, len(pairs.x0), (n,), generator=gen, device=dev)[part].cpu()
        level = self.level(n, gen, dev)[part]
        picked = (pairs.x0[rows].to(x0), level, pairs.z[rows].to(x0))
        if pairs.labels is None:
            return picked
        drop = (torch.rand(n, generator=gen, device=dev) < self.p_uncond)[part]
        return (*picked, torch.where(drop, -1, pairs.labels[rows].to(dev)))


def denoising_objective(
    model: nn.Module, preset: Preset, p_uncond: float = 0.0, teacher=None
) -> DSM:
    """Consistency for a consistency model (with its teacher, or from data), Reflow for a
    teacher's coupling, VLB for a recipe that learns its schedule (`vdm`), else DSM."""
    if preset.consistency:
        return Consistency(model, preset, p_uncond, teacher)
    if preset.teacher == "coupling":
        return Reflow(model, preset, p_uncond, teacher)
    return (VLB if preset.learns_schedule else DSM)(model, preset, p_uncond)


class NLL(nn.Module):
    """-log p(x0 [| c]) / D for a flow or an autoregressive model (exact)."""

    def __init__(
        self, model: nn.Module, preset: Preset | None = None, p_uncond: float = 0.0, teacher=None
    ):
        super().__init__()
        self.model, self.p_uncond = model, p_uncond

    def draw(
        self, x0: Tensor, labels: Tensor | None, n: int, gen: torch.Generator, part: slice
    ) -> tuple:
        if labels is None:
            return (x0,)
        drop = (torch.rand(n, generator=gen, device=x0.device) < self.p_uncond)[part]
        return x0, torch.where(drop, -1, labels)

    def initialise(self, first: Tensor) -> None:
        """Data-dependent initialisation (ActNorm) on the first rows of the data, the same on every
        rank, before DDP wraps the model (DDP broadcasts parameters once, at wrapping)."""
        if getattr(self.model, "data_init", True):
            with torch.no_grad():
                self.model(first)

    def forward(self, x0: Tensor, cond: Tensor | None = None) -> Tensor:
        lp = self.model.log_prob(x0) if cond is None else self.model.log_prob(x0, cond)
        return -lp / math.prod(x0.shape[1:])


OBJECTIVES = {"denoiser": denoising_objective, "flow": NLL, "autoregressive": NLL}

__all__ = ["DSM", "VLB", "Consistency", "Reflow", "NLL", "OBJECTIVES", "denoising_objective"]
