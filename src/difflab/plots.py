"""Figures a person would rather look at than read (matplotlib, Agg backend, atomic writes)."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .checkpoint import atomic_write  # noqa: E402


def _save(fig: plt.Figure, path: str | Path) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format=Path(path).suffix.lstrip(".") or "png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    atomic_write(path, lambda f: f.write(buf.getvalue()))


def data_vs_samples(
    data: np.ndarray, samples: np.ndarray, path: str | Path, title: str = ""
) -> None:
    """Side by side: histograms (1-D), scatter plots (2-D) or 3-D scatters of the first three
    coordinates (the title says so when there are more), on the data's full range."""
    dim = data.shape[1]
    proj = "3d" if dim >= 3 else None
    fig = plt.figure(figsize=(10, 4.6))
    lo, hi = data.min(axis=0), data.max(axis=0)  # the full range: heavy tails are not cut
    pad = 0.05 * np.where(hi > lo, hi - lo, 1.0)
    lims = [lo - pad, hi + pad]
    names = [f"x{i}" for i in range(min(dim, 3))]
    for i, (arr, name) in enumerate([(data, "data"), (samples, "samples")]):
        ax = fig.add_subplot(1, 2, i + 1, projection=proj)
        if dim == 1 and lo[0] > 0 and hi[0] > 100 * lo[0]:  # positive, heavy-tailed: log axis
            bins = np.geomspace(lo[0], hi[0], 80)
            ax.hist(arr[:, 0], bins=bins, density=True, color=f"C{i}")
            ax.set_xscale("log"), ax.set_xlabel("x0 (log scale)"), ax.set_ylabel("density")
        elif dim == 1:
            ax.hist(arr[:, 0], bins=80, range=(lims[0][0], lims[1][0]), density=True, color=f"C{i}")
            ax.set_xlabel("x0"), ax.set_ylabel("density")
        elif dim == 2:
            ax.scatter(arr[:, 0], arr[:, 1], s=1.5, alpha=0.5, color=f"C{i}")
            ax.set_xlim(lims[0][0], lims[1][0]), ax.set_ylim(lims[0][1], lims[1][1])
            ax.set_xlabel(names[0]), ax.set_ylabel(names[1])
        else:
            ax.scatter(arr[:, 0], arr[:, 1], arr[:, 2], s=1, alpha=0.4, color=f"C{i}")
            ax.set_xlabel(names[0]), ax.set_ylabel(names[1]), ax.set_zlabel(names[2])
        outside = int((~((arr >= lims[0]) & (arr <= lims[1])).all(axis=1)).sum())
        note = f", {outside} outside the data's range" if outside and name == "samples" else ""
        ax.set_title(f"{name} (n = {len(arr)}{note})", fontsize=10)
    more = f" — the first 3 of {dim} coordinates" if dim > 3 else ""
    fig.suptitle(title + more)
    _save(fig, path)


