"""The request scanner read by several threads (_cjson.records with nthreads > 1): a record
list or a JSON Lines body is cut into pieces, each read by its own thread, and the result
must be the one-thread result exactly (values, counts, keys, shape, starts, line numbers,
or None), wherever the cuts fall: at record boundaries, on guesses inside names, between
pieces that disagree, on bodies that decline in any piece. decode_request and its errors
are the same with one thread and with several."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sm_payloads as smp
from sm_payloads.formats import _json_layout as J

C = J._CJ
pytestmark = pytest.mark.skipif(C is None, reason="the C extension is not built")

numbers = st.one_of(
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
)


def one_thread(body: bytes, lines: bool, f32: bool, start: int = 0, stop: int | None = None) -> Any:
    assert C is not None
    return C.records(body, start, len(body) if stop is None else stop, lines, f32)


def threads(
    body: bytes, lines: bool, f32: bool, n: int, piece_min: int, start: int = 0, stop: int | None = None
) -> Any:
    assert C is not None
    return C.records(body, start, len(body) if stop is None else stop, lines, f32, n, piece_min)


def check_every_split(body: bytes, lines: bool, f32: bool = False, start: int = 0) -> Any:
    """Every piece size from 1 byte up, with 2, 3 and 16 threads: the one-thread result."""
    want = one_thread(body, lines, f32, start)
    size = len(body) - start
    for n in (2, 3, 16):
        for piece_min in sorted({1, 2, 3, 5, 8, 13, *range(1, size // 2 + 1, max(1, size // 60))}):
            assert threads(body, lines, f32, n, piece_min, start) == want, (n, piece_min)
    return want


def record(shape: str, row: list[Any], name: str, width: int) -> Any:
    if shape == "list":
        return row
    if shape == "features":
        return {"features": row}
    if shape == "name":
        return {name: row}
    if shape == "data.values":
        return {"data": {"features": {"values": row}}}
    if shape == "data.shape":
        return {"data": {"features": {"shape": [len(row)], "values": row}}}
    keys = list(range(len(row)))
    return {"data": {"features": {"keys": keys, "shape": [width], "values": row}}}


SHAPES = ("list", "features", "name", "data.values", "data.shape", "sparse")
WRITERS: dict[str, Callable[[Any], bytes]] = {
    "orjson": orjson.dumps,
    "json.dumps": lambda x: json.dumps(x).encode(),
    "indent": lambda x: json.dumps(x, indent=1).encode(),
}


def body_of(recs: list[Any], lines: bool, envelope: bool, writer: str) -> bytes:
    write = WRITERS[writer]
    if lines:
        return b"".join(WRITERS["json.dumps" if writer == "indent" else writer](r) + b"\n" for r in recs)
    return write({"instances": recs} if envelope else recs)


# --------------------------------------------------------------------------------------
# The one-thread result, wherever the cuts fall
# --------------------------------------------------------------------------------------


@given(
    st.sampled_from(SHAPES),
    st.lists(st.lists(numbers, min_size=1, max_size=5), min_size=1, max_size=12),
    st.booleans(),
    st.booleans(),
    st.sampled_from(list(WRITERS)),
    st.booleans(),
    st.integers(2, 16),
    st.integers(1, 64),
)
def test_threads_give_the_one_thread_result(
    shape: str,
    rows: list[list[Any]],
    lines: bool,
    envelope: bool,
    writer: str,
    f32: bool,
    n: int,
    piece_min: int,
) -> None:
    recs = [record(shape, r, "x", 8) for r in rows]
    body = body_of(recs, lines, envelope, writer)
    want = one_thread(body, lines, f32)
    assert want is not None or f32  # a float32 beyond its range declines
    assert threads(body, lines, f32, n, piece_min) == want


@settings(max_examples=40)
@given(
    st.sampled_from(SHAPES),
    st.lists(st.lists(numbers, min_size=0, max_size=4), min_size=2, max_size=6),
    st.booleans(),
    st.sampled_from(list(WRITERS)),
)
def test_every_piece_size(shape: str, rows: list[list[Any]], lines: bool, writer: str) -> None:
    recs = [record(shape, r, "x", 8) for r in rows]
    body = body_of(recs, lines, True, writer)
    check_every_split(body, lines)


def test_values_counts_and_lines_are_put_together_in_order() -> None:
    rows = [[float(i), i + 0.5][: 1 + i % 2] for i in range(40)]
    body = b"\n\n" + b"".join(
        orjson.dumps({"features": r}) + b"\n" + b"\n" * (i % 3) for i, r in enumerate(rows)
    )
    got = check_every_split(body, True)
    kind, name, values, counts, keys, shape, starts, linenos, n = got
    assert (kind, name, keys, shape, n) == (0, b"values", None, None, 40)
    assert np.frombuffer(values).tolist() == [v for r in rows for v in r]
    assert np.frombuffer(counts, np.int64).tolist() == [len(r) for r in rows]
    lines = body.split(b"\n")
    want_lines = [i + 1 for i, t in enumerate(lines) if t]
    assert np.frombuffer(linenos, np.int64).tolist() == want_lines
    offsets = np.cumsum([0] + [len(t) + 1 for t in lines])
    assert np.frombuffer(starts, np.int64).tolist() == [int(offsets[i - 1]) for i in want_lines]


def test_sparse_keys_are_put_together_in_order() -> None:
    recs = [
        {"data": {"features": {"keys": [i % 7, 7 + i % 3], "shape": [10], "values": [i, -i]}}}
        for i in range(30)
    ]
    got = check_every_split(orjson.dumps({"instances": recs}), False)
    assert got[0] == 1 and got[5] == (10,)
    assert np.frombuffer(got[4], np.int64).tolist() == [k for i in range(30) for k in (i % 7, 7 + i % 3)]
    assert np.frombuffer(got[2]).tolist() == [float(v) for i in range(30) for v in (i, -i)]


def test_a_window_of_the_buffer() -> None:
    """start > 0 and stop < len: the pieces stay inside the window; offsets are the buffer's."""
    inner = b"".join(orjson.dumps([i, i / 3]) + b"\n" for i in range(25))
    body = b"xx[1,\n" + inner + b"]]junk"
    start, stop = 6, 6 + len(inner)
    want = one_thread(body, True, False, start, stop)
    assert want is not None and want[8] == 25
    for n in (2, 5):
        for piece_min in range(1, 60, 3):
            assert threads(body, True, False, n, piece_min, start, stop) == want
    doc = b'xx{"instances": [' + b",".join(orjson.dumps([i, i / 3]) for i in range(25)) + b"]}yy"
    want = one_thread(doc, False, False, 2, len(doc) - 2)
    assert want is not None and want[8] == 25
    for piece_min in range(1, 80, 3):
        assert threads(doc, False, False, 4, piece_min, 2, len(doc) - 2) == want


