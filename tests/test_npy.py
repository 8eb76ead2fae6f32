"""application/x-npy: golden bytes, the SDK's bytes, exact errors, and properties."""

from __future__ import annotations

import io
import pickle
import struct
import tracemalloc
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import sm_payloads as smp
from sm_payloads.formats import npy

CT = "application/x-npy"


def saved(a: Any, **kw: Any) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a, **kw)
    return buf.getvalue()


def with_header(header: str, data: bytes = b"", version: tuple[int, int] = (1, 0)) -> bytes:
    """A hand-made npy file: the header text as given (no padding added)."""
    raw = header.encode("utf-8" if version[0] == 3 else "latin1")
    if version[0] == 1:
        return b"\x93NUMPY" + bytes(version) + struct.pack("<H", len(raw)) + raw + data
    return b"\x93NUMPY" + bytes(version) + struct.pack("<I", len(raw)) + raw + data


def decode_error(data: bytes, fn: Any = npy.decode_array) -> smp.DecodeError:
    with pytest.raises(smp.DecodeError) as info:
        fn(data)
    assert info.value.content_type == CT
    return info.value


# --------------------------------------------------------------------------------------
# Golden bytes (docs/formats/npy.md, "Wire layout"; generated with np.save)
# --------------------------------------------------------------------------------------

GOLDEN = (
    b"\x93NUMPY\x01\x00\x76\x00"
    + b"{'descr': '<f4', 'fortran_order': False, 'shape': (1, 4), }"
    + b" " * 58
    + b"\n"
    + bytes.fromhex("0000c03f00008041000060410000b841")
)


def test_golden_float32_record_both_ways() -> None:
    """docs/formats/npy.md, "Wire layout": np.float32 [[1.5, 16, 14, 23]] -> 144 bytes, header
    length 0x76."""
    X = np.array([[1.5, 16.0, 14.0, 23.0]], np.float32)
    assert len(GOLDEN) == 144
    assert npy.encode_array(X) == GOLDEN
    assert npy.encode(X) == GOLDEN
    assert npy.encode(smp.from_dense(X)) == GOLDEN
    got = npy.decode(GOLDEN)
    assert got == smp.from_dense(X)
    assert got.features["values"].dtype == np.float32


def test_golden_through_the_codec_class() -> None:
    codec = npy.NpyCodec.from_params({"charset": "utf-8"})
    assert codec.content_type == CT
    assert codec.encode(np.array([[1.5, 16.0, 14.0, 23.0]], np.float32)) == GOLDEN
    assert codec.decode(GOLDEN).to_numpy().tolist() == [[1.5, 16.0, 14.0, 23.0]]
    assert codec.decode_response(GOLDEN).label["predictions"].shape == (1, 4)


# --------------------------------------------------------------------------------------
# The SageMaker SDK as the oracle
# --------------------------------------------------------------------------------------


def sdk_ser() -> Any:
    return pytest.importorskip("sagemaker.base_serializers")


def sdk_deser() -> Any:
    return pytest.importorskip("sagemaker.base_deserializers")


SDK_CASES = [
    np.array([1.5, 16.0, 14.0, 23.0]),
    np.array([[1, 2], [3, 4]], np.int64),
    np.array([[1, 2], [3, 4]], np.int32),
    np.asfortranarray(np.arange(12, dtype=np.float32).reshape(3, 4)),
    np.arange(24, dtype=">f8").reshape(2, 3, 4),
    np.arange(10, dtype=np.float64)[::2],  # not contiguous
    np.array([True, False]),
    np.array([0.5], np.float16),
    np.array([1 + 2j], np.complex64),
    np.array(["cat", "dog"]),
    np.array([b"ab", b"c"]),
    np.array(3.25),
    np.array([np.nan, -0.0, np.inf], np.float32),
]


@pytest.mark.sdk
@pytest.mark.parametrize("arr", SDK_CASES, ids=lambda a: f"{a.dtype.str}{a.shape}")
def test_sdk_numpy_serializer_bytes(arr: np.ndarray) -> None:
    expected = sdk_ser().NumpySerializer().serialize(arr)
    assert npy.encode(arr) == expected
    assert npy.encode_array(arr) == expected
    back = npy.decode_array(expected)
    assert back.dtype == arr.dtype and back.shape == arr.shape
    assert back.tobytes(order="A") == np.asanyarray(arr).tobytes(order="A")


