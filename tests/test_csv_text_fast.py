"""text/csv text fields without Record objects (issue #20): `_csv_text.text_fields`
(``_cparse.csv_text``, twin `text_fields_pure`) and `_csv_text.text_rows`
(``_cparse.text_rows``) against the careful reader.

The careful reader (`tokenize` and `field_text`, one `Record` per record) stays the one that
positions errors; the text reader answers a piece of records only when that reader would
read it without a problem, and declines (None) otherwise. These tests pin: exact fields and
batches for written inputs, the declines, and, with hypothesis, that the C kernel, its twin
and the careful reader alone give the same batches or the same errors (message, offset,
line, record index) for random bodies of text, numbers, quotes, line ends, invalid UTF-8,
widths, charsets, ``label_size``, ``dtype`` and responses, in one piece or in pieces of a few
records.
"""

from __future__ import annotations

import gc
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import sm_payloads as smp
from sm_payloads import _native
from sm_payloads.formats import _csv_text, _textnum
from sm_payloads.formats import csv as c

C = _native.load("formats._cparse")
native = pytest.mark.skipif(C is None, reason="the C extension is not built (or SM_PAYLOADS_PURE_PYTHON)")

MODES = ("native", "twin", "careful")


@contextmanager
def mode(name: str, piece_records: int | None = None) -> Iterator[None]:
    """native: as installed; twin: the pure twins (text_fields_pure, the regular
    expression for number columns); careful: the text reader always declines (the
    careful reader alone, as before it existed). `piece_records`: pieces of at most that
    many records, and of about 4 bytes a record for the text reader's pieces."""
    with (
        mock.patch.object(c, "_CAREFUL_RECORDS", piece_records or c._CAREFUL_RECORDS),
        mock.patch.object(c, "_CAREFUL_BYTES", 4 * piece_records if piece_records else c._CAREFUL_BYTES),
    ):
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


def canon(x: Any) -> Any:
    """A value as a comparable structure: types, dtypes, shapes and bits."""
    if isinstance(x, smp.RecordBatch):
        return (
            "batch",
            x.n,
            {k: canon(v) for k, v in x.features.items()},
            {k: canon(v) for k, v in x.label.items()},
        )
    if isinstance(x, np.ndarray):
        if x.dtype.kind == "O":
            return ("O", x.shape, [canon(v) for v in x.tolist()])
        return (x.dtype.str, x.shape, x.tobytes())
    if isinstance(x, list):
        return ("list", [canon(v) for v in x])
    if isinstance(x, smp.DecodeError):
        return ("error", str(x), x.offset, x.line, x.record_index)
    if isinstance(x, smp.Ragged):
        return ("ragged", canon(np.asarray(x.values)), canon(np.asarray(x.offsets)))
    return (type(x).__name__, x)


def outcome(fn: Callable[[], Any]) -> Any:
    try:
        got = fn()
        if isinstance(got, list):
            return [canon(b) for b in got]
        return canon(got)
    except smp.DecodeError as e:
        return canon(e)


def same_everywhere(fn: Callable[[], Any], piece_records: int | None = None) -> Any:
    modes = MODES if C is not None else ("twin", "careful")
    got = {}
    for m in modes:
        with mode(m, piece_records):
            got[m] = outcome(fn)
    first = got[modes[0]]
    for m in modes[1:]:
        assert got[m] == first, f"{modes[0]} and {m} differ"
    return first


# --------------------------------------------------------------------------------------
# text_fields: exact fields and declines
# --------------------------------------------------------------------------------------

BODY = b'a,b\nc,d\r\n\n\r\n"x""y",\xc3\xa9\n"",""\n'


def fields_fns() -> list[Callable[..., Any]]:
    fns: list[Callable[..., Any]] = [_csv_text.text_fields_pure]
    if C is not None:
        fns.append(C.csv_text)
    return fns


