"""The experiments' figures (matplotlib, Agg; written atomically through plots._save)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..plots import _save, plt


def step_histograms(
    x: np.ndarray, edges: np.ndarray, path: Path, steps=(1, 50, 100), title: str = ""
) -> None:
    """Left: colour map of the sample histogram at every step; right: histograms at chosen steps."""
    dens = np.stack([np.histogram(row, bins=edges, density=True)[0] for row in x], axis=1)
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.4), gridspec_kw={"width_ratios": [1.4, 1]})
    im = a.imshow(
        dens,
        origin="lower",
        aspect="auto",
        cmap="viridis",
        extent=(0, len(x) - 1, edges[0], edges[-1]),
        vmax=np.percentile(dens, 99.5),
    )
    (
        a.set_xlabel("step (0 = prior sample, 100 = output)"),
        a.set_ylabel("x"),
        fig.colorbar(im, ax=a, label="density"),
    )
    centres = (edges[:-1] + edges[1:]) / 2
    for i, k in enumerate(steps):
        b.step(centres, dens[:, k], where="mid", label=f"step {k}", color=f"C{i}")
    b.plot([0, 0, 1, 1], [0, 1, 1, 0], "k--", lw=1, label="U[0, 1]")
    b.set_xlabel("x"), b.set_ylabel("density"), b.legend()
    fig.suptitle(title)
    _save(fig, path)


def flow_fields(panels: dict, path: Path) -> None:
    """One panel per recipe: streamlines of dx/dt over (t, x) and sample trajectories on top."""
    fig, axes = plt.subplots(
        1, len(panels), figsize=(5.2 * len(panels), 4.4), squeeze=False, layout="constrained"
    )
    for ax, (name, p) in zip(axes[0], panels.items()):
        tg, xg = np.meshgrid(p["t_grid"], p["x_grid"])
        speed = np.abs(p["field"])
        ax.streamplot(
            tg,
            xg,
            np.ones_like(p["field"]),
            p["field"],
            color=np.log10(speed + 1e-9),
            cmap="Greys",
            density=1.0,
            linewidth=0.6,
            arrowsize=0.6,
        )
        for j in range(p["paths"].shape[1]):
            ax.plot(p["t"], p["paths"][:, j], lw=0.9, color=f"C{j % 10}")
        (
            ax.set_xlim(p["t_grid"].min(), p["t_grid"].max()),
            ax.set_ylim(p["x_grid"].min(), p["x_grid"].max()),
        )
        ax.set_xlabel("t (the recipe's own time)"), ax.set_ylabel("x = s(t)·x̂"), ax.set_title(name)
    fig.suptitle(
        "Probability-flow ODE on U[0, 1]: learned field and trajectories (sampling runs right to "
        "left)"
    )
    _save(fig, path)


def steps_sweep(ns: list[int], edges: np.ndarray, maps: dict, w1: dict, path: Path) -> None:
    """Colour maps of the sample distribution against N for each recipe, and W1 against N."""
    fig, axes = plt.subplots(
        1, len(maps) + 1, figsize=(4.6 * (len(maps) + 1), 4.2), layout="constrained"
    )
    for ax, (name, dens) in zip(axes, maps.items()):
        ax.pcolormesh(
            np.arange(len(ns) + 1), edges, dens, cmap="viridis", vmax=np.percentile(dens, 99)
        )
        ticks = [i for i, n in enumerate(ns) if n in (2, 5, 10, 20, 50, 100)]
        ax.set_xticks([t + 0.5 for t in ticks], [ns[t] for t in ticks])
        ax.set_xlabel("N (ODE steps, Euler)"), ax.set_title(name)
    axes[0].set_ylabel("x")
    ax = axes[-1]
    for name, values in w1.items():
        ax.plot(ns, values, marker=".", label=name)
    (
        ax.set_xscale("log"),
        ax.set_yscale("log"),
        ax.set_xlabel("N"),
        ax.set_ylabel("W1 to U[0, 1]"),
        ax.legend(),
    )
    ax.grid(alpha=0.3)
    fig.suptitle("Trained on 100 noise levels, sampled with N steps")
    _save(fig, path)


def sde_paths(
    ts: np.ndarray,
    x_grid: np.ndarray,
    density: np.ndarray,
    forward: np.ndarray,
    reverse: np.ndarray,
    path: Path,
    count: int = 12,
) -> None:
    """Forward and reverse SDE paths over the exact p_t(x) colour map."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.4), sharey=True)
    for ax, paths, times, title in [
        (axes[0], forward, ts, "forward SDE: data → noise"),
        (axes[1], reverse, ts[::-1], "reverse SDE: noise → data"),
    ]:
        ax.imshow(
            density,
            origin="lower",
            aspect="auto",
            cmap="magma",
            extent=(ts[0], ts[-1], x_grid[0], x_grid[-1]),
            vmax=np.percentile(density, 99),
        )
        for j in range(count):
            ax.plot(times, paths[:, j], lw=0.7, color="w", alpha=0.8)
        ax.set_xlabel("t"), ax.set_title(title), ax.set_ylim(x_grid[0], x_grid[-1])
    axes[1].invert_xaxis()  # read left to right as the sampler runs: t from 1 down to 0
    axes[0].set_ylabel("x")
    fig.suptitle("VP SDE on U[0, 1]: sample paths over p_t(x)")
    _save(fig, path)


