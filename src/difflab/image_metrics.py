"""Image metrics without downloaded weights, each beside its own floor.

- A small CNN classifier trained by difflab on the training images (cached, its held-out accuracy
  reported): class accuracy of conditional samples, and the Fréchet distance (FD) between Gaussian
  fits of its penultimate features. FD at small n is biased upwards, so it is always reported with
  its floor: the FD between held-out real images and real training images at the same n.
- Memorisation: the fraction of images whose nearest training image is closer than 1/3 of the
  distance to the second nearest, for samples and for held-out real images.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from .checkpoint import load_checkpoint, save_checkpoint


class Classifier(nn.Module):
    """conv(32)–conv(32)–pool–conv(64)–conv(64)–pool–fc(128)–fc(K); `features`: the 128-D layer."""

    def __init__(self, shape: tuple[int, int, int], num_classes: int):
        super().__init__()
        c = shape[0]
        self.body = nn.Sequential(
            nn.Conv2d(c, 32, 3, padding=1),
            nn.SiLU(),
            nn.Conv2d(32, 32, 3, padding=1),
            nn.SiLU(),
            nn.AvgPool2d(2, ceil_mode=True),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.SiLU(),
            nn.Conv2d(64, 64, 3, padding=1),
            nn.SiLU(),
            nn.AdaptiveAvgPool2d(2),
            nn.Flatten(),
            nn.Linear(256, 128),
            nn.SiLU(),
        )
        self.head = nn.Linear(128, num_classes)

    def features(self, x: Tensor) -> Tensor:
        return self.body(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.body(x))


def cache_dir() -> Path:
    """Where trained classifiers are kept: $DIFFLAB_CACHE, else ~/.cache/difflab."""
    return Path(os.environ.get("DIFFLAB_CACHE", Path.home() / ".cache" / "difflab"))


def _fingerprint(x: np.ndarray, y: np.ndarray) -> str:
    h = hashlib.sha256(np.ascontiguousarray(x, dtype=np.float32).tobytes())
    h.update(np.ascontiguousarray(y, dtype=np.int64).tobytes())
    return h.hexdigest()[:16]


def train_classifier(
    x: np.ndarray,
    y: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    num_classes: int,
    epochs: int = 30,
    seed: int = 0,
    log=print,
) -> tuple[Classifier, float]:
    """Train (or load from the cache, keyed by the data's fingerprint) the classifier on images in
    the model's units [-1, 1]; returns it and its held-out accuracy."""
    key = _fingerprint(x, y)
    path = cache_dir() / f"classifier-{key}.safetensors"
    model = Classifier(tuple(x.shape[1:]), num_classes)
    if path.exists():
        tensors, meta = load_checkpoint(path)
        model.load_state_dict(tensors)
        return model.eval().requires_grad_(False), float(meta["accuracy"])
    torch.manual_seed(seed)
    model = Classifier(tuple(x.shape[1:]), num_classes)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    xt, yt = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for idx in torch.randperm(len(xt), generator=gen).split(64):
            # small random shifts: a classifier of exact pixels would judge samples too harshly
            batch = torch.roll(
                xt[idx],
                shifts=tuple(torch.randint(-1, 2, (2,), generator=gen).tolist()),
                dims=(2, 3),
            )
            loss = nn.functional.cross_entropy(model(batch), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval().requires_grad_(False)
    accuracy = float(class_accuracy(model, x_test, y_test))
    path.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(path, model.state_dict(), {"accuracy": accuracy, "n_train": int(len(x))})
    log(
        f"classifier trained on {len(x)} images: held-out accuracy {100 * accuracy:.1f}% "
        f"(cached in {path})"
    )
    return model, accuracy


@torch.no_grad()
def _batched(fn, x: np.ndarray, batch: int = 1000) -> np.ndarray:
    xt = torch.as_tensor(x, dtype=torch.float32)
    return torch.cat([fn(c) for c in xt.split(batch)]).double().numpy()


def class_accuracy(model: Classifier, x: np.ndarray, y: np.ndarray | int) -> float:
    pred = _batched(model, x).argmax(1)
    return float(np.mean(pred == np.asarray(y)))


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """||μ_a − μ_b||² + Tr(Σ_a + Σ_b − 2(Σ_a Σ_b)^½) between Gaussian fits (Heusel et al. 2017)."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    # Tr (Σ_a Σ_b)^½ = Tr (Σ_a^½ Σ_b Σ_a^½)^½: a symmetric PSD matrix, so eigenvalues suffice
    w, v = np.linalg.eigh(cov_a)
    half = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    cross = np.sqrt(np.clip(np.linalg.eigvalsh(half @ cov_b @ half), 0, None)).sum()
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * cross)


def memorisation(images: np.ndarray, train: np.ndarray) -> float:
    """Fraction of images whose nearest training image is closer than 1/3 of the second nearest
    (Euclidean, in pixels)."""
    a = torch.as_tensor(images.reshape(len(images), -1), dtype=torch.float64)
    b = torch.as_tensor(train.reshape(len(train), -1), dtype=torch.float64)
    d = torch.cat([torch.cdist(c, b) for c in a.split(500)])
    two = d.topk(2, dim=1, largest=False).values
    return float((two[:, 0] < two[:, 1] / 3).double().mean())


def image_metrics(
    samples: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    classifier: Classifier | None,
    labels: int | None = None,
    seed: int = 0,
    reference: np.ndarray | None = None,
) -> dict:
    """FD (classifier features) with its floor, class accuracy (`labels`: the samples' class),
    memorisation beside held-out real images. All arrays in the model's units [-1, 1].

    FD compares n samples with n real training images of `reference` (default: all of train; for
    one class, that class's), and its floor n held-out test images with the same n training
    images, n = min(samples, test): both at the same n, so the bias of FD at small n cancels in
    the ratio rather than flattering one side."""
    reference = train if reference is None else reference
    n = min(len(samples), len(test), len(reference))
    rng = np.random.default_rng(seed)
    real = reference[rng.choice(len(reference), size=n, replace=False)]
    out: dict = {"n": int(len(samples)), "n_floor": int(n)}
    if classifier is not None:
        feats = [_batched(classifier.features, v) for v in (samples[:n], test[:n], real)]
        fd, floor = frechet_distance(feats[0], feats[2]), frechet_distance(feats[1], feats[2])
        out["fd"] = {
            "value": fd,
            "floor": floor,
            "ratio": fd / floor if floor > 0 else float("inf"),
        }
        if labels is not None:
            out["accuracy"] = class_accuracy(classifier, samples, labels)
    out["memorisation"] = {
        "samples": memorisation(samples, train),
        "held_out": memorisation(test, train),
    }
    return out


__all__ = [
    "Classifier",
    "train_classifier",
    "class_accuracy",
    "frechet_distance",
    "memorisation",
    "image_metrics",
    "cache_dir",
]
