"""Shared test helpers."""

import torch

from difflab.parameterisation import network_target


class IdealNet(torch.nn.Module):
    """The network output F* that makes a preconditioned denoiser equal `ideal` exactly: recovers σ
    from c_noise = ¼ ln σ and x̂ from c_in·x̂, then returns (D* - c_skip x̂)/c_out."""

    def __init__(self, precond, ideal):
        super().__init__()
        self.precond, self.ideal = precond, ideal

    def forward(self, x_in, c_noise):
        sigma = torch.exp(4 * c_noise)
        x = x_in / self.precond.c_in(sigma)[:, None]
        return network_target(self.precond, self.ideal(x, sigma), x, sigma)


def train_tiny(out, data: str = "moons", steps: int = 30, width: int = 16, *extra) -> None:
    """A small run through the command line (depth-1 MLP), for tests of what comes after training."""
    from click.testing import CliRunner

    from difflab.cli import cli

    args = [
        "train",
        "--data",
        data,
        "--out",
        str(out),
        "--steps",
        str(steps),
        "--width",
        str(width),
        "--depth",
        "1",
    ]
    r = CliRunner().invoke(cli, args + [str(a) for a in extra])
    assert r.exit_code == 0, r.output
