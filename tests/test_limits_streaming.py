"""Limits apply while decoding (`sm_payloads.api.decode_within`): a body over `max_records` or
`max_elements` is refused before it is decoded whole, and a body within them gets exactly
the batch (or the error) it gets without limits, in every format, requests and responses.

The expected counts come from the test's own reading of the batch (`_elements`) or of the
JSON document (`_oracle_records`, through orjson), never from `smp.limits`.
"""

from __future__ import annotations

import json
import tracemalloc
from typing import Any

import numpy as np
import orjson
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import sm_payloads as smp
from sm_payloads import limits as limits_module
from sm_payloads.columns import Sparse
from sm_payloads.limits import Limits, count_lines, json_crowded_records, json_records
from sm_payloads.record import Ragged
from sm_payloads.recordio import write_records

from .helpers import record_batches

REQUEST_TYPES = [
    "text/csv",
    "application/json",
    "application/jsonlines",
    "application/x-recordio-protobuf",
    "application/x-npy",
    "text/libsvm",
]
RESPONSE_TYPES = [
    "text/csv",
    "application/json",
    "application/jsonlines",
    "application/x-recordio-protobuf",
    "application/x-npy",
]


# --------------------------------------------------------------------------------------
# The test's own reading of a batch
# --------------------------------------------------------------------------------------


def _row_sizes(col: Any, n: int) -> list[int]:
    """Elements of each record of a column, counted here from its storage."""
    if isinstance(col, Ragged):
        off = np.asarray(col.offsets).tolist()
        return [off[i + 1] - off[i] for i in range(n)]
    if sp.issparse(col) or isinstance(col, Sparse):
        ptr = (col.matrix if isinstance(col, Sparse) else col).indptr.tolist()
        return [ptr[i + 1] - ptr[i] for i in range(n)]
    arr = np.asarray(col)
    if arr.dtype.kind == "O" and arr.ndim == 1:
        return [len(v) if isinstance(v, (list, tuple)) else 1 for v in arr]
    per = 1
    for d in arr.shape[1:]:
        per *= d
    return [per] * n


def _first_over(batch: smp.RecordBatch, limit: int) -> tuple[int, int, str] | None:
    """(record, elements, tensor name) of the first record over `limit`."""
    best: tuple[int, int, str] | None = None
    for map_name in ("features", "label"):
        for key, col in getattr(batch, map_name).items():
            for i, size in enumerate(_row_sizes(col, len(batch))):
                if size > limit:
                    if best is None or i < best[0]:
                        best = (i, size, f"{map_name}[{key!r}]")
                    break
    return best


def _decode(ct: str, body: bytes, response: bool, limits: Limits | None, **opts: Any) -> Any:
    try:
        if response:
            return smp.decode_response(body, ct, limits=limits, **opts)
        return smp.decode_request(body, ct, limits=limits, **opts)
    except smp.PayloadError as e:
        return e


def _check(ct: str, body: bytes, response: bool, limits: Limits, *, exact: bool = True, **opts: Any) -> None:
    """The limited decoding of `body` against the plain one (see the module docstring).

    `exact`: the body is as an encoder writes it, so the form of a records error is known
    ("more than N" when decoding stopped early, the count from a .npy header)."""
    plain = _decode(ct, body, response, None, **opts)
    got = _decode(ct, body, response, limits, **opts)
    if isinstance(plain, smp.PayloadError):
        if isinstance(got, smp.PayloadTooLargeError):
            # A bad body may be refused for its size before the decoder reaches the fault.
            assert got.unit in ("records", "elements")
            return
        assert type(got) is type(plain)
        assert (str(got), getattr(got, "offset", None)) == (str(plain), getattr(plain, "offset", None))
        return
    n = len(plain)
    mr, me = limits.max_records, limits.max_elements
    if mr is not None and n > mr:
        assert type(got) is smp.PayloadTooLargeError, got
        assert (got.unit, got.limit, got.status_hint, got.record_index) == ("records", mr, 413, None)
        early = f"{ct} batch of more than {mr} records exceeds the limit of {mr} records"
        counted = f"{ct} batch of {n} records exceeds the limit of {mr} records"
        if exact:
            want = (n, counted) if ct == "application/x-npy" else (mr + 1, early)
            assert (got.size, str(got)) == want
        else:
            assert (got.size, str(got)) in ((n, counted), (mr + 1, early))
        return
    over = None if me is None else _first_over(plain, me)
    if over is not None:
        row, size, tensor = over
        assert type(got) is smp.PayloadTooLargeError, got
        assert (got.unit, got.limit, got.size, got.record_index) == ("elements", me, size, row)
        assert got.what == f"{ct} tensor {tensor}"
        return
    assert isinstance(got, smp.RecordBatch), got
    assert got.equals(plain, bitwise=True), f"{got!r} != {plain!r}"
    for m in ("features", "label"):
        for k, v in getattr(plain, m).items():
            w = getattr(got, m)[k]
            assert type(w) is type(v)
            assert getattr(w, "dtype", None) == getattr(v, "dtype", None)


