"""text/csv text bodies within the time bar (issue #20, point 1b): the routes added for them.

* `_csv_text.text_rows_from` (``_cparse.csv_text_rows``, twin `text_rows_from_pure`): the
  records of a piece straight into a block of lists of every field, with the lists that
  `text_fields` then `text_rows` make (shared rows included) and the line ends counted;
  the same declines, and `out` as it was after a decline.
* The C kernels' table of the short texts of a call (2 to 8 bytes, keyed by their bytes)
  and their one-byte texts: the same values as the twin, one ``str`` per short text.
* ``_cparse.count_newlines``, 16 bytes at a time: ``bytes.count``.
* The careful reader's first-record check before the fast reader's threads (a large text
  body goes to the careful reader at once): the same batches and errors as before.

Every result is compared with the careful reader alone, the pure twins, and Python's `csv`
module where it reads the same grammar.
"""

from __future__ import annotations

import csv as pycsv
import gc
import io
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import sm_payloads as smp
from sm_payloads import _native
from sm_payloads.formats import _csv_text, _textnum
from sm_payloads.formats import csv as c
from tests.test_csv_text_fast import canon

C = _native.load("formats._cparse")
native = pytest.mark.skipif(C is None, reason="the C extension is not built (or SM_PAYLOADS_PURE_PYTHON)")


def rows_fns() -> list[Callable[..., Any]]:
    """The implementations of text_rows_from: the twin always, the kernel where built."""
    fns: list[Callable[..., Any]] = [_csv_text.text_rows_from_pure]
    if C is not None:
        fns.append(C.csv_text_rows)
    return fns


def composed(
    data: bytes, lo: int, hi: int, width: int, ascii: bool, shared: list[Any] | None
) -> tuple[tuple[int, int], list[list[str]]] | None:
    """The oracle: the careful reader's records (`tokenize`, `field_text`) where every one
    has `width` fields and reads without a problem; None otherwise."""
    try:
        recs, _ = _csv_text.tokenize(data, lo, hi, 1, 0, 0)
        cs = "ascii" if ascii else "utf-8"
        rows = [[_csv_text.field_text(f, cs, 0, r.line, 0) for f in r.fields] for r in recs]
    except smp.DecodeError:
        return None
    if any(len(r) != width for r in rows):
        return None
    return (len(rows), data.count(b"\n", lo, hi)), rows


def run(
    fn: Callable[..., Any], data: bytes, width: int, ascii: bool = False, *, at: int = 0, extra: int = 0
) -> tuple[Any, np.ndarray, list[Any]]:
    shared: list[Any] = [None] * _csv_text.SHARED_ROWS
    out = np.empty(at + data.count(b"\n") + 1 + extra, dtype=object)
    got = fn(data, 0, len(data), width, ascii, None, out, at, shared)
    return got, out, shared


# --------------------------------------------------------------------------------------
# text_rows_from: exact rows, line ends, sharing, declines
# --------------------------------------------------------------------------------------

BODY = b'a,b\nc,d\r\n\n\r\n"x""y",\xc3\xa9\n"",""\n"p\nq",""""\n'


@pytest.mark.parametrize("fn", rows_fns())
def test_rows_values(fn: Callable[..., Any]) -> None:
    got, out, _ = run(fn, BODY, 2, at=2)
    assert got == (5, 8)  # five records; eight "\n" (one inside quotes, two blank lines)
    assert out[:2].tolist() == [None, None]  # the slots before `at` are left alone
    assert out[2:7].tolist() == [["a", "b"], ["c", "d"], ['x"y', "é"], ["", ""], ["p\nq", '"']]
    assert [type(r) for r in out[2:7]] == [list] * 5
    assert all(type(t) is str for r in out[2:7] for t in r)
    assert out[7:].tolist() == [None] * (len(out) - 7)
    # a piece from the middle; the last record without its line end (not counted)
    data = b"zz\nq,r\ns,t"
    out = np.empty(4, dtype=object)
    assert fn(data, 3, len(data), 2, False, None, out, 1, None) == (2, 1)
    assert out.tolist() == [None, ["q", "r"], ["s", "t"], None]
    # blank lines only, and nothing
    out = np.empty(2, dtype=object)
    assert fn(b"\n\r\n\n", 0, 4, 3, False, None, out, 0, None) == (0, 3)
    assert fn(b"", 0, 0, 1, False, None, out, 2, None) == (0, 0)
    assert out.tolist() == [None, None]


