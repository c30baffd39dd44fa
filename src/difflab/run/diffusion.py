"""A trained diffusion model: the EMA denoiser D(x̂; σ, c) on standardised data, its preset, and
what it does in the data's units: sample, complete rows, log-likelihood through the PF-ODE."""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..data import scaler_from_dict
from ..errors import DifflabError
from ..likelihood import log_prob
from ..models import build_model
from ..parameterisation import Denoiser
from ..presets import SIGMA_FLOOR, Preset, get_preset
from ..random import randn_per_sample
from ..sampling import make_sigmas, sample
from ..sampling.inpaint import PARTICLES, SMC_LEVELS, inpaint
from .base import TrainedRun, chunks, load_ema, load_parts
from .condition import Condition
from .grids import TunedGrids
from .spec import SamplingSpec
from .starts import Starts


@dataclass
class Run(Starts, TunedGrids, TrainedRun):
    """A trained diffusion model: the EMA denoiser (on standardised data) and its preset."""

    preset: Preset
    denoiser: Denoiser

    @classmethod
    def load(cls, run_dir: str | Path, device: str = "cpu", preset: Preset | None = None) -> "Run":
        """Load RUN_DIR/checkpoint.safetensors (the EMA weights) without unpickling anything.
        `preset` replaces the registered preset of that name (for runs trained with a customised
        recipe)."""
        return cls.from_parts(*load_parts(run_dir), device, preset)

    @classmethod
    def from_parts(
        cls, path: Path, tensors: dict, config, device: str = "cpu", preset=None
    ) -> "Run":
        """The run from a checkpoint already read (`load_parts`): read once, not twice."""
        if config.preset is None:
            raise DifflabError(f"{path}: not a diffusion run (model {config.model.type!r})")
        preset = (preset or get_preset(config.preset)).adapt(config.sigma_data, config.sigma_max)
        denoiser = build_model(preset, config.data.shape, config.model)
        load_ema(denoiser, tensors, path)
        denoiser.to(device).eval().requires_grad_(False)
        return cls(path, config, scaler_from_dict(config.data.standardiser), preset, denoiser)

    def sigmas(
        self,
        steps: int = 18,
        schedule: str = "karras",
        sigma_min: float | None = None,
        sigma_max: float | None = None,
        rho: float = 7.0,
        condition: str = "",
    ) -> torch.Tensor:
        """The σ grid: the preset's range (cut at the data's σ_max) unless given; `tuned`: the grid
        `tune_grid` stored in the run for this number of steps (any sampler tuned at that size)
        and for this `condition` (`Condition.key`: '' unconditional, or a class and w)."""
        if schedule == "tuned":
            return self._tuned(steps, condition)
        lo, hi = self.preset.sampling_range()
        return make_sigmas(schedule, steps, sigma_min or lo, sigma_max or hi, self.process, rho)

    def sample(
        self,
        n: int,
        sampler: str | None = None,
        steps: int | None = None,
        seed: int = 0,
        *,
        batch_size: int = 10_000,
        stats: dict | None = None,
        cond: int | str | None = None,
        guidance: float = 1.0,
        unconditional: bool = False,
        progress: bool = False,
        **options,
    ) -> np.ndarray:
        """n samples in the data's original units (`progress`: a bar of network evaluations
        on stderr, with an ETA). Sample i depends only on (seed, i), not on
        batching: its initial noise is stream 0 and the sampler's noise key k is stream k + 1 of its
        chunk. `options`: the σ grid (schedule, rho, sigma_min, sigma_max), own_time and the
        sampler's own options, as SamplingSpec (run/spec.py) holds them with their defaults (Heun,
        18 steps, Karras ρ = 7). ODE solvers and Euler–Maruyama integrate in EDM's time σ = t, s = 1
        (EDM Sec. 3: the best ODE for sampling), or with own_time=True in the preset's (σ(t), s(t)).

        A run trained with labels needs a decision: `cond` (a class name or index, or one per
        sample) with guidance scale w (D_w = D(∅) + w·(D(c) - D(∅)); w = 0 unconditional,
        1 conditional, > 1 guided; 2 NFE per evaluation unless w = 1), or unconditional=True."""
        if n < 1:
            raise DifflabError(f"number of samples must be positive, got {n}")
        spec = self._spec(sampler, steps, options)
        condition = Condition(cond, guidance, unconditional)
        x, labels, sigmas, info = self._chains(n, spec, condition, seed, batch_size, progress)
        if stats is not None:
            low, high, grid_name = float(sigmas[-2]), float(sigmas[0]), spec.grid_name()
            steps = len(sigmas) - 1 - (spec.levels - spec.steps)
            stats.update(info, sigma_min=low, sigma_max=high, steps=steps)
            stats.update(sampler=spec.sampler, grid=grid_name)
        samples = self.standardiser.inverse(x.double().numpy())
        return self._with_labels(samples, labels)

    def coupling(
        self,
        n: int,
        seed: int = 0,
        *,
        cond=None,
        steps: int | None = None,
        batch_size: int = 10_000,
        progress: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, float]:
        """The run's ODE coupling (reflow's pairs, difflab.distillation): (x̂_T, x0, labels, σ_T)
        in model units, n starts x̂_T at σ_T from the sampling prior and their ends x0 under Heun
        on the Karras grid (18 steps, ρ = 7: 35 NFE; or `steps`), whatever the recipe's own
        sampling defaults (a reflow student's are one Euler step); with `cond` (one class per
        sample) each chain is conditional on its class (w = 1)."""
        spec, starts = self._spec("heun", steps or 18, {"schedule": "karras"}), []
        how = (seed, batch_size, progress, starts)
        x0, labels, sigmas, _ = self._chains(n, spec, Condition(cond), *how)
        return torch.cat(starts), x0, labels, float(sigmas[0])

    def _chains(
        self,
        n: int,
        spec: SamplingSpec,
        condition: Condition,
        seed: int,
        batch_size: int,
        progress: bool,
        starts: list | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor, dict]:
        """n chains in model units (sample i depends only on (seed, i)): (x0, labels, σ grid,
        the samplers' stats); `starts` gets each chunk's x̂_T."""
        data = self.config.data
        labels = condition.labels(data, n)
        condition.check(data, self.path)  # refuse before any work
        grid = (spec.schedule, spec.sigma_min, spec.sigma_max, spec.rho, condition.key(data))
        sigmas = self.sigmas(spec.levels, *grid)
        scale = math.sqrt(float(sigmas[0]) ** 2 + self.preset.precond.sigma_data**2)
        info: dict = {}
        prior = self._start(condition, labels, float(sigmas[0]), seed, info)
        device = next(self.denoiser.parameters()).device
        process = self.process if spec.own_time else None
        bar = _bar("sampling", progress, _nfe_estimate(spec, condition, n, batch_size))
        network = _Counted(self.denoiser, bar) if progress else self.denoiser
        out = []
        for rows in chunks(n, batch_size):
            classes = None if labels is None else labels[rows]
            denoiser = condition.denoiser(network, data, self.path, classes)
            x = randn_per_sample(seed, rows.start, rows.stop - rows.start, self.shape).to(device)
            x = scale * x if prior is None else prior.sample(x, classes)
            if starts is not None:
                starts.append(x.cpu())
            noise = _noise(seed, rows, self.shape, device, stream=1)
            how = {"process": process, "noise": noise, "stats": info, **spec.options}
            out.append(sample(denoiser, x, sigmas, spec.sampler, **how).cpu())
        bar.close()
        return torch.cat(out), labels, sigmas, info

    def conditioned(self, cond, guidance: float = 1.0, unconditional: bool = False):
        """The two-argument denoiser to sample: D(·, c), guided D_w, or the unconditional D(·, ∅);
        `cond` a class (name or index) or class indices, one per sample (run/condition.py)."""
        condition = Condition(cond, guidance, unconditional)
        return condition.denoiser(self.denoiser, self.config.data, self.path)

    def _inpaint_codes(
        self,
        z: np.ndarray,
        mask: np.ndarray,
        method: str,
        steps: int | None,
        seed: int,
        batch_size: int,
        stats: dict | None,
        condition: Condition,
        progress: bool = False,
        **options,
    ) -> np.ndarray:
        """The model-space core of inpaint: z (NaN where missing) with mask → completed z."""
        data = self.config.data
        condition.check(data, self.path)
        sigmas = self.sigmas(steps or {"replace": 18, "repaint": 50}.get(method, SMC_LEVELS))
        labels = condition.labels(data, len(z))
        info: dict = {}
        prior = self._start(condition, labels, float(sigmas[0]), seed, info)
        z = torch.from_numpy(z)
        k = options.get("particles", PARTICLES) if method == "smc" else 1
        device = next(self.denoiser.parameters()).device
        how = {"stats": info, "sigma_data": self.preset.precond.sigma_data, "prior": prior}
        bar = _bar("completing", progress)
        network = _Counted(self.denoiser, bar) if progress else self.denoiser
        out = []
        for rows in chunks(len(z), batch_size):
            noise = _noise(seed, rows, self.shape, device, stream=2, copies=k)
            index = None if labels is None else labels[rows]
            # smc evaluates K particles per row, rows repeated in place (sampling.inpaint.smc)
            bound = None if index is None else index.repeat_interleave(k).to(device)
            denoiser = condition.denoiser(network, data, self.path, bound)
            observed = torch.from_numpy(mask[rows]).to(device)
            known = z[rows].float().to(device)
            how.update(noise=noise, prior_index=index)
            out.append(inpaint(denoiser, known, observed, sigmas, method, **how, **options).cpu())
        bar.close()
        if stats is not None:
            stats.update(info, steps=len(sigmas) - 1)
        return torch.cat(out).double().numpy() if out else z.numpy()

    def _likelihood_sigma_max(self, sigma_max: float, stats: dict | None) -> float:
        """Where the likelihood starts: sigma_max, cut at the recipe's highest trained σ; a
        student has no likelihood."""
        self.refuse_student("the likelihood")
        cap = self.preset.trained_sigma_max
        sigma_max = sigma_max if cap is None else min(sigma_max, cap)
        if stats is not None:
            stats["sigma_max"] = sigma_max
        return sigma_max

    def _likelihood_sigma_min(self) -> float:
        """Where the likelihood ends: σ = 0.002, or a discrete table's lowest level (a model
        from elsewhere, difflab.external: its network never saw a σ below it)."""
        from ..processes import DiscreteVP

        process = self.preset.process
        return process.sigma_min if isinstance(process, DiscreteVP) else SIGMA_FLOOR

    def _spec(self, sampler: str | None, steps: int | None, options: dict) -> SamplingSpec:
        """What the caller gave, over the recipe's own sampling defaults (`Preset.sampling`), over
        SamplingSpec's; a distilled student takes only its own sampler."""
        given = dict(options, sampler=sampler, steps=steps)
        given = {k: v for k, v in given.items() if v is not None}
        spec = SamplingSpec.of(**(dict(self.preset.sampling) | given))
        if spec.sampler != "consistency":
            self.refuse_student(f"the {spec.sampler} sampler")
        return spec

    def _vlb(
        self,
        z: torch.Tensor,
        draws: int,
        sigma_max: float,
        seed: int,
        batch_size: int,
        stats: dict | None,
    ) -> np.ndarray:
        """−L(ẑ), the variational lower bound on log p(ẑ) of the reverse-SDE model (difflab.vlb,
        VDM Eq. 11) with the PF-ODE likelihood's prior; `draws` (σ, n) pairs per point; stats
        gets 'nfe', 'bound_se' (per point, nats) and 'bound' (which σ it spans, how drawn).
        From σ_min = 0.002 to sigma_max with log σ uniform, except: a learned schedule (`vdm`)
        draws σ from itself, between its own ends; a discrete recipe (ddpm, ncsn) gets the T-step
        bound L_T on its trained levels within [0.002, sigma_max] (DDPM's L_vlb)."""
        from ..vlb import vlb

        device = next(self.denoiser.parameters()).device
        dtype = torch.float64 if device.type == "cpu" else torch.float32
        cov = self.config.data.cov
        cov = None if cov is None else torch.tensor(cov, dtype=dtype, device=device)
        gen = torch.Generator(device=device).manual_seed(seed)
        sigma_data = self.preset.precond.sigma_data
        schedule, lo, hi, name = self._bound_schedule(sigma_max, dtype, device)
        bounds, errors = [], []
        for chunk in z.to(dtype).split(batch_size):
            how = {"sigma_min": lo, "sigma_max": hi, "sigma_data": sigma_data, "draws": draws}
            how["schedule"] = schedule
            b, se = vlb(self._in(dtype), chunk.to(device), data_cov=cov, generator=gen, **how)
            bounds.append(-b.cpu())
            errors.append(se.cpu())
        if stats is not None:
            stats.update(nfe=draws, bound_se=torch.cat(errors).double().numpy(), bound=name)
        return torch.cat(bounds).double().numpy()

    def _bound_schedule(self, sigma_max: float, dtype, device) -> tuple:
        """(schedule for difflab.vlb, σ_min, σ_max, a description) of this run's bound."""
        from ..losses import DiscreteT

        if self.learned_schedule is not None:
            learned = copy.deepcopy(self.learned_schedule).to(device)
            lo, hi = learned.sigma_min, learned.sigma_max
            return learned, lo, hi, f"σ {lo:g} → {hi:g}, the run's learned schedule"
        lo = SIGMA_FLOOR
        if isinstance(self.preset.noise, DiscreteT):
            levels = self.preset.noise.sigmas(self.preset.process)
            levels = levels[(levels >= lo) & (levels <= sigma_max)]
            if len(levels) >= 2:
                lo, hi = float(levels[0]), float(levels[-1])
                steps = len(levels) - 1
                name = f"the {steps}-step bound on the trained σ levels {lo:.3g} → {hi:.3g}"
                return levels.to(device, dtype), lo, hi, name
        return None, lo, sigma_max, f"σ {lo:g} → {sigma_max:g}, log σ uniform"

    @property
    def process(self):
        """The noise process of the grids and of own-time sampling: the preset's, or the
        schedule learned with the model (on the CPU, where the grids are made)."""
        if self.learned_schedule is None:
            return self.preset.process
        if getattr(self, "_cpu_schedule", None) is None:
            self._cpu_schedule = copy.deepcopy(self.learned_schedule).cpu()
        return self._cpu_schedule

    @property
    def learned_schedule(self):
        """The noise schedule trained with the model (`vdm` runs), else None."""
        return getattr(self.denoiser, "schedule", None)

    def _in(self, dtype: torch.dtype) -> Denoiser:
        """The denoiser in `dtype` (a float64 copy is made once, for the likelihood)."""
        if dtype == torch.float32:
            return self.denoiser
        if getattr(self, "_copies", None) is None:
            self._copies = {}
        if dtype not in self._copies:
            self._copies[dtype] = copy.deepcopy(self.denoiser).to(dtype)
        return self._copies[dtype]

    def log_prob_standardised(
        self,
        z: torch.Tensor,
        method: str = "dopri5",
        steps: int = 64,
        rtol: float = 1e-5,
        atol: float = 1e-5,
        hutchinson: int = 0,
        sigma_max: float = 80.0,
        seed: int = 0,
        batch_size: int = 2000,
        stats: dict | None = None,
        progress: bool = False,
    ) -> np.ndarray:
        """log p(ẑ) through the PF-ODE (difflab.likelihood.log_prob) from σ_min = 0.002 to
        sigma_max, with the prior N(0, Σ + σ_max² I) from the training data's covariance Σ when it
        was stored; in float64 on the CPU (in float32 at rtol 1e-5 the worst point was 1e-2 nats
        off). method="vlb": instead the variational lower bound of the reverse-SDE model
        (difflab.vlb), `steps` (σ, n) draws per point. Both stop at the highest σ the recipe
        trained at, when it has one (`Preset.trained_sigma_max`: vdm, --weighting vlb): above
        it the network was never fitted (a vdm run integrated to σ 80 was 62 nats off)."""
        sigma_max = self._likelihood_sigma_max(sigma_max, stats)
        if method == "vlb":
            return self._vlb(z, steps, sigma_max, seed, batch_size, stats)
        device = next(self.denoiser.parameters()).device
        dtype = torch.float64 if device.type == "cpu" else torch.float32  # float32: 1e-2 nats off
        cov = self.config.data.cov
        cov = torch.tensor(cov, dtype=dtype, device=device) if cov is not None else None
        gen = torch.Generator(device=device).manual_seed(seed)
        out, nfe = [], 0
        bar = _bar("log-likelihood", progress)
        denoiser = _Counted(self._in(dtype), bar)
        chunks = z.to(dtype).split(batch_size)
        for i, chunk in enumerate(chunks):
            bar.set_postfix(batch=f"{i + 1}/{len(chunks)}", refresh=False)
            info: dict = {}
            out.append(
                log_prob(
                    denoiser,
                    chunk.to(device),
                    sigma_min=self._likelihood_sigma_min(),
                    sigma_max=sigma_max,
                    sigma_data=self.preset.precond.sigma_data,
                    method=method,
                    steps=steps,
                    rtol=rtol,
                    atol=atol,
                    hutchinson=hutchinson,
                    generator=gen,
                    data_cov=cov,
                    stats=info,
                ).cpu()
            )
            nfe = max(nfe, info["nfe"])
        bar.close()
        if stats is not None:
            stats["nfe"] = nfe
        return torch.cat(out).double().numpy()


