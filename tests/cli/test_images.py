"""Images end to end on a tiny budget: train a class-conditional U-Net on digits, sample a grid,
complete images with the left half blacked out; and the one-line errors around them."""

import numpy as np
import pytest

from difflab.run import load_run
from helpers import one_line_error, run


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("img") / "run"
    r = run(
        "train",
        "--data",
        "digits",
        "--labels",
        "class",
        "--out",
        out,
        "--steps",
        8,
        "--batch-size",
        32,
        "--channels",
        8,
        "--checkpoint-every",
        4,
    )
    assert r.exit_code == 0, r.output
    assert "pixels 0–16 → [-1, 1]" in r.output and "σ_data = 0.5" in r.output
    return out


def test_loaded_run_is_an_image_model(digits_run):
    r = load_run(digits_run)
    assert r.shape == (1, 8, 8) and r.config.model.type == "unet" and len(r.classes) == 10
    x = r.sample(5, steps=4, cond=3)
    assert x.shape == (5, 1, 8, 8)
    assert np.array_equal(x, np.round(x)) and x.min() >= 0 and x.max() <= 16  # back on 0…16 levels


def test_sample_grid(digits_run, tmp_path):
    r = run(
        "sample",
        "--run",
        digits_run,
        "--n",
        12,
        "--steps",
        4,
        "--out",
        tmp_path / "s.npy",
        "--class",
        7,
        "--guidance",
        2,
        "--grid",
        tmp_path / "g.png",
    )
    assert r.exit_code == 0, r.output
    assert np.load(tmp_path / "s.npy").shape == (12, 1, 8, 8)
    assert (tmp_path / "g.png").stat().st_size > 1000


def test_inpaint_left_half(digits_run, tmp_path):
    out = tmp_path / "inp"
    r = run(
        "inpaint",
        "--run",
        digits_run,
        "--images",
        "digits",
        "--mask",
        "left-half",
        "--out",
        out,
        "--n",
        3,
        "--per-image",
        2,
        "--particles",
        2,
        "--steps",
        4,
        "--unconditional",
    )
    assert r.exit_code == 0, r.output
    filled = np.load(out / "completions.npy")
    from difflab.data.images import load_images

    originals = load_images("digits", split="test").pixels[:3].repeat(2, axis=0)
    assert filled.shape == (6, 1, 8, 8)
    assert np.array_equal(
        filled[..., 4:], originals[..., 4:]
    )  # the visible right half is kept exactly
    assert (out / "inpainting.png").is_file()


def test_image_errors(digits_run, tmp_path):
    one_line_error(
        run(
            "sample", "--run", digits_run, "--n", 2, "--out", tmp_path / "s.csv", "--unconditional"
        ),
        "saved as .npy",
    )
    one_line_error(
        run(
            "inpaint",
            "--run",
            digits_run,
            "--images",
            "digits",
            "--mask",
            "middle",
            "--out",
            tmp_path / "o",
            "--unconditional",
        ),
        "expected one of",
    )
    one_line_error(
        run("train", "--data", "moons", "--image-size", 8, "--out", tmp_path / "r", "--steps", 1),
        "--image-size applies to image data",
    )
    one_line_error(
        run("train", "--data", "faces", "--labels", "class", "--out", tmp_path / "r", "--steps", 1),
        "carry no classes",
    )
    assert not (tmp_path / "o").exists() and not (tmp_path / "r").exists()


def test_evaluate_images(digits_run, tmp_path, monkeypatch):
    """FD beside its floor, class accuracy and memorisation, with a classifier difflab trains (and
    caches) on the training split; its held-out accuracy on digits is high (≥ 0.9)."""
    monkeypatch.setenv("DIFFLAB_CACHE", str(tmp_path / "cache"))
    samples = tmp_path / "s.npy"
    assert (
        run(
            "sample",
            "--run",
            digits_run,
            "--n",
            60,
            "--steps",
            4,
            "--out",
            samples,
            "--class",
            2,
            "--no-plot",
        ).exit_code
        == 0
    )
    r = run("evaluate", "--run", digits_run, "--samples", samples, "--class", 2)
    assert r.exit_code == 0, r.output
    assert "FD" in r.output and "floor" in r.output and "memorised" in r.output
    metrics = __import__("json").loads((tmp_path / "s.metrics.json").read_text())
    assert metrics["classifier_accuracy"] >= 0.9
    assert metrics["fd"]["ratio"] > 1  # an 8-step model is far from the data
    assert list((tmp_path / "cache").glob("classifier-*.safetensors"))


