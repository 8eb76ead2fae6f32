"""Shapes that once took the general path of application/json and application/jsonlines
requests, now read without a Python object per record: scalar records (``1`` per JSON
Lines line, ``[[1], 1, 1]``, ``{"instances": [1, 2]}``, ``{"x": 1}``) by the request
scanner (_cjson.records and its twin request_records_pure), and records of several
columns, strings columns and ``uid`` strings (``{"a": [1, 2], "b": "text", "uid": "u"}``)
column by column (request_fast: _cjsonrec.json_records in its request mode, and its twin
records_pure). Every body gives the outcome
the general path gives (the batch bit for bit, or the same DecodeError: message, offset,
line, record index), on the C path and on the pure path; expected values are written out
or come from the general path forced (the scanner switched off)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import orjson
import pytest
import scipy.sparse as sp
from hypothesis import example, given
from hypothesis import strategies as st

import sm_payloads as smp
from sm_payloads.columns import Ragged, Sparse
from sm_payloads.formats import _json_layout as J
from sm_payloads.formats import json as JS
from sm_payloads.formats import jsonlines as JL

C = J._CJ

# --------------------------------------------------------------------------------------
# Comparisons and the three paths
# --------------------------------------------------------------------------------------


def _same_arrays(a: Any, b: Any) -> None:
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape, (a.dtype, b.dtype, a.shape, b.shape)
    if a.dtype == object:
        assert a.tolist() == b.tolist()
        assert [type(x) for x in a.ravel()] == [type(x) for x in b.ravel()]
    else:
        assert a.tobytes() == b.tobytes(), (a, b)


def same_column(a: Any, b: Any) -> None:
    assert type(a) is type(b), (type(a), type(b))
    if isinstance(a, Ragged):
        _same_arrays(a.values, b.values)
        _same_arrays(a.offsets, b.offsets)
        assert (a.valid is None) == (b.valid is None)
        if a.valid is not None:
            _same_arrays(a.valid, b.valid)
    elif isinstance(a, Sparse):
        assert a.shape == b.shape
        same_column(a.matrix, b.matrix)
    elif sp.issparse(a):
        assert a.shape == b.shape
        for part in ("data", "indices", "indptr"):
            _same_arrays(getattr(a, part), getattr(b, part))
    else:
        _same_arrays(a, b)


def same_outcome(a: Any, b: Any) -> None:
    if isinstance(a, tuple) or isinstance(b, tuple):
        assert a == b
        return
    assert a.n == b.n
    for m in ("features", "label"):
        ca, cb = getattr(a, m), getattr(b, m)
        assert list(ca) == list(cb)
        for k in ca:
            same_column(ca[k], cb[k])
    assert (a.uid, a.metadata, a.configuration) == (b.uid, b.metadata, b.configuration)


def outcome(fn: Callable[[], smp.RecordBatch]) -> smp.RecordBatch | tuple[Any, ...]:
    try:
        return fn()
    except smp.DecodeError as e:
        return ("error", e.reason, e.offset, e.line, e.record_index)


@contextmanager
def general_path() -> Iterator[None]:
    """The request decoders with every scanner switched off (the reference)."""
    with pytest.MonkeyPatch.context() as m:
        for module in (JS, JL):
            m.setattr(module, "request_group", lambda *a, **k: None)
            m.setattr(module, "request_fast", lambda *a, **k: None)
        yield


@contextmanager
def pure() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as m:
        m.setattr(J, "_CJ", None)
        m.setattr(J, "_CREC", None)
        yield


def decode(body: bytes, lines: bool, response: bool = False, **kw: Any) -> smp.RecordBatch:
    if response:
        return (JL.decode_response if lines else JS.decode_response)(body, **kw)
    return (JL.decode if lines else JS.decode)(body, **kw)


def all_paths(
    body: bytes, lines: bool, response: bool = False, **kw: Any
) -> smp.RecordBatch | tuple[Any, ...]:
    """The outcome of the default path, after checking that the pure path and the general
    path give the same one."""
    got = outcome(lambda: decode(body, lines, response, **kw))
    with general_path():
        want = outcome(lambda: decode(body, lines, response, **kw))
    with pure():
        twin = outcome(lambda: decode(body, lines, response, **kw))
    same_outcome(got, want)
    same_outcome(twin, want)
    if lines:  # JSON Lines in blocks of a few lines (FastGroup and GeneralGroup joined)
        same_outcome(outcome(lambda: decode(body, True, response, block_size=7, **kw)), want)
    return got


def scanned(body: bytes, lines: bool) -> J.RequestScan | None:
    """The request scanner's reading; where C and its twin both read the body, the same.
    (The twin reads what orjson parses, so it may take a body the kernel declines, such as
    a key twice, which orjson and so the general path read as the last one.)"""
    got = J.scan_request_records(body, 0, len(body), lines, False)
    twin = J.request_records_pure(body, 0, len(body), lines, False)
    if got is not None:
        assert twin is not None
    if got is not None and twin is not None:
        assert (got.kind, got.name, got.shape) == (twin.kind, twin.name, twin.shape)
        for x, y in zip(got[2:5] + got[6:], twin[2:5] + twin[6:], strict=True):
            assert (x is None) == (y is None)
            if x is not None:
                _same_arrays(x, y)
    return got


# --------------------------------------------------------------------------------------
# Scalar records: exact values
# --------------------------------------------------------------------------------------


@pytest.mark.skipif(C is None, reason="the C extension is not built")
def test_kernel_marks_scalars_with_count_minus_one() -> None:
    body = b'[[1], 1, -2.5, {"features": 3}]'
    got = C.records(body, 0, len(body), False, False)
    assert got is not None
    kind, name, values, counts, keys, shape, starts, lines, n = got
    assert (kind, name, keys, shape, starts, lines, n) == (0, b"values", None, None, None, None, 4)
    assert np.frombuffer(values, np.float64).tolist() == [1.0, 1.0, -2.5, 3.0]
    assert np.frombuffer(counts, np.int64).tolist() == [1, -1, -1, -1]


def test_scalars_among_lists_are_ragged() -> None:
    got = all_paths(b"[[1], 1, 1, 2.5]", False)
    assert isinstance(got, smp.RecordBatch) and got.n == 4
    col = got.features["values"]
    assert isinstance(col, Ragged)
    assert col.values.tolist() == [1.0, 1.0, 1.0, 2.5]
    assert col.offsets.tolist() == [0, 1, 2, 3, 4]
    assert col.valid is None
    s = scanned(b"[[1], 1, 1, 2.5]", False)
    assert s is not None and s.counts.tolist() == [1, 1, 1, 1]
    assert s.scalars is not None and s.scalars.tolist() == [False, True, True, True]


@pytest.mark.parametrize(
    ("body", "lines"),
    [
        (b'{"instances": [1, -2.5, 3e2, -0]}', False),
        (b"1\n-2.5\n\n3e2\r\n-0\n", True),
        (b'[{"features": 1}, {"features": -2.5}, {"values": 3e2}, {"features": -0}]', False),
        (
            b'{"data": {"features": 1}}\n{"data": {"features": -2.5}}\n{"features": 3e2}\n{"features": -0}',
            True,
        ),
    ],
)
def test_all_scalars_make_a_vector(body: bytes, lines: bool) -> None:
    got = all_paths(body, lines)
    assert isinstance(got, smp.RecordBatch)
    col = got.features["values"]
    assert isinstance(col, np.ndarray) and col.dtype == np.float64 and col.shape == (4,)
    assert col.tolist() == [1.0, -2.5, 300.0, 0.0]
    assert np.signbit(col).tolist() == [False, True, False, False]  # the integer -0 is 0.0
    s = scanned(body, lines)
    assert s is not None and s.scalars is not None and s.scalars.all()


def test_named_scalars() -> None:
    got = all_paths(b'{"x": 0.5}\n{"x": 7}\n', True)
    assert isinstance(got, smp.RecordBatch)
    assert list(got.features) == ["x"]
    assert got.features["x"].tolist() == [0.5, 7.0]


def test_a_list_of_one_is_not_a_scalar() -> None:
    got = all_paths(b"[1]\n2\n", True)
    assert isinstance(got, smp.RecordBatch)
    col = got.features["values"]
    assert isinstance(col, Ragged) and col.offsets.tolist() == [0, 1, 2]
    got = all_paths(b"[1]\n[2]\n", True)
    assert isinstance(got, smp.RecordBatch) and got.features["values"].shape == (2, 1)


def test_scalars_float32_and_int32() -> None:
    got = all_paths(b'{"instances": [0.1, 16777217, 3]}', False, dtype="float32")
    assert isinstance(got, smp.RecordBatch)
    col = got.features["values"]
    assert col.dtype == np.float32
    assert col.tolist() == [float(np.float32(0.1)), 16777216.0, 3.0]
    got = all_paths(b"1\n-7\n", True, dtype="int32")
    assert isinstance(got, smp.RecordBatch)
    assert got.features["values"].dtype == np.int32 and got.features["values"].tolist() == [1, -7]


def test_scalar_errors_name_their_record() -> None:
    got = all_paths(b"[[1], 1, 1.5]", False, dtype="int32")
    assert got == ("error", "features['values']: value 1.5 is not an int32 (dtype=int32)", 9, None, 2)
    got = all_paths(b"1\n\n 2.5\n", True, dtype="int32")
    assert got == ("error", "features['values']: value 2.5 is not an int32 (dtype=int32)", 4, 3, 1)


@pytest.mark.parametrize(
    ("body", "lines"),
    [
        (b'[[1], 1, "a"]', False),  # a string: the general path's error
        (b"[[1], 1, [[2]]]", False),  # a matrix beside scalars
        (b"[[1], 1, null]", False),
        (b"[[1], 1, true]", False),
        (b"[1, [2]]", False),  # a number first: the general path decides it is two records
        (b"1\n1e400\n", True),  # beyond float64
        (b"1\n01\n", True),  # not JSON
        (b"1\n-\n", True),
        (b"1\n2 3\n", True),
        (b'{"x": 1}\n{"y": 2}\n', True),  # two columns
        (b'{"x": 1, "x": 2}\n', True),
        (b'{"label": 1}\n', True),
        (b'[[1], {"data": {"keys": [0], "shape": [2], "values": [1]}}, 1]', False),  # sparse beside a scalar
        (b"1\nNaN\n", True),
    ],
)
def test_declined_bodies_keep_the_general_path_outcome(body: bytes, lines: bool) -> None:
    if C is not None:
        assert scanned(body, lines) is None
    for allow_nan in (False, True):
        all_paths(body, lines, allow_nan=allow_nan)


# --------------------------------------------------------------------------------------
# Differential tests: valid and mutated bodies
# --------------------------------------------------------------------------------------

_numbers = st.one_of(
    st.integers(-(2**53), 2**53),
    st.integers(-(2**63), 2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, -0.0, 5e-324, 0.1, 16777217, 1.7976931348623157e308]),
)
_scalar_cell = st.one_of(_numbers, st.lists(_numbers, max_size=3))
_odd = st.sampled_from(["a", None, True, [[1, 2]], {}, {"values": [1]}])


@st.composite
def _scalar_records(draw: st.DrawFn) -> list[Any]:
    how = draw(st.sampled_from(["bare", "features", "name", "data"]))
    cells = draw(st.lists(st.one_of(_scalar_cell, _odd) if draw(st.booleans()) else _scalar_cell, max_size=8))
    if how == "bare":
        return cells
    if how == "features":
        return [{"features": c} for c in cells]
    if how == "name":
        return [{"x": c} for c in cells]
    return [{"data": {"x": c}} for c in cells]


def _body(recs: list[Any], lines: bool, envelope: bool, spaced: bool) -> bytes:
    dump: Callable[[Any], bytes] = (lambda x: json.dumps(x).encode()) if spaced else orjson.dumps
    if lines:
        return b"".join(dump(r) + b"\n" for r in recs)
    return dump({"instances": recs} if envelope else recs)


_DTYPES = st.sampled_from([None, "float32", "int32"])


@given(_scalar_records(), st.booleans(), st.booleans(), st.booleans(), _DTYPES)
@example([[1], 1, 1], False, False, False, None)
@example([1, 2, 3], False, True, False, "int32")
def test_scalar_records_equal_the_general_path(
    recs: list[Any], lines: bool, envelope: bool, spaced: bool, dtype: str | None
) -> None:
    body = _body(recs, lines, envelope, spaced)
    all_paths(body, lines, dtype=dtype)
    scanned(body, lines)


def _mutated(body: bytes, data: st.DataObject, alphabet: bytes) -> bytes:
    """`body` with one byte dropped, replaced or inserted (one of `alphabet`); an empty body
    as it is."""
    out = bytearray(body)
    if out:
        at = data.draw(st.integers(0, len(out) - 1))
        op = data.draw(st.sampled_from(["drop", "replace", "insert"]))
        byte = data.draw(st.sampled_from(alphabet))
        if op == "drop":
            del out[at]
        elif op == "replace":
            out[at] = byte
        else:
            out.insert(at, byte)
    return bytes(out)


@given(_scalar_records(), st.booleans(), st.data())
def test_mutated_bodies_equal_the_general_path(recs: list[Any], lines: bool, data: st.DataObject) -> None:
    body = _mutated(_body(recs, lines, True, False), data, b'0123456789-+.eE,[]{}": \n\tx')
    all_paths(body, lines)
    scanned(body, lines)


# --------------------------------------------------------------------------------------
# Records of several columns, strings, uid: column by column (request_fast)
# --------------------------------------------------------------------------------------

CREC = J._CREC


def columns_read(body: bytes, lines: bool) -> J._RecordColumns | None:
    """request_fast's kernel reading; where C and its twin both read the body, the same."""
    got = None if CREC is None else CREC.json_records(body, 0, len(body), lines, True)
    twin = J.records_pure(body, 0, len(body), lines, True)
    if got is not None:
        assert twin is not None
        assert got[0] == twin[0]
        shapes = [[(k, kind, w) for k, kind, _p, w, _i in cols] for cols in (got[1], twin[1])]
        assert shapes[0] == shapes[1]
        for (_k, kind, a, _w, ia), (_k2, _kind2, b, _w2, ib) in zip(got[1], twin[1], strict=True):
            assert (ia is None) == (ib is None)
            if ia is not None:
                assert bytes(ia) == np.asarray(ib, dtype=np.int64).tobytes()
            if kind == "s":
                assert a == b and all(type(x) is str for x in a)
            elif kind == "S":  # lists of strings, a list per record
                assert a == b and all(type(x) is list and all(type(t) is str for t in x) for x in a)
            elif kind == "r":  # (values, counts)
                assert bytes(a[0]) == np.asarray(b[0], dtype=np.float64).tobytes()
                assert bytes(a[1]) == np.asarray(b[1], dtype=np.int64).tobytes()
            elif kind == "k":  # sparse: (values, keys, counts, shape)
                assert bytes(a[0]) == np.asarray(b[0], dtype=np.float64).tobytes()
                assert bytes(a[1]) == np.asarray(b[1], dtype=np.int64).tobytes()
                assert bytes(a[2]) == np.asarray(b[2], dtype=np.int64).tobytes()
                assert a[3] == b[3] and type(a[3]) is tuple
            else:
                assert bytes(a) == np.asarray(b, dtype=np.float64).tobytes()
    return got if CREC is not None else twin


