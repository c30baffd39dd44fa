"""Checkpoints are safetensors with JSON metadata; anything else is refused, never unpickled."""

import pickle

import pytest
import torch
from safetensors.torch import save_file

from difflab.checkpoint import flatten_state, load_checkpoint, save_checkpoint, unflatten_state
from difflab.errors import DifflabError


def test_round_trip(tmp_path):
    t = {"w": torch.randn(3, 4), "b": torch.arange(5)}
    save_checkpoint(tmp_path / "c.safetensors", t, {"step": 7, "nested": {"a": [1, 2]}})
    got, meta = load_checkpoint(tmp_path / "c.safetensors")
    assert torch.equal(got["w"], t["w"]) and torch.equal(got["b"], t["b"])
    assert meta == {"step": 7, "nested": {"a": [1, 2]}}
    assert [p.name for p in tmp_path.iterdir()] == ["c.safetensors"]  # no temp files left


@pytest.mark.parametrize("magic,pads", [(b"\x80", range(0, 300)), (b"PK", range(19_000, 19_400))])
def test_header_length_bytes_that_look_like_magic_numbers(tmp_path, magic, pads):
    """The first 8 bytes are the header length; 0x80 or 'PK' there must not be taken for a
    pickle."""
    p = tmp_path / "c.safetensors"
    for pad in pads:
        save_checkpoint(p, {"w": torch.ones(2)}, {"pad": "x" * pad})
        if p.read_bytes().startswith(magic):
            break
    assert p.read_bytes().startswith(magic)
    _, meta = load_checkpoint(p)
    assert meta["pad"] == "x" * pad


class Boom:
    def __reduce__(self):
        return (exec, ("raise SystemExit('pickle payload executed')",))


def test_pickle_payload_is_refused_not_executed(tmp_path):
    p = tmp_path / "evil.safetensors"
    p.write_bytes(pickle.dumps(Boom()))
    with pytest.raises(DifflabError, match="refused"):
        load_checkpoint(p)
    torch.save({"x": torch.ones(1)}, tmp_path / "model.pt")
    with pytest.raises(DifflabError, match="refused"):
        load_checkpoint(tmp_path / "model.pt")


def test_truncated_and_foreign(tmp_path):
    save_checkpoint(tmp_path / "c.safetensors", {"w": torch.randn(100)}, {"step": 1})
    data = (tmp_path / "c.safetensors").read_bytes()
    (tmp_path / "t.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(DifflabError, match="not a readable"):
        load_checkpoint(tmp_path / "t.safetensors")
    save_file({"w": torch.zeros(2)}, str(tmp_path / "f.safetensors"))
    with pytest.raises(DifflabError, match="foreign"):
        load_checkpoint(tmp_path / "f.safetensors")


def test_optimizer_state_flattening():
    p = torch.nn.Parameter(torch.randn(3))
    opt = torch.optim.AdamW([p], lr=0.1)
    p.grad = torch.ones(3)
    opt.step()
    tensors = {}
    skel = flatten_state("opt", opt.state_dict(), tensors)
    back = unflatten_state(skel, tensors)
    assert back["param_groups"] == opt.state_dict()["param_groups"]
    assert torch.equal(back["state"][0]["exp_avg"], opt.state_dict()["state"][0]["exp_avg"])
