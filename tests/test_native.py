"""The optional C kernels (sm_payloads.formats._cparse) against their numpy/orjson twins.

Each kernel either reads its input exactly as the pure path does, bit for bit, or declines
(None) where the pure path declines; the careful readers behind both then decide. These
tests run the two on the same generated inputs. They skip where the extension is not built,
except under ``SM_PAYLOADS_REQUIRE_NATIVE=1`` (CI), where a missing build fails.
"""

from __future__ import annotations

import json
import os
import struct
import threading
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import sm_payloads as smp
from sm_payloads import _native
from sm_payloads.formats import _json_layout as J
from sm_payloads.formats import _textnum

C = _native.load("formats._cparse")
pytestmark = pytest.mark.skipif(C is None, reason="the C extension is not built (or SM_PAYLOADS_PURE_PYTHON)")


def test_required_build_is_present() -> None:
    # CI sets SM_PAYLOADS_REQUIRE_NATIVE=1: then the kernels are in use, not just importable.
    if os.environ.get("SM_PAYLOADS_REQUIRE_NATIVE"):
        assert _textnum._C is not None
        assert J._C is not None
        assert C is not None and C.FAST_PATH == 1


def test_load_honours_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SM_PAYLOADS_PURE_PYTHON", "1")
    assert _native.load("formats._cparse") is None
    monkeypatch.setenv("SM_PAYLOADS_PURE_PYTHON", "0")
    assert _native.load("formats._cparse") is C
    monkeypatch.delenv("SM_PAYLOADS_REQUIRE_NATIVE", raising=False)
    assert _native.load("_no_such_kernel") is None
    monkeypatch.setenv("SM_PAYLOADS_REQUIRE_NATIVE", "1")
    with pytest.raises(ImportError):
        _native.load("_no_such_kernel")


# --------------------------------------------------------------------------------------
# CSV: csv_read against the numpy kernel
# --------------------------------------------------------------------------------------


def _bits(a: np.ndarray | None) -> bytes | None:
    return None if a is None else a.tobytes() + repr(a.shape).encode()


def _read_all(data: bytes, k: int, *, pure: bool = False) -> np.ndarray | None:
    """`_textnum.read_rows` over all of `data` (the C csv_read, or the numpy twin with
    `pure`): the rows, or None when the kernel stops before the end."""
    if not data:
        return None
    out = np.empty((data.count(b"\n") + 1, k))
    with pytest.MonkeyPatch.context() as m:
        if pure:
            m.setattr(_textnum, "_C", None)
        pos, row = _textnum.read_rows(data, 0, len(data), k, out, 0)
    return out[:row] if pos == len(data) else None


def _native_csv(data: bytes, k: int) -> np.ndarray | None:
    return _read_all(data, k)


_DIGITS = st.text("0123456789", min_size=0, max_size=24)


@st.composite
def grammar_numbers(draw: st.DrawFn) -> str:
    """Text near the number grammar: most of it valid, some of it just off."""
    sign = draw(st.sampled_from(["", "", "-", "+"]))
    a = draw(_DIGITS)
    dot = draw(st.sampled_from(["", ".", "."]))
    b = draw(_DIGITS) if dot else ""
    exp = ""
    if draw(st.booleans()):
        exp = draw(st.sampled_from(["e", "E"])) + draw(st.sampled_from(["", "+", "-"])) + draw(_DIGITS)
    return sign + a + dot + b + exp


def _float_texts() -> st.SearchStrategy[str]:
    f64 = st.floats(allow_nan=False, width=64)
    f32 = st.floats(allow_nan=False, width=32)
    return st.one_of(
        f64.map(repr),
        f32.map(lambda x: str(np.float32(x))),
        f64.map(lambda x: f"{x:.17g}"),
        f64.map(lambda x: f"{x:.25e}"),
        st.integers(-(2**70), 2**70).map(str),
        st.sampled_from(["nan", "NaN", "-nan", "inf", "-Infinity", "INF", "infinity", "+inf", "in", "nana"]),
        grammar_numbers(),
    )