def test_two_columns_exact() -> None:
    body = b'{"instances": [{"a": [1, 2], "b": [3]}, {"b": [6], "a": [4, 5.5]}]}'
    got = all_paths(body, False)
    assert isinstance(got, smp.RecordBatch) and got.n == 2 and list(got.features) == ["a", "b"]
    assert got.features["a"].tolist() == [[1.0, 2.0], [4.0, 5.5]]
    assert got.features["b"].tolist() == [[3.0], [6.0]]
    assert columns_read(body, False) is not None
    lines = b'{"a": [1, 2], "b": [3]}\n\n{"b": [6], "a": [4, 5.5]}\n'
    same_outcome(all_paths(lines, True), got)
    assert columns_read(lines, True) is not None


def test_strings_and_uid_exact() -> None:
    body = b'[{"features": "a", "uid": "u1", "x": 0.5}, {"features": "\\u00e9\\n", "uid": "u2", "x": 2}]'
    got = all_paths(body, False)
    assert isinstance(got, smp.RecordBatch) and got.n == 2
    assert list(got.features) == ["values", "x"]
    col = got.features["values"]
    assert col.dtype == object and col.tolist() == ["a", "\u00e9\n"]
    assert got.features["x"].tolist() == [0.5, 2.0]
    assert list(got.uid or ()) == ["u1", "u2"]
    assert got.metadata is None and got.configuration is None
    assert columns_read(body, False) is not None