@pytest.mark.parametrize("fn", rows_fns())
def test_rows_sharing(fn: Callable[..., Any]) -> None:
    # one-field records of one ASCII character share that character's list; a record of
    # anything else (two characters, a non-ASCII one) has a list of its own
    data = b'a\nb\na\n""""\n""""\nab\nab\n\xc3\xa9\n\xc3\xa9\n"a"\n'
    got, out, shared = run(fn, data, 1)
    assert got == (10, 10)
    rows = out[:10]
    assert rows.tolist() == [["a"], ["b"], ["a"], ['"'], ['"'], ["ab"], ["ab"], ["é"], ["é"], ["a"]]
    assert rows[0] is rows[2] is rows[9] is shared[ord("a")]
    assert rows[3] is rows[4] is shared[ord('"')]
    assert rows[5] is not rows[6] and rows[7] is not rows[8]
    rows[5].append("x")  # a list of its own: the other record does not change
    assert rows[6] == ["ab"]
    # records whose texts are all empty share one list; any other has its own
    got, out, shared = run(fn, b',\n"",\n,x\n,\n', 2)
    assert got == (4, 4)
    assert out[:4].tolist() == [["", ""], ["", ""], ["", "x"], ["", ""]]
    assert out[0] is out[1] is out[3] is shared[_csv_text.SHARED_ROWS - 1]
    assert out[2] is not out[0]
    # without shared slots every record has its own list
    out = np.empty(3, dtype=object)
    assert fn(b"a\na\n", 0, 4, 1, False, None, out, 0, None) == (2, 2)
    assert out[0] == out[1] == ["a"] and out[0] is not out[1]


@pytest.mark.parametrize("fn", rows_fns())
def test_rows_as_text_fields_then_text_rows(fn: Callable[..., Any]) -> None:
    """The same lists as the two calls it replaces, shared slots included, across calls
    that fill one column piece after piece."""
    data = b"a\nbc\nb\n\na\nbc\n,\n"[:-4] + b"a\n"
    pieces = [(0, 5), (5, 7), (7, len(data))]
    out = np.empty(8, dtype=object)
    shared: list[Any] = [None] * _csv_text.SHARED_ROWS
    at = 0
    for lo, hi in pieces:
        got = fn(data, lo, hi, 1, False, None, out, at, shared)
        assert got is not None
        at += got[0]
    ref_shared: list[Any] = [None] * _csv_text.SHARED_ROWS
    fields = _csv_text.text_fields_pure(data, 0, len(data), 1, False)
    assert fields is not None
    ref = _csv_text.text_rows(fields, 1, 0, 1, None, ref_shared)
    assert at == len(ref)
    assert out[:at].tolist() == ref.tolist()
    # the same lists are shared: records of one character, in every piece
    same = [[j for j in range(at) if out[j] is out[i]] for i in range(at)]
    ref_same = [[j for j in range(at) if ref[j] is ref[i]] for i in range(at)]
    assert same == ref_same


@pytest.mark.parametrize("fn", rows_fns())
@pytest.mark.parametrize(
    ("body", "width", "ascii"),
    [
        (b"a,b\nc\n", 2, False),  # another width
        (b"a,b\nc,d,e\n", 2, False),
        (b'a,b"c\n', 2, False),  # a quote inside an unquoted field
        (b'"a,b\n', 2, False),  # not closed
        (b'"a"b,c\n', 2, False),  # something after a closing quote
        (b"a\rb,c\n", 2, False),  # a '\r' not before '\n'
        (b"a,b\r", 2, False),  # a '\r' that ends the piece
        (b"a,b\nc,\xff\n", 2, False),  # not UTF-8, after a record that was read
        (b"a,b\nc,\xed\xa0\x80\n", 2, False),  # an encoded surrogate
        (b"a,b\nab,\xc3\xa9\n", 2, True),  # not us-ascii
    ],
)
def test_rows_declines_leave_out_as_it_was(
    fn: Callable[..., Any], body: bytes, width: int, ascii: bool
) -> None:
    got, out, _ = run(fn, body, width, ascii, at=1)
    assert got is None
    assert out.tolist() == [None] * len(out)
    if b"\r" not in body:  # (a lone "\r" is a field's text to the careful reader: declined all the same)
        assert composed(body, 0, len(body), width, ascii, None) is None


