"""text/csv on the fast path (issue #23): CSV as pandas, numpy and the csv module write it.

The fast reader (`_textnum.parse_numeric_rows`: ``_cparse.csv_read`` or its numpy twin
`_textnum.read_rows`) reads quoted numbers, empty fields (missing values) and blank lines,
float32 directly; a line it cannot read goes alone to the careful reader. These tests pin
that: values bit for bit against the values written (or an exact Fraction oracle), the C
kernel against its twin, errors where the careful reader always put them, and how many
lines reach the careful reader.
"""

from __future__ import annotations

import csv as pycsv
import io
import math
from fractions import Fraction
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import sm_payloads as smp
from sm_payloads import _native
from sm_payloads.formats import _textnum
from sm_payloads.formats import csv as c

C = _native.load("formats._cparse")
native = pytest.mark.skipif(C is None, reason="the C extension is not built (or SM_PAYLOADS_PURE_PYTHON)")

QNAN64 = np.array([float("nan")]).view(np.uint64)[0]


def bits(a: np.ndarray) -> bytes:
    return a.dtype.str.encode() + repr(a.shape).encode() + a.tobytes()


def canonical(x: np.ndarray) -> np.ndarray:
    """The values text carries: every NaN the default quiet NaN (text has one NaN)."""
    out = x.copy()
    out[np.isnan(out)] = np.nan
    return out


def both(body: bytes, **kw: Any) -> tuple[smp.RecordBatch, smp.RecordBatch]:
    """decode(body, **kw) with the loaded kernels, then with the numpy ones: both results."""
    fast = c.decode(body, **kw)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(_textnum, "_C", None)
        pure = c.decode(body, **kw)
    return fast, pure


def careful_decode(data: bytes, **kw: Any) -> smp.RecordBatch:
    """decode through the careful reader alone (the fast path switched off)."""
    with pytest.MonkeyPatch.context() as m:
        m.setattr(c._Region, "fast", lambda self, data, lo, hi: None)
        return c.decode(data, **kw)


