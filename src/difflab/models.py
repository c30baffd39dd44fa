"""One model registry: each model type says how it is built from its configuration and what kind
it is.

Kinds: 'denoiser' (a network F wrapped by a preset's preconditioning into D(x̂; σ, c), trained by
denoising score matching), 'flow' (a normalizing flow) and 'autoregressive' (MADE, WaveNet: a
product of conditionals, sampled by inverting them — a flow too), both trained by maximum
likelihood. The training loop asks the kind for its objective (objectives.py) and never branches
on the type.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from .autoregressive import MADE, WaveNet
from .errors import DifflabError, lookup
from .flows import nice, realnvp
from .nn import MLP
from .nn.unet import UNet
from .parameterisation import Denoiser
from .presets import Preset


@dataclass(frozen=True)
class ModelConfig:
    """type: a name of MODELS. mlp: residual MLP of `depth` blocks of `width`; realnvp | nice:
    `layers` coupling layers, each conditioner an MLP of `depth` hidden layers of `width`; unet:
    `channels` base width, `mults` per resolution, `blocks` per resolution, `dropout`. made:
    `depth` masked hidden layers of `width`, entries in `order` (natural | reverse | random |
    a comma list); wavenet: `layers` gated blocks of `channels` (dilations 1, 2, 4, …); both
    with `components` Gaussians per conditional. num_classes > 0 conditions a denoiser or an
    autoregressive model on class labels (plus the null class)."""

    type: str = "mlp"
    width: int = 128
    depth: int = 4
    emb_dim: int = 64
    layers: int = 8
    actnorm: bool = True
    num_classes: int = 0
    channels: int = 64
    mults: tuple[int, ...] = (1, 2, 2)
    blocks: int = 2
    dropout: float = 0.0
    components: int = 8
    order: str = "natural"

    def __post_init__(self) -> None:
        object.__setattr__(self, "mults", tuple(int(m) for m in self.mults))  # JSON gives a list
        spec = lookup(MODELS, self.type, "model")
        if self.num_classes and spec.kind == "flow":
            raise DifflabError(
                f"class labels condition a diffusion or autoregressive model; a {self.type} flow "
                "takes none"
            )

    @property
    def kind(self) -> str:
        return MODELS[self.type].kind

    @property
    def is_flow(self) -> bool:
        """Trained by maximum likelihood and sampled exactly as x = f⁻¹(z): flows and
        autoregressive models (no preset, sampler or σ grid)."""
        return self.kind != "denoiser"


Builder = Callable[[Preset | None, tuple[int, ...], ModelConfig], nn.Module]


@dataclass(frozen=True)
class ModelSpec:
    kind: str  # 'denoiser' | 'flow' | 'autoregressive'
    build: Builder
    summary: str


def _mlp(preset: Preset | None, shape: tuple[int, ...], cfg: ModelConfig) -> Denoiser:
    net = MLP(
        math.prod(shape),
        width=cfg.width,
        depth=cfg.depth,
        emb_dim=cfg.emb_dim,
        num_classes=cfg.num_classes,
    )
    return Denoiser(net, preset.precond, _schedule(preset))


def _schedule(preset: Preset) -> nn.Module | None:
    """The learned noise schedule of a recipe that learns one (`vdm`), between its sampling
    ends (the data's σ_max once the preset is adapted), else None."""
    if not preset.learns_schedule:
        return None
    from .learned_schedule import LearnedSchedule

    return LearnedSchedule(*preset.sampling_range())


def _unet(preset: Preset | None, shape: tuple[int, ...], cfg: ModelConfig) -> Denoiser:
    if len(shape) != 3:
        raise DifflabError(f"the unet models images C×H×W; the data's samples have shape {shape}")
    net = UNet(
        shape,
        channels=cfg.channels,
        mults=cfg.mults,
        blocks=cfg.blocks,
        num_classes=cfg.num_classes,
        dropout=cfg.dropout,
    )
    return Denoiser(net, preset.precond, _schedule(preset))


def _made(preset: Preset | None, shape: tuple[int, ...], cfg: ModelConfig) -> MADE:
    dim = _vector_dim(shape, "made")
    return MADE(
        dim,
        width=cfg.width,
        depth=cfg.depth,
        components=cfg.components,
        order=made_order(cfg.order, dim),
        num_classes=cfg.num_classes,
    )


def _wavenet(preset: Preset | None, shape: tuple[int, ...], cfg: ModelConfig) -> WaveNet:
    length = _vector_dim(shape, "wavenet")
    return WaveNet(
        length,
        channels=cfg.channels,
        blocks=cfg.layers,
        components=cfg.components,
        num_classes=cfg.num_classes,
    )


def made_order(spec: str, dim: int) -> list[int]:
    """natural (0…D−1), reverse, random (a fixed permutation, seed 0) or a comma list."""
    if spec == "natural":
        return list(range(dim))
    if spec == "reverse":
        return list(range(dim))[::-1]
    if spec == "random":
        return torch.randperm(dim, generator=torch.Generator().manual_seed(0)).tolist()
    try:
        order = [int(i) for i in spec.split(",")]
    except ValueError:
        order = []
    if sorted(order) != list(range(dim)):
        raise DifflabError(
            f"order {spec!r}: expected natural, reverse, random or a permutation of 0…{dim - 1} "
            "as a comma list"
        )
    return order


def _vector_dim(shape: tuple[int, ...], what: str) -> int:
    if len(shape) != 1:
        raise DifflabError(f"a {what} model takes vectors; the data's samples have shape {shape}")
    return shape[0]


def _external(preset: Preset | None, shape: tuple[int, ...], cfg: ModelConfig) -> nn.Module:
    raise DifflabError(
        "a diffusers model is read from its own directory (difflab.load_external, or --run DIR), "
        "not built or trained here"
    )


MODELS: dict[str, ModelSpec] = {
    "mlp": ModelSpec("denoiser", _mlp, "diffusion model: residual MLP denoiser of any preset"),
    "realnvp": ModelSpec(
        "flow",
        lambda _p, shape, c: realnvp(
            _vector_dim(shape, "realnvp"),
            layers=c.layers,
            width=c.width,
            depth=c.depth,
            actnorm=c.actnorm,
        ),
        "normalizing flow: affine couplings + ActNorm (Dinh et al. 2017)",
    ),
    "nice": ModelSpec(
        "flow",
        lambda _p, shape, c: nice(
            _vector_dim(shape, "nice"), layers=c.layers, width=c.width, depth=c.depth
        ),
        "normalizing flow: additive couplings + scaling (Dinh et al. 2015)",
    ),
    "unet": ModelSpec(
        "denoiser", _unet, "diffusion model: compact U-Net denoiser for images (C×H×W)"
    ),
    "made": ModelSpec(
        "autoregressive",
        _made,
        "autoregressive: masked network, mixture-of-Gaussians conditionals (Germain et al. 2015)",
    ),
    "wavenet": ModelSpec(
        "autoregressive",
        _wavenet,
        "autoregressive: dilated causal convolutions over a sequence (van den Oord et al. 2016)",
    ),
    "diffusers": ModelSpec(
        "denoiser", _external, "a diffusers UNet trained elsewhere, read by difflab.external"
    ),
}


def build_model(preset: Preset | None, shape: tuple[int, ...] | int, cfg: ModelConfig) -> nn.Module:
    """The network a run trains, for samples of `shape` (an int D means vectors of D)."""
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    return MODELS[cfg.type].build(preset, shape, cfg)


__all__ = ["MODELS", "ModelConfig", "ModelSpec", "build_model", "made_order"]


def choose_model(type_: str | None, images: bool, preset: str | None, **sizes) -> ModelConfig:
    """The model `difflab train` builds: `type_`, else a U-Net for images and an MLP for vectors,
    of `sizes` (ModelConfig's fields). A preset is a diffusion recipe, refused for a model trained
    by maximum likelihood; an order other than natural is MADE's alone."""
    type_ = type_ or ("unet" if images else "mlp")
    if lookup(MODELS, type_, "model").kind != "denoiser" and preset is not None:
        raise DifflabError(
            f"--preset is a diffusion recipe; a {type_} model is trained by maximum likelihood"
        )
    if sizes.get("order", "natural") != "natural" and type_ != "made":
        raise DifflabError("--order sets the entries' order of a made model")
    return ModelConfig(type=type_, **sizes)
