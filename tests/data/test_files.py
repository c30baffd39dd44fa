"""User files: every bad input gives one DifflabError naming the file; good input round-trips."""

import numpy as np
import pytest

from difflab.data import Standardiser, load_array, load_data, save_array
from difflab.errors import DifflabError


def test_npy_npz_csv_round_trip(tmp_path):
    a = np.random.default_rng(0).standard_normal((20, 3))
    np.save(tmp_path / "a.npy", a)
    np.savez(tmp_path / "a.npz", x=a)
    save_array(tmp_path / "a.csv", a)
    assert np.array_equal(load_array(tmp_path / "a.npy"), a)
    assert np.array_equal(load_array(tmp_path / "a.npz"), a)
    assert np.allclose(load_array(tmp_path / "a.csv"), a, rtol=1e-8)


def test_csv_header_and_1d(tmp_path):
    (tmp_path / "h.csv").write_text("x,y\n1,2\n3,4\n")
    assert load_array(tmp_path / "h.csv").tolist() == [[1, 2], [3, 4]]
    np.save(tmp_path / "v.npy", np.arange(5.0))
    assert load_array(tmp_path / "v.npy").shape == (5, 1)


@pytest.mark.parametrize(
    "name,content,needle",
    [
        ("nan.csv", "1,2\n3,nan\n", "non-finite"),
        ("inf.csv", "1,2\ninf,4\n", "non-finite"),
        ("ragged.csv", "1,2\n3\n", "non-finite value.*row 1, column 1"),
        ("text.csv", "1,2\n3,abc\n", "column 'x1' holds text \\('abc' in row 1\\)"),
        ("empty.csv", "", "empty"),
        ("blank.csv", "\n\n", "no data rows"),
        ("data.dat", "1,2\n", "unsupported file type"),
    ],
)
def test_bad_text_files(tmp_path, name, content, needle):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(DifflabError, match=needle) as e:
        load_array(path)
    assert str(path) in str(e.value)


def test_bad_arrays(tmp_path):
    np.save(tmp_path / "cube.npy", np.zeros((2, 3, 4)))
    with pytest.raises(DifflabError, match="N×D"):
        load_array(tmp_path / "cube.npy")
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DifflabError, match="not a plain numeric"):
        load_array(tmp_path / "obj.npy")  # never unpickled
    np.savez(tmp_path / "two.npz", a=np.zeros((3, 2)), b=np.ones((3, 2)))
    with pytest.raises(DifflabError, match="--key"):
        load_array(tmp_path / "two.npz")
    assert load_array(tmp_path / "two.npz", key="b").sum() == 6
    with pytest.raises(DifflabError, match="no such file"):
        load_array(tmp_path / "missing.npy")
    with pytest.raises(DifflabError, match="unknown data set"):
        load_data("no-such-toy")


def test_standardiser_round_trip_and_moments():
    x = np.random.default_rng(1).standard_normal((1000, 3)) * [1, 10, 0.1] + [5, -3, 0]
    s = Standardiser.fit(x)
    z = s.forward(x)
    assert np.allclose(z.mean(0), 0, atol=1e-12) and np.allclose(z.std(0), 1)
    assert np.allclose(s.inverse(z), x)
    assert np.allclose(Standardiser.from_dict(s.to_dict()).inverse(z), x)
    const = np.ones((10, 2))
    assert np.allclose(
        Standardiser.fit(const).inverse(Standardiser.fit(const).forward(const)), const
    )
