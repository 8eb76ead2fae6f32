"""Arrow in and out: `sm_payloads.from_arrow`, `RecordBatch.to_arrow`, ``__arrow_c_stream__``.

Expected values come from the Arrow data itself (``to_pylist``) or from numpy, never from
the code under test; zero copy is asserted by buffer addresses.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sm_payloads as smp

from .helpers import ROOT, assert_batches_equal, record_batches

pa = pytest.importorskip("pyarrow")

PROPERTY = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def address(a: np.ndarray) -> int:
    return int(a.__array_interface__["data"][0])


def data_address(arr: Any) -> int:
    """The address of a primitive Arrow array's first value (its slice offset counted)."""
    return int(arr.buffers()[1].address + arr.offset * arr.type.bit_width // 8)


# --------------------------------------------------------------------------------------
# Round trips
# --------------------------------------------------------------------------------------


@PROPERTY
@given(record_batches(min_records=0))
def test_from_arrow_of_to_arrow_is_the_batch(batch: smp.RecordBatch) -> None:
    assert_batches_equal(smp.from_arrow(batch.to_arrow()), batch)


# Arrow's names are UTF-8: no NUL (the C interface's strings end there), no lone surrogate
_C_NAMES = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=6)


@PROPERTY
@given(record_batches(min_records=0, names=_C_NAMES))
def test_the_c_stream_carries_the_same_table(batch: smp.RecordBatch) -> None:
    table = pa.table(batch)  # through RecordBatch.__arrow_c_stream__
    assert table.schema.equals(batch.to_arrow().schema, check_metadata=True)
    assert_batches_equal(smp.from_arrow(table), batch)


@PROPERTY
@given(record_batches(kinds=("dense", "ragged", "strings"), names=st.sampled_from(["values", "a", "b c"])))
def test_polars_reads_the_batch_and_gives_it_back(batch: smp.RecordBatch) -> None:
    pl = pytest.importorskip("polars")
    if any(
        0 in c.shape[1:]
        for m in (batch.features, batch.label)
        for c in m.values()
        if isinstance(c, np.ndarray)
    ):
        return  # polars has no Array of width 0
    frame = pl.DataFrame(batch)
    assert frame.columns == batch.to_arrow().column_names
    assert_batches_equal(smp.from_arrow(frame), batch)


def test_a_name_the_c_interface_would_cut_is_refused() -> None:
    batch = smp.RecordBatch({"a\x00b": np.ones((1, 1))})
    assert batch.to_arrow().column_names == ["features.a\x00b"]  # pyarrow itself keeps it
    with pytest.raises(smp.EncodeError, match="a name with a NUL character cannot cross") as e:
        pa.table(batch)
    assert e.value.column == "features.a\x00b"


def test_to_arrow_maps_each_kind() -> None:
    ragged = smp.Ragged.from_lists([[1, 2], None, [3]], dtype="int32")
    batch = smp.RecordBatch(
        {
            "values": np.arange(6, dtype=np.float32).reshape(3, 2),
            "cube": np.zeros((3, 2, 2)),
            "r": ragged,
            "s": smp.Sparse(sp.csr_array(np.eye(3, 6, dtype=np.float32)), (2, 3)),
        },
        {"values": np.array([0.5, 1.5, 2.5]), "tag": np.array(["a", None, ["b", "c"]], dtype=object)},
        uid=["u0", None, "u2"],
    )
    t = batch.to_arrow()
    assert t.column_names == [
        "features.values",
        "features.cube",
        "features.r",
        "features.s",
        "label.values",
        "label.tag",
        "uid",
    ]
    assert [str(f.type) for f in t.schema] == [
        "fixed_size_list<item: float>[2]",
        "fixed_size_list<item: fixed_size_list<item: double>[2]>[2]",
        "large_list<item: int32>",
        "struct<keys: large_list<item: int32>, values: large_list<item: float>>",
        "double",
        "large_list<item: string>",
        "string",
    ]
    assert t.schema.field("features.s").metadata == {b"sm_payloads.shape": b"[2, 3]"}
    assert t.column("features.values").to_pylist() == [[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]]
    assert t.column("features.r").to_pylist() == [[1, 2], None, [3]]
    assert t.column("features.s").to_pylist() == [
        {"keys": [0], "values": [1.0]},
        {"keys": [1], "values": [1.0]},
        {"keys": [2], "values": [1.0]},
    ]
    assert t.column("label.tag").to_pylist() == [["a"], None, ["b", "c"]]
    assert t.column("uid").to_pylist() == ["u0", None, "u2"]
    assert_batches_equal(smp.from_arrow(t), batch)


