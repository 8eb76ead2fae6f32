"""text/libsvm: golden rows, exact errors, chunked == whole, and properties."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import sm_payloads as smp
from sm_payloads.formats import libsvm

from .helpers import assert_batches_equal

CT = "text/libsvm"


def csr(rows: list[dict[int, float]], width: int, dtype: Any = np.float64) -> sp.csr_array:
    indptr = np.cumsum([0] + [len(r) for r in rows])
    indices = [i for r in rows for i in sorted(r)]
    data = [r[i] for r in rows for i in sorted(r)]
    return sp.csr_array(
        (np.array(data, dtype), np.array(indices, np.int32), indptr), shape=(len(rows), width)
    )


def decode_error(data: bytes, **options: Any) -> smp.DecodeError:
    with pytest.raises(smp.DecodeError) as info:
        libsvm.decode(data, **options)
    assert info.value.content_type == CT
    return info.value


# --------------------------------------------------------------------------------------
# Golden rows
# --------------------------------------------------------------------------------------


def test_golden_rows_both_ways() -> None:
    """docs/formats/libsvm.md, "Wire format": `<label> <index>:<value> ...`, one row per line,
    zeros omitted."""
    text = b"1.0 0:0.5 3:2.0\n0.0 1:1.0\n"
    batch = libsvm.decode(text)
    assert (
        repr(batch)
        == "RecordBatch(n=2, features={'values': sparse float64(4,)}, label={'values': dense float64()})"
    )
    assert batch.features["values"].toarray().tolist() == [[0.5, 0, 0, 2.0], [0, 1.0, 0, 0]]
    assert batch.label["values"].tolist() == [1.0, 0.0]
    assert libsvm.encode(batch) == text
    assert libsvm.encode(smp.from_dense(np.array([[0.5, 0, 0, 2], [0, 1, 0, 0]]), y=[1.0, 0.0])) == text


def test_golden_label_is_optional_at_inference() -> None:
    """docs/formats/libsvm.md, "Wire format": XGBoost inference ignores tokens without ':'
    (no label)."""
    batch = libsvm.decode(b"0:1.5 2:16 3:14 5:23\n")
    assert batch.label == {}
    assert batch.features["values"].toarray().tolist() == [[1.5, 0, 16, 14, 0, 23]]
    assert libsvm.encode(batch) == b"0:1.5 2:16.0 3:14.0 5:23.0\n"


def test_golden_index_base_1_classic_libsvm() -> None:
    """Classic LIBSVM files number columns from 1 (docs/formats/libsvm.md, "Why 0-based by
    default": the base varies)."""
    text = b"+1 1:0.708333 3:1 4:-0.320755\n-1 2:0.583333 4:-0.603774\n"
    batch = libsvm.decode(text, index_base=1)
    assert batch.features["values"].shape == (2, 4)
    assert batch.features["values"].toarray()[0].tolist() == [0.708333, 0.0, 1.0, -0.320755]
    assert batch.label["values"].tolist() == [1.0, -1.0]
    assert (
        libsvm.encode(batch, index_base=1)
        == b"1.0 1:0.708333 3:1.0 4:-0.320755\n-1.0 2:0.583333 4:-0.603774\n"
    )
    # Read as 0-based (the default), the same file has a column 0 that nothing uses.
    assert libsvm.decode(text).features["values"].shape == (2, 5)


def test_qid_comments_blank_lines_crlf() -> None:
    text = b"# ranking data\r\n2 qid:1 0:1.5 # first\r\n\r\n   \r\n1 qid:1 1:2.5\r\n0 qid:7 2:1\r\n"
    batch = libsvm.decode(text)
    assert len(batch) == 3
    assert batch.label["qid"].dtype == np.int32 and batch.label["qid"].tolist() == [1, 1, 7]
    assert batch.label["values"].tolist() == [2.0, 1.0, 0.0]
    assert libsvm.encode(batch) == b"2.0 qid:1 0:1.5\n1.0 qid:1 1:2.5\n0.0 qid:7 2:1.0\n"


def test_empty_input_and_empty_rows() -> None:
    empty = libsvm.decode(b"")
    assert len(empty) == 0 and empty.features["values"].shape == (0, 0) and empty.label == {}
    assert libsvm.decode(b"\n\n# nothing\n", num_features=3).features["values"].shape == (0, 3)
    batch = libsvm.decode(b"1\n0 2:1\n")  # a record with a label and no entries
    assert batch.features["values"].toarray().tolist() == [[0, 0, 0], [0, 0, 1]]
    assert libsvm.encode(batch) == b"1.0\n0.0 2:1.0\n"
    assert libsvm.encode(smp.from_sparse(sp.csr_array((0, 3)))) == b""


def test_num_features_and_dtype() -> None:
    batch = libsvm.decode(b"1 0:0.1\n", num_features=10, dtype=np.float32)
    m = batch.features["values"]
    assert m.shape == (1, 10) and m.dtype == np.float32 and m.data.tolist() == [np.float32(0.1)]
    assert batch.label["values"].dtype == np.float32
    with pytest.raises(ValueError, match="dtype must be float64 or float32"):
        libsvm.decode(b"", dtype=np.int32)
    with pytest.raises(ValueError, match="index_base must be 0 or 1"):
        libsvm.decode(b"", index_base=2)


def test_nan_and_infinity_spelling() -> None:
    X = csr([{0: float("nan"), 1: float("inf"), 2: float("-inf"), 3: -0.0}], 4)
    text = libsvm.encode(smp.from_sparse(X, y=np.array([float("nan")])))
    assert text == b"nan 0:nan 1:inf 2:-inf 3:-0.0\n"
    back = libsvm.decode(text)
    assert_batches_equal(back, smp.from_sparse(X, y=np.array([float("nan")])))
    # Other spellings C's strtod and Python accept are read too.
    got = libsvm.decode(b"1 0:NaN 1:Infinity 2:-INF 3:+1.5 4:1e3 5:.5 6:5.\n").features["values"].data
    assert np.array_equal(got, [np.nan, np.inf, -np.inf, 1.5, 1000.0, 0.5, 5.0], equal_nan=True)


def test_float32_prints_shortest_float32_text() -> None:
    X = csr([{0: 0.1, 1: 16777217.0, 2: 1e-45, 3: 3.4028235e38}], 4, np.float32)
    assert libsvm.encode(smp.from_sparse(X)) == b"0:0.1 1:16777216.0 2:1e-45 3:3.4028235e+38\n"
    ints = smp.from_sparse(sp.csr_array(np.array([[0, 3]], np.int32)), y=np.array([2], np.int32))
    assert libsvm.encode(ints) == b"2 1:3\n"


def test_codec_class_and_alias() -> None:
    codec = libsvm.LibSVMCodec.from_params({"charset": "UTF-8"})
    assert codec.content_type == CT and "text/x-libsvm" in codec.aliases
    assert codec.decode(b"1 0:2\n").label["values"].tolist() == [1.0]
    assert codec.encode(np.array([[0.0, 2.0]])) == b"1:2.0\n"
    assert [len(b) for b in codec.iter_decode(b"1 0:2\n1 0:3\n1 0:4\n", batch_size=2)] == [2, 1]
    with pytest.raises(smp.UnsupportedMediaTypeError, match="unsupported charset 'latin-1'"):
        libsvm.LibSVMCodec.from_params({"charset": "latin-1"})
    one = libsvm.LibSVMCodec(index_base=1, num_features=3)
    assert one.decode(b"1 1:2\n").features["values"].toarray().tolist() == [[2.0, 0.0, 0.0]]


# --------------------------------------------------------------------------------------
# Exact errors: line, token, byte offset, record
# --------------------------------------------------------------------------------------

ERRORS = [
    # (input, options, line, offset, record_index, reason)
    (b"1 0:1 0:2\n", {}, 1, 6, 0, "token 3: duplicate index 0"),
    (
        b"1 0:1\n1 3:1 2:2\n",
        {},
        2,
        12,
        1,
        "token 3: index 2 is not greater than the previous index 3 (indices must increase)",
    ),
    (b"1 -1:2\n", {}, 1, 2, 0, "token 2: negative index -1"),
    (b"1 a:2\n", {}, 1, 2, 0, "token 2: index 'a' is not a non-negative integer"),
    (b"1 :2\n", {}, 1, 2, 0, "token 2: index '' is not a non-negative integer"),
    (b"1 1:x\n", {}, 1, 4, 0, "token 2: value 'x' is not a number"),
    (b"1 1:\n", {}, 1, 4, 0, "token 2: value '' is not a number"),
    (b"1 1:1_0\n", {}, 1, 4, 0, "token 2: value '1_0' is not a number"),
    (b"1 1:0x10\n", {}, 1, 4, 0, "token 2: value '0x10' is not a number"),
    (b"1 1:2:3\n", {}, 1, 5, 0, "token 2: '1:2:3' has more than one ':'"),
    (b"1 1:2 3\n", {}, 1, 6, 0, "token 3: '3' is not index:value"),
    (b"yes 1:2\n", {}, 1, 0, 0, "token 1: label 'yes' is not a number"),
    (
        b"\n\n  1 0:1\n0:1\n",
        {},
        4,
        10,
        1,
        "this record has no label but the record on line 3 has one (labels are all or none)",
    ),
    (
        b"0:1\n1 0:1\n",
        {},
        2,
        4,
        1,
        "this record has a label but the record on line 1 has none (labels are all or none)",
    ),
    (
        b"1 qid:2 0:1\n1 0:1\n",
        {},
        2,
        12,
        1,
        "this record has no qid but the record on line 1 has one (qid is all or none)",
    ),
    (
        b"1 0:1\n1 qid:2 0:1\n",
        {},
        2,
        8,
        1,
        "this record has a qid but the record on line 1 has none (qid is all or none)",
    ),
    (b"1 qid:x 0:1\n", {}, 1, 6, 0, "token 2: qid 'x' is not an integer from 0 to 2147483647"),
    (b"1 0:1 qid:2\n", {}, 1, 6, 0, "token 3: qid must come right after the label"),
    (b"1 0:1\n", {"index_base": 1}, 1, 2, 0, "token 2: index 0 is below index_base=1"),
    (b"1 5:1\n", {"num_features": 5}, 1, 2, 0, "token 2: index 5 is outside num_features=5"),
    (
        b"1 99999999999:1\n",
        {},
        1,
        2,
        0,
        "token 2: index '99999999999' is too large (columns stop at 2147483646)",
    ),
    (b"1 0:1 # fine\n\xff 0:1\n", {}, 2, 13, 1, "token 1: label '\\\\xff' is not a number"),
    (b"1 0:\xc3\xa9\n", {}, 1, 4, 0, "token 2: value '\xe9' is not a number"),
]


@pytest.mark.parametrize(
    ("data", "options", "line", "offset", "record", "reason"), ERRORS, ids=[e[-1] for e in ERRORS]
)
def test_exact_errors(
    data: bytes, options: dict[str, Any], line: int, offset: int, record: int, reason: str
) -> None:
    e = decode_error(data, **options)
    assert (e.reason, e.line, e.offset, e.record_index) == (reason, line, offset, record)
    assert str(e) == f"{CT}: {reason} at line {line} (byte {offset}, record {record})"
    # The same error, at the same place, from a stream in tiny blocks.
    with pytest.raises(smp.DecodeError) as info:
        list(libsvm.iter_decode(io.BytesIO(data), batch_size=1, **options))
    assert (info.value.reason, info.value.line, info.value.offset) == (reason, line, offset)


def test_error_offsets_count_from_the_input_start_across_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(libsvm, "_BLOCK", 16)
    data = b"".join(b"1 0:1 2:3\n" for _ in range(20)) + b"1 0:1 0:1\n"
    e = decode_error(data)
    assert (e.line, e.offset, e.record_index) == (21, 206, 20)


# --------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------


def test_encode_sorts_indices_and_keeps_explicit_zeros() -> None:
    m = sp.csr_array((np.array([2.0, 0.0, 1.0]), np.array([3, 1, 0]), np.array([0, 3])), shape=(1, 4))
    assert not m.has_sorted_indices
    assert libsvm.encode(smp.from_sparse(m, y=[1.0])) == b"1.0 0:1.0 1:0.0 3:2.0\n"


def test_encode_errors() -> None:
    dup = sp.csr_array((np.array([1.0, 2.0]), np.array([1, 1]), np.array([0, 0, 2])), shape=(2, 3))
    with pytest.raises(smp.EncodeError, match="record 1 has index 1 twice") as info:
        libsvm.encode(smp.from_sparse(dup))
    assert info.value.column == "features['values']"
    with pytest.raises(smp.EncodeError, match="record 0 has no entries and the batch has no label"):
        libsvm.encode(smp.from_sparse(sp.csr_array((1, 3))))
    with pytest.raises(smp.EncodeError, match="one feature vector; the batch has 'a', 'b'"):
        libsvm.encode(smp.RecordBatch({"a": np.ones((1, 2)), "b": np.ones((1, 2))}))
    with pytest.raises(smp.EncodeError, match="label\\['values'\\] and label\\['qid'\\] only"):
        libsvm.encode(smp.RecordBatch({"values": np.ones((1, 2))}, {"score": np.ones(1)}))
    with pytest.raises(smp.EncodeError, match="numeric vectors"):
        libsvm.encode(smp.RecordBatch({"values": smp.Ragged.from_lists([[1.0], [2.0, 3.0]])}))
    with pytest.raises(smp.EncodeError, match="record shape"):
        libsvm.encode(smp.RecordBatch({"values": np.ones((1, 2, 2))}))
    with pytest.raises(smp.EncodeError, match="qid must be non-negative integers"):
        libsvm.encode(
            smp.RecordBatch({"values": np.ones((1, 2))}, {"values": np.ones(1), "qid": np.array([-1])})
        )
    with pytest.raises(smp.EncodeError, match="a qid needs a label"):
        libsvm.encode(smp.RecordBatch({"values": np.ones((1, 2))}, {"qid": np.array([1])}))
    with pytest.raises(smp.EncodeError, match="uid"):
        libsvm.encode(smp.RecordBatch({"values": np.ones((1, 2))}, uid=["u"]))


def test_dense_zeros_are_left_out() -> None:
    """A dense zero is not written (XGBoost then reads the entry as missing)."""
    assert libsvm.encode(np.array([[0.0, -0.0, 2.0]]), index_base=1) == b"3:2.0\n"


# --------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------


def canonical_nan(a: np.ndarray) -> np.ndarray:
    """Text has one NaN spelling, `nan`: it reads back as the quiet NaN of the dtype."""
    a = a.copy()
    a[np.isnan(a)] = np.nan
    return a


def all_bits(dtype: np.dtype, n: int) -> st.SearchStrategy[np.ndarray]:
    """Every bit pattern (-0.0, infinities, subnormals) with NaNs made canonical."""
    bits = np.dtype(f"<u{dtype.itemsize}")
    return hnp.arrays(bits, (n,)).map(lambda a: canonical_nan(a.view(dtype)))


@st.composite
def libsvm_batches(draw: Any, dtype: Any = np.float64) -> smp.RecordBatch:
    dtype = np.dtype(dtype)
    n = draw(st.integers(1, 6))
    width = draw(st.integers(1, 12))
    rows = [sorted(draw(st.sets(st.integers(0, width - 1), max_size=width))) for _ in range(n)]
    indptr = np.cumsum([0] + [len(r) for r in rows])
    values = draw(all_bits(dtype, int(indptr[-1])))
    m = sp.csr_array((values, np.array([i for r in rows for i in r], np.int32), indptr), shape=(n, width))
    label: dict[str, Any] = {}
    if draw(st.booleans()):
        label["values"] = draw(all_bits(dtype, n))
        if draw(st.booleans()):
            label["qid"] = np.array(
                draw(st.lists(st.integers(0, 2**31 - 1), min_size=n, max_size=n)), np.int32
            )
    elif any(len(r) == 0 for r in rows):
        label["values"] = np.zeros(n, dtype)  # without labels an empty row cannot be written
    return smp.RecordBatch({"values": m}, label, n=n)


@given(libsvm_batches(np.float64), st.sampled_from([0, 1]))
def test_round_trip_float64_bitwise(batch: smp.RecordBatch, base: int) -> None:
    text = libsvm.encode(batch, index_base=base)
    width = batch.features["values"].shape[1]
    assert_batches_equal(libsvm.decode(text, index_base=base, num_features=width), batch)


@given(libsvm_batches(np.float32))
def test_round_trip_float32_bitwise(batch: smp.RecordBatch) -> None:
    text = libsvm.encode(batch)
    width = batch.features["values"].shape[1]
    assert_batches_equal(libsvm.decode(text, num_features=width, dtype=np.float32), batch)


@given(all_bits(np.dtype(np.float32), 50))
def test_float32_text_is_shortest_and_exact(values: np.ndarray) -> None:
    for v, t in zip(values.tolist(), libsvm._texts(values), strict=True):
        f = np.float32(v)
        if np.isnan(f):
            assert t == b"nan"
            continue
        assert np.float32(float(t)).tobytes() == f.tobytes()
        # numpy's shortest-unique scientific spelling has the same number of digits.
        if np.isfinite(f) and f != 0:
            digits = (
                np.format_float_scientific(f, unique=True).split("e")[0].replace("-", "").replace(".", "")
            )
            ours = t.split(b"e")[0].lstrip(b"-").replace(b".", b"").strip(b"0")
            assert len(ours) <= len(digits.strip("0")) or len(ours) == 1


TOKENS = [
    b"1",
    b"0",
    b"-2.5",
    b"nan",
    b"0:1",
    b"1:2",
    b"3:0.5",
    b"2:-1e-3",
    b"10:7",
    b"qid:3",
    b"#",
    b" ",
    b"\n",
]


@given(st.lists(st.sampled_from(TOKENS), max_size=40).map(lambda t: b" ".join(t)))
def test_fast_reader_agrees_with_the_careful_one(data: bytes) -> None:
    def run(reader: Any) -> Any:
        state = libsvm._State(0, None)
        try:
            rows = reader(data, state)
        except smp.DecodeError as e:
            return ("error", e.reason, e.offset, e.line, e.record_index)
        if rows is None:
            return None
        return (
            rows.counts.tolist(),
            rows.cols.tolist(),
            rows.values.tobytes(),
            None if rows.labels is None else rows.labels.tobytes(),
            state.line,
            state.record,
            state.max_col,
        )

    fast = run(libsvm._fast)
    if fast is not None:
        assert fast == run(libsvm._careful)


GARBAGE_TOKENS = [
    *TOKENS,
    b":",
    b"-1:2",
    b"a",
    b"\xff",
    b"\r",
    b"\t",
    b"1:2:3",
    b"1_0",
    b"inf",
    b"1:",
    b"99999999999:1",
]


@given(
    st.one_of(st.binary(max_size=100), st.lists(st.sampled_from(GARBAGE_TOKENS), max_size=30).map(b"".join))
)
def test_garbage_gives_only_decode_errors(data: bytes) -> None:
    for options in ({}, {"index_base": 1}, {"num_features": 4}):
        try:
            batch = libsvm.decode(data, **options)
        except smp.DecodeError as e:
            assert e.line is not None and e.offset is not None and 0 <= e.offset <= len(data)
            assert e.record_index is not None
        else:
            assert len(batch) == len([ln for ln in data.split(b"\n") if ln.split(b"#")[0].split()])


@given(libsvm_batches(np.float64), st.integers(1, 4), st.sampled_from([8, 32, 1 << 20]), st.booleans())
def test_chunked_equals_whole(batch: smp.RecordBatch, batch_size: int, block: int, stream: bool) -> None:
    text = libsvm.encode(batch)
    width = batch.features["values"].shape[1]
    whole = libsvm.decode(text, num_features=width)
    old = libsvm._BLOCK
    libsvm._BLOCK = block
    try:
        source: Any = io.BytesIO(text) if stream else bytearray(text)
        parts = list(libsvm.iter_decode(source, batch_size=batch_size, num_features=width))
        assert all(len(p) == batch_size for p in parts[:-1]) and 1 <= len(parts[-1]) <= batch_size
        assert_batches_equal(smp.RecordBatch.concat(parts), whole)
        # Without num_features the widths are the running maximum, ending at decode's width.
        free = list(libsvm.iter_decode(io.BytesIO(text) if stream else text, batch_size=batch_size))
        widths = [p.features["values"].shape[1] for p in free]
        assert widths == sorted(widths) and widths[-1] == libsvm.decode(text).features["values"].shape[1]
        start = 0
        for p in free:
            m = sp.csr_array(p.features["values"])
            m.resize((len(p), width))
            part = whole.features["values"][start : start + len(p)]
            assert np.array_equal(m.toarray(), part.toarray(), equal_nan=True)
            start += len(p)
    finally:
        libsvm._BLOCK = old


def test_iter_decode_long_lines_and_no_final_newline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(libsvm, "_BLOCK", 4)
    text = b"1 " + b" ".join(b"%d:1" % i for i in range(50)) + b"\n0 3:2"
    for source in (text, io.BytesIO(text), memoryview(text)):
        parts = list(libsvm.iter_decode(source, batch_size=1))
        assert [p.features["values"].nnz for p in parts] == [50, 1]
    with pytest.raises(ValueError, match="batch_size"):
        next(libsvm.iter_decode(text, batch_size=0))


def test_charset_parameter_is_read_as_csv_reads_it() -> None:
    """Spaces around a quoted charset value are ignored, as text/csv ignores them."""
    assert smp.decode_request(b"1 0:2\n", 'text/libsvm; charset=" utf-8"').label["values"].tolist() == [1.0]
