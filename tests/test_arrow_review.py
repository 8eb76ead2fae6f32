"""An adversarial review of Arrow / Parquet support: what users' real tables hold (pandas
NaN, nullable dtypes, categoricals, sliced and chunked arrays, odd types and names) through
`from_arrow`, `to_arrow`, the top-level verbs, the SDK drop-ins and the command line.

Expected values come from numpy, pandas' own ``to_numpy``, Arrow's ``to_pylist``, CPython's
``float`` or the SageMaker SDK, never from the code under test; zero copy is asserted by
buffer addresses.
"""

from __future__ import annotations

import decimal
import io
import itertools
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st

import sm_payloads as smp
from sm_payloads import cli

from .helpers import arrays

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

REC = "application/x-recordio-protobuf"


def address(a: np.ndarray) -> int:
    return int(a.__array_interface__["data"][0])


def data_address(arr: Any) -> int:
    """The address of a primitive Arrow array's first value (its slice offset counted)."""
    return int(arr.buffers()[1].address + arr.offset * arr.type.bit_width // 8)


def bits(a: np.ndarray) -> list[int]:
    a = np.ascontiguousarray(a)
    return a.view(f"u{a.dtype.itemsize}").ravel().tolist()


def same_floats(got: np.ndarray, want: np.ndarray) -> None:
    """Equal dtype and shape, NaN where `want` has NaN, the same bits everywhere else."""
    assert got.dtype == want.dtype and got.shape == want.shape
    nan = np.isnan(want)
    assert np.isnan(got).tolist() == nan.tolist()
    assert bits(np.where(nan, 0, got).astype(want.dtype)) == bits(np.where(nan, 0, want).astype(want.dtype))


def run(*argv: str) -> int:
    return cli.main(list(argv))


# --------------------------------------------------------------------------------------
# pandas' missing values: NaN in, NaN out
# --------------------------------------------------------------------------------------
#
# pandas holds a missing float as NaN; pyarrow's pandas conversion turns every NaN into a
# null, so `from_arrow(df)` refused any frame with a missing value, although
# `df.to_numpy()`, `write_numpy_to_dense_tensor(buf, df.to_numpy())` and XGBoost (NaN is
# its "missing") all take it. A table pandas made (its schema metadata) reads a null float
# as NaN again; other tables keep refusing nulls (polars and pyarrow tell null from NaN).

pd = pytest.importorskip("pandas")


@given(
    arrays(np.float64, (5, 3)),
    st.lists(st.tuples(st.integers(0, 4), st.integers(0, 2)), max_size=6),
)
def test_a_pandas_frame_with_nan_reads_as_to_numpy_gives_it(
    x: np.ndarray, holes: list[tuple[int, int]]
) -> None:
    x = x.copy()
    for i, j in holes:
        x[i, j] = np.nan
    df = pd.DataFrame(x, columns=["a", "b", "c"])
    got = smp.from_arrow(df).features["values"]
    same_floats(got, df.to_numpy())


def test_nan_in_float32_and_nullable_float_columns_and_labels() -> None:
    df = pd.DataFrame(
        {
            "y": [1.0, np.nan, 0.0],
            "f32": np.array([np.nan, 2.5, -0.0], np.float32),
            "F64": pd.array([1.5, None, 3.0], dtype="Float64"),
        }
    )
    b = smp.from_arrow(df, label="y")
    same_floats(b.label["values"], np.array([1.0, np.nan, 0.0]))
    # float32 beside Float64 (float64): stacked as float64, pd.NA as NaN
    want = df[["f32", "F64"]].to_numpy(dtype=np.float64, na_value=np.nan)
    same_floats(b.features["values"], want)
    # one float32 column keeps float32, its -0.0 bit for bit
    one = smp.from_arrow(df[["f32"]]).features["values"]
    same_floats(one, np.array([[np.nan], [2.5], [-0.0]], np.float32))


def test_nan_inside_a_pandas_list_column_is_nan() -> None:
    df = pd.DataFrame({"seq": [np.array([1.0, np.nan]), np.array([2.0])]})
    r = smp.from_arrow(df).features["values"]
    assert isinstance(r, smp.Ragged)
    assert r.offsets.tolist() == [0, 2, 3]
    same_floats(r.values, np.array([1.0, np.nan, 2.0]))


def test_a_pandas_frame_with_nan_is_encoded_as_its_matrix() -> None:
    df = pd.DataFrame({"a": [1.0, np.nan, 3.0], "b": [0.5, 0.25, np.nan]})
    want = smp.encode_request(df.to_numpy(), REC)
    assert smp.encode_request(df, REC) == want
    assert smp.encode_request(df, "text/csv") == b"1.0,0.5\nnan,0.25\n3.0,nan"


def test_a_frame_of_outputs_with_nan_keeps_the_nan() -> None:
    out = pd.DataFrame({"score": [0.5, np.nan]})
    assert smp.encode_response(out, "text/csv") == b"0.5\nnan\n"


@pytest.mark.sdk
def test_record_serializer_writes_a_frame_with_nan_as_the_sdk_writes_its_matrix() -> None:
    common = pytest.importorskip("sagemaker.amazon.common")
    from sm_payloads import sdk

    df = pd.DataFrame({"a": [1.0, np.nan, 3.0], "b": [np.nan, 0.25, 2.0]})
    buf = io.BytesIO()
    common.write_numpy_to_dense_tensor(buf, df.to_numpy())
    assert sdk.RecordSerializer().serialize(df).getvalue() == buf.getvalue()


def test_nulls_that_are_not_pandas_nan_are_still_refused() -> None:
    pl = pytest.importorskip("polars")
    message = r"a: record 1: null; a column of double holds no missing values"
    with pytest.raises(smp.EncodeError, match=message):
        smp.from_arrow(pa.table({"a": [1.0, None]}))
    with pytest.raises(smp.EncodeError, match=message):
        smp.from_arrow(pl.DataFrame({"a": [1.0, None]}))
    # a missing integer has no NaN in int32, pandas or not
    with pytest.raises(smp.EncodeError, match=r"a: record 1: null; a column of int64"):
        smp.from_arrow(pd.DataFrame({"a": pd.array([1, None], dtype="Int64")}))
    with pytest.raises(smp.EncodeError, match=r"b: record 0: null; a column of bool"):
        smp.from_arrow(pd.DataFrame({"b": pd.array([None, True], dtype="boolean")}))
    # polars' NaN is a number
    got = smp.from_arrow(pl.DataFrame({"a": [1.0, float("nan")]})).features["values"]
    same_floats(got, np.array([[1.0], [np.nan]]))


def test_a_parquet_file_pandas_wrote_with_nan_converts(tmp_path: Path) -> None:
    df = pd.DataFrame({"y": [1.0, 0.0, 1.0], "a": [np.nan, 2.0, 3.0], "b": [0.5, np.nan, 1.5]})
    df.to_parquet(tmp_path / "in.parquet")
    assert run("convert", str(tmp_path / "in.parquet"), str(tmp_path / "out.rec"), "--label", "y", "-q") == 0
    back = smp.decode_request((tmp_path / "out.rec").read_bytes(), REC)
    same_floats(back.features["values"], df[["a", "b"]].to_numpy())
    same_floats(back.label["values"], df["y"].to_numpy())


# --------------------------------------------------------------------------------------
# Other pandas dtypes
# --------------------------------------------------------------------------------------


def test_nullable_pandas_dtypes_without_missing_values() -> None:
    df = pd.DataFrame(
        {
            "i": pd.array([1, -2, 3], dtype="Int64"),
            "f": pd.array([1.5, 2.0, -0.5], dtype="Float64"),
            "b": pd.array([True, False, True], dtype="boolean"),
        }
    )
    got = smp.from_arrow(df).features["values"]
    want = df.to_numpy(dtype=np.float64)
    assert got.dtype == np.float64 and got.tolist() == want.tolist()
    assert smp.from_arrow(df[["i"]]).features["values"].dtype == np.int32
    assert smp.from_arrow(df[["b"]]).features["values"].tolist() == [[1], [0], [1]]


def test_categoricals_decode_and_text_categories_are_named() -> None:
    df = pd.DataFrame({"c": pd.Categorical([1.5, 2.5, 1.5])})
    assert smp.from_arrow(df).features["values"].tolist() == [[1.5], [2.5], [1.5]]
    with pytest.raises(smp.EncodeError, match=r"^city: is text"):
        smp.from_arrow(pd.DataFrame({"x": [1.0, 2.0], "city": pd.Categorical(["a", "b"])}))
    lab = smp.from_arrow(pd.DataFrame({"x": [1.0, 2.0], "y": pd.Categorical(["a", "b"])}), label="y")
    assert lab.label["values"].tolist() == ["a", "b"]


@pytest.mark.parametrize(
    ("column", "type_text"),
    [
        (pd.to_datetime(["2020-01-01", "2020-01-02"]), "timestamp"),
        (pd.to_timedelta([1, 2], unit="s"), "duration"),
    ],
)
def test_dates_and_durations_are_refused_naming_the_column(column: Any, type_text: str) -> None:
    with pytest.raises(smp.EncodeError, match=rf"^when: Arrow type {type_text}"):
        smp.from_arrow(pd.DataFrame({"when": column}))


# --------------------------------------------------------------------------------------
# Offsets, chunks and zero copy
# --------------------------------------------------------------------------------------


def test_empty_chunks_do_not_cost_a_copy() -> None:
    data = pa.array(np.arange(6, dtype=np.float32))
    empty = pa.array([], pa.float32())
    col = pa.chunked_array([empty, data, empty])
    got = smp.from_arrow(pa.table({"a": col})).features["values"]
    assert got.ravel().tolist() == data.to_pylist()
    assert address(got) == data_address(data)
    # a table with no chunk at all is no records
    none = smp.from_arrow(pa.table({"a": pa.chunked_array([], pa.float32())})).features["values"]
    assert none.shape == (0, 1) and none.dtype == np.float32


@given(st.integers(0, 12), st.integers(0, 12))
def test_slices_are_read_at_their_offsets(start: int, length: int) -> None:
    values = np.arange(24, dtype=np.float64) * 1.5 - 7.0
    prim = pa.array(values)
    # a FixedSizeList over a child that is itself sliced (two levels of offsets)
    fsl = pa.FixedSizeListArray.from_arrays(pa.array(values).slice(2, 22), 2)
    flags = pa.array([bool(i % 3) for i in range(24)])
    lists = pa.array([[float(i)] * (i % 3) for i in range(24)], pa.list_(pa.float64()))
    for arr in (prim, fsl, flags, lists):
        part = arr.slice(start, length)
        got = smp.from_arrow(pa.table({"c": part})).features["values"]
        want = part.to_pylist()
        if isinstance(got, smp.Ragged):
            assert got.to_lists() == want
        elif pa.types.is_fixed_size_list(part.type):
            assert got.tolist() == want
            if len(part):  # a view of the child's buffer at both offsets
                child = part.flatten()
                assert address(got) == data_address(child)
        else:
            assert got.ravel().tolist() == [int(v) if isinstance(v, bool) else v for v in want]
            if len(part) and pa.types.is_floating(part.type):
                assert address(got) == data_address(part)


def test_a_fixed_size_list_null_outside_the_slice_does_not_count() -> None:
    arr = pa.FixedSizeListArray.from_arrays(pa.array([1.0, None, 3.0, 4.0]), 2)
    with pytest.raises(smp.EncodeError, match=r"^a: record 0: a null inside a fixed-size list"):
        smp.from_arrow(pa.table({"a": arr}))
    assert smp.from_arrow(pa.table({"a": arr.slice(1)})).features["values"].tolist() == [[3.0, 4.0]]


SPARSE = pa.struct([("keys", pa.list_(pa.int32())), ("values", pa.list_(pa.float32()))])


@pytest.mark.parametrize(
    ("column", "message"),
    [
        # a null value of record 1 of (2, 2) records; a null inner list of record 1
        (
            pa.FixedSizeListArray.from_arrays(
                pa.FixedSizeListArray.from_arrays(pa.array([1.0, 2, 3, 4, 5, 6, 7, None]), 2), 2
            ),
            "record 1: a null inside a fixed-size list (a record's tensor has no missing values)",
        ),
        (
            pa.FixedSizeListArray.from_arrays(
                pa.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], None], pa.list_(pa.float64(), 2)), 2
            ),
            "record 1: a null inside a fixed-size list (a record's tensor has no missing values)",
        ),
        # lists: the record holding the null, also in a slice whose offsets do not start at 0
        (
            pa.array([[1.0], [], [2.0, None]]),
            "record 2: a null inside a list (a record's tensor has no missing values; a null "
            "list is a record without the key)",
        ),
        (
            pa.array([[None], [1.0], [], [2.0, None]]).slice(1),
            "record 2: a null inside a list (a record's tensor has no missing values; a null "
            "list is a record without the key)",
        ),
        (
            pa.array([{"keys": [0], "values": [1.0]}, {"keys": [0, 1], "values": [1.0, None]}], SPARSE),
            "record 1: a null inside a sparse row's values (a record's tensor has no missing values)",
        ),
        (
            pa.array([{"keys": [None], "values": [1.0]}, {"keys": [0], "values": [2.0]}], SPARSE),
            "record 0: a null inside a sparse row's keys (a record's tensor has no missing values)",
        ),
    ],
)
def test_a_null_inside_a_record_names_its_record(column: Any, message: str) -> None:
    with pytest.raises(smp.EncodeError) as e:
        smp.from_arrow(pa.table({"c": column}))
    assert str(e.value) == f"c: {message}"


