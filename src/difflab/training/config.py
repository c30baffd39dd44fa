"""What a training run is asked to do: the budget, the optimiser, precision and the data options."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import DifflabError


@dataclass(frozen=True)
class TrainConfig:
    steps: int | None = None
    seconds: float | None = None
    batch_size: int = 512
    lr: float = 1e-3
    weight_decay: float = 0.0
    warmup_steps: int = 200
    ema_decay: float = 0.999
    grad_clip: float = 1.0
    seed: int = 0
    device: str = "cpu"
    checkpoint_every: int = 1000
    log_every: int = 25
    precision: str = (
        "fp32"  # fp32 | bf16 (autocast, CPU or GPU) | fp16 (autocast + loss scaling, GPU)
    )
    compile: bool = False  # torch.compile the loss (network and preconditioning)
    p_uncond: float = 0.1  # labelled data: probability of training a sample with the null class
    channels_last: bool = False  # images: NHWC memory layout (faster convolutions on CPU and GPU)
    hflip: bool = False  # images: mirror each drawn image left–right with probability 1/2
    workers: int = 2  # streamed images: DataLoader workers decoding ahead (results do not depend)
    likelihood_weighting: bool = False  # train --weighting vlb: Preset.likelihood_weighted
    teacher: str | None = None  # a distilled student: its teacher's run directory (difflab.distill)

    def __post_init__(self) -> None:
        if not 0.0 <= self.p_uncond <= 1.0:
            raise DifflabError(f"p_uncond must lie in [0, 1], got {self.p_uncond}")
        self._check_precision()

    def _check_precision(self) -> None:
        if self.precision not in PRECISIONS:
            raise DifflabError(
                f"unknown precision {self.precision!r}; expected one of: {', '.join(PRECISIONS)}"
            )
        if self.precision == "fp16" and not self.device.startswith("cuda"):
            raise DifflabError(
                "--precision fp16 needs a CUDA device (loss scaling); on CPU use bf16"
            )


PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