@pytest.mark.parametrize("fn", fields_fns())
def test_text_fields_values(fn: Callable[..., Any]) -> None:
    assert fn(BODY, 0, len(BODY), 2, False) == ["a", "b", "c", "d", 'x"y', "é", "", ""]
    # a piece from the middle, the last line without its newline
    assert fn(b"zz\nq,r\ns,t", 3, 10, 2, False) == ["q", "r", "s", "t"]
    assert fn(b"a,,\n,,\n", 0, 7, 3, True) == ["a", "", "", "", "", ""]
    quoted = b'"a,b\xc3\xa9","""",x\n'
    assert fn(quoted, 0, len(quoted), 3, False) == ["a,bé", '"', "x"]
    across = b'"a\nb",c\r\n"d\re\r\n",""""\n'  # quoted fields across lines
    assert fn(across, 0, len(across), 2, False) == ["a\nb", "c", "d\re\r\n", '"']
    assert fn(b"\n\r\n\n", 0, 4, 2, False) == []
    assert fn(b"", 0, 0, 1, False) == []


@pytest.mark.parametrize("fn", fields_fns())
@pytest.mark.parametrize(
    ("body", "width", "ascii"),
    [
        (b"a,b\nc\n", 2, False),  # a record of another width
        (b"a,b\nc,d,e\n", 2, False),
        (b'a,b"c\n', 2, False),  # a quote inside an unquoted field
        (b'"a,b\n', 2, False),  # not closed
        (b'"a,b\nc,d\n', 2, False),
        (b'"a"b,c\n', 2, False),  # something after a closing quote
        (b'"a"\r,c\n', 2, False),
        (b"a\rb,c\n", 2, False),  # a '\r' not before '\n'
        (b"a,b\r", 2, False),  # a '\r' that ends the piece
        (b"a,b\n\r", 2, False),
        (b"a,b\r\r\n", 2, False),
        (b"a,\xff\n", 2, False),  # not UTF-8
        (b"a,\xc3\n", 2, False),  # a truncated sequence
        (b"a,\xed\xa0\x80\n", 2, False),  # an encoded surrogate
        (b"a,\xc3\xa9\n", 2, True),  # not us-ascii
    ],
)
def test_text_fields_declines(fn: Callable[..., Any], body: bytes, width: int, ascii: bool) -> None:
    assert fn(body, 0, len(body), width, ascii) is None


@pytest.mark.parametrize("fn", fields_fns())
def test_text_fields_bad_arguments(fn: Callable[..., Any]) -> None:
    for args in (
        (b"a", 0, 2, 1, False),
        (b"a", -1, 1, 1, False),
        (b"a", 0, 1, 0, False),
        (b"ab", 2, 1, 1, False),
    ):
        with pytest.raises(ValueError):
            fn(*args)


# --------------------------------------------------------------------------------------
# text_rows
# --------------------------------------------------------------------------------------


def test_text_rows_values_both_paths() -> None:
    fields = ["a", "b", "c", "d", "e", "f", "", "é", "g"]  # 3 records of 3 fields
    for m in ("native", "twin") if C is not None else ("twin",):
        with mode(m):
            out = _csv_text.text_rows(fields, 3, 0, 3)
            assert out.dtype == object and out.shape == (3,)
            assert [type(r) for r in out] == [list] * 3
            assert out.tolist() == [["a", "b", "c"], ["d", "e", "f"], ["", "é", "g"]]
            assert _csv_text.text_rows(fields, 3, 1, 3).tolist() == [["b", "c"], ["e", "f"], ["é", "g"]]
            assert _csv_text.text_rows(fields, 3, 2, 3).tolist() == [["c"], ["f"], ["g"]]
            assert _csv_text.text_rows(fields, 3, 0, 1).tolist() == [["a"], ["d"], [""]]
            assert _csv_text.text_rows(["x", "y"], 1, 0, 1).tolist() == [["x"], ["y"]]
            assert _csv_text.text_rows([], 2, 0, 2).shape == (0,)