def test_to_arrow_of_a_sliced_batch_shares_memory_and_reads_back_bit_for_bit() -> None:
    x = np.array([[0.0, -0.0], [np.nan, 1.0], [np.inf, -np.inf], [1e-45, 3.4028235e38]], np.float32)
    x[1, 0] = np.uint32(0x7FC00123).view(np.float32)  # a NaN with a payload
    y = np.array([-0.0, np.nan, 1.0, 2.0])
    batch = smp.from_dense(x, y).slice(1, 4)
    table = batch.to_arrow()
    fsl = table.column("features.values").chunk(0)
    assert data_address(fsl.flatten()) == address(batch.features["values"])
    back = smp.from_arrow(table)
    assert address(back.features["values"]) == address(batch.features["values"])
    assert bits(back.features["values"]) == bits(x[1:4])
    assert bits(back.label["values"]) == bits(y[1:4])


def test_every_column_kind_round_trips_bit_for_bit() -> None:
    neg_zero_nan = np.array([-0.0, np.nan, 1.0], np.float64)
    batch = smp.RecordBatch(
        {
            "dense": np.arange(6, dtype=np.int32).reshape(3, 2),
            "cube": np.arange(12, dtype=np.float32).reshape(3, 2, 2),
            "vec": neg_zero_nan,
            "empty": np.zeros((3, 0), np.float32),
            "ragged": smp.Ragged(
                np.array([-0.0, np.nan, 2.0], np.float32),
                np.array([0, 2, 2, 3]),
                np.array([True, False, True]),
            ),
            "sparse": sp.csr_array(np.array([[0, 1.5, 0, 0], [0, 0, 0, 0], [2.0, 0, 0, -1.0]], np.float32)),
            "nd_sparse": smp.Sparse(sp.csr_array(np.eye(3, 6, dtype=np.float64)), (2, 3)),
        },
        {
            "tag": np.array(["a", None, ["b", "c"]], dtype=object),
            "raw": np.array([b"\x00", None, b"z"], dtype=object),
        },
        uid=["u0", None, "u2"],
        configuration=[None, "{}", None],
    )
    back = smp.from_arrow(batch.to_arrow())
    assert back.equals(batch, bitwise=True)
    # and through the Arrow C stream and an IPC file
    buf = io.BytesIO()
    with pa.ipc.new_file(buf, batch.to_arrow().schema) as writer:
        writer.write_table(pa.table(batch))
    assert smp.from_arrow(pa.ipc.open_file(io.BytesIO(buf.getvalue())).read_all()).equals(batch, bitwise=True)
    # and Parquet (whose reader fails on fixed_size_list<0>, pyarrow's own arrays too)
    nonempty = smp.RecordBatch(
        {k: v for k, v in batch.features.items() if k != "empty"},
        batch.label,
        uid=batch.uid,
        configuration=batch.configuration,
    )
    buf = io.BytesIO()
    pq.write_table(nonempty.to_arrow(), buf)
    assert smp.from_arrow(pq.read_table(io.BytesIO(buf.getvalue()))).equals(nonempty, bitwise=True)


