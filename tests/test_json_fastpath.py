"""The request scanner of application/json and application/jsonlines (_cjson.records and
its twin request_records_pure): every record shape of one numeric column, as orjson,
json.dumps and the SageMaker SDK write them, decodes to exactly the RecordBatch the general
path builds (column kinds, dtypes, values bit for bit); float32 is the correctly rounded
float32 of each number's text (oracle: fractions.Fraction); everything else is declined and
the general path decides."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from fractions import Fraction
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
# Oracles and comparisons
# --------------------------------------------------------------------------------------

_F32_MAX = Fraction(2) ** 128 - Fraction(2) ** 103  # FLT_MAX + half an ulp: rounds to inf


def f32_oracle(text: str) -> np.float32:
    """The float32 nearest the exact decimal `text` (ties to even), by Fraction."""
    f = Fraction(text)
    if f == 0:  # an integer -0 reads as the integer 0; -0.0 and -0e5 keep their sign
        negative = text.startswith("-") and any(c in text for c in ".eE")
        return np.float32(-0.0 if negative else 0.0)
    sign = -1 if f < 0 else 1
    a = abs(f)
    if a >= _F32_MAX:
        return np.float32(sign * np.inf)
    with np.errstate(over="ignore"):  # FLT_MAX's next value up is inf, a candidate dropped below
        guess = np.float32(float(a))  # within one float32 ulp of the answer
        cands = {guess, np.nextafter(guess, np.float32(np.inf)), np.nextafter(guess, np.float32(0))}
    best = min(
        (c for c in cands if np.isfinite(c)),
        key=lambda c: (abs(Fraction(float(c)) - a), int(np.array(c).view(np.uint32)) & 1),
    )
    return np.float32(sign * best)


def _same_arrays(a: np.ndarray, b: np.ndarray) -> None:
    a, b = np.asarray(a), np.asarray(b)
    assert type(a) is type(b)
    assert a.dtype == b.dtype and a.shape == b.shape, (a.dtype, b.dtype, a.shape, b.shape)
    if a.dtype == object:  # tobytes() of an object array is its pointers
        assert a.tolist() == b.tolist(), (a, b)
    else:
        assert a.tobytes() == b.tobytes(), (a, b)


def same_column(a: Any, b: Any) -> None:
    assert type(a) is type(b), (type(a), type(b))
    if isinstance(a, Ragged):
        _same_arrays(a.values, b.values)
        _same_arrays(a.offsets, b.offsets)
        assert (a.valid is None) == (b.valid is None)
        return
    if isinstance(a, Sparse):
        assert a.shape == b.shape
        same_column(a.matrix, b.matrix)
        return
    if sp.issparse(a):
        assert a.shape == b.shape
        for part in ("data", "indices", "indptr"):
            _same_arrays(getattr(a, part), getattr(b, part))
        return
    _same_arrays(a, b)


def same_batch(a: smp.RecordBatch, b: smp.RecordBatch) -> None:
    assert a.n == b.n
    for m in ("features", "label"):
        ca, cb = getattr(a, m), getattr(b, m)
        assert list(ca) == list(cb)
        for k in ca:
            same_column(ca[k], cb[k])
    assert (a.uid, a.metadata, a.configuration) == (b.uid, b.metadata, b.configuration)


@contextmanager
def general_path() -> Iterator[None]:
    """The request decoders without the scanner (the reference)."""
    with pytest.MonkeyPatch.context() as m:
        m.setattr(JS, "request_group", lambda *a, **k: None)
        m.setattr(JL, "request_group", lambda *a, **k: None)
        yield


@contextmanager
def pure() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as m:
        m.setattr(J, "_CJ", None)
        yield


def outcome(fn: Callable[[], smp.RecordBatch]) -> smp.RecordBatch | tuple[Any, ...]:
    try:
        return fn()
    except smp.DecodeError as e:
        return ("error", e.reason, e.offset, e.line, e.record_index)


def same_outcome(a: Any, b: Any) -> None:
    if isinstance(a, tuple) or isinstance(b, tuple):
        assert a == b
    else:
        same_batch(a, b)


def decode(body: bytes, lines: bool, **kw: Any) -> smp.RecordBatch:
    return (JL.decode if lines else JS.decode)(body, **kw)


def check_all_paths(body: bytes, lines: bool, **kw: Any) -> smp.RecordBatch | tuple[Any, ...]:
    """C, pure and general path give the same outcome; returns it."""
    got = outcome(lambda: decode(body, lines, **kw))
    with general_path():
        want = outcome(lambda: decode(body, lines, **kw))
    with pure():
        twin = outcome(lambda: decode(body, lines, **kw))
    same_outcome(got, want)
    same_outcome(twin, want)
    return got


# --------------------------------------------------------------------------------------
# Bodies in every shape, by every writer
# --------------------------------------------------------------------------------------

finite = st.floats(allow_nan=False, allow_infinity=False)
numbers = st.one_of(
    finite,
    finite.map(lambda x: float(np.float32(x)) if abs(x) < 3e38 else x),
    st.integers(-(2**53), 2**53),
    st.integers(-(2**63), 2**64 - 1),  # what orjson writes
    st.sampled_from([0.0, -0.0, 1e-320, 5e-324, 1.7976931348623157e308, 16777217, 0.1]),
)
vector = st.lists(numbers, max_size=6)
SHAPES = ("list", "features", "name", "data.values", "data.shape", "data.name", "sparse")


def _sparse_cell(row: list[Any], width: int, draw: st.DrawFn) -> dict[str, Any]:
    keys = draw(st.lists(st.integers(0, width - 1), min_size=len(row), max_size=len(row)))
    obj = {"keys": keys, "shape": [width], "values": row}
    order = draw(st.permutations(list(obj)))
    return {k: obj[k] for k in order}


@st.composite
def records(draw: st.DrawFn) -> tuple[list[Any], str, list[list[Any]]]:
    shape = draw(st.sampled_from(SHAPES))
    same = draw(st.booleans())
    k = draw(st.integers(0, 5))
    n = draw(st.integers(1, 5))
    rows = [draw(st.lists(numbers, min_size=k, max_size=k)) if same else draw(vector) for _ in range(n)]
    name = draw(st.sampled_from(["in0", "x", "", "é"]))
    width = draw(st.integers(6, 40))
    out: list[Any] = []
    for r in rows:
        if shape == "list":
            out.append(r)
        elif shape == "features":
            out.append({"features": r})
        elif shape == "name":
            out.append({name: r})
        elif shape == "data.values":
            out.append({"data": {"features": {"values": r}}})
        elif shape == "data.shape":
            obj = {"values": r, "shape": [len(r)]}
            out.append({"data": {"features": dict(reversed(obj.items())) if draw(st.booleans()) else obj}})
        elif shape == "data.name":
            out.append({"data": {name: r}})
        else:
            out.append({"data": {"features": _sparse_cell(r, width, draw)}})
    return out, shape, rows


WRITERS: dict[str, Callable[[Any], bytes]] = {
    "orjson": orjson.dumps,
    "json.dumps": lambda x: json.dumps(x).encode(),
    "json.dumps(indent)": lambda x: json.dumps(x, indent=2).encode(),
    "json.dumps(ascii off)": lambda x: json.dumps(x, ensure_ascii=False).encode(),
}


def _sdk_json(x: Any) -> bytes:
    ser = pytest.importorskip("sagemaker.serializers")
    out = ser.JSONSerializer().serialize(x)
    return out.encode() if isinstance(out, str) else out


def _sdk_jsonl(items: list[Any]) -> bytes:
    ser = pytest.importorskip("sagemaker.serializers")
    out = ser.JSONLinesSerializer().serialize(items)
    return out.encode() if isinstance(out, str) else out


def json_body(recs: list[Any], envelope: bool, writer: str) -> bytes:
    doc: Any = {"instances": recs} if envelope else recs
    return _sdk_json(doc) if writer == "sdk" else WRITERS[writer](doc)


def jsonl_body(recs: list[Any], writer: str) -> bytes:
    if writer == "sdk":
        return _sdk_jsonl(recs)
    if writer == "json.dumps(indent)":
        writer = "json.dumps"
    return b"".join(WRITERS[writer](r) + b"\n" for r in recs)


def number_texts(rows: list[list[Any]]) -> list[str]:
    return [orjson.dumps(x).decode() for r in rows for x in r]


# --------------------------------------------------------------------------------------
# Decoding equals the general path
# --------------------------------------------------------------------------------------


@given(records(), st.booleans(), st.sampled_from([*WRITERS, "sdk"]), st.sampled_from([None, "int32"]))
def test_json_documents_equal_the_general_path(
    drawn: tuple[list[Any], str, list[list[Any]]], envelope: bool, writer: str, dtype: str | None
) -> None:
    recs, _shape, _rows = drawn
    body = json_body(recs, envelope, writer)
    got = check_all_paths(body, False, dtype=dtype)
    assert not isinstance(got, tuple) or dtype == "int32"
    if b"\\u" not in body:  # the scanner takes every writer's spacing; names with escapes decline
        assert J.scan_request_records(body, 0, len(body), False, False) is not None, body


@given(records(), st.sampled_from([*WRITERS, "sdk"]), st.sampled_from([None, "int32"]))
def test_json_lines_equal_the_general_path(
    drawn: tuple[list[Any], str, list[list[Any]]], writer: str, dtype: str | None
) -> None:
    recs, _shape, _rows = drawn
    body = jsonl_body(recs, writer)
    got = check_all_paths(body, True, dtype=dtype)
    assert not isinstance(got, tuple) or dtype == "int32"
    if b"\\u" not in body:
        assert J.scan_request_records(body, 0, len(body), True, False) is not None, body
    # streamed in small blocks: the same batch
    if not isinstance(got, tuple):
        parts = list(JL.iter_decode(body, batch_size=2, block_size=16, dtype=dtype))
        same_batch(smp.RecordBatch.concat(parts), got)


@given(records(), st.booleans())
def test_float32_is_the_correctly_rounded_float32_of_the_text(
    drawn: tuple[list[Any], str, list[list[Any]]], lines: bool
) -> None:
    recs, _shape, rows = drawn
    body = jsonl_body(recs, "orjson") if lines else json_body(recs, True, "orjson")
    want = np.array([f32_oracle(t) for t in number_texts(rows)], dtype=np.float32)
    if np.isinf(want).any():
        with pytest.raises(smp.DecodeError):
            decode(body, lines, dtype="float32")
        return
    for ctx in (pure, _nothing):
        with ctx():
            (got,) = decode(body, lines, dtype="float32").features.values()
        values = got.data if sp.issparse(got) else got.values if isinstance(got, Ragged) else got.reshape(-1)
        _same_arrays(np.asarray(values), want)
    # the general path rounds float64 to float32 (twice): where that is the oracle's value,
    # everything else about the batch is the same too
    with general_path():
        general = decode(body, lines, dtype="float32")
    with pure():
        twin = decode(body, lines, dtype="float32")
    same_batch(decode(body, lines, dtype="float32"), twin)
    (col,) = general.features.values()
    gvalues = col.data if sp.issparse(col) else col.values if isinstance(col, Ragged) else col.reshape(-1)
    if np.asarray(gvalues).tobytes() == want.tobytes():
        same_batch(twin, general)


@contextmanager
def _nothing() -> Iterator[None]:
    yield


@pytest.mark.parametrize(
    "text",
    [
        "1.00000005960464477550",
        "16777217",
        "16777217.0000000000001",
        "3.4028235677973366e38",
        "1.401298464324817e-45",
        "7.006492321624085e-46",
        "0.1",
        "-0",
        "-0.0",
    ],
)
@pytest.mark.parametrize("lines", [False, True])
def test_float32_hard_cases(text: str, lines: bool) -> None:
    body = f'{{"features": [{text}, 1]}}\n'.encode() if lines else f'{{"instances": [[{text}, 1]]}}'.encode()
    want = np.array([f32_oracle(text), 1.0], np.float32)
    for ctx in (pure, _nothing):
        with ctx():
            got = decode(body, lines, dtype="float32").features["values"]
        _same_arrays(got.reshape(-1), want)


def test_f32_oracle_itself() -> None:
    assert f32_oracle("16777217") == np.float32(16777216.0)
    assert f32_oracle("16777219") == np.float32(16777220.0)
    assert f32_oracle("1.00000005960464477550") == np.nextafter(np.float32(1), np.float32(2))
    assert np.isinf(f32_oracle("3.4028235677973367e38"))
    assert f32_oracle("3.4028235677973366e38") == np.finfo(np.float32).max


# --------------------------------------------------------------------------------------
# Column kinds, exactly as the general path builds them
# --------------------------------------------------------------------------------------


def test_kinds_and_values() -> None:
    dense = JS.decode(b'{"instances": [[1, 2.5], [-0, -0.0]]}')
    _same_arrays(dense.features["values"], np.array([[1.0, 2.5], [0.0, -0.0]]))
    ragged = JS.decode(b"[[1, 2], [3]]").features["values"]
    assert isinstance(ragged, Ragged) and ragged.offsets.tolist() == [0, 2, 3]
    one = JS.decode(b"[1, 2, 3]").features["values"]
    _same_arrays(one, np.array([[1.0, 2.0, 3.0]]))
    body = (
        b'{"instances": [{"data": {"features": {"keys": [3, 1], "shape": [10], "values": [1.5, 2]}}},'
        b' {"data": {"features": {"shape": [10], "values": []}}}]}'
    )
    m = JS.decode(body).features["values"]
    assert isinstance(m, sp.csr_array) and m.shape == (2, 10)
    _same_arrays(m.indices, np.array([3, 1], np.int32))
    _same_arrays(m.indptr, np.array([0, 2, 2], np.int32))
    _same_arrays(m.data, np.array([1.5, 2.0]))
    wide = b'{"data": {"x": {"keys": [5], "shape": [2, 3], "values": [7]}}}'
    s = JS.decode(wide).features["x"]
    assert isinstance(s, Sparse) and s.shape == (2, 3)
    for b in (body, wide):
        check_all_paths(b, False)
        assert J.scan_request_records(b, 0, len(b), False, False) is not None


# --------------------------------------------------------------------------------------
# Declines: the general path decides (same batch or same error)
# --------------------------------------------------------------------------------------

DECLINED = [
    b'{"instances": [{"features": [1], "features": [2]}]}',
    b'{"instances": [{"features": [1], "label": {"y": [1]}}]}',
    b'{"instances": [{"features": [1, "a"]}]}',
    b'{"instances": [{"features": [1, null]}]}',
    b'{"instances": [{"features": [[1, 2], [3]]}]}',
    b'{"instances": [{"feat\\u0075res": [1]}]}',
    b'{"instances": [{"features": [1]}], "configuration": {"k": 1}}',
    b'{"configuration": "x", "instances": [[1]]}',
    b'{"instances": [{"uid": "a"}]}',
    b'{"instances": [{"features": [1]}, {"x": [1]}]}',
    b'{"instances": [{"data": {"features": {"values": [1], "keys": [0], "shape": [4]}}}, [1, 2, 3, 4]]}',
    b'{"instances": [{"data": {"features": {"values": [1], "keys": [1.0], "shape": [4]}}}]}',
    b'{"instances": [{"data": {"features": {"values": [1], "keys": [-1], "shape": [4]}}}]}',
    b'{"instances": [{"data": {"features": {"values": [1], "keys": [4], "shape": [4]}}}]}',
    b'{"instances": [{"data": {"features": {"values": [1, 2], "keys": [1], "shape": [4]}}}]}',
    b'{"instances": [{"data": {"features": {"values": [1], "keys": [1]}}}]}',
    # a shape of rank 2 or more is read (tests/test_json_shaped_tensors.py); one it
    # does not hold is not
    b'{"instances": [{"data": {"features": {"values": [1, 2], "shape": [2, 2]}}}]}',
    b'{"instances": [{"data": {"features": {"values": [1, 2], "shape": [3]}}}]}',
    b'{"instances": [{"data": {"features": {"values": [1], "values": [2]}}}]}',
    b'{"instances": [{"data": {"features": {"values": [1], "other": [2]}}}]}',
    b'{"instances": [{"data": {"features": {"values": [1], "keys": [0], "shape": [4]}}},'
    b' {"data": {"features": {"values": [1], "keys": [0], "shape": [5]}}}]}',
    b'{"instances": []}',
    b"[]",
    b"[1, [2]]",
    b'{"instances": [[1e400]]}',
    b'{"instances": [[NaN]]}',
    b'{"instances": [[01]]}',
    b'{"instances": [[1,]]}',
    b'{"instances": [[1]] } x',
    b'{"instances": [{"features": [1]}, {"features": [2]}]',
    b'{"instances": [{"data": [1]}]}',
    b'{"instances": [{"data": {"a": [1], "b": [2]}}]}',
    b'{"instances": [{"x": [1]} {"x": [2]}]}',
    b'{"instances": [{"x": {}}]}',
    b'{"instances": [{"x\x01": [1]}]}',
    b'{"instances": [{"\xff": [1]}]}',
]


@pytest.mark.parametrize("body", DECLINED)
@pytest.mark.parametrize("allow_nan", [False, True])
def test_declined_bodies_go_to_the_general_path(body: bytes, allow_nan: bool) -> None:
    assert J.scan_request_records(body, 0, len(body), False, False) is None or C is None
    check_all_paths(body, False, allow_nan=allow_nan)
    # the same records as JSON Lines, where that is one record per line
    if body.startswith(b'{"instances": [') and body.endswith(b"]}"):
        check_all_paths(body[15:-2] + b"\n", True, allow_nan=allow_nan)


@pytest.mark.parametrize(
    "body",
    [
        b'{"features": [1]}\n{"features": [2],\n"x": 1}\n',
        b'{"features": [1]}\n{"features": [\n2]}\n',
        b'{"features": [1]}\n\x0b\n{"features": [2]}\n',
        b'{"features": [1]}\n{"x": [2]}\n',
        b'{"features": [1.5]}\n{"features": [2]}\n',
    ],
)
@pytest.mark.parametrize("dtype", [None, "int32", "float32"])
def test_json_lines_declines_and_errors(body: bytes, dtype: str | None) -> None:
    check_all_paths(body, True, dtype=dtype)


def test_int32_errors_name_line_and_offset() -> None:
    body = b'\n{"features": [1, 2]}\n\n  {"features": [3, 4.5]}\n'
    got = outcome(lambda: JL.decode(body, dtype="int32"))
    assert got == ("error", "features['values']: value 4.5 is not an int32 (dtype=int32)", 25, 4, 1)
    check_all_paths(body, True, dtype="int32")


def test_nan_with_allow_nan() -> None:
    body = b'{"instances": [[NaN, 1], [Infinity, -Infinity]]}'
    got = check_all_paths(body, False, allow_nan=True)
    assert not isinstance(got, tuple)
    assert np.isnan(got.features["values"][0, 0])
    lines = b"[NaN, 1]\n[-0.0, 2]\n"
    check_all_paths(lines, True, allow_nan=True)


# --------------------------------------------------------------------------------------
# Cut bodies: declined or an error, never a wrong batch
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body,lines",
    [
        (b'{"instances": [{"features": [1.5, -2e-3]}, {"features": [3, 4]}]}', False),
        (b'{"instances": [{"data": {"features": {"keys": [3], "shape": [10], "values": [1.25]}}}]}', False),
        (b"[[1, 2], [3, 4]]", False),
        (b'{"features": [1.5, 20]}\n{"features": [3, 4]}\n', True),
        (b'{"data": {"features": {"values": [1, 2], "keys": [0, 7], "shape": [8]}}}\n[1, 2]\n', True),
    ],
)
def test_cut_bodies(body: bytes, lines: bool) -> None:
    for cut in range(len(body) + 1):
        check_all_paths(body[:cut], lines)


# --------------------------------------------------------------------------------------
# C against its twin
# --------------------------------------------------------------------------------------


def _same_scan(a: J.RequestScan | None, b: J.RequestScan | None) -> None:
    assert (a is None) == (b is None)
    if a is None or b is None:
        return
    assert (a.kind, a.name, a.shape) == (b.kind, b.name, b.shape)
    for x, y in zip(a[2:4] + a[4:5] + a[6:], b[2:4] + b[4:5] + b[6:], strict=True):
        assert (x is None) == (y is None)
        if x is not None and y is not None:
            _same_arrays(x, y)


@pytest.mark.skipif(C is None, reason="the C extension is not built")
@given(records(), st.booleans(), st.booleans(), st.sampled_from(["orjson", "json.dumps"]))
@example(([[16777217, 0.1]], "list", [[16777217, 0.1]]), False, True, "orjson")
def test_c_equals_pure(
    drawn: tuple[list[Any], str, list[list[Any]]], lines: bool, f32: bool, writer: str
) -> None:
    recs, _shape, _rows = drawn
    body = jsonl_body(recs, writer) if lines else json_body(recs, True, writer)
    got = J.scan_request_records(body, 0, len(body), lines, f32)
    want = J.request_records_pure(body, 0, len(body), lines, f32)
    if b"\\u" in body:
        assert got is None  # a name with an escape
    else:
        _same_scan(got, want)


def _twin_whole_and_in_pieces(body: bytes, lines: bool, f32: bool, items: bool = False) -> None:
    """The twin reads a document a piece of records at a time when it is long (memory):
    with pieces of a few bytes, it gives exactly what it gives parsing the document whole."""
    whole = J.request_records_pure(body, 0, len(body), lines, f32, items)
    mp = pytest.MonkeyPatch()
    mp.setattr(J, "_TWIN_WHOLE", 0)
    mp.setattr(J, "_TWIN_PIECE", 7)
    mp.setattr(J, "_TWIN_LINES", 2)
    try:
        pieces = J.request_records_pure(body, 0, len(body), lines, f32, items)
    finally:
        mp.undo()
    _same_scan(pieces, whole)


@given(records(), st.booleans(), st.booleans(), st.booleans(), st.integers(0, 40), st.binary(max_size=2))
def test_pure_in_pieces_equals_whole(
    drawn: tuple[list[Any], str, list[list[Any]]],
    lines: bool,
    f32: bool,
    envelope: bool,
    at: int,
    junk: bytes,
) -> None:
    recs, _shape, _rows = drawn
    body = jsonl_body(recs, "orjson") if lines else json_body(recs, envelope, "orjson")
    _twin_whole_and_in_pieces(body, lines, f32)
    # and a damaged body: declined alike, or read alike
    at = min(at, len(body))
    _twin_whole_and_in_pieces(body[:at] + junk + body[at + len(junk) :], lines, f32)


nested_leaf = st.one_of(
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([True, None, "1", {}, [], [1]]),
)


@st.composite
def nested_records(draw: st.DrawFn) -> list[Any]:
    """Records of nested number lists, mostly of one shape, some of another or deeper,
    some with a leaf the scanner refuses."""
    shape = draw(st.lists(st.integers(1, 3), min_size=2, max_size=3))

    def build(dims: list[int]) -> Any:
        if not dims:
            odd = draw(st.integers(0, 30)) == 0
            return draw(nested_leaf) if odd else draw(st.integers(-9, 9) | st.floats(-1e3, 1e3))
        return [build(dims[1:]) for _ in range(dims[0])]

    recs = []
    for _ in range(draw(st.integers(1, 6))):
        other = draw(st.integers(0, 10)) == 0
        recs.append(build(draw(st.lists(st.integers(0, 3), min_size=1, max_size=4)) if other else shape))
    return recs


@given(nested_records(), st.booleans(), st.booleans())
def test_pure_nested_pieces_at_once_equal_one_at_a_time(recs: list[Any], lines: bool, f32: bool) -> None:
    body = b"\n".join(json.dumps(r).encode() for r in recs) if lines else json.dumps(recs).encode()
    got = J.request_records_pure(body, 0, len(body), lines, f32)
    mp = pytest.MonkeyPatch()
    mp.setattr(J, "_nested_piece", lambda recs: None)
    try:
        want = J.request_records_pure(body, 0, len(body), lines, f32)
    finally:
        mp.undo()
    _same_scan(got, want)


def test_pure_nested_pieces_by_hand() -> None:
    assert J._nested_piece([[[1, 2.5]], [[3, 4]]]) == ([1, 2.5, 3, 4], (1, 2))
    assert J._nested_piece([[[]], [[]]]) == ([], (1, 0))  # an empty deepest level, as numpy
    for recs in (
        [[[1, 2]], [[3]]],  # another shape
        [[[1]], [[[2]]]],  # deeper
        [[[1]], [[True]]],  # a bool
        [[[1]], [["1"]]],  # a string
        [[[]], [[1]]],  # an empty level beside numbers
        [[[1]], [1]],  # shallower
        [[1, 2], [3, 4]],  # not nested
        [[[1]]],  # one record
    ):
        assert J._nested_piece(recs) is None, recs


def test_pure_in_pieces_by_hand() -> None:
    for body, items in [
        (b"[[[1]], [[2]], [[3]]]", False),
        (b'{"instances": [[1, 2], [3, 4]]}', False),
        (b'{"instances": [[1, 2], [3, 4]], "configuration": {}}', False),  # declined
        (b"[1, 2, 3]", False),  # one record of bare numbers
        (b"[1, [2]]", False),
        (b"[[1], 2, 3]", False),  # scalars after a list: a ragged column
        (b"[[1], [2]] x", False),  # not JSON
        (b"[[1], [2]", False),
        (b'{"predictions": [[1], [2, 3]]}', True),
        (b'{"predictions": [[1], [2, 3]]}', False),
        (b'{"scores": [[1], [2, 3]]}', True),
        (b"\xef\xbb\xbf[[1], [2]]", False),
    ]:
        _twin_whole_and_in_pieces(body, False, False, items)
    got = J.request_records_pure(b"[[[1]], [[2]], [[3]]]", 0, 21, False, False)
    assert got is not None and got.values.tolist() == [1.0, 2.0, 3.0] and got.shape == (1, 1)


def test_grows_its_buffers() -> None:
    rng = np.random.default_rng(5)
    rows = [rng.standard_normal(int(n)).tolist() for n in rng.integers(0, 300, size=3000)]
    body = b"".join(orjson.dumps({"features": r}) + b"\n" for r in rows)
    got = J.scan_request_records(body, 0, len(body), True, False)
    assert got is not None
    assert got.values.tolist() == [v for r in rows for v in r]
    assert got.counts.tolist() == [len(r) for r in rows]
    ints = orjson.dumps({"instances": [[int(x) for x in rng.integers(0, 9, 500)] for _ in range(200)]})
    got = J.scan_request_records(ints, 0, len(ints), False, False)
    assert got is not None and got.values.size == 100_000


@pytest.mark.skipif(C is None, reason="the C extension is not built")
def test_json_lists_moved_here_resumes_when_full() -> None:
    """``json_lists`` (the responses' scanner of ``{"<name>": [numbers]}`` runs) lives in
    _cjson now: the same contract as before."""
    assert C is not None
    data = b"1, 2 ]X[3]X[]X[4,5,6"
    sep = b"]X["
    out = np.zeros(2)
    counts = np.zeros(2, dtype=np.int64)
    starts = np.zeros(2, dtype=np.int64)
    assert C.json_lists(data, 0, len(data), sep, out, counts, starts, False) == (1, 8, 2, 1)
    assert out.tolist() == [1.0, 2.0] and counts[0] == 2 and starts[0] == 0
    out = np.zeros(8)
    assert C.json_lists(data, 8, len(data), sep, out, counts, starts, False) == (2, 15, 1, 2)
    assert counts.tolist() == [1, 0] and starts.tolist() == [8, 12]
    assert C.json_lists(data, 15, len(data), sep, out, counts, starts, False) == (0, 20, 3, 1)
    assert out[:3].tolist() == [4.0, 5.0, 6.0]
    assert C.json_lists(b"1,\n2", 0, 4, b"", out, counts, starts, False) is None
    assert C.json_lists(b"1,\n2", 0, 4, b"", out, counts, starts, True) == (0, 4, 2, 1)
    with pytest.raises(ValueError):
        C.json_lists(b"1", 0, 1, b"", out, counts, starts[:1], False)
    assert J._C is C


@given(records(), st.booleans(), st.sampled_from(["orjson", "json.dumps", "sdk"]), st.data())
def test_cut_anywhere(
    drawn: tuple[list[Any], str, list[list[Any]]], lines: bool, writer: str, data: st.DataObject
) -> None:
    recs, _shape, _rows = drawn
    body = jsonl_body(recs, writer) if lines else json_body(recs, True, writer)
    cut = data.draw(st.integers(0, len(body)))
    check_all_paths(body[:cut], lines)


@pytest.mark.skipif(C is None, reason="the twin holds orjson's objects for a moment")
def test_memory_stays_near_the_output() -> None:
    import tracemalloc

    rng = np.random.default_rng(11)
    rows = np.round(rng.standard_normal((20_000, 20)), 3)
    for body, lines in (
        (orjson.dumps({"instances": rows.tolist()}), False),
        (b"".join(orjson.dumps({"features": r}) + b"\n" for r in rows.tolist()), True),
    ):
        tracemalloc.start()
        got = J.scan_request_records(body, 0, len(body), lines, False)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert got is not None
        _same_arrays(got.values, rows.reshape(-1))
        out = rows.nbytes + got.counts.nbytes + (0 if got.starts is None else 2 * got.starts.nbytes)
        assert peak < 1.3 * out + (1 << 20), (peak, out)


SHORT_TEXTS = [
    "0", "-0", "0.0", "-0.0", "-0.000", "7", "-7", "0.1", "-0.1234", "1234.5678", "99999.9999",
    "123456789012345", "-123456789012345", "1234567890123456", "12345678901234567890",
    "1.00000000000000", "1.000000000000000", "0.000000000000001", "0.0000000001", "0.00000000001",
    "16777216", "16777217", "16777219", "1677721.7", "167772.17", "8388608.5", "0.30000001192092896",
    "9007199254740993", "1e5", "1.5E-3", "2.5e+2",
]  # fmt: skip


@pytest.mark.parametrize("f32", [False, True])
@pytest.mark.parametrize("sep", [",", ", ", " , "])
def test_short_numbers_read_exactly(f32: bool, sep: str) -> None:
    """Plain numbers of up to 15 digits are read in the scanner's loop (Clinger's fast
    path), longer ones by smp_number: every one is the correctly rounded value."""
    body = ("[[" + sep.join(SHORT_TEXTS * 3) + "]]").encode()
    got = J.scan_request_records(body, 0, len(body), False, f32)
    assert got is not None
    if f32:
        want = np.array([f32_oracle(t) for t in SHORT_TEXTS * 3], np.float32)
    else:
        want = np.array([0.0 if t == "-0" else float(t) for t in SHORT_TEXTS * 3])
    _same_arrays(got.values, want)