@native
def test_text_rows_untracked_and_checked() -> None:
    assert C is not None
    out = np.empty(2, dtype=object)
    C.text_rows(["a", "b", "c", "d"], 2, 0, 2, out)
    assert out.tolist() == [["a", "b"], ["c", "d"]]
    assert not gc.is_tracked(out[0])  # lists of str only: never in a cycle
    for args in [
        (["a"], 1, 0, 1, np.empty(2, dtype=object)),  # not n * width fields
        (["a"], 1, 0, 1, np.empty(1, dtype=np.float64)),  # not an object array
        (["a", "b"], 2, 1, 1, np.empty(1, dtype=object)),  # start >= stop
        (["a", "b"], 2, 0, 3, np.empty(1, dtype=object)),  # stop > width
        (["a", "b"], 0, 0, 1, np.empty(1, dtype=object)),
    ]:
        with pytest.raises(ValueError):
            C.text_rows(*args)
    with pytest.raises(TypeError):
        C.text_rows([b"a"], 1, 0, 1, np.empty(1, dtype=object))  # str only


@native
def test_text_rows_fields_changed_by_a_finalizer() -> None:
    # Replacing a slot of `out` drops its old object, whose finalizer may change `fields`:
    # text_rows must notice instead of reading past the end of the list (it crashed).
    assert C is not None
    fields = ["a", "b", "c", "d", "e", "f"]

    class Clears:
        def __del__(self) -> None:
            fields.clear()

    class Swaps:
        def __del__(self) -> None:
            fields[3] = 1  # type: ignore[call-overload]

    out = np.empty(3, dtype=object)
    out[0] = Clears()
    with pytest.raises(RuntimeError, match="the fields changed while the rows were made"):
        C.text_rows(fields, 2, 0, 2, out)
    assert fields == []
    assert out[0] == ["a", "b"]
    assert out[1] is None
    fields = ["a", "b", "c", "d", "e", "f"]
    out = np.empty(3, dtype=object)
    out[0] = Swaps()
    with pytest.raises(RuntimeError, match="the fields changed while the rows were made"):
        C.text_rows(fields, 2, 0, 2, out)
    assert out[0] == ["a", "b"]
    assert out[1] is None


# --------------------------------------------------------------------------------------
# Batches: exact values and errors, every path
# --------------------------------------------------------------------------------------


def obj(rows: list[list[str]]) -> np.ndarray:
    out = np.empty(len(rows), dtype=object)
    out[:] = rows
    return out


def test_text_rows_batch() -> None:
    got = same_everywhere(lambda: c.decode(b"a,b,c\nd,e,f\n"))
    assert got == canon(smp.RecordBatch({"values": obj([["a", "b", "c"], ["d", "e", "f"]])}))
    quoted = same_everywhere(lambda: c.decode(b'"a,b","c""d"\r\n\n"",e\n'))
    assert quoted == canon(smp.RecordBatch({"values": obj([["a,b", 'c"d'], ["", "e"]])}))


def test_text_label_and_numbers() -> None:
    got = same_everywhere(lambda: c.decode(b"cat,1.5,2\ndog,-0.25, 3 \nemu,,nan\n", label_size=1))
    feats = np.array([[1.5, 2.0], [-0.25, 3.0], [float("nan"), float("nan")]])
    assert got == canon(smp.RecordBatch({"values": feats}, {"values": np.array(["cat", "dog", "emu"])}))
    # a numeric dtype: every field must be a number, the label too
    e = same_everywhere(lambda: c.decode(b"cat,0.1\ndog,16777217\n", label_size=1, dtype="float32"))
    assert e[2:] == (0, 1, 0) and "column 1: 'cat' is not a number (dtype float32)" in e[1]


def test_one_text_feature_and_dtype_str() -> None:
    body = b"abc\nd\n\xc3\xa9\n"
    got = same_everywhere(lambda: c.decode(body))
    assert got == canon(smp.RecordBatch({"values": obj([["abc"], ["d"], ["é"]])}))
    strs = same_everywhere(lambda: c.decode(b"1.5,2\n-3,nan\n", dtype=str))
    assert strs == canon(smp.RecordBatch({"values": obj([["1.5", "2"], ["-3", "nan"]])}))


def test_fuzz_reproducer() -> None:
    """CI's fuzz finding: numbers, then text ('92..1.21') in every tenth line."""
    unit = b"1\n92.1\n92.1\n92.16811\n92.1\n2.16811\n92.1\n94.1\n9612.16811\n92..1.2"
    body = unit * 300
    got = same_everywhere(lambda: smp.decode_request(body, "text/csv"))
    lines = body.decode().split("\n")
    assert got == canon(smp.RecordBatch({"values": obj([[t] for t in lines])}))


