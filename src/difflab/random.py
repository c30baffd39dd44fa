"""Per-sample random streams, so that a sample does not change when the batch size does.

Sample i always draws its noise from the generator of chunk i // CHUNK, seeded by (seed, stream,
chunk); a batch is assembled from the chunks it covers.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

CHUNK = 1024


def keyed_generator(seed: int, stream: int, chunk: int) -> torch.Generator:
    """A CPU generator that depends only on (seed, stream, chunk) (NumPy's SeedSequence mixing)."""
    state = np.random.SeedSequence([seed, stream, chunk]).generate_state(1, dtype=np.uint64)[0]
    return torch.Generator().manual_seed(int(state) & 0x7FFF_FFFF_FFFF_FFFF)


def randn_per_sample(
    seed: int,
    start: int,
    count: int,
    shape: tuple[int, ...],
    stream: int = 0,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """Standard normal noise [count, *shape] for sample indices start..start+count-1, on the CPU."""
    if count == 0:
        return torch.empty(0, *shape, dtype=dtype)
    first, last = start // CHUNK, (start + count - 1) // CHUNK
    parts = [
        torch.randn(CHUNK, *shape, generator=keyed_generator(seed, stream, c), dtype=dtype)
        for c in range(first, last + 1)
    ]
    offset = start - first * CHUNK
    return torch.cat(parts)[offset : offset + count]