@pytest.mark.parametrize("response", [False, True])
def test_ragged_columns_exact(response: bool) -> None:
    body = b'[{"a": 1, "b": "x"}, {"b": "y", "a": [2, 3]}, {"a": [], "b": "z"}, {"a": [4], "b": "w"}]'
    got = all_paths(body, False, response=response)
    assert isinstance(got, smp.RecordBatch) and got.n == 4
    cols = got.label if response else got.features
    col = cols["a"]
    assert isinstance(col, Ragged) and col.valid is None
    assert col.values.tolist() == [1.0, 2.0, 3.0, 4.0] and col.offsets.tolist() == [0, 1, 3, 3, 4]
    assert cols["b"].tolist() == ["x", "y", "z", "w"]
    kernel = columns_read(body, False)
    assert kernel is not None and [(k, kind) for k, kind, _p, _w, _i in kernel[1]] == [("a", "r"), ("b", "s")]
    lines = body[1:-1].replace(b"}, {", b"}\n{")
    same_outcome(all_paths(lines, True, response=response), got)
    got = all_paths(body, False, response=response, dtype="int32")
    assert isinstance(got, smp.RecordBatch)
    assert (got.label if response else got.features)["a"].values.tolist() == [1, 2, 3, 4]


def test_empty_records() -> None:
    for body, lines in (
        (b"{}\n\n{ }\n{}", True),
        (b'{"instances": [{}, {}, {}]}', False),
        (b"[{}, {}, {}]", False),
    ):
        got = all_paths(body, lines)
        assert isinstance(got, smp.RecordBatch) and got.n == 3 and not got.features and not got.label
        assert got.uid is None
        assert columns_read(body, lines) == (3, [])
    # responses too (n records, no column), but the Autopilot reader's (texts)
    assert CREC is None or CREC.json_records(b"[{}, {}]", 0, 8, False) == (2, [])
    assert CREC is None or CREC.json_records(b"[{}, {}]", 0, 8, False, False, True) is None


def test_column_errors_equal_the_general_path() -> None:
    body = b'{"a": 1, "b": "x"}\n{"a": 2.5, "b": "y"}\n'
    got = all_paths(body, True, dtype="int32")
    assert got == ("error", "features['a']: value 2.5 is not an int32 (dtype=int32)", 19, 2, 1)
    got = all_paths(b'[{"a": [1], "b": 1}, {"a": [2, 3], "b": 1}]', False)
    assert isinstance(got, smp.RecordBatch) and isinstance(got.features["a"], Ragged)


@pytest.mark.parametrize(
    "body",
    [
        b'[{"features": [1], "values": [2]}]',  # one column twice: the general path's error
        b'[{"uid": 1, "a": [1]}]',  # a uid that is not a string
        b'[{"a": 1, "b": "x"}, {"a": 1, "b": 2}]',  # kinds differ
        b'[{"a": 1, "b": "x"}, {"a": 1, "b": "\\ud800"}]',  # a lone surrogate
        b'{"instances": [{"a": 1, "b": "x"}], "configuration": {"k": 1}}',
        b'{"predictions": [{"a": 1, "b": "x"}]}',
        b'[{"a": 1, "b": "x"}, {"a": 1, "b": "x"} x',
        b'[{"a": true, "b": "x"}]',
    ],
)
def test_declined_columns_keep_the_general_path_outcome(body: bytes) -> None:
    assert J.request_fast(body, 0, len(body), False, None) is None
    with pure():
        assert J.request_fast(body, 0, len(body), False, None) is None
    for allow_nan in (False, True):
        all_paths(body, False, allow_nan=allow_nan)
        if body.startswith(b"[{") and body.endswith(b"}]"):  # the same records as JSON Lines
            all_paths(body[1:-1].replace(b"}, {", b"}\n{") + b"\n", True, allow_nan=allow_nan)


@pytest.mark.parametrize(
    "body",
    [
        b'[{"a": 1, "b": "x"}, {"a": 1}]',  # a key missing: None in a strings column
        b'[{}, {"a": 1}]',  # an empty record among others: every key missing
        b'[{"a": 1}, {}]',
        b'[{"a": [1, 2]}, {"b": 3}, {"a": [4, 5], "b": 6}]',  # each key in some records
    ],
)
def test_missing_keys_are_read_column_by_column(body: bytes) -> None:
    """A key missing from some records: the column reader gives what the general path
    gives (a Ragged column with those records invalid, None in a strings column)."""
    for p in ("c", "pure") if CREC is not None else ("pure",):
        with pure() if p == "pure" else contextlib.nullcontext():
            assert J.request_fast(body, 0, len(body), False, None) is not None
    got = all_paths(body, False)
    lines = body[1:-1].replace(b"}, {", b"}\n{") + b"\n"
    assert isinstance(all_paths(lines, True), smp.RecordBatch)
    assert isinstance(got, smp.RecordBatch) and got.n == body.count(b"{")
    if b'"b": "x"' in body:
        assert got.features["a"].tolist() == [1.0, 1.0]
        assert got.features["b"].dtype == object and got.features["b"].tolist() == ["x", None]
        return
    a = got.features["a"]
    assert isinstance(a, Ragged) and a.valid is not None
    held = [b'"a"' in r for r in body[1:-1].split(b"}, {")]
    assert a.valid.tolist() == held


_KEYS = st.sampled_from(
    ["a", "b", "features", "values", "uid", "metadata", "configuration", "label", "é", ""]
)
_text = st.text(max_size=4)


