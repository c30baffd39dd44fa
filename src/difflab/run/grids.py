"""Tuned σ grids of a diffusion run: tuned on the run's own denoiser (sampling.tune), stored in
RUN/grids.json under 'sampler@nfe' (or 'sampler@nfe|class=K,w=W' for one class's denoiser), and
chosen for a budget of network evaluations."""

from __future__ import annotations

import json
import math
import time

import torch

from ..checkpoint import write_json
from ..errors import DifflabError
from ..random import randn_per_sample
from ..sampling import get_sampler, karras_sigmas, sample
from .condition import Condition

# tuned σ grids of a run: {"sampler@nfe[|class=K,w=W]": {"sigmas", "tuned", "karras", …}}
GRIDS = "grids.json"


def grid_condition(key: str) -> str:
    """A grids.json key's condition ('' for 'sampler@nfe', '|class=K,w=W' after it)."""
    return key[key.index("|") :] if "|" in key else ""


class TunedGrids:
    """The grid methods of a diffusion Run (run/diffusion.py)."""

    def _grids(self) -> dict:
        """The tuned grids stored in RUN/grids.json (empty if none)."""
        if getattr(self, "_memory_grids", None):
            return dict(self._memory_grids)
        path = self.path / GRIDS
        return json.loads(path.read_text()) if path.exists() else {}

    def _tuned(self, steps: int, condition: str = "") -> torch.Tensor:
        grids = self._grids()
        found = {
            k: v
            for k, v in grids.items()
            if len(v["sigmas"]) == steps + 1 and grid_condition(k) == condition
        }
        if not found:
            have = ", ".join(f"{k} ({len(v['sigmas']) - 1} steps)" for k, v in grids.items())
            what = f"{steps} steps" + (f" for {condition[1:]}" if condition else "")
            raise DifflabError(
                f"{self.path}: no tuned grid of {what} (have: {have or 'none'}); make one with "
                f"`difflab tune-grid --run {self.path} --nfe K --sampler S`"
                + (" --class K [--guidance W]" if condition else "")
            )
        key = min(found, key=lambda k: found[k]["tuned"])  # the best tuned at this size
        return torch.tensor(found[key]["sigmas"], dtype=torch.float64)

    def for_nfe(
        self,
        nfe: int,
        tune: bool = True,
        log=None,
        cond=None,
        guidance: float = 1.0,
        unconditional: bool = False,
    ) -> dict:
        """Sampler, steps and grid for a budget of `nfe` evaluations: the best grid tuned for this
        run at that budget. Without one, a vector model tunes grids for AUTO_TUNE (unipc, ipndm;
        ~1 s each on a small MLP), stores them and takes the better on fresh draws — in
        docs/benchmarks.md's ODE-error table this beats the best peer in every cell (≤ 0.46×), where
        no fixed (sampler, grid) pair does. With tune=False, or for images (tuning a U-Net costs
        minutes): UniPC on the VP-time grid, the fixed pair with the smallest worst cell (1.32×).
        A class (and w) is tuned on the very denoiser it samples with (`Condition.key`)."""
        from ..sampling.tune import AUTO_TUNE

        wanted = Condition(cond, guidance, unconditional)
        how, condition = wanted.kwargs(), wanted.key(self.config.data)
        tuned = {k: v for k, v in self._grids().items() if k.endswith(f"@{nfe}{condition}")}
        if not tuned and tune and not self.is_image:
            draws = self._tuning_draws(512, 0, wanted)  # one reference solution for both
            for sampler in AUTO_TUNE:
                r = self.tune_grid(nfe, sampler, store=False, draws=draws, **how)
                tuned[f"{sampler}@{nfe}{condition}"] = r
                if log:
                    on = f" on {condition[1:]}" if condition else ""
                    log(f"tuned a {nfe}-NFE grid for {sampler}{on} in {r['seconds']:.1f} s")
            self._store_grids(tuned, log)
        if tuned:
            key = min(tuned, key=lambda k: tuned[k]["tuned"])
            steps = len(tuned[key]["sigmas"]) - 1
            return {"sampler": key.split("@")[0], "steps": steps, "schedule": "tuned"}
        return {"sampler": "unipc", "steps": nfe, "schedule": "vp-time"}

    def _store_grids(self, grids: dict, log=None) -> None:
        """Add tuned grids to RUN/grids.json; a read-only run keeps them for this call only."""
        merged = {**self._grids(), **grids}
        try:
            write_json(self.path / GRIDS, merged)
        except OSError as e:
            self._memory_grids = merged
            if log:
                log(f"note: could not store the tuned grids in {self.path} ({e.strerror})")

    def _tuning_draws(
        self, n: int, seed: int, condition: Condition = Condition()
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """[(x_T, its 256-step Heun solution)] for the tuning noise and for fresh noise, float64,
        from where sampling starts and with the denoiser it uses (a class: `_start`)."""
        d64 = self._tuned_denoiser(condition)
        lo, hi = self.preset.sampling_range()
        data = self.config.data
        labels = condition.labels(data, n) if condition.key(data) else None
        start = self._start(condition, labels, hi, seed)
        draws = []
        for k in (0, 1):  # tuning noise, fresh noise
            z = randn_per_sample(seed + k, 0, n, self.shape).double()
            x_t = math.sqrt(hi**2 + self.preset.precond.sigma_data**2) * z
            x_t = x_t if start is None else start.sample(z, labels)
            draws.append((x_t, sample(d64, x_t, karras_sigmas(256, lo, hi), "heun")))
        return draws

    def _tuned_denoiser(self, condition: Condition = Condition()):
        """The float64 denoiser a grid is tuned on: the one `condition.key` names."""
        d64 = self._in(torch.float64)
        if not condition.key(self.config.data):
            return d64
        return condition.denoiser(d64, self.config.data, self.path)

    def tune_grid(
        self,
        nfe: int,
        sampler: str = "unipc",
        n: int = 512,
        seed: int = 0,
        iterations: int = 400,
        store: bool = True,
        draws: list | None = None,
        cond=None,
        guidance: float = 1.0,
        unconditional: bool = False,
    ) -> dict:
        """Tune a grid for `sampler` at `nfe` evaluations on this run's own denoiser (sampling.tune:
        Nelder–Mead on n noise draws against a 256-step Heun solution), check it on n fresh draws,
        store it in RUN/grids.json (used by sample(schedule="tuned")); returns the numbers.
        `draws`: `_tuning_draws(n, seed)` made once for several samplers. A labelled run is tuned
        on the denoiser it will sample with: D(·, c) or D_w for one class `cond`, D(·, ∅) without
        (`condition` in the result says which)."""
        self.refuse_student("tuning an ODE grid")
        from ..sampling.tune import ode_error, steps_for_nfe, tune_grid

        get_sampler(sampler)
        how = Condition(cond, guidance, unconditional)
        how.check(self.config.data, self.path)  # refuse a class an unlabelled run lacks
        condition = how.key(self.config.data)
        d64 = self._tuned_denoiser(how)
        lo, hi = self.preset.sampling_range()
        draws = draws or self._tuning_draws(n, seed, how)
        start = time.perf_counter()
        grid, _ = tune_grid(d64, *draws[0], nfe, sampler, hi, lo, iterations=iterations)
        seconds = time.perf_counter() - start
        fresh = {
            "karras": ode_error(
                d64, *draws[1], self.sigmas(steps_for_nfe(sampler, nfe)).double(), sampler
            ),
            "tuned": ode_error(d64, *draws[1], grid, sampler),
        }
        record = {
            "sigmas": grid.tolist(),
            "tuned": fresh["tuned"],
            "karras": fresh["karras"],
            "seconds": seconds,
            "n": len(draws[0][0]),
        }
        if store:
            self._store_grids({f"{sampler}@{nfe}{condition}": record})
        return {
            "sampler": sampler,
            "nfe": nfe,
            "condition": condition[1:] or "unconditional",
            **record,
        }