# --------------------------------------------------------------------------------------
# Types
# --------------------------------------------------------------------------------------


def test_float16_is_float32_bit_for_bit() -> None:
    h = np.array([1.5, np.nan, -0.0, 65504.0, 6e-8], np.float16)
    got = smp.from_arrow(pa.table({"h": pa.array(h)})).features["values"]
    same_floats(got, h.astype(np.float32).reshape(-1, 1))


@pytest.mark.parametrize(
    "t", [pa.uint8(), pa.uint16(), pa.uint32(), pa.uint64(), pa.int8(), pa.int16(), pa.int64()]
)
def test_integers_in_int32_range_are_int32_and_beyond_it_are_named(t: Any) -> None:
    lo = 0 if pa.types.is_unsigned_integer(t) else -(2 ** (t.bit_width - 1))
    hi = 2**t.bit_width - 1 if pa.types.is_unsigned_integer(t) else 2 ** (t.bit_width - 1) - 1
    inside = [max(lo, -(2**31)), min(hi, 2**31 - 1)]
    got = smp.from_arrow(pa.table({"i": pa.array(inside, t)})).features["values"]
    assert got.dtype == np.int32 and got.ravel().tolist() == inside
    if hi > 2**31 - 1:
        with pytest.raises(
            smp.EncodeError, match=rf"^i: value {hi} of dtype {np.dtype(t.to_pandas_dtype())}"
        ):
            smp.from_arrow(pa.table({"i": pa.array([0, hi], t)}))


