"""Class labels beside the data: a CSV column (by name or index), an .npz array, or the true
component of a toy mixture. Labels become indices 0…K-1 into a list of class names."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DifflabError
from .files import check_array, load_array
from .toy import TOY_SETS

TOY_LABELS = ("component", "mode")  # a toy mixture's labels: the component each point came from


def load_labelled(
    spec: str, labels: str, n: int = 50_000, seed: int = 0, key: str | None = None
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(data N×D, label indices [N], class names) for a toy mixture, a .csv or an .npz file."""
    if spec in TOY_SETS:
        return _toy(spec, labels, n, seed)
    path = Path(spec)
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv", ".txt", ".parquet"):
        if not path.exists():
            load_array(path)  # the usual one-line error
        return _table(path, labels)
    if suffix == ".npz":
        if (
            key is None and path.exists()
        ):  # data and labels side by side: the data is the other array
            with np.load(path, allow_pickle=False) as z:
                others = [k for k in z.keys() if k != labels]
            key = others[0] if len(others) == 1 else None
        x = load_array(path, key=key)
        return x, *class_indices(_npz_labels(path, labels), f"{path}[{labels}]")
    load_array(path, key=key)  # raises for a missing file or a wrong type
    raise DifflabError(
        f"{path}: labels come from a .csv column or an .npz array; a {suffix} file has no labels "
        f"(save data and labels together with numpy.savez)"
    )


def class_indices(values: np.ndarray, where: str) -> tuple[np.ndarray, list[str]]:
    """Label values (numbers or strings) → indices into the sorted distinct values (numerically
    sorted when they are all numbers), and those values as class names. Missing labels are
    refused."""
    strings = np.array([str(v).strip() for v in values.tolist()], dtype=object)
    missing = np.array([s == "" or s.lower() == "nan" for s in strings])
    if missing.any():
        raise DifflabError(
            f"{where}: {int(missing.sum())} missing label(s) (empty or NaN), first at row "
            f"{int(np.argmax(missing))}"
        )
    strings = [_tidy(s) for s in strings]  # '10' and '10.0' are one class
    names = sorted(set(strings), key=_class_order)
    index = {name: i for i, name in enumerate(names)}
    return np.array([index[s] for s in strings], dtype=np.int64), names


def _class_order(name: str) -> tuple:
    try:
        return (0, float(name), name)
    except ValueError:
        return (1, 0.0, name)


def tidy_label(value) -> str:
    """A label value as its class name: stripped text, '3.0' → '3' (as `class_indices` names)."""
    return _tidy(str(value).strip())


def _tidy(name: str) -> str:
    """'3.0' → '3': a float column of integer classes reads as integers."""
    try:
        value = float(name)
    except ValueError:
        return name
    return str(int(value)) if value.is_integer() else name


def _toy(spec: str, labels: str, n: int, seed: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    toy = TOY_SETS[spec]
    labelled = [name for name, t in TOY_SETS.items() if t.mixture is not None]
    if toy.mixture is None:
        raise DifflabError(
            f"toy set {spec} has no labels; labelled toy sets: {', '.join(labelled)}"
        )
    if labels not in TOY_LABELS:
        raise DifflabError(
            f"toy set {spec} is labelled by its mixture component: --labels component "
            f"(or mode), not {labels!r}"
        )
    import torch

    x, k = toy.mixture.sample_labelled(n, generator=torch.Generator().manual_seed(seed))
    return x.numpy(), k.numpy().astype(np.int64), [str(i) for i in range(len(toy.mixture.weights))]


def _table(path: Path, labels: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(other columns as numbers, label indices, class names) of a table file."""
    from .files import numbers
    from .tables import _column, read_table

    df = read_table(path)
    name = _column(df, labels, str(path))
    rest = df.drop(columns=[name])
    if rest.shape[1] == 0:
        raise DifflabError(f"{path}: the label column is the only column; no data left to model")
    x = check_array(numbers(rest, str(path)), str(path))
    return x, *class_indices(df[name].to_numpy(), f"{path}: label column {name!r}")


def _npz_labels(path: Path, key: str) -> np.ndarray:
    with np.load(path, allow_pickle=False) as z:
        if key not in z:
            raise DifflabError(f"{path}: has no label array {key!r}; it holds {list(z.keys())}")
        values = z[key]
    if values.ndim != 1:
        raise DifflabError(
            f"{path}[{key}]: labels must be one per row (1-D), got shape {values.shape}"
        )
    return values


__all__ = ["load_labelled", "class_indices", "TOY_LABELS"]
