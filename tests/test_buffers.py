"""sm_payloads._buffers: the one rule for input buffers (`as_bytes` for the text readers,
`as_view` for the binary ones), and that every decoder reads its body by it."""

from __future__ import annotations

import array
import io
import mmap
from typing import Any

import numpy as np
import pytest

import sm_payloads as smp
from sm_payloads._buffers import as_bytes, as_view
from sm_payloads.formats import csv as csvfmt
from sm_payloads.formats import json as jsonfmt
from sm_payloads.formats import jsonlines as jlfmt
from sm_payloads.formats import libsvm as svmfmt
from sm_payloads.formats import npy as npyfmt
from sm_payloads.formats import recordio_protobuf as rp

RAW = b"1,2\n3,4\n"


def shares(a: Any, b: Any) -> bool:
    return bool(np.shares_memory(np.frombuffer(a, np.uint8), np.frombuffer(b, np.uint8)))


# --------------------------------------------------------------------------------------
# as_bytes
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", [True, False])
def test_bytes_and_bytearray_are_returned_as_they_are(text: bool) -> None:
    b = bytes(RAW)
    ba = bytearray(RAW)
    assert as_bytes(b, text=text) is b
    out = as_bytes(ba, text=text)
    assert out is ba and shares(out, ba)  # not copied: read in place


@pytest.mark.parametrize("text", [True, False])
def test_a_memoryview_over_a_whole_bytes_or_bytearray_is_unwrapped(text: bool) -> None:
    b = bytes(RAW)
    ba = bytearray(RAW)
    assert as_bytes(memoryview(b), text=text) is b
    assert as_bytes(memoryview(ba), text=text) is ba
    assert as_bytes(memoryview(ba).cast("b"), text=text) is ba  # one byte per item, any sign


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda: memoryview(b"xx" + RAW)[2:], RAW),  # a slice
        (lambda: memoryview(RAW)[::2], RAW[::2]),  # not contiguous
        (lambda: memoryview(bytearray(RAW)).cast("i"), RAW),  # four bytes per item
        (lambda: np.frombuffer(RAW, np.uint8), RAW),
        (lambda: np.arange(4, dtype="<i2"), b"\x00\x00\x01\x00\x02\x00\x03\x00"),
        (lambda: np.arange(4, dtype="<i2").reshape(2, 2).T, b"\x00\x00\x02\x00\x01\x00\x03\x00"),
        (lambda: array.array("B", RAW), RAW),
    ],
    ids=["slice", "strided", "int-items", "uint8-array", "int16-array", "transposed", "array.array"],
)
def test_other_buffers_are_copied_once_in_c_order(make: Any, expected: bytes) -> None:
    data = make()
    out = as_bytes(data, text=True)
    assert type(out) is bytes and out == expected
    assert as_bytes(data, text=False) == expected


def test_mmap_is_copied_once() -> None:
    m = mmap.mmap(-1, len(RAW))
    m.write(RAW)
    out = as_bytes(m, text=True)
    assert type(out) is bytes and out == RAW
    m.close()


def test_str_is_utf8_for_text_readers_only() -> None:
    assert as_bytes("é,1", text=True) == b"\xc3\xa9,1"
    assert as_bytes("\ud800", text=True) == b"\xed\xa0\x80"  # surrogatepass: reported later
    with pytest.raises(TypeError) as e:
        as_bytes("1,2", text=False)
    assert str(e.value) == "expected a bytes-like object, got str"


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (3, "int"),
        (None, "NoneType"),
        ([1, 2], "list"),
        (np.array([object()]), "ndarray"),  # a buffer of pointers, not data
        (np.array(["2020-01-01"], "M8[D]"), "ndarray"),  # no buffer format
    ],
)
def test_anything_else_is_a_type_error_naming_the_type(data: Any, name: str) -> None:
    with pytest.raises(TypeError) as e:
        as_bytes(data, text=True)
    assert str(e.value) == f"expected a bytes-like object or str, got {name}"
    with pytest.raises(TypeError) as e:
        as_bytes(data, text=False)
    assert str(e.value) == f"expected a bytes-like object, got {name}"


# --------------------------------------------------------------------------------------
# as_view
# --------------------------------------------------------------------------------------


def test_as_view_of_bytes_and_bytearray_is_not_a_copy() -> None:
    b = bytes(RAW)
    v = as_view(b)
    assert (v.format, v.ndim, v.obj) == ("B", 1, b)
    ba = bytearray(RAW)
    v = as_view(ba)
    assert v.obj is ba and shares(v, ba)
    ba[0] = ord("9")
    assert v[0] == ord("9")  # a view: it sees later changes


def test_as_view_of_a_byte_memoryview_is_the_view_itself() -> None:
    m = memoryview(bytearray(RAW))[1:]
    assert as_view(m) is m


