"""`difflab report RUN_DIR`: one HTML page for a training run that opens in any browser, offline.

The page (RUN_DIR/report/index.html) holds the configuration, the loss curve, samples beside the
data, and the metrics with their noise floors; its images are files next to it, referenced
relatively, and it loads nothing from the network (no scripts, no fonts, no style sheets from
elsewhere).
"""

from __future__ import annotations

import html
import json
import sys
from pathlib import Path

import numpy as np

from . import plots
from .checkpoint import atomic_write, write_json
from .run import FlowRun, Run, load_run

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.2em; margin-top: 1.6em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.5em 0; }
td, th { padding: 0.25em 0.8em; border: 1px solid #ddd; }
th { background: #f4f4f4; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; border: 1px solid #eee; } .small { color: #666; font-size: 0.9em; }
"""


def _table(rows: list[tuple[str, str]], header: tuple[str, str] | None = None) -> str:
    head = (
        f"<tr><th>{html.escape(header[0])}</th><th>{html.escape(header[1])}</th></tr>"
        if header
        else ""
    )
    body = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
    return f"<table>{head}{body}</table>"


def _flatten(d: dict, prefix: str = "") -> list[tuple[str, str]]:
    rows = []
    for k, v in d.items():
        if k in ("standardiser", "cov", "class_means", "class_covs"):
            continue  # long numeric arrays: in config.json
        if isinstance(v, dict):
            rows += _flatten(v, f"{prefix}{k}.")
        else:
            rows.append((f"{prefix}{k}", json.dumps(v) if not isinstance(v, str) else v))
    return rows


def _image_metrics_table(m: dict) -> str:
    rows = [("samples", str(m["n"]))]
    if "fd" in m:
        fd = m["fd"]
        rows += [
            ("FD (classifier features)", f"{fd['value']:.4g}"),
            ("FD floor (real test vs real train, same n)", f"{fd['floor']:.4g}"),
            ("FD ratio", f"{fd['ratio']:.2f}×"),
            ("classifier's held-out accuracy", f"{100 * m['classifier_accuracy']:.1f}%"),
        ]
    mem = m["memorisation"]
    rows += [
        ("memorised samples", f"{100 * mem['samples']:.1f}%"),
        ("memorised held-out real images", f"{100 * mem['held_out']:.1f}%"),
    ]
    return _table(rows)


def _num(v: float | None, fmt: str = ".4g", unit: str = "") -> str:
    return "—" if v is None else f"{v:{fmt}}{unit}"


def _row(name: str, m: dict) -> str:
    return (
        f"<tr><td>{html.escape(name)}</td><td class='num'>{_num(m['value'])}</td>"
        f"<td class='num'>{_num(m['floor'])}</td><td "
        f"class='num'>{_num(m['ratio'], '.2f', '×')}</td></tr>"
    )


def _table_metrics_table(m: dict) -> str:
    rows = "".join(_row(f"{k} (KS or TV)", v) for k, v in m["marginals"].items())
    rows += _row("correlations, mean |Δ|", m["association"])
    out = f"<table><tr><th>metric</th><th>value</th><th>floor</th><th>ratio</th></tr>{rows}</table>"
    extra = []
    if "efficacy" in m:
        e = m["efficacy"]
        extra.append(
            (
                f"ML efficacy ({e['target']}): synthetic / real",
                f"{e['synthetic']:.3f} / {e['real']:.3f}",
            )
        )
    if "dcr" in m:
        d = m["dcr"]
        extra.append(
            (
                "closest-record distance: synthetic / held-out (ratio; near 1 is good, well "
                "below 1 means copied training rows)",
                f"{d['synthetic']:.3f} / {d['held_out']:.3f} ({_num(d['ratio'], '.2f', '×')})",
            )
        )
    for key in ("warning", "memorisation_warning"):
        if m.get(key):
            extra.append(("warning", m[key]))
    note = (
        "<p class='small'>A ratio is the metric over its floor (the same metric between held-out "
        "and training rows): near 1, the samples are as close to the held-out rows as real rows "
        "are; below 1 happens by chance at small n, or when samples copy training rows.</p>"
    )
    return out + (_table(extra) if extra else "") + note


def _metrics_table(m: dict) -> str:
    if "memorisation" in m:
        return _image_metrics_table(m)
    if "marginals" in m:
        return _table_metrics_table(m)
    rows = "".join(_row(name, m[name]) for name in ("sw2", "energy"))
    if m.get("warning"):
        rows += f"<tr><td colspan='4'>{html.escape(m['warning'])}</td></tr>"
    head = "<tr><th>metric</th><th>value</th><th>noise floor</th><th>ratio</th></tr>"
    out = f"<table>{head}{rows}</table>"
    if "modes" in m:
        modes = m["modes"]
        out += _table(
            [
                ("dropped modes", str(modes["dropped_modes"] or "none")),
                ("off-mode fraction", f"{100 * modes['off_mode_fraction']:.2f}%"),
                ("TV distance to mode weights", f"{modes['tv_distance']:.3f}"),
            ]
        )
    return out


def build_report(run_dir: str | Path, n: int = 5000, seed: int = 0, log=print) -> Path:
    """Write RUN_DIR/report/{index.html, loss.png, samples.png, metrics.json} (and classes.png for a
    labelled run, inpainting.png for a diffusion run on ≥ 2-D data); returns the page's path."""
    run = load_run(run_dir)
    out = Path(run_dir) / "report"
    out.mkdir(exist_ok=True)
    history = run.history
    plots.loss_curve(history, out / "loss.png", title=f"{run.name} on {run.config.data.spec}")
    stats: dict = {}
    labelled = (
        {"unconditional": True} if run.classes else {}
    )  # the page shows p(x), then each class
    x = run.sample(n, seed=seed, stats=stats, progress=sys.stderr.isatty(), **labelled)
    metrics = run.evaluate(x)
    how = (
        "exact samples (flow)"
        if isinstance(run, FlowRun)
        else f"Heun, 18 steps, NFE {stats['nfe']}"
    )
    how += ", unconditional" if labelled else ""
    if run.is_image:
        image_figures(run, out, x, f"{run.name}: {how}", seed)
    elif run.is_table:
        _table_figures(run, out, x, how)
    else:
        _vector_figures(run, out, x, how, n, seed)
    write_json(out / "metrics.json", metrics)
    inpainted = isinstance(run, Run) and run.dim >= 2 and not run.is_table
    page = _page(run, history, metrics, how, n, inpainted)
    atomic_write(out / "index.html", lambda f: f.write(page.encode()))
    log(f"report → {out / 'index.html'}")
    return out / "index.html"


def _table_figures(run, out: Path, x, how: str) -> None:
    """samples.png: each column, data vs samples; correlations.png: the encoded correlations."""
    from .data.reference import read_table_reference

    real = read_table_reference(run.path)[0]
    plots.table_columns(real, x, run.standardiser, out / "samples.png", f"{run.name}: {how}")
    plots.correlation_maps(real, x, run.standardiser, out / "correlations.png")


def _vector_figures(run, out: Path, x: np.ndarray, how: str, n: int, seed: int) -> None:
    """Samples beside the data, per-class samples (labelled runs), inpainting (diffusion, ≥ 2-D)."""
    plots.data_vs_samples(
        run.reference_sets(n, k=1)[0], x, out / "samples.png", title=f"{run.name}: {how}"
    )
    if run.classes:
        per_class = {
            c: run.sample(max(n // len(run.classes), 50), seed=seed, cond=c)
            for c in run.classes[:10]
        }
        plots.class_samples(
            per_class,
            out / "classes.png",
            title=f"{run.name}: per class (guidance 1)",
            data=run.reference_sets(n, k=1)[0],
        )
    if isinstance(run, Run) and run.dim >= 2:
        _inpainting_figure(run, out / "inpainting.png", seed)


GUIDANCE = (0.0, 1.0, 2.0, 3.0)


def image_figures(
    run: Run,
    out: Path,
    x: np.ndarray,
    title: str,
    seed: int = 0,
    particles: int = 16,
    steps: int | None = None,
) -> None:
    """samples.png: a grid of x; classes.png (labelled run): class × guidance w = 0, 1, 2, 3, two
    samples each; inpainting.png: the seed's left half blacked out on 8 held-out images:
    originals, masked, four completions each (smc with `particles`)."""
    from .data.images import image_mask

    lo, hi = run.standardiser.lo, run.standardiser.hi
    plots.image_grid(x[:64], out / "samples.png", title, lo, hi)
    if run.classes:
        shown = run.classes[:10]
        per_w = [
            run.sample(
                2 * len(shown), seed=seed, cond=[c for c in shown for _ in (0, 1)], guidance=w
            )
            for w in GUIDANCE
        ]  # one batch per w, two per class
        rows = [np.concatenate([s[2 * i : 2 * i + 2] for s in per_w]) for i in range(len(shown))]
        plots.image_grid(
            np.concatenate(rows),
            out / "classes.png",
            "class × guidance w = 0, 0 | 1, 1 | 2, 2 | 3, 3",
            lo,
            hi,
            ncol=2 * len(GUIDANCE),
            row_labels=shown,
        )
    test = run.held_out_images().pixels[:8]
    labelled = {"unconditional": True} if run.classes else {}
    completion_grid(
        run,
        test,
        image_mask("left-half", run.shape),
        4,
        out / "inpainting.png",
        "left half hidden",
        seed=seed,
        particles=particles,
        steps=steps,
        batch_size=32,
        **labelled,
    )


def completion_grid(
    run: Run,
    originals: np.ndarray,
    observed: np.ndarray,
    per_image: int,
    path: Path,
    title: str,
    **inpaint,
) -> tuple[np.ndarray, dict]:
    """Complete each image `per_image` times where `observed` is False (run.inpaint, smc unless
    `method` says otherwise) and draw one row per image: original, masked, completions.
    Returns the completions (len(originals)·per_image × C×H×W) and the inpainting's stats."""
    lo, hi = run.standardiser.lo, run.standardiser.hi
    known = np.repeat(originals, per_image, axis=0)
    stats: dict = {}
    filled = run.inpaint(known, np.broadcast_to(observed, known.shape), stats=stats, **inpaint)
    path.parent.mkdir(parents=True, exist_ok=True)
    masked = np.where(observed, originals, lo)
    rows = [
        np.concatenate([o[None], m[None], f])
        for o, m, f in zip(originals, masked, filled.reshape(len(originals), per_image, *run.shape))
    ]
    method = inpaint.get("method", "smc")
    plots.image_grid(
        np.concatenate(rows),
        path,
        f"{title}: original, masked, {per_image} completions ({method})",
        lo,
        hi,
        ncol=per_image + 2,
    )
    return filled, stats


_INPAINT = """<h2>Inpainting: the last coordinate hidden</h2>
<img id="inpainting" src="inpainting.png" alt="inpainting">
<p class="small">Left: the real rows (their hidden value is a draw of the exact conditional). smc is
asymptotically exact; replace is fast and biased (difflab inpaint --method).</p>"""


_INPAINT_IMAGES = """<h2>Inpainting: the left half blacked out</h2>
<img id="inpainting" src="inpainting.png" alt="inpainting">
<p class="small">Per row: a held-out test image, what the model sees, four completions by the
asymptotically exact smc method (difflab inpaint --images … --mask left-half).</p>"""


def _inpainting_figure(run: Run, path: Path, seed: int, n: int = 400) -> None:
    """Hide the last coordinate of n real rows and complete them (smc and replace); a real row's
    hidden value is itself a draw from the exact conditional given the rest, so it is the truth."""
    rows = run.reference_sets(n, k=1)[0][:n]
    known = rows.copy()
    known[:, -1] = np.nan
    labelled = {"unconditional": True} if run.classes else {}
    filled = {
        f"{m} ({how})": run.inpaint(known, method=m, seed=seed, **labelled, **opts)
        for m, how, opts in [("smc", "K = 32", {"particles": 32}), ("replace", "Heun", {})]
    }
    plots.inpainting(
        rows[:, 0],
        filled,
        path,
        f"{run.name}: last coordinate hidden, filled",
        exact=rows,
        column=run.dim - 1,
    )


def _data_line(run) -> str:
    """What was trained on, as a person counts it: a table's rows × columns (and the model's
    dimensions), its label column, what was held out."""
    data = run.config.data
    if run.is_table:
        size = f"{data.n} rows × {len(run.standardiser.columns)} columns ({data.dim} model dims)"
    else:
        size = " × ".join(str(s) for s in (data.n, *data.shape))
    label = f"; classes from {data.labels!r} ({len(data.classes)})" if data.classes else ""
    held = (
        f"; held out: {data.validation}"
        if data.validation
        else f"; {100 * data.holdout:g}% held out"
        if (run.is_table or run.is_image) and data.holdout
        else ""
    )
    return f"{data.spec} ({size}{label}{held})"


def _steps_line(history: list) -> str:
    """The steps trained, with a warning when they are far too few to trust the samples."""
    steps = int(history[-1][0]) if history else 0
    if steps < 500:
        return f"{steps} — far too few for a model that samples well (train for thousands)"
    return str(steps)


def _page(run, history: list, metrics: dict, how: str, n: int, inpainted: bool) -> str:
    cfg = run.config
    title = f"difflab run: {run.name} on {cfg.data.spec}"
    summary = [
        ("run directory", str(run.path)),
        ("model", run.name),
        ("data", _data_line(run)),
        ("training steps", _steps_line(history)),
        ("final loss", f"{history[-1][1]:.4f}" if history else "–"),
        ("samples", f"{n}, {how}"),
    ]
    classes = (
        '<h2>Samples per class</h2><img id="classes" src="classes.png" alt="samples per class">'
        if run.classes and not run.is_table
        else ""
    )
    correlations = (
        '<h2>Correlations</h2><img id="correlations" src="correlations.png" alt="correlations">'
        if run.is_table
        else ""
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{STYLE}</style></head>
<body>
<h1>{html.escape(title)}</h1>
{_table(summary)}
<h2>Samples beside the data</h2>
<img id="samples" src="samples.png" alt="data and samples">
{classes}
{correlations}
{(_INPAINT_IMAGES if run.is_image else _INPAINT) if inpainted else ""}
<h2>Metrics ({"against held-out rows" if run.is_table else "against exact data"}, with the noise
floor)</h2>
{_metrics_table(metrics)}
<p class="small">The noise floor is the same metric between independent exact sets of the same
size; a ratio near 1 means the samples cannot be told from data at this sample size.</p>
<h2>Training loss</h2>
<img id="loss" src="loss.png" alt="training loss">
<h2>Configuration</h2>
{_table(_flatten(cfg.to_dict()), ("key", "value"))}
<p class="small">Written by difflab {html.escape(cfg.difflab_version)}. Everything on this page is
in this folder; it needs no network.</p>
</body></html>
"""


__all__ = ["build_report"]
