"""Responses column by column (issue #23): the records-of-scalars reader and the direct
writer of per-record output dicts against the general path.

Decoding: the C kernel ``_cjsonrec.json_records``, its twin `records_pure` and the general
path (orjson, the record grammar, `columns_from_records`) give the same batch, bit for bit,
or the same `DecodeError`, on generated bodies (numbers written by orjson and by Python's
json, integers of any size, strings with escapes and non-ASCII text, booleans and nulls that
decline). Encoding: lists of dicts give the bytes (or the `EncodeError`) of the batch
route, with `_reference_outputs_to_batch` as it was before the change as the oracle.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import sm_payloads as smp
from sm_payloads import _native
from sm_payloads import algorithms as smp_algorithms
from sm_payloads.errors import DecodeError, EncodeError
from sm_payloads.formats import _json_layout as J
from sm_payloads.formats import _rows as R
from sm_payloads.formats import csv as smp_csv
from sm_payloads.formats import json as smp_json
from sm_payloads.formats import jsonlines as smp_jsonl
from sm_payloads.record import Ragged, RecordBatch
from tests.helpers import arrays as suite_arrays

C = _native.load("formats._cjsonrec")
needs_c = pytest.mark.skipif(C is None, reason="the C extension is not built (or SM_PAYLOADS_PURE_PYTHON)")

JSON = "application/json"
JSONL = "application/jsonlines"
CSV = "text/csv"


# --------------------------------------------------------------------------------------
# Running one path
# --------------------------------------------------------------------------------------


def _outcome(f: Callable[[], Any]) -> Any:
    """The result, or (error type, message, positions) of the error it raised."""
    try:
        return f()
    except (DecodeError, EncodeError) as e:
        return (type(e).__name__, str(e), getattr(e, "offset", None), getattr(e, "line", None))
    except (ValueError, TypeError, UnicodeError) as e:  # as the batch route lets them through
        return (type(e).__name__, str(e))


def _same(a: Any, b: Any) -> None:
    if isinstance(a, RecordBatch) or isinstance(b, RecordBatch):
        assert isinstance(a, RecordBatch) and isinstance(b, RecordBatch), (a, b)
        assert a.equals(b, bitwise=True), f"\n{a!r}\n!=\n{b!r}"
        for m in ("features", "label"):
            x, y = getattr(a, m), getattr(b, m)
            assert list(x) == list(y)
            for k in x:
                assert type(x[k]) is type(y[k])
                assert x[k].dtype == y[k].dtype
                if isinstance(x[k], np.ndarray):
                    assert x[k].shape == y[k].shape
                    if x[k].dtype == object:
                        assert x[k].tolist() == y[k].tolist()
                    else:
                        assert x[k].tobytes() == y[k].tobytes()
    else:
        assert a == b


def paths(ct: str, body: bytes, **kw: Any) -> dict[str, Any]:
    """decode_response of a body on each path: "c" (the kernel), "pure" (its twin) and
    "general" (no fast path)."""
    out: dict[str, Any] = {}
    with pytest.MonkeyPatch.context() as m:
        m.setattr(J, "_CREC", None)
        out["pure"] = _outcome(lambda: smp.decode_response(body, ct, **kw))
    if C is not None:
        with pytest.MonkeyPatch.context() as m:
            m.setattr(J, "_CREC", C)
            out["c"] = _outcome(lambda: smp.decode_response(body, ct, **kw))
    with pytest.MonkeyPatch.context() as m:
        m.setattr(smp_json, "response_fast", lambda *a: None)
        m.setattr(smp_jsonl, "response_fast", lambda *a: None)
        out["general"] = _outcome(lambda: smp.decode_response(body, ct, **kw))
    return out


def _all_same(got: dict[str, Any]) -> Any:
    ref = got["general"]
    for name, v in got.items():
        if name != "general":
            _same(v, ref)
    return ref


# --------------------------------------------------------------------------------------
# Generated response bodies
# --------------------------------------------------------------------------------------

_KEYS = st.text(max_size=6)
_FLOATS = st.floats(allow_nan=False, allow_infinity=False)
_INTS = st.one_of(
    st.integers(-(2**31), 2**31), st.integers(), st.sampled_from([0, -0, 2**53 + 1, 2**64 - 1, 2**64])
)
_TEXT = st.text(max_size=8)


def _column(kind: str, n: int) -> st.SearchStrategy[list[Any]]:
    if kind == "float":
        return st.lists(_FLOATS, min_size=n, max_size=n)
    if kind == "int":
        return st.lists(_INTS, min_size=n, max_size=n)
    if kind == "number":
        return st.lists(st.one_of(_FLOATS, _INTS), min_size=n, max_size=n)
    if kind == "str":
        return st.lists(_TEXT, min_size=n, max_size=n)
    if kind.startswith("vec"):
        w = int(kind[3:])
        return st.lists(st.lists(st.one_of(_FLOATS, _INTS), min_size=w, max_size=w), min_size=n, max_size=n)
    # values the fast path declines (the general path decides)
    return st.lists(
        st.one_of(
            st.booleans(),
            st.none(),
            _FLOATS,
            _TEXT,
            st.lists(_FLOATS, max_size=3),
            st.just({"values": [1.0]}),
        ),
        min_size=n,
        max_size=n,
    )


@st.composite
def response_records(draw: st.DrawFn) -> list[dict[str, Any]]:
    n = draw(st.integers(1, 8))
    keys = draw(st.lists(_KEYS, min_size=1, max_size=4, unique=True))
    kinds = [
        draw(st.sampled_from(["float", "int", "number", "str", "vec0", "vec1", "vec3", "odd"])) for _ in keys
    ]
    cols = [draw(_column(k, n)) for k in kinds]
    recs = []
    sparse = draw(st.integers(0, 3)) == 0  # keys missing from some records
    for i in range(n):
        items = [(k, c[i]) for k, c in zip(keys, cols, strict=True)]
        if sparse:
            items = [kv for kv in items if draw(st.integers(0, 2))]
        if draw(st.booleans()):
            items = draw(st.permutations(items))
        recs.append(dict(items))
    return recs


def _dumps(draw: st.DrawFn, value: Any) -> bytes:
    writer = draw(st.sampled_from(["orjson", "json", "json-ascii", "json-indent"]))
    if writer == "orjson":
        try:
            return orjson.dumps(value)
        except orjson.JSONEncodeError:  # an integer beyond 64 bits
            return json.dumps(value).encode()
    if writer == "json":
        return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")
    if writer == "json-ascii":
        return json.dumps(value).encode()
    return json.dumps(value, indent=1).encode()


@st.composite
def json_bodies(draw: st.DrawFn) -> bytes:
    recs = draw(response_records())
    doc: Any = recs
    shape = draw(st.sampled_from(["predictions", "projections", "scores", "bare"]))
    if shape != "bare":
        doc = {shape: recs}
    return _dumps(draw, doc)


@st.composite
def jsonl_bodies(draw: st.DrawFn) -> bytes:
    recs = draw(response_records())
    lines = []
    for r in recs:
        line = _dumps(draw, r).replace(b"\n", b"")
        lines.append(line + draw(st.sampled_from([b"", b" ", b"\r"])))
        if draw(st.integers(0, 5)) == 0:
            lines.append(draw(st.sampled_from([b"", b"  ", b"\t\r"])))
    end = draw(st.sampled_from([b"", b"\n", b"\r\n"]))
    return b"\n".join(lines) + end


# --------------------------------------------------------------------------------------
# Decoding: C == pure == general
# --------------------------------------------------------------------------------------


@given(body=json_bodies())
@example(
    body=b'{"predictions": [{"score": 0.5, "predicted_label": 1}, {"score": 1e-3, "predicted_label": 0}]}'
)
@example(body=b'[{"a": "x\\u00e9\\ud83d\\ude00\\n", "b": -0}, {"b": -0.0, "a": "\\"q\\""}]')
@example(body=b'{"scores": [{"score": 18446744073709551615}, {"score": 123456789012345678901234567890}]}')
def test_json_records_match_the_general_path(body: bytes) -> None:
    _all_same(paths(JSON, body))


@given(body=jsonl_bodies())
@example(body=b'{"closest_cluster": 3.0, "distance_to_cluster": 23.40593910217285}\n')
@example(body=b'\xef\xbb\xbf{"a": 1}\r\n\n  \n{"a": 2}')
def test_jsonl_records_match_the_general_path(body: bytes) -> None:
    _all_same(paths(JSONL, body))


@given(body=json_bodies(), dtype=st.sampled_from(["float32", "int32"]))
def test_dtype_matches_the_general_path(body: bytes, dtype: str) -> None:
    _all_same(paths(JSON, body, dtype=dtype))


def test_known_values_decode_exactly() -> None:
    body = (
        b'{"predictions": [{"score": 0.1, "predicted_label": 1, "name": "caf\\u00e9", "v": [1, 2.5]},'
        b' {"predicted_label": 0, "score": 2.2250738585072014e-308, "name": "b", "v": [-0, 1e22]}]}'
    )
    got = _all_same(paths(JSON, body))
    assert isinstance(got, RecordBatch)
    assert list(got.label) == ["score", "predicted_label", "name", "v"]
    assert got.label["score"].dtype == np.float64
    assert got.label["score"].tolist() == [float("0.1"), float("2.2250738585072014e-308")]
    assert got.label["predicted_label"].tolist() == [1.0, 0.0]
    assert got.label["name"].dtype == object and got.label["name"].tolist() == ["café", "b"]
    assert got.label["v"].shape == (2, 2) and got.label["v"].tolist() == [[1.0, 2.5], [0.0, 1e22]]
    assert not math.copysign(1.0, got.label["v"][1, 0]) < 0  # the integer -0 is 0.0


@pytest.mark.parametrize(
    "body",
    [
        b'{"predictions": [{"a": 1}, {"a": true}]}',  # a boolean: the general path's error
        b'{"predictions": [{"a": 1}, {"a": null}]}',
        b'{"predictions": [{"a": 1}, {"b": 2}]}',  # other keys: a ragged column, or an error
        b'{"predictions": [{"a": 1}, {"a": 1, "a": 2}]}',  # a key twice
        b'{"predictions": [{"a": 1}, {"a": "x"}]}',  # numbers and strings in one column
        b'{"predictions": [{"a": 1}, {"a": 1e400}]}',  # beyond float64
        b'{"predictions": [{"a": "\\ud800"}]}',  # a lone surrogate
        b'{"predictions": [{"a": "\xff"}]}',  # not UTF-8
        b'{"predictions": [{"a": 1},]}',  # a trailing comma
        b'{"predictions": [{"a": 01}]}',  # a leading zero
        b'{"predictions": []}',
        b'{"predictions": [{"a": 1}], "x": 1}',
        b'{"a": 1, "b": "x"}',  # one item
        b'{"predictions": [{"a": "tab\tinside"}]}',
        b"[]",
    ],
)
def test_declines_give_the_general_result(body: bytes) -> None:
    got = paths(JSON, body)
    _all_same(got)
    if C is not None:
        assert C.json_records(body, 0, len(body), False) is None or body.startswith(
            b'{"predictions": [{"a": 1}, {"b"'
        )


@pytest.mark.parametrize(
    "body",
    [
        b'{"a": 1} {"a": 2}\n',  # two values on one line
        b'{"a":\n1}\n',  # a value across lines
        b'{"a": 1}\n{"a": true}\n',
        b'{"a": 1}\n\x0c\n{"a": 2}\n',  # a form feed line is blank for the general path
        b"\n\n",
        b'{"a": [1, 2]}\n{"a": [3]}\n',
    ],
)
def test_jsonl_declines_give_the_general_result(body: bytes) -> None:
    _all_same(paths(JSONL, body))


_NONFINITE = re.compile(rb"(?<![\w.])(?:-?[0-9]+\.[0-9]+(?:e-?[0-9]+)?|-?[0-9]+e-?[0-9]+)(?![\w.])")


@st.composite
def nonfinite_bodies(draw: st.DrawFn) -> tuple[bytes, str]:
    """A JSON or JSON Lines response body with some floats written as NaN, Infinity,
    -Infinity (or a spelling Python's json refuses), as XGBoost and json.dumps write them."""
    ct = draw(st.sampled_from([JSON, JSONL]))
    body = draw(json_bodies() if ct == JSON else jsonl_bodies())
    words = st.sampled_from([b"NaN", b"Infinity", b"-Infinity", b"-NaN", b"nan", b"Inf"])
    marks = list(_NONFINITE.finditer(body))
    some = st.lists(st.sampled_from(marks), unique_by=lambda m: m.start(), max_size=3)
    picked = draw(some) if marks else []
    for m in sorted(picked, key=lambda m: m.start(), reverse=True):
        body = body[: m.start()] + draw(words) + body[m.end() :]
    return body, ct


@given(case=nonfinite_bodies(), allow_nan=st.booleans())
@example(
    case=(b'{"predictions": [{"score": NaN}, {"score": -Infinity}, {"score": 0.5}]}', JSON), allow_nan=True
)
@example(
    case=(b'{"score": Infinity, "v": [NaN, 1]}\n{"score": 2, "v": [3, -Infinity]}\n', JSONL), allow_nan=True
)
@example(case=(b'{"predictions": [{"score": -NaN}]}', JSON), allow_nan=True)
def test_nan_tokens_match_the_general_path(case: tuple[bytes, str], allow_nan: bool) -> None:
    body, ct = case
    _all_same(paths(ct, body, allow_nan=allow_nan))


def test_nan_tokens_decode_exactly_on_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    body = b'{"predictions": [{"score": NaN, "v": [Infinity, 1]}, {"score": -Infinity, "v": [2, -Infinity]}]}'
    for kernel in [C, None] if C is not None else [None]:
        monkeypatch.setattr(J, "_CREC", kernel)
        got = J.response_fast(body, 0, len(body), False, None, True, True)
        assert got is not None
        assert got.label["score"].view(np.uint64).tolist() == [0x7FF8000000000000, 0xFFF0000000000000]
        assert got.label["v"].tolist() == [[math.inf, 1.0], [2.0, -math.inf]]
        f32 = J.response_fast(body, 0, len(body), False, "float32", True, True)
        assert f32 is not None
        assert f32.label["score"].view(np.uint32).tolist() == [0x7FC00000, 0xFF800000]
        assert J.response_fast(body, 0, len(body), False, None, True, False) is None


@needs_c
@given(body=st.one_of(json_bodies(), jsonl_bodies()))
def test_kernel_matches_its_twin(body: bytes) -> None:
    assert C is not None
    lines = not body.lstrip().startswith((b"[", b'{"predictions', b'{"projections', b'{"scores'))
    got = C.json_records(body, 0, len(body), lines)
    twin = J.records_pure(body, 0, len(body), lines)
    if got is None:
        return  # the kernel declines more (keys twice, escaped keys); the general path decides
    assert twin is not None
    assert got[0] == twin[0]
    assert len(got[1]) == len(twin[1])
    for (k1, kind1, p1, w1, i1), (k2, kind2, p2, w2, i2) in zip(got[1], twin[1], strict=True):
        assert (k1, kind1, w1) == (k2, kind2, w2)
        assert (i1 is None) == (i2 is None)
        if i1 is not None:
            assert bytes(i1) == np.asarray(i2, dtype=np.int64).tobytes()
        if kind1 == "s":
            assert p1 == p2
        elif kind1 == "r":  # (values, counts)
            assert bytes(p1[0]) == np.asarray(p2[0], dtype=np.float64).tobytes()
            assert bytes(p1[1]) == np.asarray(p2[1], dtype=np.int64).tobytes()
        else:
            assert bytes(p1) == np.asarray(p2, dtype=np.float64).tobytes()


@needs_c
def test_kernel_bounds_and_threads() -> None:
    assert C is not None
    body = b'[{"a": 1.5}, {"a": 2}]'
    with pytest.raises(ValueError):
        C.json_records(body, 0, len(body) + 1, False)
    with pytest.raises(ValueError):
        C.json_records(body, 5, 4, False)
    # a prefix that ends inside a record declines, never reads past `stop`
    for stop in range(len(body)):
        assert C.json_records(body, 0, stop, False) is None
    n, cols = C.json_records(body, 0, len(body), False)
    assert n == 2 and cols[0][:2] == ("a", "n")
    assert np.frombuffer(cols[0][2], np.float64).tolist() == [1.5, 2.0]


# --------------------------------------------------------------------------------------
# Encoding: lists of dicts against the batch route
# --------------------------------------------------------------------------------------


def _reference_outputs_to_batch(rows: list[Mapping[str, Any]]) -> RecordBatch:
    """`arrays.outputs_to_batch` as it was before issue #23 (the oracle)."""
    keys: dict[str, None] = {}
    for row in rows:
        keys.update(dict.fromkeys(row))
    label: dict[str, Any] = {}
    for key in keys:
        values = []
        for i, row in enumerate(rows):
            if key not in row:
                raise EncodeError(
                    None,
                    f"record {i} has no {key!r} (every record needs every output key)",
                    column=f"label[{key!r}]",
                    status_hint=400,
                )
            values.append(row[key])
        if all(isinstance(v, str) for v in values):
            label[key] = np.array(values, dtype=object)
        elif all(isinstance(v, (list, tuple, np.ndarray)) for v in values):
            lengths = {len(v) for v in values}
            if len(lengths) == 1:
                label[key] = np.asarray(values)
            else:
                label[key] = Ragged.from_lists([list(v) for v in values])
        else:
            label[key] = np.asarray(values)
            if label[key].dtype.kind not in "biuf" or label[key].ndim != 1:
                raise EncodeError(
                    None,
                    "expected numbers, strings or lists of numbers per record",
                    column=f"label[{key!r}]",
                    status_hint=400,
                )
    return RecordBatch(label=label, n=len(rows))


def _reference_encode(rows: list[Any], ct: str, **kw: Any) -> Any:
    def run() -> bytes:
        try:
            batch = _reference_outputs_to_batch(rows)
        except EncodeError as e:
            raise EncodeError(ct, e.reason, column=e.column, status_hint=e.status_hint) from None
        return smp.encode_response(batch, ct, **kw)

    return _outcome(run)


_OUT_FLOATS = st.one_of(_FLOATS, st.sampled_from([math.nan, math.inf, -math.inf, -0.0, 1e16, 1e-7, 0.1]))
_OUT_INTS = st.one_of(st.integers(-(2**31), 2**31 - 1), st.sampled_from([2**31, -(2**31) - 1, 2**40]))


def _out_column(kind: str, n: int) -> st.SearchStrategy[list[Any]]:
    one: st.SearchStrategy[Any]
    if kind == "float":
        one = _OUT_FLOATS
    elif kind == "int":
        one = _OUT_INTS
    elif kind == "str":
        one = st.one_of(_TEXT, st.just("x\ud800"), st.just('q"}{,\n'))
    elif kind == "f32":
        one = st.one_of(
            st.floats(width=32, allow_nan=False, allow_infinity=False),
            st.sampled_from([math.nan, math.inf, -0.0, 1e-7, 0.1]),
        ).map(np.float32)
    elif kind == "f64":
        one = _OUT_FLOATS.map(np.float64)
    elif kind == "bool":
        one = st.booleans()
    elif kind == "mixed":
        one = st.one_of(_FLOATS, _OUT_INTS)
    elif kind == "floats":
        w = 3
        return st.lists(st.lists(_OUT_FLOATS, min_size=w, max_size=w), min_size=n, max_size=n)
    elif kind == "ints":
        return st.lists(st.lists(_OUT_INTS, min_size=2, max_size=2), min_size=n, max_size=n)
    else:
        one = st.one_of(st.none(), st.lists(_FLOATS, max_size=2), _TEXT, _FLOATS)
    return st.lists(one, min_size=n, max_size=n)


@st.composite
def output_rows(draw: st.DrawFn) -> list[dict[str, Any]]:
    n = draw(st.integers(1, 6))
    keys = draw(st.lists(st.one_of(_KEYS, st.just("a}b")), min_size=1, max_size=3, unique=True))
    kinds = [
        draw(st.sampled_from(["float", "int", "str", "f32", "f64", "bool", "mixed", "floats", "ints", "odd"]))
        for _ in keys
    ]
    cols = [draw(_out_column(k, n)) for k in kinds]
    rows = []
    for i in range(n):
        items = [(k, c[i]) for k, c in zip(keys, cols, strict=True)]
        if draw(st.integers(0, 7)) == 0:
            items = draw(st.permutations(items))
        if draw(st.integers(0, 15)) == 0:
            items = items[:-1]
        rows.append(dict(items))
    return rows


@given(rows=output_rows(), allow_nan=st.booleans())
@example(rows=[{"score": 0.5, "predicted_label": 1}, {"score": 0.25, "predicted_label": 0}], allow_nan=False)
@example(rows=[{"score": math.nan}], allow_nan=False)
@example(rows=[{"score": np.float32(0.1)}, {"score": np.float32(1e-7)}], allow_nan=False)
def test_dicts_encode_as_the_batch_route(rows: list[dict[str, Any]], allow_nan: bool) -> None:
    for ct in (JSON, JSONL):
        _same(
            _outcome(lambda ct=ct: smp.encode_response(rows, ct, allow_nan=allow_nan)),
            _reference_encode(rows, ct, allow_nan=allow_nan),
        )
    _same(_outcome(lambda: smp.encode_response(rows, CSV)), _reference_encode(rows, CSV))
    _same(_outcome(lambda: smp.encode_response(tuple(rows), JSON)), _reference_encode(rows, JSON))


@given(rows=output_rows())
def test_module_verbs_take_dicts(rows: list[dict[str, Any]]) -> None:
    for envelope in ("predictions", "scores"):
        _same(
            _outcome(lambda e=envelope: smp_json.encode_response(rows, envelope=e)),
            _reference_encode(rows, JSON, envelope=envelope),
        )
    _same(_outcome(lambda: smp_jsonl.encode_response(rows)), _reference_encode(rows, JSONL))
    _same(_outcome(lambda: smp_csv.encode_response(rows)), _reference_encode(rows, CSV))


@given(rows=output_rows())
def test_outputs_to_batch_as_before(rows: list[dict[str, Any]]) -> None:
    ref = _outcome(lambda: _reference_outputs_to_batch(rows))
    _same(_outcome(lambda: smp.arrays.outputs_to_batch(rows)), ref)
    fast = R.rows_batch(rows)
    if fast is not None:  # the one-pass batch of the rows the writers take as they are
        _same(fast, ref)
        with pytest.MonkeyPatch.context() as m:
            m.setattr(R, "_C", None)
            _same(R.rows_batch(rows), ref)


def test_known_bytes() -> None:
    rows = [
        {"score": 0.5, "predicted_label": 1, "name": "cat"},
        {"score": 1e16, "predicted_label": 0, "name": 'd"g'},
    ]
    assert smp.encode_response(rows, JSON) == (
        b'{"predictions":[{"score":0.5,"predicted_label":1,"name":"cat"},'
        b'{"score":1e+16,"predicted_label":0,"name":"d\\"g"}]}'
    )
    assert smp.encode_response(rows, JSONL) == (
        b'{"score":0.5,"predicted_label":1,"name":"cat"}\n{"score":1e+16,"predicted_label":0,"name":"d\\"g"}\n'
    )
    assert smp.encode_response(rows, CSV) == b'0.5,1,cat\n1e+16,0,"d""g"\n'
    nums = [{"v": [1.5, 2.0]}, {"v": [3.0, -0.0]}]
    assert smp.encode_response(nums, JSONL) == b'{"v":[1.5,2.0]}\n{"v":[3.0,-0.0]}\n'
    with pytest.raises(EncodeError, match=r"value nan in record 1") as e:
        smp.encode_response([{"s": 1.0}, {"s": math.nan}], JSON)
    assert e.value.column == "label['s']"
    assert smp.encode_response([{"s": 1.0}, {"s": math.nan}], JSON, allow_nan=True) == (
        b'{"predictions":[{"s":1.0},{"s":NaN}]}'
    )


@needs_c
@given(rows=output_rows())
def test_rows_kernel_matches_its_twin(rows: list[dict[str, Any]]) -> None:
    assert C is not None
    assert C.dict_rows(rows, np.float64, np.float32) == R.rows_kinds_pure(rows)


@needs_c
@given(rows=output_rows())
def test_columns_kernel_matches_its_twin(rows: list[dict[str, Any]]) -> None:
    assert C is not None
    both = C.dict_rows(rows, np.float64, np.float32, True)
    kinds = C.dict_rows(rows, np.float64, np.float32)
    if kinds is None:
        assert both is None
        return
    assert both is not None and both[0] == kinds
    got = both[1]
    twin = R.rows_columns_pure(rows, kinds)
    for kind, a, b in zip(kinds, got, twin, strict=True):
        if kind == "s":
            assert a is None and b is None
        else:
            assert bytes(a) == b.tobytes()


def test_rows_kinds_letters() -> None:
    rows = [
        {
            "f": 0.5,
            "i": 1,
            "s": "x",
            "d": np.float64(1.5),
            "e": np.float32(2.5),
            "F": [1.0, 2.0],
            "I": [1, 2],
        },
        {
            "f": 1.5,
            "i": -2,
            "s": "y",
            "d": np.float64(0.5),
            "e": np.float32(0.5),
            "F": [3.0, 4.0],
            "I": [3, 4],
        },
    ]
    assert R.rows_kinds_pure(rows) == "fisdeFI"
    if C is not None:
        assert C.dict_rows(rows, np.float64, np.float32) == "fisdeFI"
    for bad in (
        [{"a": 1}, {"a": 1.0}],
        [{"a": True}],
        [{"a": 2**31}],
        [{"a": 1, "b": 2}, {"b": 2, "a": 1}],
        [{"a": []}],
    ):
        assert R.rows_kinds_pure(bad) is None
        if C is not None:
            assert C.dict_rows(bad, np.float64, np.float32) is None


# --------------------------------------------------------------------------------------
# Schemas reach the fast paths
# --------------------------------------------------------------------------------------


def test_algorithm_responses_take_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[bool] = []
    real = J.response_fast

    def spy(*a: Any) -> Any:
        got = real(*a)
        calls.append(got is not None)
        return got

    monkeypatch.setattr(smp_json, "response_fast", spy)
    monkeypatch.setattr(smp_jsonl, "response_fast", spy)
    body = b'{"predictions": [{"closest_cluster": 1.0, "distance_to_cluster": 2.5}]}'
    b = smp_algorithms.decode_response(body, JSON, "kmeans")
    assert b.label["closest_cluster"].tolist() == [1.0]
    lines = b'{"closest_cluster": 1.0, "distance_to_cluster": 2.5}\n'
    b = smp_algorithms.decode_response(lines, JSONL, "kmeans")
    assert b.label["distance_to_cluster"].tolist() == [2.5]
    assert calls == [True, True]


# --------------------------------------------------------------------------------------
# CSV rows from one text per column
# --------------------------------------------------------------------------------------

_FIELD = st.binary(max_size=6).map(lambda b: b.replace(b"\n", b""))


@given(
    cols=st.integers(1, 4).flatmap(
        lambda k: st.integers(1, 6).flatmap(
            lambda n: st.lists(st.lists(_FIELD, min_size=n, max_size=n), min_size=k, max_size=k)
        )
    ),
    off=st.sampled_from([0, 0, 0, -1, 1]),
)
def test_join_lines_kernel_matches_its_twin(cols: list[list[bytes]], off: int) -> None:
    n = len(cols[0])
    texts = [b"\n".join(c) for c in cols]
    want = None if off else b"".join(b",".join(row) + b"\n" for row in zip(*cols, strict=True))
    assert smp_csv.join_lines_pure(texts, n + off) == want
    if C is not None:
        assert C.join_lines(texts, n + off) == want


@given(rows=st.integers(1, 30), dtypes=st.lists(st.sampled_from(["float64", "float32", "int32"]), min_size=2))
def test_csv_numbers_of_several_dtypes(rows: int, dtypes: list[str]) -> None:
    rng = np.random.default_rng(rows)
    label = {
        f"c{j}": (rng.standard_normal(rows) * 10.0 ** rng.integers(-8, 20, rows)).astype(dt)
        if dt != "int32"
        else rng.integers(-(2**31), 2**31 - 1, rows).astype(np.int32)
        for j, dt in enumerate(dtypes)
    }
    batch = RecordBatch(label=label, n=rows)
    got = smp_csv.encode_response(batch)
    # csv.writer of numpy scalars (str() of each value) is the SDK's spelling
    want = "".join(",".join(str(label[k][i]) for k in label) + "\n" for i in range(rows)).encode()
    assert got == want


# --------------------------------------------------------------------------------------
# CSV responses with text: column by column against the careful reader
# --------------------------------------------------------------------------------------

_CSV_TEXT = st.one_of(
    st.sampled_from(
        ["cat", "dog", "True.", "False.", "a b", "café", "nan", "inf", "1_0", "0x1", "1e", " 2.5", "-"]
    ),
    st.text(alphabet=st.characters(blacklist_characters='",\n\r', blacklist_categories=["Cs"]), max_size=5),
)
_CSV_NUMBER = st.one_of(
    _FLOATS.map(repr),
    st.integers(-(10**20), 10**20).map(str),
    st.sampled_from(["1.", ".5", "+1", "-0", "1E5", "1e-5", "nan", "NaN", "inf", "-Infinity", " 3 ", "\t4"]),
)


@st.composite
def csv_responses(draw: st.DrawFn) -> tuple[bytes, list[str], str]:
    width = draw(st.integers(1, 3))
    n = draw(st.integers(1, 8))
    cols = []
    for _ in range(width):
        kind = draw(st.sampled_from(["text", "number", "mixed"]))
        one = {"text": _CSV_TEXT, "number": _CSV_NUMBER, "mixed": st.one_of(_CSV_TEXT, _CSV_NUMBER)}[kind]
        cols.append(draw(st.lists(one, min_size=n, max_size=n)))
    rows = [",".join(c[i] for c in cols) for i in range(n)]
    if draw(st.integers(0, 4)) == 0:
        rows.append(draw(st.sampled_from(["", "x", "x,y,z,w", '"q",1', "[1, 2],3"])))
    end = draw(st.sampled_from(["\n", "", "\r\n"]))
    charset = draw(st.sampled_from(["utf-8", "us-ascii"]))
    keys = [f"k{j}" for j in range(width)]
    return ("\n".join(rows) + end).encode("utf-8"), keys, charset


@given(case=csv_responses())
@example(case=(b"cat,0.5\ndog,0.25\n", ["predicted_label", "probability"], "utf-8"))
@example(case=(b"cat,0.5\ndog,\n", ["predicted_label", "probability"], "utf-8"))
@example(case=(b"caf\xc3\xa9,1\n", ["a", "b"], "us-ascii"))
def test_csv_text_responses_match_the_careful_reader(case: tuple[bytes, list[str], str]) -> None:
    body, keys, charset = case
    got = _outcome(lambda: smp_csv.decode_response(body, keys=keys, charset=charset))
    with pytest.MonkeyPatch.context() as m:
        m.setattr(smp_csv, "_text_response", lambda *a: None)
        want = _outcome(lambda: smp_csv.decode_response(body, keys=keys, charset=charset))
    _same(got, want)


def test_csv_text_response_values() -> None:
    body = b"cat,0.5,1\ndog,0.25,2\n"
    got = smp_csv._text_response(body, 0, ["predicted_label", "probability", "n"], "utf-8")
    assert got is not None  # the column-by-column path reads it
    assert got.label["predicted_label"].tolist() == ["cat", "dog"]
    assert got.label["predicted_label"].dtype.kind == "U"
    assert got.label["probability"].tolist() == [0.5, 0.25]
    assert got.label["n"].dtype == np.float64 and got.label["n"].tolist() == [1.0, 2.0]
    assert smp_csv._text_response(b"1,2\n", 0, ["a", "b"], "utf-8") is None  # numbers: the numeric reader


@given(rows=output_rows(), tail=st.sampled_from([b"", b"x", b"}", b",{", b"]"]))
@example(rows=[{"a": 1.5}, {"a": 2.0}], tail=b"")
def test_array_lines_kernel_matches_its_twin(rows: list[dict[str, Any]], tail: bytes) -> None:
    assert smp_jsonl.array_lines_pure(b'[{"a":1},{"b":[2.5]}]') == b'{"a":1}\n{"b":[2.5]}\n'
    assert smp_jsonl.array_lines_pure(b'[{"a":{"b":1}}]') is None
    try:
        text = orjson.dumps(rows, option=orjson.OPT_SERIALIZE_NUMPY)
    except orjson.JSONEncodeError:
        return
    text = text[:-1] + tail + b"]" if tail else text
    want = smp_jsonl.array_lines_pure(text)
    if C is not None:
        assert C.array_lines(text) == want
    if want is not None:
        # one object per line, each line the object orjson writes alone
        assert [orjson.loads(x) for x in want.splitlines()] == orjson.loads(text)
        assert want.endswith(b"\n") and want.count(b"\n") == len(orjson.loads(text))


# --------------------------------------------------------------------------------------
# Batches of numeric columns written column by column
# --------------------------------------------------------------------------------------


@st.composite
def numeric_batches(draw: st.DrawFn) -> RecordBatch:
    n = draw(st.integers(1, 6))
    keys = draw(st.lists(st.one_of(_KEYS, st.just('q"\\')), min_size=1, max_size=3, unique=True))
    label = {}
    for k in keys:
        dt = draw(st.sampled_from(["float64", "float32", "int32"]))
        label[k] = draw(suite_arrays(dt, (n,)))
    target = draw(st.sampled_from(["label", "features"]))
    return RecordBatch(label=label, n=n) if target == "label" else RecordBatch(features=label, n=n)


@given(batch=numeric_batches(), allow_nan=st.booleans())
def test_numeric_batches_encode_as_before(batch: RecordBatch, allow_nan: bool) -> None:
    for ct in (JSON, JSONL):
        got = _outcome(lambda ct=ct: smp.encode_response(batch, ct, allow_nan=allow_nan))
        with pytest.MonkeyPatch.context() as m:
            m.setattr(smp_json, "response_rows", lambda *a: None)
            m.setattr(smp_jsonl, "response_rows", lambda *a: None)
            want = _outcome(lambda ct=ct: smp.encode_response(batch, ct, allow_nan=allow_nan))
        _same(got, want)
        with pytest.MonkeyPatch.context() as m:
            m.setattr(J, "_CREC", None)
            _same(_outcome(lambda ct=ct: smp.encode_response(batch, ct, allow_nan=allow_nan)), want)


@given(
    cols=st.integers(1, 3).flatmap(
        lambda k: st.integers(1, 5).flatmap(
            lambda n: st.lists(
                st.lists(st.binary(max_size=4).map(lambda b: b.replace(b",", b"")), min_size=n, max_size=n),
                min_size=k,
                max_size=k,
            )
        )
    ),
    off=st.sampled_from([0, 0, -1, 1]),
    row_sep=st.sampled_from([b",", b"\n", b""]),
)
def test_join_rows_kernel_matches_its_twin(cols: list[list[bytes]], off: int, row_sep: bytes) -> None:
    n = len(cols[0])
    texts = [b",".join(c) for c in cols]
    heads = [b"{"] + [b",k%d:" % j for j in range(1, len(cols))] + [b"}"]
    want = (
        None
        if off
        else row_sep.join(
            heads[0] + b"".join(c[i] + h for c, h in zip(cols, heads[1:], strict=True)) for i in range(n)
        )
    )
    assert J.join_rows_pure(texts, n + off, 0x2C, heads, row_sep) == want
    if C is not None:
        assert C.join_rows(texts, n + off, 0x2C, heads, row_sep) == want


def test_numeric_batch_known_bytes() -> None:
    b = RecordBatch(
        label={
            "closest_cluster": np.array([5.0, 1.0], np.float32),
            "distance_to_cluster": np.array([36.5, 0.1], np.float32),
            "n": np.array([1, -2], np.int32),
        }
    )
    assert J.response_rows(b, b",") == (
        b'{"closest_cluster":5.0,"distance_to_cluster":36.5,"n":1},'
        b'{"closest_cluster":1.0,"distance_to_cluster":0.1,"n":-2}'
    )
    assert smp.encode_response(b, JSONL) == (
        b'{"closest_cluster":5.0,"distance_to_cluster":36.5,"n":1}\n'
        b'{"closest_cluster":1.0,"distance_to_cluster":0.1,"n":-2}\n'
    )
    nan = RecordBatch(label={"s": np.array([1.0, np.nan])})
    assert J.response_rows(nan, b",") is None
    with pytest.raises(EncodeError, match="record 1"):
        smp.encode_response(nan, JSON)


@pytest.mark.parametrize(
    ("body", "ct"),
    [
        (b'[{"a": "\\ud800"}]', JSON),
        (b'{"predictions": [{"a": "\\udc00", "b": NaN}]}', JSON),
        (b'{"a": "x"}\n{"a": "\\ud800"}\n', JSONL),
    ],
)
def test_allow_nan_twin_refuses_a_lone_surrogate_as_the_general_path(body: bytes, ct: str) -> None:
    """With allow_nan, the twin read a body orjson refuses with Python's json whatever orjson
    refused (here a lone surrogate escape, far from any NaN), where the general path reads
    it so only when orjson stopped at NaN / Infinity: the pure path gave a batch, the
    others the DecodeError."""
    lines = ct == JSONL
    assert J.records_pure(body, 0, len(body), lines, False, True) is None
    got = _all_same(paths(ct, body, allow_nan=True))
    assert got[0] == "DecodeError" and "surrogate" in got[1]


def test_allow_nan_twin_reads_with_python_json_where_the_general_path_does() -> None:
    """orjson stops at the NaN first: the general path then reads the body with Python's
    json, lone surrogate and all, and so does the twin (the kernel declines the escape)."""
    body = b'[{"b": NaN, "a": "\\ud800"}]'
    got = J.records_pure(body, 0, len(body), False, False, True)
    assert got is not None and got[1][1][:3] == ("a", "s", ["\ud800"])
    if C is not None:
        assert C.json_records(body, 0, len(body), False, False, False, True) is None
    batch = _all_same(paths(JSON, body, allow_nan=True))
    assert batch.label["a"].tolist() == ["\ud800"]
    assert batch.label["b"].view(np.uint64).tolist() == [0x7FF8000000000000]


def _colliding_keys(count: int, length: int) -> list[bytes]:
    """`count` keys of `length` bytes (a long shared prefix, 8 hex digits) that json_records'
    key table puts in one slot: FNV-1a 64 of the key, folded (h ^ h >> 32), modulo 8192."""
    prefix = b"p" * (length - 8)
    h0 = 0xCBF29CE484222325
    for c in prefix:
        h0 = ((h0 ^ c) * 0x100000001B3) & (2**64 - 1)
    found: list[int] = []
    lo = 0
    while len(found) < count:
        i = np.arange(lo, lo + (1 << 18), dtype=np.uint64)
        h = np.full(i.size, h0, dtype=np.uint64)
        for k in range(8):
            d = (i >> np.uint64(4 * (7 - k))) & np.uint64(15)
            h = (h ^ np.where(d < 10, d + np.uint64(48), d + np.uint64(87))) * np.uint64(0x100000001B3)
        found += (i[((h ^ (h >> np.uint64(32))) & np.uint64(8191)) == 0]).tolist()
        lo += 1 << 18
    return [prefix + b"%08x" % j for j in found[:count]]


@needs_c
def test_keys_made_to_collide_spend_the_budget_by_their_length() -> None:
    """Keys of one length in one slot of the key table, the later records in reverse order:
    each lookup compared the key with every key before it in the slot, all their bytes, but
    the probe budget counted one per key, so 160 keys of 512 bytes cost 80 byte comparisons
    per byte of the body (4000 keys of 600 bytes: 7.3 MB in 2.5 s, 40 x the same body
    without collisions).
    A comparison now spends the budget by its length: the kernel declines such a body, and
    the general path reads it."""
    assert C is not None
    keys = _colliding_keys(160, 512)
    first = b"{" + b",".join(b'"%s": 1' % k for k in keys) + b"}"
    back = b"{" + b",".join(b'"%s": 2' % k for k in reversed(keys)) + b"}"
    body = b"[" + b",".join([first, back, back]) + b"]"
    assert C.json_records(body, 0, len(body), False) is None
    lines = b"\n".join([first, back, back])
    assert C.json_records(lines, 0, len(lines), True) is None
    batch = _all_same(paths(JSON, body))
    assert batch.n == 3 and list(batch.label) == [k.decode() for k in keys]
    assert batch.label[keys[7].decode()].tolist() == [1.0, 2.0, 2.0]
    # the same keys without collisions (another slot each) stay on the kernel
    spread = [b"%08x" % i + k[8:] for i, k in enumerate(keys)]
    order = [spread, spread[::-1], spread[::-1]]
    body = b"[" + b",".join(b"{" + b",".join(b'"%s": 1' % k for k in ks) + b"}" for ks in order) + b"]"
    assert C.json_records(body, 0, len(body), False) is not None
