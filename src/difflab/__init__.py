"""difflab: diffusion models as one design space (process × parameterisation × loss), their
samplers as ODE/SDE solvers, and likelihoods, for low-dimensional data and small images."""

__version__ = "0.1.0"