# --------------------------------------------------------------------------------------
# Guesses that are wrong, pieces that disagree or decline
# --------------------------------------------------------------------------------------


def test_cut_guesses_inside_names() -> None:
    """A name holding '], [' or '}, {' looks like a record boundary to the cut finder: the
    piece before does not end there, and the body is read again by one thread."""
    for name in ("a], [b", "a}, {b", "], [", "}, {", "},{", "],["):
        recs = [{name: [i, 2.5]} for i in range(30)]
        for lines in (False, True):
            body = body_of(recs, lines, True, "json.dumps")
            got = check_every_split(body, lines)
            assert got is not None and got[1] == name.encode() and got[8] == 30


SPARSE9 = {"data": {"features": {"keys": [2], "shape": [9], "values": [0.5]}}}


@pytest.mark.parametrize(
    ("tail", "with_sparse_head"),
    [
        ({"features": {"keys": [1], "shape": [9], "values": [1.5]}}, "read"),  # sparse, shape [9]
        ({"other": [1.0]}, None),  # another name
        ([1.0, "x"], None),  # a string
        ({"features": [1.0], "label": 1}, None),  # a second key
        ([[1.0]], None),  # a nested list
        ({"data": {"features": {"keys": [1], "shape": [8], "values": [2.0]}}}, None),  # another shape
    ],
)
@pytest.mark.parametrize("lines", [False, True])
def test_pieces_that_disagree_or_decline(tail: Any, with_sparse_head: str | None, lines: bool) -> None:
    """One odd record between two runs of records: the whole body declines (None), except
    a sparse record of the same shape among sparse records, which is read."""
    for head in ([{"features": [float(i), 1.0]} for i in range(20)], [SPARSE9] * 20):
        body = body_of([*head, tail, *head], lines, True, "orjson")
        got = check_every_split(body, lines)
        if head[0] is SPARSE9 and with_sparse_head == "read":
            assert got is not None and got[0] == 1 and got[8] == 41
        else:
            assert got is None


@pytest.mark.parametrize("lines", [False, True])
def test_declines_in_any_piece(lines: bool) -> None:
    good = [{"features": [float(i), i / 7]} for i in range(16)]
    for i in range(len(good) + 1):
        recs: list[Any] = [*good[:i], {"features": [1.0, None]}, *good[i:]]
        body = body_of(recs, lines, True, "orjson")
        assert check_every_split(body, lines) is None