@pytest.mark.parametrize("fn", rows_fns())
def test_rows_decline_when_out_is_short(fn: Callable[..., Any]) -> None:
    out = np.empty(3, dtype=object)
    assert fn(b"a,b\nc,d\n", 0, 8, 2, False, None, out, 2, None) is None  # two records, one slot
    assert out.tolist() == [None, None, None]
    assert fn(b"a,b\nc,d\n", 0, 8, 2, False, None, out, 1, None) == (2, 2)
    assert out.tolist() == [None, ["a", "b"], ["c", "d"]]


@pytest.mark.parametrize("fn", rows_fns())
def test_rows_bad_arguments(fn: Callable[..., Any]) -> None:
    out = np.empty(2, dtype=object)
    for args in (
        (b"a", 0, 2, 1, False, None, out, 0, None),  # hi past the end
        (b"a", -1, 1, 1, False, None, out, 0, None),
        (b"a", 0, 1, 0, False, None, out, 0, None),  # width 0
        (b"ab", 2, 1, 1, False, None, out, 0, None),
        (b"a", 0, 1, 1, False, None, out, 3, None),  # at past the end of out
        (b"a", 0, 1, 1, False, None, out, -1, None),
        (b"a", 0, 1, 1, False, None, np.empty(2, dtype=np.float64), 0, None),  # not objects
        (b"a", 0, 1, 1, False, None, out, 0, [None] * 3),  # shared of another size
        (b"a", 0, 1, 1, False, None, out, 0, [None] * 128 + [1]),  # a slot: neither None nor a list
        (b"a", 0, 1, 1, False, None, out, 0, [["a", 1]] + [None] * 128),  # a list of more than str
    ):
        with pytest.raises(ValueError):
            fn(*args)


@native
def test_native_rows_checks() -> None:
    assert C is not None
    with pytest.raises(ValueError):  # a cache that is not a power of two slots
        C.csv_text_rows(b"ab\n", 0, 3, 1, False, [None] * 3, np.empty(1, dtype=object), 0, None)
    out = np.empty(2, dtype=object)
    out[1] = "x"
    with pytest.raises(ValueError, match="must hold None"):  # a slot it would write holds something
        C.csv_text_rows(b"a\nb\n", 0, 4, 1, False, None, out, 0, None)
    assert out.tolist() == [None, "x"]
    # the lists hold str only: the collector does not track them; the collector's switch
    # is as it was
    out = np.empty(2, dtype=object)
    assert gc.isenabled()
    assert C.csv_text_rows(b"ab,c\nd,ef\n", 0, 10, 2, False, None, out, 0, None) == (2, 2)
    assert gc.isenabled()
    assert not gc.is_tracked(out[0]) and not gc.is_tracked(out[1])
    gc.disable()
    try:
        assert C.csv_text_rows(b"ab,c\n", 0, 5, 2, False, None, np.empty(1, dtype=object), 0, None) == (1, 1)
        assert not gc.isenabled()
    finally:
        gc.enable()


@native
def test_native_short_texts_one_str_per_call() -> None:
    """Texts of 2 to 8 bytes met again in one call are one str (the call's table of short
    texts), UTF-8 ones included; texts that differ in a NUL byte or in length stay apart."""
    assert C is not None
    parts = [b"ab", b"\xc3\xa9\xc3\xa9", b"ab\x00", b"\x00\x00", b"\x00\x00\x00", b"abcdefgh", b"abcdefghi"]
    data = b"\n".join(parts * 300) + b"\n"
    want = [p.decode() for p in parts] * 300
    fields = C.csv_text(data, 0, len(data), 1, False)
    out = np.empty(len(want), dtype=object)
    assert C.csv_text_rows(data, 0, len(data), 1, False, None, out, 0, None) == (len(want), len(want))
    texts = [r[0] for r in out]
    for got in (fields, texts):
        assert got == want
        for k in range(6):  # 2 to 8 bytes: one str each within the call
            assert len({id(t) for t in got[k :: len(parts)]}) == 1
    # one-byte texts: the interpreter's str of each ASCII character, NUL included
    chars = [i for i in range(128) if i not in (10, 13, 34, 44)]
    ascii_data = b"".join(bytes([i]) + b"\n" for i in chars)
    out = np.empty(len(chars), dtype=object)
    assert C.csv_text_rows(ascii_data, 0, len(ascii_data), 1, True, None, out, 0, None) == (
        len(chars),
        len(chars),
    )
    assert [r[0] for r in out] == [chr(i) for i in chars]
    assert all(r[0] is chr(i) for r, i in zip(out, chars, strict=True))