def test_report_of_an_image_run(digits_run, tmp_path, monkeypatch):
    monkeypatch.setenv("DIFFLAB_CACHE", str(tmp_path / "cache"))
    r = run("report", digits_run, "--n", 40)
    assert r.exit_code == 0, r.output
    page = (digits_run / "report" / "index.html").read_text()
    for image in ("samples.png", "classes.png", "inpainting.png", "loss.png"):
        assert f'src="{image}"' in page and (digits_run / "report" / image).stat().st_size > 1000
    assert "FD floor" in page and "left half blacked out" in page


def test_likelihood_of_images(digits_run, tmp_path):
    """Bits/dim of dequantised test images; in pixel units log p differs from the model's units by
    the change of variables D·log(2/(hi − lo)) = 64·log(2/16) exactly."""
    out = tmp_path / "l.json"
    r = run(
        "likelihood",
        "--run",
        digits_run,
        "--data",
        "digits",
        "--n",
        3,
        "--method",
        "euler",
        "--steps",
        3,
        "--json",
        out,
    )
    assert r.exit_code == 0, r.output
    assert "bits/dim (dequantised)" in r.output
    assert __import__("json").loads(out.read_text())["dequantised_bin_width"] == 1.0
    model = load_run(digits_run)
    x = np.full((2, 1, 8, 8), 5.5)
    import torch

    lp = model.log_prob(x, method="euler", steps=3)
    lz = model.log_prob_standardised(
        torch.from_numpy(model.standardiser.forward(x)), method="euler", steps=3
    )
    assert np.allclose(lp - lz, 64 * np.log(2 / 16))


def _digit_folder(root, n=60):
    """The first n digits as 8-bit PNGs in class sub-folders (0–16 levels × 15 ≤ 255: exact)."""
    from PIL import Image

    from difflab.data.images import digits

    d = digits()
    for i in range(n):
        folder = root / str(d.labels[i])
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray((d.pixels[i, 0] * 15).astype(np.uint8)).save(folder / f"{i:04d}.png")
    return root


def _tensors(run_dir):
    from safetensors.numpy import load_file

    return load_file(str(run_dir / "checkpoint.safetensors"))


def _train_folder(folder, out, steps, *extra):
    args = ["train", "--data", folder, "--labels", "class", "--out", out, "--steps", steps]
    args += ["--batch-size", 16, "--channels", 8, "--checkpoint-every", 5, "--hflip", *extra]
    r = run(*args)
    assert r.exit_code == 0, r.output
    return r


def test_streamed_training_equals_in_memory_and_resumes_exactly(tmp_path):
    folder = _digit_folder(tmp_path / "imgs")
    r = _train_folder(folder, tmp_path / "mem", 10)
    assert "(48 images)" in r.output
    r = _train_folder(folder, tmp_path / "st", 5, "--stream", "--workers", 2)
    assert "48 images, streamed" in r.output
    _train_folder(folder, tmp_path / "st", 10, "--stream", "--workers", 1, "--resume")
    mem, st = _tensors(tmp_path / "mem"), _tensors(tmp_path / "st")
    assert mem.keys() == st.keys()
    for k in mem:
        assert np.array_equal(mem[k], st[k]), k


def test_stream_and_hflip_errors(tmp_path):
    one_line_error(
        run("train", "--data", "moons", "--out", tmp_path / "r", "--steps", 2, "--hflip"),
        "--hflip mirrors images",
    )
    one_line_error(
        run("train", "--data", "digits", "--out", tmp_path / "r", "--steps", 2, "--stream"),
        "built-in sets fit in memory",
    )
