"""The C accelerator of the RecordIO-protobuf decoder (sm_payloads.formats._crecordio) against the
numpy code it stands in for: the same batches bit for bit (dtypes, shapes, flags), the same
errors, and the C loops answering "not handled" exactly where the numpy code declines.

Each test runs the decoder twice in one process, once with the compiled module and once
with it patched out (what ``SM_PAYLOADS_PURE_PYTHON=1`` gives), so the comparison also runs
in the suite's pure pass. Skipped where the extension is not built.
"""

from __future__ import annotations

import ctypes
import gc
import importlib
import mmap
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any
from unittest import mock

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import assume, given
from hypothesis import strategies as st

import sm_payloads as smp
from sm_payloads import testing
from sm_payloads.formats import _record_reader as reader
from sm_payloads.formats import _wire
from sm_payloads.formats import recordio_protobuf as rp
from sm_payloads.record import Ragged, Sparse
from sm_payloads.recordio import MAGIC, MAGIC_BYTES, frame_table

from .helpers import record_batches

CT = "application/x-recordio-protobuf"


def _load() -> ModuleType | None:
    try:
        return importlib.import_module("sm_payloads.formats._crecordio")
    except ImportError:
        return None


C = _load()
pytestmark = pytest.mark.skipif(C is None, reason="sm_payloads.formats._crecordio is not built")


def _mprotect() -> Any:
    try:
        f = ctypes.CDLL(None, use_errno=True).mprotect
    except (OSError, AttributeError):  # not a POSIX libc
        return None
    f.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    f.restype = ctypes.c_int
    return f


_MPROTECT = _mprotect()


