"""The libsvm fast paths (the C block kernel ``_clibsvm.parse`` and its numpy twin ``_fast``)
against the careful reader and independent oracles.

Each fast path reads a whole block exactly as the careful reader does, bit for bit, or
declines it; the careful reader then reads it and names the first problem. These tests run
the three on the same generated files: valid ones (labels or none, qid, comments, blank
lines, CRLF, both index bases, num_features, both dtypes, every spelling of a number that
``float()`` reads), files written by ``sklearn.datasets.dump_svmlight_file``, malformed ones,
and every prefix of a valid body. Values are checked against CPython's ``float()`` (float64)
and an exact rounding with ``fractions.Fraction`` (float32), never against the readers.
"""

from __future__ import annotations

import io
import math
import os
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import example, given
from hypothesis import strategies as st

import sm_payloads as smp
from sm_payloads import _native
from sm_payloads.formats import libsvm

C = _native.load("formats._clibsvm")
needs_c = pytest.mark.skipif(C is None, reason="_clibsvm is not built (or SM_PAYLOADS_PURE_PYTHON)")

F32_MAX = Fraction(float(np.finfo(np.float32).max))
F32_OVERFLOW = F32_MAX + Fraction(2) ** 103  # FLT_MAX + half an ulp: the first infinity (a tie)


# --------------------------------------------------------------------------------------
# Oracles
# --------------------------------------------------------------------------------------


def exact_f32(text: bytes) -> np.float32:
    """The float32 nearest to the decimal `text` (ties to even), decided with Fractions."""
    d = float(text)
    if not math.isfinite(d):
        return np.float32(d)  # nan, inf: float() then numpy keeps the sign
    x = Fraction(text.decode("ascii"))
    if abs(x) >= F32_OVERFLOW:
        return np.float32(math.copysign(math.inf, x))
    with np.errstate(over="ignore"):
        g = np.float32(d)  # within one float32 step of the answer (FLT_MAX or beside it)
        around = (np.nextafter(g, np.float32(-np.inf)), g, np.nextafter(g, np.float32(np.inf)))
    best: tuple[tuple[Fraction, int], np.float32] | None = None
    for c in around:
        if not np.isfinite(c):
            continue
        key = (abs(Fraction(float(c)) - x), int(np.array(c).view(np.uint32)) & 1)
        if best is None or key < best[0]:
            best = (key, c)
    assert best is not None
    r = best[1]
    return np.float32(-0.0) if r == 0 and text[:1] == b"-" else r


def beyond_range(text: bytes, dtype: np.dtype[Any]) -> bool:
    """Whether `text` is a decimal that rounds to infinity in `dtype` (a DecodeError, as in
    JSON; the words inf and infinity are infinities)."""
    if not text.lstrip(b"+-")[:1].isdigit() and text.lstrip(b"+-")[:1] != b".":
        return False
    x = abs(Fraction(text.decode("ascii")))
    if dtype == np.float32:
        return x >= F32_OVERFLOW
    return math.isinf(float(text))


def oracle(text: bytes, dtype: np.dtype[Any]) -> Any:
    return np.float64(float(text)) if dtype == np.float64 else exact_f32(text)


def decimal_text(x: Fraction) -> str:
    """The exact decimal text of a dyadic rational."""
    sign = "-" if x < 0 else ""
    x = abs(x)
    k = 0
    while x.denominator != 1:
        x *= 10
        k += 1
    digits = str(x.numerator).rjust(k + 1, "0")
    return sign + (digits[:-k] + "." + digits[-k:] if k else digits)


# --------------------------------------------------------------------------------------
# Generated files
# --------------------------------------------------------------------------------------

WORDS = [b"nan", b"NaN", b"-nan", b"+nan", b"inf", b"-inf", b"+Inf", b"infinity", b"-Infinity", b"INFINITY"]


@st.composite
def float32_edges(draw: st.DrawFn) -> bytes:
    """A float32 halfway point written exactly, or just beside it."""
    bits = draw(st.integers(0, 0x7F7FFFFE))
    f = np.array(bits, np.uint32).view(np.float32)[()]
    mid = (Fraction(float(f)) + Fraction(float(np.nextafter(f, np.float32(np.inf))))) / 2
    text = decimal_text(mid)
    how = draw(st.sampled_from(["exact", "above", "below"]))
    if how == "above":
        text += "0000000001" if "." in text else ".0000000001"
    elif how == "below":
        text = decimal_text(mid - Fraction(1, 10**60))
    if draw(st.booleans()):
        text = "-" + text
    return text.encode()