@st.composite
def csv_texts(draw: st.DrawFn) -> tuple[bytes, int]:
    k = draw(st.integers(1, 5))
    rows = draw(st.integers(1, 6))
    blank = st.sampled_from(["", "", "", " ", "\t", "  "])
    lines = []
    for _ in range(rows):
        width = k if draw(st.integers(0, 9)) else draw(st.integers(1, 6))
        fields = [draw(blank) + draw(_float_texts()) + draw(blank) for _ in range(width)]
        lines.append(",".join(fields))
    ends = [draw(st.sampled_from(["\n", "\n", "\r\n", "\r", ""])) for _ in lines]
    text = "".join(line + (end or "\n") for line, end in zip(lines[:-1], ends[:-1], strict=True))
    text += lines[-1] + draw(st.sampled_from(["", "\n", "\r\n", "\r", "\n\n"]))
    return text.encode(), k


@given(csv_texts())
@example((b"-0,0,-0.0\n", 3))
@example((b"1.5e\n", 1))
@example((b".,5.\n", 2))
@example((b"1,2\r", 2))
@example((b"0.30000000000000004441,1e-400,1e400\n", 3))
@example((b"9007199254740993,9007199254740993.0\n", 2))
def test_csv_read_equals_numpy_kernel(case: tuple[bytes, int]) -> None:
    data, k = case
    assert _bits(_native_csv(data, k)) == _bits(_read_all(data, k, pure=True))


@given(st.lists(_float_texts(), min_size=1, max_size=40))
def test_csv_numbers_equal_float(texts: list[str]) -> None:
    # One field per line: every field the grammar takes reads as Python's float() of it.
    data = "".join(t + "\n" for t in texts).encode()
    got = _native_csv(data, 1)
    want = [_textnum.parse_number(t.encode()) for t in texts if t]  # an empty line is skipped
    if any(v is None for v in want):
        assert got is None
    else:
        assert got is not None
        assert got.reshape(-1).tobytes() == struct.pack(f"<{len(want)}d", *want)


def test_csv_exact_values() -> None:
    got = _native_csv(b"-0, 0 ,\t-0.0\r\n1e-5,+2.5,nan\n-inf,Infinity,7", 3)
    assert got is not None
    assert (
        got.tobytes()
        == np.array([[-0.0, 0.0, -0.0], [1e-5, 2.5, float("nan")], [-np.inf, np.inf, 7.0]]).tobytes()
    )
    # Hard cases for the exact rule: halfway between doubles, more digits than 2**53.
    for text in ["9007199254740993", "0.1000000000000000055511151231257827", "2.2250738585072011e-308"]:
        one = _native_csv(text.encode(), 1)
        assert one is not None and one[0, 0] == float(text)


@pytest.mark.parametrize(
    "text",
    [
        b"",  # nothing
        b"1 2\n",  # a blank inside a field
        b"0x10\n",  # not decimal
        b"1_000\n",  # float() would take it; the grammar does not
        b"\xef\xbb\xbf1\n",  # a BOM (the caller strips it)
        b"1\r\r\n",  # a bare carriage return
        b'"1\n',  # an unterminated quote (the caller's careful reader)
        b'"1"x\n',  # text after a closing quote
        b'"1,2"\n',  # a comma inside quotes: text
    ],
)
def test_csv_declines(text: bytes) -> None:
    k = 1 if b"," not in text or text.startswith(b'"1,') else 2
    assert _native_csv(text, k) is None
    assert _read_all(text, k, pure=True) is None


def test_csv_reads_quotes_empty_fields_and_blank_lines() -> None:
    got = _native_csv(b'1,"2"\n\n" 3 ",\r\n""," -4e1 "\n', 2)
    assert got is not None
    want = np.array([[1.0, 2.0], [3.0, np.nan], [np.nan, -40.0]])
    assert got.tobytes() == want.tobytes()
    assert _bits(_read_all(b'1,"2"\n\n" 3 ",\r\n""," -4e1 "\n', 2, pure=True)) == _bits(got)


def test_csv_read_checks_its_arguments() -> None:
    assert C is not None
    out = np.empty((1, 2))
    with pytest.raises(ValueError):
        C.csv_read(b"1,2", 0, 4, 2, out, 0, False)  # past the end
    with pytest.raises(ValueError):
        C.csv_read(b"1,2", 0, 3, 3, out, 0, False)  # out is not rows x 3
    with pytest.raises(ValueError):
        C.csv_read(b"1,2", 2, 1, 2, out, 0, False)
    with pytest.raises(ValueError):
        C.csv_read(b"1,2", 0, 3, 2, out, 2, False)  # row outside out
    with pytest.raises(TypeError):
        C.csv_read(b"1,2", 0, 3, 2, b"readonly........", 0, False)
    with pytest.raises(ValueError):
        C.csv_read(b"1", 0, 1, 2**61, np.empty(1), 0, False)  # k * 8 would wrap around to 0
    with pytest.raises(ValueError):
        C.csv_read(b"1", 0, 1, 1, memoryview(bytearray(9))[1:], 0, False)  # unaligned doubles
    assert C.csv_read(b"1,2", 0, 3, 2, out, 0, False) == (3, 1)
    assert out.tolist() == [[1.0, 2.0]]
    assert C.csv_read(b"1,2\n3,4", 0, 7, 2, out, 0, False) == (4, 1)  # out is full at line 2


