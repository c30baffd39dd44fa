"""The click group and what every command shares: one-line errors, option checks, formatting."""

from __future__ import annotations

import contextlib
import functools
import math
import sys
import warnings
from pathlib import Path

import click

from ..errors import DifflabError, DifflabWarning, Interrupted


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A DifflabWarning as one line on stderr (no file and line of the library)."""
    if issubclass(category, DifflabWarning):
        click.echo(f"warning: {message}", err=True)
    else:
        _python_showwarning(message, category, filename, lineno, file, line)


_python_showwarning = warnings.showwarning


@contextlib.contextmanager
def friendly_errors():
    """DifflabError (and a few OS errors) as one line on stderr and exit code 2; DifflabWarning
    as one line `warning: …`; an interrupt as one line and exit code 130."""
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            yield
    except Interrupted as e:
        click.echo(str(e), err=True)
        sys.exit(130)
    except DifflabError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(2)
    except PermissionError as e:
        click.echo(f"error: {e.filename}: permission denied", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)


def _friendly(fn):
    """A command whose errors are `friendly_errors`."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with friendly_errors():
            return fn(*args, **kwargs)

    return wrapper


class FriendlyGroup(click.Group):
    """A group whose option values are checked by their types (Positive) with one-line errors:
    the types raise DifflabError while click parses, before a command's own wrapper runs."""

    def invoke(self, ctx: click.Context):
        with friendly_errors():
            return super().invoke(ctx)


class Finite(click.ParamType):
    """A finite number (NaN and ±inf refused: a guidance of nan wrote all-NaN samples), at least
    `min` when given; the one-line error names the option."""

    name = "finite float"

    def __init__(self, min: float | None = None):
        self.min = min

    def convert(self, value, param, ctx):
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        name = param.opts[0] if param is not None else "value"
        if not math.isfinite(number):
            raise DifflabError(f"{name} must be a finite number, got {value}")
        if self.min is not None and number < self.min:
            raise DifflabError(f"{name} must be at least {self.min:g}, got {value}")
        return number


class Positive(click.ParamType):
    """A number > 0 (and at most `limit`, refused with `why`): the one-line error names the
    option."""

    def __init__(self, cast: type = int, limit: float | None = None, why: str = ""):
        self.cast, self.limit, self.why = cast, limit, why
        self.name = f"positive {cast.__name__}"

    def convert(self, value, param, ctx):
        if not isinstance(value, str):
            number = value
        else:
            try:
                number = self.cast(value)
            except ValueError:
                self.fail(f"{value!r} is not a valid {self.cast.__name__}", param, ctx)
        name = param.opts[0] if param is not None else "value"
        _positive(name, number)
        if self.limit is not None:
            _at_most(name, number, self.limit, self.why)
        return number


def _device(name: str) -> str:
    import torch  # here, not at the top: `difflab --help` answers before torch loads

    if name.startswith("cuda") and not torch.cuda.is_available():
        raise DifflabError(f"--device {name}: CUDA is not available on this machine")
    return name


def _positive(name: str, value: float | None) -> None:
    if value is not None and value <= 0:
        raise DifflabError(f"{name} must be positive, got {value}")


def _at_most(name: str, value: float | None, limit: float, why: str) -> None:
    """Absurd values are refused up front rather than discovered hours (or gigabytes) later."""
    if value is not None and value > limit:
        raise DifflabError(f"{name} {value} is more than {limit:,}: {why}")


def _check_output(path: Path, force: bool) -> None:
    """Refused before any work: an output that exists (without --force), or a file standing
    where a directory of its path should be."""
    if path.exists() and not force:
        raise DifflabError(f"{path} exists; use --force to overwrite it")
    blocking = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        raise DifflabError(f"{path}: {blocking} is a file, not a directory")


