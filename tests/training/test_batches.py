"""Batches: rows and flips are keyed by (seed, step); streamed batches equal in-memory ones."""

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import stats

from difflab.training.batches import BLOCK, InMemory, Streamed, batch_indices, hflip
from difflab.data.stream import open_stream


def test_rows_are_uniform_and_flips_fair():
    n_rows, batch, steps = 10, 200, 300
    rows = torch.cat([batch_indices(3, s, n_rows, batch)[0] for s in range(steps)])
    flips = torch.cat([batch_indices(3, s, n_rows, batch)[1] for s in range(steps)])
    counts = np.bincount(rows.numpy(), minlength=n_rows)
    assert stats.chisquare(counts).pvalue > 1e-3
    assert abs(flips.float().mean() - 0.5) < 4 * 0.5 / np.sqrt(len(flips))


def test_a_step_depends_on_seed_and_step_alone():
    a = batch_indices(0, BLOCK + 5, 100, 32)[0].clone()
    batch_indices(0, 7, 100, 32)  # other steps in between change nothing
    batch_indices(1, BLOCK + 5, 100, 32)
    assert torch.equal(batch_indices(0, BLOCK + 5, 100, 32)[0], a)
    assert not torch.equal(batch_indices(1, BLOCK + 5, 100, 32)[0], a)
    assert not torch.equal(batch_indices(0, BLOCK + 6, 100, 32)[0], a)


def test_hflip_mirrors_the_last_axis():
    x = torch.arange(2 * 1 * 2 * 3, dtype=torch.float32).view(2, 1, 2, 3)
    out = hflip(x, torch.tensor([True, False]))
    assert torch.equal(out[0, 0, :, 0], x[0, 0, :, 2]) and torch.equal(out[1], x[1])


def _folder(tmp_path, n=30):
    rng = np.random.default_rng(0)
    for i in range(n):
        d = tmp_path / "imgs" / str(i % 3)
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (6, 5), dtype=np.uint8)).save(d / f"{i}.png")
    return open_stream(str(tmp_path / "imgs"), split=None)


@pytest.mark.parametrize("workers", [0, 2])
def test_streamed_batches_equal_in_memory_batches(tmp_path, workers):
    stream = _folder(tmp_path)
    data = torch.stack([stream[i][0] for i in range(len(stream))])
    labels = torch.as_tensor(stream.labels)
    part = slice(4, 12)  # rank 1 of 2 with a global batch of 16
    mem = InMemory(data, labels, 5, 16, part, flip=True)
    streamed = Streamed(stream, 5, 16, part, flip=True, workers=workers)
    try:
        for step in [0, 1, 2, BLOCK + 3, BLOCK + 4, 2]:  # jumps restart the workers at that step
            x_m, y_m = mem(step)
            x_s, y_s = streamed(step)
            assert torch.equal(x_m, x_s) and torch.equal(y_m, y_s)
            rows, flips = batch_indices(5, step, len(stream), 16)
            assert torch.equal(y_m, labels[rows[part]])
            want = torch.where(
                flips[part, None, None, None], data[rows[part]].flip(-1), data[rows[part]]
            )
            assert torch.equal(x_m, want)
    finally:
        streamed.close()
