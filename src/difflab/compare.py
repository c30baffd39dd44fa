"""The three exact-likelihood families of the seeds on the same data, budget and metrics: a
diffusion model, a normalizing flow and an autoregressive model.

All are trained for the same wall-clock time on the same standardised data and judged on fresh
held-out points by negative log-likelihood (diffusion through the PF-ODE, the flow and the
autoregressive model exactly), by the SW2 of their samples against the noise floor, by training
steps per second and by sampling time. For Gaussian mixtures the true density gives the best
attainable NLL (the data's entropy estimate).
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import torch

from .checkpoint import write_json
from .data import get_toy, is_toy, load_data
from .errors import DifflabError
from .likelihood import bits_per_dim
from .run import TrainedRun, load_run
from .training import ModelConfig, TrainConfig, TrainingData, train


def mean_and_se(values: np.ndarray) -> tuple[float, float]:
    """Mean and its standard error (sample std / sqrt(n))."""
    values = np.asarray(values, dtype=float)
    return float(values.mean()), float(values.std(ddof=1) / math.sqrt(len(values))) if len(
        values
    ) > 1 else 0.0


def held_out(spec: str, n: int, seed: int = 20_000) -> np.ndarray:
    """Fresh points of a toy set (a seed training never uses), or n random rows of a file."""
    if is_toy(spec):
        return get_toy(spec).sample(n, seed=seed).numpy()
    data = load_data(spec)
    rows = np.random.default_rng(seed).permutation(len(data))[:n]
    return data[rows]


def log_probs(run: TrainedRun, x: np.ndarray, **options) -> tuple[np.ndarray, dict]:
    """log p per point (data units) and {'nfe', 'seconds'[, 'bound': what a bound spans]};
    non-finite values are an error."""
    stats: dict = {}
    start = time.perf_counter()
    lp = run.log_prob(x, stats=stats, **options)
    if not np.all(np.isfinite(lp)):
        raise DifflabError(
            f"{run.path}: log-likelihood is not finite for {int((~np.isfinite(lp)).sum())} points"
        )
    info = {"nfe": stats.get("nfe"), "seconds": time.perf_counter() - start}
    return lp, info | {k: stats[k] for k in ("bound", "sigma_max") if k in stats}


def nll_summary(
    lp: np.ndarray, dim: int, true_lp: np.ndarray | None = None, bin_width: float | None = None
) -> dict:
    """Mean NLL (nats per point) and bits/dim (dequantised, for data in bins of bin_width) with
    standard errors; with the true log-density of the same points, the paired gap NLL_model -
    NLL_true (≥ 0 in expectation: it is a KL divergence)."""
    nll, se = mean_and_se(-lp)
    bpd, bpd_se = mean_and_se(bits_per_dim(lp, dim, bin_width))
    out = {"nll": nll, "nll_se": se, "bits_per_dim": bpd, "bits_per_dim_se": bpd_se, "n": len(lp)}
    if true_lp is not None:
        out["gap_to_true"], out["gap_to_true_se"] = mean_and_se(true_lp - lp)
    return out


def true_log_prob(spec: str, x: np.ndarray) -> np.ndarray | None:
    """The true log-density of the points, where it is known (Gaussian-mixture toy sets)."""
    if not is_toy(spec) or get_toy(spec).mixture is None:
        return None
    return get_toy(spec).mixture.log_prob(torch.from_numpy(x)).numpy()


def true_nll(spec: str, x: np.ndarray) -> dict | None:
    """The data's own NLL under the true density, where it is known (Gaussian mixtures)."""
    lp = true_log_prob(spec, x)
    if lp is None:
        return None
    nll, se = mean_and_se(-lp)
    return {"nll": nll, "nll_se": se}