def table_columns(real, samples, codec, path: str | Path, title: str = "") -> None:
    """One panel per column: overlaid density histograms of numeric columns (log x for positive
    ones), side-by-side frequency bars of categorical ones (the 12 commonest levels)."""
    cols = [c for c in codec.columns if c.kind != "constant"]
    k = max(len(cols), 1)
    ncols = min(k, 4)
    nrows = -(-k // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.4 * ncols, 2.8 * nrows), squeeze=False)
    for ax, c in zip(axes.flat, cols):
        if c.kind == "categorical":
            _bars(ax, real[c.name], samples[c.name])
        else:
            _histograms(ax, c.numbers(real[c.name]), c.numbers(samples[c.name]), c)
        ax.set_title(c.name, fontsize=9)
    for ax in list(axes.flat)[len(cols) :]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    constant = [c.name for c in codec.columns if c.kind == "constant"]
    note = f" (constant, not drawn: {', '.join(constant)})" if constant else ""
    fig.suptitle(f"{title}: data vs samples{note}", fontsize=10)
    fig.tight_layout()
    _save(fig, path)


def _histograms(ax, real: np.ndarray, samples: np.ndarray, c) -> None:
    both = np.concatenate([real, samples])
    if c.kind == "positive":
        bins = np.geomspace(both.min(), both.max(), 40)
        ax.set_xscale("log")
    elif c.integer and both.max() - both.min() <= 120:  # one bin per integer: no aliasing
        bins = np.arange(
            both.min() - 0.5, both.max() + 1.5, max(1, round((both.max() - both.min()) / 40))
        )
    else:
        bins = np.linspace(both.min(), both.max(), 40)
    if c.kind == "date":  # the numbers are days or seconds since 1970: label them as dates
        ax.xaxis.set_major_formatter(_DateTicks(c.unit))
        ax.tick_params(axis="x", labelrotation=30)
    ax.hist(real, bins=bins, density=True, alpha=0.5, label="data", color="C0")
    ax.hist(samples, bins=bins, density=True, histtype="step", lw=1.4, label="samples", color="C1")
    ax.set_ylabel("density", fontsize=8)
    ax.tick_params(labelsize=7)


class _DateTicks(matplotlib.ticker.Formatter):
    """Tick labels of a date column drawn as days ('D') or seconds ('s') since 1970."""

    def __init__(self, unit: str):
        self.unit = unit

    def __call__(self, x, pos=None) -> str:
        import pandas as pd

        t = pd.Timestamp(x * (86_400 if self.unit == "D" else 1), unit="s")
        return str(t.date()) if self.unit == "D" else t.strftime("%Y-%m-%d %H:%M")


def _bars(ax, real, samples, top: int = 12) -> None:
    from .data.columns import level_key

    p = real.map(level_key).value_counts(normalize=True)
    q = samples.map(level_key).value_counts(normalize=True)
    levels = list(p.index[:top])
    x = np.arange(len(levels))
    ax.bar(x - 0.2, [p.get(v, 0) for v in levels], 0.4, label="data", color="C0")
    ax.bar(x + 0.2, [q.get(v, 0) for v in levels], 0.4, label="samples", color="C1")
    ax.set_xticks(x, [str(v)[:10] for v in levels], rotation=45, ha="right", fontsize=7)
    ax.set_ylabel("frequency", fontsize=8)


def correlation_maps(real, samples, codec, path: str | Path, title: str = "") -> None:
    """Pearson correlations of the encoded columns (numeric transformed, categories one-hot):
    data, samples, and their difference."""
    from .table_metrics import _corr

    labels = [
        f"{c.name}={v}" if c.kind == "categorical" else c.name
        for c in codec.columns
        if c.width
        for v in (c.levels if c.kind == "categorical" else [None])
    ]
    maps = [_corr(codec.forward(real)), _corr(codec.forward(samples))]
    maps.append(maps[1] - maps[0])
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.6))
    for ax, m, name in zip(axes, maps, ["data", "samples", "samples − data"]):
        im = ax.imshow(m, vmin=-1, vmax=1, cmap="RdBu_r")
        ax.set_title(name, fontsize=10)
        ticks = np.arange(len(labels)) if len(labels) <= 30 else []
        shown = [labels[i] if len(labels[i]) <= 28 else labels[i][:27] + "…" for i in ticks]
        ax.set_xticks(ticks, shown, rotation=90, fontsize=6)
        ax.set_yticks(ticks, shown, fontsize=6)
    fig.colorbar(im, ax=axes, shrink=0.8)
    fig.suptitle(title or "correlations of the encoded columns", fontsize=10)
    _save(fig, path)


def loss_curve(history: list, path: str | Path, title: str = "training loss") -> None:
    """Logged mean loss against step, log scale."""
    steps, losses = np.asarray(history, dtype=float).T
    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.plot(steps, losses, lw=1)
    ax.set_yscale("log"), ax.set_xlabel("step"), ax.set_ylabel("loss"), ax.set_title(title)
    ax.grid(alpha=0.3)
    _save(fig, path)


def samples_grid(
    data: np.ndarray, samples: dict[str, np.ndarray], path: str | Path, title: str = ""
) -> None:
    """Data and each model's samples in a row of 2-D scatter plots on common axes (first two
    dims)."""
    panels = [("data", data)] + list(samples.items())
    both = np.concatenate([a[:, :2] for _, a in panels])
    lo, hi = np.percentile(both, 0.2, axis=0), np.percentile(both, 99.8, axis=0)
    pad = 0.08 * (hi - lo)
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 4.2), squeeze=False)
    for i, (ax, (name, arr)) in enumerate(zip(axes[0], panels)):
        ys = arr[:, 1] if arr.shape[1] > 1 else np.zeros(len(arr))
        ax.scatter(arr[:, 0], ys, s=1.5, alpha=0.5, color=f"C{i}")
        ax.set_xlim(lo[0] - pad[0], hi[0] + pad[0])
        if arr.shape[1] > 1:
            ax.set_ylim(lo[1] - pad[1], hi[1] + pad[1]), ax.set_aspect("equal")
        ax.set_title(name)
    fig.suptitle(title)
    _save(fig, path)