def _spelled(x: float) -> st.SearchStrategy[bytes]:
    with np.errstate(over="ignore"):
        f32 = repr(float(np.float32(x)))
    forms = [repr(x), f"{x:.16g}", f"{x:.17g}", f"{x:.9g}", f"{x:e}", f"{x:.3f}", f32]
    return st.sampled_from(forms).map(str.encode)


NUMBERS = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False).flatmap(_spelled),
    st.floats(width=32, allow_nan=False, allow_infinity=False).flatmap(_spelled),
    st.integers(-(10**30), 10**30).map(lambda i: str(i).encode()),
    st.sampled_from(WORDS),
    st.sampled_from(
        [b".5", b"5.", b"+1.5", b"1E+05", b"00012.5000", b"-0", b"-0.0", b"1e-400", b"1e400", b"7e-46"]
    ),
    float32_edges(),
)


#: Numbers of at most 24 characters (for the tests that try every prefix of a body).
SHORT_NUMBERS = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False).map(lambda x: repr(x).encode()),
    st.floats(allow_nan=False, allow_infinity=False).map(lambda x: f"{x:.16g}".encode()),
    st.sampled_from(WORDS),
    st.sampled_from([b".5", b"5.", b"+1.5", b"1E+05", b"-0", b"1e-400", b"1e400", b"16777217"]),
)


@st.composite
def libsvm_files(
    draw: st.DrawFn, numbers: st.SearchStrategy[bytes] = NUMBERS, records: int = 6
) -> tuple[bytes, dict[str, Any], dict[str, Any]]:
    """(body, options, expected) of a valid file: expected holds the texts of the numbers."""
    has_label, has_qid = draw(st.booleans()), draw(st.booleans())
    base = draw(st.sampled_from([0, 1]))
    dtype = np.dtype(draw(st.sampled_from([np.float64, np.float32])))
    sep = st.sampled_from([b" ", b"\t", b"  ", b" \t", b"\x0b", b"\x0c"])
    end = draw(st.sampled_from([b"\n", b"\r\n"]))
    lines: list[bytes] = []
    exp: dict[str, Any] = {"labels": [], "qids": [], "counts": [], "cols": [], "values": []}
    for _ in range(draw(st.integers(0, records))):
        for _ in range(draw(st.integers(0, 1))):  # lines that are not records
            lines.append(draw(st.sampled_from([b"", b"   ", b"# a comment 1:2 qid:3 x_y", b"\t#", b"\r"])))
        cols = sorted(draw(st.sets(st.integers(0, 40), max_size=6)))
        if not has_label and not has_qid and not cols:
            cols = [draw(st.integers(0, 40))]
        toks: list[bytes] = []
        if has_label:
            text = draw(numbers)
            toks.append(text)
            exp["labels"].append(text)
        if has_qid:
            q = draw(st.integers(0, 2**31 - 1))
            toks.append(b"qid:" + str(q).encode().rjust(draw(st.integers(0, 10)), b"0"))
            exp["qids"].append(q)
        for c in cols:
            text = draw(numbers)
            index = str(c + base).encode().rjust(draw(st.sampled_from([0, 0, 0, 12])), b"0")
            toks.append(index + b":" + text)
            exp["cols"].append(c)
            exp["values"].append(text)
        exp["counts"].append(len(cols))
        line = b""
        for t in toks:
            line += (draw(sep) if line or draw(st.booleans()) else b"") + t
        line += draw(st.sampled_from([b"", b" ", b"#", b"# comment 1:2", b" #x:y:z"]))
        lines.append(line)
    body = end.join(lines) + (end if draw(st.booleans()) else b"")
    exp["beyond"] = any(beyond_range(t, dtype) for t in exp["labels"] + exp["values"])
    width = max(exp["cols"], default=-1) + 1
    num_features = draw(st.one_of(st.none(), st.integers(width, width + 3)))
    options = {"index_base": base, "num_features": num_features, "dtype": dtype}
    return body, options, exp


# --------------------------------------------------------------------------------------
# Running the readers
# --------------------------------------------------------------------------------------