# --------------------------------------------------------------------------------------
# Property: the kernel, its twin and the careful reader agree
# --------------------------------------------------------------------------------------

TOKENS = [
    b"a",
    b"b",
    b"ab",
    b"",
    b'"',
    b"x,y",
    b"\xc3\xa9",
    b"q\nr",
    b"\r",
    b"\xff",
    b" ",
    b"\x00",
    b"abcdefgh",
]


@st.composite
def bodies(draw: st.DrawFn) -> tuple[bytes, int]:
    width = draw(st.integers(1, 3))
    rows = []
    for _ in range(draw(st.integers(0, 8))):
        k = width if draw(st.integers(0, 7)) else draw(st.integers(1, 4))
        fields = []
        for _ in range(k):
            tok = draw(st.sampled_from(TOKENS))
            if draw(st.integers(0, 3)) == 0 or ((b"," in tok or b"\n" in tok) and draw(st.booleans())):
                tok = b'"' + tok.replace(b'"', b'""') + b'"'
            fields.append(tok)
        rows.append(b",".join(fields))
        if draw(st.integers(0, 5)) == 0:
            rows.append(draw(st.sampled_from([b"", b"\r"])))
    body = draw(st.sampled_from([b"\n", b"\r\n"])).join(rows)
    return body + draw(st.sampled_from([b"", b"\n", b"\r\n", b"\r"])), width


@given(bodies(), st.booleans(), st.integers(0, 2))
@example((b'"a""b",c\r\n\r\nd,""\n', 2), False, 0)
@example((b"a\na\n\xc3\xa9\n", 1), False, 1)
@settings(max_examples=300)
def test_rows_agree(case: tuple[bytes, int], ascii: bool, at: int) -> None:
    body, width = case
    want = composed(body, 0, len(body), width, ascii, None)
    fields = _csv_text.text_fields_pure(body, 0, len(body), width, ascii)
    outs = []
    for fn in rows_fns():
        got, out, shared = run(fn, body, width, ascii, at=at)
        if fields is None:  # text_fields declines: so does text_rows_from, leaving out alone
            assert got is None
            assert out.tolist() == [None] * len(out)
            continue
        assert want is not None  # where the text reader reads, the careful reader agrees
        assert got == want[0]
        n = got[0]
        assert out[at : at + n].tolist() == want[1]
        assert out[:at].tolist() + out[at + n :].tolist() == [None] * (len(out) - n)
        # shared lists: exactly the one-character records, and the all-empty ones
        for row in out[at : at + n]:
            one = width == 1 and len(row[0]) == 1 and ord(row[0]) < 128
            empty = all(t == "" for t in row)
            if one:
                assert row is shared[ord(row[0])]
            elif empty:
                assert row is shared[-1]
            else:
                assert all(row is not s for s in shared)
        outs.append([[j for j in range(n) if out[at + j] is out[at + i]] for i in range(n)])
    assert all(o == outs[0] for o in outs)


@given(st.binary(max_size=300), st.integers(0, 40), st.integers(0, 40))
@example(b"\n" * 33, 0, 0)
def test_count_newlines(data: bytes, cut_lo: int, cut_hi: int) -> None:
    if C is None:
        return
    lo = min(cut_lo, len(data))
    hi = max(lo, len(data) - cut_hi)
    assert C.count_newlines(data, lo, hi) == data.count(b"\n", lo, hi)
    big = data * 50
    assert C.count_newlines(big, 0, len(big)) == big.count(b"\n")