@pytest.mark.parametrize("lines", [False, True])
def test_pieces_denser_than_the_sample(lines: bool) -> None:
    """The output buffers are sized from a sample at the start of the first piece; pieces
    that need more room than that promises fail the split, and one thread reads the body."""
    rng = np.random.default_rng(2)
    short: list[Any] = [[1] for _ in range(300)]
    long: list[Any] = [rng.standard_normal(60).tolist() for _ in range(300)]
    for recs in (short + long, long + short, short + long + short):
        body = body_of([{"features": r} for r in recs], lines, True, "orjson")
        got = check_every_split(body, lines)
        assert got is not None and np.frombuffer(got[2]).tolist() == [v for r in recs for v in r]
        for n in (2, 4):
            assert threads(body, lines, False, n, len(body) // 5) == got


def test_blank_pieces_of_json_lines() -> None:
    """A piece of blank lines only has no records: it neither decides nor breaks anything."""
    body = b"[1.5]\n" + b"\n" * 40 + b"  \r\n" * 10 + b"[2.5, 3]\n" + b"\n" * 40
    got = check_every_split(body, True)
    assert got is not None and np.frombuffer(got[2]).tolist() == [1.5, 2.5, 3.0]
    assert np.frombuffer(got[7], np.int64).tolist() == [1, 52]
    assert check_every_split(b"\n" * 50, True) == one_thread(b"\n" * 50, True, False)


@given(
    st.lists(st.lists(numbers, min_size=1, max_size=4), min_size=2, max_size=10),
    st.booleans(),
    st.data(),
)
def test_cut_bodies(rows: list[list[Any]], lines: bool, data: st.DataObject) -> None:
    """Prefixes of a body (most are not JSON) and bodies with a byte changed."""
    body = body_of([{"features": r} for r in rows], lines, True, "json.dumps")
    cut = data.draw(st.integers(0, len(body)))
    at = data.draw(st.integers(0, len(body) - 1))
    changed = body[:at] + bytes([data.draw(st.sampled_from(b",[]{}\n :x"))]) + body[at + 1 :]
    for b in (body[:cut], changed):
        want = one_thread(b, lines, False)
        for n, piece_min in ((2, 1), (3, 4), (16, 2)):
            assert threads(b, lines, False, n, piece_min) == want


def test_arguments() -> None:
    assert C is not None
    with pytest.raises(ValueError):
        C.records(b"[1]", 0, 3, False, False, 2, 0)
    assert C.records(b"[[1],[2]]", 0, 9, False, False, 0, 1) == C.records(b"[[1],[2]]", 0, 9, False, False)


# --------------------------------------------------------------------------------------
# decode_request: one thread or several, the same batch or the same error
# --------------------------------------------------------------------------------------


def _decode(body: bytes, ct: str, **kw: Any) -> tuple[Any, ...]:
    try:
        b = smp.decode_request(body, ct, **kw)
    except smp.DecodeError as e:
        return ("error", type(e), str(e))
    v = b.features["values"]
    assert isinstance(v, np.ndarray)
    return ("batch", len(b), v.dtype, v.shape, v.tobytes())


@pytest.mark.parametrize("bad", [None, "string", "null", "int32"])
@pytest.mark.parametrize("lines", [False, True])
def test_decode_request_with_threads(monkeypatch: pytest.MonkeyPatch, lines: bool, bad: str | None) -> None:
    """A body above the size the threads start at (2 * 512 KiB; 4 pieces above 2 MiB): the batch, or the error
    (its message, with line and offset), is the one of one thread."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((4000, 30)) * 10.0 ** rng.integers(-3, 4, 30)
    recs: list[Any] = [{"features": r} for r in X.tolist()]
    dtypes: list[str | None] = [None, "float32"]
    if bad == "string":
        recs[3500]["features"][3] = "x"
    elif bad == "null":
        recs[3900]["features"][0] = None
    elif bad == "int32":
        dtypes = ["int32"]
    body = b"".join(orjson.dumps(r) + b"\n" for r in recs) if lines else orjson.dumps({"instances": recs})
    assert len(body) > 2 << 20
    ct = "application/jsonlines" if lines else "application/json"
    for dtype in dtypes:
        outcomes = []
        for n in (1, 2, 4):
            monkeypatch.setattr(J, "_threads", lambda n=n: n)
            outcomes.append(_decode(body, ct, dtype=dtype))
        assert outcomes[1] == outcomes[0] and outcomes[2] == outcomes[0]
        if bad is not None:
            assert outcomes[0][0] == "error"
        elif dtype is None:
            assert outcomes[0] == ("batch", 4000, np.dtype(np.float64), (4000, 30), X.tobytes())