def error_text(fn: Callable[[], Any]) -> str:
    e = same_everywhere(fn)
    assert e[0] == "error"
    text: str = e[1]
    return text


def test_errors_where_the_careful_reader_puts_them() -> None:
    cases: list[tuple[Callable[[], Any], str]] = [
        (
            lambda: c.decode(b"a,b\nc,d,e\n"),
            "row has 3 fields, expected 2: column 3 is one too many at line 2 (byte 8, record 1)",
        ),
        (
            lambda: c.decode(b"a,b\nc,\xff\n"),
            "bytes that are not utf-8 text (b'\\xff'...) at line 2 (byte 6, record 1)",
        ),
        (
            lambda: c.decode(b"x,y\n\xc3\xa9,b\n", charset="us-ascii"),
            "bytes that are not ascii text (b'\\xc3\\xa9'...) at line 2 (byte 4, record 1)",
        ),
        (
            lambda: c.decode(b"1,0.1\n2,x\n", dtype="float64"),
            "column 2: 'x' is not a number (dtype float64) at line 2 (byte 8, record 1)",
        ),
        (
            lambda: c.decode(b"a,1\nb,1e400\n", label_size=1),
            "column 2: '1e400' is out of the float64 range at line 2 (byte 6, record 1)",
        ),
        (
            lambda: c.decode(b"1,2\n3,1e39\n", dtype="float32"),
            "column 2: '1e39' is out of the float32 range (dtype=float32) at line 2 (byte 6, record 1)",
        ),
        (
            lambda: c.decode(b"1,2\n3,4.5\n", dtype="int32"),
            "column 2: 4.5 is not an int32 at line 2 (byte 6, record 1)",
        ),
        (
            lambda: c.decode(b"cat,0.1\n", label_size=1, dtype="float32"),
            "column 1: 'cat' is not a number (dtype float32) at line 1 (byte 0, record 0)",
        ),
        (
            lambda: c.decode(b"\n\na,b\n", label_size=3),
            "label_size=3 but rows have 2 field(s) at line 3 (byte 2, record 0)",
        ),
    ]
    for fn, want in cases:
        assert error_text(fn) == "text/csv: " + want


def test_number_blocks_across_pieces() -> None:
    """A block read as numbers in the first pieces and text in a later one: the earlier
    pieces are read again as text (`before`), by the text reader where it read them."""
    body = b"1,a\n2,b\n3,c\nx,d\n"
    got = same_everywhere(lambda: c.decode(body, label_size=1), piece_records=1)
    want = smp.RecordBatch(
        {"values": obj([["a"], ["b"], ["c"], ["d"]])}, {"values": np.array(["1", "2", "3", "x"])}
    )
    assert got == canon(want)


@native
def test_native_shares_repeated_short_texts() -> None:
    """The C reader gives a short ascii text that repeats in a piece one str object (a
    column of categories costs one str per category); the values are those of the twin,
    also where many different texts meet in its table (fields of 1 to 17 characters, over
    a small alphabet: repeats, and texts that share a slot)."""
    assert C is not None
    batch = c.decode(b"cat,dog\ncat,dog\n")
    rows = batch.features["values"]
    assert rows.tolist() == [["cat", "dog"], ["cat", "dog"]]
    assert rows[0][0] is rows[1][0] and rows[0][1] is rows[1][1]
    rng = random.Random(7)
    fields = ["".join(rng.choice('ab"c,') for _ in range(rng.randint(1, 17))) for _ in range(6000)]
    body = "\n".join(",".join(_csv_text.quote_field(f) for f in fields[i : i + 3]) for i in range(0, 6000, 3))
    data = body.encode()
    want = _csv_text.text_fields_pure(data, 0, len(data), 3, True)
    assert want == fields
    assert C.csv_text(data, 0, len(data), 3, True) == want
    assert C.csv_text(data, 0, len(data), 3, False) == want