@st.composite
def _column_records(draw: st.DrawFn) -> list[Any]:
    keys = draw(st.lists(_KEYS, min_size=1, max_size=4, unique=True))
    kinds = {k: draw(st.sampled_from(["n", "s", "v", "r", "S"])) for k in keys}
    widths = {k: draw(st.integers(0, 3)) for k in keys}
    messy = draw(st.booleans())

    def value(k: str) -> Any:
        if messy and draw(st.integers(0, 9)) == 0:
            return draw(st.one_of(_numbers, _text, st.lists(_numbers, max_size=3), _odd))
        if kinds[k] == "n":
            return draw(_numbers)
        if kinds[k] == "s":
            return draw(_text)
        if kinds[k] == "r":  # numbers and lists of any length: a ragged column
            return draw(_scalar_cell)
        if kinds[k] == "S":  # lists of strings (sometimes an empty one)
            return draw(st.lists(_text, min_size=0 if messy else 1, max_size=3))
        return draw(st.lists(_numbers, min_size=widths[k], max_size=widths[k]))

    out = []
    empty = draw(st.integers(0, 9)) == 0
    sparse = draw(st.integers(0, 3)) == 0  # keys missing from some records ({} among them)
    for _ in range(draw(st.integers(1, 6))):
        order = draw(st.permutations(keys)) if messy else keys
        rec = {} if empty else {k: value(k) for k in order if not sparse or draw(st.integers(0, 2))}
        if messy and len(rec) > 1 and draw(st.integers(0, 9)) == 0:
            rec.pop(next(iter(rec)))
        out.append(rec)
    return out


@given(_column_records(), st.booleans(), st.booleans(), st.booleans(), _DTYPES)
@example([{"a": [1, 2], "b": "x"}], False, False, False, None)
@example([{"features": "t", "uid": "u"}, {"features": "s", "uid": "v"}], True, False, True, None)
@example([{"a": 1}, {"a": [1]}], True, False, True, None)
def test_column_records_equal_the_general_path(
    recs: list[Any], lines: bool, envelope: bool, spaced: bool, dtype: str | None
) -> None:
    body = _body(recs, lines, envelope, spaced)
    all_paths(body, lines, dtype=dtype)
    columns_read(body, lines)
    # the same records as a response (every key an output)
    response = (
        b"".join(orjson.dumps(r) + b"\n" for r in recs) if lines else orjson.dumps({"predictions": recs})
    )
    all_paths(response, lines, response=True, dtype=dtype)


@given(_column_records(), st.booleans(), st.data())
def test_mutated_column_bodies_equal_the_general_path(
    recs: list[Any], lines: bool, data: st.DataObject
) -> None:
    body = _mutated(_body(recs, lines, True, False), data, b'0123456789-+.eE,[]{}":\\ \n\tux')
    all_paths(body, lines)
    columns_read(body, lines)


# --------------------------------------------------------------------------------------
# Records with "data" and "label" objects, and tensor objects of values alone, column by
# column (the kernel's keys "data\0name" and "label\0name")
# --------------------------------------------------------------------------------------


def test_data_and_label_objects_exact() -> None:
    body = (
        b'{"instances": [{"data": {"features": {"values": [1.5, 2]}}, "label": {"values": {"values": [1]}},'
        b' "uid": "a"}, {"uid": "b", "label": {"values": [0]}, "data": {"features": [3, -0.0]}}]}'
    )
    got = all_paths(body, False)
    assert isinstance(got, smp.RecordBatch) and got.n == 2
    assert list(got.features) == ["values"] and list(got.label) == ["values"]
    assert got.features["values"].tolist() == [[1.5, 2.0], [3.0, -0.0]]
    assert np.signbit(got.features["values"]).tolist() == [[False, False], [False, True]]
    assert got.label["values"].tolist() == [[1.0], [0.0]]
    assert got.uid is not None and list(got.uid) == ["a", "b"]
    read = columns_read(body, False)
    assert read is not None
    assert [(k, kind, w) for k, kind, _p, w, _i in read[1]] == [
        ("data\0features", "v", 2),
        ("label\0values", "v", 1),
        ("uid", "s", 0),
    ]


def test_named_outputs_in_data_and_label_exact() -> None:
    lines = b'{"data": {"a": 1, "b": "x"}, "label": {"y": [1, 2]}}\n{"label": {"y": 3}, "data": {"a": 2}}\n'
    got = all_paths(lines, True)
    assert isinstance(got, smp.RecordBatch) and got.n == 2
    assert list(got.features) == ["a", "b"] and list(got.label) == ["y"]
    assert got.features["a"].tolist() == [1.0, 2.0]
    b = got.features["b"]
    assert (
        isinstance(b, np.ndarray) and b.dtype == object and b.tolist() == ["x", None]
    )  # one record lacks it
    y = got.label["y"]
    assert isinstance(y, Ragged)
    assert y.values.tolist() == [1.0, 2.0, 3.0] and y.offsets.tolist() == [0, 2, 3]
    assert columns_read(lines, True) is not None


@pytest.mark.parametrize(
    "body",
    [
        # the general path's errors, which the column reader leaves to it
        b'{"instances": [{"data": {"features": [1]}, "features": [2]}]}',
        b'{"instances": [{"data": {"values": [1], "features": [2]}}]}',
        b'{"instances": [{"data": 3}]}',
        b'{"instances": [{"label": [1]}]}',
        b'{"instances": [{"data": {"features": {"values": [1], "bogus": 2}}}]}',
        b'{"instances": [{"data": {"features": {"values": 1}}}]}',
        b'{"instances": [{"data": {"a": 1}, "data": {"b": 2}}]}',
        # shapes the kernel declines, read by the general path
        b'{"instances": [{"data": {"features": {"values": [1], "shape": [1, 1]}}}]}',
        b'{"instances": [{"data": {"features": {"keys": [0], "values": [1]}}}]}',
        b'{"instances": [{"data": {"features": {"keys": [0], "shape": [3], "values": [1]}}}, {}]}',
        b'{"instances": [{"data": {"features": {"keys": [0], "shape": [3], "values": [1]}}},'
        b' {"features": [1]}]}',
        b'{"instances": [{"data": {"features": {"values": ["a"]}}}]}',
        b'{"instances": [{"data": {"x": {"y": {"values": [1]}}}}]}',
    ],
)
def test_data_and_label_declined_or_refused_as_the_general_path(body: bytes) -> None:
    all_paths(body, False)
    read = None if CREC is None else CREC.json_records(body, 0, len(body), False, True)
    if read is not None:  # what the kernel read is refused by request_fast
        assert J.request_fast(body, 0, len(body), False, None) is None


@pytest.mark.parametrize(
    ("body", "features", "label"),
    [
        (b'[{"label": {"y": 1}, "a": [1]}]', {"a": [[1.0]]}, {"y": [1.0]}),
        (b'[{"data": {"x": [1]}, "a": [2]}]', {"x": [[1.0]], "a": [[2.0]]}, {}),
    ],
)
def test_data_and_label_beside_other_keys_are_read_column_by_column(
    body: bytes, features: dict[str, Any], label: dict[str, Any]
) -> None:
    assert J.request_fast(body, 0, len(body), False, None) is not None
    with pure():
        assert J.request_fast(body, 0, len(body), False, None) is not None
    got = all_paths(body, False)
    assert isinstance(got, smp.RecordBatch) and got.n == 1
    assert {k: v.tolist() for k, v in got.features.items()} == features
    assert {k: v.tolist() for k, v in got.label.items()} == label


