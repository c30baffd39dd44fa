"""A table as a user has it (semicolons, decimal commas, text, a constant, missing cells) through
train → sample → evaluate → inpaint, and a Python-trained table run evaluated from elsewhere."""

import numpy as np
import pandas as pd
import pytest

from difflab.data.columns import level_key
from difflab.data.tables import read_table
from helpers import one_line_error, run


def _frame(n=300, seed=0):
    rng = np.random.default_rng(seed)
    city = rng.choice(["Paris", "Oslo", "Rome"], n, p=[0.5, 0.3, 0.2])
    return pd.DataFrame(
        {
            "city": city,
            "income": np.round(rng.lognormal(0, 1, n) * np.where(city == "Paris", 2, 1), 3),
            "age": rng.integers(18, 90, n),
            "const": 7,
            "x": np.round(rng.normal(size=n), 4),
        }
    )


@pytest.fixture(scope="module")
def table_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("tab")
    df = _frame()
    df.loc[5, "x"] = np.nan
    path = root / "t.csv"
    path.write_text("# exported\n" + df.to_csv(index=False, sep=";", decimal=","))
    one_line_error(run("train", "--data", path, "--out", root / "r", "--steps", 5), "--drop-na")
    r = run(
        "train",
        "--data",
        path,
        "--out",
        root / "r",
        "--steps",
        60,
        "--batch-size",
        64,
        "--width",
        32,
        "--depth",
        1,
        "--drop-na",
    )
    assert r.exit_code == 0, r.output
    assert "dropped 1 row(s)" in r.output and "1 categorical (3 levels); 1 constant" in r.output
    return root, df


def test_samples_keep_columns_levels_and_support(table_run):
    root, df = table_run
    r = run("sample", "--run", root / "r", "--n", 400, "--out", root / "s.csv", "--steps", 6)
    assert r.exit_code == 0, r.output
    s = read_table(root / "s.csv")
    assert list(s.columns) == list(df.columns)
    assert set(s["city"]) <= {"Paris", "Oslo", "Rome"} and (s["const"] == 7).all()
    assert (s["income"] > 0).all() and s["age"].dtype.kind == "i"
    assert (root / "s.png").exists()
    r = run("evaluate", "--run", root / "r", "--samples", root / "s.csv")
    assert r.exit_code == 0, r.output
    assert "ML efficacy (city)" in r.output and "closest-record distance" in r.output


def test_inpaint_fills_only_the_missing_cells(table_run):
    root, df = table_run
    known = df.iloc[:6].copy()
    known.loc[0, "city"], known.loc[1, "income"], known.loc[2, "age"] = None, np.nan, np.nan
    known.to_csv(root / "gaps.csv", index=False)
    r = run(
        "inpaint",
        "--run",
        root / "r",
        "--data",
        root / "gaps.csv",
        "--out",
        root / "f.csv",
        "--particles",
        4,
        "--steps",
        8,
    )
    assert r.exit_code == 0, r.output
    filled = read_table(root / "f.csv")
    observed = known.notna()
    for c in df.columns:
        got, want = filled[c][observed[c]], known[c][observed[c]]
        assert got.map(level_key).tolist() == want.map(level_key).tolist(), c
    assert filled.notna().all().all() and filled["city"][0] in {"Paris", "Oslo", "Rome"}
    assert filled["age"].dtype.kind == "i" and filled["income"][1] > 0


def test_table_errors(table_run):
    root, _ = table_run
    one_line_error(run("likelihood", "--run", root / "r", "--data", root / "t.csv"), "no density")
    one_line_error(run("sample", "--run", root / "r", "--out", root / "s.txt"), "must end in")
    one_line_error(
        run("train", "--data", "moons", "--out", root / "m", "--steps", 2, "--drop-na"),
        "read tables",
    )
    one_line_error(
        run(
            "train",
            "--data",
            root / "t.csv",
            "--out",
            root / "m",
            "--steps",
            2,
            "--column-type",
            "nope=numeric",
            "--drop-na",
        ),
        "no column 'nope'",
    )


