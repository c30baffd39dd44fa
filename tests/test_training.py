"""The training loop: bit-identical resume on CPU, NaN stops with the last good checkpoint kept."""

import dataclasses

import pytest
import torch

from difflab.checkpoint import load_checkpoint
from difflab.data import load_data
from difflab.errors import DifflabError
from difflab.presets import get_preset
from difflab.run import load_run
from difflab.training import CHECKPOINT, ModelConfig, TrainConfig, train

SMALL = ModelConfig(width=32, depth=1, emb_dim=16)


def _train(out, steps, **kw):
    cfg = TrainConfig(steps=steps, batch_size=64, checkpoint_every=25, **kw.pop("cfg", {}))
    return train(load_data("moons", n=1000), kw.pop("preset", "edm"), out, cfg, SMALL, data_spec="moons",
                 progress=False, log=lambda *_: None, **kw)


def test_resume_is_bit_identical(tmp_path):
    _train(tmp_path / "straight", 100)
    _train(tmp_path / "split", 50)
    _train(tmp_path / "split", 100, resume=True)
    a, meta_a = load_checkpoint(tmp_path / "straight" / CHECKPOINT)
    b, meta_b = load_checkpoint(tmp_path / "split" / CHECKPOINT)
    assert meta_a["step"] == meta_b["step"] == 100
    assert meta_a["history"] == meta_b["history"]
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_existing_run_needs_resume_or_force(tmp_path):
    _train(tmp_path / "r", 10)
    with pytest.raises(DifflabError, match="--resume"):
        _train(tmp_path / "r", 10)
    _train(tmp_path / "r", 10, force=True)
    with pytest.raises(DifflabError, match="nothing to resume"):
        _train(tmp_path / "fresh", 10, resume=True)
    with pytest.raises(DifflabError, match="cannot resume"):
        _train(tmp_path / "r", 20, resume=True, preset="ddpm")


@dataclasses.dataclass(frozen=True)
class NaNAfter:
    """A noise-level distribution that turns to NaN after `calls` batches."""

    calls: int
    count: list = dataclasses.field(default_factory=lambda: [0])

    def sample(self, n, process, generator, device="cpu"):
        self.count[0] += 1
        value = float("nan") if self.count[0] > self.calls else 1.0
        return torch.full((n,), value, device=device)


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    preset = dataclasses.replace(get_preset("edm"), noise=NaNAfter(60))
    with pytest.raises(DifflabError, match=r"loss became nan by step 75.*last good checkpoint"):
        _train(tmp_path / "r", 200, preset=preset)
    tensors, meta = load_checkpoint(tmp_path / "r" / CHECKPOINT)
    assert meta["step"] == 50
    assert all(torch.isfinite(t).all() for k, t in tensors.items() if t.is_floating_point())


def test_seconds_budget_and_loaded_run(tmp_path):
    cfg = TrainConfig(seconds=1.0, batch_size=64)
    train(load_data("moons", n=1000), "edm", tmp_path / "r", cfg, SMALL, data_spec="moons",
          progress=False, log=lambda *_: None)
    run = load_run(tmp_path / "r")
    assert run.dim == 2 and run.config["preset"] == "edm"
    small = run.sample(300, steps=4, seed=5, batch_size=7)
    big = run.sample(300, steps=4, seed=5)
    assert torch.allclose(torch.as_tensor(small), torch.as_tensor(big), atol=1e-5)  # independent of batching