def test_a_batch_without_columns_keeps_its_length() -> None:
    t = smp.RecordBatch(n=4).to_arrow()
    assert (t.num_rows, t.num_columns) == (4, 0)
    assert len(smp.from_arrow(t)) == 4


# --------------------------------------------------------------------------------------
# Zero copy
# --------------------------------------------------------------------------------------


def test_dense_columns_share_memory_both_ways() -> None:
    X = np.arange(3000, dtype=np.float32).reshape(1000, 3)
    y = np.arange(1000, dtype=np.float64)
    t = smp.from_dense(X, y).to_arrow()
    fsl = t.column("features.values").chunk(0)
    assert data_address(fsl.flatten()) == address(X)
    assert data_address(t.column("label.values").chunk(0)) == address(y)
    back = smp.from_arrow(t)
    assert address(back.features["values"]) == address(X)
    assert address(back.label["values"]) == address(y)


def test_ragged_values_and_offsets_share_memory_both_ways() -> None:
    r = smp.Ragged(np.arange(10, dtype=np.float64), np.array([0, 4, 4, 10]))
    t = smp.RecordBatch({"r": r}).to_arrow()
    arr = t.column("features.r").chunk(0)
    assert data_address(arr.values) == address(r.values)
    assert int(arr.buffers()[1].address) == address(r.offsets)
    back = smp.from_arrow(t).features["r"]
    assert address(back.values) == address(r.values)
    assert address(back.offsets) == address(r.offsets)


def test_a_users_table_of_one_column_is_a_view() -> None:
    a = np.linspace(0, 1, 500, dtype=np.float32)
    b = smp.from_arrow(pa.table({"x": a}))
    assert b.features["values"].shape == (500, 1)
    assert address(b.features["values"]) == address(a)


def test_a_sliced_table_is_read_at_its_offset_without_a_copy() -> None:
    X = np.arange(40, dtype=np.int32).reshape(10, 4)
    t = smp.from_dense(X).to_arrow().slice(3, 4)
    got = smp.from_arrow(t).features["values"]
    assert got.tolist() == X[3:7].tolist()
    assert address(got) == address(X) + 3 * 4 * 4


def test_several_chunks_are_concatenated_once() -> None:
    t = pa.concat_tables([pa.table({"x": np.array([1.5, 2.5])}), pa.table({"x": np.array([3.5])})])
    assert t.column("x").num_chunks == 2
    b = smp.from_arrow(t)
    assert b.features["values"].tolist() == [[1.5], [2.5], [3.5]]


@PROPERTY
@given(record_batches(min_records=2), st.data())
def test_a_chunked_table_gives_the_same_batch(batch: smp.RecordBatch, data: st.DataObject) -> None:
    cut = data.draw(st.integers(0, len(batch)))
    t = batch.to_arrow()
    if t.num_columns == 0:
        return  # concat_tables keeps no rows without columns
    chunked = pa.concat_tables([t.slice(0, cut), t.slice(cut)])
    assert_batches_equal(smp.from_arrow(chunked), batch)


# --------------------------------------------------------------------------------------
# Tables of numbers: label, features, dtype
# --------------------------------------------------------------------------------------


def test_label_and_features_are_picked_by_name() -> None:
    t = pa.table({"a": [1.0, 2.0], "y": [0, 1], "b": pa.array([3, 4], pa.int8()), "c": [5.5, 6.5]})
    b = smp.from_arrow(t, label="y", features=["c", "a"])
    assert b.features["values"].dtype == np.float64
    assert b.features["values"].tolist() == [[5.5, 1.0], [6.5, 2.0]]
    assert b.label["values"].dtype == np.int32 and b.label["values"].tolist() == [0, 1]
    both = smp.from_arrow(t, label=["y", "b"])
    assert both.label["values"].tolist() == [[0, 3], [1, 4]]
    assert both.features["values"].tolist() == [[1.0, 5.5], [2.0, 6.5]]