@pytest.mark.sdk
def test_sdk_serializer_lists() -> None:
    data = [[1.5, 2.0], [3.0, 4.0]]
    assert npy.encode(data) == sdk_ser().NumpySerializer().serialize(data)
    assert npy.encode([1, 2, 3]) == sdk_ser().NumpySerializer().serialize([1, 2, 3])


@pytest.mark.sdk
@given(
    hnp.arrays(
        st.sampled_from(["<f4", "<f8", "<i4", "<i8", "<u2", "|b1", ">f4", ">i8", "<f2", "|i1", "<c16"]),
        hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4),
    ),
    st.booleans(),
)
def test_sdk_bytes_property(arr: np.ndarray, fortran: bool) -> None:
    if fortran:
        arr = np.asfortranarray(arr)
    expected = sdk_ser().NumpySerializer().serialize(arr)
    assert npy.encode_array(arr) == expected
    # And the SDK's deserializer reads what we write, bit for bit.
    got = sdk_deser().NumpyDeserializer().deserialize(io.BytesIO(npy.encode_array(arr)), CT)
    assert got.dtype == arr.dtype and got.tobytes() == arr.tobytes()


# --------------------------------------------------------------------------------------
# Round trips, bit for bit
# --------------------------------------------------------------------------------------

ROUND_DTYPES = ["<f4", "<f8", "<i4", "<i8", ">f4", ">f8", "<u8", "|u1", "|b1", "<f2", "<c8", "<i2"]


def bit_arrays() -> st.SearchStrategy[np.ndarray]:
    """Any bit pattern for floats (all NaN payloads, -0.0, infinities, subnormals)."""

    def build(dt: str, shape: tuple[int, ...]) -> st.SearchStrategy[np.ndarray]:
        dtype = np.dtype(dt)
        if dtype.kind in "fc":
            raw = np.dtype(f"<u{dtype.itemsize // (2 if dtype.kind == 'c' else 1)}")
            n = int(np.prod(shape)) * (2 if dtype.kind == "c" else 1)
            return hnp.arrays(raw, (n,)).map(
                lambda a: a.view(dtype.newbyteorder("<")).astype(dtype).reshape(shape)
            )
        return hnp.arrays(dtype, shape)

    return st.tuples(
        st.sampled_from(ROUND_DTYPES), hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5)
    ).flatmap(lambda t: build(*t))


@given(bit_arrays(), st.booleans(), st.booleans())
def test_array_round_trip_bitwise(arr: np.ndarray, fortran: bool, copy: bool) -> None:
    if fortran:
        arr = np.asfortranarray(arr)
    body = npy.encode_array(arr)
    assert body == saved(arr)
    got = npy.decode_array(body, copy=copy)
    assert got.shape == arr.shape
    if copy:
        assert (
            got.dtype == arr.dtype.newbyteorder("=") if arr.dtype.byteorder == ">" else got.dtype == arr.dtype
        )
        assert got.flags.c_contiguous and got.flags.owndata and got.flags.writeable
        assert got.astype(arr.dtype).tobytes() == arr.tobytes()
    else:
        assert got.dtype == arr.dtype
        assert not got.flags.writeable
        assert got.tobytes() == arr.tobytes()


@given(st.sampled_from(["<f4", "<f8", "<i4"]), st.integers(0, 5), st.integers(0, 4), st.data())
def test_batch_round_trip_bitwise(dt: str, n: int, k: int, data: st.DataObject) -> None:
    dtype = np.dtype(dt)
    bits = np.dtype(f"<u{dtype.itemsize}")
    X = data.draw(hnp.arrays(bits, (n, k))).view(dtype)
    batch = smp.RecordBatch({"values": X}, n=n)
    body = npy.encode(batch)
    assert npy.decode(body).equals(batch, bitwise=True)
    assert npy.decode(body, copy=True).equals(batch, bitwise=True)
    response = smp.RecordBatch(label={"scores": X}, n=n)
    again = npy.decode_response(npy.encode_response(response), key="scores")
    assert again.equals(response, bitwise=True)