@native
def test_native_lists_untracked() -> None:
    batch = c.decode(b"a,b\nc,d\n")
    assert not gc.is_tracked(batch.features["values"][0])


# --------------------------------------------------------------------------------------
# Hypothesis: the three paths agree
# --------------------------------------------------------------------------------------

TOKENS = [
    b"a",
    b"bc",
    b"\xc3\xa9t\xc3\xa9",
    b"",
    b"1.5",
    b"-2",
    b" 3 ",
    b"nan",
    b"-inf",
    b"1e400",
    b"0.1",
    b"7",
    b"16777217",
    b"3.4028235e38",
    b"2147483648",
    b"a b",
    b'x"y',
    b"\xff",
    b"\xc3",
    b"\r",
    b"a\rb",
    b"1,5",
    b"\n",
    b"\t",
]


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    width = draw(st.integers(1, 4))
    n = draw(st.integers(0, 7))
    numeric_cols = draw(st.sets(st.integers(0, width - 1)))
    rows = []
    for _ in range(n):
        k = width if draw(st.integers(0, 9)) else draw(st.integers(1, 5))
        fields = []
        for j in range(k):
            if j in numeric_cols and draw(st.booleans()):
                tok = draw(st.sampled_from([b"1", b"-0.5", b"", b"2e3", b"nan", b" 4"]))
            else:
                tok = draw(st.sampled_from(TOKENS))
            if draw(st.integers(0, 5)) == 0:
                tok = b'"' + tok.replace(b'"', b'""') + b'"'
            fields.append(tok)
        rows.append(b",".join(fields))
        if draw(st.integers(0, 6)) == 0:
            rows.append(draw(st.sampled_from([b"", b"\r"])))
    sep = draw(st.sampled_from([b"\n", b"\r\n"]))
    body = sep.join(rows)
    return body + draw(st.sampled_from([b"", b"\n", b"\r\n", b"\r"]))


@given(
    bodies(),
    st.integers(0, 2),
    st.sampled_from([None, str, "float32", "float64", "int32"]),
    st.sampled_from(["utf-8", "us-ascii"]),
    st.sampled_from([None, 1, 2]),
)
@example(b"1,a\n2,b\nx,c\n", 1, None, "utf-8", 1)
@example(b'"a"\r\nb\r', 0, None, "utf-8", None)
def test_requests_agree(body: bytes, label_size: int, dtype: Any, charset: str, pieces: int | None) -> None:
    same_everywhere(lambda: c.decode(body, label_size=label_size, dtype=dtype, charset=charset), pieces)
    same_everywhere(
        lambda: list(c.iter_decode(body, batch_size=2, label_size=label_size, dtype=dtype, charset=charset)),
        pieces,
    )


@given(bodies(), st.sampled_from([None, str, "float32"]), st.booleans(), st.sampled_from([None, 1, 2]))
@example(b'"",""\n\n"1","\n"\n', None, False, None)  # a line end in a field of a number column
def test_responses_agree(body: bytes, dtype: Any, keyed: bool, pieces: int | None) -> None:
    nl = body.find(b"\n")
    width = body[: len(body) if nl < 0 else nl].count(b",") + 1
    keys = [f"k{j}" for j in range(width)] if keyed else None
    same_everywhere(lambda: c.decode_response(body, keys=keys, dtype=dtype), pieces)


@given(bodies(), st.integers(1, 4), st.booleans())
@example(b'"a""b",c\r\n\r\nd,""\n', 2, False)
def test_text_fields_twin_and_oracle(body: bytes, width: int, ascii: bool) -> None:
    """The C kernel equals its twin; where they answer, the careful reader reads the same
    fields (`tokenize`, `field_text`) without a problem."""
    got = _csv_text.text_fields_pure(body, 0, len(body), width, ascii)
    if C is not None:
        assert C.csv_text(body, 0, len(body), width, ascii) == got
    if got is None:
        return
    recs, _ = _csv_text.tokenize(body, 0, len(body), 1, 0, 0)
    cs = "ascii" if ascii else "utf-8"
    rows = [[_csv_text.field_text(f, cs, 0, r.line, 0) for f in r.fields] for r in recs]
    assert got == [f for r in rows for f in r]
    assert all(len(r) == width for r in rows)


