"""A model trained elsewhere, sampled through difflab (issue 26): a diffusers UNet2DModel trained
with the loop of diffusers' unconditional example (as in images_peers.py: DDPMScheduler 1,000
steps, ε-prediction, AdamW 1e-4, batch 16, EMA) on the 8×8 digits for SECONDS and saved with
save_pretrained; then, on that one model, diffusers' own schedulers through their own loop (DDIM,
DPM-Solver++ 2M, UniPC, Euler, each with its defaults) and difflab (`load_run(DIR)`: the `--nfe`
default for images, UniPC on the VP-time grid; with --tuned also UniPC on a grid tuned to the
model, minutes per budget on a CPU) at 5, 10 and 25 network evaluations. One scorer: FD in the
features of difflab's digits classifier ÷ the real-vs-real floor, 360 samples
(`run.evaluate(x, reference="digits")`). And the model's bits/dim on 32 images of the digits' test
split through difflab's PF-ODE likelihood (diffusers has none).

    .venv/bin/python benchmarks/diffusers_model.py --seconds 300
    # → benchmarks/results/diffusers_model.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from images_peers import _loop  # noqa: E402  (the same training loop as the peers' table)

N, BUDGETS, HI = 360, (5, 10, 25), 16.0


def train_diffusers(seconds: float, seed: int, out: Path) -> int:
    """The diffusers example's loop on the digits' training split, saved as a DDPM pipeline."""
    from diffusers import DDPMPipeline, DDPMScheduler, UNet2DModel
    from diffusers.optimization import get_cosine_schedule_with_warmup
    from diffusers.training_utils import EMAModel

    from difflab.data.images import load_images

    torch.manual_seed(seed)
    net = UNet2DModel(
        sample_size=8,
        in_channels=1,
        out_channels=1,
        layers_per_block=2,
        block_out_channels=(32, 64, 64),
        down_block_types=("DownBlock2D", "AttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "AttnUpBlock2D", "UpBlock2D"),
    )
    noise = DDPMScheduler(num_train_timesteps=1000)
    ema = EMAModel(net.parameters(), use_ema_warmup=True, inv_gamma=1.0, power=0.75)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-4, weight_decay=1e-6)
    sched = get_cosine_schedule_with_warmup(opt, 500, 100_000)

    def loss(b):
        eps = torch.randn_like(b)
        t = torch.randint(0, 1000, (len(b),))
        return torch.nn.functional.mse_loss(net(noise.add_noise(b, eps, t), t).sample, eps)

    pixels = load_images("digits", split="train").pixels / HI
    data = torch.as_tensor(2 * pixels - 1, dtype=torch.float32)
    steps = _loop(loss, opt, data, 16, seconds, lambda: (sched.step(), ema.step(net.parameters())))
    ema.copy_to(net.parameters())
    DDPMPipeline(unet=net.eval(), scheduler=noise).save_pretrained(out)
    (out / "trained.json").write_text(json.dumps({"steps": steps, "seconds": seconds}))
    return steps


def theirs(pipe: Path, name: str, nfe: int, seed: int) -> tuple[np.ndarray, int]:
    """N samples (pixels 0–255) from diffusers' scheduler `name` with its defaults, their loop."""
    import diffusers

    unet = diffusers.UNet2DModel.from_pretrained(pipe / "unet", low_cpu_mem_usage=False).eval()
    config = json.loads((pipe / "scheduler" / "scheduler_config.json").read_text())
    scheduler = getattr(diffusers, name).from_config(config)
    scheduler.set_timesteps(nfe)
    x = torch.randn(N, 1, 8, 8, generator=torch.Generator().manual_seed(seed))
    x = x * scheduler.init_noise_sigma
    calls = 0
    with torch.no_grad():
        for t in scheduler.timesteps:
            out = unet(scheduler.scale_model_input(x, t), t).sample
            x, calls = scheduler.step(out, t, x).prev_sample, calls + 1
    return ((x.clamp(-1, 1) + 1) * 127.5).numpy(), calls


THEIRS = ("DDIMScheduler", "DPMSolverMultistepScheduler", "UniPCMultistepScheduler",
          "EulerDiscreteScheduler")  # fmt: skip


def score(run, x: np.ndarray) -> float:
    return run.evaluate(x, reference="digits")["fd"]["ratio"]


def ours(run, nfe: int, seed: int, tuned: bool) -> dict:
    """difflab's samples of the same model: the --nfe default, or a grid tuned to it first."""
    tune_seconds = 0.0
    if tuned:
        start = time.perf_counter()
        run.tune_grid(nfe, "unipc", n=128, iterations=200)
        tune_seconds = time.perf_counter() - start
    how = run.for_nfe(nfe, tune=False)
    stats: dict = {}
    x = run.sample(N, seed=seed, stats=stats, **how)
    label = f"difflab {how['sampler']} {how['schedule']}"
    return {"tool": label, "nfe": stats["nfe"], "fd_ratio": score(run, x), "tune_s": tune_seconds}


def bits_per_dim(run, n: int) -> dict:
    from difflab.compare import mean_and_se
    from difflab.data.images import load_images
    from difflab.likelihood import bits_per_dim as bpd

    test = load_images("digits", split="test").pixels[:n]
    width = 255.0 / HI  # one level of the digits in the model's 0–255 units
    x = test * width + np.random.default_rng(0).uniform(0, width, size=test.shape)
    start = time.perf_counter()
    lp = run.log_prob(x)
    mean, se = mean_and_se(bpd(torch.as_tensor(lp), run.dim, width).numpy())
    return {"bits_per_dim": mean, "se": se, "n": len(x), "seconds": time.perf_counter() - start}


def main() -> None:
    from difflab.bench import machine
    from difflab.run import load_run

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--root", default="/tmp/difflab-diffusers-model")
    parser.add_argument("--reuse", action="store_true", help="the model already in ROOT")
    parser.add_argument("--out", default="benchmarks/results/diffusers_model.json")
    parser.add_argument("--tuned", action="store_true", help="also a grid tuned per budget (slow)")
    args = parser.parse_args()
    pipe = Path(args.root) / "pipe"
    if not args.reuse:
        train_diffusers(args.seconds, args.seed, pipe)
    steps = json.loads((pipe / "trained.json").read_text())["steps"]
    run = load_run(pipe)
    rows = []
    for nfe in BUDGETS:
        for name in THEIRS:
            x, calls = theirs(pipe, name, nfe, args.seed)
            rows.append({"tool": f"diffusers {name}", "nfe": calls, "fd_ratio": score(run, x)})
        mine = [ours(run, nfe, args.seed, tuned) for tuned in (False, True)[: 1 + args.tuned]]
        rows += mine
        for r in rows[-len(THEIRS) - len(mine) :]:
            print(f"{r['nfe']:3d} NFE  {r['tool']:42s} FD ÷ floor {r['fd_ratio']:.2f}", flush=True)
    likelihood = bits_per_dim(run, 32)  # exact divergence of a U-Net: 64 VJPs per evaluation
    print(f"bits/dim {likelihood['bits_per_dim']:.3f} ± {likelihood['se']:.3f}")
    result = {"machine": machine(), "seconds": args.seconds, "train_steps": steps, "rows": rows,
              "likelihood": likelihood}  # fmt: skip
    Path(args.out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