limit_values = st.one_of(st.none(), st.integers(0, 8))


@st.composite
def request_bodies(draw: st.DrawFn) -> tuple[str, bytes]:
    ct = draw(st.sampled_from(REQUEST_TYPES))
    if ct == "text/libsvm":
        rows = draw(st.lists(st.lists(st.integers(0, 9), max_size=5, unique=True), max_size=8))
        lines = [
            b"1 " + b" ".join(b"%d:%d.5" % (j, j) for j in sorted(r)) + draw(st.sampled_from([b"", b" # c"]))
            for r in rows
        ]
        blank = draw(st.sampled_from([b"\n", b"\n\n", b"\n# only a comment\n"]))
        return ct, blank.join(lines) + b"\n"
    batch = draw(record_batches(min_records=0, max_records=9))
    try:
        body = smp.encode_request(batch, ct)
    except smp.EncodeError:
        assume(False)
    return ct, body


@st.composite
def response_bodies(draw: st.DrawFn) -> tuple[str, bytes]:
    ct = draw(st.sampled_from(RESPONSE_TYPES))
    n = draw(st.integers(0, 9))
    k = draw(st.integers(1, 3))
    label: dict[str, Any] = {}
    if ct == "application/x-npy":
        label["predictions"] = np.arange(n * k, dtype=np.float32).reshape(n, k) / 4
    else:
        label["score"] = np.arange(n, dtype=np.float64) / 8
        if draw(st.booleans()):
            label["probabilities"] = np.arange(n * k, dtype=np.float32).reshape(n, k) / 2
    try:
        body = smp.encode_response(smp.RecordBatch(label=label, n=n), ct)
    except smp.EncodeError:
        assume(False)
    return ct, body


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(request_bodies(), limit_values, limit_values)
def test_requests_same_batch_or_the_exact_limit(
    case: tuple[str, bytes], mr: int | None, me: int | None
) -> None:
    ct, body = case
    _check(ct, body, False, Limits(max_records=mr, max_elements=me))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(response_bodies(), limit_values, limit_values)
def test_responses_same_batch_or_the_exact_limit(
    case: tuple[str, bytes], mr: int | None, me: int | None
) -> None:
    ct, body = case
    _check(ct, body, True, Limits(max_records=mr, max_elements=me))


@st.composite
def mutated(draw: st.DrawFn, bodies: st.SearchStrategy[tuple[str, bytes]]) -> tuple[str, bytes]:
    ct, body = draw(bodies)
    b = bytearray(body)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "insert", "delete"]))
        i = draw(st.integers(0, len(b)))
        if op == "insert":
            b[i:i] = draw(
                st.sampled_from([b"\n", b",", b'"', b"[", b"]", b"{", b"}", b":", b"\n\n", b"x", b"\\"])
            )
        elif b and i < len(b):
            if op == "flip":
                b[i] = draw(st.integers(0, 255))
            else:
                del b[i]
    return ct, bytes(b)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated(request_bodies()), limit_values, limit_values)
def test_damaged_requests_never_refused_wrongly(
    case: tuple[str, bytes], mr: int | None, me: int | None
) -> None:
    ct, body = case
    _check(ct, body, False, Limits(max_records=mr, max_elements=me), exact=False)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated(response_bodies()), limit_values, limit_values)
