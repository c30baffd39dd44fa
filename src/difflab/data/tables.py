"""Tables as users have them: .csv/.tsv/.txt in any common dialect, and .parquet, read by pandas.

The dialect is detected from the first lines — the delimiter (`,` `;` tab `|` or spaces), a decimal
comma (`3,14` with `;` or tab between fields), `#` comment lines, and whether the first line is a
header — and can be overridden. Column names are kept and written back on output.
"""

from __future__ import annotations

import csv
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ..defaults import DELIMITERS
from ..errors import DifflabError, DifflabWarning

TABLE_SUFFIXES = (".csv", ".tsv", ".txt", ".parquet")
_SAMPLE_LINES = 50


def is_table_file(spec: str | Path) -> bool:
    return Path(spec).suffix.lower() in TABLE_SUFFIXES


def read_table(
    path: str | Path,
    delimiter: str | None = None,
    columns: list[str] | None = None,
    drop_columns: list[str] | None = None,
) -> pd.DataFrame:
    """The table in `path` (columns chosen by name or 0-based index), with one-line errors."""
    path = Path(path)
    _check_file(path)
    if path.suffix.lower() == ".parquet":
        df = _read_parquet(path)
    else:
        df = _read_text(path, delimiter)
    if df.shape[0] == 0 or df.shape[1] == 0:
        raise DifflabError(f"{path}: no data rows")
    df.columns = [str(c).strip() for c in df.columns]
    return select_columns(df, columns, drop_columns, str(path))


def _check_file(path: Path) -> None:
    if not path.exists():
        raise DifflabError(f"{path}: no such file")
    if path.is_dir():
        raise DifflabError(f"{path}: is a directory, expected a table file")
    if path.suffix.lower() not in TABLE_SUFFIXES:
        raise DifflabError(f"{path}: expected one of {', '.join(TABLE_SUFFIXES)}")
    if path.stat().st_size == 0:
        raise DifflabError(f"{path}: file is empty")


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except Exception as e:  # pyarrow raises many types for a damaged file
        raise DifflabError(f"{path}: unreadable .parquet file ({type(e).__name__})") from None


def _read_text(path: Path, delimiter: str | None) -> pd.DataFrame:
    sep, decimal, header, encoding = dialect(path, delimiter)
    try:
        df = pd.read_csv(
            path,
            sep=sep,
            decimal=decimal,
            comment="#",
            header=0 if header else None,
            skipinitialspace=True,
            skip_blank_lines=True,
            encoding=encoding,
            engine="c" if sep != r"\s+" else "python",
        )
    except (pd.errors.ParserError, ValueError, UnicodeDecodeError) as e:
        raise DifflabError(f"{path}: {_first_line(e)}") from None
    if not header:
        df.columns = [f"x{i}" for i in range(df.shape[1])]
    return df


def dialect(path: Path, delimiter: str | None = None) -> tuple[str, str, bool, str]:
    """(separator, decimal mark, whether the first line is a header, encoding) of a text table;
    a header naming a column twice is refused (pandas would rename the second `a` to `a.1`)."""
    lines, encoding = _sample(path)
    if not lines:
        raise DifflabError(f"{path}: no data rows (only blank or # comment lines)")
    sep = DELIMITERS.get(delimiter, delimiter) if delimiter else _sniff(path, lines)
    decimal = _decimal(lines, sep)
    first = _split(lines[0], sep)
    header = not all(_is_number(f, decimal) for f in first)
    names = [f.strip() for f in first]
    twice = sorted({n for n in names if names.count(n) > 1})
    if header and twice:
        where = [i for i, n in enumerate(names) if n == twice[0]]
        raise DifflabError(
            f"{path}: the header names column {twice[0]!r} {len(where)} times (columns "
            f"{', '.join(map(str, where))}); rename them apart"
        )
    return sep, decimal, header, encoding


def data_line(path: Path, row: int, delimiter: str | None = None) -> int | None:
    """The line of the file (1-based) that holds data row `row` (0-based), past the header and
    blank or comment lines; None for a .parquet file."""
    if path.suffix.lower() == ".parquet":
        return None
    with warnings.catch_warnings():  # the encoding was reported when the table was read
        warnings.simplefilter("ignore", DifflabWarning)
        _, _, header, encoding = dialect(path, delimiter)
    seen = -1 if header else 0
    with open(path, encoding=encoding) as f:
        for number, line in enumerate(f, 1):
            if line.strip() and not line.lstrip().startswith("#"):
                if seen == row:
                    return number
                seen += 1
    return None