NUMBERISH = st.text(alphabet="0123456789.eE+-naifINFty _x\t", max_size=8) | st.sampled_from(
    ["nan", "-Inf", "+INFINITY", "1e400", "-1e-400", "5.", "-.5", "0.1", "", " 7 ", "infinit"]
)


@given(st.lists(NUMBERISH, min_size=1, max_size=6))
@example(["1", " 2"])  # a blank: the regular expression, not the C reader
@example(["1", ""])  # an empty field: NaN
def test_column_numbers_as_the_careful_reader(col: list[str]) -> None:
    """A column of a text piece read as numbers: the C number reader, the regular
    expression (twin) and the careful reader's field grammar (`_textnum.parse_number`,
    empty: NaN) give the same bits, or all say it is not a number column."""
    want: list[float] | None = []
    for f in col:
        v = _textnum.parse_number(f.encode()) if f else float("nan")
        if v is None:
            want = None
            break
        assert want is not None
        want.append(v)
    fields = [x for f in col for x in ("t", f)]  # a text column before it
    for m in ("native", "twin") if C is not None else ("twin",):
        with mode(m):
            got = c._column_numbers(fields, 2, range(1, 2))
        if want is None:
            assert got is None
        else:
            assert got is not None and got.shape == (len(col), 1)
            assert got[:, 0].tobytes() == np.array(want, dtype=np.float64).tobytes()


# --------------------------------------------------------------------------------------
# One-field text bodies (issue #20): shared lists, shared short texts, wide pieces
# --------------------------------------------------------------------------------------


def one_field(body: bytes, **options: Any) -> np.ndarray:
    rows: np.ndarray = c.decode(body, **options).features["values"]
    return rows


@pytest.mark.parametrize("name", MODES)
@pytest.mark.parametrize("piece_records", [None, 1])
def test_one_character_records_share_one_list_per_character(name: str, piece_records: int | None) -> None:
    """A record of one field whose text is one ASCII character (two bytes) takes the one
    list of that character in its batch, and records of empty texts the one list of
    empty texts; any other text, and any row of two fields not both empty, a list of its
    own. Batches never share lists."""
    if name == "native" and C is None:
        pytest.skip("the C extension is not built")
    body = b'a\nb\na\n\xc3\xa9\nab\na\r\n"a"\n\n""\nb\n""\n'
    with mode(name, piece_records):
        rows = one_field(body)
        again = one_field(body)
        pairs = one_field(b"a,b\na,b\n")
        labelled = c.decode(b"x,a\ny,a\n", label_size=1, dtype=str)
    assert rows.tolist() == [["a"], ["b"], ["a"], ["é"], ["ab"], ["a"], ["a"], [""], ["b"], [""]]
    assert [type(r) for r in rows] == [list] * 10
    assert rows[0] is rows[2] is rows[5] is rows[6]
    assert rows[1] is rows[8] and rows[1] is not rows[0]
    assert rows[7] is rows[9]
    ids = {id(r) for r in rows}
    assert len(ids) == 5  # a, b, é, ab, "" (é and ab each their own)
    assert again[0] == rows[0] and again[0] is not rows[0]
    assert pairs.tolist() == [["a", "b"], ["a", "b"]] and pairs[0] is not pairs[1]
    assert labelled.label["values"].tolist() == ["x", "y"]
    feats = labelled.features["values"]
    assert feats.tolist() == [["a"], ["a"]] and feats[0] is feats[1]


