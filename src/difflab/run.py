"""A trained run as a Python object: its denoiser, sampling in the data's units, evaluation."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .checkpoint import load_checkpoint
from .data import Standardiser, check_array, get_toy, is_toy, load_data
from .errors import DifflabError
from .metrics import compare
from .parameterisation import Denoiser
from .presets import Preset, get_preset
from .random import randn_per_sample
from .sampling import get_sampler, make_sigmas, sample
from .training import CHECKPOINT, ModelConfig, build_denoiser


@dataclass
class Run:
    """A trained model: the EMA denoiser (on standardised data), its preset and its standardiser."""

    path: Path
    config: dict
    preset: Preset
    denoiser: Denoiser
    standardiser: Standardiser

    @property
    def dim(self) -> int:
        return int(self.config["data"]["dim"])

    @classmethod
    def load(cls, run_dir: str | Path, device: str = "cpu") -> "Run":
        """Load RUN_DIR/checkpoint.safetensors (the EMA weights) without unpickling anything."""
        path = Path(run_dir)
        if not path.is_dir():
            raise DifflabError(f"{path}: no such run directory")
        tensors, meta = load_checkpoint(path / CHECKPOINT)
        config = meta.get("config")
        if not isinstance(config, dict) or "preset" not in config:
            raise DifflabError(f"{path / CHECKPOINT}: checkpoint metadata has no run configuration")
        preset = get_preset(config["preset"]).adapt(config["sigma_data"], config["sigma_max"])
        model_cfg = ModelConfig(**{k: v for k, v in config["model"].items() if k != "type"})
        denoiser = build_denoiser(preset, config["data"]["dim"], model_cfg)
        try:
            denoiser.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("ema.")})
        except RuntimeError:
            raise DifflabError(f"{path / CHECKPOINT}: weights do not match the model in its configuration") from None
        denoiser.to(device).eval().requires_grad_(False)
        std = Standardiser.from_dict(config["data"]["standardiser"])
        return cls(path, config, preset, denoiser, std)

    def sigmas(self, steps: int = 18, schedule: str = "karras", sigma_min: float | None = None,
               sigma_max: float | None = None, rho: float = 7.0) -> torch.Tensor:
        """The σ grid: the preset's range (cut at the data's σ_max) unless given."""
        lo, hi = self.preset.sampling_range()
        return make_sigmas(schedule, steps, sigma_min or lo, sigma_max or hi, self.preset.process, rho)

    def sample(self, n: int, sampler: str = "heun", steps: int = 18, seed: int = 0,
               sigma_min: float | None = None, sigma_max: float | None = None, rho: float = 7.0,
               schedule: str = "karras", batch_size: int = 10_000, stats: dict | None = None,
               own_time: bool = False, **options) -> np.ndarray:
        """n samples in the data's original units. Sample i depends only on (seed, i), not on batching:
        its initial noise is stream 0 and the sampler's noise key k is stream k + 1 of its chunk.
        ODE solvers and Euler–Maruyama integrate in EDM's time σ = t, s = 1 (EDM Sec. 3: the best ODE
        for sampling), or with own_time=True in the preset's process (σ(t), s(t))."""
        if n < 1:
            raise DifflabError(f"number of samples must be positive, got {n}")
        get_sampler(sampler)
        sigmas = self.sigmas(steps, schedule, sigma_min, sigma_max, rho)
        scale = math.sqrt(float(sigmas[0]) ** 2 + self.preset.precond.sigma_data**2)
        device = next(self.denoiser.parameters()).device
        out, info = [], {}
        for start in range(0, n, batch_size):
            count = min(batch_size, n - start)
            x = scale * randn_per_sample(seed, start, count, (self.dim,)).to(device)

            def noise(key: int, start=start, count=count) -> torch.Tensor:
                return randn_per_sample(seed, start, count, (self.dim,), stream=key + 1).to(device)

            out.append(sample(self.denoiser, x, sigmas, method=sampler, noise=noise, stats=info,
                              process=self.preset.process if own_time else None, **options).cpu())
        if stats is not None:
            stats.update(info, sigma_min=float(sigmas[-2]), sigma_max=float(sigmas[0]), steps=len(sigmas) - 1)
        return self.standardiser.inverse(torch.cat(out).double().numpy())

    def reference_sets(self, n: int, spec: str | None = None, k: int = 6) -> list[np.ndarray]:
        """k independent exact sets for the noise floor: fresh draws of a toy set, or disjoint
        random chunks of a data file (fewer and smaller when the file is small)."""
        spec = spec or self.config["data"]["spec"]
        if is_toy(spec):
            toy = get_toy(spec)
            if toy.dim != self.dim:
                raise DifflabError(f"reference {spec} has dimension {toy.dim}, the model {self.dim}")
            return [toy.sample(n, seed=10_000 + i).numpy() for i in range(k)]
        data = load_data(spec)
        if data.shape[1] != self.dim:
            raise DifflabError(f"{spec}: reference has {data.shape[1]} columns, the model was trained on {self.dim}")
        if len(data) < 4:
            raise DifflabError(f"{spec}: at least 4 reference rows are needed to estimate a noise floor")
        data = data[np.random.default_rng(0).permutation(len(data))]
        k = max(2, min(k, len(data) // n))
        size = min(n, len(data) // k)
        return [data[i * size:(i + 1) * size] for i in range(k)]

    def evaluate(self, samples: np.ndarray, reference: str | None = None) -> dict:
        """Metrics of samples (original units) against the reference, with the noise floor."""
        samples = check_array(np.asarray(samples), "samples")
        if samples.shape[1] != self.dim:
            raise DifflabError(f"samples have {samples.shape[1]} columns, the model was trained on {self.dim}")
        spec = reference or self.config["data"]["spec"]
        refs = self.reference_sets(len(samples), spec)
        mixture = get_toy(spec).mixture if is_toy(spec) else None
        result = compare(samples, refs, mixture)
        result["reference"] = spec
        return result


def load_run(run_dir: str | Path, device: str = "cpu") -> Run:
    """The run in RUN_DIR (see Run.load)."""
    return Run.load(run_dir, device)