def test_int64_beyond_float_precision_is_refused_or_rounded_on_request() -> None:
    big = 2**53 + 1
    with pytest.raises(smp.EncodeError, match=rf"^x: value {big} of dtype int64 does not fit int32"):
        smp.from_arrow(pa.table({"x": pa.array([big], pa.int64())}))
    # dtype= asks for the conversion: rounded to nearest, as CPython's float() does
    f64 = smp.from_arrow(pa.table({"x": pa.array([big], pa.int64())}), dtype="float64").features["values"]
    assert f64.ravel().tolist() == [float(big)]
    f32 = smp.from_arrow(pa.table({"x": pa.array([2**24 + 1], pa.int64())}), dtype="float32").features[
        "values"
    ]
    assert f32.ravel().tolist() == [float(np.float32(float(2**24 + 1)))]


@pytest.mark.parametrize(
    ("array", "type_text"),
    [
        (pa.array([decimal.Decimal("1.5")], pa.decimal128(4, 2)), "decimal128"),
        (pa.array([[1.0, 2.0]], pa.list_view(pa.float64())), "list_view"),
        (pa.array([[1.0]], pa.large_list_view(pa.float64())), "large_list_view"),
        (pa.array([[[1.0]], [[2.0, 3.0]]]), "list<item: list"),
        (pa.array([None, None], pa.null()), "null"),
    ],
)
def test_types_without_a_tensor_are_named(array: Any, type_text: str) -> None:
    with pytest.raises(smp.EncodeError, match=rf"^col: Arrow type {type_text}"):
        smp.from_arrow(pa.table({"col": array}))


@pytest.mark.parametrize("t", [pa.string(), pa.large_string(), pa.string_view()])
def test_every_string_type_is_a_label_and_never_a_feature(t: Any) -> None:
    table = pa.table({"x": [1.0, 2.0], "y": pa.array(["a", None], t)})
    assert smp.from_arrow(table, label="y").label["values"].tolist() == ["a", None]
    with pytest.raises(smp.EncodeError, match=rf"^y: is text \({t}\)"):
        smp.from_arrow(table)


# --------------------------------------------------------------------------------------
# Names and empty tables
# --------------------------------------------------------------------------------------


def test_dotted_names() -> None:
    # a table of numbers may have dots in its names
    got = smp.from_arrow(pa.table({"a.b": [1.0], "c": [2.0]}), label="a.b")
    assert got.label["values"].tolist() == [1.0] and got.features["values"].tolist() == [[2.0]]
    # and a key with dots is features.<key> with the dots kept
    batch = smp.RecordBatch({"x.y": np.ones((2, 1), np.float32)}, {"a.b.c": np.zeros(2)})
    table = batch.to_arrow()
    assert table.column_names == ["features.x.y", "label.a.b.c"]
    assert list(smp.from_arrow(table).features) == ["x.y"]
    assert smp.from_arrow(table) == batch


def test_duplicate_names_are_refused() -> None:
    table = pa.Table.from_arrays([pa.array([1.0]), pa.array([2.0])], names=["a", "a"])
    with pytest.raises(smp.EncodeError, match=r"^a: two columns have this name"):
        smp.from_arrow(table)


def test_empty_tables() -> None:
    none = smp.from_arrow(pa.table({}))
    assert len(none) == 0 and dict(none.features) == {} and dict(none.label) == {}
    rows = smp.from_arrow(
        pa.table({"y": pa.array([], pa.int8()), "a": pa.array([], pa.float32())}), label="y"
    )
    assert len(rows) == 0
    assert rows.features["values"].shape == (0, 1) and rows.features["values"].dtype == np.float32
    assert rows.label["values"].shape == (0,) and rows.label["values"].dtype == np.int32
    # no columns but three rows: the length is kept both ways
    three = smp.RecordBatch(n=3)
    assert three.to_arrow().num_rows == 3 and len(smp.from_arrow(three.to_arrow())) == 3


# --------------------------------------------------------------------------------------
# The command line
# --------------------------------------------------------------------------------------


def _table() -> Any:
    return pa.table(
        {
            "y": pa.array([1, 0, 1, 0, 1], pa.int64()),
            "a": pa.array([0.5, -0.0, 2.5, 3.5, 4.5]),
            "b": pa.array([1, 2, 3, 4, 5], pa.int32()),
        }
    )