def test_damaged_responses_never_refused_wrongly(
    case: tuple[str, bytes], mr: int | None, me: int | None
) -> None:
    ct, body = case
    _check(ct, body, True, Limits(max_records=mr, max_elements=me), exact=False)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(1, 4), st.booleans(), st.sampled_from([b"\n", b"\n\n", b"\r\n", b"\n \n"])),
        max_size=10,
    ),
    st.integers(0, 1),
    limit_values,
    limit_values,
)
def test_csv_blank_lines_and_quoted_newlines(
    rows: list[tuple[int, bool, bytes]], label_size: int, mr: int | None, me: int | None
) -> None:
    """Text CSV (fields quoted across lines, blank lines between records)."""
    parts = []
    for width, quoted, end in rows:
        fields = [b'"a\nb"' if quoted and j == 0 else b"%d" % j for j in range(width)]
        parts.append(b",".join(fields) + end)
    body = b"".join(parts)
    _check("text/csv", body, False, Limits(max_records=mr, max_elements=me), label_size=label_size)
    _check("text/csv", body, True, Limits(max_records=mr, max_elements=me))
    # A header line is not a record (nor are blank lines before it).
    head = b'\n"x\ny",b\n'
    _check("text/csv", head + body, False, Limits(max_records=mr, max_elements=me), header=True)
    _check("text/csv", head + body, True, Limits(max_records=mr, max_elements=me), header=True)


# --------------------------------------------------------------------------------------
# The scanners against oracles
# --------------------------------------------------------------------------------------


def _oracle_records(doc: Any, response: bool) -> int:
    """Records of a JSON document as the documented layouts define them."""
    if response:
        if type(doc) is dict and len(doc) == 1:
            ((key, v),) = doc.items()
            envelope = key in ("predictions", "projections", "scores") and type(v) is list
            if envelope and (key == "predictions" or all(type(x) is dict for x in v)):
                return len(v)
        return len(doc) if type(doc) is list else 1
    if type(doc) is dict and "instances" in doc:
        return len(doc["instances"])
    if type(doc) is list:
        if doc and all(type(x) in (int, float) for x in doc):
            return 1
        return len(doc)
    return 1


tricky_text = st.text(alphabet='ab[]{},:"\\ \n\t', max_size=6)


def _containers(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.lists(inner, max_size=4), st.dictionaries(tricky_text, inner, max_size=3))


json_values = st.recursive(
    st.one_of(st.integers(-9, 9), st.floats(allow_nan=False, allow_infinity=False), tricky_text, st.none()),
    _containers,
    max_leaves=12,
)


@st.composite
def json_documents(draw: st.DrawFn) -> Any:
    items = draw(st.lists(json_values, max_size=6))
    kind = draw(st.sampled_from(["array", "instances", "config", "envelope", "object", "scalar"]))
    if kind == "array":
        return items
    if kind == "instances":
        return {"instances": items}
    if kind == "config":
        return {"configuration": {"k": items[:1]}, "instances": items}
    if kind == "envelope":
        return {draw(st.sampled_from(["predictions", "projections", "scores", "other"])): items}
    if kind == "object":
        return draw(st.dictionaries(tricky_text, json_values, max_size=3))
    return draw(json_values)


@settings(max_examples=500, deadline=None)
@given(json_documents(), st.booleans(), st.booleans())
def test_json_records_matches_the_layouts(doc: Any, response: bool, spaced: bool) -> None:
    text = json.dumps(doc, indent=1 if spaced else None).encode()
    got = json_records(text, response=response)
    if got is not None:
        assert got == _oracle_records(doc, response)
    elif type(doc) is dict:
        # Only keys it cannot read (escaped, unread or repeated) leave the count open...
        assert any("\\" in json.dumps(k) for k in doc) or len(doc) > 3 or "instances" in doc
    else:
        # ...or a request array of bare scalars (one record, or not a request at all).
        assert type(doc) is list and not response and doc
        assert all(x is None or type(x) in (int, float) for x in doc)


def _commas(v: Any) -> int:
    """Commas outside strings in the JSON text of a parsed value, counted from its parts."""
    parts = list(v.values()) if type(v) is dict else v if type(v) is list else []
    return max(0, len(parts) - 1) + sum(_commas(x) for x in parts)


def _records_of(doc: Any, response: bool) -> list[Any] | None:
    if type(doc) is list:
        return doc
    if type(doc) is dict:
        for key in ("predictions", "projections", "scores") if response else ("instances",):
            if type(doc.get(key)) is list:
                return list(doc[key])
    return None


