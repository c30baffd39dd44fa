"""Columns as users have them (issue 23): dates, identifiers and free text, the data's own
precision and its few values, and cells no model can take — each checked against the data itself."""

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from difflab.data.codec import TableCodec
from difflab.data.columns import decimals_of, infer_kind
from difflab.errors import DifflabError, DifflabWarning


def _dates(n=300, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    days = pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 1500, n), unit="D")
    stamps = pd.Timestamp("2024-05-01") + pd.to_timedelta(rng.integers(0, 86_400 * 30, n), unit="s")
    return pd.DataFrame(
        {
            "day": days.strftime("%Y-%m-%d"),  # ISO text
            "when": stamps.strftime("%Y-%m-%d %H:%M:%S"),  # ISO text with times
            "year": pd.to_datetime(rng.choice([1970, 1975, 1980], n).astype(str)),  # datetime64
            "x": rng.normal(size=n),
        }
    )


def test_dates_are_numbers_and_come_back_in_their_own_form():
    df = _dates()
    assert [infer_kind(df[c]) for c in df.columns] == ["date", "date", "date", "numeric"]
    codec = TableCodec.fit(df)
    json.dumps(codec.to_dict())  # vega's cars raised "Timestamp is not JSON serializable"
    back = codec.inverse(codec.forward(df))
    for name in ("day", "when"):
        assert (back[name] == df[name]).all(), name  # the same text, format included
    assert (back["year"] == df["year"]).all() and back["year"].dtype.kind == "M"
    z = np.random.default_rng(1).normal(size=(2000, codec.dim)) * 2  # far and wide
    new = codec.inverse(z)
    day = pd.to_datetime(new["day"], format="%Y-%m-%d")  # every value parses in the format
    assert day.min() >= pd.Timestamp("2020-01-01") and day.max() <= pd.Timestamp(df["day"].max())
    assert new["day"].nunique() > 100  # new dates within the range, not only the observed ones
    assert set(new["year"]) <= set(df["year"])  # three years: snapped to them
    when = pd.to_datetime(new["when"], format="%Y-%m-%d %H:%M:%S")
    assert (when.dt.second != 0).any()  # datetimes keep seconds


def test_identifiers_and_free_text_are_left_out_by_name():
    rng = np.random.default_rng(0)
    n = 400
    df = pd.DataFrame(
        {
            "name": [f"car {i}" for i in range(n - 100)] + ["car 0"] * 100,
            "state": rng.choice([f"S{k}" for k in range(40)], n),  # 40 levels, ~10 rows each
            "x": rng.normal(size=n),
        }
    )
    with pytest.warns(DifflabWarning, match=r"'name' \(300 distinct in 400 rows\)"):
        codec = TableCodec.fit(df)
    assert codec.names == ["state", "x"]  # a category with many rows per level stays
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        kept = TableCodec.fit(df, {"name": ("categorical", None)})
    assert kept.names == ["name", "state", "x"]


def test_precision_and_few_values_come_back_as_the_data_has_them():
    rng = np.random.default_rng(0)
    n = 2000
    df = pd.DataFrame(
        {
            "w": np.round(rng.normal(40, 5, n), 1),  # one decimal
            "age": rng.choice([17.5, 22.0, 27.0, 32.0, 37.0, 42.0], n),  # six float values
            "r": rng.normal(size=n),  # real-valued: unrounded
        }
    )
    assert decimals_of(df["w"].to_numpy()) == 1 and decimals_of(df["r"].to_numpy()) is None
    codec = TableCodec.fit(df)
    new = codec.inverse(np.random.default_rng(1).normal(size=(3000, codec.dim)))
    assert np.allclose(new["w"], np.round(new["w"], 1), rtol=0, atol=1e-9)
    assert set(new["age"]) <= set(df["age"]) and new["age"].nunique() == 6
    inside = new["r"][(new["r"] > df["r"].min()) & (new["r"] < df["r"].max())]  # not clipped
    assert inside.nunique() == len(inside) > 2500
    back = codec.inverse(codec.forward(df))
    assert np.allclose(back["w"], df["w"]) and (back["age"] == df["age"]).all()


def test_a_column_of_lists_is_refused_by_name():
    df = pd.DataFrame({"x": np.arange(30.0), "tags": [np.array([1, 2])] * 30})
    with pytest.raises(DifflabError, match="column 'tags' holds ndarray values"):
        TableCodec.fit(df)


def test_date_columns_are_measured_and_drawn_as_dates(tmp_path):
    """`sample` on vega's cars crashed drawing its date column ('could not convert string to
    float'); the metrics compare dates by their days."""
    from difflab.plots import table_columns
    from difflab.table_metrics import column_distance

    df = _dates()
    codec = TableCodec.fit(df)
    day = next(c for c in codec.columns if c.name == "day")
    later = (pd.to_datetime(df["day"]) + pd.Timedelta(days=10_000)).dt.strftime("%Y-%m-%d")
    assert column_distance(day, df["day"], df["day"]) == 0.0
    assert column_distance(day, df["day"], later) == 1.0  # disjoint ranges: KS = 1
    table_columns(df, codec.inverse(codec.forward(df)), codec, tmp_path / "cols.png", "dates")
    assert (tmp_path / "cols.png").stat().st_size > 1000