@given(st.lists(st.sampled_from([b"a", b'"', b"\n", b"\r", b",", b'""']), max_size=80), st.integers(0, 9))
@example([b'"', b"\n"] * 20, 0)
def test_last_record_end(parts: list[bytes], cut: int) -> None:
    """The C scan for the careful reader's pieces: the end of the last record of a window
    as `record_ends` finds it (every record of the window, none past it)."""
    if C is None:
        return
    data = b"".join(parts) * 3
    for lo, hi in ((0, len(data)), (min(cut, len(data)), len(data)), (0, max(0, len(data) - cut))):
        want, _, _ = _csv_text.record_ends(data, lo, hi, hi - lo + 1, False)
        assert C.last_record_end(data, lo, hi) == want


# --------------------------------------------------------------------------------------
# Batches: every path, against Python's csv module
# --------------------------------------------------------------------------------------

MODES = ("native", "twin", "careful")


@contextmanager
def mode(name: str, piece_bytes: int | None = None) -> Iterator[None]:
    """native: as installed; twin: the pure twins; careful: the text readers always
    decline (the careful reader alone). `piece_bytes`: the careful reader's pieces."""
    with mock.patch.object(c, "_CAREFUL_BYTES", piece_bytes or c._CAREFUL_BYTES):
        if name == "native":
            yield
        elif name == "twin":
            with mock.patch.object(_csv_text, "_C", None), mock.patch.object(c, "_CPARSE", None):
                yield
        else:
            with (
                mock.patch.object(c, "text_fields", lambda *a: None),
                mock.patch.object(c, "text_rows_from", lambda *a: None),
            ):
                yield


def outcome(fn: Callable[[], Any]) -> Any:
    try:
        got = fn()
        return [canon(b) for b in got] if isinstance(got, list) else canon(got)
    except smp.DecodeError as e:
        return canon(e)


def same_everywhere(fn: Callable[[], Any], piece_bytes: int | None = None) -> Any:
    modes = MODES if C is not None else ("twin", "careful")
    got = {}
    for m in modes:
        with mode(m, piece_bytes):
            got[m] = outcome(fn)
    for m in modes[1:]:
        assert got[m] == got[modes[0]], f"{modes[0]} and {m} differ"
    return got[modes[0]]


def python_csv(body: bytes) -> list[list[str]]:
    """Python's csv module over the same grammar (its blank lines are skipped here)."""
    return [r for r in pycsv.reader(io.StringIO(body.decode("utf-8"), newline="")) if r]


def rows_of(body: bytes, **options: Any) -> np.ndarray:
    values: np.ndarray = c.decode(body, **options).features["values"]
    return values


@pytest.mark.parametrize(
    "unit",
    [b"a,b,c\n", b"ab\n", b"a\n", b'"a\nb",x\n', b'"q""r",\xc3\xa9\r\n', b",\n", b"abcdefgh,abcdefghi\n"],
)
def test_many_pieces_as_python_csv(unit: bytes) -> None:
    """Bodies of many pieces (the block of lists made at the first, the others read into
    it) decode to the rows Python's csv module reads, on every path."""
    body = unit * (200_000 // len(unit)) + b"zz," * unit.count(b",") + b"zy\n"
    want = python_csv(body)
    same_everywhere(lambda: rows_of(body, dtype=str), piece_bytes=4096)
    same_everywhere(lambda: rows_of(body), piece_bytes=4096)
    rows = rows_of(body, dtype=str)
    assert rows.tolist() == want
    assert [type(r) for r in rows[:3]] == [list] * 3


def test_two_letter_records_have_lists_of_their_own() -> None:
    letters = [chr(97 + i % 26) + chr(97 + i // 26 % 26) for i in range(20_000)]
    body = "\n".join(letters).encode() + b"\n"
    for m in ("native", "twin") if C is not None else ("twin",):
        with mode(m, 4096):
            rows = rows_of(body)
        assert rows.tolist() == [[t] for t in letters]
        assert len({id(r) for r in rows}) == len(rows)  # no two records share a list
        assert letters[26 * 26] == letters[0] == "aa"
        rows[0].append("changed")
        assert rows[0] == ["aa", "changed"]
        assert rows[26 * 26] == ["aa"]


@pytest.mark.parametrize("name", ["native", "twin", "careful"])
def test_responses_and_labels_of_many_pieces(name: str) -> None:
    if name == "native" and C is None:
        pytest.skip("no C extension")
    body = b"ab,c\nd,ef\n" * 5000
    with mode(name, 4096):
        r = c.decode_response(body)
        b = c.decode(body, label_size=1)
    assert r.label["values"].tolist() == [["ab", "c"], ["d", "ef"]] * 5000
    assert b.label["values"].tolist() == ["ab", "d"] * 5000
    assert b.features["values"].tolist() == [["c"], ["ef"]] * 5000


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"a,b\n" * 3000 + b"c\n", "row has 1 fields, expected 2: column 2 is missing"),
        (b"a,b\n" * 3000 + b'c,"d\n', "unterminated quoted field"),
        (b"a,b\n" * 3000 + b"c,\xff\n", "bytes that are not utf-8 text"),
        (b"a,b\n" * 3000 + b'c,d"\n', "a '\"' inside an unquoted field"),
    ],
)
def test_errors_after_pieces_read_into_lists(body: bytes, error: str) -> None:
    got = same_everywhere(lambda: c.decode(body), piece_bytes=1024)
    assert got[0] == "error" and error in got[1]
    assert got[3:] == (3001, 3000)  # its line and record