@settings(max_examples=500, deadline=None)
@given(json_documents(), st.booleans(), st.booleans(), st.integers(0, 4), st.sampled_from([3, 7, 1 << 18]))
def test_json_crowded_records_match_an_oracle(
    doc: Any, response: bool, spaced: bool, commas: int, window: int
) -> None:
    text = json.dumps(doc, indent=1 if spaced else None).encode()
    mp = pytest.MonkeyPatch()
    mp.setattr(limits_module, "_LINE_WINDOW", window)  # records and strings across windows
    try:
        scan = json_crowded_records(text, commas, response=response)
    finally:
        mp.undo()
    assert scan.records == json_records(text, response=response)
    recs = _records_of(doc, response)
    if scan.records is None or scan.records < 2 or recs is None or scan.records != len(recs):
        assert scan.indexes.size == 0
        return
    assert text[scan.open : scan.open + 1] == b"[" and text[scan.close : scan.close + 1] == b"]"
    assert orjson.loads(text[scan.open : scan.close + 1]) == recs
    want = [i for i, r in enumerate(recs) if _commas(r) >= commas]
    assert scan.indexes.tolist() == want
    for i, a, b in zip(scan.indexes.tolist(), scan.starts.tolist(), scan.ends.tolist(), strict=True):
        assert orjson.loads(text[a:b]) == recs[i]


def test_json_crowded_records_by_hand() -> None:
    body = b'{"instances": [[1, 2], {"a": "x,y,z"}, [[1, 2], [3]], 4]}'
    scan = json_crowded_records(body, 2)
    assert (scan.records, scan.open, scan.close) == (4, 14, 55)
    assert scan.indexes.tolist() == [2]
    assert body[scan.starts[0] : scan.ends[0]] == b" [[1, 2], [3]]"
    assert json_crowded_records(body, 1).indexes.tolist() == [0, 2]
    assert json_crowded_records(body, 0).indexes.tolist() == [0, 1, 2, 3]
    one = json_crowded_records(b"[[1, 2, 3]]", 1)
    assert (one.records, one.indexes.tolist()) == (1, [])  # one record: nothing to pick out


def test_json_records_stops_and_reads_what_it_must() -> None:
    body = b"[[1]," + b"1," * 100_000 + b"1]"
    assert json_records(body, stop_above=10) is not None
    assert json_records(body, stop_above=10) > 10  # type: ignore[operator]
    assert json_records(body) == 100_002
    assert json_records(b"[1, 2, 3]") is None
    assert json_records(b"[]") == 0
    assert json_records(b'{"instances": [], "configuration": {"a": [1, 2]}}') == 0
    assert json_records(b'{"instances": [1, 2], "instances": [3]}') is None
    assert json_records(b'{"in\\u0073tances": [1, 2]}') is None
    assert json_records(b'{"predictions": [1, [2, 3], {"a": 4}]}', response=True) == 3
    assert json_records(b'{"scores": [1, {"a": 4}]}', response=True) == 1
    assert json_records(b'{"scores": [{"a": "]"}, {"a": 4}]}', response=True) == 2
    assert json_records(b'"[1,2,3]"') == 1
    assert json_records(b"  ") is None


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([b"\n", b" ", b"\t", b"\r", b"x", b"{}", b"\x0c"]), max_size=40))
def test_count_lines_matches_split(parts: list[bytes]) -> None:
    data = b"".join(parts)
    assert count_lines(data) == sum(1 for line in data.split(b"\n") if line.strip())


def _libsvm_records(data: bytes) -> int:
    return sum(1 for line in data.split(b"\n") if line.split(b"#", 1)[0].strip())


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([b"\n", b" ", b"\t", b"#", b"# x", b"1", b"1 2:3"]), max_size=40))
def test_count_lines_skips_comments(parts: list[bytes]) -> None:
    data = b"".join(parts)
    assert count_lines(data, comment=b"#") == _libsvm_records(data)


def test_count_lines_across_windows() -> None:
    data = (b"x" * 300_000 + b"\n\n" + b" " * 300_000 + b"\ny") * 3
    assert count_lines(data) == sum(1 for line in data.split(b"\n") if line.strip()) == 4
    assert count_lines(b"1\n" * 1000, stop_above=10) > 10
    data = (b"1 1:2 # " + b"x" * 300_000 + b"\n# c\n" + b" " * 300_000 + b"2 1:3\n") * 2
    assert count_lines(data, comment=b"#") == _libsvm_records(data) == 4