def summary(b: smp.RecordBatch) -> tuple[Any, ...]:
    m = b.features["values"]
    return (
        len(b),
        m.shape,
        m.dtype.str,
        m.data.tobytes(),
        m.indices.astype(np.int64).tolist(),
        m.indptr.astype(np.int64).tolist(),
        sorted(b.label),
        None if "values" not in b.label else (b.label["values"].dtype.str, b.label["values"].tobytes()),
        None if "qid" not in b.label else (b.label["qid"].dtype.str, b.label["qid"].tolist()),
    )


def error(e: smp.DecodeError) -> tuple[Any, ...]:
    return ("error", e.reason, e.offset, e.line, e.record_index)


MODES = ["careful", "pure"] + (["c"] if C is not None else [])


@contextmanager
def mode(name: str) -> Iterator[None]:
    """decode / iter_decode on one reader: the C kernel, its numpy twin, or only the careful one."""
    with pytest.MonkeyPatch.context() as mp:
        if name != "c":
            mp.setattr(libsvm, "_C", None)
        if name == "careful":
            mp.setattr(libsvm, "_fast", lambda block, st: None)
        yield


def decoded(name: str, data: bytes, block: int | None = None, **options: Any) -> tuple[Any, ...]:
    with mode(name), pytest.MonkeyPatch.context() as mp:
        if block is not None:
            mp.setattr(libsvm, "_BLOCK", block)
        try:
            return summary(libsvm.decode(data, **options))
        except smp.DecodeError as e:
            return error(e)


def streamed(name: str, data: bytes, block: int, batch_size: int, **options: Any) -> list[Any]:
    with mode(name), pytest.MonkeyPatch.context() as mp:
        mp.setattr(libsvm, "_BLOCK", block)
        out: list[Any] = []
        try:
            for b in libsvm.iter_decode(io.BytesIO(data), batch_size=batch_size, **options):
                out.append(summary(b))
        except smp.DecodeError as e:
            out.append(error(e))
        return out


def kernel_rows(reader: Callable[..., Any], data: bytes, state: Any = None, **options: Any) -> Any:
    """One block through `reader` (_kernel, _fast or _careful): its rows and the state after."""
    st_ = state or libsvm._State(
        options.get("index_base", 0), options.get("num_features"), np.dtype(options.get("dtype", np.float64))
    )
    try:
        rows = reader(data, st_)
    except smp.DecodeError as e:
        return error(e)
    if rows is None:
        return None
    return (
        rows.counts.dtype.str,
        rows.counts.tolist(),
        rows.cols.astype(np.int64).tolist(),
        rows.values.dtype.str,
        rows.values.tobytes(),
        None if rows.labels is None else (rows.labels.dtype.str, rows.labels.tobytes()),
        None if rows.qids is None else rows.qids.astype(np.int64).tolist(),
        (st_.offset, st_.line, st_.record, st_.has_label, st_.has_qid, st_.first_line, st_.max_col),
    )


KERNELS = [libsvm._fast] + ([libsvm._kernel] if C is not None else [])


# --------------------------------------------------------------------------------------
# Valid files: every reader, the same bits, the oracle's values
# --------------------------------------------------------------------------------------


def test_required_build_is_present() -> None:
    if os.environ.get("SM_PAYLOADS_REQUIRE_NATIVE"):
        assert C is not None and libsvm._C is C


@given(libsvm_files())
@example(
    (
        b"1 qid:3 0:1.5 # c\r\n\n0 qid:4 2:nan\r\n",
        {"index_base": 0, "num_features": None, "dtype": np.dtype(np.float64)},
        None,
    )
)
def test_valid_files_read_the_same_by_every_reader(case: tuple[bytes, dict[str, Any], Any]) -> None:
    body, options, exp = case
    careful = kernel_rows(libsvm._careful, body, **options)
    if exp is not None and exp["beyond"]:
        # a decimal beyond the type's range: the careful reader's error, on every path
        assert careful is not None and careful[0] == "error" and " is out of the float" in careful[1]
        for reader in KERNELS:
            assert kernel_rows(reader, body, **options) is None
        assert {decoded(name, body, **options) for name in MODES} == {careful}
        return
    assert careful is not None and careful[0] != "error"
    for reader in KERNELS:
        got = kernel_rows(reader, body, **options)
        assert got is not None, f"{reader.__name__} declined a valid block"
        # the kernels give int32 columns; everything else is the careful reader's, bit for bit
        assert got == careful
    whole = {name: decoded(name, body, **options) for name in MODES}
    assert whole["pure"] == whole["careful"] and whole.get("c", whole["careful"]) == whole["careful"]