def test_sparse_tensor_objects_beside_a_label_exact() -> None:
    # what the sparse layout writes for a batch with a label
    body = (
        b'{"instances":[{"data":{"features":{"keys":[0,2],"shape":[3],"values":[1.5,2.5]}},'
        b'"label":{"values":{"values":[1.0]}}},'
        b'{"data":{"features":{"shape":[3],"values":[],"keys":[]}},"label":{"values":{"values":[0.0]}}},'
        b'{"data":{"features":{"values":[-0.0],"keys":[1],"shape":[3]}},"label":{"values":{"values":[1.0]}}}]}'
    )
    got = all_paths(body, False)
    assert isinstance(got, smp.RecordBatch) and got.n == 3
    m = got.features["values"]
    assert sp.issparse(m) and m.shape == (3, 3)
    assert m.indptr.tolist() == [0, 2, 2, 3] and m.indices.tolist() == [0, 2, 1]
    assert m.data.tolist() == [1.5, 2.5, -0.0] and np.signbit(m.data).tolist() == [False, False, True]
    assert got.label["values"].tolist() == [1.0, 0.0, 1.0]  # a scalar label
    read = columns_read(body, False)
    assert read is not None and [(k, kind) for k, kind, *_ in read[1]] == [
        ("data\0features", "k"),
        ("label\0values", "n"),
    ]
    # the same records with a shape of rank 2: a `Sparse` column
    body2 = body.replace(b'"shape":[3]', b'"shape":[1,3]')
    got2 = all_paths(body2, False)
    assert isinstance(got2, smp.RecordBatch) and isinstance(got2.features["values"], Sparse)
    assert got2.features["values"].shape == (1, 3)


def test_a_dense_tensor_object_with_its_length_as_shape_is_its_list() -> None:
    body = (
        b'{"instances": [{"data": {"features": {"values": [1], "shape": [1]}},'
        b' "label": {"y": {"values": [2], "shape": [1]}}}]}'
    )
    got = all_paths(body, False)
    assert isinstance(got, smp.RecordBatch)
    assert got.features["values"].tolist() == [[1.0]]
    assert got.label["y"].tolist() == [[2.0]]  # a shape given: not a scalar label
    assert columns_read(body, False) is not None


@pytest.mark.parametrize("lines", [False, True])
def test_string_lists_in_responses_are_read_column_by_column(lines: bool) -> None:
    # what BlazingText answers: a list of labels and a list of probabilities per record
    recs = [
        {"label": ["__label__1", "__label__é"], "prob": [0.9824, 0.0121]},
        {"prob": [0.5, 0.25], "label": ["__label__2", "a\nb"]},
    ]
    body = b"".join(orjson.dumps(r) + b"\n" for r in recs) if lines else orjson.dumps({"predictions": recs})
    got = all_paths(body, lines, response=True)
    assert isinstance(got, smp.RecordBatch) and got.n == 2
    assert list(got.label) == ["label", "prob"]
    labels = got.label["label"]
    assert labels.dtype == object and labels.shape == (2,)
    assert labels.tolist() == [["__label__1", "__label__é"], ["__label__2", "a\nb"]]
    assert got.label["prob"].tolist() == [[0.9824, 0.0121], [0.5, 0.25]]
    got_c = None if CREC is None else CREC.json_records(body, 0, len(body), lines, False, False, False, True)
    twin = J.records_pure(body, 0, len(body), lines, False, False, True)
    assert twin is not None and [c[1] for c in twin[1]] == ["S", "v"]
    if CREC is not None:
        assert got_c is not None and [c[1] for c in got_c[1]] == ["S", "v"]
        assert got_c[1][0][2] == twin[1][0][2]
        # without `lists` (the Autopilot reader), a response's lists of strings decline
        assert CREC.json_records(body, 0, len(body), lines, False, False, False) is None
    assert J.records_pure(body, 0, len(body), lines, False, False) is None


@pytest.mark.skipif(CREC is None, reason="the C extension is not built")
@pytest.mark.parametrize(
    ("last", "reason", "value"),
    [
        (b'{"features": [1.5, "x"]}', "expected a list of numbers or of strings, found a string", b'"x"'),
        (
            b'{"features": true}',
            "expected a number, a string, a list or a tensor object, found true",
            b"true",
        ),
        (b'{"uid": 5, "features": [1]}', "expected a string, found int", b'5, "features": [1]}'),
    ],
)
def test_an_error_in_the_record_the_column_reader_stopped_in_is_found_without_building(
    monkeypatch: pytest.MonkeyPatch, last: bytes, reason: str, value: bytes
) -> None:
    body = b'{"instances": [' + b", ".join([b'{"features": [1.5, 2.5], "uid": "u"}'] * 3 + [last]) + b"]}"
    field = "uid" if last.startswith(b'{"uid"') else "features"
    reason = f"$.instances[3].{field}: {reason}"
    at = body.index(value)  # the value at fault
    want = all_paths(body, False)  # the same error on every path, the general path's included
    assert want == ("error", reason, at, None, 3)

    def no_build(*a: Any, **k: Any) -> Any:
        raise AssertionError("columns built")

    monkeypatch.setattr(JS, "batch_from_groups", no_build)
    with pytest.raises(smp.DecodeError) as e:
        JS.decode(body)
    assert (e.value.reason, e.value.offset, e.value.record_index) == (reason, at, 3)


@pytest.mark.skipif(CREC is None, reason="the C extension is not built")
@pytest.mark.parametrize(
    ("last", "reason", "offset"),
    [
        # the offending value; the end of the line (the data ends); the trailing "x"
        (
            b'{"features": [1.5, "x"]}',
            "$.features: expected a list of numbers or of strings, found a string",
            138,
        ),
        (b'{"features": [1.5, 2', "invalid JSON: unexpected end of data", 139),
        (b'{"uid": "u", "features": [1.5]} x', "invalid JSON: unexpected content after document", 151),
    ],
)
def test_json_lines_error_in_the_line_the_reader_stopped_in(
    monkeypatch: pytest.MonkeyPatch, last: bytes, reason: str, offset: int
) -> None:
    lines = b'{"features": [1.5, 2.5], "uid": "u"}\n\r\n' * 3 + b"  " + last + b"\n"
    assert len(lines) == 3 * 39 + 2 + len(last) + 1  # line 7 begins at 117, its record at 119
    got = all_paths(lines, True)
    # line 7 (three records, each followed by a blank line), record 3
    assert got == ("error", reason, offset, 7, 3)

    if last.endswith(b" x"):
        return  # the reader stopped after the record, not in it: the lines are read as before

    def no_blocks(*a: Any, **k: Any) -> Any:
        raise AssertionError("lines read block by block")

    monkeypatch.setattr(JL, "_groups", no_blocks)
    with pytest.raises(smp.DecodeError) as e:
        JL.decode(lines)
    assert ("error", e.value.reason, e.value.offset, e.value.line, e.value.record_index) == got


@pytest.mark.skipif(CREC is None, reason="the C extension is not built")
@pytest.mark.parametrize(
    ("body", "stop"),
    [
        # a record before the one the reader stopped in may hold an error it read past
        (b'{"instances": [{"features": [1], "values": [2]}, {"a": true}]}', None),
        (b'{"instances": [{"uid": [1]}, {"a": true}]}', None),
        # "data" holding no object: the reader stops in that record, which has the error
        (b'{"instances": [{"data": 3}, {"a": true}]}', b'{"data"'),
        # the record it stopped in is sound: the general path decides
        (b'{"instances": [{"a": [1]}, {"a": [[1, 2]]}, {"a": true}]}', b'{"a": [['),
    ],
)
def test_the_record_the_reader_stopped_in_is_not_trusted_alone(body: bytes, stop: bytes | None) -> None:
    hint: list[int] = []
    assert J.request_fast(body, 0, len(body), False, None, hint) is None
    got = all_paths(body, False)
    assert isinstance(got, tuple) and got[0] == "error"
    # (the record, and the offset of its "{")
    assert hint == ([] if stop is None else [body[: body.index(stop)].count(b"{") - 1, body.index(stop)])