@click.group(
    cls=FriendlyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(package_name="difflab")
def cli() -> None:
    """difflab: train, sample and evaluate diffusion models of every recipe in one design space,
    and their relatives (normalizing flows, autoregressive models, neural ODEs), with likelihoods.

    \b
    Quick start:
      difflab demo
      difflab train --data moons --preset edm --out runs/moons --seconds 60
      difflab sample --run runs/moons --n 5000 --out runs/moons/samples.npy
      difflab evaluate --run runs/moons --samples runs/moons/samples.npy
      difflab likelihood --run runs/moons --data moons
      difflab report runs/moons
      difflab reproduce --list
    Several processes or GPUs: torchrun --nproc_per_node=N -m difflab train ...
    (docs/distributed.md)
    """


def _parse_options(opts: tuple[str, ...]) -> dict:
    """KEY=VALUE pairs; values become int, float or stay strings."""
    options = {}
    for item in opts:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise DifflabError(f"--opt {item!r}: expected KEY=VALUE")
        for cast in (int, float):
            try:
                options[key] = cast(value)
                break
            except ValueError:
                continue
        else:
            options[key] = value
    return options


def format_image_metrics(result: dict) -> str:
    """FD with its floor, class accuracy, memorisation beside held-out real images."""
    lines = [f"n = {result['n']} images vs the held-out test split of {result['reference']}"]
    if "fd" in result:
        m = result["fd"]
        lines.append(
            f"  FD      {m['value']:.4g}   floor {m['floor']:.4g} (real test vs real train, "
            f"n = {result['n_floor']})   ratio {m['ratio']:.2f}×   "
            f"(classifier's own held-out accuracy {100 * result['classifier_accuracy']:.1f}%)"
        )
    if "accuracy" in result:
        lines.append(f"  class accuracy of the samples {100 * result['accuracy']:.1f}%")
    m = result["memorisation"]
    lines.append(
        f"  memorised (nearest training image < 1/3 of the second) {100 * m['samples']:.1f}% "
        f"of samples, {100 * m['held_out']:.1f}% of held-out real images"
    )
    return "\n".join(lines)


def _x(ratio: float | None) -> str:
    return "—" if ratio is None else f"{ratio:.2f}×"


def format_table_metrics(result: dict) -> str:
    """Per-column distances and the table-wide metrics, each beside its floor."""
    lines = [f"n = {result['n']} synthetic vs held-out rows ({result['reference']})"]
    for key in ("warning", "memorisation_warning"):
        if result.get(key):
            lines.append(f"  warning: {result[key]}")
    for name, m in result["marginals"].items():
        floor = "—" if m["floor"] is None else f"{m['floor']:.3f}"
        lines.append(f"  {name[:24]:24s} {m['value']:.3f}   floor {floor}   {_x(m['ratio'])}")
    a = result["association"]
    floor = "—" if a["floor"] is None else f"{a['floor']:.3f}"
    lines.append(f"  correlations |Δ|         {a['value']:.3f}   floor {floor}   {_x(a['ratio'])}")
    if "efficacy" in result:
        e = result["efficacy"]
        lines.append(
            f"  ML efficacy ({e['target']}): synthetic {e['synthetic']:.3f}, real {e['real']:.3f}"
            f"   {_x(e['ratio'])}"
        )
    if "dcr" in result:
        d = result["dcr"]
        lines.append(
            f"  closest-record distance: synthetic {d['synthetic']:.3f}, held-out real "
            f"{d['held_out']:.3f}   {_x(d['ratio'])}"
        )
    return "\n".join(lines)


def format_metrics(result: dict) -> str:
    if "memorisation" in result:
        return format_image_metrics(result)
    if "marginals" in result:
        return format_table_metrics(result)
    lines = [
        f"n = {result['n']} samples vs {result['n_references']} exact reference sets "
        f"({result['reference']})"
    ]
    if result.get("warning"):
        lines.append(f"  warning: {result['warning']}")
    for name in ("sw2", "energy"):
        m = result[name]
        floor = "—" if m["floor"] is None else f"{m['floor']:.4g}"
        lines.append(f"  {name:7s} {m['value']:.4g}   noise floor {floor}   ratio {_x(m['ratio'])}")
    if "modes" in result:
        m = result["modes"]
        lines.append(
            f"  modes   dropped {m['dropped_modes'] or 'none'}, off-mode "
            f"{100 * m['off_mode_fraction']:.2f}%, "
            f"TV to weights {m['tv_distance']:.3f}"
        )
    return "\n".join(lines)
