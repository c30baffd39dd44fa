"""difflab: diffusion models as one design space (process × parameterisation × loss), their
samplers as ODE/SDE solvers, and likelihoods, for low-dimensional data and small images.

The Python API mirrors the command line:
    difflab.train(array, "edm", "runs/x", difflab.TrainConfig(seconds=60))   # difflab train
    run = difflab.load_run("runs/x"); x = run.sample(5000)                   # difflab sample
    run.evaluate(x)                                                          # difflab evaluate
Samplers live in difflab.sampling (karras_sigmas, sample), closed-form denoisers in difflab.ideal.
"""

__version__ = "0.1.0"

from .presets import PRESETS, Preset, get_preset  # noqa: E402
from .run import FlowRun, Run, load_run  # noqa: E402
from .training import ModelConfig, TrainConfig, train  # noqa: E402

__all__ = [
    "PRESETS",
    "Preset",
    "get_preset",
    "Run",
    "FlowRun",
    "load_run",
    "ModelConfig",
    "TrainConfig",
    "train",
]
