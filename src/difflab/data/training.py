"""The one data boundary of training: `TrainingData`, what a model trains on and where it came
from, and `load_training_data`, which makes one from what a user names (a toy set, a file, a
folder of images, a table).

A class label enters here once, as `TrainingData.labels` (indices 0…K-1, names in `classes`); from
there it goes `training.fit` → `batches` (one label per drawn row) → `objectives.DSM.draw` → the
network's `cond`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import DifflabError
from . import load_data
from .images import PixelScaler, is_image_spec, load_images
from .labels import load_labelled
from .stream import ImageStream, open_stream
from .tables import is_table_file

Log = Callable[[str], None]


@dataclass(frozen=True)
class TableOptions:
    """How to read a table file: the field separator, the columns kept or dropped, column kinds
    overriding the detected ones ({name: (kind, bounds)}), rows with missing cells dropped."""

    delimiter: str | None = None
    columns: list[str] | None = None
    drop_columns: list[str] | None = None
    types: dict = dataclasses.field(default_factory=dict)
    drop_na: bool = False

    @property
    def given(self) -> bool:
        return any(dataclasses.astuple(self))


@dataclass(frozen=True)
class TrainingData:
    """What a model trains on: `rows` (an N×D array, N×C×H×W images with their `scaler`'s pixel
    range, an ImageStream decoded on demand, or a table: a DataFrame, its `scaler` a TableCodec
    when given, else fitted with `column_types`), class `labels` [N] in 0…K-1 with their names
    `classes`, and provenance for config.json: `spec` (a toy name, a resolved path, 'array') and
    `labels_from` (the column, .npz key or 'component'/'class' the labels came from).
    standardise=False trains vectors in their own units. Tables and images hold out `holdout`
    of their rows (the fixed split; 0: none) for metrics and for stopping by themselves, or train
    on every row and measure against `heldout` rows (with `heldout_labels`), the user's own, read
    from `validation`."""

    rows: object
    spec: str = "array"
    labels: np.ndarray | None = None
    classes: list[str] | None = None
    labels_from: str | None = None
    scaler: object = None
    standardise: bool = True
    column_types: dict | None = None
    holdout: float = 0.2
    heldout: object = None
    heldout_labels: np.ndarray | None = None
    validation: str | None = None

    @classmethod
    def of(cls, data) -> TrainingData:
        """`data` as TrainingData: itself, or bare rows (an ImageStream brings its own classes)."""
        if isinstance(data, TrainingData):
            return data
        if isinstance(data, ImageStream) and data.labels is not None:
            return cls(data, labels=data.labels, classes=data.classes)
        return cls(data)

    @property
    def is_table(self) -> bool:
        import pandas as pd

        return isinstance(self.rows, pd.DataFrame)

    @property
    def is_vectors(self) -> bool:
        """Vectors or a table (not images in memory, not a stream)."""
        return not isinstance(self.scaler, PixelScaler) and not isinstance(self.rows, ImageStream)

    def check_size(self) -> None:
        """At least two rows: σ_max is the largest distance between rows (one image gave 0)."""
        if len(self.rows) < 2:
            raise DifflabError(
                f"{self.spec}: {len(self.rows)} row(s); training needs at least 2 (σ_max is the "
                "largest distance between them)"
            )

    def checked(self) -> TrainingData:
        """At least two rows, labels as int64 indices, one per row, and their class names;
        one-line errors."""
        self.check_size()
        if self.labels is None:
            return self
        labels, classes = check_labels(self.labels, len(self.rows), self.classes)
        return dataclasses.replace(self, labels=labels, classes=classes)


def check_labels(
    labels: np.ndarray, n: int, classes: list[str] | None
) -> tuple[np.ndarray, list[str]]:
    """Labels as int64 class indices, one per data row, and the class names; one-line errors."""
    labels = np.asarray(labels)
    if labels.shape != (n,):
        raise DifflabError(f"labels: expected one per data row ({n}), got shape {labels.shape}")
    if labels.dtype.kind == "f" and not np.isfinite(labels).all():
        raise DifflabError(
            f"labels: {int((~np.isfinite(labels)).sum())} missing (NaN) label(s), first at row "
            f"{int(np.argmax(~np.isfinite(labels)))}"
        )
    if labels.dtype.kind not in "iuf" or (
        labels.dtype.kind == "f" and (labels != np.round(labels)).any()
    ):
        raise DifflabError("labels: expected class indices 0…K-1 (integers)")
    labels = labels.astype(np.int64)
    if len(np.unique(labels)) < 2:
        name = classes[labels[0]] if classes and 0 <= labels[0] < len(classes) else labels[0]
        raise DifflabError(
            f"labels: every row has class {name!r}; a class-conditional model needs two or more "
            "classes (train without --labels)"
        )
    k = len(classes) if classes else int(labels.max()) + 1
    if labels.min() < 0 or labels.max() >= k:
        raise DifflabError(
            f"labels: class indices must lie in 0…{k - 1}, found {labels.min()}…{labels.max()}"
        )
    return labels, list(classes) if classes else [str(i) for i in range(k)]


def wants_images(spec: str, model_type: str | None, stream: bool) -> bool:
    """Whether `spec` is trained as images: an image set or folder, a U-Net, or --stream."""
    return is_image_spec(spec) or model_type == "unet" or stream


def load_training_data(
    spec: str,
    labels: str | None = None,
    *,
    key: str | None = None,
    n_toy: int = 50_000,
    seed: int = 0,
    images: bool = False,
    image_size: int | None = None,
    stream: bool = False,
    table: TableOptions = TableOptions(),
    log: Log = print,
    holdout: float | None = None,
    validation: str | None = None,
) -> TrainingData:
    """The data `difflab train --data SPEC` names: vectors (a toy set or a file; labels from a
    column, an .npz array or a toy mixture's components), a table (.csv/.tsv/.txt/.parquet), or
    images (a built-in set, a folder, an array; 'class' for their own labels), streamed from
    disk with `stream`. Tables and images hold out `holdout` (default 0.2) of their rows, or
    train on all of them and hold out the `validation` file's (folder's) instead."""
    if table.given and not is_table_file(spec):
        raise DifflabError(
            f"--delimiter/--columns/--column-type/--drop-na read tables; {spec} is not"
        )
    where = str(Path(spec).resolve()) if Path(spec).exists() else spec
    common = {"spec": where, "labels_from": labels, "holdout": _fraction(holdout, validation)}
    if validation is not None:
        common["validation"] = str(Path(validation).resolve())
    if images:
        return _images(spec, labels, key, image_size, stream, log, common)
    if image_size is not None:
        raise DifflabError(
            "--image-size applies to image data (a folder, digits, faces, or --model unet)"
        )
    if is_table_file(spec):
        df, y, classes = read_training_table(spec, labels, table, log)
        types = table.types or None
        data = TrainingData(df, labels=y, classes=classes, column_types=types, **common)
        return data if validation is None else _table_validation(data, validation, table, log)
    if holdout is not None or validation is not None:
        raise DifflabError(
            "--holdout/--validation hold out rows of a table or images; vector data are measured "
            "against fresh draws of a toy set or the rows the run keeps"
        )
    if labels is None:
        return TrainingData(load_data(spec, n=n_toy, seed=seed, key=key), **common)
    x, y, classes = load_labelled(spec, labels, n=n_toy, seed=seed, key=key)
    return TrainingData(x, labels=y, classes=classes, **common)


def _fraction(holdout: float | None, validation: str | None) -> float:
    """What is held out of the data: 0 with a validation file (every row trains), else
    `holdout` (default 0.2)."""
    if validation is not None and holdout:
        raise DifflabError(
            "give --holdout or --validation, not both (a validation file holds out "
            "its own rows; every row of --data trains)"
        )
    if holdout is not None and not 0 <= holdout < 1:
        raise DifflabError(f"--holdout must lie in [0, 1), got {holdout}")
    return 0.0 if validation is not None else (0.2 if holdout is None else holdout)


def _table_validation(data: TrainingData, path: str, opts: TableOptions, log) -> TrainingData:
    """The user's held-out table: the same columns and label column, its classes those of the
    training rows."""
    df, y, classes = read_training_table(path, data.labels_from, opts, log)
    missing = sorted(set(data.rows.columns) - set(df.columns))
    if missing:
        raise DifflabError(f"{path}: --validation lacks column {missing[0]!r} of the data")
    df = df[list(data.rows.columns)]
    labels = None if y is None else _same_classes(y, classes, data.classes, path)
    log(f"held out for metrics: the {len(df)} rows of {path} (--validation)")
    return dataclasses.replace(data, heldout=df, heldout_labels=labels)


def _same_classes(y: np.ndarray, names: list[str], classes: list[str], where: str) -> np.ndarray:
    """Validation labels as indices of the training classes; an unknown class is refused."""
    unknown = sorted(set(names) - set(classes))
    if unknown:
        raise DifflabError(f"{where}: class {unknown[0]!r} is not among the data's {classes}")
    return np.array([classes.index(names[i]) for i in y], dtype=np.int64)


def _images(spec, labels, key, image_size, stream, log, common) -> TrainingData:
    """Images for training: the fixed train split (or all, with a validation folder), in memory
    or streamed; the held-out images beside them (not for a stream)."""
    own = labels == "class"
    load = open_stream if stream else load_images
    fraction = common["holdout"]
    ims = load(
        spec, key=key, labels=None if own else labels, image_size=image_size, test_fraction=fraction
    )
    if own and ims.labels is None:
        raise DifflabError(
            f"{spec}: these images carry no classes (a folder needs one sub-folder per class)"
        )
    held = (
        f"the images of {common['validation']} are held out"
        if common.get("validation")
        else f"the other {100 * fraction:g}% is held out"
    )
    log(
        f"{spec}: training on the fixed {100 * (1 - fraction):g}% train split ({len(ims)} images"
        + (", streamed" if stream else "")
        + f"); {held} for image metrics"
    )
    y, classes = (ims.labels, ims.classes) if labels is not None else (None, None)
    if stream:
        rows = dataclasses.replace(ims, labels=y, classes=classes)
        return TrainingData(rows, labels=y, classes=classes, **common)
    data = TrainingData(ims.pixels, labels=y, classes=classes, scaler=ims.scaler, **common)
    return dataclasses.replace(data, **held_out_images(spec, data, key, image_size))


def held_out_images(spec: str, data: TrainingData, key, image_size) -> dict:
    """{'heldout': pixels, 'heldout_labels': …} of the images held out: the validation folder
    (or array), or the test part of the fixed split; {} when none."""
    if data.validation is not None:
        ims = load_images(data.validation, key=key, split=None, image_size=image_size)
        if ims.shape != tuple(data.rows.shape[1:]):
            raise DifflabError(
                f"{data.validation}: images of shape {ims.shape}, the data's are "
                f"{tuple(data.rows.shape[1:])}"
            )
    elif data.holdout > 0:
        ims = load_images(
            spec, key=key, split="test", image_size=image_size, test_fraction=data.holdout
        )
    else:
        return {}
    labels = ims.labels if data.labels is not None else None
    if labels is not None and ims.classes != data.classes:
        labels = _same_classes(labels, ims.classes, data.classes, str(data.validation))
    return {"heldout": ims.pixels, "heldout_labels": labels}


def read_training_table(path: str, labels: str | None, opts: TableOptions, log: Log) -> tuple:
    """(table, labels, class names) of a .csv/.tsv/.txt/.parquet file: the chosen columns, the
    label column taken out, rows with missing cells dropped (drop_na) or refused."""
    from .labels import class_indices
    from .tables import _column, data_line, read_table

    df = read_table(path, opts.delimiter, opts.columns, opts.drop_columns)
    unknown = sorted(set(opts.types) - set(df.columns))
    if unknown:
        raise DifflabError(f"--column-type: no column {unknown[0]!r} in {path}")
    values = name = indexed = None
    if labels is not None:
        name = _column(df, labels, path)
        values, df = df[name], df.drop(columns=[name])
    empty = [c for c in df.columns if df[c].isna().all()]
    if empty:
        raise DifflabError(
            f"{path}: column {empty[0]!r} has no value in any row; leave it out with "
            f"--drop-columns {empty[0]}"
        )
    bad = df.isna().any(axis=1).to_numpy()
    if values is not None:
        if not opts.drop_na:  # a missing label is named as one, not as a missing cell
            indexed = class_indices(values.to_numpy(), f"{path}[{name}]")
        bad = bad | values.isna().to_numpy()
    if bad.any() and not opts.drop_na:
        row = int(np.argmax(bad))
        missing = df.iloc[row].isna()
        column = df.columns[missing.to_numpy()][0] if missing.any() else name
        line = data_line(Path(path), row, opts.delimiter)
        at = f"line {line} of the file" if line else f"row {row}"
        raise DifflabError(
            f"{path}: {int(bad.sum())} row(s) with missing cells (first: {at}, column "
            f"{column!r}); --drop-na trains on the complete rows, then `difflab inpaint` fills them"
        )
    if bad.any():
        log(f"{path}: dropped {int(bad.sum())} row(s) with missing cells (--drop-na)")
        df = df[~bad].reset_index(drop=True)
        values = None if values is None else values[~bad]
    if values is None:
        return df, None, None
    return (df, *(indexed or class_indices(values.to_numpy(), f"{path}[{name}]")))
