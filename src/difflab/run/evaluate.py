"""How a trained run is measured: samples against exact reference sets (with their noise floor),
tables by column and association, images in a classifier's features."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ..data import get_toy, is_toy, load_data
from ..data.labels import load_labelled
from ..data.reference import LABEL, read_array_reference, read_table_reference
from ..data.tables import read_table
from ..errors import DifflabError
from ..ideal import GaussianMixture
from ..metrics import compare


class Evaluation:
    """The evaluation methods of a TrainedRun (run/base.py), which holds path, config, shape,
    standardiser."""

    def reference_sets(
        self, n: int, spec: str | None = None, k: int = 6, cls: int | None = None
    ) -> list[np.ndarray]:
        """k independent exact sets for the noise floor: fresh draws of a toy set, or disjoint
        random chunks of a data file (fewer and smaller when the file is small); with `cls`, of
        that class only (a toy mixture's component, or the file's rows with that label)."""
        spec = spec or self.config.data.spec
        if is_toy(spec):
            toy = get_toy(spec)
            if toy.dim != self.dim:
                raise DifflabError(
                    f"reference {spec} has dimension {toy.dim}, the model {self.dim}"
                )
            if cls is not None:
                component = _component(toy.mixture, cls)
                return [
                    component.sample(n, generator=torch.Generator().manual_seed(10_000 + i)).numpy()
                    for i in range(k)
                ]
            return [toy.sample(n, seed=10_000 + i).numpy() for i in range(k)]
        stored = read_array_reference(self.path) if spec == self.config.data.spec else None
        if stored is not None:  # the rows the run trained on, kept in the run
            data, labels = stored
            data = data if cls is None or labels is None else data[labels == cls]
        elif spec == "array":
            raise DifflabError(
                f"{self.path}: trained from an array in Python, before runs kept their rows; "
                "give --reference FILE"
            )
        elif self.config.data.labels:  # the label column is not data
            data, labels, _ = load_labelled(spec, self.config.data.labels)
            data = data if cls is None else data[labels == cls]
        else:
            data = load_data(spec)
        if data.shape[1] != self.dim:
            raise DifflabError(
                f"{spec}: reference has {data.shape[1]} columns, the model was trained on "
                f"{self.dim}"
            )
        if len(data) == 0:
            raise DifflabError(f"{spec}: no reference rows" + (f" of class {cls}" if cls else ""))
        data = data[np.random.default_rng(0).permutation(len(data))]
        if len(data) < 4:  # a tiny data set: one set, metrics without a floor (compare warns)
            return [data]
        k = max(2, min(k, len(data) // n))
        size = min(n, len(data) // k)
        return [data[i * size : (i + 1) * size] for i in range(k)]

    def evaluate(
        self, samples: np.ndarray, reference: str | None = None, cls: int | None = None
    ) -> dict:
        """Metrics of samples (original units) against the reference, with the noise floor; with
        `cls` (a class index) against that class's data only."""
        if self.is_image:
            return self.evaluate_images(np.asarray(samples), reference, cls)
        if self.is_table:
            return self.evaluate_table(samples, reference, cls)
        samples = self._check_data(samples, "samples")
        spec = reference or self.config.data.spec
        refs = self.reference_sets(len(samples), spec, cls=cls)
        mixture = get_toy(spec).mixture if is_toy(spec) else None
        if mixture is not None and cls is not None:
            mixture = _component(mixture, cls)
        result = compare(samples, refs, mixture)
        result["reference"] = spec
        return result

    def evaluate_table(
        self,
        samples: pd.DataFrame,
        reference: str | None = None,
        cls: int | None = None,
        target: str | None = None,
    ) -> dict:
        """Table metrics (difflab.table_metrics) of synthetic rows against the rows the run keeps
        (or the table `reference`, then without held-out rows), each beside its floor. Samples
        that carry the run's label column are measured on it too, and it is the default
        target of ML efficacy (predicting the class is what a labelled table is for)."""
        from ..table_metrics import table_metrics

        codec = self.standardiser
        if reference is None:
            train, test = read_table_reference(self.path)
        else:
            train, test = read_table(reference), None
        if cls is not None:
            train, test = (_of_class(t, cls) for t in (train, test))
        column = self.label_column
        if cls is None and column and column in samples.columns and LABEL in train.columns:
            codec, samples, train, test = self._labelled(codec, samples, train, test)
            target = target or column
        if target is not None and target not in codec.names:
            raise DifflabError(f"--target {target!r}: not a column; the columns are {codec.names}")
        result = table_metrics(codec, codec.inverse(codec.forward(samples)), train, test, target)
        if test is None:
            result["warning"] = "no held-out rows (a tiny table): the metrics have no floor"
        result["reference"] = reference or self.config.data.spec
        return result

    def _labelled(self, codec, samples, train, test) -> tuple:
        """The codec with the label column as one more category, and the frames with the
        class names in it (the rows the run keeps hold class indices in LABEL)."""
        from ..data.codec import TableCodec
        from ..data.columns import Column
        from ..data.labels import tidy_label

        column, names = self.label_column, np.array(self.classes, dtype=object)
        label = Column(column, "categorical", levels=tuple(self.classes))
        codec = TableCodec((*codec.columns, label))

        def named(t):
            if t is None:
                return None
            return t.drop(columns=[LABEL]).assign(**{column: names[t[LABEL].to_numpy(int)]})

        samples = samples.assign(**{column: samples[column].map(tidy_label)})
        return codec, samples, named(train), named(test)

    def evaluate_images(
        self, samples: np.ndarray, reference: str | None = None, cls: int | None = None
    ) -> dict:
        """Image metrics (difflab.image_metrics) of samples in pixel units against the data set's
        held-out test split: FD in a difflab-trained classifier's features beside its floor, class
        accuracy for samples of class `cls`, memorisation beside held-out real images."""
        from ..image_metrics import image_metrics

        if samples.shape[1:] != self.shape:
            raise DifflabError(f"samples have shape {samples.shape[1:]}, the model {self.shape}")
        if reference is None and self.config.model.type == "diffusers":
            raise DifflabError(
                f"{self.config.data.spec}: a model trained elsewhere keeps no images to measure "
                "against; give --reference IMAGES (a folder, .npy/.npz, digits or faces)"
            )
        spec = reference or self.config.data.spec
        train, test = self._image_splits(spec)
        classifier, accuracy = self._classifier_for(train, test)
        x_train, x_test = (self._in_unit_range(s) for s in (train, test))
        scale = self.standardiser
        reference = None
        if cls is not None and test.labels is not None:  # that class's real images only
            x_test, reference = x_test[test.labels == cls], x_train[train.labels == cls]
        result = image_metrics(
            scale.forward(samples), x_train, x_test, classifier, cls, reference=reference
        )
        result.update(reference=spec, classifier_accuracy=accuracy)
        return result

    def image_classifier(self, spec: str | None = None) -> tuple:
        """(classifier, its held-out accuracy) for the image metrics, trained on the train split
        of `spec` (default: the run's data) or loaded from the cache; (None, None) without
        labels."""
        return self._classifier_for(*self._image_splits(spec or self.config.data.spec))

    def _image_splits(self, spec: str) -> tuple:
        """(training images, held-out images) of `spec`: the run's own split (its --holdout,
        or its --validation images) when `spec` is the run's data."""
        from ..data.images import load_images

        size, data = self.shape[-1], self.config.data
        if spec != data.spec:
            return tuple(load_images(spec, split=s, image_size=size) for s in ("train", "test"))
        train = load_images(spec, split="train", image_size=size, test_fraction=data.holdout)
        return train, self.held_out_images()

    def held_out_images(self):
        """The images the run held out: its --validation images, or the test part of its
        data's fixed split."""
        from ..data.images import load_images

        size, data = self.shape[-1], self.config.data
        if data.validation:
            return load_images(data.validation, split=None, image_size=size)
        if data.holdout == 0:
            raise DifflabError(
                f"{self.path}: trained on every image (--holdout 0): no held-out images to "
                "measure against (give --reference IMAGES)"
            )
        return load_images(data.spec, split="test", image_size=size, test_fraction=data.holdout)

    def _classifier_for(self, train, test) -> tuple:
        from ..image_metrics import train_classifier

        if train.labels is None:
            return None, None
        x, x_test = self._in_unit_range(train), self._in_unit_range(test)
        return train_classifier(x, train.labels, x_test, test.labels, len(train.classes))

    def _in_unit_range(self, images) -> np.ndarray:
        """Images in [-1, 1]: through the run's scaling when stored in the run's levels, else
        through their own pixel range (a model from elsewhere, 0–255, against the digits' 0–16:
        without it the digits were squeezed into [-1, -0.87] and the FD classifier fell to 73%)."""
        own = images.scaler if images.scaler.hi != self.standardiser.hi else self.standardiser
        return own.forward(images.pixels)


def _component(mixture: GaussianMixture | None, k: int) -> GaussianMixture:
    """Component k of a toy mixture alone: the exact law of class k."""
    if mixture is None or not 0 <= k < len(mixture.weights):
        raise DifflabError(f"class {k}: no such component of the toy set")
    return GaussianMixture(
        mixture.means[k : k + 1],
        mixture.stds[k : k + 1],
        torch.ones(1, dtype=mixture.weights.dtype),
    )


def _of_class(table: pd.DataFrame | None, cls: int) -> pd.DataFrame | None:
    """The rows of class `cls` (the label column the run stored beside the table)."""
    if table is None or LABEL not in table:
        return table
    return table[table[LABEL] == cls].drop(columns=[LABEL]).reset_index(drop=True)