# --------------------------------------------------------------------------------------
# Views, copies, shapes and dtypes in a batch
# --------------------------------------------------------------------------------------


def test_decode_is_a_read_only_view_of_the_input() -> None:
    body = bytearray(npy.encode_array(np.array([[1.0, 2.0]], np.float64)))
    arr = npy.decode_array(body)
    assert not arr.flags.writeable and not arr.flags.owndata
    assert np.shares_memory(arr, np.frombuffer(body, np.uint8))
    body[-8:] = struct.pack("<d", 9.0)  # documented: a view follows a mutable input
    assert arr.tolist() == [[1.0, 9.0]]
    batch = npy.decode(body)
    assert np.shares_memory(batch.features["values"], np.frombuffer(body, np.uint8))
    owned = npy.decode(body, copy=True).features["values"]
    assert not np.shares_memory(owned, np.frombuffer(body, np.uint8))
    assert owned.flags.c_contiguous


def test_fortran_order_view_and_copy() -> None:
    F = np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3))
    body = npy.encode_array(F)
    assert b"'fortran_order': True" in body
    view = npy.decode_array(body)
    assert view.flags.f_contiguous and view.tolist() == F.tolist()
    copy = npy.decode_array(body, copy=True)
    assert copy.flags.c_contiguous and copy.tolist() == F.tolist()
    assert npy.decode(body).to_numpy().tolist() == F.tolist()


def test_big_endian_decodes_to_native_in_a_batch() -> None:
    body = npy.encode_array(np.array([[1.5, -2.0]], ">f8"))
    assert npy.decode_array(body).dtype == np.dtype(">f8")
    assert npy.decode_array(body, copy=True).dtype == np.dtype("<f8")
    col = npy.decode(body).features["values"]
    assert col.dtype == np.float64 and col.dtype.isnative and col.tolist() == [[1.5, -2.0]]


def test_request_shapes() -> None:
    """The first axis is the record axis; rank 0 and 1 are one record (as the SDK sends)."""
    assert npy.decode(npy.encode_array(np.array([1.0, 2.0, 3.0]))).features["values"].shape == (1, 3)
    assert npy.decode(npy.encode_array(np.array(7.0))).features["values"].tolist() == [[7.0]]
    assert npy.decode(npy.encode_array(np.zeros((2, 3), np.float32))).features["values"].shape == (2, 3)
    three = npy.decode(npy.encode_array(np.zeros((2, 3, 4), np.float32)))
    assert repr(three) == "RecordBatch(n=2, features={'values': dense float32(3, 4)}, label={})"
    empty = npy.decode(npy.encode_array(np.zeros((0, 3))))
    assert len(empty) == 0 and empty.features["values"].shape == (0, 3)


def test_response_shapes_and_key() -> None:
    scores = npy.encode_array(np.array([0.25, 0.75], np.float32))
    batch = npy.decode_response(scores)
    assert repr(batch) == "RecordBatch(n=2, features={}, label={'predictions': dense float32()})"
    assert npy.decode_response(npy.encode_array(np.float64(0.5))).label["predictions"].tolist() == [0.5]
    assert list(npy.decode_response(scores, key="score").label) == ["score"]


def test_lossless_conversions_in_a_batch() -> None:
    assert npy.decode(npy.encode_array(np.array([[True, False]]))).features["values"].dtype == np.int32
    assert npy.decode(npy.encode_array(np.array([[1, 2]], np.int64))).features["values"].dtype == np.int32
    assert npy.decode(npy.encode_array(np.array([[0.5]], np.float16))).features["values"].dtype == np.float32
    strings = npy.decode_response(npy.encode_array(np.array(["cat", "dog"])))
    assert strings.label["predictions"].tolist() == ["cat", "dog"]


def test_int64_that_does_not_fit_points_at_the_value() -> None:
    arr = np.array([[1, 2], [3, 2**40]], np.int64)
    body = npy.encode_array(arr)
    e = decode_error(body, npy.decode)
    assert e.offset == 128 + 3 * 8
    assert e.reason == (
        "value 1099511627776 of dtype int64 does not fit int32 "
        "(a RecordBatch has no 64-bit integer column; use decode_array)"
    )
    # In Fortran order the value sits elsewhere in the file: the offset follows it.
    e = decode_error(npy.encode_array(np.asfortranarray(arr)), npy.decode)
    assert e.offset == 128 + 3 * 8
    e = decode_error(npy.encode_array(np.asfortranarray(np.array([[1, 2**40], [3, 4]]))), npy.decode)
    assert e.offset == 128 + 2 * 8
    assert npy.decode_array(body).tolist() == arr.tolist()  # the array itself is fine