def test_several_row_groups_convert_as_one_table(tmp_path: Path) -> None:
    pq.write_table(_table(), tmp_path / "in.parquet", row_group_size=2)
    assert pq.ParquetFile(tmp_path / "in.parquet").num_row_groups == 3
    assert (
        run(
            "convert",
            str(tmp_path / "in.parquet"),
            str(tmp_path / "out.rec"),
            "--label",
            "y",
            "-q",
            "--batch-size",
            "3",
        )
        == 0
    )
    back = smp.decode_request((tmp_path / "out.rec").read_bytes(), REC)
    t = _table()
    want = np.column_stack(
        [np.array(t.column("a").to_pylist()), np.array(t.column("b").to_pylist(), np.float64)]
    )
    assert bits(back.features["values"]) == bits(want)
    assert back.label["values"].tolist() == t.column("y").to_pylist()


def test_a_corrupt_parquet_file_is_named_and_leaves_no_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pq.write_table(_table(), tmp_path / "ok.parquet", row_group_size=2)
    data = bytearray((tmp_path / "ok.parquet").read_bytes())
    data[4:40] = b"\xff" * 36  # the first row group's page header
    (tmp_path / "bad.parquet").write_bytes(bytes(data))
    capsys.readouterr()
    assert run("convert", str(tmp_path / "bad.parquet"), str(tmp_path / "out.rec"), "--label", "y") == 1
    err = capsys.readouterr().err
    assert err.startswith(f"sm-payloads: error: {tmp_path / 'bad.parquet'}: cannot read it as Parquet: "), err
    assert not (tmp_path / "out.rec").exists()


@pytest.mark.parametrize("content", [b"", b"PAR1", b"not parquet at all"])
def test_empty_and_foreign_files_are_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes
) -> None:
    (tmp_path / "in.parquet").write_bytes(content)
    capsys.readouterr()
    assert run("convert", str(tmp_path / "in.parquet"), str(tmp_path / "out.csv")) == 1
    assert capsys.readouterr().err.startswith(
        f"sm-payloads: error: {tmp_path / 'in.parquet'}: cannot read it as Parquet: "
    )
    assert not (tmp_path / "out.csv").exists()


def test_a_missing_label_column_is_an_error_even_without_records(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = _table().slice(0, 0)
    pq.write_table(empty, tmp_path / "zero.parquet")
    with pa.OSFile(str(tmp_path / "zero.arrow"), "wb") as sink:
        pa.ipc.new_file(sink, empty.schema).close()
    for name in ("zero.parquet", "zero.arrow"):
        capsys.readouterr()
        assert run("convert", str(tmp_path / name), str(tmp_path / "out.rec"), "--label", "nope") == 1
        assert capsys.readouterr().err == "sm-payloads: error: nope: no such column (columns: y, a, b)\n"
        assert not (tmp_path / "out.rec").exists()
        # the right label: no records, no error
        assert run("convert", str(tmp_path / name), str(tmp_path / "out.rec"), "--label", "y", "-q") == 0
        assert (tmp_path / "out.rec").read_bytes() == b""
        (tmp_path / "out.rec").unlink()
    # and with records, the same message
    pq.write_table(_table(), tmp_path / "five.parquet")
    capsys.readouterr()
    assert run("convert", str(tmp_path / "five.parquet"), str(tmp_path / "out.rec"), "--label", "nope") == 1
    assert capsys.readouterr().err == "sm-payloads: error: nope: no such column (columns: y, a, b)\n"


def test_a_value_beyond_int32_in_a_later_row_group_fails_without_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    t = pa.table({"y": [1.0, 0.0, 1.0], "a": pa.array([1, 2, 2**40], pa.int64())})
    pq.write_table(t, tmp_path / "in.parquet", row_group_size=2)
    capsys.readouterr()
    assert run("convert", str(tmp_path / "in.parquet"), str(tmp_path / "out.parquet"), "--label", "y") == 1
    assert f"value {2**40} of dtype int64 does not fit int32" in capsys.readouterr().err
    assert not (tmp_path / "out.parquet").exists()


def test_parquet_through_stdin_and_stdout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    buf = io.BytesIO()
    pq.write_table(_table(), buf, row_group_size=2)

    class Stdin:
        buffer = io.BytesIO(buf.getvalue())

    monkeypatch.setattr("sys.stdin", Stdin)
    capsysbinary.readouterr()
    assert run("convert", "-", "-", "--from", "parquet", "--to", "parquet", "--label", "y", "-q") == 0
    out = pq.read_table(io.BytesIO(capsysbinary.readouterr().out))
    assert out.column_names == ["features.values", "label.values"]
    t = _table()
    assert out.column("label.values").to_pylist() == t.column("y").to_pylist()
    assert out.column("features.values").to_pylist() == [
        [a, float(b)] for a, b in zip(t.column("a").to_pylist(), t.column("b").to_pylist(), strict=True)
    ]
    assert math.copysign(1.0, out.column("features.values").to_pylist()[1][0]) == -1.0


# --------------------------------------------------------------------------------------
# Sparse columns without a record shape, read batch by batch
# --------------------------------------------------------------------------------------
#
# A {keys, values} struct without the sm_payloads.shape field metadata takes the width
# largest key + 1 of the data from_arrow is given. The command line gave every batch its
# own width: RecordIO records of different shapes (our own reader refuses them as a batch),
# and a Parquet output whose one schema carried the first batch's shape, unreadable.

KEYS = [[0], [1], [], [3, 9], [2]]


def _sparse_batch(keys: list[list[int]]) -> Any:
    values = [[float(k) + 0.5 for k in row] for row in keys]
    struct = pa.StructArray.from_arrays(
        [pa.array(keys, pa.list_(pa.int32())), pa.array(values, pa.list_(pa.float32()))],
        names=["keys", "values"],
    )
    return pa.record_batch({"s": struct})


def _dense_of(keys: list[list[int]], width: int) -> np.ndarray:
    out = np.zeros((len(keys), width), np.float32)
    for i, row in enumerate(keys):
        for k in row:
            out[i, k] = float(k) + 0.5
    return out


@pytest.mark.parametrize("suffix", [".parquet", ".arrow"])
def test_a_sparse_column_without_a_shape_has_one_width_in_every_batch(tmp_path: Path, suffix: str) -> None:
    table = pa.Table.from_batches([_sparse_batch(KEYS)])
    src = tmp_path / f"in{suffix}"
    if suffix == ".parquet":
        pq.write_table(table, src, row_group_size=2)
    else:
        with pa.OSFile(str(src), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table, max_chunksize=2)
    width = max(k for row in KEYS for k in row) + 1
    assert run("convert", str(src), str(tmp_path / "out.rec"), "--batch-size", "2", "-q") == 0
    back = smp.decode_request((tmp_path / "out.rec").read_bytes(), REC)
    assert back.features["values"].shape == (len(KEYS), width)
    assert back.features["values"].toarray().tolist() == _dense_of(KEYS, width).tolist()
    # and to Parquet: readable, one shape
    assert run("convert", str(src), str(tmp_path / "out.parquet"), "--batch-size", "2", "-q") == 0
    again = smp.from_arrow(pq.read_table(tmp_path / "out.parquet"))
    assert again.features["values"].toarray().tolist() == _dense_of(KEYS, width).tolist()


def test_a_stream_keeps_its_first_batchs_width_and_names_a_larger_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = _sparse_batch([[0], [1]]), _sparse_batch([[1], [4]])
    with pa.OSFile(str(tmp_path / "in.arrow"), "wb") as sink, pa.ipc.new_stream(sink, first.schema) as writer:
        writer.write_batch(first)
        writer.write_batch(second)
    capsys.readouterr()
    assert run("convert", str(tmp_path / "in.arrow"), str(tmp_path / "out.rec")) == 1
    assert capsys.readouterr().err == "sm-payloads: error: s: record 3: key 4 outside the record shape (2,)\n"
    assert not (tmp_path / "out.rec").exists()


def test_a_key_outside_the_shape_names_its_record() -> None:
    batch = _sparse_batch([[0], [], [1, 7], [2]])
    field = batch.schema.field("s").with_metadata({b"sm_payloads.shape": b"[5]"})
    table = pa.Table.from_batches([batch]).cast(pa.schema([field]))
    with pytest.raises(smp.EncodeError, match=r"^s: record 2: key 7 outside the record shape \(5,\)$"):
        smp.from_arrow(table)
    with pytest.raises(smp.EncodeError, match=r"^s: record 1: key 7 outside the record shape \(5,\)$"):
        smp.from_arrow(table.slice(1))


def test_batches_of_other_sparse_shapes_are_not_written_to_one_parquet_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "in.jsonl").write_text(
        '{"features":{"keys":[1],"values":[1.0],"shape":[2]}}\n'
        '{"features":{"keys":[5],"values":[1.0],"shape":[6]}}\n'
    )
    capsys.readouterr()
    assert run("convert", str(tmp_path / "in.jsonl"), str(tmp_path / "out.parquet"), "--batch-size", "1") == 1
    err = capsys.readouterr().err
    assert err.startswith("sm-payloads: error: records from 1 on: column features.values has field metadata ")
    assert "'[6]'" in err and "'[2]'" in err
    assert not (tmp_path / "out.parquet").exists()