class CountCareful:
    """Counts the careful tokenizer's calls in `sm_payloads.formats.csv` and their spans."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.spans: list[tuple[int, int]] = []
        original = c.tokenize

        def counted(data: Any, lo: int, hi: int, *args: Any) -> Any:
            self.spans.append((lo, hi))
            return original(data, lo, hi, *args)

        monkeypatch.setattr(c, "tokenize", counted)


# --------------------------------------------------------------------------------------
# Writers
# --------------------------------------------------------------------------------------

F64 = st.floats(width=64)
F32 = st.floats(width=32)


@st.composite
def matrices(
    draw: st.DrawFn, elements: st.SearchStrategy[float] = F64, dtype: Any = np.float64
) -> np.ndarray:
    rows = draw(st.integers(1, 8))
    cols = draw(st.integers(1, 5))
    vals = draw(st.lists(elements, min_size=rows * cols, max_size=rows * cols))
    return np.array(vals, dtype=dtype).reshape(rows, cols)


QUOTINGS = {
    "QUOTE_MINIMAL": pycsv.QUOTE_MINIMAL,
    "QUOTE_ALL": pycsv.QUOTE_ALL,
    "QUOTE_NONNUMERIC": pycsv.QUOTE_NONNUMERIC,
    "QUOTE_NONE": pycsv.QUOTE_NONE,
}


def csv_writer(X: np.ndarray, quoting: int) -> bytes:
    out = io.StringIO()
    pycsv.writer(out, quoting=quoting).writerows(X.tolist())
    return out.getvalue().encode()


def pandas_csv(X: np.ndarray, **kw: Any) -> bytes:
    return pd.DataFrame(X).to_csv(header=False, index=False, **kw).encode()


def savetxt(X: np.ndarray, fmt: str, newline: str = "\n") -> bytes:
    out = io.BytesIO()
    np.savetxt(out, X, fmt=fmt, delimiter=",", newline=newline)
    return out.getvalue()


def assert_reads_back(body: bytes, X: np.ndarray, **kw: Any) -> None:
    """Both kernels decode `body` to exactly the values of X (NaN as the default NaN)."""
    fast, pure = both(body, **kw)
    want = bits(canonical(X))
    assert bits(fast.features["values"]) == want
    assert bits(pure.features["values"]) == want


@pytest.mark.parametrize("quoting", list(QUOTINGS))
@given(X=matrices())
@example(X=np.array([[-0.0, np.nan, np.inf], [-np.inf, 5e-324, 1.7976931348623157e308]]))
def test_csv_writer_every_quoting(quoting: str, X: np.ndarray) -> None:
    assert_reads_back(csv_writer(X, QUOTINGS[quoting]), X)


@given(X=matrices())
@example(X=np.array([[-0.0, np.nan], [0.1, 1e-310]]))
def test_pandas_float64_and_quote_all(X: np.ndarray) -> None:
    # pandas writes NaN as an empty field: "" once quoted; both are missing values
    assert_reads_back(pandas_csv(X), X)
    assert_reads_back(pandas_csv(X, quoting=pycsv.QUOTE_ALL), X)


@given(X=matrices(F32, np.float32))
@example(X=np.array([[-0.0, np.nan, 1e-45, 3.4028235e38]], np.float32))
def test_pandas_float32_read_as_float32(X: np.ndarray) -> None:
    assert_reads_back(pandas_csv(X), X, dtype="float32")
    assert_reads_back(pandas_csv(X, quoting=pycsv.QUOTE_ALL), X, dtype="float32")


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
@pytest.mark.parametrize("fmt", ["%.17g", "%.18e"])
@given(X=matrices())
def test_numpy_savetxt(fmt: str, newline: str, X: np.ndarray) -> None:
    assert_reads_back(savetxt(X, fmt, newline), X)


@given(X=matrices())
def test_quoted_equals_unquoted(X: np.ndarray) -> None:
    plain = c.decode(csv_writer(X, pycsv.QUOTE_MINIMAL))
    for body in (csv_writer(X, pycsv.QUOTE_ALL), pandas_csv(X, quoting=pycsv.QUOTE_ALL)):
        for got in both(body):
            assert bits(got.features["values"]) == bits(plain.features["values"])


def test_quoted_label_column() -> None:
    b = c.decode(b'"1","0.5","0.25"\r\n"0", 1.5 ,"2.5"\r\n', label_size=1)
    assert b.label["values"].tolist() == [1.0, 0.0]
    assert b.features["values"].tolist() == [[0.5, 0.25], [1.5, 2.5]]


# --------------------------------------------------------------------------------------
# float32, rounded once
# --------------------------------------------------------------------------------------


def f32_oracle(text: str) -> np.float32:
    """The float32 nearest to the exact decimal `text` (ties to even), by Fractions."""
    x = Fraction(text)
    with np.errstate(over="ignore"):  # near FLT_MAX a neighbour is inf, a candidate dropped below
        guess = np.float32(float(x))
        cands = [np.nextafter(guess, np.float32(-np.inf)), guess, np.nextafter(guess, np.float32(np.inf))]
    cands = [v for v in cands if np.isfinite(v)]

    def key(v: np.float32) -> tuple[Fraction, int]:
        return abs(Fraction(float(v)) - x), int(np.array([v]).view(np.uint32)[0]) & 1

    best = min(cands, key=key)
    if best == 0 and text.lstrip().startswith("-"):
        best = np.float32(-0.0)
    return best


_BIG32 = float(np.float32(3e38))


def decimal_text(num: int, m: int) -> str:
    """The text of num / 10**m with m digits after the point."""
    digits = str(abs(num)).rjust(m + 1, "0")
    return ("-" if num < 0 else "") + digits[: len(digits) - m] + "." + digits[len(digits) - m :]


@st.composite
def near_float32_halfway(draw: st.DrawFn) -> str:
    """Text on, or one unit of its last digit below or above, the midpoint of two
    adjacent float32 values (where a float64 in between rounds the wrong way)."""
    finite = st.floats(width=32, allow_nan=False, allow_infinity=False, min_value=-_BIG32, max_value=_BIG32)
    a = np.float32(draw(finite))
    b = np.nextafter(a, np.float32(np.inf))
    mid = (Fraction(float(a)) + Fraction(float(b))) / 2
    m = mid.denominator.bit_length() - 1 + draw(st.integers(0, 6))  # mid * 10**m is an integer
    scaled = mid * 10**m
    assert scaled.denominator == 1
    return decimal_text(scaled.numerator + draw(st.sampled_from([0, 1, -1])), m)


@given(
    st.lists(st.one_of(near_float32_halfway(), F64.filter(math.isfinite).map(repr)), min_size=1, max_size=12)
)
@example(["1.00000005960464477550", "1.0000000596046447753906250", "0.1", "-0.0", "1e-46", "7e-46"])
def test_float32_rounded_once(texts: list[str]) -> None:
    texts = [t for t in texts if abs(Fraction(t)) < Fraction(3 * 10**38)]
    if not texts:
        return
    want = np.array([f32_oracle(t) for t in texts], np.float32).reshape(-1, 1)
    for quoted in (False, True):
        body = "\n".join(f'"{t}"' if quoted else t for t in texts).encode()
        for got in both(body, dtype="float32"):
            assert bits(got.features["values"]) == bits(want)


@given(st.lists(near_float32_halfway(), min_size=1, max_size=6))
@example(["1.00000005960464477550", "1.0000000596046447753906250"])
def test_float32_on_the_careful_path_is_rounded_once(texts: list[str]) -> None:
    want = np.array([f32_oracle(t) for t in texts], np.float32).reshape(1, -1)
    body = ",".join(texts).encode() + b"\n"
    got = careful_decode(body, dtype="float32").features["values"]
    assert bits(got) == bits(want)


# --------------------------------------------------------------------------------------
# Rows the fast reader cannot read
# --------------------------------------------------------------------------------------


def test_text_in_one_row_of_a_million_names_it() -> None:
    body = bytearray(b"1.5,2.5\n" * 1_000_000)
    body[500_000 * 8 + 4 : 500_000 * 8 + 7] = b"x  "
    with pytest.raises(smp.DecodeError) as info:
        c.decode(bytes(body), dtype="float64")
    e = info.value
    assert (e.reason, e.line, e.offset, e.record_index) == (
        "column 2: 'x  ' is not a number (dtype float64)",
        500_001,
        4_000_004,
        500_000,
    )


def test_text_in_one_row_makes_the_block_text(monkeypatch: pytest.MonkeyPatch) -> None:
    body = b"1,2\n" * 5_000 + b'3,"a b"\n' + b"4,5\n" * 5_000
    b = c.decode(body, label_size=1)
    assert b.label["values"].tolist() == [1.0] * 5_000 + [3.0] + [4.0] * 5_000
    feats = b.features["values"]
    assert feats.dtype == object and feats[5_000] == ["a b"] and feats[0] == ["2"] and feats[-1] == ["5"]


def test_bad_record_errors_are_the_careful_readers() -> None:
    cases = [
        (b'1,2\n"3",4\n5,"6\n', "unterminated quoted field (no closing '\"')", 3, 12, 2),
        (
            b'1,2\n"3" ,4\n',
            "unexpected ' ' after a closing quote (expected ',' or the end of the line)",
            2,
            7,
            1,
        ),
        (b'1,2\n 3,"4"\n5,6,7\n', "row has 3 fields, expected 2: column 3 is one too many", 3, 15, 2),
        (b'1,2\n3,"4""5"\n', "column 2: '4\"5' is not a number (dtype float64)", 2, 6, 1),
        (b"1,2\n3, \n", "column 2: ' ' is not a number (dtype float64)", 2, 6, 1),
    ]
    for body, reason, line, offset, record in cases:
        with pytest.raises(smp.DecodeError) as info:
            c.decode(body, dtype="float64")
        e = info.value
        assert (e.reason, e.line, e.offset, e.record_index) == (reason, line, offset, record), body


def test_label_size_error_names_the_first_record_after_blank_lines() -> None:
    with pytest.raises(smp.DecodeError) as info:
        c.decode(b'\r\n\n"1",2\n', label_size=3)
    e = info.value
    assert (e.reason, e.line, e.offset, e.record_index) == ("label_size=3 but rows have 2 field(s)", 3, 3, 0)


def test_quoted_number_with_blanks_crlf_and_missing_values_stay_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = CountCareful(monkeypatch)
    body = b"1,2,3\r\n" * 3000 + b'" 4.5\t",,""\r\n\r\n' + b'7,"8",9\r\n' * 3000 + b"1e3,-inf,NaN"
    got = c.decode(body).features["values"]
    assert seen.spans == []
    assert got.shape == (6002, 3)
    assert got[3000].tobytes() == np.array([4.5, np.nan, np.nan]).tobytes()
    assert got[:3000].tolist() == [[1.0, 2.0, 3.0]] * 3000
    assert got[3001:6001].tolist() == [[7.0, 8.0, 9.0]] * 3000
    assert got[6001, 0] == 1000.0 and got[6001, 1] == -np.inf and np.isnan(got[6001, 2])


@pytest.mark.parametrize("last", [b"5,6\r", b'"5","6"\r', b"\r", b'5,"6"'])
def test_last_line_without_newline(last: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    body = b"1,2\n" * 9_999 + last
    want = [[1.0, 2.0]] * 9_999 + ([[5.0, 6.0]] if last != b"\r" else [])
    for got in both(body):
        assert got.features["values"].tolist() == want
    seen = CountCareful(monkeypatch)
    c.decode(body)
    # a lone '\r' before the end is the careful reader's, for that line only
    assert seen.spans == ([(len(body) - len(last), len(body))] if last.endswith(b"\r") else [])


def test_fallback_is_per_row(monkeypatch: pytest.MonkeyPatch) -> None:
    """One line of 10,000 the kernel stops at goes alone to the careful reader, and the
    kernel reads on after it (here a stand-in careful reader that reads 'x' as 7)."""
    lines = [f"{i},{i}.5\n".encode() for i in range(10_000)]
    lines[4321] = b"4321,x\n"
    body = b"".join(lines)
    calls: list[bytes] = []

    def careful(data: bytes | bytearray, start: int, stop: int) -> np.ndarray | None:
        calls.append(bytes(data[start:stop]))
        return np.array([[4321.0, 7.0]])

    for parallel in (False, True):
        for kernel in ("C", "numpy"):
            if kernel == "C" and C is None:
                continue
            calls.clear()
            with pytest.MonkeyPatch.context() as m:
                if kernel == "numpy":
                    m.setattr(_textnum, "_C", None)
                if parallel:
                    m.setattr(_textnum, "PARALLEL_MIN", 1024)
                    m.setattr(_textnum, "CHUNK", 4096)
                got = _textnum.parse_numeric_rows(body, 0, len(body), 2, np.dtype(np.float64), careful)
            assert calls == [b"4321,x\n"]
            assert got is not None
            want = np.array([[i, i + 0.5] for i in range(10_000)])
            want[4321, 1] = 7.0
            assert bits(got) == bits(want)


def test_careful_reader_declining_gives_none() -> None:
    body = b"1,2\n3,x\n5,6\n"
    assert (
        _textnum.parse_numeric_rows(body, 0, len(body), 2, np.dtype(np.float64), lambda d, s, e: None) is None
    )


def test_large_quoted_input_in_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(5)
    X = rng.standard_normal((4000, 7))
    X[10, 3] = np.nan
    X[3999, 0] = -0.0
    body = pandas_csv(X, quoting=pycsv.QUOTE_ALL, lineterminator="\r\n").replace(b'"\r\n"1', b'"\r\n\r\n"1')
    body += b"\r"  # a last line that is a lone carriage return: blank
    monkeypatch.setattr(_textnum, "PARALLEL_MIN", 1024)
    monkeypatch.setattr(_textnum, "CHUNK", 1 << 14)
    for got in both(body):
        assert bits(got.features["values"]) == bits(canonical(X))


def test_iter_decode_batches_equal_decode_on_quoted_text() -> None:
    body = b'"1","2"\r\n\r\n"3",""\r\n4,"5"\r\n"6",7'
    whole = c.decode(body)
    parts = list(c.iter_decode(io.BytesIO(body), batch_size=2))
    assert [len(p) for p in parts] == [2, 2]
    got = np.concatenate([p.features["values"] for p in parts])
    assert bits(got) == bits(whole.features["values"])
    assert bits(whole.features["values"]) == bits(
        np.array([[1.0, 2.0], [3.0, np.nan], [4.0, 5.0], [6.0, 7.0]])
    )


def test_int32_error_still_positioned() -> None:
    with pytest.raises(smp.DecodeError) as info:
        c.decode(b'"1","2"\n"3","4.5"\n', dtype="int32")
    e = info.value
    assert (e.reason, e.line, e.offset, e.record_index) == ("column 2: 4.5 is not an int32", 2, 12, 1)


# --------------------------------------------------------------------------------------
# The kernel and its twin
# --------------------------------------------------------------------------------------

_FIELDS = st.one_of(
    st.sampled_from(
        [
            "1",
            "-2.5",
            ".5",
            "5.",
            "1e-05",
            "nan",
            "-Infinity",
            "",
            '""',
            '"1.5"',
            '" 2 "',
            '"\t-3e2\t"',
            " 4 ",
            '"x"',
            "x",
            '"1,5"',
            '""""',
            '"1""2"',
            ' "1"',
            '"1" ',
            " ",
            '" "',
            '"1',
            '1"',
            "1_0",
            "0x1",
        ]
    ),
    F64.map(repr),
    F32.map(lambda x: str(np.float32(x))),
    F64.filter(math.isfinite).map(lambda x: f"{x:.25e}"),
)


