"""difflab against the image-diffusion tools users pick, on the 8×8 digits at equal wall-clock:
denoising-diffusion-pytorch (Unet + GaussianDiffusion, its Trainer's defaults) and diffusers
(UNet2DModel with the training loop of its unconditional example), each shrunk to difflab's
U-Net size (≈ 1.7 M parameters), each trained on the same training split for the same seconds on
the same machine, one after the other, then 360 samples at 35 network evaluations (difflab: Heun
18 steps; the peers: DDIM 35 steps, their own samplers). One scorer for all: `difflab evaluate`'s
FD in the features of a classifier trained on the training split, ÷ the real-vs-real floor.

The peers install torch and more; keep them out of difflab's environment (CPU torch first):

    python3 -m venv /tmp/peers && /tmp/peers/bin/pip install torch==2.13.0
    /tmp/peers/bin/pip install denoising_diffusion_pytorch diffusers
    .venv/bin/python benchmarks/images_peers.py --peers /tmp/peers/bin/python --seconds 300
    # → benchmarks/results/images_peers.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

N, NFE, HI = 360, 35, 16.0  # samples, network evaluations, the digits' top pixel level


def ddpm_pytorch(x: np.ndarray, seconds: float, seed: int) -> tuple[np.ndarray, dict]:
    """(peers' environment) Unet(dim 32, mults 1-2-2) + GaussianDiffusion (its defaults: 1,000
    steps, sigmoid βs, v-prediction), the Trainer's defaults (batch 16, Adam 1e-4, EMA 0.995 every
    10 steps); data in [0, 1] as it expects; DDIM with 35 steps."""
    import torch
    from denoising_diffusion_pytorch import GaussianDiffusion, Unet
    from ema_pytorch import EMA

    torch.manual_seed(seed)
    net = Unet(dim=32, dim_mults=(1, 2, 2), channels=1, flash_attn=False)
    model = GaussianDiffusion(net, image_size=8, timesteps=1000, sampling_timesteps=NFE)
    ema = EMA(model, beta=0.995, update_every=10)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4, betas=(0.9, 0.99))
    data = torch.as_tensor(x, dtype=torch.float32)
    steps = _loop(lambda b: model(b), opt, data, 16, seconds, ema.update)
    with torch.no_grad():
        out = ema.ema_model.sample(batch_size=N).numpy()
    return out, {"steps": steps, "parameters": _count(net)}


def diffusers_unet(x: np.ndarray, seconds: float, seed: int) -> tuple[np.ndarray, dict]:
    """(peers' environment) UNet2DModel (channels 32-64-64, 2 layers per block, attention in the
    middle resolution) with the loop of diffusers' train_unconditional example (DDPMScheduler
    1,000 steps, ε-prediction, AdamW 1e-4, batch 16, cosine schedule with 500 warm-up steps, EMA);
    data in [−1, 1]; DDIMScheduler with 35 steps, η = 0."""
    import torch
    from diffusers import DDIMScheduler, DDPMScheduler, UNet2DModel
    from diffusers.optimization import get_cosine_schedule_with_warmup
    from diffusers.training_utils import EMAModel

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
        pred = net(noise.add_noise(b, eps, t), t).sample
        return torch.nn.functional.mse_loss(pred, eps)

    data = torch.as_tensor(2 * x - 1, dtype=torch.float32)
    steps = _loop(loss, opt, data, 16, seconds, lambda: (sched.step(), ema.step(net.parameters())))
    ema.copy_to(net.parameters())
    ddim = DDIMScheduler.from_config(noise.config)
    ddim.set_timesteps(NFE)
    z = torch.randn(N, 1, 8, 8)
    with torch.no_grad():
        for t in ddim.timesteps:
            z = ddim.step(net(z, t).sample, t, z, eta=0.0).prev_sample
    return ((z.clamp(-1, 1) + 1) / 2).numpy(), {"steps": steps, "parameters": _count(net)}


def _loop(loss, opt, data, batch: int, seconds: float, after) -> int:
    """Minibatch steps until `seconds` have passed; returns the number of steps."""
    import torch

    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        b = data[torch.randint(0, len(data), (batch,))]
        opt.zero_grad()
        loss(b).backward()
        opt.step()
        after()
        steps += 1
    return steps


def _count(net) -> int:
    return sum(p.numel() for p in net.parameters())


def peer(root: Path, seconds: float, seed: int) -> None:
    """(peers' environment) Both peers on ROOT/train.npy (values in [0, 1]) → ROOT/TOOL.npy."""
    import torch

    torch.set_num_threads(2)
    x = np.load(root / "train.npy")
    info = {}
    for name, fn in [("denoising-diffusion-pytorch", ddpm_pytorch), ("diffusers", diffusers_unet)]:
        out, info[name] = fn(x, seconds, seed)
        np.save(root / f"{name}.npy", out)
        print(f"{name}: {info[name]['steps']} steps, {info[name]['parameters']:,} parameters")
    (root / "peers.json").write_text(json.dumps(info))


def ours(root: Path, seconds: float, seed: int):
    """(difflab's environment) `difflab train --data digits --model unet --seconds S`, defaults."""
    from difflab.data.images import load_images
    from difflab.run import load_run

    np.save(root / "train.npy", load_images("digits", split="train").pixels / HI)
    cmd = [sys.executable, "-m", "difflab", "train", "--data", "digits", "--model", "unet"]
    cmd += ["--seconds", str(seconds), "--seed", str(seed), "--out", str(root / "run"), "--force"]
    subprocess.run(cmd, check=True)
    return load_run(root / "run")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--peers", help="python of the peers' environment (required)")
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--root", default="/tmp/difflab-images-peers")
    parser.add_argument("--out", default="benchmarks/results/images_peers.json")
    parser.add_argument("--reuse", action="store_true", help="the runs and samples in ROOT")
    parser.add_argument("--part", help=argparse.SUPPRESS)
    args = parser.parse_args()
    root = Path(args.root)
    if args.part == "peer":
        return peer(root, args.seconds, args.seed)
    from difflab.bench import machine

    if not args.peers:
        parser.error("--peers: the python of the environment with the peers installed")
    root.mkdir(parents=True, exist_ok=True)
    if args.reuse:
        from difflab.run import load_run

        run = load_run(root / "run")
    else:
        run = ours(root, args.seconds, args.seed)
    what = ["--root", str(root), "--seconds", str(args.seconds), "--seed", str(args.seed)]
    if not (args.reuse and (root / "peers.json").exists()):  # --reuse: their samples too
        subprocess.run([args.peers, __file__, *what, "--part", "peer"], check=True)
    info = json.loads((root / "peers.json").read_text())
    params = sum(p.numel() for p in run.denoiser.parameters())
    info = {"difflab": {"steps": run.trained_steps, "parameters": params}, **info}
    samples = {"difflab": run.sample(N, seed=args.seed)}
    samples |= {name: np.load(root / f"{name}.npy") * HI for name in info if name != "difflab"}
    for name, x in samples.items():
        m = run.evaluate(x)
        info[name] |= {"fd_ratio": m["fd"]["ratio"], "fd": m["fd"]["value"]}
        info[name]["fd_floor"] = m["fd"]["floor"]
        print(f"{name:28s} {info[name]['steps']:6d} steps  FD ÷ floor {m['fd']['ratio']:.2f}")
    result = {"machine": machine(), "seconds": args.seconds, "nfe": NFE, "tools": info}
    Path(args.out).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
