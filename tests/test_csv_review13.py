"""text/csv text bodies: the findings of review 13 (shared lists of empty rows, str_column
of empty texts and lone surrogates).

1. Records whose texts are all empty (``,\\n`` with ``dtype=str``: two bytes, a list of two
   of its own costs 80; a label with ``,\\n``; ``,,\\n`` with ``label_size=2``) took 33 to 47 x
   the body at 6 MiB, over issue #20's 32 x + 8 MB: such rows now share one list per block
   and batch, on the C path, the pure twin and the careful reader alike.
2. ``str_column`` of 64 or more texts of one width raised ``UnicodeEncodeError`` for a lone
   surrogate (``np.array`` keeps it; reachable through ``autopilot.inverse_label_transform``
   with such a class name), and read a column of empty texts through ``np.array`` (50 ns a
   byte for a ``,\\n`` body with ``label_size=1``).
"""

from __future__ import annotations

import ast
import contextlib
import gc
from collections.abc import Callable, Iterator
from typing import Any
from unittest import mock

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import sm_payloads as smp
from sm_payloads import autopilot
from sm_payloads.formats import _csv_text, _textnum
from sm_payloads.formats import csv as c
from tests.helpers import bound, peak
from tests.test_csv_text_fast import MODES, C, mode

PATHS = MODES if C is not None else ("twin", "careful")


@contextlib.contextmanager
def twin_or_native(twin: bool) -> Iterator[None]:
    with mode("twin" if twin else "native"):
        yield


# --------------------------------------------------------------------------------------
# 1. Rows of empty texts share one list
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", PATHS)
@pytest.mark.parametrize("piece_records", [None, 1])
def test_empty_rows_share_one_list(name: str, piece_records: int | None) -> None:
    body = b',\na,\n,\n"",""\n,a\n\n,\r\n'
    with mode(name, piece_records):
        rows = c.decode(body, dtype=str).features["values"]
        labelled = c.decode(b",\nx,\n,\n", dtype=str, label_size=1)
        two = c.decode(b",,\n,,a\n,,\n", dtype=str, label_size=2)
        resp = c.decode_response(b",\n,\n", dtype=str).label["values"]
        again = c.decode(body, dtype=str).features["values"]
        batches = list(c.iter_decode(b",\n,\n,\n,\n", batch_size=2, dtype=str))
    assert rows.tolist() == [["", ""], ["a", ""], ["", ""], ["", ""], ["", "a"], ["", ""]]
    assert rows[0] is rows[2] is rows[3] is rows[5]
    assert rows[1] is not rows[4] and rows[1] is not rows[0] and rows[4] is not rows[0]
    assert again[0] == rows[0] and again[0] is not rows[0]
    feats = labelled.features["values"]
    assert labelled.label["values"].tolist() == ["", "x", ""]
    assert feats.tolist() == [[""], [""], [""]] and feats[0] is feats[1] is feats[2]
    lab, fe = two.label["values"], two.features["values"]
    assert lab.tolist() == [["", ""]] * 3 and lab[0] is lab[1] is lab[2]
    assert fe.tolist() == [[""], ["a"], [""]] and fe[0] is fe[2] and fe[1] is not fe[0]
    assert lab[0] is not fe[0]  # each block its own lists
    assert resp.tolist() == [["", ""], ["", ""]] and resp[0] is resp[1]
    assert [b.features["values"].tolist() for b in batches] == [[["", ""]] * 2] * 2
    first, second = (b.features["values"] for b in batches)
    assert first[0] is first[1] and second[0] is second[1] and first[0] is not second[0]


