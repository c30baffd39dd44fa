"""Hostile input, end to end through the command line: one line on stderr, exit code ≠ 0, no
traceback, and every file that existed before is byte-for-byte the same afterwards."""

import os
import pickle
import shutil

import numpy as np
import pytest

from helpers import one_line_error, run, train_tiny

CKPT = "checkpoint.safetensors"


def snapshot(root):
    return {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("hostile") / "run"
    train_tiny(out)
    return out


@pytest.fixture
def run_copy(trained, tmp_path):
    dst = tmp_path / "run"
    shutil.copytree(trained, dst)
    return dst


@pytest.mark.parametrize(
    "name,content,needle",
    [
        ("empty.csv", "", "empty"),
        ("ragged.csv", "1,2\n3,4\n5\n", "missing cells (first: line 3 of the file, column 'x1')"),
        ("nan.csv", "1,2\nnan,4\n", "missing cells"),
        ("gap.csv", "# a comment\na,b\n1,2\n\n3,\n", "(first: line 5 of the file, column 'b')"),
        ("empty-col.csv", "a,b\n1,\n2,\n", "column 'b' has no value in any row; leave it out"),
        (
            "twice.csv",
            "a,b,a\n1,2,3\n4,5,6\n",
            "the header names column 'a' 2 times (columns 0, 2)",
        ),
        ("one-row.csv", "a,b\n1,2\n", "1 row(s); training needs at least 2"),
        ("inf.csv", "1,2\n3,-inf\n", "infinite value at row 1"),
    ],
)
def test_bad_training_data(tmp_path, name, content, needle):
    (tmp_path / name).write_text(content)
    one_line_error(
        run("train", "--data", tmp_path / name, "--out", tmp_path / "r", "--steps", 5), needle
    )
    assert not (tmp_path / "r").exists()


def test_wrong_dimensionality_for_a_trained_model(run_copy, tmp_path):
    np.save(tmp_path / "wide.npy", np.zeros((50, 3)))
    before = snapshot(run_copy)
    one_line_error(
        run("evaluate", "--run", run_copy, "--samples", tmp_path / "wide.npy"), "columns"
    )
    one_line_error(
        run("likelihood", "--run", run_copy, "--data", tmp_path / "wide.npy", "--n", 10), "columns"
    )
    one_line_error(
        run(
            "train",
            "--data",
            tmp_path / "wide.npy",
            "--out",
            run_copy,
            "--steps",
            40,
            "--resume",
            "--width",
            16,
            "--depth",
            1,
        ),
        "differs",
    )
    assert snapshot(run_copy) == before


@pytest.mark.parametrize("damage", ["truncated", "foreign", "empty"])
def test_damaged_checkpoint(run_copy, tmp_path, damage):
    ckpt = run_copy / CKPT
    data = ckpt.read_bytes()
    ckpt.write_bytes(
        {
            "truncated": data[: len(data) // 2],
            "foreign": b'{"not": "a checkpoint"}' * 10,
            "empty": b"",
        }[damage]
    )
    before = snapshot(run_copy)
    r = run("sample", "--run", run_copy, "--n", 5, "--out", tmp_path / "s.npy")
    assert r.exit_code == 2 and r.output.startswith("error:") and "Traceback" not in r.output
    assert not (tmp_path / "s.npy").exists() and snapshot(run_copy) == before


class _Payload:
    """Unpickling this would create a marker file: the attack a checkpoint loader must not run."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickle_checkpoint_is_refused_not_executed(run_copy, tmp_path):
    marker = tmp_path / "pwned"
    with open(run_copy / CKPT, "wb") as f:
        pickle.dump({"state": _Payload(str(marker))}, f)
    for args in (
        ["sample", "--run", run_copy, "--n", 5, "--out", tmp_path / "s.npy"],
        ["train", "--data", "moons", "--out", run_copy, "--steps", 40, "--resume"],
        ["likelihood", "--run", run_copy, "--data", "moons", "--n", 5],
        ["report", run_copy],
    ):
        r = run(*args)
        assert r.exit_code == 2 and "safetensors" in r.output, r.output
    assert not marker.exists()


@pytest.mark.parametrize(
    "args,needle",
    [
        (
            ["sample", "--run", "{run}", "--n", 5, "--out", "{tmp}/s.npy", "--steps", 10**9],
            "more than",
        ),
        (["sample", "--run", "{run}", "--n", 10**10, "--out", "{tmp}/s.npy"], "more than"),
        (["sample", "--run", "{run}", "--n", 5, "--out", "{tmp}/s.npy", "--steps", -1], "positive"),
        (
            [
                "likelihood",
                "--run",
                "{run}",
                "--data",
                "moons",
                "--method",
                "rk4",
                "--steps",
                10**7,
            ],
            "more than",
        ),
        (["train", "--data", "moons", "--out", "{tmp}/r", "--steps", 0], "positive"),
        (
            ["train", "--data", "moons", "--out", "{tmp}/r", "--steps", 5, "--batch-size", -8],
            "positive",
        ),
        (
            ["train", "--data", "moons", "--out", "{tmp}/r", "--steps", 5, "--preset", "edm2"],
            "unknown preset",
        ),
        (
            ["sample", "--run", "{run}", "--n", 5, "--out", "{tmp}/s.npy", "--sampler", "heun2"],
            "unknown sampler",
        ),
        (["reproduce", "gallery-of-everything"], "unknown experiment"),
        (["neural-ode", "--system", "pendulum", "--out", "{tmp}/n"], "unknown system"),
    ],
)
def test_absurd_and_unknown_values(run_copy, tmp_path, args, needle):
    before = snapshot(run_copy)
    one_line_error(run(*[str(a).format(run=run_copy, tmp=tmp_path) for a in args]), needle)
    assert not (tmp_path / "s.npy").exists() and not (tmp_path / "r").exists()
    assert snapshot(run_copy) == before


def test_existing_outputs_are_not_overwritten_without_force(run_copy, tmp_path):
    before = snapshot(run_copy)
    one_line_error(run("train", "--data", "moons", "--out", run_copy, "--steps", 5), "--resume")
    (tmp_path / "s.npy").write_bytes(b"precious")
    one_line_error(
        run("sample", "--run", run_copy, "--n", 5, "--out", tmp_path / "s.npy"), "--force"
    )
    assert (tmp_path / "s.npy").read_bytes() == b"precious" and snapshot(run_copy) == before


def test_read_only_output_directory(run_copy, tmp_path, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir()
    if os.geteuid() == 0:  # root ignores permission bits: make the OS refuse the write instead
        import difflab.checkpoint as ck

        def refuse(*_a, **_k):
            raise PermissionError(13, "Permission denied")

        monkeypatch.setattr(ck.tempfile, "mkstemp", refuse)
    else:
        locked.chmod(0o555)
    try:
        r = run("sample", "--run", run_copy, "--n", 5, "--out", locked / "s.npy", "--no-plot")
        assert r.exit_code == 2 and "cannot write" in r.output and r.output.count("\n") == 1
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o755)


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_non_finite_guidance_is_refused(run_copy, tmp_path, value):
    """`--guidance nan` wrote an all-NaN array and exited 0."""
    r = run("sample", "--run", run_copy, "--n", 5, "--out", tmp_path / "s.npy", "--guidance", value)
    one_line_error(r, "--guidance must be a finite number")
    assert not (tmp_path / "s.npy").exists()


def test_outputs_where_a_file_stands_in_the_way(run_copy, tmp_path):
    (tmp_path / "file").write_text("precious")
    r = run("sample", "--run", run_copy, "--n", 5, "--out", tmp_path / "file" / "s.npy")
    one_line_error(r, "file is a file, not a directory")
    r = run("train", "--data", "moons", "--out", tmp_path / "file", "--steps", 5)
    one_line_error(r, "is a file; expected a directory")
    assert (tmp_path / "file").read_text() == "precious"


def test_labels_of_one_class_are_refused(tmp_path):
    (tmp_path / "t.csv").write_text("x,y,c\n" + "".join(f"{i},{i % 3},a\n" for i in range(20)))
    r = run("train", "--data", tmp_path / "t.csv", "--labels", "c", "--out", tmp_path / "r",
            "--steps", 5)  # fmt: skip
    one_line_error(r, "every row has class 'a'; a class-conditional model needs two or more")
    assert not (tmp_path / "r").exists()


def test_resuming_with_another_model_names_both(run_copy):
    r = run("train", "--data", "moons", "--out", run_copy, "--steps", 99, "--model", "made",
            "--resume")  # fmt: skip
    one_line_error(r, "the run is a mlp model, not made")