@pytest.mark.parametrize(
    "make",
    [
        lambda: memoryview(bytearray(RAW)).cast("b"),  # signed bytes
        lambda: memoryview(bytearray(RAW)).cast("c"),
        lambda: np.arange(6, dtype=np.float64).reshape(2, 3),
        lambda: np.arange(3, dtype=">i4"),  # not native byte order
        lambda: np.zeros(2, [("a", "<i4"), ("b", "<f4")]),  # structured
        lambda: np.float64(1.5).reshape(()),  # 0-d
        lambda: array.array("d", [1.0, 2.0]),
    ],
    ids=["signed", "char", "2-d", "big-endian", "structured", "0-d", "array.array"],
)
def test_as_view_casts_contiguous_buffers_without_a_copy(make: Any) -> None:
    data = make()
    v = as_view(data)
    assert (v.format, v.ndim, v.c_contiguous) == ("B", 1, True)
    assert v.tobytes() == memoryview(data).tobytes()
    assert shares(v, memoryview(data).cast("B"))


@pytest.mark.parametrize(
    "make",
    [lambda: memoryview(RAW)[::2], lambda: np.arange(4, dtype="<i2").reshape(2, 2).T],
    ids=["strided", "transposed"],
)
def test_as_view_copies_what_is_not_contiguous_once_in_c_order(make: Any) -> None:
    data = make()
    v = as_view(data)
    assert (v.format, v.ndim, v.tobytes()) == ("B", 1, memoryview(data).tobytes())
    assert type(v.obj) is bytes


@pytest.mark.parametrize(("data", "name"), [("\x93NUMPY", "str"), (7, "int"), (np.array([None]), "ndarray")])
def test_as_view_refuses_str_and_non_buffers(data: Any, name: str) -> None:
    with pytest.raises(TypeError) as e:
        as_view(data)
    assert str(e.value) == f"expected a bytes-like object, got {name}"


# --------------------------------------------------------------------------------------
# Every decoder reads by the rule
# --------------------------------------------------------------------------------------

X = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)


def _inputs(body: bytes) -> list[Any]:
    return [
        body,
        bytearray(body),
        memoryview(body),
        memoryview(b"xx" + body)[2:],
        memoryview(np.repeat(np.frombuffer(body, np.uint8), 2).tobytes())[::2],  # strided
        np.frombuffer(body, np.uint8),
        array.array("B", body),
    ]


@pytest.mark.parametrize(
    ("decode", "body"),
    [
        (csvfmt.decode, b"1,2\n3,4\n"),
        (jsonfmt.decode, b"[[1, 2], [3, 4]]"),
        (jlfmt.decode, b"[1, 2]\n[3, 4]\n"),
        (svmfmt.decode, b"1 0:1 1:2\n0 0:3 1:4\n"),
        (rp.decode, rp.encode(smp.from_dense(X))),
        (npyfmt.decode, npyfmt.encode(X)),
    ],
    ids=["csv", "json", "jsonlines", "libsvm", "recordio-protobuf", "npy"],
)
def test_every_format_reads_every_buffer_alike(decode: Any, body: bytes) -> None:
    expected = decode(body)
    for data in _inputs(body):
        assert decode(data) == expected, type(data).__name__


@pytest.mark.parametrize(
    ("decode", "body"),
    [
        (csvfmt.decode, "1,2\n3,4\n"),
        (jsonfmt.decode, "[[1, 2], [3, 4]]"),
        (jlfmt.decode, "[1, 2]\n[3, 4]\n"),
    ],
    ids=["csv", "json", "jsonlines"],
)
def test_text_formats_read_str_as_utf8(decode: Any, body: str) -> None:
    assert decode(body) == decode(body.encode())


@pytest.mark.parametrize(
    ("decode", "body"),
    [
        (rp.decode, rp.encode(smp.from_dense(X))),
        (npyfmt.decode, npyfmt.encode(X)),
        (npyfmt.decode_array, npyfmt.encode(X)),
    ],
    ids=["recordio-protobuf", "npy", "npy-array"],
)
def test_binary_formats_refuse_str(decode: Any, body: bytes) -> None:
    with pytest.raises(TypeError) as e:
        decode(body.decode("latin-1"))
    assert str(e.value) == "expected a bytes-like object, got str"


def test_binary_decoders_view_a_bytearray_without_a_copy() -> None:
    body = bytearray(rp.encode(smp.from_dense(X)))
    values = rp.decode(body).features["values"]
    assert np.shares_memory(values, np.frombuffer(body, np.uint8))
    body = bytearray(npyfmt.encode(X))
    assert np.shares_memory(npyfmt.decode_array(body), np.frombuffer(body, np.uint8))


def test_npy_reads_a_signed_byte_view_as_bytes() -> None:
    body = npyfmt.encode(X)
    assert np.array_equal(npyfmt.decode_array(memoryview(body).cast("b")), X)


def test_streams_are_not_buffers() -> None:
    """Streaming decoders take a binary stream; the rule is for buffers."""
    body = b"1,2\n3,4\n"
    batches = list(csvfmt.iter_decode(io.BytesIO(body), batch_size=1))
    assert [b.to_numpy().tolist() for b in batches] == [[[1.0, 2.0]], [[3.0, 4.0]]]