def test_complex_and_datetime_are_arrays_but_not_batches() -> None:
    body = npy.encode_array(np.array([1 + 2j]))
    assert npy.decode_array(body).tolist() == [1 + 2j]
    e = decode_error(body, npy.decode)
    assert e.offset == 20 and "complex128 cannot be a RecordBatch column" in e.reason
    when = npy.encode_array(np.array(["2024-01-02"], "datetime64[D]"))
    assert npy.decode_array(when).tolist() == np.array(["2024-01-02"], "datetime64[D]").tolist()
    assert decode_error(when, npy.decode_response).offset == 20


# --------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------


def encode_error(fn: Any, *args: Any) -> smp.EncodeError:
    with pytest.raises(smp.EncodeError) as info:
        fn(*args)
    return info.value


def test_encode_refuses_what_npy_cannot_hold() -> None:
    e = encode_error(npy.encode, smp.from_dense(np.ones((2, 2)), y=np.zeros(2)))
    assert str(e) == f"{CT}: label: an npy request has no place for a label"
    e = encode_error(npy.encode, smp.RecordBatch({"a": np.ones(2), "b": np.ones(2)}))
    assert str(e) == f"{CT}: an npy payload holds one array; the batch's features has 2 ('a', 'b')"
    e = encode_error(npy.encode, smp.from_sparse(sp.csr_array(np.eye(2))))
    assert str(e) == f"{CT}: features['values']: a sparse column cannot be written as npy (dense arrays only)"
    assert e.column == "features['values']"
    e = encode_error(npy.encode_array, np.array([1, "a"], dtype=object))
    assert str(e) == f"{CT}: object arrays need pickle, which is never written"
    e = encode_error(npy.encode, smp.RecordBatch({"values": np.ones((1, 1))}, uid=["x"]))
    assert str(e) == f"{CT}: uid: an npy payload has no place for uid"
    # An object array of strings is written as a fixed-width string array (no pickle).
    assert npy.decode_array(npy.encode_array(np.array(["a", "bc"], dtype=object))).dtype == np.dtype("<U2")


def test_encode_response_picks_the_one_output() -> None:
    y = np.array([1.0, 0.0], np.float32)
    assert npy.encode_response(smp.RecordBatch(label={"score": y})) == saved(y)
    # What from_dense builds from a bare array: features only.
    assert npy.encode_response(smp.RecordBatch({"values": y})) == saved(y)
    assert npy.encode_response(y) == saved(y)
    e = encode_error(npy.encode_response, smp.RecordBatch(label={"a": y, "b": y}))
    assert str(e) == f"{CT}: an npy payload holds one array; the batch's label has 2 ('a', 'b')"
    ragged = smp.Ragged.from_lists([[1.0], [2.0, 3.0]])
    e = encode_error(npy.encode_response, smp.RecordBatch(label={"a": ragged}))
    assert str(e) == f"{CT}: label['a']: a Ragged column cannot be written as npy (dense arrays only)"


# --------------------------------------------------------------------------------------
# Never unpickle; exact errors
# --------------------------------------------------------------------------------------


def test_object_arrays_are_refused_without_unpickling(monkeypatch: pytest.MonkeyPatch) -> None:
    body = saved(np.array([{"a": 1}, None], dtype=object), allow_pickle=True)

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("unpickled")

    monkeypatch.setattr(pickle, "load", boom)
    monkeypatch.setattr(pickle, "loads", boom)
    e = decode_error(body)
    assert e.offset == 20
    assert e.reason == "object arrays are not supported (they need pickle, which is never used)"