# --------------------------------------------------------------------------------------
# The first record before the fast reader's threads
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"cat,1.5\n" * 2000,  # text first: the careful reader at once
        b"1,2\n" * 2000 + b"a,b\n",  # numbers first, text at the end
        b"1,2\n" * 2000 + b"3\n",  # a ragged row at the end: its error
        b"\n\n1,2\n" * 2000,  # blank lines first
        b"1e400,2\n" + b"1,2\n" * 2000,  # a first record beyond the range: its error
        b'"a\nb",1\n' * 2000,  # a quoted field across lines first
        b"x" * 20_000 + b"\n",  # a first record longer than a sixteenth of the body
    ],
)
def test_first_record_check(body: bytes) -> None:
    """With the fast reader's threads from a few kilobytes on, bodies whose first record
    the fast reader cannot read decode as before, on every path, with labels too."""
    for label_size in (0, 1):

        def read(label_size: int = label_size) -> smp.RecordBatch:
            return c.decode(body, label_size=label_size)

        with mock.patch.object(_textnum, "PARALLEL_MIN", 256):
            got = same_everywhere(read)
        assert got == outcome(read)


def test_first_record_check_positions() -> None:
    body = b"1,2\n" * 2000 + b"3\n"
    with mock.patch.object(_textnum, "PARALLEL_MIN", 256), pytest.raises(smp.DecodeError) as e:
        c.decode(body)
    assert (e.value.line, e.value.offset, e.value.record_index) == (2001, 8001, 2000)
    with mock.patch.object(_textnum, "PARALLEL_MIN", 256):
        b = c.decode(b"cat,1.5\n" * 2000, label_size=1)
    assert b.label["values"].tolist() == ["cat"] * 2000
    assert b.features["values"].tolist() == [[1.5]] * 2000


# --------------------------------------------------------------------------------------
# The twin's readers of a piece: without quotes at once, with quotes by findall
# --------------------------------------------------------------------------------------

_REF_FIELD = re.compile(r'"([^"]*(?:""[^"]*)*)"|([^,"\r\n]*)')


def reference_fields(text: str, width: int) -> list[str] | None:
    """An independent reader of the text reader's grammar, field after field: the fields
    of `text` record after record, or None where the text reader declines (a quote inside
    an unquoted field or not closed, something after a closing quote, a "\\r" outside
    quotes not before "\\n", a record of another width); blank lines skipped."""
    out: list[str] = []
    pos, n = 0, len(text)
    while pos < n:
        if text.startswith("\n", pos) or text.startswith("\r\n", pos):
            pos += 1 if text[pos] == "\n" else 2
            continue
        k = 0
        while True:
            m = _REF_FIELD.match(text, pos)
            assert m is not None
            pos = m.end()
            if m.group(1) is not None:
                out.append(m.group(1).replace('""', '"'))
            elif text.startswith('"', pos):
                return None
            else:
                out.append(m.group(2))
            k += 1
            if text.startswith("\r", pos):
                if not text.startswith("\r\n", pos):
                    return None
                pos += 1
            if pos == n:
                break
            if text[pos] == "\n":
                pos += 1
                break
            if text[pos] != ",":
                return None
            pos += 1
        if k != width:
            return None
    return out


PIECES = ["a", "", "é", " b ", '"x""y"', '"p\nq"', '""', '"a,b"', '"\r"', '"', "\r", '"a"b', '""""', '"\n\n"']