@given(libsvm_files())
def test_valid_files_hold_the_exact_values(case: tuple[bytes, dict[str, Any], dict[str, Any]]) -> None:
    body, options, exp = case
    dtype = options["dtype"]
    if exp["beyond"]:
        for name in MODES:
            with mode(name), pytest.raises(smp.DecodeError, match=r"is out of the float(64|32) range"):
                libsvm.decode(body, **options)
        return
    for name in MODES:
        with mode(name):
            b = libsvm.decode(body, **options)
        m = b.features["values"]
        assert m.dtype == dtype and len(b) == len(exp["counts"])
        assert m.indptr.tolist() == np.cumsum([0, *exp["counts"]]).tolist()
        assert m.indices.tolist() == exp["cols"]
        want = np.array([oracle(t, dtype) for t in exp["values"]], dtype)
        assert m.data.tobytes() == want.tobytes(), name
        if exp["labels"]:
            labels = np.array([oracle(t, dtype) for t in exp["labels"]], dtype)
            assert b.label["values"].tobytes() == labels.tobytes(), name
        else:
            assert "values" not in b.label
        if exp["qids"]:
            assert b.label["qid"].dtype == np.int32 and b.label["qid"].tolist() == exp["qids"]
        else:
            assert "qid" not in b.label
        width = (
            options["num_features"]
            if options["num_features"] is not None
            else max(exp["cols"], default=-1) + 1
        )
        assert m.shape == (len(exp["counts"]), width)


@given(libsvm_files(), st.sampled_from([1, 8, 40]), st.integers(1, 3))
def test_blocks_and_batches_read_the_same_by_every_reader(
    case: tuple[bytes, dict[str, Any], Any], block: int, batch_size: int
) -> None:
    body, options, _ = case
    want = decoded("careful", body, **options)
    streams = {name: streamed(name, body, block, batch_size, **options) for name in MODES}
    assert (
        streams["pure"] == streams["careful"] and streams.get("c", streams["careful"]) == streams["careful"]
    )
    for name in MODES:
        assert decoded(name, body, block, **options) == want


@pytest.mark.parametrize(
    ("text", "f32_bits"),
    [
        (b"1.00000005960464477550", 0x3F800001),  # just above a halfway point: up
        (b"1.0000000596046447753906250", 0x3F800000),  # the halfway point: to even (down)
        (b"1.00000017881393432617187500", 0x3F800002),  # halfway, the even side is up
        (b"16777217", 0x4B800000),  # 2**24 + 1: a tie, to even
        (b"16777217.000000001", 0x4B800001),
        (b"3.4028235677973366e38", 0x7F7FFFFF),  # below it (its float64 is that tie)
        (b"7.006492321624085e-46", 0x00000000),  # below half of 2**-149
        (b"7.0064923216240862e-46", 0x00000001),
        (b"-0", 0x80000000),
    ],
)
def test_float32_is_rounded_once(text: bytes, f32_bits: int) -> None:
    assert int(np.array(exact_f32(text)).view(np.uint32)) == f32_bits  # the oracle itself
    body = b"1 0:" + text + b"\n" + text + b" 0:1\n"
    for name in MODES:
        with mode(name):
            b = libsvm.decode(body, dtype=np.float32)
        assert b.features["values"].data.view(np.uint32).tolist() == [f32_bits, 0x3F800000], name
        assert b.label["values"].view(np.uint32).tolist() == [0x3F800000, f32_bits], name


