"""Conditioning end to end: labels from toy sets, CSV columns and .npz arrays; the decision a
labelled
run asks for; guidance and inpainting through the command line and Run; bad input in one line."""

import numpy as np
import pytest
import torch

from difflab.data.labels import load_labelled
from difflab.errors import DifflabError
from difflab.run import Condition, load_run
from helpers import one_line_error, run, train_tiny


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    out = tmp_path_factory.mktemp("cond") / "run"
    train_tiny(out, "8-gaussians", 40, 16, "--labels", "component")
    return out


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    out = tmp_path_factory.mktemp("plain") / "run"
    train_tiny(out, "moons", 30)
    return out


def test_toy_labels_are_the_true_components():
    x, y, classes = load_labelled("8-gaussians", "component", n=4000, seed=3)
    means = 2 * np.stack([np.cos(np.arange(8) * np.pi / 4), np.sin(np.arange(8) * np.pi / 4)], 1)
    assert classes == [str(i) for i in range(8)]
    assert (
        np.linalg.norm(x - means[y], axis=1) < 0.15 * 5
    ).all()  # every point within 5 std of its mode


def test_csv_label_column_by_name_and_index(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("a,kind,b\n1,cat,2\n3,dog,4\n5,cat,6\n")
    for column in ("kind", "1", "-2"):
        x, y, classes = load_labelled(str(path), column)
        assert classes == ["cat", "dog"] and y.tolist() == [0, 1, 0]
        assert x.tolist() == [[1, 2], [3, 4], [5, 6]]
    path.write_text("k,v\n10,1\n2,2\n10.0,3\n")
    x, y, classes = load_labelled(str(path), "k")  # numeric labels sort numerically
    assert classes == ["2", "10"] and y.tolist() == [1, 0, 1] and x.tolist() == [[1], [2], [3]]


def test_npz_labels(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.arange(8.0).reshape(4, 2), y=np.array([2, 0, 2, 1]))
    x, y, classes = load_labelled(str(path), "y")
    assert x.shape == (4, 2) and y.tolist() == [2, 0, 2, 1] and classes == ["0", "1", "2"]


def test_labelled_run_asks_for_a_decision(labelled, tmp_path):
    out = tmp_path / "s.npy"
    one_line_error(
        run("sample", "--run", labelled, "--n", 10, "--out", out),
        "give a class (--class K) or --unconditional",
    )
    one_line_error(
        run("sample", "--run", labelled, "--n", 10, "--out", out, "--class", 8), "unknown class '8'"
    )
    one_line_error(
        run("sample", "--run", labelled, "--n", 10, "--out", out, "--class", "x"),
        "unknown class 'x'",
    )
    assert not out.exists()
    r = run(
        "sample",
        "--run",
        labelled,
        "--n",
        10,
        "--out",
        out,
        "--class",
        3,
        "--guidance",
        2,
        "--no-plot",
    )
    assert r.exit_code == 0 and "NFE 70" in r.output, r.output  # 35 evaluations × 2 (guided)
    r = run(
        "sample",
        "--run",
        labelled,
        "--n",
        10,
        "--out",
        out,
        "--unconditional",
        "--force",
        "--no-plot",
    )
    assert r.exit_code == 0 and "NFE 35" in r.output, r.output


def test_guidance_zero_is_the_unconditional_model_bit_for_bit(labelled):
    r = load_run(labelled)
    a = r.sample(50, seed=5, unconditional=True)
    b = r.sample(50, seed=5, cond=2, guidance=0.0)
    assert np.array_equal(a, b)


def test_unlabelled_run_refuses_classes_and_guidance(plain, tmp_path):
    out = tmp_path / "s.npy"
    one_line_error(
        run("sample", "--run", plain, "--n", 10, "--out", out, "--class", 1),
        "trained without labels",
    )
    one_line_error(
        run("sample", "--run", plain, "--n", 10, "--out", out, "--guidance", 2),
        "trained without labels",
    )
    assert not out.exists()


@pytest.mark.parametrize(
    "content,labels,needle",
    [
        ("a,k\n1,0\n2,\n", "k", "missing label"),
        ("a,k\n1,0\n2,nan\n", "k", "missing label"),
        ("a,k\n1,0\n2,1\n", "kind", "no column 'kind'; the columns are a, k"),
        ("a,k\n1,0\n2,1\n", "5", "no column '5'"),
    ],
)
def test_bad_labels(tmp_path, content, labels, needle):
    path = tmp_path / "d.csv"
    path.write_text(content)
    r = run("train", "--data", path, "--labels", labels, "--out", tmp_path / "r", "--steps", 5)
    one_line_error(r, needle)
    assert not (tmp_path / "r").exists()


def test_labels_need_a_diffusion_or_autoregressive_model(tmp_path):
    r = run(
        "train",
        "--data",
        "8-gaussians",
        "--labels",
        "component",
        "--model",
        "realnvp",
        "--out",
        tmp_path / "r",
        "--steps",
        5,
    )
    one_line_error(r, "class labels condition a diffusion or autoregressive model")
    one_line_error(
        run(
            "train",
            "--data",
            "moons",
            "--labels",
            "component",
            "--out",
            tmp_path / "r",
            "--steps",
            5,
        ),
        "toy set moons has no labels",
    )


def test_inpaint_command(plain, tmp_path):
    data = tmp_path / "partial.csv"
    data.write_text("x,y\n0.5,\n,0.25\n,\n1.0,-0.5\nnan,1\n")
    out = tmp_path / "filled.csv"
    r = run(
        "inpaint", "--run", plain, "--data", data, "--out", out, "--particles", 4, "--steps", 10
    )
    assert r.exit_code == 0, r.output
    assert "3 completed, 1 passed through (nothing missing), 1 sampled unconditionally" in r.output
    filled = np.loadtxt(out, delimiter=",")
    assert np.isfinite(filled).all()
    assert filled[0, 0] == 0.5 and filled[1, 1] == 0.25 and filled[4, 1] == 1.0
    assert filled[3].tolist() == [1.0, -0.5]


def test_inpaint_bad_input(plain, tmp_path):
    out = tmp_path / "filled.csv"
    wide = tmp_path / "wide.csv"
    wide.write_text("1,2,\n3,,4\n")
    one_line_error(run("inpaint", "--run", plain, "--data", wide, "--out", out), "must be N×2")
    inf = tmp_path / "inf.csv"
    inf.write_text("1,inf\n")
    one_line_error(
        run("inpaint", "--run", plain, "--data", inf, "--out", out), "1 infinite value(s)"
    )
    one_line_error(
        run(
            "inpaint",
            "--run",
            plain,
            "--data",
            inf,
            "--out",
            out,
            "--method",
            "smc",
            "--sampler",
            "heun",
        ),
        "--sampler applies to",
    )
    assert not out.exists()


def test_run_inpaint_mask_shape(plain):
    with pytest.raises(DifflabError, match="mask has shape"):
        load_run(plain).inpaint(np.zeros((3, 2)), mask=np.ones((3, 1), dtype=bool))


def test_trained_class_conditional_model(tmp_path):
    """8-gaussians labelled by mode, a short run: every class's samples land in its own mode and
    centre on it (the prior is centred on the class: without that the ring's modes came out 0.065
    too far inward)."""
    from difflab.data.labels import load_labelled
    from difflab.training import ModelConfig, TrainConfig, TrainingData, train

    x, y, classes = load_labelled("8-gaussians", "component", n=20_000)
    out = train(
        TrainingData(x, "8-gaussians", y, classes, labels_from="component"),
        "edm",
        tmp_path / "r",
        TrainConfig(steps=2500, batch_size=256),
        ModelConfig(width=64, depth=3),
        progress=False,
        log=lambda *_: None,
    )
    run = load_run(out)
    means = 2 * np.stack([np.cos(np.arange(8) * np.pi / 4), np.sin(np.arange(8) * np.pi / 4)], 1)
    for k in (0, 5):
        s = run.sample(2000, cond=k, seed=k)
        nearest = np.linalg.norm(s[:, None] - means[None], axis=2).argmin(1)
        assert (nearest == k).mean() >= 0.99
        assert np.linalg.norm(s.mean(0) - means[k]) < 0.04


def test_a_class_grid_is_tuned_on_the_class_model_and_used_for_that_class(labelled, tmp_path):
    """tune_grid(cond=3) tunes on D(·, 3) from class 3's start and stores it under that class;
    sampling class 3 on the tuned schedule takes it, another class is refused rather than given
    a grid tuned on another model."""
    import shutil

    from difflab.errors import DifflabError
    from difflab.sampling.tune import ode_error

    copy = tmp_path / "run"
    shutil.copytree(labelled, copy)
    r = load_run(copy)
    rec = r.tune_grid(5, "unipc", n=64, iterations=40, cond=3)
    assert rec["condition"] == "class=3,w=1"
    assert "unipc@5|class=3,w=1" in r._grids()
    den = r._tuned_denoiser(Condition(3))
    fresh = r._tuning_draws(64, 0, Condition(3))[1]
    grid = torch.tensor(rec["sigmas"], dtype=torch.float64)
    assert abs(ode_error(den, *fresh, grid, "unipc") - rec["tuned"]) < 1e-12
    steps = len(rec["sigmas"]) - 1
    x = r.sample(50, sampler="unipc", steps=steps, schedule="tuned", cond=3)
    assert np.isfinite(x).all()
    with pytest.raises(DifflabError, match=f"no tuned grid of {steps} steps for class=2,w=1"):
        r.sample(50, sampler="unipc", steps=steps, schedule="tuned", cond=2)


def test_tune_grid_refuses_what_it_cannot_tune_on(labelled, plain):
    one_line_error(
        run("tune-grid", "--run", labelled, "--nfe", 5, "--guidance", 2), "--guidance needs --class"
    )
    one_line_error(run("tune-grid", "--run", labelled, "--nfe", 5, "--class", 9), "unknown class")
    one_line_error(run("tune-grid", "--run", plain, "--nfe", 5, "--class", 1), "without labels")
    assert not (labelled / "grids.json").exists() and not (plain / "grids.json").exists()
