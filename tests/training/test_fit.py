"""The training loop: bit-identical resume on CPU, NaN stops with the last good checkpoint kept."""

import dataclasses

import numpy as np
import pytest
import torch

from difflab.checkpoint import load_checkpoint
from difflab.data import load_data
from difflab.errors import DifflabError
from difflab.presets import get_preset
from difflab.run import load_run
from difflab.training import CHECKPOINT, ModelConfig, TrainConfig, TrainingData, train

SMALL = ModelConfig(width=32, depth=1, emb_dim=16)


def _train(out, steps, **kw):
    cfg = TrainConfig(steps=steps, batch_size=64, checkpoint_every=25, **kw.pop("cfg", {}))
    data = TrainingData(load_data("moons", n=1000), spec="moons", labels=kw.pop("labels", None))
    return train(
        data,
        kw.pop("preset", "edm"),
        out,
        cfg,
        SMALL,
        progress=False,
        log=lambda *_: None,
        **kw,
    )


@pytest.mark.parametrize("labelled", [False, True], ids=["plain", "labelled"])
def test_resume_is_bit_identical(tmp_path, labelled):
    # labelled: the label draws and the p_uncond dropout come from the same saved generator
    kw = {"labels": np.arange(1000) % 3} if labelled else {}
    _train(tmp_path / "straight", 100, **kw)
    _train(tmp_path / "split", 50, **kw)
    _train(tmp_path / "split", 100, resume=True, **kw)
    a, meta_a = load_checkpoint(tmp_path / "straight" / CHECKPOINT)
    b, meta_b = load_checkpoint(tmp_path / "split" / CHECKPOINT)
    assert meta_a["step"] == meta_b["step"] == 100
    assert meta_a["history"] == meta_b["history"]
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_resume_with_other_classes_is_refused(tmp_path):
    _train(tmp_path / "r", 10, labels=np.arange(1000) % 3)
    with pytest.raises(DifflabError, match="classes"):
        _train(tmp_path / "r", 20, resume=True, labels=np.arange(1000) % 4)


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
    train(
        TrainingData(load_data("moons", n=1000), spec="moons"),
        "edm",
        tmp_path / "r",
        cfg,
        SMALL,
        progress=False,
        log=lambda *_: None,
    )
    run = load_run(tmp_path / "r")
    assert run.dim == 2 and run.config.preset == "edm"
    small = run.sample(300, steps=4, seed=5, batch_size=7)
    big = run.sample(300, steps=4, seed=5)
    assert torch.allclose(
        torch.as_tensor(small), torch.as_tensor(big), atol=1e-5
    )  # independent of batching


@pytest.mark.parametrize("flow", ["realnvp", "nice", "made", "wavenet"])
def test_flow_runs_train_checkpoint_resume_and_load(tmp_path, flow):
    """A flow (or an autoregressive model) goes through the same loop: its NLL falls, it resumes
    bit-identically, and the loaded run's log-density (data units) matches the model's own up to
    the standardisation's Jacobian."""
    import numpy as np

    data = load_data("8-gaussians", n=4000)
    model = ModelConfig(type=flow, width=32, depth=2, layers=4)
    cfg = TrainConfig(steps=60, batch_size=128, log_every=10, checkpoint_every=30)
    train(data, "edm", tmp_path / "a", cfg, model, progress=False, log=lambda *_: None)
    train(
        data,
        "edm",
        tmp_path / "b",
        dataclasses.replace(cfg, steps=30),
        model,
        progress=False,
        log=lambda *_: None,
    )
    train(data, "edm", tmp_path / "b", cfg, model, resume=True, progress=False, log=lambda *_: None)
    a, b = (
        load_checkpoint(tmp_path / "a" / CHECKPOINT),
        load_checkpoint(tmp_path / "b" / CHECKPOINT),
    )
    assert all(torch.equal(a[0][k], b[0][k]) for k in a[0] if k != "rng")
    history = a[1]["history"]
    assert history[-1][1] < history[0][1]
    run = load_run(tmp_path / "a")
    x = run.sample(500, seed=1)
    assert x.shape == (500, 2) and np.all(np.isfinite(x))
    z = torch.from_numpy(run.standardiser.forward(x)).float()
    expected = run.flow.log_prob(z).double().numpy() - np.log(run.standardiser.std).sum()
    assert np.allclose(run.log_prob(x), expected, atol=1e-6)