@st.composite
def texts(draw: st.DrawFn) -> tuple[str, int]:
    width = draw(st.integers(1, 10))
    if draw(st.booleans()):  # records of about the width
        recs = []
        for _ in range(draw(st.integers(0, 6))):
            k = width if draw(st.integers(0, 5)) else draw(st.integers(1, 11))
            recs.append(",".join(draw(st.sampled_from(PIECES[:8])) for _ in range(k)))
            if draw(st.integers(0, 6)) == 0:
                recs.append("")
        text = draw(st.sampled_from(["\n", "\r\n"])).join(recs)
        text += draw(st.sampled_from(["", "\n", "\r\n", "\n\n", "\r"]))
    else:  # anything of the pieces and separators
        parts = st.tuples(st.sampled_from(PIECES), st.sampled_from([",", "\n", "\r\n", "", "\r", "\n\n"]))
        text = "".join(a + b for a, b in draw(st.lists(parts, max_size=12)))
    return text, width


@given(texts())
@example(("a,b\n\nc,d", 2))
@example(('"a",,\n,"",\n', 3))
@example(("\n" + '"a"', 1))
@example(('a,"b"\r\n' * 3, 2))
@settings(max_examples=400)
def test_quoted_pieces_as_the_reference(case: tuple[str, int]) -> None:
    """The twin's findall readers (one match a record for 2 to 8 fields, one a field
    otherwise) give the fields, or the declines, of the reference reader."""
    text, width = case
    want = reference_fields(text, width)
    if '"' in text:
        assert _csv_text._quoted_records(text, width) == want
    data = text.encode()
    assert _csv_text.text_fields_pure(data, 0, len(data), width, False) == want
    assert _csv_text.text_fields_pure(data, 0, len(data), width, False, {}) == want
    if C is not None:
        assert C.csv_text(data, 0, len(data), width, False) == want


@pytest.mark.parametrize("width", [1, 2, 3, 8, 9])
@pytest.mark.parametrize(
    "text",
    [
        "a" * 5000 + '"',  # a quote after a long field: declined, in time linear in the text
        '"a' * 3000,  # quotes not closed
        '"a"b' * 2000,  # something after a closing quote
        "," * 5000 + '"',
        '"' + '""' * 3000,
        '"' + "a" * 5000 + '"x',
    ],
)
def test_quoted_pieces_declined(text: str, width: int) -> None:
    assert reference_fields(text, width) is None
    assert _csv_text._quoted_records(text, width) is None


@pytest.mark.parametrize("width", [2, 3, 8, 9])
def test_quoted_pieces_of_every_width(width: int) -> None:
    row = ['"a,b"', "", '"x""y"', "é", '"p\nq"', "c", '""', "d", "e"][:width]
    want = ["a,b", "", 'x"y', "é", "p\nq", "c", "", "d", "e"][:width]
    for end in ("\n", "\r\n"):
        text = end.join([",".join(row)] * 50)
        assert _csv_text._quoted_records(text, width) == want * 50
        assert _csv_text._quoted_records(text + end, width) == want * 50
        assert _csv_text._quoted_records(end + text + end + end, width) == want * 50  # blank lines
        assert _csv_text._quoted_records(text + "," + end, width) is None  # a longer last record


@given(st.lists(st.sampled_from(["a", "", "bc", "é", " ", "\x00"]), max_size=30), st.integers(1, 4))
@example(["a", "", "b"], 1)
def test_plain_pieces_as_the_reference(fields: list[str], width: int) -> None:
    """Text without quotes: the separators checked at once (every record `width` fields,
    "\\n" line ends, no "\\r", no blank line) or line by line, the same fields."""
    n = len(fields) // width * width
    for end in ("\n", "\r\n"):
        recs = [",".join(fields[i : i + width]) for i in range(0, n, width)]
        for text in (end.join(recs), end.join(recs) + end, end.join(recs) + end + end):
            want = reference_fields(text, width)
            data = text.encode()
            assert _csv_text.text_fields_pure(data, 0, len(data), width, False) == want
            assert _csv_text.text_fields_pure(data, 0, len(data), width, False, {}) == want
            if C is not None:
                assert C.csv_text(data, 0, len(data), width, False) == want
