"""RecordBatch, Record, Tensor, Ragged: construction rules, views, equality, joins."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given

import sm_payloads as smp
from sm_payloads.columns import as_tensor_dtype

from .helpers import record_batches


def test_batch_is_columnar_and_read_only() -> None:
    X = np.arange(6, dtype=np.float32).reshape(3, 2)
    b = smp.from_dense(X, np.array([0, 1, 2], np.float32))
    assert len(b) == 3
    assert b.features["values"].shape == (3, 2)
    with pytest.raises(ValueError):
        b.features["values"][0, 0] = 5
    with pytest.raises(TypeError):
        b.features["x"] = X  # type: ignore[index]
    with pytest.raises(AttributeError):
        b.uid = ["a"] * 3  # type: ignore[misc]


def test_row_view_mirrors_record_proto() -> None:
    X = sp.csr_array(np.array([[0, 2.5, 0], [0, 0, 0]], np.float32))
    b = smp.from_sparse(X, np.array([1, 0], np.int64))
    r = b[0]
    assert r.features["values"].keys.tolist() == [1]
    assert r.features["values"].values.tolist() == [2.5]
    assert r.features["values"].shape == (3,)
    assert r.label["values"].values.dtype == np.int32
    assert r.label["values"].shape == ()
    assert b[-1].features["values"].values.size == 0
    assert b[1].features["values"].to_dense().tolist() == [0, 0, 0]
    with pytest.raises(IndexError):
        b[2]


@pytest.mark.parametrize(
    ("dtype", "expected"),
    [
        (np.bool_, np.int32),
        (np.int8, np.int32),
        (np.int16, np.int32),
        (np.uint8, np.int32),
        (np.uint16, np.int32),
        (np.float16, np.float32),
        (np.int64, np.int32),
        (np.uint32, np.int32),
        (np.uint64, np.int32),
        (np.float32, np.float32),
        (np.float64, np.float64),
    ],
)
def test_lossless_dtype_conversion(dtype: type, expected: type) -> None:
    a = np.array([0, 1], dtype=dtype)
    assert as_tensor_dtype(a, "c").dtype == expected


@pytest.mark.parametrize(
    ("values", "dtype", "first"),
    [
        ([1, 2**31], np.int64, 2**31),
        ([-(2**31) - 1], np.int64, -(2**31) - 1),
        ([2**32 - 1], np.uint32, 2**32 - 1),
    ],
)
def test_int_that_does_not_fit_int32_is_an_encode_error(values: list[int], dtype: type, first: int) -> None:
    with pytest.raises(smp.EncodeError) as e:
        smp.from_dense(np.array([values], dtype=dtype))
    assert e.value.column == "features['values']"
    assert str(first) in str(e.value)
    assert e.value.status_hint == 400


@pytest.mark.parametrize("dtype", [np.complex64, np.float128 if hasattr(np, "float128") else np.longdouble])
def test_dtypes_without_a_lossless_tensor_type_are_refused(dtype: type) -> None:
    with pytest.raises(smp.EncodeError):
        smp.from_dense(np.zeros((1, 2), dtype=dtype))


def test_columns_must_agree_on_n() -> None:
    with pytest.raises(smp.EncodeError, match=r"label\['values'\]: has 2 rows but the batch has 3"):
        smp.RecordBatch({"values": np.zeros((3, 2))}, {"values": np.zeros(2)})
    with pytest.raises(smp.EncodeError, match="uid: has 1 entries"):
        smp.RecordBatch({"values": np.zeros((3, 2))}, uid=["a"])


def test_strings_column_validation() -> None:
    col = np.array(["cat", None, ["a", "b"]], dtype=object)
    b = smp.RecordBatch(label={"predicted_label": col})
    assert b[0].label["predicted_label"].values.tolist() == ["cat"]
    assert "predicted_label" not in b[1].label
    assert b[2].label["predicted_label"].values.tolist() == ["a", "b"]
    with pytest.raises(smp.EncodeError, match="record 0"):
        smp.RecordBatch(label={"x": np.array([1.5, "a"], dtype=object)})


def test_ragged() -> None:
    r = smp.Ragged.from_lists([[1, 2], [], None, [3]], dtype=np.int32)
    assert len(r) == 4
    assert r.to_lists() == [[1, 2], [], None, [3]]
    assert r.lengths.tolist() == [2, 0, 0, 1]
    assert r.take(1, 4).to_lists() == [[], None, [3]]
    with pytest.raises(ValueError, match="offsets"):
        smp.Ragged(np.zeros(3), np.array([0, 4]))


def test_equality_is_nan_aware_and_bitwise_on_request() -> None:
    a = smp.from_dense(np.array([[np.nan, 0.0]], np.float32))
    b = smp.from_dense(np.array([[np.nan, -0.0]], np.float32))
    assert a == b
    assert not a.equals(b, bitwise=True)
    assert a.equals(a, bitwise=True)
    assert a != smp.from_dense(np.array([[np.nan, 0.0]], np.float64))


@given(record_batches())
def test_slices_concat_and_from_records_give_back_the_batch(batch: smp.RecordBatch) -> None:
    n = len(batch)
    cut = n // 2
    joined = smp.RecordBatch.concat([batch[:cut], batch[cut:]])
    assert joined.equals(batch, bitwise=True)
    rebuilt = smp.RecordBatch.from_records(list(batch))
    assert len(rebuilt) == n
    for i in range(n):
        assert rebuilt[i] == batch[i]


def test_concat_mixes_dense_and_ragged_rows() -> None:
    a = smp.RecordBatch({"x": np.ones((2, 3), np.float32)})
    b = smp.RecordBatch({"x": smp.Ragged.from_lists([[1.0]], dtype=np.float32)})
    c = smp.RecordBatch.concat([a, b])
    assert isinstance(c.features["x"], smp.Ragged)
    assert c.features["x"].to_lists() == [[1, 1, 1], [1, 1, 1], [1]]
    with pytest.raises(ValueError, match="dtypes"):
        smp.RecordBatch.concat([a, smp.RecordBatch({"x": np.ones((1, 3), np.float64)})])


def test_to_numpy_and_to_scipy() -> None:
    X = np.array([[1, 0], [0, 2]], np.float32)
    assert smp.from_sparse(sp.csr_matrix(X)).to_numpy().tolist() == X.tolist()
    assert smp.from_dense(X).to_scipy().toarray().tolist() == X.tolist()
    assert smp.RecordBatch({"values": np.array([1.0, 2.0])}).to_numpy().shape == (2, 1)


def test_from_dense_and_from_sparse_reject_bad_shapes() -> None:
    with pytest.raises(smp.EncodeError, match="1-D or 2-D"):
        smp.from_dense(np.zeros((1, 2, 3)))
    with pytest.raises(smp.EncodeError, match="labels of shape"):
        smp.from_dense(np.zeros((3, 2)), np.zeros(2))
    with pytest.raises(smp.EncodeError, match=r"scipy\.sparse"):
        smp.from_sparse(np.zeros((2, 2)))
    assert len(smp.from_dense(np.zeros(4))) == 1


@pytest.mark.parametrize("dt", [">f8", ">f4", ">i4", ">i8", ">u2", ">f2"])
def test_regression_big_endian_columns_are_accepted(dt: str) -> None:
    """Found by the npy codec: non-native byte order was refused as 'cannot be stored'."""
    a = np.array([[1, 2], [3, 4]], dtype=dt)
    col = smp.RecordBatch({"v": a}).features["v"]
    assert col.dtype.isnative and col.tolist() == [[1, 2], [3, 4]]
    assert col.dtype.kind == ("f" if "f" in dt else "i")


def test_to_numpy_of_an_empty_body_is_zero_by_zero() -> None:
    assert smp.RecordBatch(n=0).to_numpy().shape == (0, 0)
    with pytest.raises(KeyError):
        smp.RecordBatch({"x": np.ones((2, 1))}).to_numpy()


def test_concat_joins_empty_dense_records_with_sparse_ones_as_empty_rows() -> None:
    # Found by fuzzing: a record with no values and no shape reads as dense (1, 0) in a batch
    # of its own and as an empty sparse row beside sparse records, so iter_decode's batches
    # must join into what decode gives.
    m = sp.csr_array(np.array([[0, 2, 0]], np.float32))
    a = smp.RecordBatch(features={"values": m})
    b = smp.RecordBatch(features={"values": np.zeros((2, 0), np.float32)})
    got = smp.RecordBatch.concat([b, a]).features["values"]
    assert got.shape == (3, 3)
    assert got.toarray().tolist() == [[0, 0, 0], [0, 0, 0], [0, 2, 0]]
    m2 = smp.Sparse(sp.csr_array(np.array([[0, 0, 0, 1]], np.int32)), (2, 2))
    got2 = smp.RecordBatch.concat(
        [smp.RecordBatch(features={"x": m2}), smp.RecordBatch(features={"x": np.zeros((1, 0), np.int32)})]
    ).features["x"]
    assert isinstance(got2, smp.Sparse) and got2.shape == (2, 2)
    assert got2.matrix.toarray().tolist() == [[0, 0, 0, 1], [0, 0, 0, 0]]
    with pytest.raises(ValueError, match="cannot join columns of kinds"):
        smp.RecordBatch.concat([a, smp.RecordBatch(features={"values": np.zeros((1, 3), np.float32)})])


def test_concat_joins_empty_dense_records_of_any_rank_with_sparse_ones() -> None:
    # Found by CI's short fuzz run: a record of shape [0, 48] and no values is an empty
    # sparse row in decode, a dense (1, 0, 48) block in a batch of its own.
    m = sp.csr_array(np.array([[0, 2, 0]], np.float64))
    got = smp.RecordBatch.concat(
        [smp.RecordBatch(features={"values": m}), smp.RecordBatch(features={"values": np.zeros((1, 0, 48))})]
    ).features["values"]
    assert got.shape == (2, 3)
    assert got.toarray().tolist() == [[0, 2, 0], [0, 0, 0]]


def test_concat_joins_empty_dense_rows_with_strings_as_empty_lists() -> None:
    """JSON Lines ``{"values": ""}`` then ``{"values": []}``: read together, the empty list is
    an empty list of strings; read in batches of one, the second is a dense (1, 0) row
    (found by tests/test_codecs.py's chunked-equals-whole property)."""
    body = b'{"label":{"values":""}}\n{"label":{"values":[]}}\n'
    whole = smp.decode_request(body, "application/jsonlines")
    parts = list(smp.iter_decode(body, "application/jsonlines", batch_size=1))
    assert parts[1].label["values"].shape == (1, 0)
    joined = smp.RecordBatch.concat(parts)
    assert joined.label["values"].tolist() == ["", []]
    assert joined == whole
    # ... and a record without the key beside it (a ragged batch of its own) stays None
    body = b'{"label":{"values":""}}\n{"label":{}}\n{"label":{"values":[]}}\n'
    parts = list(smp.iter_decode(body, "application/jsonlines", batch_size=1))
    parts = [parts[0], smp.RecordBatch.concat(parts[1:])]
    assert isinstance(parts[1].label["values"], smp.Ragged)
    joined = smp.RecordBatch.concat(parts)
    assert joined.label["values"].tolist() == ["", None, []]
    assert joined == smp.decode_request(body, "application/jsonlines")


@pytest.mark.parametrize(
    ("body", "reason", "record"),
    [
        (b'{"f":[[1]]}\n{"f":[[1],[2]]}', "records have different shapes ([2, 1] vs [1, 1])", 1),
        (
            b'{"f":[[1],[2]]}\n{"g":1}\n{"f":[[1],[2]]}',
            "no tensor in this record, while others have shape [2, 1]",
            1,
        ),
    ],
)
def test_records_of_rank_two_that_differ_name_the_record_that_differs(
    body: bytes, reason: str, record: int
) -> None:
    with pytest.raises(smp.DecodeError) as e:
        smp.decode_request(body, "application/jsonlines")
    assert e.value.reason == f"features['f']: {reason} (a RecordBatch column holds one kind of value)"
    assert (e.value.record_index, e.value.line) == (record, 2)


# -- the plain-array shortcut of RecordBatch.__post_init__ -------------------------------


@pytest.mark.parametrize(
    "dtype", ["<f4", "<f8", "<i4", ">f4", ">f8", ">i4", "f2", "u1", "i8", "u4", "?", "U3", "O"]
)
@pytest.mark.parametrize("shape", [(3,), (3, 2), (3, 2, 2), (0, 4)])
def test_a_batch_stores_what_normalize_column_returns(dtype: str, shape: tuple[int, ...]) -> None:
    """Plain arrays of a tensor dtype in native byte order take a shortcut; every column
    must come out as normalize_column makes it: same dtype, values, shape, read-only."""
    from sm_payloads.columns import normalize_column

    rng = np.random.default_rng(7)
    if dtype == "O":
        if len(shape) != 1:
            return
        a = np.array(["a", None, "c"], dtype=object)
    elif dtype == "U3":
        a = np.array(["abc", "d", "ef"], dtype="U3")[: shape[0]] if len(shape) == 1 else np.full(shape, "x")
    else:
        a = (rng.standard_normal(shape) * 10).astype(dtype)
    try:
        expected = normalize_column("features['x']", a.copy())
    except smp.EncodeError as e:  # a value that does not fit: the same error from the batch
        with pytest.raises(smp.EncodeError) as got_error:
            smp.RecordBatch(features={"x": a})
        assert (got_error.value.column, got_error.value.reason) == (e.column, e.reason)
        return
    got = smp.RecordBatch(features={"x": a}).features["x"]
    assert got.dtype == expected.dtype and got.shape == expected.shape
    assert got.tolist() == expected.tolist()
    assert not got.flags.writeable
    assert a.flags.writeable  # the caller's array is left as it was


def test_a_plain_array_is_shared_read_only_and_its_row_count_checked() -> None:
    a = np.arange(6, dtype=np.float32).reshape(3, 2)
    b = smp.RecordBatch(features={"x": a}, label={"y": np.zeros(3, np.int32)})
    col = b.features["x"]
    assert np.shares_memory(col, a) and not col.flags.writeable and a.flags.writeable
    assert len(b) == 3
    with pytest.raises(smp.EncodeError) as e:
        smp.RecordBatch(features={"x": a}, label={"y": np.zeros(2, np.float64)})
    assert (e.value.column, e.value.reason) == ("label['y']", "has 2 rows but the batch has 3 records")
    with pytest.raises(smp.EncodeError) as e:
        smp.RecordBatch(features={"x": np.float32(1.0) * np.ones((), np.float32)})
    assert e.value.column == "features['x']"
    assert e.value.reason == "a column needs one row per record; got a 0-d value"
    with pytest.raises(smp.EncodeError) as e:
        smp.RecordBatch(features={"x": a}, n=4)
    assert e.value.reason == "has 3 rows but the batch has 4 records"
    m = np.ma.masked_array(np.ones(3, np.float32))  # a subclass: the full check, as before
    assert type(smp.RecordBatch(features={"x": m}).features["x"]) is type(normalize_like(m))


def normalize_like(a: np.ndarray) -> object:
    from sm_payloads.columns import normalize_column

    return normalize_column("features['x']", a)
