"""The data in the model's units before the first step: scaling, σ_data, σ_max, class moments."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ..autoregressive.wavenet import receptive_field
from ..data import Standardiser, max_pairwise_distance
from ..data.codec import TableCodec, describe_columns
from ..data.images import SIGMA_DATA, PixelScaler
from ..presets import Preset
from ..runconfig import RunConfig
from ..sampling.prior import FULL_MAX_DIM
from .distributed import DistEnv


def prepare_data(
    raw: np.ndarray | pd.DataFrame,
    standardise: bool,
    pixels: PixelScaler | TableCodec | None = None,
) -> tuple[np.ndarray, Standardiser | PixelScaler | TableCodec, float, float]:
    """The training array in the model's units, its scaler, σ_data and σ_max derived from the data.

    Tables are encoded by their column codec (σ_data: the codes' standard deviation); vectors are
    scaled by a given Standardiser (a distilled student: its teacher's) or standardised per
    dimension (σ_data: their standard deviation, 1 unless not standardised); images are scaled
    by their known pixel range to [-1, 1] with σ_data = 0.5 (EDM).
    σ_max is the largest pairwise distance between data points (Song & Ermon 2020, Technique 1),
    so the prior covers the data.
    """
    if isinstance(pixels, (TableCodec, Standardiser)):  # a table's codec or a given scaling
        std, z = pixels, pixels.forward(raw)
        sigma_data = float(z.std())
    elif pixels is not None:
        std, sigma_data = pixels, SIGMA_DATA
        z = std.forward(raw)
    else:
        std = Standardiser.fit(raw) if standardise else Standardiser.identity(raw.shape[1])
        z = std.forward(raw)
        sigma_data = float(z.std())
    sigma_max = max_pairwise_distance(torch.from_numpy(z.reshape(len(z), -1)))
    return z, std, sigma_data, float(f"{sigma_max:.3g}")


def class_moments(z: np.ndarray, labels: np.ndarray, k: int) -> tuple[list, list] | None:
    """Each class's mean [K][D] and covariance of the (standardised) data: [K][D][D] for
    D ≤ FULL_MAX_DIM, per-coordinate variances [K][D] above (images: per-pixel); a class without
    rows gets the overall moments. None for large images (z[0].size > 4096: σ_max ≫ the data there,
    and config.json stays small).

    Sampling class c starts from its flow's exact marginal N(m_c, Σ_c + σ_max² I)
    (sampling.prior.class_start): a start of variance σ_max² + σ_data² made a narrow class (sd 0.15
    in a standardised table, σ_max 1.43) come out 2.1× too wide."""
    flat = z.reshape(len(z), -1)
    if flat.shape[1] > 4096:
        return None
    full = flat.shape[1] <= FULL_MAX_DIM
    means, covs = [], []
    for c in range(k):
        rows = flat[labels == c] if (labels == c).any() else flat
        means.append(rows.mean(0))
        centred = rows - rows.mean(0)
        if full:
            covs.append(centred.T @ centred / max(len(rows) - 1, 1))
        else:
            covs.append((centred**2).sum(0) / max(len(rows) - 1, 1))
    return np.asarray(means).tolist(), np.asarray(covs).tolist()


def data_covariance(z: np.ndarray) -> list | None:
    """The (standardised) training data's covariance, kept for the likelihood's prior (small D
    only)."""
    flat = z.reshape(len(z), -1)
    return np.atleast_2d(np.cov(flat.T)).tolist() if flat.shape[1] <= FULL_MAX_DIM else None


def describe(rc: RunConfig, preset: Preset, env: DistEnv, standardise: bool) -> str:
    """The line `train` logs before the first step: what is trained, on what, scaled how."""
    if rc.model.is_flow:
        kind = "flow" if rc.model.kind == "flow" else "model"
        what = f"{rc.model.type} {kind}, maximum likelihood"
        if rc.model.type == "wavenet":
            what += f", receptive field {receptive_field(rc.model.layers)}"
    else:
        sigma_max = preset.sampling_range()[1]
        what = f"preset {preset.name}: σ_data = {rc.sigma_data:.3g}, σ_max = {sigma_max:.3g}"
    labelled = (
        f", {rc.data.num_classes} classes from {rc.data.labels}, p_uncond {rc.train['p_uncond']}"
        if rc.data.classes
        else ""
    )
    scaling = rc.data.standardiser
    if scaling.get("kind") == "pixels":
        how = f"pixels {scaling['lo']:g}–{scaling['hi']:g} → [-1, 1]"
    elif scaling.get("kind") == "table":
        how = describe_columns(TableCodec.from_dict(scaling))
    else:
        how = f"standardised={standardise}"
    size = "×".join(str(s) for s in (rc.data.n, *rc.data.shape))
    return (
        f"{what} (data: {rc.data.spec}, {size}, {how}{labelled}"
        + (f", {env.world_size} processes" if env.active else "")
        + ")"
    )