def trajectories(
    truth: np.ndarray,
    predictions: dict[str, np.ndarray],
    path: str | Path,
    title: str = "",
    count: int = 6,
) -> None:
    """Phase portraits (first two coordinates) of `count` trajectories [T, B, D]: truth against each
    prediction, one panel per prediction."""
    fig, axes = plt.subplots(
        1, len(predictions), figsize=(5 * len(predictions), 4.6), squeeze=False
    )
    for ax, (name, pred) in zip(axes[0], predictions.items()):
        for b in range(min(count, truth.shape[1])):
            ax.plot(
                truth[:, b, 0], truth[:, b, 1], color="0.6", lw=2, label="truth" if b == 0 else None
            )
            ax.plot(
                pred[:, b, 0],
                pred[:, b, 1],
                color=f"C{b}",
                lw=1,
                ls="--",
                label=name if b == 0 else None,
            )
            ax.plot(truth[0, b, 0], truth[0, b, 1], "ko", ms=3)
        (
            ax.set_title(name),
            ax.set_xlabel("h₁"),
            ax.set_ylabel("h₂"),
            ax.legend(loc="best", fontsize=8),
        )
    fig.suptitle(title)
    _save(fig, path)


def class_samples(
    samples: dict[str, np.ndarray],
    path: str | Path,
    title: str = "",
    data: np.ndarray | None = None,
) -> None:
    """Per-class samples in one scatter (first two dims; 1-D: stacked histograms), one colour per
    class, over the data in grey."""
    fig, ax = plt.subplots(figsize=(6, 5.4))
    dim = next(iter(samples.values())).shape[1]
    if dim == 1:
        ax.hist([a[:, 0] for a in samples.values()], bins=80, stacked=True, label=list(samples))
    else:
        if data is not None:
            ax.scatter(data[:, 0], data[:, 1], s=1, color="0.8", label="data")
        for i, (name, arr) in enumerate(samples.items()):
            ax.scatter(
                arr[:, 0], arr[:, 1], s=1.5, alpha=0.6, color=f"C{i % 10}", label=f"class {name}"
            )
        ax.set_aspect("equal")
    ax.legend(markerscale=6, fontsize=7, loc="best")
    ax.set_title(title)
    _save(fig, path)


def inpainting(
    observed: np.ndarray,
    completions: dict[str, np.ndarray],
    path: str | Path,
    title: str = "",
    exact: np.ndarray | None = None,
    column: int = 1,
) -> None:
    """Completed coordinate `column` against the first observed one, per method, beside draws of the
    exact conditional where it is known (same observed values)."""
    panels = ([("exact conditional", exact)] if exact is not None else []) + list(
        completions.items()
    )
    fig, axes = plt.subplots(
        1, len(panels), figsize=(3.6 * len(panels), 3.6), squeeze=False, sharey=True
    )
    for i, (ax, (name, arr)) in enumerate(zip(axes[0], panels)):
        ax.scatter(observed, arr[:, column], s=1.5, alpha=0.5, color=f"C{i}")
        ax.set_title(name, fontsize=9), ax.set_xlabel("observed x₀")
    axes[0][0].set_ylabel(f"filled x{chr(0x2080 + column)}")
    fig.suptitle(title)
    _save(fig, path)


def image_grid(
    images: np.ndarray,
    path: str | Path,
    title: str = "",
    lo: float = 0.0,
    hi: float = 1.0,
    ncol: int | None = None,
    row_labels: list[str] | None = None,
) -> None:
    """Images N×C×H×W (pixel values in [lo, hi]; C = 1 grey, 3 RGB) tiled in a grid, one PNG."""
    n = len(images)
    ncol = ncol or int(np.ceil(np.sqrt(n)))
    nrow = int(np.ceil(n / ncol))
    c, h, w = images.shape[1:]
    canvas = np.ones((nrow * (h + 1) + 1, ncol * (w + 1) + 1, 3))
    for i, im in enumerate(np.clip((images - lo) / (hi - lo), 0, 1)):
        r, q = divmod(i, ncol)
        canvas[1 + r * (h + 1) : 1 + r * (h + 1) + h, 1 + q * (w + 1) : 1 + q * (w + 1) + w] = (
            np.repeat(im, 3, 0) if c == 1 else im[:3]
        ).transpose(1, 2, 0)
    scale = max(1.0, 6.0 / max(canvas.shape[:2]) * 40)
    fig, ax = plt.subplots(
        figsize=(min(14, canvas.shape[1] / 40 * scale), min(14, canvas.shape[0] / 40 * scale))
    )
    ax.imshow(canvas, interpolation="nearest")
    ax.set_xticks([])
    if row_labels:
        ax.set_yticks([1 + r * (h + 1) + h / 2 for r in range(len(row_labels))], row_labels)
    else:
        ax.set_yticks([])
    ax.set_title(title)
    _save(fig, path)