def test_python_trained_table_is_evaluable_from_anywhere(tmp_path, monkeypatch):
    from difflab import load_run
    from difflab.training import ModelConfig, TrainConfig, train

    train(
        _frame(),
        "edm",
        tmp_path / "py",
        TrainConfig(steps=20, batch_size=64),
        ModelConfig(width=16, depth=1),
        progress=False,
        log=lambda *_: None,
    )
    monkeypatch.chdir(tmp_path.parent)  # another directory: the run keeps its rows
    r = load_run(tmp_path / "py")
    m = r.evaluate(r.sample(100, steps=4))
    assert m["floors"] and set(m["marginals"]) == {"city", "income", "age", "const", "x"}


def test_a_table_refuses_a_mask(table_run):
    """A table's missing cells are its empty ones: a mask would be silently ignored, so refuse."""
    from difflab.errors import DifflabError
    from difflab.run import load_run

    root, df = table_run
    with pytest.raises(DifflabError, match="no mask"):
        load_run(root / "r").inpaint(df.iloc[:3], mask=np.ones((3, len(df.columns)), bool))


def test_numeric_table_likelihood_says_what_it_dequantised(tmp_path):
    """Integer columns are spread over their own bins, real ones never; values at a declared
    bound are counted in a one-line warning; --dequantise is refused for a table."""
    rng = np.random.default_rng(0)
    df = pd.DataFrame(
        {"age": rng.integers(18, 90, 200), "x": rng.normal(size=200), "b": rng.uniform(size=200)}
    )
    df.loc[3, "b"] = 1.0
    path = tmp_path / "n.csv"
    df.to_csv(path, index=False)
    r = run(
        "train", "--data", path, "--out", tmp_path / "r", "--steps", 20, "--width", 16,
        "--depth", 1, "--column-type", "b=bounded:0:1",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "warning: column 'b': 1 value(s) at or beyond its bounds (0, 1)" in r.output
    r = run("likelihood", "--run", tmp_path / "r", "--data", path, "--n", 20, "--steps", 8)
    assert r.exit_code == 0, r.output
    assert "integer columns dequantised by U[-1/2, 1/2): age" in r.output
    one_line_error(
        run("likelihood", "--run", tmp_path / "r", "--data", path, "--dequantise", 1),
        "a table's integer columns are dequantised by their own bins",
    )


def test_a_labelled_table_keeps_its_label(tmp_path):
    """`sample --class` wrote a table without its label column; inpaint refused rows that carry
    their own label. Samples now carry their class, and rows are conditioned on their own."""
    from difflab.data.labels import class_indices
    from difflab.errors import DifflabError
    from difflab.run import load_run
    from difflab.training import ModelConfig, TrainConfig, TrainingData, train

    df = _frame()
    y, classes = class_indices(df["city"].to_numpy(), "city")
    rows = TrainingData(df.drop(columns=["city"]), labels=y, classes=classes, labels_from="city")
    out = train(rows, "edm", tmp_path / "r", TrainConfig(steps=20, batch_size=64),
                ModelConfig(width=16, depth=1), progress=False, log=lambda *_: None)  # fmt: skip
    r = load_run(out)
    x = r.sample(6, steps=4, cond="Rome")
    assert x["city"].tolist() == ["Rome"] * 6
    x = r.sample(3, steps=4, cond=["Oslo", "Paris", "Rome"])
    assert x["city"].tolist() == ["Oslo", "Paris", "Rome"]
    assert "city" not in r.sample(3, steps=4, unconditional=True)
    known = df.head(4).copy()
    known.loc[:, "x"] = np.nan
    filled = r.inpaint(known, steps=4, particles=4)  # each row on its own class: no refusal
    assert filled["city"].tolist() == known["city"].tolist() and filled["x"].notna().all()
    known.loc[2, "city"] = None
    with pytest.raises(DifflabError, match="column 'city': 1 row"):
        r.inpaint(known, steps=4)