@pytest.mark.parametrize("name", ["native", "twin"])
def test_text_rows_shared_slots(name: str) -> None:
    if name == "native" and C is None:
        pytest.skip("the C extension is not built")
    with mode(name):
        shared: list[list[str] | None] = [None] * _csv_text.SHARED_ROWS
        shared[ord("z")] = ["y"]  # a slot that is not [z]: replaced
        shared[ord("b")] = ["b", "x"]  # nor this one
        out = _csv_text.text_rows(["a", "b", "a", "ab", "é", "z", "\x7f", "\x80"], 1, 0, 1, None, shared)
        assert out.tolist() == [["a"], ["b"], ["a"], ["ab"], ["é"], ["z"], ["\x7f"], ["\x80"]]
        assert out[0] is out[2] is shared[ord("a")]
        assert out[1] is shared[ord("b")] and shared[ord("b")] == ["b"]
        assert out[5] is shared[ord("z")] and shared[ord("z")] == ["z"]
        assert out[6] is shared[127]
        assert all(out[i] is not out[j] for i, j in [(3, 4), (4, 7), (3, 7)])
        # the next call takes the same lists
        more = _csv_text.text_rows(["a", "b"], 1, 0, 1, np.empty(2, dtype=object), shared)
        assert more[0] is out[0] and more[1] is out[1]
        # rows of two fields never share
        two = _csv_text.text_rows(["a", "a", "a", "a"], 2, 0, 2, None, shared)
        assert two.tolist() == [["a", "a"], ["a", "a"]] and two[0] is not two[1]
        with pytest.raises(ValueError, match="shared must be a list of 129 slots"):
            _csv_text.text_rows(["a"], 1, 0, 1, None, [None] * 5)
        with pytest.raises(ValueError, match="out must be an object array"):
            _csv_text.text_rows(["a"], 1, 0, 1, np.empty(2, dtype=object), None)


@native
def test_native_text_rows_shared_argument() -> None:
    assert C is not None
    out = np.empty(1, dtype=object)
    bad: Any
    for bad in ([None] * 128, (None,) * 129, {}):
        with pytest.raises(ValueError, match="shared must be None or a list of 129 slots"):
            C.text_rows(["a"], 1, 0, 1, out, bad)
    shared: list[Any] = [None] * 129
    C.text_rows(["a"], 1, 0, 1, out, shared)
    assert out[0] is shared[97] and out[0] == ["a"] and not gc.is_tracked(out[0])
    assert shared[:97] == [None] * 97 and shared[98:] == [None] * 31  # made on first use only


@pytest.mark.parametrize("name", ["native", "twin"])
def test_text_cache_shares_short_texts_across_pieces(name: str) -> None:
    """The cache of a region: a short text of one piece is the same str in the next; the
    values are those read without it."""
    if name == "native" and C is None:
        pytest.skip("the C extension is not built")
    data = "cat\ndog\nété\n€\ncat\nété\n€\nx\n".encode()
    cut = data.index(b"cat", 1)
    with mode(name):
        cache = _csv_text.text_cache(len(data))
        assert isinstance(cache, list if name == "native" else dict)
        first = _csv_text.text_fields(data, 0, cut, 1, False, cache)
        second = _csv_text.text_fields(data, cut, len(data), 1, False, cache)
        alone = _csv_text.text_fields(data, cut, len(data), 1, False)
    assert first == ["cat", "dog", "été", "€"]
    assert second == alone == ["cat", "été", "€", "x"]
    assert second is not None and first is not None
    assert second[0] is first[0] and second[1] is first[2] and second[2] is first[3]


@native
def test_native_text_cache_slots() -> None:
    assert C is not None
    assert len(_csv_text.text_cache(100)) == 1024
    assert len(_csv_text.text_cache(6 << 20)) == 65536
    data = b"ab\ncd\nab\n"
    for bad in ([None] * 3, [None] * 0):
        with pytest.raises(ValueError, match="a cache that is not a list of a power of two slots"):
            C.csv_text(data, 0, len(data), 1, True, bad)
    odd: list[Any] = [7] * 4  # slots that hold something else are left as they are
    assert C.csv_text(data, 0, len(data), 1, True, odd) == ["ab", "cd", "ab"]
    assert odd == [7] * 4
    cache: list[Any] = [None] * 4
    got = C.csv_text(data, 0, len(data), 1, True, cache)
    assert got == ["ab", "cd", "ab"]
    assert {s for s in cache if s is not None} <= {"ab", "cd"}
    assert any(s is not None for s in cache)


