"""Models trained elsewhere (difflab.external) checked against a real client: a diffusers UNet
sampled by diffusers' own schedulers and by difflab's samplers on the same timesteps from the
same noise agrees to ≤ 1e-4 RMS (both libraries implement the same mathematics); the three
prediction types convert to one x0; the discrete table's σ ↔ t round-trips; a diffusers model
whose UNet is the exact Gaussian ε has the closed-form log-density."""

import json
import math

import numpy as np
import pytest
import torch

from difflab.external import alphas_cumprod, x0_from_prediction
from difflab.ideal import Gaussian
from difflab.processes import DiscreteVP
from difflab.sampling import sample

diffusers = pytest.importorskip(
    "diffusers", reason="diffusers is not installed (make test installs it): cross-checks skipped"
)

SCHEDULE = {"num_train_timesteps": 1000, "beta_start": 1e-4, "beta_end": 0.02}


def tiny_unet(classes: int | None = None):
    torch.manual_seed(0)
    return diffusers.UNet2DModel(
        sample_size=8,
        in_channels=1,
        out_channels=1,
        layers_per_block=1,
        block_out_channels=(16, 32),
        down_block_types=("DownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "UpBlock2D"),
        norm_num_groups=8,
        num_class_embeds=classes,
    ).eval()


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A DDPM pipeline of a random tiny UNet, saved as users save theirs."""
    root = tmp_path_factory.mktemp("diffusers") / "pipe"
    scheduler = diffusers.DDPMScheduler(**SCHEDULE)
    diffusers.DDPMPipeline(unet=tiny_unet(), scheduler=scheduler).save_pretrained(root)
    return root


@pytest.fixture(scope="module")
def run(saved, tmp_path_factory):
    """The pipeline read as a run; what difflab makes for it goes under a temporary home."""
    import os

    from difflab.run import load_run

    before = os.environ.get("DIFFLAB_HOME")
    os.environ["DIFFLAB_HOME"] = str(tmp_path_factory.mktemp("home"))
    yield load_run(saved)
    if before is None:
        del os.environ["DIFFLAB_HOME"]
    else:
        os.environ["DIFFLAB_HOME"] = before


@pytest.mark.parametrize("kind", ["linear", "scaled_linear", "squaredcos_cap_v2"])
def test_the_noise_table_is_diffusers_own(kind):
    theirs = diffusers.DDPMScheduler(**SCHEDULE, beta_schedule=kind).alphas_cumprod
    ours = alphas_cumprod({**SCHEDULE, "beta_schedule": kind})
    assert torch.equal(ours.float(), theirs.float())


def test_sigma_and_timestep_round_trip_between_the_levels():
    table = DiscreteVP.from_alphas_cumprod(alphas_cumprod(SCHEDULE))
    k = torch.arange(1000, dtype=torch.float64)
    a = alphas_cumprod(SCHEDULE)
    assert torch.allclose(table.sigma(k), ((1 - a) / a).sqrt(), rtol=1e-12)
    assert torch.allclose(table.s(k), a.sqrt(), rtol=1e-12)
    t = torch.rand(500, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 999
    assert torch.allclose(table.t_of_sigma(table.sigma(t)), t, atol=1e-9)
    h = 1e-6  # σ̇ within a piece (away from the integer knots)
    t = torch.tensor([10.3, 500.5, 900.7], dtype=torch.float64)
    numeric = (table.sigma(t + h) - table.sigma(t - h)) / (2 * h)
    assert torch.allclose(table.sigma_deriv(t), numeric, rtol=1e-6)


def test_the_three_prediction_types_give_one_x0():
    """For one x0 and noise: ε = (x̂ − x0)/σ, v = sε − sσ x0, x0 itself → the same D."""
    gen = torch.Generator().manual_seed(1)
    x0 = torch.randn(64, 1, 4, 4, generator=gen, dtype=torch.float64)
    sigma = torch.exp(torch.randn(64, generator=gen, dtype=torch.float64) * 2)
    n = torch.randn(64, 1, 4, 4, generator=gen, dtype=torch.float64)
    sig = sigma[:, None, None, None]
    x = x0 + sig * n
    s = 1 / torch.sqrt(1 + sig**2)
    outputs = {"epsilon": n, "v_prediction": s * n - s * sig * x0, "sample": x0}
    for kind, out in outputs.items():
        assert torch.allclose(x0_from_prediction(kind, out, x, sigma), x0, atol=1e-12), kind


def rms(a, b) -> float:
    return float((a.double() - b.double()).square().mean().sqrt())


def their_loop(scheduler, unet, x, scale_input: bool):
    with torch.no_grad():
        for t in scheduler.timesteps:
            inp = scheduler.scale_model_input(x, t) if scale_input else x
            x = scheduler.step(unet(inp, t).sample, t, x).prev_sample
    return x


def sigmas_at(timesteps, end_at_zero: bool = True) -> torch.Tensor:
    a = alphas_cumprod(SCHEDULE)[torch.as_tensor(timesteps).long()]
    sigmas = ((1 - a) / a).sqrt()
    return torch.cat([sigmas, torch.zeros(1, dtype=sigmas.dtype)]) if end_at_zero else sigmas


def test_ddim_agrees_with_diffusers(run):
    """DDIMScheduler (η = 0, no clipping, ᾱ = 1 after the last step) vs difflab's ddim."""
    scheduler = diffusers.DDIMScheduler(**SCHEDULE, clip_sample=False, set_alpha_to_one=True)
    scheduler.set_timesteps(10)
    sigmas = sigmas_at(scheduler.timesteps)
    x_t = torch.randn(4, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    theirs = their_loop(scheduler, run.denoiser.unet, x_t, scale_input=False)
    x_hat = x_t * math.sqrt(1 + float(sigmas[0]) ** 2)  # x̂ = x_t/s
    with torch.no_grad():
        ours = sample(run.denoiser, x_hat, sigmas, "ddim")
    assert rms(ours, theirs) <= 1e-4, rms(ours, theirs)  # measured 1.3e-5
    assert rms(theirs, x_t) > 0.1  # the chain moved


def test_dpm_solver_2m_agrees_with_diffusers(run):
    """DPMSolverMultistepScheduler (2nd order, data prediction, midpoint) vs dpmpp-2m."""
    scheduler = diffusers.DPMSolverMultistepScheduler(
        **SCHEDULE, solver_order=2, algorithm_type="dpmsolver++", solver_type="midpoint"
    )
    scheduler.set_timesteps(8)
    sigmas = sigmas_at(scheduler.timesteps)
    x_t = torch.randn(4, 1, 8, 8, generator=torch.Generator().manual_seed(3))
    theirs = their_loop(scheduler, run.denoiser.unet, x_t, scale_input=False)
    with torch.no_grad():
        ours = sample(run.denoiser, x_t * math.sqrt(1 + float(sigmas[0]) ** 2), sigmas, "dpmpp-2m")
    assert rms(ours, theirs) <= 1e-4, rms(ours, theirs)


def test_euler_agrees_with_diffusers(run):
    """EulerDiscreteScheduler works in x̂ already (it divides the UNet's input by sqrt(σ² + 1))."""
    scheduler = diffusers.EulerDiscreteScheduler(**SCHEDULE, timestep_spacing="leading")
    scheduler.set_timesteps(12)
    sigmas = scheduler.sigmas.double()
    x_hat = torch.randn(4, 1, 8, 8, generator=torch.Generator().manual_seed(4))
    x_hat = x_hat * float(scheduler.init_noise_sigma)
    theirs = their_loop(scheduler, run.denoiser.unet, x_hat, scale_input=True)
    with torch.no_grad():
        ours = sample(run.denoiser, x_hat, sigmas, "euler")
    assert torch.allclose(sigmas[:-1], sigmas_at(scheduler.timesteps, False), rtol=1e-5)
    assert rms(ours, theirs) <= 1e-4, rms(ours, theirs)


class GaussianEps(torch.nn.Module):
    """The exact ε-network of Gaussian images N(μ, diag v) on the table: at (x_t, k), σ = σ_k,
    x̂ = x_t·sqrt(1 + σ²), ε = (x̂ − D(x̂; σ))/σ with D the Gaussian's ideal denoiser."""

    def __init__(self, gauss: Gaussian, table: DiscreteVP):
        super().__init__()
        self.gauss, self.table = gauss, table
        self.anchor = torch.nn.Parameter(torch.zeros(()))  # a device for the Run to read

    def forward(self, x_t, t, **_):
        sigma = self.table.sigma(torch.as_tensor(t, dtype=torch.float64)).expand(len(x_t))
        x_hat = x_t.double().flatten(1) * torch.sqrt(1 + sigma[:, None] ** 2)
        eps = (x_hat - self.gauss(x_hat, sigma)) / sigma[:, None]
        return eps.reshape(x_t.shape).to(x_t.dtype)


def test_the_likelihood_of_the_exact_gaussian_is_its_closed_form(run):
    """The run's PF-ODE likelihood (from its lowest level σ_0 to σ_T = 80, prior N(0, (σ_T² + 1)I),
    diffusers' x_T ~ N(0, I)) with the UNet replaced by the exact Gaussian ε: the flow map of
    N(μ, diag v) from σ_0 to σ_T is x ↦ μ + A(x − μ), A = sqrt((v + σ_T²)/(v + σ_0²)), so
    log p(x) = log N(μ + A(x − μ); 0, (σ_T² + 1)I) + Σ log A."""
    import copy

    var = torch.linspace(0.05, 0.3, 64, dtype=torch.float64)
    mean = torch.linspace(-0.5, 0.5, 64, dtype=torch.float64)
    gauss = Gaussian(mean, torch.diag(var))
    exact = copy.copy(run)
    exact.denoiser = copy.copy(run.denoiser)
    exact.denoiser.unet = GaussianEps(gauss, run.preset.process)
    x = gauss.sample(16, generator=torch.Generator().manual_seed(5))
    stats: dict = {}
    z = x.reshape(16, 1, 8, 8)
    lp = exact.log_prob_standardised(z, sigma_max=80.0, rtol=1e-7, atol=1e-7, stats=stats)
    s0, s_t = run.preset.process.sigma_min, stats["sigma_max"]
    a = torch.sqrt((var + s_t**2) / (var + s0**2))
    prior = torch.distributions.Normal(0.0, math.sqrt(s_t**2 + 1.0))
    closed = prior.log_prob(mean + a * (x - mean)).sum(1) + torch.log(a).sum()
    assert s0 == pytest.approx(0.01, rel=1e-3)  # DDPM's β_1 = 1e-4: σ_0 = sqrt(β_1/(1 − β_1))
    assert np.abs(lp - closed.numpy()).max() < 1e-3, lp - closed.numpy()


def test_a_saved_pipeline_reads_as_a_run_and_its_grids_stay_out_of_it(run, saved, tmp_path):
    from helpers import run as cli

    before = sorted(p.relative_to(saved) for p in saved.rglob("*"))
    assert run.shape == (1, 8, 8) and run.preset.process.sigma_max == pytest.approx(157.41, 1e-4)
    assert run.preset.sampling_range() == pytest.approx((0.01, 16.0), rel=1e-3)  # 2√D, as 2√64
    r = cli("sample", "--run", saved, "--n", 4, "--nfe", 5, "--out", tmp_path / "x.npy")
    assert r.exit_code == 0, r.output
    x = np.load(tmp_path / "x.npy")
    assert x.shape == (4, 1, 8, 8) and 0 <= x.min() and x.max() <= 255
    run.tune_grid(4, "unipc", n=16, iterations=20)  # small: the CLI's 512 draws cost minutes
    assert sorted(p.relative_to(saved) for p in saved.rglob("*")) == before
    grids = json.loads((run.path / "grids.json").read_text())
    assert "unipc@4" in grids and str(saved) not in str(run.path)


def test_pickled_weights_and_a_missing_scheduler_are_refused(saved, tmp_path):
    import shutil

    from helpers import one_line_error
    from helpers import run as cli

    bare = tmp_path / "unet"
    shutil.copytree(saved / "unet", bare)  # no scheduler_config.json beside it
    out = ["--n", 2, "--out", tmp_path / "x.npy"]
    one_line_error(cli("sample", "--run", bare, *out), "scheduler_config.json")
    (bare / "diffusion_pytorch_model.safetensors").rename(bare / "diffusion_pytorch_model.bin")
    one_line_error(cli("sample", "--run", bare, *out), "never loaded")
    assert not (tmp_path / "x.npy").exists()


def test_a_set_in_other_levels_meets_the_model_in_its_own(run, saved, tmp_path):
    """The digits (levels 0–16) against a 0–255 model: mapped through [-1, 1] (the same point in
    both), each of the 17 levels a bin of 255/16 of the model's units."""
    from helpers import run as cli

    from difflab.data.images import load_images, rescale

    out = tmp_path / "l.json"
    r = cli("likelihood", "--run", saved, "--data", "digits", "--n", 3, "--method", "heun",
            "--steps", 8, "--json", out)  # fmt: skip
    assert r.exit_code == 0, r.output
    assert json.loads(out.read_text())["dequantised_bin_width"] == pytest.approx(255 / 16)
    digits = load_images("digits", split="test")
    assert digits.scaler.hi == 16
    in_model = rescale(digits.pixels[:3], digits.scaler, run.standardiser)
    assert np.allclose(run.standardiser.forward(in_model), digits.scaler.forward(digits.pixels[:3]))
    assert np.allclose(in_model, digits.pixels[:3] * 255 / 16)


def test_class_labels_reach_the_unet_and_its_missing_null_class_is_refused():
    """A class-conditional UNet (num_class_embeds): DDIM with the labels agrees with diffusers';
    without a label (unconditional, or guidance's null class −1) one line says why not."""
    from difflab.errors import DifflabError
    from difflab.external import DiffusersDenoiser

    unet = tiny_unet(classes=3)
    table = DiscreteVP.from_alphas_cumprod(alphas_cumprod(SCHEDULE))
    denoiser = DiffusersDenoiser(unet, table)
    labels = torch.tensor([0, 1, 2, 1])
    scheduler = diffusers.DDIMScheduler(**SCHEDULE, clip_sample=False, set_alpha_to_one=True)
    scheduler.set_timesteps(6)
    x_t = torch.randn(4, 1, 8, 8, generator=torch.Generator().manual_seed(6))
    x = x_t
    with torch.no_grad():
        for t in scheduler.timesteps:
            x = scheduler.step(unet(x, t, class_labels=labels).sample, t, x).prev_sample
        sigmas = sigmas_at(scheduler.timesteps)
        start = x_t * math.sqrt(1 + float(sigmas[0]) ** 2)
        ours = sample(lambda v, s: denoiser(v, s, labels), start, sigmas, "ddim")
    assert rms(ours, x) <= 1e-4, rms(ours, x)
    for cond in (None, torch.tensor([0, -1, 2, 1])):
        with pytest.raises(DifflabError, match="no null class"):
            denoiser(start, torch.tensor(10.0), cond)


def test_a_model_from_elsewhere_is_measured_against_the_images_it_is_given(saved, tmp_path):
    """evaluate needs --reference (the model keeps no images), and a set in other levels is
    scored in [-1, 1] like the model's samples: the digits classifier keeps its accuracy."""
    from helpers import one_line_error
    from helpers import run as cli

    from difflab.data.images import load_images

    digits = np.round(load_images("digits", split="test").pixels[:64] * 255 / 16)  # as 0–255
    np.save(tmp_path / "s.npy", digits)
    one_line_error(cli("evaluate", "--run", saved, "--samples", tmp_path / "s.npy"), "--reference")
    out = tmp_path / "m.json"
    r = cli("evaluate", "--run", saved, "--samples", tmp_path / "s.npy", "--reference", "digits",
            "--json", out)  # fmt: skip
    assert r.exit_code == 0, r.output
    metrics = json.loads(out.read_text())
    assert metrics["classifier_accuracy"] > 0.9  # 73% when the digits were read as 0–255
    assert metrics["fd"]["ratio"] < 3  # held-out real digits, rescaled: near the floor