@pytest.mark.parametrize("name", ["native", "twin"])
def test_text_rows_empty_slot(name: str) -> None:
    """The last slot of `shared` holds the list of the rows of empty texts: made on first
    use (the C kernel) or always (the twin), made again when it holds anything but
    ``stop - start`` empty str, and taken by the next call."""
    if name == "native" and C is None:
        pytest.skip("the C extension is not built")
    with mode(name):
        shared: list[Any] = [None] * _csv_text.SHARED_ROWS
        shared[-1] = ["x", ""]  # not empty texts: replaced
        out = _csv_text.text_rows(["", "", "a", "", "", "", "", "b"], 2, 0, 2, None, shared)
        assert out.tolist() == [["", ""], ["a", ""], ["", ""], ["", "b"]]
        assert out[0] is out[2] is shared[-1] and shared[-1] == ["", ""]
        assert out[1] is not out[3] and out[1] is not out[0]
        more = _csv_text.text_rows(["", ""], 2, 0, 2, None, shared)
        assert more[0] is out[0]
        # columns 1 to 2 of rows of three: the empty slot has another width, so a new list
        three = _csv_text.text_rows(["a", "", "", "b", "", "c"], 3, 1, 3, None, shared)
        assert three.tolist() == [["", ""], ["", "c"]] and three[0] is shared[-1]
        one = _csv_text.text_rows(["", "a", ""], 1, 0, 1, None, shared)
        assert one.tolist() == [[""], ["a"], [""]] and one[0] is one[2] is shared[-1]
        assert shared[-1] == [""] and one[1] is shared[ord("a")]
        assert _csv_text.text_rows(["", "", ""], 3, 0, 3, None, None)[0] == ["", "", ""]
        if name == "native":
            assert not gc.is_tracked(one[0])


@pytest.mark.skipif(C is None, reason="the C extension is not built")
def test_native_empty_slot_made_on_first_use() -> None:
    assert C is not None
    shared: list[Any] = [None] * 129
    out = np.empty(2, dtype=object)
    C.text_rows(["a", "b"], 1, 0, 1, out, shared)
    assert shared[128] is None
    C.text_rows(["", "b"], 1, 0, 1, out, shared)
    assert shared[128] == [""] and out[0] is shared[128]


ROW_TEXTS = ["", "", "a", "b", "ab", "é", ",", '"']


@given(
    st.integers(1, 3).flatmap(
        lambda w: st.lists(
            st.lists(st.sampled_from(ROW_TEXTS), min_size=w, max_size=w), min_size=1, max_size=30
        )
    ),
    st.sampled_from([None, 1, 3]),
)
@example([["", ""], ["", ""], ["a", ""]], None)
@example([[""], ["a"], [""]], 1)
def test_rows_share_by_rule(rows: list[list[str]], piece_records: int | None) -> None:
    """Any width: every path reads the rows as written, and two records hold the same list
    exactly when both are all empty texts, or one field of the same ASCII character."""
    body = "".join(
        ",".join(_csv_text.quote_field(t, alone=len(r) == 1) for t in r) + "\n" for r in rows
    ).encode()
    for m in PATHS:
        with mode(m, piece_records):
            got = c.decode(body, dtype=str).features["values"]
        assert got.tolist() == rows
        for i in range(len(rows)):
            for j in range(i + 1, len(rows)):
                a, b = rows[i], rows[j]
                same = a == b and (not any(a) or (len(a) == 1 and len(a[0]) == 1 and a[0].isascii()))
                assert (got[i] is got[j]) == same, (m, i, j)


EMPTY_BODIES = {
    "two empty fields, dtype=str": (b",\n", c.decode, {"dtype": str}),
    "a label and an empty field": (b",\n", c.decode, {"dtype": str, "label_size": 1}),
    "a one-letter label and an empty field": (b"x,\n", c.decode, {"dtype": str, "label_size": 1}),
    "a label of two empty fields and one more": (b",,\n", c.decode, {"dtype": str, "label_size": 2}),
    "a response of two empty fields": (b",\n", c.decode_response, {"dtype": str}),
}


