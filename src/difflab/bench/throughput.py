"""Training throughput: difflab's loop against a bare hand-written PyTorch loop, side by side.

Both train the same network (difflab's default MLP with EDM preconditioning) on the same data with
the same batch, EDM's log-normal σ and loss weighting, and AdamW. The bare loop is what a user would
write in twenty lines: no EMA, no clipping, no logging, no checkpoints. difflab's loop is `run_loop`
with all of those (checkpoints at its default interval). Timed round-robin, best of `repeats`.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from pathlib import Path

import torch

from ..data import load_data
from ..presets import get_preset
from ..models import ModelConfig, build_model
from ..training.batches import InMemory
from ..training import TrainConfig, make_state, prepare_data, run_loop


MODELS = {  # what is timed: (model, data, σ_data)
    "mlp": (ModelConfig(), "8-gaussians", 1.0),
    "unet": (ModelConfig(type="unet", channels=32), "digits", 0.5),
}


def bare_loop(
    data: torch.Tensor,
    steps: int,
    batch: int,
    seed: int = 0,
    foreach: bool | None = None,
    model_name: str = "mlp",
) -> float:
    """The hand-written baseline (AdamW as constructed by default, or with foreach=True); returns
    its final loss."""
    torch.manual_seed(seed)
    cfg, _, sigma_data = MODELS[model_name]
    preset = get_preset("edm").adapt(sigma_data, 3.0)
    model = build_model(preset, tuple(data.shape[1:]), cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, foreach=foreach)
    pc = preset.precond
    for _ in range(steps):
        x0 = data[torch.randint(0, len(data), (batch,))]
        sigma = torch.exp(-1.2 + 1.2 * torch.randn(batch))
        s = sigma.view(-1, *[1] * (x0.ndim - 1))
        x = x0 + s * torch.randn_like(x0)
        target = (x0 - pc.c_skip(s) * x) / pc.c_out(s)
        loss = ((model.raw(x, sigma) - target) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return float(loss.detach())


def difflab_loop(
    data: torch.Tensor,
    steps: int,
    batch: int,
    workdir: Path,
    seed: int = 0,
    model_name: str = "mlp",
) -> float:
    model_cfg, _, sigma_data = MODELS[model_name]
    preset = get_preset("edm").adapt(sigma_data, 3.0)
    cfg = TrainConfig(steps=steps, batch_size=batch, seed=seed)
    state = make_state(preset, tuple(data.shape[1:]), model_cfg, cfg)
    batches = InMemory(data, None, seed, batch)
    run_loop(state, batches, cfg, workdir, {"bench": True}, progress=False)
    return state.history[-1][1]


def _data(model_name: str) -> torch.Tensor:
    _, data, _ = MODELS[model_name]
    if model_name == "unet":
        from ..data.images import load_images

        images = load_images(data)
        z = prepare_data(images.pixels, False, images.scaler)[0]
    else:
        z = prepare_data(load_data(data, n=50_000), True)[0]
    return torch.as_tensor(z, dtype=torch.float32)


def throughput(steps: int = 500, batch: int = 512, repeats: int = 3, model: str = "mlp") -> dict:
    """Samples/s of both loops (best of `repeats`, alternating) and their ratio, for difflab's
    default MLP on 8-gaussians or the U-Net on digits."""
    z = _data(model)
    with tempfile.TemporaryDirectory() as tmp:
        loops = {
            "bare": lambda n: bare_loop(z, n, batch, model_name=model),
            "bare, foreach AdamW": lambda n: bare_loop(z, n, batch, foreach=True, model_name=model),
            "difflab": lambda n: difflab_loop(z, n, batch, Path(tmp), model_name=model),
        }
        best = {name: float("inf") for name in loops}
        for fn in loops.values():
            fn(20)  # warm-up
        for _ in range(repeats):
            for name, fn in loops.items():
                start = time.perf_counter()
                fn(steps)
                best[name] = min(best[name], time.perf_counter() - start)
    rate = {k: steps * batch / v for k, v in best.items()}
    return {
        "model": model,
        "steps": steps,
        "batch": batch,
        "threads": torch.get_num_threads(),
        "samples_per_s": rate,
        "ratio": rate["difflab"] / rate["bare"],
        "ratio_to_foreach": rate["difflab"] / rate["bare, foreach AdamW"],
        "config": dataclasses.asdict(TrainConfig(steps=steps)),
    }


__all__ = ["throughput", "bare_loop", "difflab_loop"]