def _sample(path: Path) -> tuple[list[str], str]:
    """The first non-blank, non-comment lines and the encoding they were read in: UTF-8, or
    Latin-1 for text that is not UTF-8 (with a warning); binary files are refused."""
    with path.open("rb") as f:
        head = f.read(1 << 16)
    if b"\x00" in head:
        raise DifflabError(f"{path}: not UTF-8 text but a binary file (it holds NUL bytes)")
    try:
        head.decode("utf-8-sig")
        encoding = "utf-8-sig"
    except UnicodeDecodeError as e:
        if e.start < len(head) - 4:  # not merely a character cut at the end of the sample
            encoding = "latin-1"
            warnings.warn(
                f"{path}: not UTF-8 text; read as Latin-1 (ISO 8859-1). If its accents look "
                f"wrong, re-encode it: iconv -f WINDOWS-1252 -t UTF-8 {path.name} > utf8.csv",
                DifflabWarning,
                stacklevel=4,
            )
        else:
            encoding = "utf-8-sig"
    out = []
    with open(path, encoding=encoding, errors="replace") as f:
        for line in f:
            if line.strip() and not line.lstrip().startswith("#"):
                out.append(line.rstrip("\r\n"))
                if len(out) >= _SAMPLE_LINES:
                    break
    return out, encoding


def _sniff(path: Path, lines: list[str]) -> str:
    """The delimiter that splits every sampled line into the same number (> 1) of fields; a .tsv
    defaults to tab; one field per line: a single column."""
    if path.suffix.lower() == ".tsv":
        return "\t"
    for sep in (";", "\t", "|", ","):  # ';' before ',': with a decimal comma both split lines
        counts = {len(_split(line, sep)) for line in lines}
        if len(counts) == 1 and counts.pop() > 1:
            return sep
    if all(len(line.split()) == len(lines[0].split()) > 1 for line in lines):
        return r"\s+"
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def _split(line: str, sep: str) -> list[str]:
    if sep == r"\s+":
        return line.split()
    return next(csv.reader([line], delimiter=sep))


_DECIMAL_COMMA = re.compile(r"^\s*[-+]?\d+,\d+\s*$")


def _decimal(lines: list[str], sep: str) -> str:
    """',' when the fields are not comma-separated and some look like 3,14 (European numbers)."""
    if sep == ",":
        return "."
    fields = [f for line in lines[1:] for f in _split(line, sep)]
    return "," if any(_DECIMAL_COMMA.match(f) for f in fields) else "."


def _is_number(field: str, decimal: str) -> bool:
    try:
        float(field.strip().replace(decimal, ".") if decimal != "." else field)
    except ValueError:
        return False
    return True


def _first_line(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return text[-1] if text else type(e).__name__


def select_columns(
    df: pd.DataFrame, columns: list[str] | None, drop: list[str] | None, where: str
) -> pd.DataFrame:
    """Keep `columns` (names or 0-based indices, in that order) and/or drop `drop`."""
    if columns:
        df = df[[_column(df, c, where) for c in columns]]
    if drop:
        df = df.drop(columns=[_column(df, c, where) for c in drop])
    if df.shape[1] == 0:
        raise DifflabError(f"{where}: no columns left to model")
    return df


def _column(df: pd.DataFrame, name: str, where: str) -> str:
    if name in df.columns:
        return name
    if re.fullmatch(r"-?\d+", name) and -df.shape[1] <= int(name) < df.shape[1]:
        return df.columns[int(name)]  # an index, from the end if negative
    shown = ", ".join(map(str, df.columns[:12])) + (" …" if df.shape[1] > 12 else "")
    raise DifflabError(f"{where}: no column {name!r}; the columns are {shown}")


def write_table(path: str | Path, df: pd.DataFrame) -> None:
    """A table to .csv/.tsv (with its header) or .parquet, atomically (temp file, then rename)."""
    from ..checkpoint import atomic_write

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        atomic_write(path, lambda f: df.to_parquet(f, index=False))
    elif suffix in (".csv", ".tsv", ".txt"):
        sep = "\t" if suffix == ".tsv" else ","
        text = df.to_csv(index=False, sep=sep, float_format="%.9g", lineterminator="\n")
        atomic_write(path, lambda f: f.write(text.encode()))
    elif suffix == ".npy":
        numeric = df.select_dtypes(include="number")
        if numeric.shape[1] != df.shape[1]:
            raise DifflabError(f"{path}: text columns cannot go to .npy; write .csv or .parquet")
        atomic_write(path, lambda f: np.save(f, numeric.to_numpy(np.float64)))
    else:
        raise DifflabError(f"{path}: output must end in .csv, .tsv, .parquet or .npy")


__all__ = [
    "TABLE_SUFFIXES",
    "DELIMITERS",
    "is_table_file",
    "read_table",
    "select_columns",
    "write_table",
]