def test_numbers_and_fixed_size_lists_are_stacked() -> None:
    fsl = pa.FixedSizeListArray.from_arrays(pa.array(np.arange(4, dtype=np.float32)), 2)
    t = pa.table({"a": pa.array([7, 8], pa.int32()), "v": fsl, "f": pa.array([True, False])})
    got = smp.from_arrow(t).features["values"]
    assert got.dtype == np.float64  # int32 and float32 side by side: float64 holds both
    assert got.tolist() == [[7.0, 0.0, 1.0, 1.0], [8.0, 2.0, 3.0, 0.0]]


def test_dtype_converts_every_numeric_column() -> None:
    t = pa.table({"a": [0.1, 2.0], "y": [1.0, 0.0]})
    b = smp.from_arrow(t, label="y", dtype="float32")
    assert b.features["values"].tolist() == [[float(np.float32(0.1))], [2.0]]
    assert b.label["values"].dtype == np.float32
    assert smp.from_arrow(pa.table({"a": [1.0, -3.0]}), dtype="int32").features["values"].tolist() == [
        [1],
        [-3],
    ]
    with pytest.raises(smp.EncodeError, match=r"value 0\.5 is not an int32") as e:
        smp.from_arrow(pa.table({"a": [1.0, 0.5]}), dtype="int32")
    assert e.value.column == "a"
    with pytest.raises(ValueError, match="dtype must be float32, float64 or int32"):
        smp.from_arrow(t, dtype="int64")


def test_integers_beyond_int32_are_refused_without_dtype() -> None:
    with pytest.raises(smp.EncodeError, match="value 4294967296 of dtype int64 does not fit int32") as e:
        smp.from_arrow(pa.table({"big": pa.array([1, 2**32], pa.int64())}))
    assert e.value.column == "big"


def test_a_text_feature_column_is_named() -> None:
    t = pa.table({"x": [1.0, 2.0], "city": ["Paris", "Oslo"]})
    with pytest.raises(smp.EncodeError, match=r"is text \(string\); features must be numbers") as e:
        smp.from_arrow(t)
    assert e.value.column == "city"
    b = smp.from_arrow(t, label="city")  # text is a label
    assert b.label["values"].tolist() == ["Paris", "Oslo"]


def test_dictionary_columns_are_decoded() -> None:
    t = pa.table(
        {
            "x": pa.array([3, 1, 3], pa.int16()).dictionary_encode(),
            "y": pa.array(["cat", "dog", "cat"]).dictionary_encode(),
        }
    )
    b = smp.from_arrow(t, label="y")
    assert b.features["values"].tolist() == [[3], [1], [3]]
    assert b.label["values"].tolist() == ["cat", "dog", "cat"]


def test_a_list_column_is_ragged_and_a_null_list_a_missing_key() -> None:
    t = pa.table({"seq": pa.array([[1.5, 2.5], None, [], [4.0]], pa.list_(pa.float32()))})
    r = smp.from_arrow(t).features["values"]
    assert isinstance(r, smp.Ragged)
    assert r.to_lists() == [[1.5, 2.5], None, [], [4.0]]
    assert r.values.dtype == np.float32


def test_a_null_list_covering_values_drops_them() -> None:
    # Arrow lets a null list span values; the batch's missing record has none
    arr = pa.ListArray.from_arrays(pa.array([0, 2, 3, 5], pa.int32()), pa.array([1.0, 2.0, 3.0, 4.0, 5.0]))
    masked = pa.ListArray.from_arrays(arr.offsets, arr.values, mask=pa.array([False, True, False]))
    r = smp.from_arrow(pa.table({"s": masked})).features["values"]
    assert r.to_lists() == [[1.0, 2.0], None, [4.0, 5.0]]
    assert r.offsets.tolist() == [0, 2, 2, 4]


def test_a_pandas_index_is_not_a_feature() -> None:
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"a": [1.0, 2.0]}, index=["r1", "r2"])
    assert smp.from_arrow(df).features["values"].tolist() == [[1.0], [2.0]]


