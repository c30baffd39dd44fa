"""Table files as users have them: dialects detected, columns chosen, headers written back."""

import numpy as np
import pandas as pd
import pytest

from difflab.data.tables import read_table, write_table
from difflab.errors import DifflabError

FRAME = pd.DataFrame(
    {"city": ["Paris", "Oslo", "Rome", "Oslo"], "t": [1.5, -2.25, 3.0, 0.125], "n": [1, 2, 3, 4]}
)


def _text(sep: str, decimal: str = ".", header: bool = True, comment: bool = False) -> str:
    body = FRAME.to_csv(index=False, sep=sep, decimal=decimal, header=header)
    return ("# made by hand\n" if comment else "") + body


@pytest.mark.parametrize(
    "name, sep, decimal",
    [
        ("a.csv", ",", "."),
        ("b.csv", ";", ","),  # European: semicolons and decimal commas
        ("c.tsv", "\t", "."),
        ("d.txt", "\t", ","),
        ("e.csv", "|", "."),
    ],
)
def test_dialects_are_detected(tmp_path, name, sep, decimal):
    path = tmp_path / name
    path.write_text(_text(sep, decimal, comment=True))
    df = read_table(path)
    assert list(df.columns) == ["city", "t", "n"]
    pd.testing.assert_frame_equal(df, FRAME, check_dtype=False)
    assert df["t"].dtype.kind == "f" and df["n"].dtype.kind == "i"


def test_whitespace_separated_without_header(tmp_path):
    (tmp_path / "w.txt").write_text("1.0  2.5\n3   4\n\n5 6.5\n")
    df = read_table(tmp_path / "w.txt")
    assert list(df.columns) == ["x0", "x1"]
    assert np.array_equal(df.to_numpy(), [[1, 2.5], [3, 4], [5, 6.5]])


def test_delimiter_override(tmp_path):
    (tmp_path / "o.csv").write_text("a;b\n1;2\n3;4\n")
    assert read_table(tmp_path / "o.csv", delimiter="comma").shape == (2, 1)
    assert read_table(tmp_path / "o.csv", delimiter="semicolon").shape == (2, 2)


def test_columns_by_name_or_index_and_dropped(tmp_path):
    (tmp_path / "a.csv").write_text(_text(","))
    assert list(read_table(tmp_path / "a.csv", columns=["n", "0"]).columns) == ["n", "city"]
    assert list(read_table(tmp_path / "a.csv", drop_columns=["t"]).columns) == ["city", "n"]
    with pytest.raises(DifflabError, match="no column 'zz'; the columns are city, t, n"):
        read_table(tmp_path / "a.csv", columns=["zz"])


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".parquet"])
def test_written_tables_read_back_with_their_header(tmp_path, suffix):
    path = tmp_path / f"out{suffix}"
    write_table(path, FRAME)
    pd.testing.assert_frame_equal(read_table(path), FRAME, check_dtype=False)


@pytest.mark.parametrize(
    "content, needle",
    [
        ("a,b\n1,2\n3,4,5\n", "Expected 2 fields in line 3, saw 3"),
        ("# only a comment\n\n", "no data rows"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe", "not UTF-8 text"),
    ],
)
def test_bad_files_give_one_line_naming_the_file(tmp_path, content, needle):
    path = tmp_path / "bad.csv"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(DifflabError, match=needle) as e:
        read_table(path)
    assert "bad.csv" in str(e.value) and "\n" not in str(e.value)


def test_latin1_text_is_read_with_a_warning(tmp_path):
    """A Latin-1 CSV was refused as 'not UTF-8 text (a binary file?)'; its accents come back."""
    from difflab.errors import DifflabWarning

    path = tmp_path / "t.csv"
    path.write_bytes("ville,x\nOrléans,1\nGenève,2\n".encode("latin-1"))
    with pytest.warns(DifflabWarning, match="not UTF-8 text; read as Latin-1"):
        df = read_table(path)
    assert df["ville"].tolist() == ["Orléans", "Genève"] and df["x"].tolist() == [1, 2]