def _noise(seed: int, rows: slice, shape: tuple, device, stream: int, copies: int = 1):
    """The sampler's noise(key) for `rows` (each `copies` times): stream key + `stream` of those
    rows, so row i's noise depends only on (seed, i)."""

    def noise(key: int) -> torch.Tensor:
        first, count = rows.start * copies, (rows.stop - rows.start) * copies
        return randn_per_sample(seed, first, count, shape, stream=key + stream).to(device)

    return noise


def _bar(what: str, enabled: bool, total: int | None = None) -> tqdm:
    """A bar of network evaluations (NFE) on stderr, redrawn at most once a second."""
    return tqdm(desc=what, unit=" NFE", total=total, disable=not enabled, mininterval=1.0)


def _nfe_estimate(spec: SamplingSpec, condition: Condition, n: int, batch_size: int) -> int:
    """Network evaluations a sampling run will take, for the bar's ETA (two per step for the
    two-stage solvers, two per call under guidance; adaptive solvers: a guess)."""
    from ..sampling.tune import TWO_NFE_PER_STEP

    per_chunk = spec.steps * (2 if spec.sampler in TWO_NFE_PER_STEP else 1)
    guided = 2 if condition.guidance not in (0.0, 1.0) and condition.cond is not None else 1
    return per_chunk * guided * -(-n // batch_size)


class _Counted:
    """A denoiser that ticks a progress bar once per network evaluation."""

    def __init__(self, denoiser, bar):
        self.denoiser, self.bar = denoiser, bar

    def __call__(self, *args, **kwargs):
        self.bar.update(1)
        return self.denoiser(*args, **kwargs)