@pytest.mark.parametrize(
    ("text", "dtype", "why"),
    [
        (b"340282356779733661637539395458142568448", np.float32, "the float32 range (dtype=float32)"),
        (b"3.4028235677973367e38", np.float32, "the float32 range (dtype=float32)"),
        (b"-1e39", np.float32, "the float32 range (dtype=float32)"),
        (b"1e400", np.float32, "the float32 range (dtype=float32)"),
        (b"1e400", np.float64, "the float64 range"),
        (b"-.1e310", np.float64, "the float64 range"),
    ],
)
def test_a_decimal_beyond_the_range_is_an_error(text: bytes, dtype: Any, why: str) -> None:
    # FLT_MAX + half an ulp and above round to infinity in float32: a DecodeError at the
    # value, as JSON says "out of the float32 range"; no RuntimeWarning on any path.
    for body, token, at in ((b"1 0:" + text + b"\n", 2, 4), (text + b" 0:1\n", 1, 0)):
        for name in MODES:
            with mode(name), warnings.catch_warnings():
                warnings.simplefilter("error")
                with pytest.raises(smp.DecodeError) as info:
                    libsvm.decode(b"1 0:1\n" + body, dtype=dtype)
            e = info.value
            what = "value" if token == 2 else "label"
            shown = text.decode() if len(text) <= 24 else text[:24].decode() + "..."  # capped
            assert e.reason == f"token {token}: {what} {shown!r} is out of {why}", name
            assert (e.offset, e.line, e.record_index) == (6 + at, 2, 1), name


def test_words_and_flt_max_are_not_beyond_the_range() -> None:
    body = b"inf 0:-Infinity 1:3.4028235677973366e38 2:-INF\n"
    for name in MODES:
        with mode(name), warnings.catch_warnings():
            warnings.simplefilter("error")
            b = libsvm.decode(body, dtype=np.float32)
        assert b.features["values"].data.view(np.uint32).tolist() == [0xFF800000, 0x7F7FFFFF, 0xFF800000]
        assert b.label["values"].view(np.uint32).tolist() == [0x7F800000]


def test_long_numbers_are_read_by_some_reader() -> None:
    # Thousands of digits: float()'s value on every path (a kernel that declines such a
    # number leaves it to the careful reader).
    long = b"0." + b"1" * 5000
    body = b"1 0:" + long + b" 3:" + b"9" * 300 + b"\n"
    want = (float(long), float(b"9" * 300))
    for name in MODES:
        with mode(name):
            b = libsvm.decode(body)
        assert b.features["values"].data.tolist() == list(want)


# --------------------------------------------------------------------------------------
# sklearn: dump_svmlight_file's files read as load_svmlight_file reads them
# --------------------------------------------------------------------------------------


@given(
    st.integers(1, 12),
    st.integers(1, 8),
    st.sampled_from([True, False]),
    st.booleans(),
    st.sampled_from([np.float64, np.float32]),
    st.one_of(st.none(), st.just("written by a test\nsecond line")),
    st.integers(0, 2**32 - 1),
)
def test_sklearn_files_read_as_load_svmlight_file_reads_them(
    n: int, d: int, zero_based: bool, with_qid: bool, dtype: Any, comment: str | None, seed: int
) -> None:
    from sklearn.datasets import dump_svmlight_file, load_svmlight_file  # type: ignore[import-untyped]

    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) * 10.0 ** rng.integers(-30, 30, (n, d))
    X[rng.random((n, d)) < 0.4] = 0
    y = rng.standard_normal(n)
    qid = rng.integers(0, 2**31 - 1, n) if with_qid else None
    out = io.BytesIO()
    dump_svmlight_file(X, y, out, zero_based=zero_based, query_id=qid, comment=comment)
    body = out.getvalue()
    got = load_svmlight_file(
        io.BytesIO(body), n_features=d, zero_based=zero_based, query_id=with_qid, dtype=np.float64
    )
    Xs, ys = sp.csr_array(got[0]), got[1]
    for name in MODES:
        with mode(name):
            b = libsvm.decode(body, index_base=0 if zero_based else 1, num_features=d, dtype=dtype)
        m = b.features["values"]
        assert m.shape == Xs.shape and m.indptr.tolist() == Xs.indptr.tolist()
        assert m.indices.tolist() == Xs.indices.tolist()
        if dtype == np.float64:  # sklearn reads float64 exactly: the same bits
            assert m.data.tobytes() == Xs.data.tobytes() and b.label["values"].tobytes() == ys.tobytes()
        else:  # sklearn has no exact float32; the oracle from the text decides
            texts = [
                t.partition(b":")[2]
                for ln in body.split(b"\n")
                if ln[:1] not in (b"#", b"")
                for t in ln.split()[1 + with_qid :]
            ]
            assert m.data.tobytes() == np.array([exact_f32(t) for t in texts], np.float32).tobytes()
            assert np.allclose(m.data, Xs.data.astype(np.float32), rtol=1e-6, atol=0)
        if qid is not None:
            assert b.label["qid"].tolist() == got[2].tolist() == qid.tolist()
        else:
            assert "qid" not in b.label