# --------------------------------------------------------------------------------------
# One column (a Series, an Array) is not a table
# --------------------------------------------------------------------------------------
#
# A pandas or polars Series, a pyarrow Array or ChunkedArray speak the Arrow interface
# too, but as one non-struct column: `from_arrow` and every verb and serializer that took
# them raised pyarrow's ArrowInvalid ("ArrowSchema describes non-struct type double").


def _columns() -> list[tuple[str, Any]]:
    pl = pytest.importorskip("polars")
    return [
        ("pandas", pd.Series([1.5, -0.0, 3.0], name="x")),
        ("polars", pl.Series("x", [1.5, -0.0, 3.0])),
        ("array", pa.array([1.5, -0.0, 3.0])),
        ("chunked", pa.chunked_array([[1.5], [], [-0.0, 3.0]])),
    ]


def test_one_column_reads_as_a_table_of_that_column() -> None:
    want = np.array([[1.5], [-0.0], [3.0]])
    for kind, column in _columns():
        got = smp.from_arrow(column).features["values"]
        assert bits(got) == bits(want), kind
        # the verbs: one record per value, as for the one-column table
        assert smp.encode_request(column, REC) == smp.encode_request(want, REC), kind
        assert smp.encode_request(column, "text/csv") == b"1.5\n-0.0\n3.0", kind
    # a named Series is a column of that name (label=), a pandas one keeps its NaN
    named = smp.from_arrow(pd.Series([1.0, np.nan], name="y", index=[7, 9]), label="y")
    same_floats(named.label["values"], np.array([1.0, np.nan]))
    assert dict(named.features) == {}


def test_the_serializers_write_a_series_as_the_sdk_does() -> None:
    base = pytest.importorskip("sagemaker.base_serializers")
    common = pytest.importorskip("sagemaker.amazon.common")
    from sm_payloads import sdk

    for kind, column in _columns():
        assert sdk.CSVSerializer().serialize(column) == base.CSVSerializer().serialize(column), kind
        # the SDK's RecordSerializer refuses a Series (no reshape): ours writes it as the
        # SDK writes the 1-D array numpy makes of it, one record
        buf = io.BytesIO()
        common.write_numpy_to_dense_tensor(buf, np.asarray(column).reshape(1, -1))
        assert sdk.RecordSerializer().serialize(column).getvalue() == buf.getvalue(), kind