# --------------------------------------------------------------------------------------
# Refused early: peak memory within 2 x the body + 8 MB
# --------------------------------------------------------------------------------------

N_BIG = 400_000


def _big_bodies() -> dict[str, tuple[bytes, bool]]:
    x = (np.arange(N_BIG * 3, dtype=np.float32).reshape(N_BIG, 3) % 97) / 4
    out = {f"{ct} request": (smp.encode_request(x, ct), False) for ct in REQUEST_TYPES if ct != "text/libsvm"}
    out["text/libsvm request"] = (b"".join(b"1 1:%d 3:2.5\n" % i for i in range(N_BIG)), False)
    out["application/json scalars"] = (b"[[1]," + b"1," * N_BIG + b"1]", False)
    scores = smp.RecordBatch(label={"score": x[:, 0]})
    for ct in RESPONSE_TYPES:
        out[f"{ct} response"] = (smp.encode_response(scores, ct), True)
    return out


@pytest.mark.parametrize("name", sorted(_big_bodies()))
def test_a_body_over_max_records_is_refused_in_bounded_memory(name: str) -> None:
    body, response = _big_bodies()[name]
    ct = name.split()[0]
    tracemalloc.start()
    try:
        with pytest.raises(smp.PayloadTooLargeError) as info:
            if response:
                smp.decode_response(body, ct, limits=Limits(max_records=1000))
            else:
                smp.decode_request(body, ct, limits=Limits(max_records=1000))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (info.value.unit, info.value.limit) == ("records", 1000)
    assert peak <= 2 * len(body) + 8_000_000, peak


def test_serving_refuses_400000_csv_rows_with_413() -> None:
    body = b"1,2.5,3\n" * N_BIG
    tracemalloc.start()
    try:
        r = smp.serving.handle(
            body, "text/csv", "text/csv", lambda b: np.zeros(len(b)), env={}, limits=Limits(max_records=1000)
        )
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (r.status, r.body) == (
        413,
        b"text/csv batch of more than 1000 records exceeds the limit of 1000 records\n",
    )
    assert peak <= 2 * len(body) + 8_000_000


def test_a_record_over_max_elements_is_refused_in_bounded_memory() -> None:
    x = np.ones((N_BIG, 5), np.float32)
    for ct in ("text/csv", "application/jsonlines", "application/x-recordio-protobuf", "text/libsvm"):
        body = b"1 1:1 2:1 3:1 4:1 5:1\n" * N_BIG if ct == "text/libsvm" else smp.encode_request(x, ct)
        tracemalloc.start()
        try:
            with pytest.raises(smp.PayloadTooLargeError) as info:
                smp.decode_request(body, ct, limits=Limits(max_elements=4))
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert (info.value.unit, info.value.size, info.value.record_index) == ("elements", 5, 0)
        assert peak <= 2 * len(body) + 8_000_000, (ct, peak)


def test_a_response_record_over_max_elements_is_refused_in_bounded_memory() -> None:
    x = np.ones((N_BIG, 5), np.float32)
    for ct in ("text/csv", "application/jsonlines", "application/x-recordio-protobuf"):
        # CSV writes a multi-value "score" as one quoted text field: rows of 5 numbers instead
        label = {"values" if ct == "text/csv" else "score": x}
        body = smp.encode_response(smp.RecordBatch(label=label), ct)
        tracemalloc.start()
        try:
            with pytest.raises(smp.PayloadTooLargeError) as info:
                smp.decode_response(body, ct, limits=Limits(max_elements=4))
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        want = "values" if ct == "text/csv" else "score"
        assert str(info.value) == (
            f"{ct} tensor label[{want!r}] of 5 elements exceeds the limit of 4 elements (record 0)"
        )
        assert peak <= 2 * len(body) + 8_000_000, (ct, peak)


def _with_a_long_record(layout: str) -> tuple[bytes, bool]:
    """N_BIG records of 3 values, then one of 2,000, as a JSON document."""
    short, long = b"[1, 2.5, 3]", b"[" + b", ".join([b"0.25"] * 2000) + b"]"
    if layout == "predictions":
        items = b", ".join([b'{"score": %s}' % short] * N_BIG + [b'{"score": %s}' % long])
        return b'{"predictions": [' + items + b"]}", True
    records = b", ".join([short] * N_BIG + [long])
    if layout == "instances":
        return b'{"instances": [' + records + b'], "configuration": {"k": 1}}', False
    return b"[" + records + b"]", False


