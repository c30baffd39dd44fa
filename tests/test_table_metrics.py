"""Table metrics against quantities known in closed form."""

import numpy as np
import pandas as pd
import pytest

from difflab.data.codec import TableCodec
from difflab.table_metrics import association, column_distance, dcr, efficacy_score, table_metrics


def _pair(n=4000, rho=0.8, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    y = rho * x + np.sqrt(1 - rho**2) * rng.normal(size=n)
    label = np.where(x + 0.3 * rng.normal(size=n) > 0, "hi", "lo")
    return pd.DataFrame({"x": x, "y": y, "label": label})


def test_total_variation_of_known_frequencies():
    codec = TableCodec.fit(pd.DataFrame({"c": ["a", "b"] * 5}))
    a = pd.Series(["a"] * 70 + ["b"] * 30)
    b = pd.Series(["a"] * 40 + ["b"] * 50 + ["c"] * 10)
    # ½(|0.7 − 0.4| + |0.3 − 0.5| + |0 − 0.1|) = 0.3
    assert column_distance(codec.columns[0], a, b) == pytest.approx(0.3)


def test_ks_of_a_shifted_normal():
    """KS between N(0,1) and N(δ,1) → 2Φ(δ/2) − 1 for large n."""
    from scipy.stats import norm

    codec = TableCodec.fit(pd.DataFrame({"x": np.linspace(-1, 1, 10)}))
    rng = np.random.default_rng(0)
    a, b = pd.Series(rng.normal(size=20000)), pd.Series(rng.normal(0.5, 1, size=20000))
    assert column_distance(codec.columns[0], a, b) == pytest.approx(
        2 * norm.cdf(0.25) - 1, abs=0.015
    )


def test_association_sees_a_lost_correlation():
    df = _pair()
    codec = TableCodec.fit(df)
    broken = df.assign(y=np.random.default_rng(1).permutation(df["y"].to_numpy()))
    assert association(codec, df, df) == 0.0
    # the x–y entry drops from 0.8 to ~0 (and y–label similarly): a large mean |Δ|
    assert association(codec, df, broken) > 0.2


def test_copied_rows_have_zero_distance_to_closest_record():
    df = _pair(500)
    codec = TableCodec.fit(df)
    copies, fresh = dcr(codec, df, df.iloc[:100], _pair(100, seed=5))
    assert copies == 0.0 and fresh > 0.0


def test_efficacy_drops_when_the_target_is_noise():
    df = _pair(3000)
    codec = TableCodec.fit(df)
    train, test = df.iloc[:2000], df.iloc[2000:]
    real = efficacy_score(codec, train, test, "label")
    noise = train.assign(label=np.random.default_rng(2).permutation(train["label"].to_numpy()))
    assert real > 0.8 and efficacy_score(codec, noise, test, "label") < 0.65


def test_real_rows_sit_at_their_floor():
    df = _pair(6000)
    codec = TableCodec.fit(df)
    train, test, fresh = df.iloc[:4000], df.iloc[4000:5000], df.iloc[5000:]
    m = table_metrics(codec, fresh, train, test)
    ratios = [v["ratio"] for v in m["marginals"].values()] + [m["association"]["ratio"]]
    assert all(0.25 < r < 4 for r in ratios), ratios  # same distribution: ratios near 1
    assert 0.9 < m["efficacy"]["ratio"] < 1.1 and 0.7 < m["dcr"]["ratio"] < 1.4


def test_efficacy_matches_levels_across_types():
    """A synthetic table decodes levels 1.0/2.0 as the integers 1/2: still the same classes."""
    df = _pair(2000).assign(label=lambda d: np.where(d["label"] == "hi", 2.0, 1.0))
    codec = TableCodec.fit(df)
    synthetic = codec.inverse(codec.forward(df.iloc[:1500]))  # integers now
    assert synthetic["label"].dtype.kind == "i"
    assert efficacy_score(codec, synthetic, df.iloc[1500:], "label") > 0.8


def test_copied_rows_raise_the_memorisation_warning():
    df = _pair(1200)
    codec = TableCodec.fit(df)
    train, test = df.iloc[:800], df.iloc[800:1000]
    assert "memorisation_warning" in table_metrics(codec, train.iloc[:200], train, test)
    assert "memorisation_warning" not in table_metrics(codec, df.iloc[1000:], train, test)