_SOUND = [
    b'{"features": [1.5, 2.5], "uid": "u"}',
    b'{"data": {"features": {"values": [1]}}, "label": {"values": {"values": [1]}}}',
    b'{"a": "x", "b": [1, 2]}',
    b"{}",
    b'{"s": "\\u00e9"}',
]
_BAD = [
    b'{"features": [1.5, "x"]}',
    b'{"features": true}',
    b'{"uid": 5}',
    b'{"data": 3}',
    b'{"features": [1], "values": [2]}',
    b'{"a": [[1, 2], [3]]}',
    b'{"a": {"values": [1], "bogus": 2}}',
    b'{"features": [1e999]}',
    b'{"s": "\\ud800"}',
    b'{"a": null}',
    b'{"a": [1, 2}',
    b"[1, 2]",
    b'{"label": {"y": "t"}, "label": {"y": 1}}',
]
_TAILS = [b"]}", b'], "configuration": {"k": 1}}', b'], "bogus": 1}', b"]} x", b"]", b"]}\n"]


@given(
    st.lists(st.sampled_from(_SOUND), max_size=4),
    st.lists(st.sampled_from(_BAD), min_size=1, max_size=2),
    st.lists(st.sampled_from(_SOUND + _BAD), max_size=3),
    st.sampled_from(["instances", "list", "lines"]),
    st.sampled_from(_TAILS),
    st.booleans(),
)
@example([], [b'{"features": true}'], [], "lines", b"]", True)  # a byte order mark before record 0's line
def test_errors_after_sound_records_equal_the_general_path(
    before: list[bytes], bad: list[bytes], after: list[bytes], shape: str, tail: bytes, bom: bool
) -> None:
    """The record the column reader stops in, read first (`request_fast`'s hint): the
    outcome is the general path's, whatever comes after it."""
    records = before + bad + after
    if shape == "lines":
        body = b"\n".join(records) + (b"\n" if tail.endswith(b"\n") else b"")
    elif shape == "list":
        body = b"[" + b", ".join(records) + b"]"
    else:
        body = b'{"instances": [' + b", ".join(records) + tail
    all_paths(b"\xef\xbb\xbf" + body if bom else body, shape == "lines")


@pytest.mark.parametrize(
    "body",
    [
        b'{"instances": [{"data": 0, "data": {"a": [1]}}]}',
        b'{"instances": [{"label": "x", "label": {"y": 1}}]}',
        b'{"instances": [{"data": {"a": [1]}, "data": 0}]}',
    ],
)
def test_data_or_label_twice_with_a_non_object_is_left_to_the_general_path(body: bytes) -> None:
    # orjson keeps the last of two keys; the kernel declines a data or label holding no object
    assert columns_read(body, False) is None or CREC is None
    if CREC is not None:
        assert CREC.json_records(body, 0, len(body), False, True) is None
    all_paths(body, False)


_INNER = st.sampled_from(["features", "values", "a", "b", "label", "uid", ""])


@st.composite
def _nested_records(draw: st.DrawFn) -> list[Any]:
    """Records of "data" / "label" objects and top-level keys, values bare or in tensor
    objects of values alone, sometimes missing, sometimes odd."""
    parts = {
        "data": draw(st.lists(_INNER, max_size=3, unique=True)),
        "label": draw(st.lists(_INNER, max_size=2, unique=True)),
        "": draw(st.lists(st.sampled_from(["features", "x", "uid"]), max_size=2, unique=True)),
    }
    kinds = {(p, k): draw(st.sampled_from(["n", "s", "v", "r", "S"])) for p, ks in parts.items() for k in ks}
    widths = {pk: draw(st.integers(0, 3)) for pk in kinds}
    sparse = {pk: draw(st.sampled_from([0, 0, 1, 2])) for pk in kinds}  # 1: shape [w]; 2: [1, w]
    wrap = draw(st.sampled_from(["never", "always", "sometimes"]))
    messy = draw(st.booleans())

    def value(pk: tuple[str, str]) -> Any:
        if pk == ("", "uid"):
            return draw(_text)
        if messy and draw(st.integers(0, 9)) == 0:
            return draw(st.one_of(_numbers, _text, st.lists(_numbers, max_size=3), _odd))
        kind = kinds[pk]
        if kind == "n":
            v: Any = draw(_numbers)
        elif kind == "s":
            v = draw(_text)
        elif kind == "r":
            v = draw(_scalar_cell)
        elif kind == "S":
            v = draw(st.lists(_text, min_size=1, max_size=3))
        else:
            v = draw(st.lists(_numbers, min_size=widths[pk], max_size=widths[pk]))
        if type(v) is list and (wrap == "always" or (wrap == "sometimes" and draw(st.booleans()))):
            v = {"values": v}
            if sparse[pk] and draw(st.integers(0, 4)):
                # keys and a shape (sometimes a key outside it, keys of another count, a
                # shape of another rank or an empty row), parts in any order
                width = draw(st.integers(1, 4))
                keys = draw(
                    st.lists(st.integers(0, width), min_size=len(v["values"]), max_size=len(v["values"]))
                )
                if messy and draw(st.integers(0, 5)) == 0:
                    keys = keys[1:]
                shape = [width] if sparse[pk] == 1 else [1, width]
                if not keys and draw(st.booleans()):
                    v = {"shape": shape}
                else:
                    v = {"keys": keys, "shape": shape, "values": v["values"]}
                items = list(v.items())
                v = dict(draw(st.permutations(items)))
        return v

    out = []
    for _ in range(draw(st.integers(1, 5))):
        rec: dict[str, Any] = {}
        for p in draw(st.permutations(list(parts))):
            keys = [k for k in parts[p] if not messy or draw(st.integers(0, 3))]
            if p == "":
                rec.update({k: value((p, k)) for k in keys})
            elif keys or draw(st.booleans()):
                rec[p] = {k: value((p, k)) for k in keys}
        out.append(rec)
    return out


@given(_nested_records(), st.booleans(), st.booleans(), _DTYPES)
@example([{"data": {"features": {"values": [1.0]}}, "label": {"values": [1]}}], False, False, None)
@example([{"data": {"a": [1]}, "label": {"a": [2]}, "x": [3]}], True, True, "float32")
def test_nested_records_equal_the_general_path(
    recs: list[Any], lines: bool, spaced: bool, dtype: str | None
) -> None:
    body = _body(recs, lines, True, spaced)
    all_paths(body, lines, dtype=dtype)
    columns_read(body, lines)


@given(_nested_records(), st.booleans(), st.data())
def test_mutated_nested_bodies_equal_the_general_path(
    recs: list[Any], lines: bool, data: st.DataObject
) -> None:
    body = _mutated(_body(recs, lines, True, False), data, b'0123456789-,[]{}":\\ \nvaluesdatl')
    all_paths(body, lines)
    columns_read(body, lines)


# --------------------------------------------------------------------------------------
# Response items that are bare numbers or number lists (the request scanner, items mode)
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "lines"),
    [(b"[1, -2.5, 3e2]", False), (b'{"predictions": [1, -2.5, 3e2]}', False), (b"1\n\n-2.5\n3e2\n", True)],
)
def test_response_scalar_items_exact(body: bytes, lines: bool) -> None:
    got = all_paths(body, lines, response=True)
    assert isinstance(got, smp.RecordBatch) and got.n == 3 and not got.features
    col = got.label["values"]
    assert isinstance(col, np.ndarray) and col.dtype == np.float64 and col.tolist() == [1.0, -2.5, 300.0]
    s = J.scan_request_records(body, 0, len(body), lines, False, True)
    assert s is not None and s.scalars is not None and s.scalars.all()