# --------------------------------------------------------------------------------------
# What pyarrow cannot convert is an EncodeError, never pyarrow's own exception
# --------------------------------------------------------------------------------------


def _unconvertible() -> list[tuple[Any, str]]:
    pl = pytest.importorskip("polars")
    return [
        (pd.DataFrame({"a": [1, "x"]}), r"Conversion failed for column a with type object"),
        (pd.DataFrame({"a": np.array([1 + 1j, 2])}), r"Conversion failed for column a with type complex128"),
        (pd.DataFrame(np.ones((2, 2)), columns=["a", "a"]), r"Duplicate column names found"),
        (
            pd.DataFrame({"a": pd.arrays.SparseArray([0, 1.0])}),
            r"Sparse pandas data \(column a\) not supported",
        ),
        (pl.DataFrame({"x": pl.Series([1], dtype=pl.Int128)}), r"unsupported format string"),
    ]


def test_what_pyarrow_cannot_convert_is_an_encode_error() -> None:
    from sm_payloads import sdk

    for frame, message in _unconvertible():
        prefix = rf"cannot read this DataFrame as Arrow data: .*{message}"
        with pytest.raises(smp.EncodeError, match="^" + prefix):
            smp.from_arrow(frame)
        with pytest.raises(smp.EncodeError, match="^text/csv: " + prefix):
            smp.encode_request(frame, "text/csv")
        with pytest.raises(smp.EncodeError, match=f"^{REC}: " + prefix):
            sdk.RecordSerializer().serialize(frame)


def test_polars_categoricals_decode() -> None:
    pl = pytest.importorskip("polars")
    frame = pl.DataFrame(
        {
            "x": [1.0, 2.0, 3.0],
            "cat": pl.Series(["a", None, "a"], dtype=pl.Categorical),
            "enum": pl.Series(["lo", "hi", "lo"], dtype=pl.Enum(["lo", "hi"])),
        }
    )
    assert smp.from_arrow(frame, label="cat", features=["x"]).label["values"].tolist() == ["a", None, "a"]
    assert smp.from_arrow(frame, label="enum", features=["x"]).label["values"].tolist() == ["lo", "hi", "lo"]
    with pytest.raises(smp.EncodeError, match=r"^cat: is text \(string_view\); features must be numbers"):
        smp.from_arrow(frame, label="enum")


# --------------------------------------------------------------------------------------
# Memory with one big row group
# --------------------------------------------------------------------------------------


def test_memory_is_bounded_with_one_big_row_group(tmp_path: Path) -> None:
    """The same 1.6M x 32 float32 (205 MB of values) as tests/test_cli_arrow.py, written as
    one row group (what a writer with a large row_group_size makes): pyarrow read each
    column chunk of the group whole (a peak near 400 MB); buffered reads keep it under the
    same 300 MB."""
    import subprocess
    import sys

    from .helpers import ROOT

    rows, cols = 1_600_000, 32
    path = tmp_path / "big.parquet"
    block = np.random.default_rng(11).standard_normal((rows, cols), dtype=np.float32)
    pq.write_table(pa.table({f"x{i}": block[:, i] for i in range(cols)}), path, row_group_size=rows)
    assert pq.ParquetFile(path).num_row_groups == 1
    want_first = block[:5].copy()
    del block
    code = (
        "from sm_payloads import cli\n"
        f"code = cli.main(['convert', {str(path)!r}, {str(tmp_path / 'big.rec')!r}, '-q'])\n"
        "hwm = [ln.split()[1] for ln in open('/proc/self/status') if ln.startswith('VmHWM:')][0]\n"
        "print(code, hwm)\n"
    )
    p = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=600, check=False
    )
    code_out, rss_kb = p.stdout.split()
    assert code_out == "0", p.stderr
    assert int(rss_kb) < 300 * 1024, f"peak RSS {int(rss_kb) / 1024:.0f} MB"
    with open(tmp_path / "big.rec", "rb") as f:
        first = next(smp.iter_decode(f, REC, batch_size=5))
    assert bits(first.features["values"]) == bits(want_first)


# --------------------------------------------------------------------------------------
# One convert's Arrow output piped into another
# --------------------------------------------------------------------------------------


def test_arrow_written_to_stdout_is_read_from_stdin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    """`convert x.parquet - --to arrow | convert - y.rec --from arrow`: stdout gets the IPC
    file format, which stdin read as the stream format only ("Expected to read 1330795073
    metadata bytes", the file's magic read as a length)."""
    pq.write_table(_table(), tmp_path / "in.parquet", row_group_size=2)
    capsysbinary.readouterr()
    assert run("convert", str(tmp_path / "in.parquet"), "-", "--to", "arrow", "--label", "y", "-q") == 0
    piped = capsysbinary.readouterr().out
    assert piped[:6] == b"ARROW1"  # the file format

    for data in (piped, _stream_bytes(pa.ipc.open_file(io.BytesIO(piped)).read_all())):

        class Stdin:
            buffer = io.BytesIO(data)

        monkeypatch.setattr("sys.stdin", Stdin)
        out = tmp_path / "out.rec"
        assert run("convert", "-", str(out), "--from", "arrow", "-q") == 0
        back = smp.decode_request(out.read_bytes(), REC)
        t = _table()
        want = np.column_stack(
            [np.array(t.column("a").to_pylist()), np.array(t.column("b").to_pylist(), np.float64)]
        )
        assert bits(back.features["values"]) == bits(want)
        assert back.label["values"].tolist() == t.column("y").to_pylist()
        out.unlink()