# --------------------------------------------------------------------------------------
# Malformed files: the kernels decline, every path gives the careful reader's error
# --------------------------------------------------------------------------------------

BAD_TOKENS = [
    b"1:2:3",
    b"-1:2",
    b"a:1",
    b"1:",
    b":1",
    b":",
    b"1:1_0",
    b"1_0:1",
    b"1:abc",
    b"1:0x10",
    b"1:1e",
    b"1:.",
    b"1:e5",
    b"1:--1",
    b"1:nan(1)",
    b"1:infinity1",
    b"1:inf.",
    b"1:\xff",
    b"1:1\x00",
    b"1:\xd9\xa1",
    b"qid:x",
    b"qid:",
    b"qid:99999999999",
    b"qid:2147483648",
    b"qid:-1",
    b"9999999999999:1",
    b"0000000000001:1",
    b"2147483648:1",
    b"2147483647:1",
    b"0:1",
    b"40:1",
    b"39:1",
    b"abc",
    b"1.5",
    b"_",
    b"1#:2",
]


@st.composite
def malformed_files(draw: st.DrawFn) -> tuple[bytes, dict[str, Any]]:
    """A valid file with one line changed: a bad token put in, a token dropped, or a token
    moved."""
    body, options, _ = draw(libsvm_files())
    lines = body.split(b"\n")
    k = draw(st.integers(0, len(lines) - 1))
    toks = lines[k].split(b" ")
    how = draw(st.sampled_from(["insert", "replace", "drop", "swap"]))
    at = draw(st.integers(0, len(toks)))
    if how == "insert" or not toks:
        toks.insert(at, draw(st.sampled_from(BAD_TOKENS)))
    elif how == "replace":
        toks[min(at, len(toks) - 1)] = draw(st.sampled_from(BAD_TOKENS))
    elif how == "drop":
        del toks[min(at, len(toks) - 1)]
    else:
        toks.reverse()
    lines[k] = b" ".join(toks)
    return b"\n".join(lines), options


@given(malformed_files())
@example((b"1 0:1\n0 1:2 1:3\n", {"index_base": 0, "num_features": None, "dtype": np.dtype(np.float64)}))
@example((b"0:1\n1 1:2\n", {"index_base": 1, "num_features": None, "dtype": np.dtype(np.float32)}))
@example((b"1 qid:1 0:1\n1 0:2\n", {"index_base": 0, "num_features": 2, "dtype": np.dtype(np.float64)}))
def test_malformed_files_give_the_careful_readers_error(case: tuple[bytes, dict[str, Any]]) -> None:
    body, options = case
    careful = kernel_rows(libsvm._careful, body, **options)
    for reader in KERNELS:
        got = kernel_rows(reader, body, **options)
        if careful[0] == "error":
            assert got is None, f"{reader.__name__} accepted what the careful reader refuses"
        else:
            assert got == careful
    want = decoded("careful", body, **options)
    for name in MODES:
        assert decoded(name, body, **options) == want
        assert decoded(name, body, 8, **options) == want


@pytest.mark.parametrize("token", BAD_TOKENS)
def test_each_bad_token_in_each_place(token: bytes) -> None:
    for body in (token + b"\n", b"1 " + token + b"\n", b"1 0:1 " + token + b" 39:2\n", b"1 0:1\n1 " + token):
        for options in ({}, {"index_base": 1}, {"num_features": 40}, {"dtype": np.float32}):
            want = decoded("careful", body, **options)
            for name in MODES:
                assert decoded(name, body, **options) == want, (name, body, options)


# --------------------------------------------------------------------------------------
# Cut bodies: every prefix reads as the careful reader reads it
# --------------------------------------------------------------------------------------


@given(libsvm_files(SHORT_NUMBERS, records=3))
def test_a_body_cut_at_any_byte_reads_as_the_careful_reader_reads_it(
    case: tuple[bytes, dict[str, Any], Any],
) -> None:
    body, options, _ = case
    for k in range(len(body) + 1):
        cut = body[:k]
        careful = kernel_rows(libsvm._careful, cut, **options)
        for reader in KERNELS:  # each block reader: the careful result, or a decline on an error
            assert kernel_rows(reader, cut, **options) == (None if careful[0] == "error" else careful), k
        if k % 5 == 0 or body[k - 1 : k].isspace():  # and the public path, at a sample of cuts
            want = decoded("careful", cut, **options)
            for name in MODES[1:]:
                assert decoded(name, cut, **options) == want, (name, k)


