"""Autoregressive models with exact likelihood (seed 001): MADE for vectors, WaveNet for
sequences; each conditional a mixture of Gaussians, sampled by inverting its CDF."""

from .made import MADE
from .mixture import mixture_cdf, mixture_icdf, mixture_log_prob, split_params
from .wavenet import WaveNet

__all__ = ["MADE", "WaveNet", "mixture_cdf", "mixture_icdf", "mixture_log_prob", "split_params"]