def test_csv_large_input_uses_threads_and_matches(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3000, 13)).astype(np.float32)
    x[5, 3] = np.nan
    x[17, 0] = -0.0
    text = _textnum.format_rows(x) + b"\r\n"
    monkeypatch.setattr(_textnum, "PARALLEL_MIN", 1024)

    def no_careful(data: bytes | bytearray, start: int, stop: int) -> None:
        return None

    got = _textnum.parse_numeric_rows(text, 0, len(text), 13, np.dtype(np.float64), no_careful)
    assert got is not None
    assert got.astype(np.float32).tobytes() == x.tobytes()
    # a bad field in the last piece is still found
    bad = text[:-40] + b"x" + text[-39:]
    assert _textnum.parse_numeric_rows(bad, 0, len(bad), 13, np.dtype(np.float64), no_careful) is None


def test_csv_read_runs_in_parallel_threads() -> None:
    assert C is not None
    text = _textnum.format_rows(np.arange(20000, dtype=np.float64).reshape(-1, 4) / 7)
    results: list[bytes] = []

    def run() -> None:
        out = np.empty((5000, 4))
        assert C is not None and C.csv_read(text, 0, len(text), 4, out, 0, False) == (len(text), 5000)
        results.append(out.tobytes())

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4 and len(set(results)) == 1


def test_count_newlines() -> None:
    assert C is not None
    assert C.count_newlines(b"a\nb\n\nc", 0, 6) == 3
    assert C.count_newlines(b"a\nb\n\nc", 2, 4) == 1
    with pytest.raises(ValueError):
        C.count_newlines(b"abc", 0, 9)


# --------------------------------------------------------------------------------------
# JSON: json_lists against the orjson scanner
# --------------------------------------------------------------------------------------


def _json_number_texts() -> st.SearchStrategy[str]:
    return st.one_of(
        st.floats(allow_nan=False, allow_infinity=False).map(json.dumps),
        st.floats(allow_nan=False, allow_infinity=False, width=32).map(lambda x: str(np.float32(x))),
        st.integers(-(2**80), 2**80).map(str),
        st.sampled_from(["-0", "-0.0", "0e5", "1E+2", "01", "1.", ".5", "+1", "-", "1e", "1e400", "-1e400"]),
        grammar_numbers(),
    )


@st.composite
def jsonl_bodies(draw: st.DrawFn) -> bytes:
    # \x0b and \x0c are blanks to Python's isspace, not to JSON; a newline ends the line
    ws = st.sampled_from(["", "", " ", "\t", "  ", "\r", "\x0b", "\x0c", "\n"])
    lines = []
    for _ in range(draw(st.integers(1, 6))):
        nums = draw(st.lists(_json_number_texts(), max_size=6))
        sep = draw(st.sampled_from([",", ", ", " ,", ",,", ""])) if nums else ""
        inside = draw(ws) + (sep or ",").join(nums) + draw(ws)
        if draw(st.integers(0, 20)) == 0:
            inside += ","
        lines.append('{"features": [' + inside + "]}")
    return ("\n".join(lines) + draw(st.sampled_from(["", "\n", "\r\n", "\n\n"]))).encode()


def _scan_both(body: bytes, shape: J.ScanShape) -> tuple[Any, Any]:
    got = J.scan(body, 0, len(body), shape)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(J, "_C", None)
        want = J.scan(body, 0, len(body), shape, window=64)
    return got, want


def _same_scan(got: Any, want: Any) -> None:
    if want is None:
        assert got is None
        return
    assert got is not None
    assert got[0] == want[0]
    for a, b in zip(got[1:], want[1:], strict=True):
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes()