# --------------------------------------------------------------------------------------
# The C kernel's contract
# --------------------------------------------------------------------------------------


def _outputs(rows: int, nnz: int, dtype: Any = np.float64) -> list[np.ndarray]:
    return [
        np.empty(rows, np.int64),
        np.empty(nnz, np.int32),
        np.empty(nnz, dtype),
        np.empty(rows, dtype),
        np.empty(rows, np.int64),
    ]


@needs_c
def test_parse_reads_a_block() -> None:
    assert C is not None
    data = b"junk\n1 qid:7 0:0.5 3:2 # c\n\n-1 qid:8 1:1e-3\r\njunk"
    out = _outputs(4, 6)
    got = C.parse(data, 5, len(data) - 4, 0, -1, False, -1, -1, *out)
    assert got == (2, 3, 3, 1, 1, 0, 3)
    counts, cols, values, labels, qids = out
    assert counts[:2].tolist() == [2, 1] and cols[:3].tolist() == [0, 3, 1]
    assert values[:3].tolist() == [0.5, 2.0, float("1e-3")]
    assert labels[:2].tolist() == [1.0, -1.0] and qids[:2].tolist() == [7, 8]
    # state from earlier blocks: a block that disagrees with it is declined
    assert C.parse(data, 5, len(data) - 4, 0, -1, False, 0, 1, *out) is None
    assert C.parse(data, 5, len(data) - 4, 0, -1, False, 1, 0, *out) is None
    assert C.parse(data, 5, len(data) - 4, 0, 3, False, 1, 1, *out) is None  # num_features
    assert C.parse(data, 5, len(data) - 4, 1, -1, False, 1, 1, *out) is None  # index 0, base 1
    # no records: nothing decided
    assert C.parse(b"\n# c\n  \n", 0, 8, 1, -1, True, -1, -1, *_outputs(4, 0, np.float32)) == (
        0,
        0,
        3,
        -1,
        -1,
        -1,
        -1,
    )


@needs_c
def test_parse_declines_when_its_outputs_are_short_and_checks_its_arguments() -> None:
    assert C is not None
    data = b"1 0:1 1:2\n2 0:3\n"
    assert C.parse(data, 0, len(data), 0, -1, False, -1, -1, *_outputs(1, 3)) is None  # rows
    assert C.parse(data, 0, len(data), 0, -1, False, -1, -1, *_outputs(3, 2)) is None  # entries
    assert C.parse(data, 0, len(data), 0, -1, False, -1, -1, *_outputs(3, 3)) == (2, 3, 2, 1, 0, 0, 1)
    bad = [
        (data, -1, len(data), 0, -1, False, -1, -1, *_outputs(3, 3)),
        (data, 0, len(data) + 1, 0, -1, False, -1, -1, *_outputs(3, 3)),
        (data, 0, len(data), 2, -1, False, -1, -1, *_outputs(3, 3)),
        (data, 0, len(data), 0, -1, False, 2, -1, *_outputs(3, 3)),
        (data, 0, len(data), 0, -1, False, -1, -1, *_outputs(3, 3)[:2], np.empty(2), *_outputs(3, 3)[3:]),
    ]
    for args in bad:
        with pytest.raises(ValueError, match="parse: bad bounds"):
            C.parse(*args)
    with pytest.raises(TypeError):
        C.parse(data, 0, len(data), 0, -1, False, -1, -1, *_outputs(3, 3)[:4], b"read-only")


@needs_c
@given(st.binary(max_size=300), st.integers(0, 300), st.integers(0, 300))
def test_sizes_counts_newlines_and_colons(data: bytes, a: int, b: int) -> None:
    assert C is not None
    lo, hi = sorted((min(a, len(data)), min(b, len(data))))
    assert C.sizes(data, lo, hi) == (data.count(b"\n", lo, hi), data.count(b":", lo, hi))
    big = b"1 2:3\n" * 30000  # more than one run of the counters
    assert C.sizes(big, 0, len(big)) == (30000, 30000)
    with pytest.raises(ValueError, match="sizes: bad bounds"):
        C.sizes(data, 0, len(data) + 1)