def torus_views(samples: np.ndarray, distance: np.ndarray, path: Path, title: str = "") -> None:
    """3-D scatter of samples from two viewpoints, coloured by distance to the torus surface."""
    fig = plt.figure(figsize=(11, 5), layout="constrained")
    for i, (elev, azim) in enumerate([(35, 30), (85, 0)]):
        ax = fig.add_subplot(1, 2, i + 1, projection="3d")
        sc = ax.scatter(
            samples[:, 0],
            samples[:, 1],
            samples[:, 2],
            s=1.5,
            c=np.minimum(distance, 0.3),
            cmap="viridis",
        )
        (
            ax.view_init(elev=elev, azim=azim),
            ax.set_zlim(-1.5, 1.5),
            ax.set_title(f"elevation {elev}°, azimuth {azim}°"),
        )
    fig.colorbar(sc, ax=fig.axes, shrink=0.6, label="distance to the torus (clipped at 0.3)")
    fig.suptitle(title)
    _save(fig, path)


def gallery(panels: dict, path: Path) -> None:
    """Rows: data sets; columns: presets (plus the data); SW2 ratio in each panel's title."""
    rows = sorted({d for d, _ in panels})
    cols = ["data"] + sorted(
        {p for _, p in panels if p != "data"},
        key=lambda p: list(dict.fromkeys(q for _, q in panels)).index(p),
    )
    fig, axes = plt.subplots(
        len(rows),
        len(cols),
        figsize=(2.3 * len(cols), 2.4 * len(rows)),
        squeeze=False,
        layout="constrained",
    )
    for r, data in enumerate(rows):
        ref = panels[(data, "data")]["x"]
        lo, hi = np.percentile(ref, 0.5, axis=0), np.percentile(ref, 99.5, axis=0)
        pad = 0.15 * (hi - lo)
        for c, preset in enumerate(cols):
            ax = axes[r, c]
            p = panels.get((data, preset))
            if p is not None:
                ax.scatter(
                    p["x"][:, 0],
                    p["x"][:, 1],
                    s=0.5,
                    alpha=0.5,
                    color="k" if preset == "data" else f"C{c}",
                )
                ax.set_title(
                    preset if preset == "data" else f"{preset}: SW2 {p['sw2_ratio']:.2f}×",
                    fontsize=8,
                )
            ax.set_xlim(lo[0] - pad[0], hi[0] + pad[0]), ax.set_ylim(lo[1] - pad[1], hi[1] + pad[1])
            ax.set_xticks([]), ax.set_yticks([])
        axes[r, 0].set_ylabel(data)
    fig.suptitle("Every preset on every toy set (SW2 / noise floor)")
    _save(fig, path)