def test_versions_2_and_3() -> None:
    arr = np.arange(3, dtype=np.int16)
    for version in ((2, 0), (3, 0)):
        buf = io.BytesIO()
        np.lib.format.write_array(buf, arr, version=version)
        assert npy.decode_array(buf.getvalue()).tolist() == [0, 1, 2]
    # A version 3.0 header is UTF-8; error offsets count bytes, not characters.
    bad = with_header("{'descr': '<i2', 'é': 1, 'fortran_order': False, 'shape': (0,)}", version=(3, 0))
    e = decode_error(bad)
    assert e.reason == 'unexpected value "1, \'fortran_" in the header'
    assert e.offset == 12 + len("{'descr': '<i2', 'é': ".encode())


def test_python2_long_suffix_is_read() -> None:
    body = with_header(
        "{'descr': '<f8', 'fortran_order': False, 'shape': (2L,), }\n", struct.pack("<2d", 1, 2)
    )
    assert npy.decode_array(body).tolist() == [1.0, 2.0]


def hdr(header: str, marker: str, reason: str, data: bytes = b"") -> tuple[bytes, int, str]:
    """A bad header; the error points at the first `marker` in it."""
    return with_header(header, data), 10 + header.index(marker), reason


F4 = "{'descr': '<f4', 'fortran_order': False, "
ERRORS = [
    # (payload, offset, reason)
    (b"", 0, "truncated magic (0 of 6 bytes)"),
    (b"\x93NUM", 0, "truncated magic (4 of 6 bytes)"),
    (
        b"PK\x03\x04\x14\x00",
        0,
        "this is a zip archive (.npz?); application/x-npy carries a single .npy array",
    ),
    (b"\x93NUMPX\x01\x00", 0, "bad magic b'\\x93NUMPX', expected b'\\x93NUMPY'"),
    (b"\x93NUMPY\x01", 6, "truncated version"),
    (b"\x93NUMPY\x04\x00\x00\x00", 6, "unsupported format version 4.0 (1.0, 2.0 and 3.0 are read)"),
    (b"\x93NUMPY\x01\x00\x05", 8, "truncated header length (1 of 2 bytes)"),
    (b"\x93NUMPY\x01\x00\xff\xff{}", 8, "header length 65535 exceeds the 2 bytes left"),
    hdr("{'descr': '<f4', 'fortran_order': False}", "{", "header keys: missing ['shape']"),
    hdr(F4 + "'shape': (), 'x': 1}", "1}", "unexpected value '1}' in the header"),
    hdr(F4 + "'shape': (), 'x': 'y'}", "{", "header keys: unexpected ['x']"),
    hdr("{'descr': '<f4', 'descr': '<f4'}", "'descr': '<f4'}", "duplicate header key 'descr'"),
    hdr("['descr']", "[", "expected '{' in the header, found \"['descr']\""),
    hdr("{'descr': [('a', '<f4')]}", "[", "structured dtypes (a list descr) are not supported"),
    hdr(
        "{'descr': '<f4', 'fortran_order': 0, 'shape': ()}",
        "0",
        "unexpected value \"0, 'shape': \" in the header",
    ),
    hdr(F4 + "'shape': (3)}", "3", "the shape is an integer in parentheses, not a tuple (missing ',')"),
    hdr(F4 + "'shape': (-3,)}", "-", "expected a non-negative integer in the shape, found '-3,)}'"),
    hdr(F4 + "'shape': (03,)}", "3", "expected ',' or ')' in the shape, found '3,)}'"),
    hdr(F4 + "'shape': (3 4)}", "4)", "expected ',' or ')' in the shape, found '4)}'"),
    hdr(F4 + "'shape': 3}", "3", "unexpected value '3}' in the header"),
    hdr(
        "{'descr': 5, 'fortran_order': False, 'shape': ()}",
        "5",
        'unexpected value "5, \'fortran_" in the header',
    ),
    hdr("{'descr': True, 'fortran_order': False, 'shape': ()}", "True", "'descr' must be a string"),
    hdr(
        "{'descr': '<f4', 'fortran_order': 'no', 'shape': ()}",
        "'no'",
        "'fortran_order' must be True or False",
    ),
    hdr(F4 + "'shape': 'x'}", "'x'", "'shape' must be a tuple of integers"),
    hdr(F4 + "'shape': ()} x", "x", "unexpected 'x' after the header dict"),
    hdr("{'descr': '<f4", "'<", "unterminated string in the header"),
    (
        with_header("{'descr': '<f4', "),
        27,
        "expected a quoted key in the header, found the end of the header",
    ),
    hdr(
        "{'descr': '|O', 'fortran_order': False, 'shape': (1,)}",
        "'|O'",
        "object arrays are not supported (they need pickle, which is never used)",
    ),
    hdr("{'descr': '|V8', 'fortran_order': False, 'shape': (1,)}", "'|V8'", "unsupported dtype descr '|V8'"),
    hdr(
        "{'descr': '<f16', 'fortran_order': False, 'shape': (1,)}",
        "'<f16'",
        "dtype '<f16' is a platform-dependent long double; not supported",
    ),
    hdr("{'descr': '<i3', 'fortran_order': False, 'shape': (1,)}", "'<i3'", "unsupported dtype descr '<i3'"),
    hdr(
        "{'descr': '<U0', 'fortran_order': False, 'shape': (1,)}",
        "'<U0'",
        "zero-width string dtype '<U0' is not supported",
    ),
    hdr(
        "{'descr': '<M8', 'fortran_order': False, 'shape': (1,)}",
        "'<M8'",
        "datetime descr '<M8' needs a unit",
    ),
    hdr(
        "{'descr': 'float32', 'fortran_order': False, 'shape': (1,)}",
        "'float32'",
        "unsupported dtype descr 'float32'",
    ),
    hdr(
        "{'descr': '<f8', 'fortran_order': False, 'shape': (4611686018427387904,)}",
        "4611",
        "shape (4611686018427387904,) is too large",
    ),
    hdr(
        "{'descr': '<f8', 'fortran_order': False, 'shape': (" + "1," * 65 + ")}",
        "(",
        "65 dimensions exceed numpy's limit of 64",
    ),
    hdr(
        "{'descr': '<f8', 'fortran_order': False, 'shape': (1000000, 1000000)}",
        "}",
        "truncated data: shape (1000000, 1000000) of <f8 needs 8000000000000 bytes, 8 present",
        b"\0" * 8,
    ),
]
# The data-size errors point just past the header (at the data) or past the array data.
ERRORS[-1] = (ERRORS[-1][0], ERRORS[-1][1] + 1, ERRORS[-1][2])
ERRORS.append(
    (
        with_header("{'descr': '<f8', 'fortran_order': False, 'shape': (1,)}", b"\0" * 9),
        73,
        "1 bytes after the array data",
    )
)


