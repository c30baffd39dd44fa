"""Training batches: which rows step s trains on, and whether each is flipped, is a function of
(seed, s) alone — not of the process count, a resume, or where the rows live.

So one process equals DDP (each rank gathers its slice of the same global batch), a resumed run
equals an uninterrupted one, and streaming images from disk (DataLoader workers decoding ahead)
trains on exactly the batches the same images held in memory would give.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

import torch
from torch import Tensor

from ..data.stream import collate
from ..errors import DifflabError
from ..random import keyed_generator

BLOCK = 64  # steps whose indices are drawn together: one keyed generator per 64 steps, not per step
STREAM = 2**31 - 7  # the key stream of batch indices (samplers' noise streams are small integers)


@functools.lru_cache(maxsize=4)
def _block(seed: int, block: int, n_rows: int, batch: int) -> tuple[Tensor, Tensor]:
    g = keyed_generator(seed, STREAM, block)
    rows = torch.randint(0, n_rows, (BLOCK, batch), generator=g)
    return rows, torch.randint(0, 2, (BLOCK, batch), generator=g).bool()


def batch_indices(seed: int, step: int, n_rows: int, batch: int) -> tuple[Tensor, Tensor]:
    """Rows (uniform, with replacement) and horizontal flips (p = 1/2) of step's global batch."""
    rows, flips = _block(seed, step // BLOCK, n_rows, batch)
    return rows[step % BLOCK], flips[step % BLOCK]


def hflip(x0: Tensor, flip: Tensor) -> Tensor:
    """Images whose `flip` is set mirrored left–right (the last axis)."""
    return torch.where(flip.view(-1, *[1] * (x0.dim() - 1)), x0.flip(-1), x0)


class InMemory:
    """Batches gathered from a tensor on the device: `batches(step)` → (x0, labels) of this rank."""

    def __init__(
        self,
        data: Tensor,
        labels: Tensor | None,
        seed: int,
        batch: int,
        part: slice = slice(None),
        flip: bool = False,
    ):
        self.data, self.labels, self.seed, self.batch = data, labels, seed, batch
        self.part, self.flip = part, flip

    def __call__(self, step: int) -> tuple[Tensor, Tensor | None]:
        rows, flips = batch_indices(self.seed, step, len(self.data), self.batch)
        rows = rows[self.part].to(self.data.device)
        x0 = self.data[rows]
        if self.flip:
            x0 = hflip(x0, flips[self.part].to(x0.device))
        return x0, None if self.labels is None else self.labels[rows]

    def first(self, n: int) -> Tensor:
        return self.data[:n]

    def close(self) -> None:
        pass


class Streamed:
    """Batches decoded from disk by DataLoader workers running ahead of the loop, in step order;
    the same (x0, labels) as InMemory over the decoded images."""

    def __init__(
        self,
        dataset,
        seed: int,
        batch: int,
        part: slice = slice(None),
        flip: bool = False,
        workers: int = 2,
        device: str = "cpu",
    ):
        self.dataset, self.seed, self.batch, self.part, self.flip = dataset, seed, batch, part, flip
        self.workers, self.device = workers, torch.device(device)
        self._it: Iterator | None = None
        self._next = -1

    def _steps(self, start: int) -> Iterator[list[int]]:
        step = start
        while True:
            yield batch_indices(self.seed, step, len(self.dataset), self.batch)[0][
                self.part
            ].tolist()
            step += 1

    def _loader(self, start: int) -> Iterator:
        return iter(
            torch.utils.data.DataLoader(
                self.dataset,
                batch_sampler=self._steps(start),
                num_workers=self.workers,
                collate_fn=collate,
                pin_memory=self.device.type == "cuda",
                prefetch_factor=4 if self.workers else None,
            )
        )

    def __call__(self, step: int) -> tuple[Tensor, Tensor | None]:
        if self._it is None or step != self._next:
            self.close()
            self._it = self._loader(step)
        got, self._next = next(self._it), step + 1
        if isinstance(got, str):
            self.close()
            raise DifflabError(got)
        x0, labels = (t.to(self.device, non_blocking=True) for t in got)
        if self.flip:
            flips = batch_indices(self.seed, step, len(self.dataset), self.batch)[1][self.part]
            x0 = hflip(x0, flips.to(self.device))
        return x0, None if self.dataset.labels is None else labels

    def first(self, n: int) -> Tensor:
        got = collate([self.dataset[i] for i in range(min(n, len(self.dataset)))])
        if isinstance(got, str):
            raise DifflabError(got)
        return got[0].to(self.device)

    def close(self) -> None:
        self._it = None  # the DataLoader's workers stop when its iterator is collected


__all__ = ["batch_indices", "hflip", "InMemory", "Streamed", "BLOCK"]