def test_response_items_mixed_and_errors() -> None:
    got = all_paths(b"[1, [2, 3], []]", False, response=True)
    assert isinstance(got, smp.RecordBatch)
    col = got.label["values"]
    assert (
        isinstance(col, Ragged)
        and col.values.tolist() == [1.0, 2.0, 3.0]
        and col.offsets.tolist() == [0, 1, 3, 3]
    )
    got = all_paths(b"[1, 2.5]", False, response=True, dtype="int32")
    assert got == ("error", "label['values']: value 2.5 is not an int32 (dtype=int32)", 4, None, 1)
    got = all_paths(b"1\n2.5\n", True, response=True, dtype="int32")
    assert got == ("error", "label['values']: value 2.5 is not an int32 (dtype=int32)", 2, 2, 1)


@pytest.mark.parametrize(
    ("body", "lines"),
    [
        (b'[1, {"features": [2]}]', False),  # an object: its keys are outputs
        (b'{"scores": [1, 2]}', False),  # one item whose output is scores
        (b'{"predictions": [1], "x": 1}', False),
        (b"[]", False),
        (b'1\n{"a": 2}\n', True),
        (b"[1, null]", False),
    ],
)
def test_response_items_declined(body: bytes, lines: bool) -> None:
    if C is not None:
        assert J.scan_request_records(body, 0, len(body), lines, False, True) is None
    all_paths(body, lines, response=True)


@given(_scalar_records(), st.booleans(), st.booleans(), _DTYPES)
def test_response_items_equal_the_general_path(
    recs: list[Any], lines: bool, envelope: bool, dtype: str | None
) -> None:
    body = orjson.dumps({"predictions": recs} if envelope else recs)
    if lines:
        body = b"".join(orjson.dumps(r) + b"\n" for r in recs)
    all_paths(body, lines, response=True, dtype=dtype)


def test_iter_decode_joins_scalar_blocks() -> None:
    body = b"1\n2\n[3]\n4\n" + b'{"features": 5}\n' * 3 + b'"x"\n'
    for response in (False, True):
        got = outcome(
            lambda r=response: smp.RecordBatch.concat(
                list(JL.iter_decode(body[:-4], batch_size=2, response=r, block_size=4))
            )
        )
        assert isinstance(got, smp.RecordBatch)
        col = got.label["values"] if response else got.features["values"]
        if response:  # {"features": 5} is the output features
            assert col.values.tolist() == [1.0, 2.0, 3.0, 4.0]
            assert got.label["features"].valid.tolist() == [False] * 4 + [True] * 3
        else:
            assert isinstance(col, Ragged) and col.values.tolist() == [1.0, 2.0, 3.0, 4.0, 5.0, 5.0, 5.0]
            assert col.offsets.tolist() == list(range(8))
    got = all_paths(body, True)  # the general path names the first numeric record
    why = "numeric tensor in a column of byte strings (a RecordBatch column holds one kind of value)"
    assert got == ("error", f"features['values']: {why}", 0, 1, 0)


@pytest.mark.skipif(C is None, reason="the C extension is not built")
@pytest.mark.parametrize("lines", [False, True])
@pytest.mark.parametrize("items", [False, True])
def test_threads_read_scalars_as_one_thread(lines: bool, items: bool) -> None:
    recs = [b"[0]"] + [b"%d" % (i % 7 - 3) if i % 3 else b"[%d, %d.5]" % (i, i) for i in range(1, 4000)]
    body = b"\n".join(recs) + b"\n" if lines else b"[" + b", ".join(recs) + b"]"
    one = C.records(body, 0, len(body), lines, False, 1, 1 << 19, items)
    assert one is not None
    counts = np.frombuffer(one[3], np.int64)
    assert counts[:4].tolist() == [1, -1, -1, 2] and int((counts == -1).sum()) == 2666
    for n in (2, 3, 16):
        assert C.records(body, 0, len(body), lines, False, n, 256, items) == one


# --------------------------------------------------------------------------------------
# Nested lists of one shape (matrices per record) by the request scanner
# --------------------------------------------------------------------------------------


def test_matrices_exact() -> None:
    body = b'{"instances": [[[1, 2], [3, 4]], [[5, 6], [7, 8.5]]]}'
    got = all_paths(body, False)
    assert isinstance(got, smp.RecordBatch)
    col = got.features["values"]
    assert isinstance(col, np.ndarray) and col.shape == (2, 2, 2)
    assert col.tolist() == [[[1.0, 2.0], [3.0, 4.0]], [[5.0, 6.0], [7.0, 8.5]]]
    s = scanned(body, False)
    assert s is not None and (s.kind, s.shape, s.counts.tolist()) == (2, (2, 2), [4, 4])
    lines = b'{"x": [[[1]], [[2]]]}\n{"x": [[[3]], [[4]]]}\n'
    got = all_paths(lines, True)
    assert isinstance(got, smp.RecordBatch) and got.features["x"].shape == (2, 2, 1, 1)
    assert got.features["x"].ravel().tolist() == [1.0, 2.0, 3.0, 4.0]
    got = all_paths(body, False, dtype="int32")
    assert got == ("error", "features['values']: value 8.5 is not an int32 (dtype=int32)", 33, None, 1)


@pytest.mark.parametrize(
    "body",
    [
        b"[[[1, 2], [3, 4]], [[5, 6]]]",  # two shapes: the general path's error
        b"[[[1, 2], [3]]]",  # not rectangular
        b"[[[1, 2], [3, 4]], [1, 2]]",  # a matrix and a vector
        b"[[[1, 2], [3, 4]], 1]",
        b"[[[]], [[1]]]",  # an empty level beside numbers
        b"[[[1, [2]]]]",
        b"[[[1, 2], 3]]",
        b"[" + b"[" * 9 + b"1" + b"]" * 9 + b"]",  # nine levels
        b'[[["a"]]]',
    ],
)
def test_matrices_declined(body: bytes) -> None:
    if C is not None:
        assert scanned(body, False) is None
    assert J.request_records_pure(body, 0, len(body), False, False) is None
    all_paths(body, False)


@st.composite
def _matrix_records(draw: st.DrawFn) -> list[Any]:
    shape = draw(st.lists(st.integers(1, 3), min_size=2, max_size=3))

    def cell(dims: list[int]) -> Any:
        if not dims:
            return draw(_numbers)
        return [cell(dims[1:]) for _ in range(dims[0])]

    out = [cell(shape) for _ in range(draw(st.integers(1, 4)))]
    if draw(st.booleans()):  # one record of another shape, or not a matrix
        out[draw(st.integers(0, len(out) - 1))] = draw(
            st.one_of(_scalar_cell, st.just([[1]]), st.just([[1, 2], [3]]))
        )
    return out


@given(_matrix_records(), st.booleans(), st.booleans(), _DTYPES)
def test_matrices_equal_the_general_path(
    recs: list[Any], lines: bool, named: bool, dtype: str | None
) -> None:
    recs = [{"x": r} for r in recs] if named else recs
    body = _body(recs, lines, True, False)
    all_paths(body, lines, dtype=dtype)
    scanned(body, lines)


@pytest.mark.parametrize(
    ("body", "lines"),
    [
        (b"[[[1, 2], [3, 4]], [[5, 6], [7, 8]]]", False),
        (b'{"predictions": [[[1]], [[2]]]}', False),
        (b"[[[1, 2], [3, 4]], [[5, 6]]]", False),  # two shapes: the general path's error
        (b"[[1, 2], [3, 4]]\n[[5, 6], [7, 8.5]]\n", True),
    ],
)
def test_response_matrix_items(body: bytes, lines: bool) -> None:
    for dtype in (None, "int32"):
        got = all_paths(body, lines, response=True, dtype=dtype)
        if dtype is None and isinstance(got, smp.RecordBatch):
            assert got.label["values"].shape[1:] in ((2, 2), (1, 1))