@given(jsonl_bodies())
@example(b'{"features": [-0, -0.0, 1e400]}\n')
@example(b'{"features": [18446744073709551615, -9223372036854775809, 123456789012345678901234]}\n')
@example(b'{"features": []}\n{"features": [1,]}\n')
@example(b'{"features": [1]}\n{"features": [ ]}\n{"features": [2.5e-3]}')
@example(b'{"features":[1]}\n{"features":[\n]}\n{"features":[2]}\n')
@example(b'{"features":[\x0b]}\n')
def test_json_lines_scan_equals_orjson(body: bytes) -> None:
    _same_scan(*_scan_both(body, J.SCAN_LINES))


@given(
    st.lists(st.lists(_json_number_texts(), max_size=5), min_size=1, max_size=5),
    st.sampled_from(["", " ", "\n ", "\x0b", "\x0c"]),
)
@example([[]], "\x0c")
def test_json_instances_scan_equals_orjson(rows: list[list[str]], ws: str) -> None:
    items = ",".join(f'{{"features":{ws}[{ws}{("," + ws).join(r)}{ws}]}}' for r in rows)
    body = f'{{"instances": [{ws}{items}{ws}]}}'.encode()
    _same_scan(*_scan_both(body, J.SCAN_INSTANCES))
    bare = ("[" + ",".join("[" + ",".join(r) + "]" for r in rows) + "]").encode()
    _same_scan(*_scan_both(bare, J.SCAN_BARE))


def test_json_exact_values() -> None:
    body = b'{"features": [-0, -0.0, 0.1, 1e-5, 123456789, 9007199254740993, 2.5E+3]}\n'
    got = J.scan(body, 0, len(body), J.SCAN_LINES)
    assert got is not None
    values = got[1]
    assert (
        values.tobytes()
        == np.array([0.0, -0.0, 0.1, 1e-5, 123456789.0, 9007199254740992.0, 2500.0]).tobytes()
    )


def test_json_lists_resumes_when_full() -> None:
    CJ = _native.load("formats._cjson")
    assert CJ is not None
    data = b"1, 2 ]X[3]X[]X[4,5,6"
    sep = b"]X["
    out = np.zeros(2)
    counts = np.zeros(2, dtype=np.int64)
    starts = np.zeros(2, dtype=np.int64)
    # values full inside the second record: it is read again from its start
    assert CJ.json_lists(data, 0, len(data), sep, out, counts, starts, False) == (1, 8, 2, 1)
    assert out.tolist() == [1.0, 2.0] and counts[0] == 2 and starts[0] == 0
    out = np.zeros(8)
    assert CJ.json_lists(data, 8, len(data), sep, out, counts, starts, False) == (2, 15, 1, 2)
    assert counts.tolist() == [1, 0] and starts.tolist() == [8, 12]
    assert CJ.json_lists(data, 15, len(data), sep, out, counts, starts, False) == (0, 20, 3, 1)
    assert out[:3].tolist() == [4.0, 5.0, 6.0]
    # no separator: one record; newlines only when asked
    assert CJ.json_lists(b"1,\n2", 0, 4, b"", out, counts, starts, False) is None
    assert CJ.json_lists(b"1,\n2", 0, 4, b"", out, counts, starts, True) == (0, 4, 2, 1)
    with pytest.raises(ValueError):
        CJ.json_lists(b"1", 0, 1, b"", out, counts, starts[:1], False)
    unaligned = memoryview(bytearray(17))[1:]
    with pytest.raises(ValueError):
        CJ.json_lists(b"1", 0, 1, b"", unaligned, counts, starts, False)
    with pytest.raises(ValueError):
        CJ.json_lists(b"1", 0, 1, b"", out, unaligned[:8], starts[:1], False)


def test_json_scan_grows_its_output() -> None:
    rng = np.random.default_rng(3)
    rows = [rng.standard_normal(int(n)).tolist() for n in rng.integers(0, 300, size=2000)]
    body = "".join(json.dumps({"features": r}) + "\n" for r in rows).encode()
    got = J.scan(body, 0, len(body), J.SCAN_LINES)
    assert got is not None
    assert got[1].tolist() == [v for r in rows for v in r]
    assert got[2].tolist() == [len(r) for r in rows]


# --------------------------------------------------------------------------------------
# RecordIO-protobuf: same_gaps (uniform dense frames) against the numpy check and copy
# --------------------------------------------------------------------------------------

CR = _native.load("formats._crecordio")