@pytest.mark.parametrize(("body", "offset", "reason"), ERRORS, ids=[r for _, _, r in ERRORS])
def test_exact_errors(body: bytes, offset: int, reason: str) -> None:
    e = decode_error(body)
    assert (e.reason, e.offset) == (reason, offset)
    assert e.record_index is None and e.line is None and e.status_hint == 400
    assert str(e) == f"{CT}: {reason} at byte {offset}"
    for fn in (npy.decode, npy.decode_response):
        again = decode_error(body, fn)
        assert (again.reason, again.offset) == (reason, offset)


def test_zero_sized_array_with_a_huge_dimension_allocates_almost_nothing() -> None:
    """A (0, 10**15) header must not make the decoder allocate anything in proportion to the
    huge dimension: the whole decode stays under 64 KiB (numpy reports its data buffers to
    tracemalloc)."""
    body = with_header("{'descr': '<f8', 'fortran_order': False, 'shape': (0, 1000000000000000)}")
    npy.decode_array(body)  # warm caches (header parsing) outside the measurement
    tracing = tracemalloc.is_tracing()  # e.g. python -X tracemalloc: measure, leave it on
    if not tracing:
        tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        arr = npy.decode_array(body)
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        if not tracing:
            tracemalloc.stop()
    assert (arr.shape, arr.dtype, arr.size, arr.nbytes) == ((0, 10**15), np.float64, 0, 0)
    assert peak < 64 * 1024


# --------------------------------------------------------------------------------------
# Garbage and mutated files: a result or a DecodeError, nothing else
# --------------------------------------------------------------------------------------

VALID = [
    GOLDEN,
    saved(np.arange(6, dtype=">i8").reshape(2, 3)),
    saved(np.asfortranarray(np.ones((2, 2), np.float32))),
    saved(np.array(["ab", "c"])),
    saved(np.array(1.5)),
]