def test_pyarrow_polars_and_pandas_give_equal_batches() -> None:
    pd = pytest.importorskip("pandas")
    pl = pytest.importorskip("polars")
    cols = {"y": [0.0, 1.0, 1.0], "a": [1.5, -2.0, 3.25], "b": [4, 5, 6]}
    want = smp.from_dense(np.array([[1.5, 4], [-2.0, 5], [3.25, 6]]), np.array([0.0, 1.0, 1.0]))
    for frame in (pa.table(cols), pa.record_batch(cols), pl.DataFrame(cols), pd.DataFrame(cols)):
        assert_batches_equal(smp.from_arrow(frame, label="y"), want)


# --------------------------------------------------------------------------------------
# Nulls and refusals
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (pa.array([1.0, None, 3.0]), r"record 1: null; a column of double holds no missing values"),
        (
            pa.array([[1.0], None, [2.0]], pa.list_(pa.float64(), 1)),
            r"record 1: null; a column of fixed_size_list",
        ),
        (
            pa.array([[1.0], [None], [2.0]], pa.list_(pa.float64(), 1)),
            r"record 1: a null inside a fixed-size list",
        ),
        (pa.array([[1.0], [2.0, None], []], pa.list_(pa.float64())), r"record 1: a null inside a list"),
        (
            pa.array([1, 2, 3], pa.decimal128(5, 2)),
            r"Arrow type decimal128\(5, 2\) has no record.proto tensor",
        ),
        (pa.array([1, 2, 3], pa.timestamp("s")), r"Arrow type timestamp\[s\] has no record.proto tensor"),
        (pa.array([[[1]], [[2]], []], pa.list_(pa.list_(pa.int32()))), r"Arrow type list<item: list"),
    ],
)
def test_what_a_batch_cannot_hold_is_an_error_naming_the_column(array: Any, message: str) -> None:
    with pytest.raises(smp.EncodeError, match=message) as e:
        smp.from_arrow(pa.table({"bad col": array}))
    assert e.value.column == "bad col"


def test_a_list_column_beside_others_is_refused() -> None:
    t = pa.table({"a": [1.0, 2.0], "seq": pa.array([[1.0], []])})
    with pytest.raises(smp.EncodeError, match="is features only as the one features column") as e:
        smp.from_arrow(t)
    assert e.value.column == "seq"


def test_to_arrow_layout_refuses_other_columns_and_label_options() -> None:
    t = smp.from_dense(np.ones((2, 2))).to_arrow().append_column("extra", pa.array([1, 2]))
    with pytest.raises(smp.EncodeError, match="holds only those and uid, metadata, configuration") as e:
        smp.from_arrow(t)
    assert e.value.column == "extra"
    with pytest.raises(smp.EncodeError, match="label= and features= pick columns of a table of numbers"):
        smp.from_arrow(smp.from_dense(np.ones((2, 2))).to_arrow(), label="features.values")


def test_unknown_columns_and_non_arrow_data() -> None:
    with pytest.raises(smp.EncodeError, match=r"no such column \(columns: a\)") as e:
        smp.from_arrow(pa.table({"a": [1.0]}), label="y")
    assert e.value.column == "y"
    with pytest.raises(TypeError, match="cannot read list as Arrow data"):
        smp.from_arrow([[1.0]])


#: Arrow types a table of numbers may hold, each with a way to draw its values (all within
#: int32 for the integers, so every accepted type converts), and what numpy dtype the batch
#: gives it (record.proto's types, by the record's rules).
_ACCEPTED: dict[str, tuple[Any, Any, Any]] = {
    "int8": (pa.int8(), st.integers(-128, 127), np.int32),
    "uint16": (pa.uint16(), st.integers(0, 2**16 - 1), np.int32),
    "int32": (pa.int32(), st.integers(-(2**31), 2**31 - 1), np.int32),
    "int64": (pa.int64(), st.integers(-(2**31), 2**31 - 1), np.int32),
    "uint64": (pa.uint64(), st.integers(0, 2**31 - 1), np.int32),
    "bool": (pa.bool_(), st.booleans(), np.int32),
    "float16": (pa.float16(), st.floats(-1000, 1000, width=16), np.float32),
    "float32": (pa.float32(), st.floats(width=32), np.float32),
    "float64": (pa.float64(), st.floats(), np.float64),
}
_REFUSED: dict[str, tuple[Any, Any]] = {
    "string": (pa.string(), st.text(max_size=3)),
    "large_string": (pa.large_string(), st.text(max_size=3)),
    "binary": (pa.binary(), st.binary(max_size=3)),
    "date32": (pa.date32(), st.dates()),
    "decimal": (pa.decimal128(6, 2), st.decimals(-9999, 9999, places=2)),
}