@st.composite
def kernel_texts(draw: st.DrawFn) -> tuple[bytes, int, int, bool]:
    k = draw(st.integers(1, 4))
    parts = []
    for _ in range(draw(st.integers(1, 7))):
        if draw(st.integers(0, 6)) == 0:
            parts.append("")  # a blank line
            continue
        width = k if draw(st.integers(0, 8)) else draw(st.integers(1, 5))
        parts.append(",".join(draw(_FIELDS) for _ in range(width)))
    ends = [draw(st.sampled_from(["\n", "\n", "\r\n", "\r\n", "\r"])) for _ in parts]
    text = "".join(p + e for p, e in zip(parts, ends, strict=True))
    if draw(st.booleans()):
        text = text[: -len(ends[-1])]
    rows = draw(st.integers(0, len(parts) + 1))
    return text.encode(), k, rows, draw(st.booleans())


@native
@given(kernel_texts())
@example((b'1,"2"\n\n"",\r\n" 3 ","-4e1"\n1,x\n5,6', 2, 6, False))
@example((b'""', 1, 1, False))
@example((b'1\n""', 1, 2, True))
@example((b"1,2\r", 2, 1, False))
@example((b"\r", 1, 1, False))
@example((b"1\n\n2\n", 1, 1, False))
def test_csv_read_equals_numpy_twin(case: tuple[bytes, int, int, bool]) -> None:
    assert C is not None
    data, k, rows, f32 = case
    dtype = np.float32 if f32 else np.float64
    fill = np.array([12345.0], dtype)[0]
    got = np.full((rows, k), fill, dtype)
    # strict, as the reader calls it: a line with a decimal beyond the type's range is not
    # read (the careful reader reports it), so every line read is one the careful reader reads
    pos, row = C.csv_read(data, 0, len(data), k, got, 0, f32, True)
    want = np.full((rows, k), fill, dtype)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(_textnum, "_C", None)
        wpos, wrow = _textnum.read_rows(data, 0, len(data), k, want, 0, True)
    assert (pos, row) == (wpos, wrow)
    assert bits(got[:row]) == bits(want[:row])
    # and every line read is what the careful reader reads there
    if row:
        careful = careful_decode(data[:pos], dtype="float32" if f32 else "float64").features["values"]
        assert bits(careful.reshape(row, k)) == bits(got[:row])


