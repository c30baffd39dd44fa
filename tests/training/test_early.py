"""Training without a budget stops by itself on the held-out loss and keeps its best checkpoint;
the held-out part is the user's decision (--holdout, --validation)."""

import json

import numpy as np
import pandas as pd
import pytest

import difflab.training.early as early
from difflab.checkpoint import CHECKPOINT, load_checkpoint
from difflab.data.reference import read_table_reference
from difflab.data.training import TableOptions, load_training_data
from difflab.errors import DifflabError
from difflab.run import load_run
from difflab.training import ModelConfig, TrainConfig, train

QUIET = {"progress": False, "log": lambda *_: None}


def _table(n, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    kind = rng.choice(["a", "b"], n)
    return pd.DataFrame({"kind": kind, "x": rng.normal(size=n) + 3 * (kind == "a")})


def test_no_budget_stops_on_the_held_out_loss_and_keeps_the_best(tmp_path, monkeypatch):
    """A 60-row table overfits fast: the held-out loss turns up, training stops PATIENCE checks
    after its best, and the checkpoint left is the best step's, not the last."""
    monkeypatch.setattr(early, "EVERY", 20)
    monkeypatch.setattr(early, "PATIENCE", 3)
    cfg = TrainConfig(batch_size=32, lr=3e-3, log_every=10)
    out = train(_table(60), "edm", tmp_path / "r", cfg, ModelConfig(width=128, depth=2), **QUIET)
    curve = json.loads((out / "loss.json").read_text())["held_out"]
    steps, losses = np.array(curve).T
    best = int(steps[np.argmin(losses)])
    assert load_checkpoint(out / CHECKPOINT)[1]["step"] == best
    assert steps[-1] == best + 3 * 20  # stopped PATIENCE checks after the best
    assert losses[-1] > losses.min()
    held = read_table_reference(out)[1]
    assert held is not None and len(held) == 12  # the 20% it measured on, kept with the run


def test_the_held_out_part_is_a_decision(tmp_path):
    df = _table(200)
    df.to_csv(tmp_path / "t.csv", index=False)
    df.head(50).to_csv(tmp_path / "v.csv", index=False)
    cfg = TrainConfig(steps=5, batch_size=32)
    every = load_training_data(str(tmp_path / "t.csv"), holdout=0.0, log=lambda *_: None)
    train(every, "edm", tmp_path / "all", cfg, ModelConfig(width=8, depth=1), **QUIET)
    kept, held = read_table_reference(tmp_path / "all")
    assert len(kept) == 200 and held is None
    assert load_run(tmp_path / "all").config.data.holdout == 0.0
    own = load_training_data(
        str(tmp_path / "t.csv"), "kind", validation=str(tmp_path / "v.csv"), log=lambda *_: None
    )
    train(own, "edm", tmp_path / "own", cfg, ModelConfig(width=8, depth=1), **QUIET)
    kept, held = read_table_reference(tmp_path / "own")
    assert len(kept) == 200 and len(held) == 50
    assert np.allclose(held["x"], df.head(50)["x"])  # the user's rows, as given
    assert load_run(tmp_path / "own").config.data.validation == str(tmp_path / "v.csv")
    with pytest.raises(DifflabError, match="give --holdout or --validation, not both"):
        load_training_data(str(tmp_path / "t.csv"), holdout=0.3, validation=str(tmp_path / "v.csv"))
    pd.DataFrame({"kind": ["c"], "x": [0.0]}).to_csv(tmp_path / "w.csv", index=False)
    with pytest.raises(DifflabError, match="class 'c' is not among the data's"):
        load_training_data(str(tmp_path / "t.csv"), "kind", validation=str(tmp_path / "w.csv"))
    with pytest.raises(DifflabError, match="budget"):
        train(every, "edm", tmp_path / "x", TrainConfig(), **QUIET)  # nothing held out


def test_images_hold_out_their_fraction():
    quiet = {"log": lambda *_: None, "images": True}
    half = load_training_data("digits", holdout=0.5, **quiet)
    assert len(half.rows) + len(half.heldout) == 1797 and abs(len(half.rows) - 898) <= 1
    assert load_training_data("digits", holdout=0.0, **quiet).heldout is None
    with pytest.raises(DifflabError, match="vector data"):
        load_training_data("moons", holdout=0.1)
    assert TableOptions().given is False