@st.composite
def arrow_tables(draw: st.DrawFn) -> tuple[Any, Any]:
    """A table of 1-4 columns (numbers, fixed-size lists of numbers, or refused types; some
    with nulls; some chunked), and the outcome the rules give: the column an error names,
    or the expected (N, k) array built from the values with numpy."""
    n = draw(st.integers(0, 5))
    names = [f"c{i}" for i in range(draw(st.integers(1, 4)))]
    arrays, expected, error = [], [], None
    for name in names:
        refused = draw(st.booleans()) and draw(st.booleans())
        if refused:
            t, elements = _REFUSED[draw(st.sampled_from(sorted(_REFUSED)))]
            values = draw(st.lists(elements, min_size=n, max_size=n))
            arrays.append(pa.array(values, t))
            error = error or name
            continue
        t, elements, dtype = _ACCEPTED[draw(st.sampled_from(sorted(_ACCEPTED)))]
        width = draw(st.none() | st.integers(1, 3))
        rows = draw(
            st.lists(st.lists(elements, min_size=width or 1, max_size=width or 1), min_size=n, max_size=n)
        )
        nulls = n > 0 and draw(st.integers(0, 4)) == 0
        if width is None:
            py: list[Any] = [r[0] for r in rows]
            if nulls:
                py[draw(st.integers(0, n - 1))] = None
            arr = pa.array(py, t)
        else:
            py = list(rows)
            if nulls:
                py[draw(st.integers(0, n - 1))] = None
            arr = pa.array(py, pa.list_(t, width))
        if nulls:
            error = error or name
        arrays.append(arr)
        block = np.array([[float(v) if dtype != np.int32 else int(v) for v in r] for r in rows], dtype=dtype)
        expected.append(block.reshape(n, width or 1))
    table = pa.table(dict(zip(names, arrays, strict=True)))
    if n >= 2 and draw(st.booleans()):
        cut = draw(st.integers(1, n - 1))
        table = pa.concat_tables([table.slice(0, cut), table.slice(cut)])
    if error is not None:
        return table, error
    return table, np.concatenate(expected, axis=1, dtype=np.result_type(*expected))


@PROPERTY
@given(arrow_tables())
def test_tables_of_numbers_follow_the_rules(case: tuple[Any, Any]) -> None:
    table, outcome = case
    if isinstance(outcome, str):
        with pytest.raises(smp.EncodeError) as e:
            smp.from_arrow(table)
        assert e.value.column == outcome
        return
    got = smp.from_arrow(table).features["values"]
    assert got.dtype == outcome.dtype
    assert np.array_equal(got, outcome, equal_nan=True)
    assert np.array_equal(np.signbit(got), np.signbit(outcome))


# --------------------------------------------------------------------------------------
# Without pyarrow
# --------------------------------------------------------------------------------------


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_import_leaves_pyarrow_unloaded() -> None:
    r = _run("import sys, sm_payloads, sm_payloads.arrow; print('pyarrow' in sys.modules)")
    assert r.stdout.strip() == "False", r.stderr


def test_arrow_in_and_out_leave_pandas_unloaded() -> None:
    """``pa.array`` of a numpy array imports pandas (0.4 s of the CLI's start-up): to_arrow
    builds its arrays from buffers, and from_arrow reads buffers, so neither loads it."""
    pytest.importorskip("pandas")
    code = """
import sys
import numpy as np, scipy.sparse as sp, sm_payloads as smp
b = smp.RecordBatch(
    {"values": np.ones((3, 2), np.float32), "r": smp.Ragged(np.arange(3.0), np.array([0, 1, 1, 3])),
     "s": sp.csr_array(np.eye(3, dtype=np.float32)), "m": np.array([True, False, True])},
    {"values": np.arange(3, dtype=np.int32)}, n=3)
back = smp.from_arrow(b.to_arrow())
print(back.features["s"].toarray().tolist(), back.features["r"].values.tolist(), "pandas" in sys.modules)
"""
    r = _run(code)
    want = "[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]] [0.0, 1.0, 2.0] False"
    assert r.stdout.strip() == want, r.stderr