@native
def test_csv_read_checks_its_arguments() -> None:
    assert C is not None
    out = np.empty((2, 2))
    with pytest.raises(ValueError):
        C.csv_read(b"1,2", 0, 4, 2, out, 0, False)  # past the end
    with pytest.raises(ValueError):
        C.csv_read(b"1,2", 0, 3, 3, out, 0, False)  # out is not rows x 3
    with pytest.raises(ValueError):
        C.csv_read(b"1,2", 0, 3, 2, out, 3, False)  # row outside out
    with pytest.raises(ValueError):
        C.csv_read(b"1,2", 0, 3, 2, np.empty(3, np.float32), 0, True)  # 3 float32 are not rows x 2
    with pytest.raises(ValueError):
        C.csv_read(b"1", 0, 1, 1, memoryview(bytearray(9))[1:], 0, False)  # unaligned doubles
    with pytest.raises(TypeError):
        C.csv_read(b"1,2", 0, 3, 2, b"readonly........", 0, False)
    assert C.csv_read(b"1,2\n3,4\n5,6", 0, 11, 2, out, 0, False) == (8, 2)  # out full at the third line
    assert out.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert C.csv_read(b"1,2\n3,4\n5,6", 8, 11, 2, out, 1, False) == (11, 2)
    assert out.tolist() == [[1.0, 2.0], [5.0, 6.0]]
    out32 = np.zeros((1, 2), np.float32)
    assert C.csv_read(b'"0.1",""', 0, 8, 2, out32, 0, True) == (8, 1)
    assert out32.tobytes() == np.array([[0.1, np.nan]], np.float32).tobytes()


@pytest.mark.parametrize(
    ("chunk", "k", "want"),
    [
        (b"a,b,c\n" * 3, 3, None),  # text: declined at its first field
        (b"1.5,2\r\n-3,x\r\n", 2, None),  # a text field after numbers and "\r\n" ends
        (b"1.5,2\r\n-3,4e1\r\n", 2, [[1.5, 2.0], [-3.0, 40.0]]),  # "\r\n" fields are numbers
        (b"1e5,-2\n", 2, [[100000.0, -2.0]]),  # a field the exact reader reads, first
        (b"1e-5,2\n-0.5,-1e-1\n", 2, [[1e-5, 2.0], [-0.5, -0.1]]),  # '-' inside such fields
        (b"1-2,3\n", 2, None),  # a '-' inside a field that is no number
    ],
)
def test_numpy_chunk_parser_declines_text_and_reads_numbers(chunk: bytes, k: int, want: Any) -> None:
    from sm_payloads.formats import _textnum

    rows = chunk.count(b"\n")
    out = np.empty((rows, k), dtype=np.float64)
    got = _textnum._parse_chunk(chunk, k, False, out)
    if want is None:
        assert got is None
    else:
        assert got is not None
        assert out.tolist() == want