# --------------------------------------------------------------------------------------
# Records whose keys differ that much: the column cells budget
# --------------------------------------------------------------------------------------


def _one_key_each(n: int, response: bool) -> bytes:
    recs = [{f"k{i}": [float(i)]} for i in range(n)]
    return orjson.dumps({"predictions" if response else "instances": recs})


@pytest.mark.parametrize("response", [False, True])
def test_records_of_different_keys_are_refused_past_the_cells_budget(response: bool) -> None:
    """n records of one new key each make n columns of n cells (n**2): 512 fit the floor of
    2**18 cells, 513 do not (513**2 = 263,169 > max(2**18, 16 * 513 + 8 * 513)); the
    refusal names the first record of key 511, the first past the budget."""
    fits = all_paths(_one_key_each(512, response), False, response=response)
    assert isinstance(fits, smp.RecordBatch) and fits.n == 512
    cols = fits.label if response else fits.features
    assert len(cols) == 512 and cols["k7"].valid.tolist() == [i == 7 for i in range(512)]
    body = _one_key_each(513, response)
    got = all_paths(body, False, response=response)
    part = "label" if response else "features"
    want = (
        f"{part}: 513 different keys in 513 records make 263169 column cells, more than the 262144 "
        "these records allow (send such records as one sparse tensor: keys, values, shape)"
    )
    assert got == ("error", want, body.index(b'{"k511"'), None, 511)  # record 511, at its offset
    # JSON Lines: the same records, one a line
    lines = b"".join(orjson.dumps({f"k{i}": [float(i)]}) + b"\n" for i in range(513))
    got = all_paths(lines, True, response=response)
    assert got == ("error", want, lines.index(b'{"k511"'), 512, 511)  # on line 512


def test_optional_keys_stay_within_the_budget() -> None:
    """50 optional keys of which each record holds 5 (what a sparse-ish writer gives):
    read, column by column, as the general path reads them."""
    rng = np.random.default_rng(3)
    keys = [f"feature_{i}" for i in range(50)]
    recs = [{keys[j]: float(j) for j in sorted(rng.choice(50, 5, replace=False))} for _ in range(6000)]
    body = orjson.dumps({"predictions": recs})
    got = all_paths(body, False, response=True)
    assert isinstance(got, smp.RecordBatch) and got.n == 6000 and len(got.label) == 50
    col = got.label["feature_3"]
    held = [("feature_3" in r) for r in recs]
    assert col.valid.tolist() == held and col.values.tolist() == [3.0] * sum(held)
    assert J.response_fast(body, 0, len(body), False, None, True) is not None


def test_float32_errors_do_not_wait_for_a_column_read_again() -> None:
    """A float32 column holding a binary32 rounding boundary (16777217) is read again from
    its text, after the other columns; its value out of the float32 range in record 0 is an
    error whatever the text says, so it is reported before record 1's error in another
    column, as in blocks of a few lines (it named record 1 on a whole body)."""
    lines = b'{"b": 1e300}\n{"e": 1e300, "b": 1}\n{"b": 16777217}\n'
    why = "features['b']: value 1e+300 is out of the float32 range (dtype=float32)"
    assert all_paths(lines, True, dtype="float32") == ("error", why, 0, 1, 0)
    doc = b'[{"b": 1e300}, {"e": 1e300, "b": 1}, {"b": 16777217}]'
    assert all_paths(doc, False, dtype="float32") == ("error", why, 1, None, 0)  # record 0's "{"
    # at the overflow threshold itself (FLT_MAX + half an ulp) the text decides: 3.4028235677973366e38
    # rounds to FLT_MAX, a longer text just above it overflows
    near = b'{"b": 3.4028235677973366e38}\n{"e": 1e300, "b": 1}\n{"b": 16777217}\n'
    got = all_paths(near, True, dtype="float32")
    why = "features['e']: value 1e+300 is out of the float32 range (dtype=float32)"
    assert got == ("error", why, near.index(b'{"e"'), 2, 1)


@pytest.mark.parametrize("lines", [False, True])
def test_a_key_holding_nul_is_a_key_of_the_record(lines: bool) -> None:
    """A record's own key may hold NUL (``\\u0000``): ``"data\\u0000x"`` is the feature of
    that name, not the key x of a data object, on every path. (The twin named the columns of
    a data or label object "data\\0x" and "label\\0x" and read such a key as one of them,
    where no value of the record was an object.)"""
    recs = [b'{"data\\u0000x": 1, "y": [2, 3]}', b'{"data\\u0000x": 4, "y": [5, 6]}']
    body = b"\n".join(recs) + b"\n" if lines else b"[" + b", ".join(recs) + b"]"
    got = all_paths(body, lines)
    assert not isinstance(got, tuple)
    assert list(got.features) == ["data\0x", "y"] and got.label == {}
    assert got.features["data\0x"].tolist() == [1.0, 4.0]
    assert got.features["y"].tolist() == [[2.0, 3.0], [5.0, 6.0]]
    body = b'[{"label\\u0000y": 1, "d\\u0000": [2]}, {"label\\u0000y": 3, "d\\u0000": [4]}]'
    got = all_paths(body, False)
    assert not isinstance(got, tuple)
    assert list(got.features) == ["label\0y", "d\0"] and got.label == {}
    assert got.features["label\0y"].tolist() == [1.0, 3.0]
    assert got.features["d\0"].tolist() == [[2.0], [4.0]]


@pytest.mark.parametrize(
    ("body", "want", "doc_want"),
    [
        (
            b'{"metadata": "\\ud800"}\n{"metadata": "t", "k": [1, "a"]}\n',
            ("error", "invalid JSON: no low surrogate in string", 14, 1, 0),
            ("error", "invalid JSON: no low surrogate in string", 15, 1, None),
        ),
        (
            b'{"k": "t"}\n{"k": "\xff"}\n{"k": true}\n',
            ("error", "invalid UTF-8 (invalid start byte)", 18, 2, 1),
            ("error", "invalid UTF-8 (invalid start byte)", 19, None, None),
        ),
        (
            b'{"k": ["t"]}\n{"k": ["\\udc00"]}\n{"k": true}\n',
            ("error", "invalid JSON: invalid high surrogate in string", 21, 2, 1),
            ("error", "invalid JSON: invalid high surrogate in string", 22, 1, None),
        ),
        (
            b'{"data": {"s": "\\ud800x"}}\n{"data": {"s": null}}\n',
            ("error", "invalid JSON: no low surrogate in string", 16, 1, 0),
            ("error", "invalid JSON: no low surrogate in string", 17, 1, None),
        ),
        (
            b'{"label": {"s": ["a", "\xed\xa0\x80"]}}\n{"label": {"s": null}}\n',
            ("error", "invalid UTF-8 (invalid continuation byte)", 23, 1, 0),
            ("error", "invalid UTF-8 (invalid continuation byte)", 24, None, None),
        ),
    ],
)
def test_a_string_the_general_path_refuses_before_the_stop_comes_first(
    body: bytes, want: tuple[Any, ...], doc_want: tuple[Any, ...]
) -> None:
    """The column reader's scan checks neither a string's escapes nor its UTF-8 (building
    the str does): a record before the one it stops in may hold a lone surrogate escape or
    bytes that are not UTF-8, and its error is the body's first, not the error of the
    record the scan stopped in ("found true" of record 2, which the C path reported for
    JSON Lines when it trusted the records before the stop)."""
    assert all_paths(body, True) == want
    doc = b"[" + b",".join(body.strip().split(b"\n")) + b"]"
    assert all_paths(doc, False) == doc_want