def compare_models(
    data: str,
    out: str | Path,
    seconds: float = 60.0,
    preset: str = "edm",
    flow: str = "realnvp",
    n_eval: int = 2000,
    n_samples: int = 5000,
    seed: int = 0,
    progress: bool = True,
    log=print,
    autoregressive: str | None = "made",
    vdm: bool = True,
) -> dict:
    """Train `preset`, the `vdm` recipe (trained for likelihood; unless vdm=False), `flow` and
    `autoregressive` (None: skip) on `data` for `seconds` each, then NLL, SW2, speed side by side;
    diffusion models also get VDM's bound beside their PF-ODE NLL. Writes OUT/compare.json and
    OUT/samples.png. Returns the report."""
    out = Path(out)
    arr = load_data(data, seed=seed)
    cfg = TrainConfig(seconds=seconds, seed=seed)
    models = [(preset, preset, ModelConfig(), "diffusion")]
    if vdm and preset != "vdm":
        models.append(("vdm", "vdm", ModelConfig(), "diffusion"))
    models.append((flow, preset, ModelConfig(type=flow), "flow"))  # a flow ignores the preset
    if autoregressive:
        models.append((autoregressive, preset, ModelConfig(type=autoregressive), "autoregressive"))
    runs, kinds = {}, {}
    for label, recipe, model, kind in models:
        log(f"training {label} for {seconds:g} s")
        rows = TrainingData(arr, spec=data)
        train(rows, recipe, out / label, cfg, model, force=True, progress=progress, log=log)
        runs[label], kinds[label] = load_run(out / label), kind
    x = held_out(data, n_eval)
    true_lp = true_log_prob(data, x)
    report = {
        "data": data,
        "seconds": seconds,
        "n_eval": n_eval,
        "true": true_nll(data, x),
        "models": {},
    }
    samples = {}
    for label, run in runs.items():
        log(f"evaluating {label}")
        samples[label], row = _measured(run, x, true_lp, n_samples, seed)
        report["models"][label] = {"kind": kinds[label], **row}
        report["models"][label]["steps_per_second"] = run.trained_steps / seconds
    write_json(out / "compare.json", report)
    from . import plots

    plots.samples_grid(
        next(iter(runs.values())).reference_sets(n_samples, k=1)[0],
        samples,
        out / "samples.png",
        title=f"{data}: {seconds:g} s of training each",
    )
    return report


def _measured(run, x: np.ndarray, true_lp, n_samples: int, seed: int) -> tuple[np.ndarray, dict]:
    """(samples, their row of the comparison): steps, sampling time, NLL on x, SW2 and energy
    distance over their floors."""
    start = time.perf_counter()
    samples = run.sample(n_samples, seed=seed)
    sample_seconds = time.perf_counter() - start
    metrics = run.evaluate(samples)
    lp, info = log_probs(run, x)
    row = {
        "steps": run.trained_steps,
        "sample_seconds_per_1000": 1000 * sample_seconds / n_samples,
        **nll_summary(lp, run.dim, true_lp),
        **info,
        "sw2_ratio": metrics["sw2"]["ratio"],
        "energy_ratio": metrics["energy"]["ratio"],
    }
    if not run.config.model.is_flow:  # the reverse-SDE model's bound beside the PF-ODE value
        bound, _ = log_probs(run, x, method="vlb", steps=64, seed=seed)
        row["vlb_nll"], row["vlb_nll_se"] = mean_and_se(-bound)
        row["vlb_minus_ode"], row["vlb_minus_ode_se"] = mean_and_se(lp - bound)
    return samples, row


def format_report(report: dict) -> str:
    lines = [
        f"{report['data']}: {report['seconds']:g} s of training each, NLL on "
        f"{report['n_eval']} held-out points",
        f"  {'model':16s} {'kind':15s} {'steps/s':>8s} {'NLL (nats)':>16s} {'bits/dim':>14s} "
        f"{'NFE':>5s} {'SW2/floor':>9s} {'s/1000':>7s}"
        + ("   NLL − true NLL (paired)" if report["true"] else "")
        + "   VLB: −log p of the reverse SDE ≤ it",
    ]
    for label, m in report["models"].items():
        gap = f"   {m['gap_to_true']:.4f} ± {m['gap_to_true_se']:.4f}" if "gap_to_true" in m else ""
        if "vlb_nll" in m:
            gap += f"   {m['vlb_nll']:.3f} ± {m['vlb_nll_se']:.3f}"
        lines.append(
            f"  {label:16s} {m['kind']:15s} {m.get('steps_per_second', 0):8.1f} "
            f"{m['nll']:9.3f} ± {m['nll_se']:.3f} {m['bits_per_dim']:7.3f} ± "
            f"{m['bits_per_dim_se']:.3f} {m['nfe'] or 0:5d} {m['sw2_ratio']:8.2f}× "
            f"{m.get('sample_seconds_per_1000', 0):7.3f}{gap}"
        )
    if report["true"]:
        t = report["true"]
        lines.append(f"  {'true density':16s} {'':15s} {'':8s} {t['nll']:9.3f} ± {t['nll_se']:.3f}")
    return "\n".join(lines)


__all__ = [
    "compare_models",
    "format_report",
    "log_probs",
    "nll_summary",
    "true_nll",
    "true_log_prob",
    "held_out",
    "mean_and_se",
]