def _stream_bytes(table: Any) -> bytes:
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def test_a_column_named_twice_is_refused() -> None:
    t = pa.table({"y": [1.0, 2.0], "x": [3.0, 4.0]})
    # it was stacked twice: a (2, 2) label of one column
    with pytest.raises(smp.EncodeError, match=r"^y: is named twice"):
        smp.from_arrow(t, label=["y", "y"])
    with pytest.raises(smp.EncodeError, match=r"^x: is named twice"):
        smp.from_arrow(t, features=["x", "x"])


# --------------------------------------------------------------------------------------
# Tables of numbers of every primitive type, chunked and sliced, with nulls
# --------------------------------------------------------------------------------------

_TYPES = {
    "int8": (pa.int8(), -(2**7), 2**7 - 1),
    "int16": (pa.int16(), -(2**15), 2**15 - 1),
    "int32": (pa.int32(), -(2**31), 2**31 - 1),
    "int64": (pa.int64(), -(2**63), 2**63 - 1),
    "uint8": (pa.uint8(), 0, 2**8 - 1),
    "uint32": (pa.uint32(), 0, 2**32 - 1),
    "uint64": (pa.uint64(), 0, 2**64 - 1),
    "bool": (pa.bool_(), 0, 1),
    "float16": (pa.float16(), None, None),
    "float32": (pa.float32(), None, None),
    "float64": (pa.float64(), None, None),
}


@st.composite
def _number_tables(draw: st.DrawFn) -> tuple[Any, list[str], list[list[Any]]]:
    n = draw(st.integers(0, 8))
    names = draw(st.lists(st.sampled_from(sorted(_TYPES)), min_size=1, max_size=4))
    cols: dict[str, Any] = {}
    values: list[list[Any]] = []
    for i, kind in enumerate(names):
        t, lo, hi = _TYPES[kind]
        if kind == "bool":
            elem: st.SearchStrategy[Any] = st.booleans()
        elif lo is None:
            width = {"float16": 16, "float32": 32, "float64": 64}[kind]
            elem = st.floats(width=width, allow_nan=False)  # NaN is checked elsewhere
        else:
            near = st.integers(max(lo, -(2**31)), min(hi, 2**31 - 1))
            elem = st.one_of(near, st.integers(lo, hi)) if draw(st.booleans()) else near
        nullable = draw(st.integers(0, 4)) == 0
        col = draw(st.lists(st.one_of(elem, st.none()) if nullable else elem, min_size=n, max_size=n))
        if kind == "float16":
            col = [None if v is None else float(np.float16(v)) for v in col]
        cols[f"c{i}"] = pa.array(col, t)
        values.append(col)
    # chunks at random cuts (empty ones included), then a random slice
    cuts = sorted(draw(st.lists(st.integers(0, n), max_size=3)))
    bounds = [0, *cuts, n]
    table = pa.table(
        {
            name: pa.chunked_array([arr.slice(a, b - a) for a, b in itertools.pairwise(bounds)], arr.type)
            for name, arr in cols.items()
        }
    )
    start = draw(st.integers(0, n))
    stop = draw(st.integers(start, n))
    return table.slice(start, stop - start), names, [v[start:stop] for v in values]


def _tensor_type(kind: str) -> np.dtype[Any]:
    if kind.startswith(("int", "uint", "bool")):
        return np.dtype(np.int32)
    return np.dtype(np.float64 if kind == "float64" else np.float32)


@given(_number_tables())
def test_tables_of_numbers_are_read_by_the_record_rule(case: tuple[Any, list[str], list[list[Any]]]) -> None:
    table, kinds, values = case
    bad = None
    for i, (kind, col) in enumerate(zip(kinds, values, strict=True)):
        if any(v is None for v in col) or (
            _tensor_type(kind) == np.int32 and any(not -(2**31) <= int(v) < 2**31 for v in col)
        ):
            bad = f"c{i}"
            break
    if bad is not None:
        with pytest.raises(smp.EncodeError) as info:
            smp.from_arrow(table)
        assert info.value.column == bad
        return
    got = smp.from_arrow(table).features["values"]
    want_type = np.result_type(*[_tensor_type(k) for k in kinds])
    assert got.dtype == want_type and got.shape == (table.num_rows, len(kinds))
    for j, col in enumerate(values):
        want = np.array([int(v) if isinstance(v, bool) else v for v in col], dtype=object)
        # every value exactly: float64 holds every float32 and int32; float16 is exact in float32
        assert [float(x) for x in got[:, j]] == [float(v) for v in want]
        if want_type == np.int32:
            assert [int(x) for x in got[:, j]] == [int(v) for v in want]


def test_a_feather_v1_file_is_read(tmp_path: Path) -> None:
    """Feather V1 (what pandas' to_feather wrote before pyarrow 0.17) is not Arrow IPC:
    it was "cannot read it as Arrow IPC: Expected to read 826361158 metadata bytes"."""
    import warnings

    feather = pytest.importorskip("pyarrow.feather")
    t = _table()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # pyarrow deprecates writing V1
        feather.write_feather(t, str(tmp_path / "v1.feather"), version=1)
    assert (tmp_path / "v1.feather").read_bytes()[:4] == b"FEA1"
    assert run("convert", str(tmp_path / "v1.feather"), str(tmp_path / "out.rec"), "--label", "y", "-q") == 0
    back = smp.decode_request((tmp_path / "out.rec").read_bytes(), REC)
    want = np.column_stack(
        [np.array(t.column("a").to_pylist()), np.array(t.column("b").to_pylist(), np.float64)]
    )
    assert bits(back.features["values"]) == bits(want)
    assert back.label["values"].tolist() == t.column("y").to_pylist()
