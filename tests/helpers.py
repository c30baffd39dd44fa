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
    """A small run through the command line (depth-1 MLP), for tests of what comes after
    training."""
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


def run(*args):
    """The command line in-process, arguments as strings."""
    from click.testing import CliRunner

    from difflab.cli import cli

    return CliRunner().invoke(cli, [str(a) for a in args])


def one_line_error(r, needle):
    """Bad input: exit code 2, one line naming the problem, no traceback."""
    assert r.exit_code == 2, r.output
    assert needle in r.output, r.output
    assert r.output.count("\n") == 1 and "Traceback" not in r.output