def _decode_both(data: bytes, copy: bool) -> tuple[Any, Any]:
    from sm_payloads.formats import _record_reader as reader
    from sm_payloads.formats import recordio_protobuf as rp

    def run() -> Any:
        try:
            return rp.decode(data, copy=copy)
        except smp.DecodeError as e:
            return ("error", type(e), str(e), e.offset, e.record_index)

    got = run()
    with pytest.MonkeyPatch.context() as m:
        m.setattr(reader, "crecordio", None)
        want = run()
    return got, want


def _same_batch(got: Any, want: Any) -> None:
    if isinstance(want, tuple):
        assert got == want
        return
    assert got == want
    for name in ("features", "label"):
        for key, col in getattr(want, name).items():
            other = getattr(got, name)[key]
            if not isinstance(col, np.ndarray):  # a mutation made another kind: == compared it
                continue
            assert other.dtype == col.dtype and other.shape == col.shape
            assert np.ascontiguousarray(other).tobytes() == np.ascontiguousarray(col).tobytes()
            assert other.flags.c_contiguous == col.flags.c_contiguous


@given(
    st.integers(1, 40),
    st.integers(0, 9),
    st.sampled_from([np.float32, np.float64, np.int32]),
    st.booleans(),
    st.booleans(),
    st.data(),
)
def test_dense_frames_equal_numpy(n: int, k: int, dtype: Any, label: bool, copy: bool, data: Any) -> None:
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    x = rng.standard_normal((n, k)) * 100
    y = rng.standard_normal(n) if label else None
    body = bytearray(
        smp.encode_request(smp.from_dense(x.astype(dtype), y), "application/x-recordio-protobuf")
    )
    if data.draw(st.booleans()) and len(body) > 8:
        # flip one byte past the first frame: a tag, a length or a value of a later record
        at = data.draw(st.integers(min(len(body) - 1, len(body) // max(n, 1) + 8), len(body) - 1))
        body[at] ^= 1 << data.draw(st.integers(0, 7))
    _same_batch(*_decode_both(bytes(body), copy))


@pytest.mark.skipif(CR is None, reason="_crecordio is not built")
def test_same_gaps_checks_its_arguments() -> None:
    assert CR is not None
    buf = bytes(range(10)) * 4  # four 10-byte "records"
    out = np.empty(4 * 3, dtype=np.uint8)
    assert CR.same_gaps(buf, 0, 10, 4, [(0, 2)], [(2, 5, out)]) is True
    assert out.reshape(4, 3).tolist() == [[2, 3, 4]] * 4
    assert CR.same_gaps(buf, 0, 10, 5, [(0, 2)], []) is False  # a fifth record leaves buf
    assert CR.same_gaps(buf, 0, 10, 4, [(0, 11)], []) is False  # a gap leaves the last record
    assert CR.same_gaps(buf, 0, 10, 4, [(2, 1)], []) is False
    assert CR.same_gaps(buf, 0, 10, 4, [], [(2, 5, np.empty(5, np.uint8))]) is False  # wrong out size
    assert CR.same_gaps(buf, 1, 10, 3, [(0, 9)], []) is True
    assert CR.same_gaps(b"ab" + b"ac", 0, 2, 2, [(0, 2)], []) is False
    # no ranges to check: the records themselves must still lie in buf (no endless loop,
    # no overflow of n * stride)
    assert CR.same_gaps(b"x", 0, 1, 2**62, [], []) is False
    assert CR.same_gaps(b"x", 0, 2**62, 3, [], []) is False
    assert CR.same_gaps(buf, 0, 10, 5, [], []) is True  # the fifth record starts at the end
    assert CR.same_gaps(buf, 0, 10, 6, [], []) is False
    with pytest.raises(TypeError):
        CR.same_gaps(buf, 0, 10, 4, [(0, 2)], [(2, 5, b"readonly....")])
    with pytest.raises(TypeError):
        CR.same_gaps(buf, 0, 10, 4, [("a", 2)], [])


# --------------------------------------------------------------------------------------
# CSV writing: csv_rows against the numpy twin
# --------------------------------------------------------------------------------------


def _rows_both(a: np.ndarray) -> tuple[bytes, bytes]:
    assert C is not None
    k = a.shape[1]
    step = max(1, 7 * 3 // k)  # several pieces even for small arrays
    blocks = [_textnum._json_block(a[i : i + step]) for i in range(0, a.shape[0], step)]
    got = C.csv_rows([b[0] for b in blocks], k, [b[1] for b in blocks])
    want = b"\n".join([_textnum._csv_of_json(t, s, k) for t, s in blocks])
    assert got is not None
    return got, want


_SPECIAL = [0.0, -0.0, np.nan, np.inf, -np.inf, 1e-5, -3e-7, 1.5e16, 2e6, 123456.7, 1e-45]


@given(
    st.integers(1, 12),
    st.integers(1, 9),
    st.sampled_from([np.float32, np.float64, np.int32]),
    st.data(),
)
def test_csv_rows_equals_numpy_twin(n: int, k: int, dtype: Any, data: Any) -> None:
    if dtype is np.int32:
        values = st.integers(-(2**31), 2**31 - 1)
    else:
        values = st.one_of(st.floats(width=32 if dtype is np.float32 else 64), st.sampled_from(_SPECIAL))
    a = np.array(data.draw(st.lists(values, min_size=n * k, max_size=n * k)), dtype=dtype).reshape(n, k)
    got, want = _rows_both(a)
    assert got == want
    # and both are what csv.writer writes for numpy scalars (the SDK's spelling)
    assert got.decode().split("\n") == [",".join(str(v) for v in row) for row in a]


def test_csv_rows_declines_and_checks() -> None:
    assert C is not None
    assert C.csv_rows([b"[1,2,3,4]", b"[5,6]"], 2, [None, None]) == b"1,2\n3,4\n5,6"
    assert C.csv_rows([b"[1,2,3]"], 2, [None]) is None  # not whole rows
    assert C.csv_rows([b"1,2"], 2, [None]) is None  # no brackets
    assert C.csv_rows([b"[]"], 1, [None]) is None
    assert C.csv_rows([], 1, []) is None
    assert C.csv_rows([b"[1,2]"], 1, []) is None  # subs do not match the pieces
    assert C.csv_rows([b"[1,2]"], 1, [([1, 0], [b"a", b"b"])]) is None  # not increasing
    assert C.csv_rows([b"[1,2]"], 1, [([2], [b"a"])]) is None  # past the last value
    assert C.csv_rows([b"[1,2]"], 1, [([0], [b"a,b"])]) is None  # a comma in a text
    assert C.csv_rows([b"[1,2]"], 1, [([0], ["a"])]) is None  # not bytes
    assert C.csv_rows([b"[1,2]"], 1, [([-1], [b"a"])]) is None
    assert C.csv_rows([b"[1,2]"], 1, [([2**70], [b"a"])]) is None
    # replacements longer and shorter than the tokens, the first and the last
    got = C.csv_rows([b"[1.5e-5,2,3.25,nan]"], 2, [([0, 3], [b"1.5e-05", b""])])
    assert got == b"1.5e-05,2\n3.25,"
    with pytest.raises(ValueError):
        C.csv_rows([b"[1]"], 0, [None])
    with pytest.raises(TypeError):
        C.csv_rows(5, 1, [None])
    assert C.csv_rows([bytearray(b"[1]")], 1, [None]) is None  # bytes only


def test_format_rows_uses_csv_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    assert C is not None
    calls: list[int] = []

    def spy(pieces: Any, k: int, subs: Any) -> bytes | None:
        calls.append(k)
        return C.csv_rows(pieces, k, subs)

    monkeypatch.setattr(_textnum, "_C", SimpleNamespace(csv_rows=spy))
    a = np.array([[1e-5, 2.5], [np.nan, -0.0]], dtype=np.float32)
    assert _textnum.format_rows(a) == b"1e-05,2.5\nnan,-0.0"
    assert calls == [2]


@pytest.mark.parametrize("group", [1, 3, 1 << 16])
def test_format_rows_in_groups_equals_numpy(monkeypatch: pytest.MonkeyPatch, group: int) -> None:
    """Arrays full of replaced tokens are joined in groups of blocks (bounded memory); the
    bytes are the same as one group's and the numpy path's."""
    rng = np.random.default_rng(5)
    a = rng.choice(np.array([np.nan, 1e7, -3e-9, 2.5, -np.inf], np.float32), size=(53, 7))
    monkeypatch.setattr(_textnum, "_ROWS_PER_BLOCK", 1)  # blocks of 14 rows
    monkeypatch.setattr(_textnum, "_MAX_GROUP_SUBS", group)
    got = _textnum.format_rows(a)
    monkeypatch.setattr(_textnum, "_C", None)
    assert got == _textnum.format_rows(a)
    assert got.decode().split("\n") == [",".join(str(v) for v in row) for row in a]
