"""Column types and the table codec: exact round trips, supports respected, the Jacobian right."""

import json

import numpy as np
import pandas as pd
import pytest

from difflab.data.codec import TableCodec
from difflab.data.columns import infer_kind, parse_type
from difflab.errors import DifflabError


def _table(n=500, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "city": rng.choice(["Paris", "Oslo", "Rome"], n),
            "income": rng.lognormal(0.0, 1.2, n),  # positive, heavy tailed
            "age": rng.integers(18, 90, n),
            "rooms": rng.integers(1, 4, n),  # three integer levels: a category
            "flag": rng.choice([0.5, 2.0], n),  # two values: a category
            "const": 7.0,
            "x": rng.normal(size=n),
        }
    )


def test_detected_kinds():
    df = _table()
    kinds = {c: infer_kind(df[c]) for c in df.columns}
    assert kinds == {
        "city": "categorical",
        "income": "positive",
        "age": "numeric",
        "rooms": "categorical",
        "flag": "categorical",
        "const": "constant",
        "x": "numeric",
    }


def test_round_trip_is_exact():
    df = _table()
    codec = TableCodec.fit(df)
    assert codec.dim == 3 + 1 + 1 + 3 + 2 + 0 + 1
    back = codec.inverse(codec.forward(df))
    for c in ["city", "age", "rooms", "flag", "const"]:
        assert back[c].tolist() == df[c].tolist(), c  # levels, integers and constants exactly
    assert back["age"].dtype == np.int64 and back["rooms"].dtype == np.int64
    assert np.allclose(back["income"], df["income"], rtol=1e-12)
    assert np.allclose(back["x"], df["x"], atol=1e-12)


def test_any_model_output_decodes_inside_the_support():
    df = _table()
    codec = TableCodec.fit(df, {"x": ("bounded", (-5.0, 5.0))})
    z = np.random.default_rng(1).normal(scale=10.0, size=(2000, codec.dim))  # far outside
    out = codec.inverse(z)
    assert (out["income"] > 0).all()
    assert out["income"].between(df["income"].min(), df["income"].max()).all()
    assert out["x"].between(-5, 5).all() and out["const"].eq(7).all()
    assert set(out["city"]) <= set(df["city"]) and set(out["rooms"]) <= {1, 2, 3}
    assert out["age"].dtype == np.int64


@pytest.mark.parametrize("bounds", [(0.0, 1.0), (-5.0, 5.0)])
def test_log_abs_det_is_the_jacobian_of_forward(bounds):
    """Against central differences; bounds of width 10 too, where log(hi − lo) = 2.30 counts."""
    rng = np.random.default_rng(2)
    lo, hi = bounds
    df = pd.DataFrame(
        {
            "p": rng.lognormal(size=50),
            "b": lo + (hi - lo) * rng.uniform(0.1, 0.9, 50),
            "u": rng.normal(size=50),
        }
    )
    codec = TableCodec.fit(df, {"p": ("positive", None), "b": ("bounded", bounds)})
    h = 1e-6
    numeric = np.zeros(len(df))
    for j, name in enumerate(df.columns):  # the codec is diagonal: one derivative per column
        up, down = df.copy(), df.copy()
        up[name] += h
        down[name] -= h
        numeric += np.log(np.abs((codec.forward(up) - codec.forward(down))[:, j] / (2 * h)))
    assert np.allclose(codec.log_abs_det(df), numeric, atol=1e-5)


def test_categorical_tables_have_no_density():
    codec = TableCodec.fit(_table())
    with pytest.raises(DifflabError, match="no density"):
        codec.log_abs_det(_table())


def test_stored_as_json_and_back():
    codec = TableCodec.fit(_table(), {"x": ("bounded", (-9.0, 9.0))})
    again = TableCodec.from_dict(json.loads(json.dumps(codec.to_dict())))
    assert again == codec


def test_missing_cells_and_unseen_levels():
    df = _table(50)
    codec = TableCodec.fit(df)
    gap = df.copy().astype({"age": float})
    gap.loc[3, "city"], gap.loc[4, "age"] = None, np.nan
    z = codec.forward(gap, missing=True)
    assert np.isnan(z[3, :3]).all() and np.isfinite(z[3, 3:]).all()
    assert np.isnan(z).sum() == 3 + 1
    with pytest.raises(DifflabError, match="column 'city': 1 missing cell"):
        codec.forward(gap)
    other = df.copy()
    other.loc[0, "city"] = "Lima"
    with pytest.raises(DifflabError, match="level 'Lima' was not in the training data"):
        codec.forward(other)


def test_type_overrides_are_checked():
    assert parse_type("a=bounded:0:1") == ("a", "bounded", (0.0, 1.0))
    for bad, needle in [
        ("a", "NAME=KIND"),
        ("a=cat", "unknown kind"),
        ("a=bounded:1:0", "LO < HI"),
    ]:
        with pytest.raises(DifflabError, match=needle):
            parse_type(bad)
    with pytest.raises(DifflabError, match="positive, but holds"):
        TableCodec.fit(pd.DataFrame({"x": [-1.0, 2.0, 3.0]}), {"x": ("positive", None)})


def test_dequantise_spreads_integer_columns_over_their_own_bins():
    df = _table()
    codec = TableCodec.fit(df[["age", "income", "x"]])
    out, names = codec.dequantise(df, np.random.default_rng(0))
    assert names == ["age"]
    assert (np.round(out["age"]) == df["age"]).all() and (out["age"] != df["age"]).any()
    assert np.abs(out["age"] - df["age"]).max() <= 0.5
    assert out["income"].equals(df["income"]) and out["x"].equals(df["x"])


def test_values_at_a_declared_bound_are_counted_in_a_warning():
    from difflab.errors import DifflabWarning

    df = pd.DataFrame({"b": [0.0, 0.5, 1.0, 0.25]})
    said = r"column 'b': 2 value\(s\) at or beyond its bounds \(0, 1\)"
    with pytest.warns(DifflabWarning, match=said):  # when training on them
        codec = TableCodec.fit(df, {"b": ("bounded", (0.0, 1.0))})
    with pytest.warns(DifflabWarning, match=said):  # when scoring them
        codec.log_abs_det(df) + codec.forward(df).sum(1)