def test_wide_spans() -> None:
    """Pieces for the text reader: quote-free windows are cut at their last line end,
    whatever their number of records; a window with a quote at its last record end
    (`record_ends`), whatever their number too; a record longer than the window alone."""
    with mock.patch.object(c, "_CAREFUL_BYTES", 8), mock.patch.object(c, "_CAREFUL_RECORDS", 1):
        assert list(c._careful_spans(b"ab\ncd\nef\ngh\n", 0, 12, True)) == [(0, 6), (6, 12)]
        assert list(c._careful_spans(b"ab\ncd\nef\ngh\n", 0, 12)) == [(0, 3), (3, 6), (6, 9), (9, 12)]
        assert list(c._careful_spans(b'"a"\ncd\nef\n', 0, 10, True)) == [(0, 7), (7, 10)]
        assert list(c._careful_spans(b'"a"\ncd\nef\n', 0, 10)) == [(0, 4), (4, 7), (7, 10)]
        assert list(c._careful_spans(b'"a\nb"\ncd\nef\n', 0, 12, True)) == [(0, 6), (6, 12)]
        assert list(c._careful_spans(b"abcdefghij\nk\n", 0, 13, True)) == [(0, 11), (11, 13)]
        assert list(c._careful_spans(b"\n\nab\ncd", 0, 7, True)) == [(0, 7)]


def test_declined_wide_pieces_are_tokenized_in_bounded_pieces() -> None:
    """A stray '\\r' in every record: the text reader declines, and the careful reader
    tokenizes at most `_CAREFUL_RECORDS` records at a time."""
    body = b"a\rb\n" * 10_000
    sizes: list[int] = []
    real = _csv_text.tokenize

    def counting(*args: Any) -> Any:
        got = real(*args)
        sizes.append(len(got[0]))
        return got

    with mock.patch.object(c, "tokenize", counting):
        rows = one_field(body)
    assert rows.tolist() == [["a\rb"]] * 10_000
    assert sum(sizes) >= 10_000 and max(sizes) <= c._CAREFUL_RECORDS


def test_blank_lines_leave_no_slots() -> None:
    body = b"\r\na\n\n\nbc\n\r\n" + b"\n" * 100
    got = same_everywhere(lambda: c.decode(body))
    assert got == canon(smp.RecordBatch({"values": obj([["a"], ["bc"]])}))
    quoted = same_everywhere(lambda: c.decode(b'"x\ny\nz"\nw\n'))
    assert quoted == canon(smp.RecordBatch({"values": obj([["x\ny\nz"], ["w"]])}))


def test_column_numbers_over_many_lines() -> None:
    """The twin matches its expression 512 lines at a time: a column of 1,300 numbers, and
    one whose line 1,100 is not a number."""
    col = [str(i * 0.25) for i in range(1300)]
    fields = [x for f in col for x in ("t", f)]
    for m in ("native", "twin") if C is not None else ("twin",):
        with mode(m):
            got = c._column_numbers(fields, 2, range(1, 2))
            assert got is not None
            assert got[:, 0].tolist() == [i * 0.25 for i in range(1300)]
            bad = list(fields)
            bad[2 * 1100 + 1] = "1_0"
            assert c._column_numbers(bad, 2, range(1, 2)) is None


SHORT = ["a", "b", "z", "ab", "é", "€", "", "a,b", 'q"', "x\ny", "abc", "\x7f"]


@given(st.lists(st.sampled_from(SHORT), min_size=1, max_size=40), st.sampled_from([None, 1, 3]))
@example(["a", "a", "b", "a"], 1)
def test_one_field_bodies_agree_and_share_by_rule(texts: list[str], piece_records: int | None) -> None:
    """One-field text bodies: every path reads the texts (the oracle: what was written),
    and two records hold the same list object exactly when their text is the same one
    ASCII character, or both are empty."""
    body = "\n".join(_csv_text.quote_field(t, alone=True) for t in texts).encode() + b"\n"
    want = [[t] for t in texts]
    for m in MODES if C is not None else ("twin", "careful"):
        with mode(m, piece_records):
            rows = one_field(body, dtype=str)
        assert rows.tolist() == want
        for i in range(len(texts)):
            for j in range(i + 1, len(texts)):
                same = texts[i] == texts[j] and len(texts[i]) <= 1 and texts[i].isascii()
                assert (rows[i] is rows[j]) == same