def guarded(data: bytes) -> np.ndarray:
    """`data` as a uint8 array that ends where an unreadable page begins, so that a read
    even one byte past the end faults (a bytes object has a NUL there, which hides such a
    read). A plain copy where pages cannot be protected."""
    page = mmap.PAGESIZE
    size = -(-len(data) // page) * page + page
    if _MPROTECT is None or not hasattr(mmap, "MAP_PRIVATE"):
        return np.frombuffer(bytearray(data), np.uint8)
    m = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    at = size - page - len(data)
    m[at : at + len(data)] = data
    base = ctypes.addressof(ctypes.c_char.from_buffer(m))
    if _MPROTECT(base + size - page, page, 0) != 0:  # PROT_NONE
        return np.frombuffer(bytearray(data), np.uint8)
    # The array keeps the mapping alive; unmapping works whatever the protection.
    return np.frombuffer(m, np.uint8, count=len(data), offset=at)


@contextmanager
def accelerator(module: ModuleType | None) -> Iterator[None]:
    with mock.patch.object(reader, "crecordio", module):
        yield


# --------------------------------------------------------------------------------------
# Comparing outcomes
# --------------------------------------------------------------------------------------


def _same_array(a: Any, b: Any) -> None:
    assert type(a) is type(b)
    assert a.dtype == b.dtype and a.dtype.str == b.dtype.str
    assert a.shape == b.shape
    for flag in ("c_contiguous", "writeable", "owndata"):
        assert getattr(a.flags, flag) == getattr(b.flags, flag), flag
    if a.dtype == object:
        assert a.tolist() == b.tolist()
    else:
        assert a.tobytes() == b.tobytes()


def _same_column(a: Any, b: Any) -> None:
    assert type(a) is type(b)
    if isinstance(a, np.ndarray):
        _same_array(a, b)
    elif isinstance(a, Sparse):
        assert a.shape == b.shape
        _same_column(a.matrix, b.matrix)
    elif isinstance(a, Ragged):
        _same_array(a.values, b.values)
        _same_array(a.offsets, b.offsets)
        assert (a.valid is None) == (b.valid is None)
        if a.valid is not None:
            _same_array(a.valid, b.valid)
    else:
        assert sp.issparse(a), type(a)
        assert a.format == b.format and a.shape == b.shape
        for part in ("data", "indices", "indptr"):
            _same_array(getattr(a, part), getattr(b, part))


def assert_identical(a: smp.RecordBatch, b: smp.RecordBatch) -> None:
    assert a.n == b.n
    for map_name in ("features", "label"):
        ca, cb = getattr(a, map_name), getattr(b, map_name)
        assert list(ca) == list(cb)  # the same column order too
        for key in ca:
            _same_column(ca[key], cb[key])
    assert (a.uid, a.metadata, a.configuration) == (b.uid, b.metadata, b.configuration)


def _decode(data: Any, module: ModuleType | None, copy: bool) -> Any:
    with accelerator(module):
        try:
            return rp.decode(data, copy=copy)
        except smp.DecodeError as e:
            return e


def assert_same_outcome(data: bytes, copy: bool = True) -> Any:
    """Decode with and without the accelerator: identical batches or identical errors
    (the input in guarded memory: see `guarded`)."""
    buf = guarded(data)
    fast = _decode(buf, C, copy)
    pure = _decode(buf, None, copy)
    if isinstance(pure, smp.DecodeError):
        assert isinstance(fast, smp.DecodeError), f"C path decoded what the pure path rejects: {pure}"
        assert type(fast) is type(pure)
        assert (str(fast), fast.offset, fast.record_index) == (str(pure), pure.offset, pure.record_index)
    else:
        assert not isinstance(fast, smp.DecodeError), f"C path rejected a valid payload: {fast}"
        assert_identical(fast, pure)
    return pure


def _walk_outcome(buf: np.ndarray, starts: np.ndarray, lengths: np.ndarray, module: ModuleType | None) -> Any:
    with accelerator(module):
        try:
            return reader.walk_decode(buf, starts, lengths)
        except _wire.Decline:
            return None


# --------------------------------------------------------------------------------------
# Strategies: sparse batches with wide shapes (keys of 1 to 5 varint bytes) and values of
# every dtype; mutations inside one record (the framing kept right)
# --------------------------------------------------------------------------------------

WIDTHS = (1, 3, 127, 128, 129, 16383, 16384, 16385, 2**21, 2**28, 2**31 - 1, 2**31, 2**33)
DTYPES = (np.float32, np.float64, np.int32)


@st.composite
def csr_columns(draw: st.DrawFn, n: int) -> Any:
    width = draw(st.sampled_from(WIDTHS))
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    counts = draw(st.lists(st.integers(0, 6), min_size=n, max_size=n))
    top = st.integers(max(0, width - 3), width - 1)
    index = st.one_of(st.integers(0, width - 1), top, st.integers(0, min(width - 1, 300)))
    indices = [draw(index) for _ in range(sum(counts))]
    data = draw(testing.values(dtype, (len(indices),), all_bit_patterns=True))
    indptr = np.zeros(n + 1, np.int64)
    np.cumsum(counts, out=indptr[1:])
    it = np.int32 if width <= 2**31 - 1 else np.int64
    m = sp.csr_array((data, np.array(indices, it), indptr.astype(it)), shape=(n, width))
    if draw(st.booleans()) or width % 2 or width > 2**31:
        return m
    return Sparse(m, (2, width // 2))


@st.composite
def sparse_batches(draw: st.DrawFn, max_records: int = 12) -> smp.RecordBatch:
    n = draw(st.integers(1, max_records))
    names = draw(st.lists(st.sampled_from(["values", "in0", "x", ""]), min_size=1, max_size=2, unique=True))
    features = {k: draw(csr_columns(n)) for k in names}
    label: dict[str, Any] = {}
    kind = draw(st.sampled_from(["none", "scalar", "vector", "int"]))
    if kind == "scalar":
        label["values"] = draw(testing.values(np.float32, (n,), all_bit_patterns=True))
    elif kind == "vector":
        label["values"] = draw(testing.values(np.float64, (n, 2), all_bit_patterns=True))
    elif kind == "int":
        label["score"] = draw(testing.values(np.int32, (n,)))
    return smp.RecordBatch(features, label, n=n)


def _payloads(data: bytes) -> list[bytearray]:
    starts, lengths, joined = frame_table(memoryview(data), CT)
    assert not joined
    return [bytearray(data[s : s + ln]) for s, ln in zip(starts.tolist(), lengths.tolist(), strict=True)]


def _reframe(payloads: list[bytearray]) -> bytes:
    out = bytearray()
    for p in payloads:
        out += MAGIC_BYTES + struct.pack("<I", len(p)) + p + b"\0" * (-len(p) % 4)
    return bytes(out)


@st.composite
def mutated_sparse(draw: st.DrawFn) -> bytes:
    """A sparse payload with one record changed (a byte overwritten, inserted or removed,
    a range cut or doubled), framed again so that only the protobuf is wrong."""
    batch = draw(sparse_batches(max_records=6))
    records = _payloads(rp.encode(batch))
    for _ in range(draw(st.integers(1, 2))):
        i = draw(st.integers(0, len(records) - 1))
        p = records[i]
        at = draw(st.integers(0, len(p)))
        how = draw(st.sampled_from(["set", "insert", "delete", "cut", "double"]))
        byte = draw(st.sampled_from([0x00, 0x01, 0x02, 0x0A, 0x12, 0x1A, 0x3A, 0x7F, 0x80, 0x82, 0xFF]))
        if how == "set" and at < len(p):
            p[at] = draw(st.one_of(st.just(byte), st.integers(0, 255)))
        elif how == "insert":
            p[at:at] = bytes([byte])
        elif how == "delete":
            del p[at : at + 1]
        elif how == "cut":
            del p[at:]
        else:
            end = draw(st.integers(at, len(p)))
            p[at:at] = p[at:end]
    return _reframe(records)


def _uv(v: int, pad: int = 0) -> bytes:
    """The varint of `v` (two's complement 64-bit for negatives); with `pad`, that many
    bytes longer than needed (an overlong encoding of the same value)."""
    v &= 2**64 - 1
    out = bytearray()
    while v >= 0x80:
        out.append(v & 0x7F | 0x80)
        v >>= 7
    if pad:
        out.append(v | 0x80)
        out += b"\x80" * (pad - 1) + b"\x00"
    else:
        out.append(v)
    return bytes(out)


_TENSOR_ITEM = {0x12: 4, 0x1A: 8, 0x3A: 0}  # tensor tag -> bytes per value (0: varints)
_WHERE = ("entry", "key", "value", "tensor", "values", "keys", "shape")
_DEVIATIONS = (
    "length",  # one length prefix off by -2..2
    "overlong",  # one length prefix written with 1 to 10 extra bytes (same value)
    "entry_extra",  # a field after the value inside the map entry
    "value_extra",  # a field after the tensor inside the value
    "tensor_extra",  # an unknown field or a repeated packed field inside the tensor
    "empty_shape",  # a shape field present but empty
    "shape_first",  # the shape before the values
    "key_after_value",
    "no_value",
    "other_key",
    "other_tensor",
    "other_map",  # uid (field 3) instead of features/label
    "trailing",  # bytes after the last column
    "drop_column",
    "repeat_column",
    "keys_wrong",  # a key at or past the width, or one key too many
    "swallow",  # the next entry (or a copy of this one) inside this tensor, value or entry
)


@st.composite
def _column_layout(draw: st.DrawFn, index: int) -> dict[str, Any]:
    sparse = draw(st.booleans())
    width = draw(st.sampled_from([1, 4, 200, 70_000, 2**31 - 1, 2**40]))
    return {
        "map": draw(st.sampled_from([0x0A, 0x12])),
        "key": draw(st.sampled_from([b"values", b"in" + bytes([48 + index]), b"x" * 64, b"\xff"])),
        "ttag": draw(st.sampled_from([0x12, 0x1A, 0x3A])),
        "sparse": sparse,
        "shape": _uv(width) if sparse or draw(st.booleans()) else None,
        "width": width if sparse else None,
    }


def _tensor(draw: st.DrawFn, col: dict[str, Any], dev: str | None) -> dict[str, bytes | None]:
    """The packed fields of one record's tensor (None: the field is absent)."""
    item = _TENSOR_ITEM[col["ttag"]]
    k = draw(st.integers(0, 3))
    if item:
        values = draw(st.binary(min_size=k * item, max_size=k * item))
    else:
        values = b"".join(
            _uv(v) for v in draw(st.lists(st.integers(-(2**31), 2**31 - 1), min_size=k, max_size=k))
        )
    fields: dict[str, bytes | None] = {"values": values if k or draw(st.booleans()) else None}
    fields["keys"] = None
    if col["sparse"]:
        top = col["width"] - 1
        keys = draw(st.lists(st.one_of(st.integers(0, top), st.just(top)), min_size=k, max_size=k))
        if dev == "keys_wrong":
            keys = [*keys, 0] if draw(st.booleans()) else [*keys[:-1], col["width"]]
        fields["keys"] = b"".join(_uv(x) for x in keys) if keys or draw(st.booleans()) else None
    fields["shape"] = b"" if dev == "empty_shape" else col["shape"]
    return fields


def _ld(field: int, content: bytes, name: str, dev: str | None, where: str, amount: int) -> bytes:
    """A length-delimited field, its length prefix changed where `dev` says so."""
    n, pad = len(content), 0
    if name == where and dev == "length":
        n = max(0, n + amount)
    elif name == where and dev == "overlong":
        pad = abs(amount) % 10 + 1
    return _uv(field << 3 | 2) + _uv(n, pad) + content


def _column(
    draw: st.DrawFn, col: dict[str, Any], dev: str | None, where: str, amount: int, inner: bytes = b""
) -> bytes:
    """One map entry; `inner` goes at the end of the content of the field `where` names
    (``tensor``, ``value`` or ``entry``) when `dev` is ``"swallow"``."""
    f = _tensor(draw, col, dev)
    order = ["shape", "values", "keys"] if dev == "shape_first" else ["values", "keys", "shape"]
    tags = {"values": 1, "keys": 2, "shape": 3}
    body = b"".join(_ld(tags[x], f[x] or b"", x, dev, where, amount) for x in order if f[x] is not None)
    if dev == "tensor_extra":
        body += draw(st.sampled_from([b"\x22\x00", b"\x0a\x00", b"\x08\x01", b"\x1a\x01\x04"]))
    if dev == "swallow" and where == "tensor":
        body += inner
    ttag = col["ttag"]
    if dev == "other_tensor":
        ttag = draw(st.sampled_from([t for t in (0x12, 0x1A, 0x3A, 0x4A, 0x0A) if t != ttag]))
    value = _ld(ttag >> 3, body, "tensor", dev, where, amount)
    if dev == "value_extra":
        value += b"\x12\x00"
    if dev == "swallow" and where == "value":
        value += inner
    key = _ld(1, b"other" if dev == "other_key" else col["key"], "key", dev, where, amount)
    value_field = _ld(2, value, "value", dev, where, amount)
    entry = b"" if dev == "no_value" else value_field
    entry = entry + key if dev == "key_after_value" else key + entry
    if dev == "entry_extra":
        entry += draw(st.sampled_from([b"\x1a\x00", value_field, key]))
    if dev == "swallow" and where == "entry":
        entry += inner
    tag = 0x1A if dev == "other_map" else col["map"]
    return _ld(tag >> 3, entry, "entry", dev, where, amount)


@st.composite
def layout_payloads(draw: st.DrawFn, deviation: str | None = None) -> bytes:
    """Records that share one field sequence, as the SDK writes them, with data of every
    tensor type, overlong and odd length prefixes, magic shims, and in most examples a
    record or two with one deviation from the sequence (a wrong length, an extra or missing
    field, the next entry nested inside this one, another key or tensor type...) that the
    walk must notice exactly as the numpy walk does. With `deviation`, every example has a
    record or two with that one."""
    ncols = draw(st.integers(1 if deviation else 0, 3))
    cols = [draw(_column_layout(i)) for i in range(ncols)]
    n = draw(st.integers(1, 5))
    some = deviation is not None or draw(st.integers(0, 3)) > 0
    deviant = set(draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=2))) if some else set()
    kinds = st.sampled_from(_DEVIATIONS) if deviation is None else st.just(deviation)
    records = []
    for i in range(n):
        dev = draw(kinds) if i in deviant and ncols else None
        where = draw(st.sampled_from(_WHERE))
        amount = draw(st.integers(-2, 2))
        target = draw(st.integers(0, max(0, ncols - 1)))
        if dev == "swallow":
            where = draw(st.sampled_from(["tensor", "value", "entry"]))
            parts = [_column(draw, c, None, where, amount) for c in cols]
            inner = parts.pop(target + 1) if target + 1 < ncols else parts[target]
            parts[target] = _column(draw, cols[target], dev, where, amount, inner)
        else:
            parts = [
                _column(draw, c, dev if j == target else None, where, amount) for j, c in enumerate(cols)
            ]
        if dev == "drop_column":
            del parts[target]
        elif dev == "repeat_column":
            parts.insert(target, parts[target])
        elif dev == "trailing":
            parts.append(draw(st.sampled_from([b"\x0a", b"\x22\x00", b"\x00"])))
        record = b"".join(parts)
        if draw(st.integers(0, 4)) == 0:  # the magic shim: field 16, 0 to 3 filler bytes
            filler = draw(st.integers(0, 3))
            length = _uv(filler, draw(st.sampled_from([0, 0, 1, 9, 10])))
            record = b"\x82\x01" + length + bytes(filler) + record
        records.append(bytearray(record))
    return _reframe(records)


# --------------------------------------------------------------------------------------
# Whole decodes
# --------------------------------------------------------------------------------------


@given(sparse_batches(), st.booleans(), st.booleans())
def test_sparse_batches_decode_identically(batch: smp.RecordBatch, sdk: bool, copy: bool) -> None:
    data = rp.encode(batch, sdk_compatible=sdk)
    got = assert_same_outcome(data, copy)
    assert got.equals(batch, bitwise=True)


@given(record_batches(max_records=6), st.booleans())
def test_any_batch_decodes_identically(batch: smp.RecordBatch, copy: bool) -> None:
    assert_same_outcome(rp.encode(batch), copy)


@given(testing.encoded_batches(CT))
def test_encoded_payloads_decode_identically(example: tuple[bytes, smp.RecordBatch]) -> None:
    assert_same_outcome(example[0])


@given(mutated_sparse())
def test_mutated_sparse_records_give_identical_outcomes(data: bytes) -> None:
    assert_same_outcome(data)


@given(testing.mutated_payloads(CT))
def test_mutated_payloads_give_identical_outcomes(data: bytes) -> None:
    assert_same_outcome(data)


@given(sparse_batches(max_records=4), st.data())
def test_truncated_payloads_give_identical_outcomes(batch: smp.RecordBatch, data: st.DataObject) -> None:
    body = rp.encode(batch)
    assert_same_outcome(body[: data.draw(st.integers(0, len(body)))])


def test_records_with_the_magic_take_the_shim_and_decode_identically() -> None:
    """Values holding the RecordIO magic make the encoder put field 16 first in those
    records only: the walk skips it per record."""
    n = 6
    magic = np.array([MAGIC], "<u4").view(np.float32)[0]
    data = np.array([magic, 1.0, magic, 2.0, 3.0, magic, magic], np.float32)
    indices = np.array([0, 3, 1, 2, 7, 5, 6], np.int32)
    X = sp.csr_array((data, indices, np.array([0, 1, 2, 2, 5, 6, 7])), shape=(n, 8))
    batch = smp.from_sparse(X, np.arange(n, dtype=np.float32))
    body = rp.encode(batch)
    assert body != rp.encode(batch, sdk_compatible=True)  # some records carry the shim
    assert any(p[:2] == b"\x82\x01" for p in _payloads(body))
    assert assert_same_outcome(body).equals(batch, bitwise=True)


def test_benchmark_shape_decodes_identically() -> None:
    """The layout of issue #2's benchmark (float32 CSR, a float32 label per row), with
    empty rows and keys of one to three bytes."""
    rng = np.random.default_rng(7)
    n, width = 3000, 40_000
    X = sp.random(n, width, density=0.0005, format="csr", dtype=np.float32, random_state=rng)
    X.indices = X.indices.astype(np.int32)
    y = rng.standard_normal(n, dtype=np.float32)
    body = rp.encode(smp.from_sparse(X, y))
    for copy in (True, False):
        got = assert_same_outcome(body, copy)
        assert (got.features["values"] != X).nnz == 0
        assert np.array_equal(got.label["values"], y)


def test_iter_decode_batches_identically() -> None:
    X = sp.random(50, 300, density=0.05, format="csr", dtype=np.float64, random_state=3)
    body = rp.encode(smp.from_sparse(X, np.ones(50, np.float32)))
    with accelerator(C):
        fast = list(rp.iter_decode(body, batch_size=7))
    with accelerator(None):
        pure = list(rp.iter_decode(body, batch_size=7))
    assert len(fast) == len(pure) == 8
    for a, b in zip(fast, pure, strict=True):
        assert_identical(a, b)


# --------------------------------------------------------------------------------------
# The walk alone: C answers exactly where the numpy walk gets through its layout checks,
# with the same ranges
# --------------------------------------------------------------------------------------


def _numpy_walk_ranges(buf: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> list[Any] | None:
    """The columns the numpy walk hands to `_build_column`, or None where it declines."""
    seen: list[Any] = []

    def record(buf: Any, n: Any, recs: Any, ttype: int, ranges: Any, map_name: str) -> Any:
        seen.append((ttype, [(s.copy(), z.copy()) for s, z in ranges]))
        return np.zeros(n)

    with accelerator(None), mock.patch.object(reader, "_build_column", record):
        try:
            reader.walk_decode(buf, starts, lengths)
        except _wire.Decline:
            return None
    return seen


def _check_walk(body: bytes) -> None:
    assert C is not None
    view = memoryview(body)
    try:
        starts, lengths, joined = frame_table(view, CT)
    except smp.DecodeError:
        return
    if starts.size and not joined:
        _check_walk_table(guarded(body), starts, lengths)


def _check_walk_table(buf: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> None:
    assert C is not None
    expected = _numpy_walk_ranges(buf, starts, lengths)
    got = C.walk(buf, starts, lengths)
    if got is None:
        assert expected is None
        return
    layout, raw = got
    keys = [(m, k) for m, k, _ in layout]
    try:
        names = [k.decode("utf-8") for _, k in keys]
    except UnicodeDecodeError:
        assert expected is None
        return
    if len(set(zip([m for m, _ in keys], names, strict=True))) < len(keys):
        assert expected is None  # a repeated key
        return
    assert expected is not None
    ranges = np.frombuffer(raw, np.int64).reshape(len(layout), 3, 2, starts.size)
    assert [t >> 3 for _, _, t in layout] == [t for t, _ in expected]
    for c, (_, triple) in enumerate(expected):
        for k, (s, z) in enumerate(triple):
            assert np.array_equal(ranges[c, k, 0], s) and np.array_equal(ranges[c, k, 1], z)
    # and the whole walk gives the same batch or the same decline
    fast = _walk_outcome(buf, starts, lengths, C)
    pure = _walk_outcome(buf, starts, lengths, None)
    assert (fast is None) == (pure is None)
    if pure is not None:
        assert_identical(fast, pure)


@given(sparse_batches(max_records=6))
def test_walk_matches_numpy_on_valid_payloads(batch: smp.RecordBatch) -> None:
    _check_walk(rp.encode(batch))


@given(sparse_batches(max_records=2), st.booleans())
def test_walk_of_records_cut_at_every_byte(batch: smp.RecordBatch, alone: bool) -> None:
    """Record 0 (alone) or record 1 cut short at every byte, ending where the buffer ends
    (in guarded memory: a read past the end faults)."""
    record = bytes(_payloads(rp.encode(batch))[0])
    for cut in range(1 if alone else 0, len(record) + 1):  # (decode never walks an empty buffer)
        if alone:
            buf, starts, lengths = guarded(record[:cut]), [0], [cut]
        else:
            buf, starts, lengths = guarded(record + record[:cut]), [0, len(record)], [len(record), cut]
        _check_walk_table(buf, np.array(starts, np.int64), np.array(lengths, np.int64))


@pytest.mark.parametrize(
    "tail",
    [
        b"\x0a\x00",  # an empty entry
        b"\x0a\x02\x0a\x00",  # an empty key and nothing after it
        b"\x0a\x03\x0a\x01v",  # a key and no value
        b"\x0a\x05\x0a\x01v\x12\x00",  # an empty value
        b"\x0a\x07\x0a\x01v\x12\x02\x12\x00",  # an empty tensor
        b"\x0a\x09\x0a\x01v\x12\x04\x12\x02\x1a\x00",  # an empty shape
        b"\x82\x01\x00",  # only the magic shim
    ],
)
def test_walk_of_empty_fields_at_the_end_of_the_buffer(tail: bytes) -> None:
    """Each nesting level empty at the very end of the buffer (guarded memory)."""
    full = b"\x0a\x0d\x0a\x01v\x12\x08\x12\x06\x0a\x04\x00\x00\x80\x3f"
    for records in ([tail], [full, tail], [tail, full]):
        body = b"".join(records)
        starts = np.cumsum([0] + [len(r) for r in records[:-1]]).astype(np.int64)
        lengths = np.array([len(r) for r in records], np.int64)
        _check_walk_table(guarded(body), starts, lengths)


@given(mutated_sparse())
def test_walk_matches_numpy_on_mutated_records(body: bytes) -> None:
    _check_walk(body)


@given(record_batches(max_records=5, kinds=("ragged", "sparse", "dense")))
def test_walk_matches_numpy_on_other_layouts(batch: smp.RecordBatch) -> None:
    _check_walk(rp.encode(batch))


@given(layout_payloads())
def test_walk_matches_numpy_on_grammar_payloads(body: bytes) -> None:
    _check_walk(body)


@pytest.mark.parametrize("deviation", _DEVIATIONS)
@given(data=st.data())
def test_walk_notices_each_deviation_as_numpy_does(deviation: str, data: st.DataObject) -> None:
    _check_walk(data.draw(layout_payloads(deviation)))


@given(layout_payloads())
def test_grammar_payloads_give_identical_outcomes(body: bytes) -> None:
    assert_same_outcome(body)


@pytest.mark.parametrize(
    ("key_length", "columns", "walks"), [(64, 1, True), (65, 1, False), (1, 256, True), (1, 257, False)]
)
def test_walk_limits(key_length: int, columns: int, walks: bool) -> None:
    """Keys of at most 64 bytes and at most 256 columns, as the numpy walk."""
    assert C is not None
    entries = []
    for c in range(columns):
        key = (b"k%d" % c).ljust(key_length, b"_") if columns > 1 else b"k" * key_length
        tensor = _ld(1, b"\0\0\x80\x3f", "", None, "", 0)
        entries.append(
            _ld(
                1,
                _ld(1, key, "", None, "", 0) + _ld(2, _ld(2, tensor, "", None, "", 0), "", None, "", 0),
                "",
                None,
                "",
                0,
            )
        )
    body = _reframe([bytearray(b"".join(entries))] * 3)
    view = memoryview(body)
    starts, lengths, _ = frame_table(view, CT)
    assert (C.walk(np.frombuffer(view, np.uint8), starts, lengths) is not None) == walks
    _check_walk(body)
    got = assert_same_outcome(body)
    assert len(got.features) == columns


# --------------------------------------------------------------------------------------
# The packed-field loops alone
# --------------------------------------------------------------------------------------

_BYTE = st.one_of(st.sampled_from([0x00, 0x01, 0x02, 0x7F, 0x80, 0x81, 0xFF]), st.integers(0, 255))


@st.composite
def regions(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bytes and disjoint regions of them (some empty, gaps between them allowed)."""
    data = np.array(draw(st.lists(_BYTE, max_size=60)), np.uint8)
    cuts = sorted(draw(st.lists(st.integers(0, data.size), min_size=2, max_size=14)))
    starts, lengths = [], []
    for a, b in zip(cuts[::2], cuts[1::2], strict=False):
        starts.append(a)
        lengths.append(b - a)
    return data, np.array(starts, np.int64), np.array(lengths, np.int64)


def _numpy_varints(data: np.ndarray, starts: np.ndarray, lengths: np.ndarray, counts: Any) -> Any:
    try:
        return _wire.decode_varint_stream(_wire.gather(data, starts, lengths), lengths, counts)
    except _wire.Decline:
        return None


@given(regions(), st.booleans(), st.data())
def test_varints_match_numpy(r: Any, with_counts: bool, draw: st.DataObject) -> None:
    assert C is not None
    data, starts, lengths = r
    expected = _numpy_varints(data, starts, lengths, None)
    counts = None
    if with_counts:
        true = None if expected is None else expected[1]
        guess = np.array(draw.draw(st.lists(st.integers(0, 4), min_size=starts.size, max_size=starts.size)))
        counts = true if true is not None and draw.draw(st.booleans()) else guess.astype(np.int64)
        expected = _numpy_varints(data, starts, lengths, counts)
    out = np.empty(int(lengths.sum()), np.uint64)
    got_counts = np.empty(starts.size, np.int64)
    k = C.varints(data, starts, lengths, counts, out, None if with_counts else got_counts)
    if expected is None:
        assert k == -1
        return
    values, per_region = expected
    assert k == values.size
    assert np.array_equal(out[:k], values)
    if not with_counts:
        assert np.array_equal(got_counts, per_region)
    # and the decoder's wrapper returns the numpy answer in both modes
    for module in (C, None):
        with accelerator(module):
            v, c = reader._read_packed_varints(data, starts, lengths, counts)
        assert v.dtype == np.uint64 and np.array_equal(v, values)
        assert c.dtype == np.int64 and np.array_equal(c, per_region)


@given(regions(), st.one_of(st.integers(0, 2**31), st.integers(-1, 1)))
def test_keys32_matches_numpy(r: Any, width: int) -> None:
    """`width` near the largest key too (-1, 0, +1 from it): the bound is exclusive."""
    assert C is not None
    data, starts, lengths = r
    decoded = _numpy_varints(data, starts, lengths, None)
    assume(decoded is not None)
    counts = decoded[1]
    if width <= 1 and decoded[0].size and int(decoded[0].max()) < 2**31:
        width = min(2**31, max(0, int(decoded[0].max()) + width))
    width = max(0, width)
    out = np.empty(int(counts.sum()), np.int32)
    k = C.keys32(data, starts, lengths, counts, out, width)
    values = decoded[0]
    if values.size and int(values.max()) >= width:
        assert k == -1
    else:
        assert k == values.size
        assert np.array_equal(out, values.astype(np.int32))


def test_varints_edge_cases() -> None:
    assert C is not None
    ten = bytes([0xFF] * 9 + [0x01])  # 2**64 - 1: ten bytes, the last 1
    cases = [
        (ten, [18446744073709551615]),
        (bytes([0x80] * 9 + [0x00]), [0]),  # overlong zero: ten bytes
        (bytes([0xFF] * 9 + [0x02]), None),  # overflow
        (bytes([0x80] * 10 + [0x00]), None),  # eleven bytes
        (b"\x96\x01\x01", [150, 1]),
        (b"\x96", None),  # ends inside a varint
    ]
    for raw, want in cases:
        data = np.frombuffer(raw, np.uint8)
        starts, lengths = np.array([0], np.int64), np.array([len(raw)], np.int64)
        out = np.empty(len(raw), np.uint64)
        got = np.empty(1, np.int64)
        k = C.varints(data, starts, lengths, None, out, got)
        assert (k == -1) == (want is None) == (_numpy_varints(data, starts, lengths, None) is None)
        if want is not None:
            assert out[:k].tolist() == want and got.tolist() == [len(want)]


# --------------------------------------------------------------------------------------
# Hostile arguments: the C functions never read outside the buffer and never raise for
# what the input holds (only for arguments of the wrong type)
# --------------------------------------------------------------------------------------

_ANY_I64 = st.one_of(
    st.integers(-3, 40),
    st.sampled_from([-(2**63), -1, 2**31, 2**62, 2**63 - 1]),
    st.integers(-(2**63), 2**63 - 1),
)


@given(
    st.binary(max_size=40),
    st.lists(st.tuples(_ANY_I64, _ANY_I64), min_size=1, max_size=5),
    st.integers(0, 64),
)
def test_hostile_ranges_are_declined_safely(raw: bytes, pairs: list[tuple[int, int]], out_size: int) -> None:
    assert C is not None
    buf = guarded(raw)
    starts = np.array([s for s, _ in pairs], np.int64)
    lengths = np.array([ln for _, ln in pairs], np.int64)
    inside = all(0 <= s <= len(raw) and 0 <= ln <= len(raw) - s for s, ln in pairs)
    got = C.walk(buf, starts, lengths)
    assert got is None or inside
    # outputs in guarded memory too: a write past the end faults
    ok = C.gather(buf, starts, lengths, guarded(bytes(out_size)))
    assert not ok or (inside and int(lengths.sum()) == out_size)
    out64 = guarded(bytes(8 * out_size)).view(np.uint64)
    k = C.varints(buf, starts, lengths, None, out64, np.empty(len(pairs), np.int64))
    assert k == -1 or inside
    out32 = guarded(bytes(4 * out_size)).view(np.int32)
    k = C.keys32(buf, starts, lengths, np.ones(len(pairs), np.int64), out32, 2**31)
    assert k == -1 or inside


def test_walk_declines_before_allocating_for_many_short_records() -> None:
    """Record 0 with many columns and a great many empty records after it: declined
    without sizing an output by (columns x records)."""
    assert C is not None
    entry = b"\x0a\x0c\x0a\x01a\x12\x07\x12\x05\x0a\x03\x00\x00\x00"
    rec0 = b"".join(entry.replace(b"\x01a", b"\x01" + bytes([65 + i % 26])) for i in range(200))
    n = 1_000_000
    buf = np.zeros(len(rec0) + 8, np.uint8)
    buf[: len(rec0)] = np.frombuffer(rec0, np.uint8)
    starts = np.zeros(n, np.int64)
    lengths = np.zeros(n, np.int64)
    lengths[0] = len(rec0)
    starts[1:] = len(rec0)
    assert C.walk(buf, starts, lengths) is None


def test_walk_of_nothing() -> None:
    """No records: both walks decline. Empty records in an empty buffer: both read a batch
    of empty records (the numpy walk used to raise IndexError peeking at the empty buffer;
    decode never calls it so, but the twins must agree)."""
    assert C is not None
    empty = np.zeros(0, np.int64)
    for mod in (None, C):
        assert _walk_outcome(np.zeros(8, np.uint8), empty, empty, mod) is None
        got = _walk_outcome(np.zeros(0, np.uint8), np.zeros(2, np.int64), np.zeros(2, np.int64), mod)
        assert isinstance(got, smp.RecordBatch)
        assert got == smp.RecordBatch.from_records([smp.Record(), smp.Record()])


def test_wrong_arguments_raise() -> None:
    """Programming errors (not input errors): arrays of the wrong type or layout."""
    assert C is not None
    buf = np.zeros(8, np.uint8)
    i64 = np.zeros(1, np.int64)
    bad_buffers = (TypeError, ValueError, BufferError)
    with pytest.raises(TypeError):
        C.walk(buf, np.zeros(1, np.int32), i64)
    with pytest.raises(bad_buffers):
        C.walk(buf, np.zeros(4, np.int64)[::2], np.zeros(2, np.int64))  # not contiguous
    with pytest.raises(ValueError):
        C.walk(buf, np.zeros(2, np.int64), i64)  # sizes differ
    with pytest.raises(bad_buffers):
        C.gather(buf, i64, i64, b"read-only")
    with pytest.raises(TypeError):
        C.keys32(buf, i64, i64, i64, np.zeros(1, np.int64), 5)
    with pytest.raises(ValueError):
        C.keys32(buf, i64, i64, i64, np.zeros(1, np.int32), 2**31 + 1)
    with pytest.raises(TypeError):
        C.varints(buf, i64, i64, None, np.zeros(1, np.uint64), None)
    with pytest.raises(TypeError):
        C.strings(buf, np.zeros(1, np.int32), i64)
    with pytest.raises(ValueError):
        C.strings(buf, np.zeros(2, np.int64), i64)  # sizes differ


# --------------------------------------------------------------------------------------
# Bytes columns (text features) on the walk: `_bytes_column` and its C twin `strings`
# --------------------------------------------------------------------------------------


def _bytes_record(*entries: tuple[int, bytes, bytes]) -> bytes:
    """One record: per entry (map tag, key, Bytes message body)."""
    out = b""
    for map_tag, key, body in entries:
        value = b"\x4a" + _uv(len(body)) + body
        entry = b"\x0a" + _uv(len(key)) + key + b"\x12" + _uv(len(value)) + value
        out += bytes([map_tag]) + _uv(len(entry)) + entry
    return out


def _strs(*values: bytes) -> bytes:
    return b"".join(b"\x0a" + _uv(len(v)) + v for v in values)


def _careful(body: bytes) -> Any:
    """What the careful reader alone gives (every fast path declined)."""

    def decline(*_: Any) -> Any:
        raise _wire.Decline("test")

    with (
        mock.patch.object(reader, "template_decode", lambda *_: None),
        mock.patch.object(reader, "walk_decode", decline),
        mock.patch.object(reader, "vector_decode", decline),
    ):
        try:
            return rp.decode(body)
        except smp.DecodeError as e:
            return e


def assert_as_careful(body: bytes) -> None:
    """The C and pure paths agree (`assert_same_outcome`) and equal the careful reader
    alone: the same batch, or the same error (message, offset, record index)."""
    got = assert_same_outcome(body)
    careful = _careful(body)
    if isinstance(careful, smp.DecodeError):
        assert isinstance(got, smp.DecodeError)
        assert (str(got), got.offset, got.record_index) == (
            str(careful),
            careful.offset,
            careful.record_index,
        )
    else:
        assert_identical(got, careful)


def test_bytes_columns_take_the_walk_with_exact_values() -> None:
    """A str per one-value record, a list otherwise (none or several values), bytes where
    a value is not UTF-8; features and label; on both twins, equal to the careful reader."""
    records = [
        _bytes_record((0x0A, b"text", _strs(b"a")), (0x12, b"tag", _strs(b"x", b"y"))),
        _bytes_record((0x0A, b"text", _strs()), (0x12, b"tag", _strs(b"\xff\xfe"))),
        _bytes_record(
            (0x0A, b"text", _strs(b"\xc3\xa9t\xc3\xa9", b"")), (0x12, b"tag", _strs(b"\xed\xa0\x80"))
        ),
    ]
    body = _reframe([bytearray(r) for r in records])
    starts, lengths, _ = frame_table(memoryview(body), CT)
    for module in (C, None):
        got = _walk_outcome(np.frombuffer(body, np.uint8), starts, lengths, module)
        assert isinstance(got, smp.RecordBatch)  # the walk read it (no decline)
        assert list(got.features) == ["text"] and list(got.label) == ["tag"]
        assert got.features["text"].dtype == object and got.label["tag"].dtype == object
        assert got.features["text"].tolist() == ["a", [], ["été", ""]]
        assert got.label["tag"].tolist() == [["x", "y"], b"\xff\xfe", b"\xed\xa0\x80"]
        assert_identical(got, _careful(body))


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (_strs(b"a") + b"\x12\x04text", "a content_type"),
        (_strs(b"a") + b"\x18\x01", "an unknown varint field"),
        (b"\x0a\x05ab", "a value past its message"),
        (b"\x0a", "a value with no length"),
        (b"\x0a" + _uv(2, pad=9), "an overlong length past 10 bytes"),
        (b"\x0a" + b"\xff" * 4 + b"\x0f", "a length of 2**31 or more"),
    ],
)
def test_bytes_messages_with_anything_else_decline_to_the_careful_reader(body: bytes, why: str) -> None:
    """Both twins decline the same messages, and the decode equals the careful reader's."""
    assert C is not None
    buf = np.frombuffer(_strs(b"q") + body, np.uint8)
    starts = np.array([0, len(_strs(b"q"))], np.int64)
    lengths = np.array([starts[1], len(body)], np.int64)
    assert C.strings(buf, starts, lengths) is None, why
    with accelerator(None), pytest.raises(_wire.Decline):
        reader._bytes_column(buf, starts, lengths)
    records = [_bytes_record((0x0A, b"s", _strs(b"q"))), _bytes_record((0x0A, b"s", body))]
    assert_as_careful(_reframe([bytearray(r) for r in records]))


def test_bytes_message_overlong_length_reads_as_protobuf_does() -> None:
    """A length written with extra bytes (at most 10 in all) is the same length."""
    assert C is not None
    body = b"\x0a" + _uv(2, pad=3) + b"hi"
    buf = np.frombuffer(body, np.uint8)
    at, size = np.zeros(1, np.int64), np.array([len(body)], np.int64)
    assert C.strings(buf, at, size) == ["hi"]
    with accelerator(None):
        assert reader._bytes_column(buf, at, size).tolist() == ["hi"]


def test_strings_reads_nothing_outside_its_messages() -> None:
    """Messages that leave the buffer decline (no read past it: guarded memory)."""
    assert C is not None
    buf = guarded(_strs(b"ab"))
    assert C.strings(buf, np.array([0], np.int64), np.array([5], np.int64)) is None
    assert C.strings(buf, np.array([-1], np.int64), np.array([2], np.int64)) is None
    assert C.strings(buf, np.array([0], np.int64), np.array([3], np.int64)) is None  # cut value
    assert C.strings(buf, np.array([0], np.int64), np.array([4], np.int64)) == ["ab"]
    assert C.strings(buf, np.zeros(0, np.int64), np.zeros(0, np.int64)) == []


def test_strings_notices_a_finalizer_that_writes_into_the_buffer() -> None:
    """A collection run by the list strings makes for a message of two values calls a
    finalizer that breaks the second value's tag: BufferError, not a read past the buffer
    (it read 2 bytes past this 10-byte buffer with the first value's length)."""
    assert C is not None
    raw = bytearray(b"\x0a\x05hello\x0a\x01x")
    buf = np.frombuffer(raw, np.uint8)
    keep: list[list[int]] = []

    class Breaks:  # collected at the second collection
        def __init__(self) -> None:
            self.me = self

        def __del__(self) -> None:
            raw[7] = 0x12

    class Arms:  # collected at the first (strings' outer list): leaves a Breaks behind
        def __init__(self) -> None:
            self.me = self

        def __del__(self) -> None:
            Breaks()
            keep.append([])  # one more tracked object: the next allocation collects

    starts, lengths = np.array([0], np.int64), np.array([10], np.int64)
    old = gc.get_threshold()
    gc.collect()
    gc.set_threshold(1)
    raised: BufferError | None = None
    try:
        Arms()
        C.strings(buf, starts, lengths)
    except BufferError as e:
        raised = e
    finally:
        gc.set_threshold(*old)
    assert str(raised) == "strings: the data changed while it was read"
    assert bytes(raw) == b"\x0a\x05hello\x12\x01x"
    assert C.strings(buf, starts, lengths) is None  # read again: a message with another field


@given(record_batches(max_records=6, kinds=("strings", "dense", "ragged")), st.booleans())
def test_strings_batches_walk_and_equal_the_careful_reader(batch: smp.RecordBatch, sdk: bool) -> None:
    """Batches with text columns: the walk (C and numpy twins) matches, and the decoded
    batch equals both the careful reader's and the batch encoded."""
    body = rp.encode(batch, sdk_compatible=sdk)
    _check_walk(body)
    got = assert_same_outcome(body)
    assert_identical(got, _careful(body))


@given(record_batches(max_records=5, kinds=("strings",)), st.data())
def test_mutated_strings_payloads_give_identical_outcomes(
    batch: smp.RecordBatch, data: st.DataObject
) -> None:
    """One byte of a text batch changed: C, numpy and careful readers agree."""
    body = bytearray(rp.encode(batch))
    assume(len(body) > 0)
    at = data.draw(st.integers(0, len(body) - 1))
    body[at] = data.draw(st.integers(0, 255))
    assert_as_careful(bytes(body))


# --------------------------------------------------------------------------------------
# Multi-part records (a payload holding the magic word at an aligned offset, split the
# dmlc way): the fast readers read the joined payloads
# --------------------------------------------------------------------------------------


def _with_magic(batch: smp.RecordBatch) -> bytes:
    from .test_recordio_protobuf import MAGIC_ROW, split_records

    m = np.tile(MAGIC_ROW, (len(batch), 1))
    data = split_records(smp.RecordBatch({**batch.features, "m": m}, batch.label, n=len(batch)))
    assert any(f.pieces > 1 for f in _frames(data))
    return data


def _frames(data: bytes) -> Any:
    from sm_payloads.recordio import iter_frames

    return iter_frames(data)


def test_multi_part_records_take_the_walk_with_exact_values() -> None:
    """Every record split in parts: read by the walk from the joined payloads (no careful
    read), bit for bit the batch written, on both twins."""
    from .test_recordio_protobuf import MAGIC_ROW

    x = np.array([[1.5, -0.0], [np.nan, 3.0], [2.0, 4.0]], np.float32)
    y = np.array([0.25, 1.0, -2.0], np.float32)
    data = _with_magic(smp.RecordBatch({"values": x}, {"y": y}))
    for module in (C, None):
        with accelerator(module), mock.patch.object(reader, "careful_decode", side_effect=AssertionError):
            got = rp.decode(data)
        assert list(got.features) == ["values", "m"] and list(got.label) == ["y"]
        assert got.features["values"].tobytes() == x.tobytes()
        assert got.features["m"].tobytes() == np.tile(MAGIC_ROW, (3, 1)).tobytes()
        assert got.label["y"].tobytes() == y.tobytes()


@given(record_batches(min_records=1, max_records=6, kinds=("dense", "sparse", "ragged", "strings")))
def test_multi_part_records_decode_as_the_careful_reader_does(batch: smp.RecordBatch) -> None:
    """Batches with a multi-part record: C and pure paths and the careful reader alone agree,
    and give the batch written."""
    data = _with_magic(batch)
    got = assert_same_outcome(data)
    assert_identical(got, _careful(data))
    expected = smp.RecordBatch({**batch.features, "m": got.features["m"]}, batch.label, n=len(batch))
    assert got.equals(expected, bitwise=True)


@given(record_batches(min_records=1, max_records=4, kinds=("dense", "strings")), st.data())
def test_mutated_multi_part_bodies_give_identical_outcomes(
    batch: smp.RecordBatch, data: st.DataObject
) -> None:
    body = bytearray(_with_magic(batch))
    at = data.draw(st.integers(0, len(body) - 1))
    body[at] = data.draw(st.integers(0, 255))
    assert_as_careful(bytes(body))