@pytest.mark.parametrize("layout", ["array", "instances", "predictions"])
def test_a_json_record_over_max_elements_is_refused_in_bounded_memory(layout: str) -> None:
    body, response = _with_a_long_record(layout)
    decode = smp.decode_response if response else smp.decode_request
    tracemalloc.start()
    try:
        with pytest.raises(smp.PayloadTooLargeError) as info:
            decode(body, "application/json", limits=Limits(max_elements=1000))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    tensor = "label['score']" if response else "features['values']"
    assert str(info.value) == (
        f"application/json tensor {tensor} of 2000 elements exceeds the limit of 1000 elements"
        f" (record {N_BIG})"
    )
    assert (info.value.size, info.value.record_index) == (2000, N_BIG)
    # The decoded batch alone is about 2 x the body (float64 values of 4-byte numbers).
    assert peak <= len(body) // 2 + 8_000_000, peak
    # Within the limit: the same batch as without limits.
    got = decode(body, "application/json", limits=Limits(max_elements=2000))
    assert got.equals(decode(body, "application/json"), bitwise=True)


def test_json_crowded_records_within_the_limit_are_read_whole() -> None:
    # Each record holds 5 commas but no tensor of more than 3 values: nothing is refused,
    # and a record the decoder refuses (the last) is reported as without limits.
    ok = b'{"instances": [' + b", ".join([b'{"a": [1, 2, 3], "b": [4, 5, 6]}'] * 50) + b"]}"
    got = smp.decode_request(ok, "application/json", limits=Limits(max_elements=3))
    assert got.features["a"].shape == (50, 3) and got.features["b"].tolist()[49] == [4.0, 5.0, 6.0]
    bad = ok[:-2] + b', {"a": [1, 2, 3], "b": [4, 5, true]}]}'
    with pytest.raises(smp.DecodeError) as info:
        smp.decode_request(bad, "application/json", limits=Limits(max_elements=3))
    assert info.value.offset == bad.index(b"true") == 1744
    assert str(info.value) == (
        "application/json: $.instances[50].b: expected a list of numbers or of strings, found true"
        " at byte 1744 (record 50)"
    )


def test_npy_counts_come_from_the_header() -> None:
    body = smp.encode_request(np.zeros((5, 2, 3), np.float32), "application/x-npy")
    with pytest.raises(smp.PayloadTooLargeError) as info:
        smp.decode_request(body, "application/x-npy", limits=Limits(max_elements=5))
    assert str(info.value) == (
        "application/x-npy tensor features['values'] of 6 elements exceeds the limit of 5 elements (record 0)"
    )
    # A truncated data block is the decoder's error, not a limit's.
    with pytest.raises(smp.DecodeError, match="truncated data"):
        smp.decode_request(body[:-1], "application/x-npy", limits=Limits(max_records=1))
    assert orjson.dumps(smp.formats.npy.read_header(body)[1]) == b"[5,2,3]"


# --------------------------------------------------------------------------------------
# Binary formats: peak memory within 32 x the input + 8 MB, any input (issue #20, point 1)
# --------------------------------------------------------------------------------------


def _varint(v: int) -> bytes:
    out = bytearray()
    while True:
        b, v = v & 0x7F, v >> 7
        out.append(b | 0x80 if v else b)
        if not v:
            return bytes(out)


def _ld(field: int, payload: bytes) -> bytes:
    return _varint(field << 3 | 2) + _varint(len(payload)) + payload


def _feature(key: bytes, values: list[float], shape: list[int] | None = None) -> bytes:
    """One ``features`` map entry holding a Float32Tensor (written by hand, from record.proto)."""
    tensor = _ld(1, np.asarray(values, "<f4").tobytes())
    if shape is not None:
        tensor += _ld(3, b"".join(_varint(d) for d in shape))
    return _ld(1, _ld(1, key) + _ld(2, _ld(2, tensor)))


def _peak(f: Any) -> tuple[Any, int]:
    tracemalloc.start()
    try:
        try:
            out = f()
        except smp.PayloadError as e:
            out = e
        return out, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


RIO = "application/x-recordio-protobuf"


