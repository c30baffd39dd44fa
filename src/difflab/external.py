"""Models trained elsewhere, as difflab runs: a diffusers UNet with its scheduler's noise table
becomes the one denoiser D(x̂; σ, c), and every sampler, tuned grid, likelihood and inpainting
method of a diffusion Run works on it (issue 26).

A diffusers model predicts ε, v or x0 from x_t = sqrt(ᾱ_k) x0 + sqrt(1 − ᾱ_k) n at an integer
timestep k. In difflab's convention x_t = s·x̂ with s = sqrt(ᾱ) = 1/sqrt(1 + σ²) and σ =
sqrt((1 − ᾱ)/ᾱ) (processes.DiscreteVP: the table, and the fractional timestep of any σ between
its levels, log σ interpolated as k-diffusion's DiscreteSchedule does). Nothing is unpickled: the
weights are read from safetensors only, and no file is written into the user's model directory
(tuned grids go to a run directory of its own, `external_run_dir`).

A k-diffusion model (any callable D(x, σ[, cond])) needs no adapter: every sampler takes it as
it is.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path

import torch
from torch import Tensor, nn

from .errors import DifflabError
from .processes import DiscreteVP
from .utils import append_dims, as_sigma

PREDICTIONS = ("epsilon", "v_prediction", "sample")
BETA_SCHEDULES = ("linear", "scaled_linear", "squaredcos_cap_v2")
WEIGHTS = "diffusion_pytorch_model.safetensors"


def x0_from_prediction(prediction: str, out: Tensor, x: Tensor, sigma: Tensor) -> Tensor:
    """x0 from a VP network's output at x_t = s x̂ (s = 1/sqrt(1 + σ²), so α_t = s and σ_t = sσ):
    ε: x̂ − σε (DDPM); v = α_t ε − σ_t x0 (Salimans & Ho 2022, §4): x0 = α_t x_t − σ_t v = s² x̂ −
    sσ v; sample: the output itself."""
    sigma = append_dims(sigma, x.ndim)
    if prediction == "epsilon":
        return x - sigma * out
    s = torch.rsqrt(1.0 + sigma**2)
    if prediction == "v_prediction":
        return s * s * x - s * sigma * out
    if prediction == "sample":
        return out
    raise DifflabError(f"prediction type {prediction!r}: expected one of {', '.join(PREDICTIONS)}")


class DiffusersDenoiser(nn.Module):
    """D(x̂; σ, c) of a diffusers UNet: its input x_t = x̂/sqrt(1 + σ²) at the fractional timestep
    t(σ) of its table, its output converted to x0 (`x0_from_prediction`); c its class labels."""

    def __init__(self, unet: nn.Module, schedule: DiscreteVP, prediction: str = "epsilon"):
        super().__init__()
        if prediction not in PREDICTIONS:
            raise DifflabError(
                f"prediction type {prediction!r}: expected one of {', '.join(PREDICTIONS)}"
            )
        self.unet, self.table, self.prediction = unet, schedule, prediction

    def forward(self, x: Tensor, sigma: Tensor | float, cond: Tensor | None = None) -> Tensor:
        sigma = as_sigma(sigma, x)
        t = self.table.t_of_sigma(sigma.double()).to(x.dtype)
        x_t = x * append_dims(torch.rsqrt(1.0 + sigma**2), x.ndim)
        kw = {} if cond is None else {"class_labels": cond}
        classes = getattr(getattr(self.unet, "config", None), "num_class_embeds", None)
        if classes and (cond is None or (cond < 0).any()):
            raise DifflabError(
                "a diffusers UNet with class embeddings has no null class: sample it with a class "
                "(--class K) at guidance 1; unconditional samples and guidance need one"
            )
        out = self.unet(x_t, t, **kw)
        return x0_from_prediction(self.prediction, getattr(out, "sample", out), x, sigma)


def alphas_cumprod(config: dict) -> Tensor:
    """ᾱ_k of a diffusers scheduler config, computed as diffusers does (β in float32, then the
    cumulative product in float32), so both libraries see the same table: linear β, scaled_linear
    (linear in sqrt β), squaredcos_cap_v2 (Nichol & Dhariwal's cosine ᾱ, β capped at 0.999), or
    the config's own trained_betas."""
    steps = int(config.get("num_train_timesteps", 1000))
    lo, hi = float(config.get("beta_start", 1e-4)), float(config.get("beta_end", 0.02))
    kind = config.get("beta_schedule", "linear")
    if config.get("trained_betas") is not None:
        betas = torch.tensor(config["trained_betas"], dtype=torch.float32)
    elif kind == "linear":
        betas = torch.linspace(lo, hi, steps, dtype=torch.float32)
    elif kind == "scaled_linear":
        betas = torch.linspace(lo**0.5, hi**0.5, steps, dtype=torch.float32) ** 2
    elif kind == "squaredcos_cap_v2":
        betas = torch.tensor(_cosine_betas(steps), dtype=torch.float32)
    else:
        raise DifflabError(
            f"beta_schedule {kind!r}: difflab reads {', '.join(BETA_SCHEDULES)} or trained_betas"
        )
    return torch.cumprod(1.0 - betas, dim=0).double()


def _cosine_betas(steps: int, max_beta: float = 0.999) -> list[float]:
    """β_k = min(1 − ᾱ((k+1)/T)/ᾱ(k/T), 0.999), ᾱ(t) = cos²((t + 0.008)/1.008 · π/2)."""

    def alpha_bar(t: float) -> float:
        return math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2

    return [
        min(1 - alpha_bar((k + 1) / steps) / alpha_bar(k / steps), max_beta) for k in range(steps)
    ]


def is_diffusers_dir(path: str | Path) -> bool:
    """A diffusers pipeline (model_index.json) or a UNet saved by save_pretrained."""
    path = Path(path)
    return (path / "model_index.json").is_file() or _unet_class(path / "config.json") is not None


def _unet_class(config: Path) -> str | None:
    try:
        name = json.loads(config.read_text()).get("_class_name")
    except (OSError, ValueError, AttributeError):
        return None
    return name if isinstance(name, str) and name.startswith("UNet") else None


def _layout(model_dir: Path) -> tuple[Path, Path]:
    """(the UNet's folder, its scheduler config) of a pipeline or of a UNet folder."""
    if (model_dir / "model_index.json").is_file():
        unet, scheduler = model_dir / "unet", model_dir / "scheduler" / "scheduler_config.json"
    else:  # a UNet folder: its scheduler beside it, or in the pipeline's sibling folder
        unet, scheduler = model_dir, model_dir / "scheduler_config.json"
        sibling = model_dir.parent / "scheduler" / "scheduler_config.json"
        scheduler = scheduler if scheduler.is_file() or not sibling.is_file() else sibling
    if not (unet / WEIGHTS).is_file():
        found = sorted(p.name for p in unet.glob("*.bin")) if unet.is_dir() else []
        why = f" (found {', '.join(found)}: pickled weights, never loaded)" if found else ""
        raise DifflabError(f"{unet}: no {WEIGHTS}{why}; save the model with safe_serialization")
    if not scheduler.is_file():
        raise DifflabError(
            f"{model_dir}: no scheduler_config.json (the noise table the UNet was trained on); "
            "save the pipeline, or its scheduler beside the UNet"
        )
    return unet, scheduler


def external_run_dir(model_dir: str | Path) -> Path:
    """Where difflab keeps what it makes for a model from elsewhere (tuned grids): a run
    directory of its own under $DIFFLAB_HOME (default ~/.cache/difflab), named after the model's
    folder and a hash of its absolute path; never the model's own directory."""
    model_dir = Path(model_dir).resolve()
    home = Path(os.environ.get("DIFFLAB_HOME", Path.home() / ".cache" / "difflab"))
    digest = hashlib.sha1(str(model_dir).encode()).hexdigest()[:10]
    return home / "external" / f"{model_dir.name}-{digest}"


def load_diffusers(model_dir: str | Path, device: str = "cpu"):
    """The diffusers model in `model_dir` as a diffusion Run (sample, tune grids, likelihood,
    inpaint): UNet2DModel weights from safetensors, the scheduler's table and prediction type."""
    model_dir = Path(model_dir)
    unet_dir, scheduler = _layout(model_dir)
    config = json.loads(scheduler.read_text())
    unet = _read_unet(unet_dir)
    schedule = DiscreteVP.from_alphas_cumprod(alphas_cumprod(config))
    denoiser = DiffusersDenoiser(unet, schedule, config.get("prediction_type", "epsilon"))
    return _as_run(model_dir, denoiser, config, device)


def _read_unet(unet_dir: Path) -> nn.Module:
    try:
        import diffusers
    except ImportError:
        raise DifflabError(
            f"{unet_dir}: reading a diffusers model needs the diffusers package "
            "(pip install diffusers)"
        ) from None
    name = _unet_class(unet_dir / "config.json")
    kind = getattr(diffusers, name or "", None)
    if kind is None or name != "UNet2DModel":  # UNet1DModel: not read yet
        raise DifflabError(f"{unet_dir}: a {name or 'model'}; difflab reads UNet2DModel")
    # low_cpu_mem_usage=False: the same load, without a warning that asks for `accelerate`
    how = dict(use_safetensors=True, local_files_only=True, low_cpu_mem_usage=False)
    return kind.from_pretrained(unet_dir, **how)


def _as_run(model_dir: Path, denoiser: DiffusersDenoiser, scheduler: dict, device: str):
    """The Run around it: images in [-1, 1] ↔ pixels 0–255, its classes (num_class_embeds),
    the sampling range its table spans, the prior N(0, (1 + σ_max²) I): diffusers' x_T ~ N(0, I)
    in x̂ = x_T/s."""
    from .data.images import PixelScaler
    from .losses import UniformT
    from .models import ModelConfig
    from .parameterisation import EpsPrecond
    from .presets import Preset
    from .run import Run
    from .runconfig import DataInfo, RunConfig

    unet = denoiser.unet.config
    size = (
        unet.sample_size if isinstance(unet.sample_size, (tuple, list)) else (unet.sample_size,) * 2
    )
    classes = [str(k) for k in range(unet.num_class_embeds or 0)] or None
    scaler = PixelScaler(0.0, 255.0)
    shape = (int(unet.in_channels), *map(int, size))
    info = DataInfo(str(model_dir), 0, shape, scaler.to_dict(), classes=classes)
    schedule = denoiser.table
    preset = Preset("diffusers", schedule, EpsPrecond(sigma_data=1.0), UniformT(),
                    summary=f"a diffusers model ({scheduler.get('_class_name', 'scheduler')}, "
                    f"{denoiser.prediction})")  # fmt: skip
    # sampling starts at the largest distance two images in [-1, 1]^D can have, 2√D, as difflab's
    # own runs start at their data's largest pairwise distance: above it the prior is already
    # the marginal (DDPM's table reaches 157; for 8×8 images 2√D = 16)
    preset = preset.adapt(1.0, min(schedule.sigma_max, 2 * math.sqrt(math.prod(shape))))
    train = {"external": str(model_dir.resolve()), "prediction_type": denoiser.prediction}
    config = RunConfig(
        "diffusers", 1.0, preset.data_sigma_max, info, ModelConfig("diffusers"), train
    )
    path = external_run_dir(model_dir)
    path.mkdir(parents=True, exist_ok=True)
    denoiser = denoiser.to(device).eval().requires_grad_(False)
    return Run(path, config, scaler, preset, denoiser)


def load_external(model_dir: str | Path, device: str = "cpu"):
    """A model trained elsewhere as a difflab Run: a diffusers pipeline or UNet folder."""
    if not Path(model_dir).is_dir():
        raise DifflabError(f"{model_dir}: no such model directory")
    if is_diffusers_dir(model_dir):
        return load_diffusers(model_dir, device)
    raise DifflabError(
        f"{model_dir}: not a model difflab reads (a diffusers pipeline with model_index.json, "
        "or a UNet folder with config.json and its scheduler_config.json)"
    )


__all__ = [
    "DiffusersDenoiser",
    "alphas_cumprod",
    "external_run_dir",
    "is_diffusers_dir",
    "load_external",
    "x0_from_prediction",
]
