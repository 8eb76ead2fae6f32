"""The conversion pipeline's own costs (issue #22, the 1.5x bar): the plain columns of a
table of numbers read without the checks of every kind of column (`arrow._plain`, under
`from_arrow` and `side_by_side`), the duplicate-name check of picked columns, and the
temporary output file that `convert` makes without importing tempfile
(`cli._temporary_file`).

Expected values come from numpy arrays the tables are built of, never from the code under
test; zero copy is asserted by buffer addresses.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sm_payloads as smp
from sm_payloads import arrow as arrow_mod
from sm_payloads import cli

from .helpers import ROOT

pa = pytest.importorskip("pyarrow")

PROPERTY = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

#: The tensor dtypes a plain column holds, and their Arrow types.
PLAIN = {np.dtype(np.float32): "float32", np.dtype(np.float64): "float64", np.dtype(np.int32): "int32"}


def address(a: np.ndarray) -> int:
    return int(a.__array_interface__["data"][0])


def value_address(arr: Any) -> int:
    """The address of a primitive Arrow array's first value (its slice offset counted)."""
    return int(arr.buffers()[1].address + arr.offset * arr.type.bit_width // 8)


def values(dtype: np.dtype[Any], n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if dtype.kind == "f":
        out = rng.standard_normal(n).astype(dtype)
        if n > 2:  # the values that a careless copy or cast would change
            out[0], out[1] = -0.0, np.nan
        return out
    return rng.integers(-(2**31), 2**31, n, dtype=np.int64).astype(dtype)


def same(a: np.ndarray, b: np.ndarray) -> None:
    """Equal dtype, shape and bytes (NaN payloads and -0.0 included)."""
    assert a.dtype == b.dtype and a.shape == b.shape
    assert np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes()


# --------------------------------------------------------------------------------------
# Plain columns: float32, float64, int32 of one chunk without nulls
# --------------------------------------------------------------------------------------


@PROPERTY
@given(
    kinds=st.lists(st.sampled_from(list(PLAIN)), min_size=1, max_size=6),
    n=st.integers(1, 40),
    start=st.integers(0, 5),
    seed=st.integers(0, 2**32 - 1),
    batch=st.booleans(),
)
def test_plain_columns_are_the_table_s_numbers(
    kinds: list[np.dtype[Any]], n: int, start: int, seed: int, batch: bool
) -> None:
    """from_arrow stacks plain feature columns into numpy's promotion of their dtypes (the
    module's rule: among float32/float64/int32 no value changes), side_by_side leaves them
    as views of the Arrow buffers, and the label is a view too; a sliced record batch (an
    offset into the buffers) reads from its offset."""
    cols = [values(d, n + start, seed + i) for i, d in enumerate(kinds)]
    y = values(np.dtype(np.float32), n + start, seed + 99)
    data = {"y": y, **{f"x{i}": c for i, c in enumerate(cols)}}
    whole = pa.record_batch(data) if batch else pa.table(data)
    part = whole.slice(start, n)
    common = np.result_type(*kinds)
    expect = np.column_stack([c[start:] for c in cols]).astype(common)

    got = smp.from_arrow(part, label="y")
    same(got.features["values"], expect)
    same(got.label["values"], y[start:])
    assert address(got.label["values"]) == value_address(
        part.column(0).chunks[0] if not batch else part.column(0)
    )

    out = arrow_mod.side_by_side(part, label="y")
    if len(kinds) == 1:  # one column: not stacked, the batch itself
        assert isinstance(out, smp.RecordBatch)
        same(out.features["values"], expect)
        return
    pieces, rest = out
    assert rest.features == {} and len(rest) == n
    same(rest.label["values"], y[start:])
    assert len(pieces) == len(kinds)
    for i, (p, c) in enumerate(zip(pieces, cols, strict=True)):
        same(p, c[start:].astype(common).reshape(n, 1))
        if c.dtype == common:  # no conversion: a view of the column's buffer
            arr = part.column(i + 1)
            arr = arr if batch else arr.chunks[0]
            assert address(p) == value_address(arr)


def test_plain_column_with_a_dtype_is_converted() -> None:
    """dtype= other than the column's: converted (the general path), not a view."""
    x = np.array([1.5, -2.25, 3.0], np.float32)
    t = pa.table({"a": x, "b": np.array([4, 5, 6], np.int32)})
    got = smp.from_arrow(t, dtype="float64")
    same(got.features["values"], np.array([[1.5, 4.0], [-2.25, 5.0], [3.0, 6.0]]))
    same(smp.from_arrow(t.select(["a"]), dtype="float32").features["values"], x.reshape(3, 1))
    assert address(smp.from_arrow(t.select(["a"]), dtype="float32").features["values"]) == value_address(
        t.column("a").chunks[0]
    )


def test_not_plain_columns_take_the_general_path() -> None:
    """Columns the plain reading leaves alone: other integer and float widths (converted
    by the record's rule), several chunks (concatenated), a null (an error naming the
    record), a null in a table pandas made (NaN), a dictionary column (decoded)."""
    t = pa.table(
        {
            "i64": pa.array([1, -2, 3], pa.int64()),
            "f16": pa.array(np.array([0.5, 1.5, -2.0], np.float16)),
            "u8": pa.array([7, 8, 9], pa.uint8()),
            "chunks": pa.chunked_array([pa.array([1.0, 2.0], pa.float32()), pa.array([3.0], pa.float32())]),
            "dict": pa.array([1.0, 2.0, 1.0], pa.float64()).dictionary_encode(),
        }
    )
    got = smp.from_arrow(t).features["values"]
    same(
        got,
        np.array([[1, 0.5, 7, 1, 1], [-2, 1.5, 8, 2, 2], [3, -2.0, 9, 3, 1]], np.float64),
    )
    nulls = pa.table({"a": pa.array([1.0, 2.0], pa.float32()), "b": pa.array([1.0, None], pa.float32())})
    with pytest.raises(smp.EncodeError, match=r"record 1: null") as e:
        smp.from_arrow(nulls)
    assert e.value.column == "b"
    pandas_made = nulls.replace_schema_metadata({b"pandas": b'{"index_columns": []}'})
    got = smp.from_arrow(pandas_made).features["values"]
    assert got.dtype == np.float32 and got[0].tolist() == [1.0, 1.0] and got[1, 0] == 2.0
    assert np.isnan(got[1, 1])
    # a column of no records: the general path's empty column
    empty = smp.from_arrow(pa.table({"a": pa.array([], pa.float32()), "b": pa.array([], pa.int32())}))
    same(empty.features["values"], np.zeros((0, 2), np.float64))


def test_a_column_named_twice_is_refused() -> None:
    t = pa.table({"y": [1.0, 2.0], "a": [3.0, 4.0], "b": [5.0, 6.0], "c": [7.0, 8.0]})
    with pytest.raises(smp.EncodeError, match="is named twice") as e:
        smp.from_arrow(t, label=["y", "y"])
    assert e.value.column == "y"
    with pytest.raises(smp.EncodeError, match="is named twice") as e:
        smp.from_arrow(t, label="y", features=["a", "c", "b", "c", "a"])
    assert e.value.column == "c"  # the first name seen again, in order
    same(
        smp.from_arrow(t, label="y", features=["c", "a"]).features["values"],
        np.array([[7.0, 3.0], [8.0, 4.0]]),
    )


# --------------------------------------------------------------------------------------
# The temporary output file
# --------------------------------------------------------------------------------------


def test_temporary_file_is_new_private_and_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    fd, path = cli._temporary_file(".")
    try:
        assert os.path.isabs(path) and os.path.dirname(path) == str(tmp_path)
        name = os.path.basename(path)
        assert name.startswith(".sm-payloads-") and len(name) == len(".sm-payloads-") + 12
        int(name[len(".sm-payloads-") :], 16)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert not os.get_inheritable(fd)
        os.write(fd, b"abc")
    finally:
        os.close(fd)
    assert Path(path).read_bytes() == b"abc"


def test_temporary_file_passes_over_names_that_exist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file or a link (even one to nothing) at the name is left as it is."""
    draws = iter([b"\x00" * 6, b"\x11" * 6, b"\x22" * 6])
    monkeypatch.setattr(cli.os, "urandom", lambda n: next(draws))
    (tmp_path / ".sm-payloads-000000000000").write_bytes(b"keep")
    (tmp_path / ".sm-payloads-111111111111").symlink_to(tmp_path / "nowhere")
    fd, path = cli._temporary_file(str(tmp_path))
    os.close(fd)
    assert path == str(tmp_path / ".sm-payloads-222222222222")
    assert (tmp_path / ".sm-payloads-000000000000").read_bytes() == b"keep"
    assert not (tmp_path / "nowhere").exists()


def test_temporary_file_gives_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli.os, "urandom", lambda n: b"\x00" * n)
    monkeypatch.setattr(cli, "_TEMPORARY_TRIES", 3)
    (tmp_path / ".sm-payloads-000000000000").write_bytes(b"")
    with pytest.raises(FileExistsError):
        cli._temporary_file(str(tmp_path))
    # and convert reports it as its failure to write the output
    src = tmp_path / "in.csv"
    src.write_bytes(b"1,2\n")
    assert cli.main(["convert", str(src), str(tmp_path / "out.jsonl"), "-q"]) != 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [".sm-payloads-000000000000", "in.csv"]


def test_temporary_file_in_a_directory_that_cannot_be_written(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root writes anywhere")
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(PermissionError):
            cli._temporary_file(str(tmp_path))
    finally:
        tmp_path.chmod(0o700)


def test_convert_imports_neither_tempfile_nor_socket(tmp_path: Path) -> None:
    """A conversion to a file, in a fresh process: the output is replaced as before (mode
    0644 under umask 022) and neither module was imported."""
    src = tmp_path / "in.csv"
    src.write_bytes(b"1,2,3\n4,5,6\n")
    out = tmp_path / "out.jsonl"
    code = (
        "import os, sys\n"
        "os.umask(0o022)\n"
        "from sm_payloads.cli import main\n"
        f"rc = main(['convert', {str(src)!r}, {str(out)!r}, '-q'])\n"
        "print(rc, 'tempfile' in sys.modules, 'socket' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert done.stdout.split() == ["0", "False", "False"]
    assert out.read_bytes() == b'{"features":[1.0,2.0,3.0]}\n{"features":[4.0,5.0,6.0]}\n'
    assert stat.S_IMODE(out.stat().st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
