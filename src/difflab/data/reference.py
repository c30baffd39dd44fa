"""What a run keeps of its data, so that evaluate and report work for runs trained from Python
arrays and from any directory: up to MAX_ROWS training rows (and a table's held-out rows).

Tables are split 80/20 before training (when they have at least MIN_HOLD_OUT rows): the held-out
rows give the metrics' floors, machine-learning efficacy and distance to closest record. The rows
are stored as `reference.parquet` (tables, column `split` = train | test) or
`reference.safetensors` (arrays): neither format can carry code.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DifflabError
from .images import train_test_split

MAX_ROWS = 20_000
MIN_HOLD_OUT = 25  # fewer rows: train on all of them; metrics without floors (and a warning)
SPLIT, LABEL = "__split__", "__label__"
TABLE, ARRAY = "reference.parquet", "reference.safetensors"


def hold_out(
    df: pd.DataFrame, labels: np.ndarray | None, log=print, fraction: float = 0.2
) -> tuple:
    """(training rows, held-out rows or None, training labels): the fixed split (seed 0) with
    `fraction` held out, 0 for none; class labels travel as a column LABEL of both parts (stored
    with them, not modelled)."""
    if labels is not None:
        df = df.assign(**{LABEL: np.asarray(labels)})
    if fraction == 0:
        log(f"training on all {len(df)} rows (--holdout 0): metrics get no floor")
        train, test = np.arange(len(df)), None
    elif len(df) < MIN_HOLD_OUT:
        log(f"only {len(df)} rows: training on all of them, none held out (metrics get no floor)")
        train, test = np.arange(len(df)), None
    else:
        train, test = train_test_split(len(df), fraction)
        log(
            f"training on the fixed {100 * (1 - fraction):g}% split ({len(train)} rows); "
            f"{len(test)} held out for metrics (--holdout {fraction:g})"
        )
    part = lambda idx: df.iloc[idx].reset_index(drop=True)  # noqa: E731
    kept = None if labels is None else np.asarray(labels)[train]
    return part(train), None if test is None else part(test), kept


def _cap(n: int) -> np.ndarray:
    idx = np.arange(n)
    return idx if n <= MAX_ROWS else np.sort(np.random.default_rng(0).permutation(n)[:MAX_ROWS])


def write_reference(run_dir: Path, data, heldout: pd.DataFrame | None, labels=None) -> None:
    """Store the rows (tables: with the held-out ones and a LABEL column; arrays: data units and
    labels) in the run directory."""
    from ..checkpoint import atomic_write, save_checkpoint

    if isinstance(data, pd.DataFrame):
        parts = [data.iloc[_cap(len(data))].assign(**{SPLIT: "train"})]
        if heldout is not None:
            parts.append(heldout.iloc[_cap(len(heldout))].assign(**{SPLIT: "test"}))
        table = pd.concat(parts, ignore_index=True)
        atomic_write(run_dir / TABLE, lambda f: table.to_parquet(f, index=False))
    elif isinstance(data, np.ndarray) and data.ndim == 2:
        import torch

        kept = _cap(len(data))
        tensors = {"train": torch.as_tensor(data[kept], dtype=torch.float64)}
        if labels is not None:
            tensors["labels"] = torch.as_tensor(np.asarray(labels)[kept])
        save_checkpoint(run_dir / ARRAY, tensors, {"rows": len(kept)})


def read_table_reference(run_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """(training rows, held-out rows or None) of a table run."""
    path = run_dir / TABLE
    if not path.exists():
        raise DifflabError(f"{path}: missing; the run keeps its table here (retrain to create it)")
    table = pd.read_parquet(path)
    train = table[table[SPLIT] == "train"].drop(columns=[SPLIT]).reset_index(drop=True)
    test = table[table[SPLIT] == "test"].drop(columns=[SPLIT]).reset_index(drop=True)
    return train, (test if len(test) else None)


def read_array_reference(run_dir: Path) -> tuple[np.ndarray, np.ndarray | None] | None:
    """(training rows, labels or None) an array run stored, or None for older runs."""
    from ..checkpoint import load_checkpoint

    path = run_dir / ARRAY
    if not path.exists():
        return None
    tensors, _ = load_checkpoint(path)
    labels = tensors.get("labels")
    return tensors["train"].numpy(), None if labels is None else labels.numpy()


__all__ = ["hold_out", "write_reference", "read_table_reference", "read_array_reference"]