@pytest.mark.parametrize("shape", sorted(EMPTY_BODIES))
@pytest.mark.parametrize("twin", [False, True])
def test_empty_text_records_within_the_bound(shape: str, twin: bool) -> None:
    """6 MiB of each: 40 to 47 x before the shared empty rows, now 4 to 15 x."""
    unit, fn, options = EMPTY_BODIES[shape]
    body = unit * ((6 << 20) // len(unit))
    got: dict[str, smp.RecordBatch] = {}
    with twin_or_native(twin):
        used = peak(lambda: got.setdefault("batch", fn(body, **options)))
    assert used < bound(body)
    batch = got["batch"]
    n = len(body) // len(unit)
    assert len(batch) == n
    col = batch.label["values"] if fn is c.decode_response else batch.features["values"]
    texts = unit.decode().rstrip("\n").split(",")
    cut = options.get("label_size", 0)
    want = texts if fn is c.decode_response else texts[cut:]
    assert col[0] == want and col[n - 1] == want and col[0] is col[n - 1]


# --------------------------------------------------------------------------------------
# 2. str_column: empty texts, lone surrogates
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("texts", [[""] * 64, ["\ud800x"] * 64, ["\udfff"] * 70, ["a\ud800", "\ud800b"] * 40])
def test_str_column_is_numpys_array_for_empty_texts_and_surrogates(texts: list[str]) -> None:
    want = np.array(texts, dtype=str)
    got = c.str_column(texts)
    assert got.dtype == want.dtype and got.tobytes() == want.tobytes()
    assert got.tolist() == texts and got.flags.writeable and got.flags.c_contiguous


def test_inverse_label_transform_with_a_surrogate_class_name() -> None:
    got = smp.RecordBatch(label={"predicted_label": np.zeros(64)})
    out = autopilot.inverse_label_transform(got, ["\ud800x"], ["predicted_label"])
    assert out.label["predicted_label"].tolist() == ["\ud800x"] * 64


@pytest.mark.parametrize("name", PATHS)
def test_a_label_of_empty_texts(name: str) -> None:
    with mode(name):
        batch = c.decode(b",a\n" * 100, dtype=str, label_size=1)
    label = batch.label["values"]
    assert label.dtype == np.dtype("<U1") and label.tolist() == [""] * 100
    rows = batch.features["values"]
    assert rows.tolist() == [["a"]] * 100 and rows[0] is rows[99]


# --------------------------------------------------------------------------------------
# 3. Keyed responses: lists of strings without cyclic garbage, short fields shared
# --------------------------------------------------------------------------------------

LIST_TOKENS = [
    "[",
    "]",
    "'a'",
    '"b"',
    "'é'",
    ",",
    " ",
    "1",
    "b'x'",
    "('a')",
    "'a' 'b'",
    "[1]",
    "*'ab'",
    "f'x'",
    "u'q'",
]


@given(st.lists(st.sampled_from(LIST_TOKENS), max_size=8))
@example(["[", "'a' 'b'", ",", "u'q'", "]"])
@example(["[", "('a')", "]"])
@example(["[", "*'ab'", "]"])
def test_string_list_is_literal_eval_of_a_list_of_str(tokens: list[str]) -> None:
    text = "".join(tokens)
    try:
        value = ast.literal_eval(text)
        want = value if isinstance(value, list) and all(isinstance(x, str) for x in value) else None
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        want = None
    try:
        got = c._string_list(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        got = None
    assert got == want


def test_string_lists_leave_no_cyclic_garbage() -> None:
    """``ast.literal_eval`` left about 1 kB of reference cycles a call, which the paused
    collector let pile up (133 x the body at 6 MiB)."""
    body = b"\"['a', 'b']\",x\n" * 1000 + b"\"['c', '1']\",y\n" * 1000
    gc.collect()
    gc.disable()
    try:
        got = c.decode_response(body, keys=["labels", "k"])
        garbage = gc.collect()
    finally:
        gc.enable()
    assert garbage < 50
    labels = got.label["labels"]
    assert labels.tolist() == [["a", "b"]] * 1000 + [["c", "1"]] * 1000
    assert labels[0] is not labels[1]  # a list of its own per record, as before
    assert got.label["k"].tolist() == ["x"] * 1000 + ["y"] * 1000


KEYED_BODIES = {
    "short text and an empty field": b"ab,\n",
    "a list of one string": b"\"['a']\",\n",
    "short text, CRLF": b"ab,c\r\n",
}


@pytest.mark.parametrize("shape", sorted(KEYED_BODIES))
@pytest.mark.parametrize("twin", [False, True])
def test_keyed_responses_within_32_x(shape: str, twin: bool) -> None:
    """512 KiB of each, read by the careful reader (keys given): 35 x, 133 x and 24 x
    before; within 32 x alone now."""
    unit = KEYED_BODIES[shape]
    body = unit * ((1 << 19) // len(unit))
    got: dict[str, smp.RecordBatch] = {}
    with twin_or_native(twin):
        used = peak(lambda: got.setdefault("batch", c.decode_response(body, keys=["a", "b"])))
    assert used < 32 * len(body)
    batch = got["batch"]
    assert len(batch) == len(body) // len(unit)
    first = c.decode_response(unit, keys=["a", "b"])
    for k in ("a", "b"):
        assert repr(batch.label[k][-1:].tolist()) == repr(first.label[k].tolist())


@pytest.mark.parametrize("name", PATHS)
def test_keyed_text_columns_unchanged(name: str) -> None:
    body = "ab,\"x, y\"\r\nab,\xe9\r\n,\"['a', 'b']\"\r\n".encode()
    with mode(name):
        got = c.decode_response(body, keys=["k", "v"])
        bad = outcome_of(lambda: c.decode_response(b"ab,\n\xff,x\n", keys=["k", "v"]))
    assert got.label["k"].tolist() == ["ab", "ab", ""] and got.label["k"].dtype == np.dtype("<U2")
    assert got.label["v"].tolist() == ["x, y", "é", "['a', 'b']"]
    assert bad == ("bytes that are not utf-8 text (b'\\xff'...)", 4, 2, 1)


def outcome_of(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except smp.DecodeError as e:
        return (e.reason, e.offset, e.line, e.record_index)


# --------------------------------------------------------------------------------------
# 4. Wide pieces with quotes: cut at the window's last record end
# --------------------------------------------------------------------------------------


def test_quoted_wide_pieces_hold_every_record_of_their_window() -> None:
    """A wide piece with quotes was cut at 2,048 records by a scan of its whole 64 KiB
    window (6 MiB of ``""`` records: 71 ns a byte, most of it in `record_ends`); it is
    now cut at the window's last record end, as a piece without quotes is at its last
    line end. Not wide (a piece the text reader declined): 2,048 records as before."""
    body = b'""\n' * 50_000
    assert c._CAREFUL_BYTES == 1 << 16 and c._CAREFUL_RECORDS == 2048
    assert list(c._careful_spans(body, 0, len(body), True)) == [(0, 65535), (65535, 131070), (131070, 150000)]
    narrow = list(c._careful_spans(body, 0, len(body)))
    assert narrow[0] == (0, 6144) and len(narrow) == 25
    split = b'"a\nb",x\n' * 10_000  # a record across lines: a line end is no record end
    spans = list(c._careful_spans(split, 0, len(split), True))
    assert spans[0] == (0, 65536 - 65536 % 8) and all((b - a) % 8 == 0 for a, b in spans)


@pytest.mark.parametrize("name", PATHS)
def test_quoted_bodies_in_wide_pieces(name: str) -> None:
    body = b'""\n"a"\n"x,y"\n' * 30_000 + b'"a\nb"\n'
    with mode(name):
        rows = c.decode(body, dtype=str).features["values"]
        bad = outcome_of(lambda: c.decode(body + b'"z"q\n'))
    assert len(rows) == 90_001
    assert rows[:3].tolist() == [[""], ["a"], ["x,y"]] and rows[-1] == ["a\nb"]
    assert rows[0] is rows[89_997] and rows[1] is rows[89_998] and rows[2] is not rows[89_999]
    assert bad == (
        "unexpected 'q' after a closing quote (expected ',' or the end of the line)",
        390_009,
        90_003,
        90_001,
    )


# --------------------------------------------------------------------------------------
# 5. A quoted "\r" is text on every path (the numpy number reader read it as NaN)
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", PATHS)
@pytest.mark.parametrize("numpy_reader", [False, True])
def test_a_quoted_carriage_return_is_text(name: str, numpy_reader: bool) -> None:
    with contextlib.ExitStack() as stack:
        stack.enter_context(mode(name))
        if numpy_reader:
            stack.enter_context(mock.patch.object(_textnum, "_C", None))
        plain = c.decode(b'1,"\r"\n2,3\n').features["values"]
        labelled = c.decode(b'"7",7,1,"\r"\n\n', label_size=2)
        refused = outcome_of(lambda: c.decode(b'1,"\r"\n', dtype="float32"))
        spaced = c.decode(b'1," \r "\n').features["values"]
    assert plain.tolist() == [["1", "\r"], ["2", "3"]]
    assert labelled.label["values"].tolist() == [[7.0, 7.0]]
    assert labelled.features["values"].tolist() == [["1", "\r"]]
    assert refused == ("column 2: '\\r' is not a number (dtype float32)", 2, 1, 0)
    assert spaced.tolist() == [["1", " \r "]]


def test_unquote_keeps_a_carriage_return_inside_quotes_for_the_careful_reader() -> None:
    assert _textnum._unquote(b'1,"\r"\n') is None
    assert _textnum._unquote(b'1,"2"\r\n') == b"1,2\r\n"
    assert _textnum._unquote(b'"1","2"\n') == b"1,2\n"