def test_without_pyarrow_everything_else_works_and_arrow_says_what_to_install() -> None:
    code = """
import sys
sys.modules["pyarrow"] = None  # import pyarrow now fails
import numpy as np, sm_payloads as smp
body = smp.encode_request(np.ones((2, 2), np.float32), "text/csv")
print(body)
for call in (lambda: smp.from_arrow(object()), lambda: smp.from_dense(np.ones((1, 1))).to_arrow()):
    try:
        call()
    except ImportError as e:
        print(e)
"""
    r = _run(code)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        "b'1.0,1.0\\n1.0,1.0'",
        'pyarrow is needed for Arrow, Parquet and DataFrame data: pip install "sm_payloads[arrow]"',
        'to_arrow needs pyarrow: pip install "sm_payloads[arrow]"',
    ]


# --------------------------------------------------------------------------------------
# DataFrames into the verbs and the SDK drop-ins
# --------------------------------------------------------------------------------------


def _frames(cols: dict[str, Any]) -> list[Any]:
    pd = pytest.importorskip("pandas")
    pl = pytest.importorskip("polars")
    return [pa.table(cols), pa.record_batch(cols), pl.DataFrame(cols), pd.DataFrame(cols)]


@pytest.mark.parametrize("content_type", ["text/csv", "application/x-recordio-protobuf", "application/json"])
def test_encode_request_takes_a_frame_as_its_matrix(content_type: str) -> None:
    cols = {"a": np.array([0.1, 2.0, -3.5]), "b": np.array([1e-7, 5.0, 6.25])}
    want = smp.encode_request(np.column_stack([cols["a"], cols["b"]]), content_type)
    for frame in _frames(cols):
        assert smp.encode_request(frame, content_type) == want


def test_encode_response_takes_a_frame_of_outputs() -> None:
    cols = {"predicted_label": [1.0, 0.0], "score": [0.75, 0.25]}
    want = smp.encode_response(
        [{"predicted_label": 1.0, "score": 0.75}, {"predicted_label": 0.0, "score": 0.25}], "application/json"
    )
    for frame in _frames(cols):
        assert smp.encode_response(frame, "application/json") == want


def test_a_text_column_in_a_request_names_the_column_and_the_type() -> None:
    pl = pytest.importorskip("polars")
    with pytest.raises(smp.EncodeError, match=r"^text/csv: city: is text") as e:
        smp.encode_request(pl.DataFrame({"x": [1.0], "city": ["Oslo"]}), "text/csv")
    assert e.value.column == "city"


_SDK_FRAMES = [
    {"a": [0.1, 1e16, 1e-7, 2.0], "b": [3.0, -0.0, float("inf"), 5e-324]},
    {"a": np.array([0.1, 1e16, 1e-7, 2.0], np.float32)},
    {"a": [1, 2, -3], "b": [7, 8, 9]},
]


@pytest.mark.sdk
@pytest.mark.parametrize("cols", _SDK_FRAMES)
def test_csv_serializer_writes_any_frame_as_the_sdk_writes_a_pandas_one(cols: dict[str, Any]) -> None:
    pd = pytest.importorskip("pandas")
    sdk_serializers = pytest.importorskip("sagemaker.serializers")
    want = sdk_serializers.CSVSerializer().serialize(pd.DataFrame(cols))
    for frame in _frames(cols):
        assert smp.sdk.CSVSerializer().serialize(frame) == want


@pytest.mark.sdk
@pytest.mark.parametrize("cols", _SDK_FRAMES)
def test_record_serializer_writes_a_frame_as_the_sdk_writes_its_matrix(cols: dict[str, Any]) -> None:
    pd = pytest.importorskip("pandas")
    common = pytest.importorskip("sagemaker.amazon.common")
    import io

    buf = io.BytesIO()
    common.write_numpy_to_dense_tensor(buf, pd.DataFrame(cols).to_numpy())
    for frame in _frames(cols):
        assert smp.sdk.RecordSerializer().serialize(frame).getvalue() == buf.getvalue()