def test_a_new_key_per_record_is_refused_before_the_batch_grows_quadratic() -> None:
    n = 20_000
    body = write_records([_feature(b"k%d" % i, [1.0]) for i in range(n)])
    got, peak = _peak(lambda: smp.decode_request(body, RIO))
    assert type(got) is smp.DecodeError
    # The budget: one cell (key x record) per byte of the records and their headers (at
    # least 2**18); record i brings the (i + 1)-th key.
    budget = max(1 << 18, sum(len(_feature(b"k%d" % i, [1.0])) for i in range(n)) + 8 * n)
    keys = budget // n + 1
    assert got.record_index == keys - 1
    assert str(got).startswith(
        f"{RIO}: features: {keys} different keys in {n} records make a batch of {keys * n} column cells"
    )
    assert peak <= 32 * len(body) + 8_000_000
    # Read one by one, such records are what they hold.
    small = write_records([_feature(b"k0", [1.5]), _feature(b"k1", [2.5])])
    recs = smp.formats.recordio_protobuf.decode_records(small)
    assert [{k: t.values.tolist() for k, t in r.features.items()} for r in recs] == [
        {"k0": [1.5]},
        {"k1": [2.5]},
    ]


def test_records_with_a_few_keys_each_still_decode() -> None:
    # 3 keys over 3,000 records: 9,000 cells, within the floor.
    body = write_records([_feature(b"k%d" % (i % 3), [float(i)]) for i in range(3000)])
    b = smp.decode_request(body, RIO)
    assert sorted(b.features) == ["k0", "k1", "k2"]
    assert len(b) == 3000


def test_a_huge_shape_field_costs_memory_linear_in_it() -> None:
    body = write_records([_feature(b"values", [1.0], shape=[2**62] * 20_000)])
    got, peak = _peak(lambda: smp.decode_request(body, RIO))
    assert type(got) is smp.DecodeError
    assert str(got).startswith(f"{RIO}: features['values']: dense tensor of shape [4611686018427387904, ")
    assert peak <= 32 * len(body) + 8_000_000


@pytest.mark.parametrize("response", [False, True])
def test_json_records_across_windows(response: bool) -> None:
    """Strings full of brackets, quotes and backslashes that straddle the 256 KiB windows."""
    tricky = 'a]}[{,:\\"' * 3000  # about 30 kB of text per string
    docs: list[Any] = [
        {"instances": [{"s": tricky, "v": [1, 2]} for _ in range(40)], "configuration": {"k": [tricky]}},
        [[tricky, 1]] * 30,
        [tricky] * 25,
        {"predictions": [{"s": tricky}] * 33},
        {"scores": [tricky, {"a": 1}] * 20},
        {"other": [[1, 2]] * 50, "more": [tricky] * 20},
    ]
    for doc in docs:
        text = json.dumps(doc).encode()
        assert len(text) > 600_000
        got = json_records(text, response=response)
        assert got == _oracle_records(doc, response), (str(doc)[:40], got)


# -- found by review: counts that differed from the decoder's ---------------------------


@pytest.mark.parametrize(
    ("body", "records"),
    [
        (b"\xef\xbb\xbf\n[1]\n[2]\n", 2),  # a BOM, then a blank first line
        (b"\xef\xbb\xbf", 0),
        (b"\xef\xbb\xbf \n[1]\n", 1),
        (b"\xef\xbb\xbf[1]\n[2]", 2),
    ],
)
def test_json_lines_count_skips_a_leading_bom(body: bytes, records: int) -> None:
    ct = "application/jsonlines"
    assert len(smp.decode_request(body, ct)) == records
    assert len(smp.decode_request(body, ct, limits=Limits(max_records=records))) == records
    with pytest.raises(smp.PayloadTooLargeError):
        smp.decode_request(body + b"\n[9]\n", ct, limits=Limits(max_records=records))


@pytest.mark.parametrize("body", [b"[]", b"[ ]", b'{"predictions": []}'])
def test_an_empty_response_array_is_within_max_records_zero(body: bytes) -> None:
    ct = "application/json"
    assert len(smp.decode_response(body, ct, limits=Limits(max_records=0))) == 0
    with pytest.raises(smp.PayloadTooLargeError):
        smp.decode_response(b"[1, 2]", ct, limits=Limits(max_records=0))
