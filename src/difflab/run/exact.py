"""A trained exact-likelihood model — a normalizing flow (NICE, RealNVP) or an autoregressive
model (MADE, WaveNet): exact sampling, exact log-likelihood, exact completion of rows."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..data import scaler_from_dict
from ..errors import DifflabError
from ..models import build_model
from ..random import randn_per_sample
from .base import TrainedRun, chunks, load_ema, load_parts
from .condition import Condition, short


@dataclass
class FlowRun(TrainedRun):
    """A trained exact-likelihood model — a normalizing flow (NICE, RealNVP) or an autoregressive
    model (MADE, WaveNet), x = f⁻¹(z) either way: exact sampling and exact log-likelihood."""

    flow: nn.Module

    @classmethod
    def load(cls, run_dir: str | Path, device: str = "cpu") -> "FlowRun":
        return cls.from_parts(*load_parts(run_dir), device)

    @classmethod
    def from_parts(cls, path: Path, tensors: dict, config, device: str = "cpu") -> "FlowRun":
        """The run from a checkpoint already read (`load_parts`)."""
        if not config.model.is_flow:
            raise DifflabError(f"{path}: not a flow run (model {config.model.type!r})")
        flow = build_model(None, config.data.shape, config.model)
        load_ema(flow, tensors, path)
        flow.to(device).eval().requires_grad_(False)
        return cls(path, config, scaler_from_dict(config.data.standardiser), flow)

    @property
    def is_autoregressive(self) -> bool:
        return self.config.model.kind == "autoregressive"

    def _label(self, condition: Condition, n: int) -> torch.Tensor | None:
        """The class tensor for a labelled autoregressive run: class `cond` (a name or an index, or
        one per sample), or the null class −1 (p(x), trained with label dropout) when asked for
        unconditional samples."""
        cond, data = condition.cond, self.config.data
        if not self.classes:
            if cond is not None or condition.unconditional:
                raise DifflabError(f"{self.path} was trained without labels: no class to give")
            return None
        if cond is None and not condition.unconditional:
            raise DifflabError(
                f"{self.path} was trained with labels ({short(self.classes)}): give a class "
                "(--class K) or ask for --unconditional samples"
            )
        if cond is None:
            return torch.full((n,), -1, dtype=torch.long)
        return condition.labels(data, n)

    def sample(
        self,
        n: int,
        seed: int = 0,
        batch_size: int = 10_000,
        stats: dict | None = None,
        cond=None,
        guidance: float = 1.0,
        unconditional: bool = False,
        progress: bool = False,
        **options,
    ) -> np.ndarray:
        """n exact samples x = f⁻¹(z), z ~ N(0, I); sample i depends only on (seed, i). No
        sampler, steps or σ grid: passing sampler options is an error. An autoregressive run
        trained with labels samples p(x | c) for cond = c (or one class per sample), or p(x) with
        unconditional=True."""
        if guidance != 1:
            raise DifflabError(
                f"{self.path} is a {self.name} model: it samples p(x | c) exactly (--class K), "
                "without guidance"
            )
        given = {k: v for k, v in options.items() if v is not None}
        if given:
            raise DifflabError(
                f"{self.path} is a {self.name} model: it samples exactly, without "
                f"{', '.join(sorted(given))}"
            )
        if n < 1:
            raise DifflabError(f"number of samples must be positive, got {n}")
        device = next(self.flow.parameters()).device
        label = self._label(Condition(cond, unconditional=unconditional), n)
        out = []
        for rows in chunks(n, batch_size):
            z = randn_per_sample(seed, rows.start, rows.stop - rows.start, self.shape).to(device)
            extra = () if label is None else (label[rows].to(device),)
            out.append(self.flow.sample(z, *extra).cpu())
        if stats is not None:
            stats["nfe"] = self.dim if self.is_autoregressive else 1
        samples = self.standardiser.inverse(torch.cat(out).double().numpy())
        return self._with_labels(samples, label)

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
        particles: int = 64,
        progress: bool = False,
        **options,
    ) -> np.ndarray:
        """An autoregressive model's completion (autoregressive.inpaint): the unknown entries in
        the model's order, M = `particles` draws per row resampled by the known entries' weights —
        exact with one draw when the known entries come first in the order. Row i depends only
        on (seed, i). stats gets the rows' smallest effective sample size."""
        from ..autoregressive.inpaint import ar_inpaint

        if not self.is_autoregressive:
            raise DifflabError(f"{self.path} is a {self.name} flow: it cannot fix some entries")
        guided = condition.guidance != 1
        if guided or options or steps is not None:
            given = sorted([*options, *(["steps"] if steps else []), *(["guidance"] * guided)])
            raise DifflabError(
                f"an autoregressive model completes rows exactly; no {', '.join(given)}"
            )
        device = next(self.flow.parameters()).device
        label = self._label(condition, len(z))
        out, worst = [], float("inf")
        for rows in chunks(len(z), batch_size):
            count = rows.stop - rows.start
            noise = randn_per_sample(seed, rows.start * particles, count * particles, self.shape)
            u = torch.special.ndtr(randn_per_sample(seed, rows.start, count, (), stream=1).double())
            known = torch.from_numpy(np.nan_to_num(z[rows])).float().to(device)
            with torch.no_grad():
                x, ess = ar_inpaint(
                    self.flow,
                    known,
                    torch.from_numpy(mask[rows]).to(device),
                    noise.view(count, particles, *self.shape).to(device),
                    u,
                    None if label is None else label[rows].to(device),
                )
            out.append(x.cpu().double().numpy())
            worst = min(worst, float(ess.min()))
        if stats is not None:
            stats.update(nfe=self.dim * particles, min_ess=worst, particles=particles)
        return np.concatenate(out)

    def log_prob_standardised(
        self, z: torch.Tensor, stats: dict | None = None, cond: int | None = None, **options
    ) -> np.ndarray:
        """Exact log p(ẑ) (a labelled autoregressive run: log p(ẑ | c), or p(ẑ) through the null
        class); integration options do not apply."""
        device = next(self.flow.parameters()).device
        label = None
        if self.classes:
            label = self._label(Condition(cond, unconditional=cond is None), len(z))
        chunks = z.to(torch.float32).split(10_000)
        labels = [None] * len(chunks) if label is None else label.split(10_000)
        with torch.no_grad():
            out = [
                self.flow.log_prob(c.to(device), *(() if y is None else (y.to(device),))).cpu()
                for c, y in zip(chunks, labels)
            ]
        if stats is not None:
            stats["nfe"] = 1
        return torch.cat(out).double().numpy()