def check_no_crash(body: bytes) -> None:
    for fn in (npy.decode_array, npy.decode, npy.decode_response):
        try:
            fn(body)
        except smp.DecodeError as e:
            assert e.offset is not None and 0 <= e.offset <= len(body)


@given(st.binary(max_size=200))
def test_garbage_gives_only_decode_errors(body: bytes) -> None:
    check_no_crash(body)
    check_no_crash(b"\x93NUMPY\x01\x00" + body)


@given(
    st.sampled_from(VALID),
    st.lists(
        st.tuples(st.integers(0, 200), st.integers(0, 255), st.sampled_from(["set", "insert", "delete"])),
        max_size=4,
    ),
    st.integers(0, 200),
)
def test_mutated_files_give_a_result_or_a_decode_error(
    base: bytes, edits: list[tuple[int, int, str]], cut: int
) -> None:
    body = bytearray(base)
    for pos, value, op in edits:
        pos = min(pos, len(body) - 1)
        if op == "set":
            body[pos] = value
        elif op == "insert":
            body[pos:pos] = bytes([value])
        else:
            del body[pos]
    check_no_crash(bytes(body))
    check_no_crash(bytes(body[: len(body) - cut]))


HEADER_PIECES = [
    "{",
    "}",
    "(",
    ")",
    ",",
    ":",
    " ",
    "'descr'",
    "'fortran_order'",
    "'shape'",
    "True",
    "False",
    "'<f4'",
    "'>i8'",
    "'|O'",
    "'<U3'",
    "0",
    "3",
    "99999999999999999999",
    "L",
    "'",
    '"',
    "[",
    "]",
    "\n",
    "\\",
]


@given(st.lists(st.sampled_from(HEADER_PIECES), max_size=30), st.binary(max_size=40))
def test_fuzzed_headers(pieces: list[str], data: bytes) -> None:
    check_no_crash(with_header("".join(pieces), data))


@given(
    st.sampled_from(["<f4", ">i8", "|b1", "<U2", "<c8"]),
    st.lists(st.integers(0, 6), max_size=4),
    st.booleans(),
    st.integers(-8, 8),
)
def test_well_formed_headers_with_wrong_sizes(
    descr: str, shape: list[int], fortran: bool, delta: int
) -> None:
    dt = np.dtype(descr)
    need = int(np.prod(shape)) * dt.itemsize
    assume(need + delta >= 0)
    header = f"{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': {tuple(shape)!r}, }}"
    body = with_header(header, b"\x01" * (need + delta))
    if delta == 0:
        assert npy.decode_array(body).shape == tuple(shape)
    else:
        e = decode_error(body)
        assert e.offset == 10 + len(header) + (need if delta > 0 else 0)


def test_zero_size_shape_too_large_once_widened_is_a_decode_error() -> None:
    # Found by fuzzing: the header passed numpy's limit for uint8, then the column's
    # conversion to int32 asked numpy for 4x the bytes and it raised ValueError.
    body = (
        b"\x93NUMPY\x01\x00v\x00{'descr': '<u1', 'fortran_order': False,'shape': "
        b"(0, 0, 3000, 0,0, 30, 20000000000, 30, 0, 30, 0, 3), }               "
    )
    with pytest.raises(smp.DecodeError) as info:
        smp.decode_request(body, "application/x-npy")
    assert info.value.reason == "shape (0, 0, 3000, 0, 0, 30, 20000000000, 30, 0, 30, 0, 3) is too large"
    assert info.value.offset == 101


def test_a_view_into_a_bytearray_keeps_it_from_being_resized() -> None:
    """The decoded array reads the caller's bytearray in place; while it lives the bytearray
    cannot be resized (which would free the memory under the array)."""
    body = smp.encode_request(np.arange(1000, dtype=np.float32).reshape(10, 100), "application/x-npy")
    buf = bytearray(body)
    values = smp.decode_request(buf, "application/x-npy").features["values"]
    assert np.shares_memory(values, np.frombuffer(buf, np.uint8))
    with pytest.raises(BufferError):
        buf.extend(b"x" * 1000)
    assert values.ravel()[:4].tolist() == [0.0, 1.0, 2.0, 3.0]
    del values
    buf.extend(b"x")  # released with the array
