"""difflab: diffusion models as one design space (process × parameterisation × loss), their
samplers as ODE/SDE solvers, and likelihoods, for low-dimensional data and small images.

The Python API mirrors the command line:
    difflab.train(array, "edm", "runs/x", difflab.TrainConfig(seconds=60))   # difflab train
    run = difflab.load_run("runs/x"); x = run.sample(5000)                   # difflab sample
    run.evaluate(x)                                                          # difflab evaluate
Samplers live in difflab.sampling (karras_sigmas, sample), closed-form denoisers in difflab.ideal.

The names below are imported on first use (PEP 562), so `import difflab` stays light: no pandas,
no training loop, no benchmarks until they are asked for.
"""

from __future__ import annotations

import importlib

from ._version import __version__

_EXPORTS = {
    "PRESETS": "presets",
    "Preset": "presets",
    "get_preset": "presets",
    "Run": "run",
    "FlowRun": "run",
    "load_run": "run",
    "ModelConfig": "models",
    "TrainConfig": "training",
    "TrainingData": "data.training",
    "train": "training",
    "distill": "distillation",
    "load_external": "external",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'difflab' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