def test_labelled_made_resumes_bit_identically(tmp_path):
    """The label dropout of an autoregressive model is drawn from the saved generator too."""
    data, labels = load_data("8-gaussians", n=2000), np.arange(2000) % 4
    model = ModelConfig(type="made", width=16, depth=1, components=2)
    cfg = TrainConfig(steps=40, batch_size=64, checkpoint_every=20, log_every=10, p_uncond=0.3)
    quiet = {"progress": False, "log": lambda *_: None}
    data = TrainingData(data, labels=labels)
    train(data, "edm", tmp_path / "a", cfg, model, **quiet)
    train(data, "edm", tmp_path / "b", dataclasses.replace(cfg, steps=20), model, **quiet)
    train(data, "edm", tmp_path / "b", cfg, model, resume=True, **quiet)
    a, b = (load_checkpoint(tmp_path / d / CHECKPOINT) for d in "ab")
    assert a[1]["history"] == b[1]["history"]
    assert all(torch.equal(a[0][k], b[0][k]) for k in a[0])


def test_bf16_autocast_trains_like_fp32(tmp_path):
    """bf16 forward passes (CPU autocast) follow the fp32 loss curve to within bf16's ~3 digits."""
    _train(tmp_path / "fp32", 150)
    _train(tmp_path / "bf16", 150, cfg={"precision": "bf16"})
    a = load_checkpoint(tmp_path / "fp32" / CHECKPOINT)[1]["history"]
    b = load_checkpoint(tmp_path / "bf16" / CHECKPOINT)[1]["history"]
    assert a[-1][1] == pytest.approx(b[-1][1], rel=0.05)
    assert a != b  # it did run in another precision


def test_precision_and_device_are_checked():
    with pytest.raises(DifflabError, match="CUDA"):
        TrainConfig(steps=1, precision="fp16")
    with pytest.raises(DifflabError, match="precision"):
        TrainConfig(steps=1, precision="fp8")


def test_compiled_training_matches_eager(tmp_path):
    """--compile changes how the loss is computed, not what: the same losses to float tolerance."""
    _train(tmp_path / "eager", 30)
    _train(tmp_path / "compiled", 30, cfg={"compile": True})
    a = load_checkpoint(tmp_path / "eager" / CHECKPOINT)[1]["history"]
    b = load_checkpoint(tmp_path / "compiled" / CHECKPOINT)[1]["history"]
    assert [s for s, _ in a] == [s for s, _ in b]
    assert all(x == pytest.approx(y, rel=1e-4) for (_, x), (_, y) in zip(a, b))


def test_channels_last_changes_the_layout_not_the_training(tmp_path):
    """NHWC weights and batches compute the same U-Net steps as NCHW, to float tolerance."""
    from difflab.data.images import load_images

    ims = load_images("digits")
    runs = {}
    for name, nhwc in [("nchw", False), ("nhwc", True)]:
        cfg = TrainConfig(steps=6, batch_size=16, log_every=2, channels_last=nhwc)
        model = ModelConfig(type="unet", channels=8)
        out = train(
            TrainingData(ims.pixels[:64], scaler=ims.scaler),
            "edm",
            tmp_path / name,
            cfg,
            model,
            progress=False,
            log=lambda *_: None,
        )
        runs[name] = load_checkpoint(out / CHECKPOINT)
    (a, meta_a), (b, meta_b) = runs["nchw"], runs["nhwc"]
    assert all(torch.allclose(a[k], b[k], rtol=1e-4, atol=1e-5) for k in a)
    assert any(not torch.equal(a[k], b[k]) for k in a)  # another summation order: it did run NHWC
    assert all(
        x == pytest.approx(y, rel=1e-4)
        for (_, x), (_, y) in zip(meta_a["history"], meta_b["history"])
    )
    with pytest.raises(DifflabError, match="--channels-last lays out images"):
        _train(tmp_path / "v", 2, cfg={"channels_last": True})


def test_ema_moves_a_fraction_one_minus_beta_toward_the_model():
    """θ_ema ← β θ_ema + (1 − β) θ, β = min(decay, (1 + step)/(10 + step)): from θ_ema = 0 toward
    θ = 1 at step 100 with decay 0.9, β = 0.9, so θ_ema = 0.1 (swapped β would give 0.9)."""
    from difflab.training import ema_update, make_state

    state = make_state(get_preset("edm"), 2, SMALL, TrainConfig(steps=1))
    with torch.no_grad():
        for p, q in zip(state.model.parameters(), state.ema.parameters()):
            p.fill_(1.0)
            q.fill_(0.0)
    state.step = 100
    ema_update(state, 0.9)
    assert all(torch.allclose(q, torch.full_like(q, 0.1)) for q in state.ema.parameters())
    state.step = 0  # early: β = min(0.9, 1/10) = 0.1, the EMA follows fast
    ema_update(state, 0.9)
    assert all(
        torch.allclose(q, torch.full_like(q, 0.1 * 0.1 + 0.9)) for q in state.ema.parameters()
    )
