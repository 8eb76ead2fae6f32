"""Decimal text to float64 / float32, exactly: the C converter (`_cparse.numbers`, which runs
`smp_number` of _cnumber.h) and the pure side (`_exact`).

Oracles, independent of the code under test: CPython's ``float()`` for binary64, and for
binary32 the exact rational (``fractions.Fraction``) compared with the nearest binary32
candidates (ties to the even significand, FLT_MAX + half an ulp and beyond to infinity).
Comparisons are bit for bit (NaN and -0.0 included).
"""

from __future__ import annotations

import math
import re
import struct
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sm_payloads import _native
from sm_payloads.formats import _exact

C = _native.load("formats._cparse")
needs_c = pytest.mark.skipif(C is None, reason="the C extension is not built (or SM_PAYLOADS_PURE_PYTHON)")

SMP_CSV, SMP_JSON = 0, 1

# --------------------------------------------------------------------------------------
# Oracles
# --------------------------------------------------------------------------------------

_CSV_RE = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_JSON_RE = re.compile(r"-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?")
_F32_MAX = Fraction(2**24 - 1) * 2**104
_F32_OVERFLOW = _F32_MAX + Fraction(2**103)  # FLT_MAX + half an ulp: rounds to infinity


def f64_bits(x: float) -> int:
    return int(struct.unpack("<Q", struct.pack("<d", x))[0])


def f32_bits(x: np.float32 | float) -> int:
    return int(np.array(x, dtype=np.float32).view(np.uint32))


def _f32_of_bits(b: int) -> np.float32:
    return np.float32(np.array(b, dtype=np.uint32).view(np.float32)[()])


def _split_sign(text: str) -> tuple[bool, str]:
    if text[:1] in "+-":
        return text[0] == "-", text[1:]
    return False, text


def oracle_f32(text: str) -> int:
    """The bits of the binary32 nearest to the exact decimal `text` (CSV grammar)."""
    neg, body = _split_sign(text)
    sign = 0x80000000 if neg else 0
    word = body.lower()
    if word in ("inf", "infinity"):
        return sign | 0x7F800000
    if word == "nan":
        return sign | 0x7FC00000
    assert _CSV_RE.fullmatch(body), text
    x = Fraction(body)
    if x >= _F32_OVERFLOW:
        return sign | 0x7F800000
    # Within one binary32 ulp of the answer: float64 then float32 (double rounding moves
    # at most one step); the answer is the nearest of it and its neighbours.
    with np.errstate(over="ignore"):
        c = min(f32_bits(np.float32(float(x))), 0x7F7FFFFF)
    best: tuple[Fraction, int] | None = None
    for b in (c - 1, c, c + 1):
        if b < 0 or b > 0x7F7FFFFF:
            continue
        d = abs(Fraction(float(_f32_of_bits(b))) - x)
        if best is None or d < best[0] or (d == best[0] and b % 2 == 0):
            best = (d, b)
    assert best is not None
    return sign | best[1]


def oracle_f64(text: str) -> int:
    return f64_bits(float(text))


def json_expect(text: str, f32: bool) -> int | None:
    """The bits the JSON grammar gives: an integer is the float of that integer (-0 is 0.0),
    a number beyond the type's range is refused (None)."""
    assert _JSON_RE.fullmatch(text), text
    if "." not in text and "e" not in text.lower():
        text = str(int(text))
    bits = _oracle_f32_safe(text) if f32 else oracle_f64(text)
    inf = 0x7F800000 if f32 else 0x7FF0000000000000
    if bits & ~(0x80000000 if f32 else 0x8000000000000000) == inf:
        return None
    return bits


def c_bits(texts: list[str], grammar: int, f32: bool) -> list[int] | None:
    assert C is not None
    out = C.numbers("\n".join(texts).encode(), grammar, f32)
    if out is None:
        return None
    a = np.frombuffer(out, dtype=np.uint32 if f32 else np.uint64)
    assert len(a) == len(texts)
    return [int(v) for v in a]


# --------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------


def _exact_decimal(x: Fraction) -> str:
    """The exact decimal expansion of a nonnegative rational whose denominator is 2**a 5**b."""
    n, d = x.numerator, x.denominator
    k = 0
    while (10**k) % d:
        k += 1
    digits = str(n * (10**k // d))
    if k == 0:
        return digits
    digits = digits.rjust(k + 1, "0")
    return digits[:-k] + "." + digits[-k:]


def _halfways() -> list[str]:
    """Halfway points of both types, exact, then just above (a 1 at digit 700), then with
    trailing zeros, then just below."""
    out = []
    cases = [
        Fraction(2**53 + 1),  # between 2**53 and 2**53 + 2
        Fraction(1) + Fraction(1, 2**53),  # 1 + half an ulp
        Fraction(1, 2**1075),  # half the smallest subnormal
        Fraction(3, 2**1075),
        Fraction(2**53 - 1, 2**1075),  # top of the subnormals
        Fraction(2**54 - 1) * 2**970,  # DBL_MAX + half an ulp
        Fraction(1) + Fraction(1, 2**24),  # binary32
        Fraction(2**24 + 1),
        Fraction(1, 2**150),
        Fraction(2**24 - 1, 2**150),
        Fraction(2**25 - 1, 2**151),
        _F32_OVERFLOW,
        Fraction(2**25 + 3, 2**80),
    ]
    for h in cases:
        s = _exact_decimal(h)
        out.append(s)
        if "." not in s:
            s += "."
        out.append(s + "0" * 700 + "1")  # just above
        out.append(s + "0" * 40)
        if h >= 1:
            below = _exact_decimal(h - Fraction(1, 10**700))
            out.append(below)
    return out


HARD = [
    *_halfways(),
    "9007199254740993",
    "9007199254740992.5",
    "9007199254740993.0000000000000000001",
    "1.00000005960464477550",
    "1.0000000596046447755",
    "1.000000059604644775",
    "16777217.0000000000001",
    "16777217",
    "16777219",
    "2.2250738585072011e-308",
    "2.2250738585072012e-308",
    "2.2250738585072014e-308",
    "4.9406564584124654e-324",
    "2.4703282292062327e-324",
    "2.4703282292062328e-324",
    "2.47032822920623272088e-324",
    "1.7976931348623157e308",
    "1.7976931348623158e308",
    "1.7976931348623159e308",
    "3.4028235677973366e38",
    "3.4028235677973362e38",
    "3.4028235677973364e38",
    "3.40282356779733661637539395458142568448e38",
    "3.40282356779733661637539395458142568447e38",
    "3.4028234663852886e38",
    "1.401298464324817e-45",
    "7.006492321624085e-46",
    "7.006492321624086e-46",
    "7.0064923216240854e-46",
    "1.1754943508222875e-38",
    "1.1754942807573643e-38",
    "0.1",
    "0.3",
    "123456.789012",
    "1e23",
    "8.98846567431158e307",
    "4503599627370496.5",
    "4503599627370497.5",
    "2251799813685248.25",
    "1.5e-323",
    "0e999999",
    "0.0e-999999999999999999999",
    "1e-400",
    "-1e-400",
    "1e400",
    "1e-99999999999999999999",
    "1e99999999999999999999",
    "-0.0",
    "-0",
    "0",
    "000000000000000000000000000000000001.5",
    "0.000000000000000000000000000000000000000000000000000001",
    "1" + "0" * 400 + "e-400",
    "0." + "0" * 400 + "1e400",
    "12345678901234567890123456789e-10",
    "18446744073709551615",
    "18446744073709551616",
    "10000000000000000000",
    "9999999999999999999",
    "99999999999999999999",
    "7.2057594037927933e16",
    "1.7014118346046923e38",
    "5e-324",
    "3e-324",
    "2e-324",
    "1e-45",
    "7e-46",
    "8e-46",
    "0.5",
    "1.",
    ".5",
    "+1.5",
    "1E5",
    "1e+05",
    "1e-05",
    "nan",
    "-nan",
    "NaN",
    "inf",
    "-Inf",
    "infinity",
    "-INFINITY",
]


def _is_json(text: str) -> bool:
    return _JSON_RE.fullmatch(text) is not None


# --------------------------------------------------------------------------------------
# Oracle self-checks (the oracles must be right before anything is compared with them)
# --------------------------------------------------------------------------------------


def test_oracle_known_values() -> None:
    assert oracle_f32("1.00000005960464477550") == 0x3F800001
    assert oracle_f32("1.0000000596046447755") == 0x3F800001
    assert oracle_f32("1.00000005960464477539") == 0x3F800000  # below the midpoint
    assert oracle_f32("1.000000059604644775390625") == 0x3F800000  # the midpoint: even
    assert oracle_f32("16777217.0000000000001") == 0x4B800001
    assert oracle_f32("16777217") == 0x4B800000
    assert oracle_f32("3.4028235677973366e38") == 0x7F7FFFFF
    assert oracle_f32("340282356779733661637539395458142568448") == 0x7F800000
    assert oracle_f32("1.401298464324817e-45") == 0x00000001
    assert oracle_f32("7.006492321624085e-46") == 0x00000000
    assert oracle_f32("7.006492321624086e-46") == 0x00000001
    assert oracle_f32("-0") == 0x80000000
    # double rounding would give these wrong: check that the oracle does not
    assert f32_bits(np.float32(float("1.00000005960464477550"))) == 0x3F800000


# --------------------------------------------------------------------------------------
# _exact: float32_of_text and to_float32
# --------------------------------------------------------------------------------------


def _oracle_f32_safe(text: str) -> int:
    """oracle_f32, with huge exponents settled first (Fraction would build 10**1e20)."""
    m = _CSV_RE.fullmatch(_split_sign(text)[1])
    if m and m.group(2) and len(m.group(2).lstrip("eE+-").lstrip("0")) > 5:
        neg = text.startswith("-")
        mant = m.group(1).replace(".", "").strip("0")
        sign = 0x80000000 if neg else 0
        if not mant or m.group(2)[1:2] == "-":
            return sign
        return sign | 0x7F800000
    return oracle_f32(text)


@pytest.mark.parametrize("text", HARD)
def test_float32_of_text_hard(text: str) -> None:
    assert f32_bits(_exact.float32_of_text(text.encode())) == _oracle_f32_safe(text)


@pytest.mark.parametrize(
    "text",
    [
        b"",
        b"-",
        b"+",
        b".",
        b"e5",
        b"1e",
        b"1e+",
        b"1.2.3",
        b" 1",
        b"1 ",
        b"1_0",
        b"0x10",
        b"nanx",
        b"in",
        b"--1",
        b"1f",
    ],
)
def test_float32_of_text_refuses(text: bytes) -> None:
    with pytest.raises(ValueError):
        _exact.float32_of_text(text)


def test_float32_of_text_takes_bytes_only() -> None:
    with pytest.raises(TypeError):
        _exact.float32_of_text("1.5")  # type: ignore[arg-type]


def test_float32_of_text_is_linear_in_long_digit_runs() -> None:
    # 100,000 digits: exact (the tail decides only "above the midpoint or not")
    mid = _exact_decimal(Fraction(1) + Fraction(1, 2**24))
    assert f32_bits(_exact.float32_of_text((mid + "0" * 100_000).encode())) == 0x3F800000
    assert f32_bits(_exact.float32_of_text((mid + "0" * 100_000 + "1").encode())) == 0x3F800001
    assert f32_bits(_exact.float32_of_text(("9" * 100_000).encode())) == 0x7F800000
    assert f32_bits(_exact.float32_of_text(("0." + "0" * 100_000 + "1").encode())) == 0


def _boundary_oracle(x: float) -> bool:
    """x is the midpoint of two adjacent binary32 values (or FLT_MAX + half an ulp)."""
    if not math.isfinite(x) or x == 0:
        return False
    fx = Fraction(abs(x))
    if fx == _F32_OVERFLOW:
        return True
    if fx > _F32_OVERFLOW:
        return False
    with np.errstate(over="ignore"):
        b = min(f32_bits(np.float32(abs(x))), 0x7F7FFFFF)
    flo = Fraction(float(_f32_of_bits(b)))
    if flo == fx:
        return False
    other = b - 1 if flo > fx else b + 1
    fo = Fraction(2**128) if other == 0x7F800000 else Fraction(float(_f32_of_bits(other)))
    return (flo + fo) / 2 == fx


def test_boundaries_known() -> None:
    xs = [
        1 + 2**-24,
        1 + 2**-24 + 2**-52,
        1.5,
        2**-150,
        3 * 2**-150,
        2**-151,
        float(_F32_OVERFLOW),
        float(_F32_MAX),
        -(1 + 2**-24),
        2**-126 + 2**-150,
        2**-126 - 2**-150,
        2**128,
        0.0,
        math.inf,
        math.nan,
        5e-324,
    ]
    got = _exact.float32_boundaries(np.array(xs)).tolist()
    assert got == [_boundary_oracle(x) for x in xs]
    assert got[:6] == [True, False, False, True, True, False]


@given(st.integers(0, 2**64 - 1))
def test_boundaries_random_bits(bits: int) -> None:
    x = struct.unpack("<d", struct.pack("<Q", bits))[0]
    assert bool(_exact.float32_boundaries(np.array([x]))[0]) == _boundary_oracle(x)


@given(st.integers(0, 2**32 - 1), st.sampled_from([1, -1]))
def test_boundaries_random_midpoints(bits: int, side: int) -> None:
    # the midpoint above each float32 value, and a double next to it
    f = _f32_of_bits(bits & 0x7FFFFFFF)
    if not np.isfinite(f):
        return
    mid = (
        Fraction(float(f))
        + (
            Fraction(float(_f32_of_bits(f32_bits(f) + 1)))
            if f < np.finfo(np.float32).max
            else Fraction(float(f)) + 2 * Fraction(2**103)
        )
    ) / 2
    x = float(mid)
    assert Fraction(x) == mid
    near = float(np.nextafter(x, side * math.inf))
    got = _exact.float32_boundaries(np.array([x, near, -x])).tolist()
    assert got == [True, _boundary_oracle(near), True]


def _texts_f64(bits: int) -> list[str]:
    x = struct.unpack("<d", struct.pack("<Q", bits))[0]
    return [repr(x), f"{x:.17g}", f"{x:.9g}", f"{x:.40g}", f"{x:.18e}", f"{x:.16g}"]


def _texts_f32(bits: int) -> list[str]:
    f = _f32_of_bits(bits)
    x = float(f)
    return [str(f), repr(x), f"{x:.9g}", f"{x:.8g}", f"{x:.40g}", f"{x:.18e}", f"{x:.17g}"]


@given(st.integers(0, 2**64 - 1))
def test_exact_random_f64_bits(bits: int) -> None:
    for t in _texts_f64(bits):
        assert f32_bits(_exact.float32_of_text(t.encode())) == oracle_f32(t), t


@given(st.integers(0, 2**32 - 1))
def test_exact_random_f32_bits(bits: int) -> None:
    for t in _texts_f32(bits):
        assert f32_bits(_exact.float32_of_text(t.encode())) == oracle_f32(t), t


@st.composite
def decimals(draw: st.DrawFn) -> str:
    """Random decimal text: sign, digits with a dot somewhere (or none), an exponent."""
    nd = draw(st.sampled_from([1, 2, 5, 9, 10, 16, 17, 18, 19, 20, 21, 25, 40, 120, 800]))
    digits = draw(st.text("0123456789", min_size=nd, max_size=nd))
    if draw(st.booleans()):
        digits = digits[0] + "0" * draw(st.integers(0, 30)) + digits[1:]
    dot = draw(st.integers(-1, len(digits)))
    body = digits if dot < 0 else digits[:dot] + "." + digits[dot:]
    if body == ".":
        body = "0."
    sign = draw(st.sampled_from(["", "-", "+"]))
    ex = draw(
        st.one_of(
            st.just(""),
            st.integers(-360, 330).map(lambda e: f"e{e}"),
            st.integers(-60, 50).map(lambda e: f"E{e:+d}"),
        )
    )
    return sign + body + ex


@given(decimals())
def test_exact_random_decimals(text: str) -> None:
    assert f32_bits(_exact.float32_of_text(text.encode())) == oracle_f32(text)


@given(
    st.lists(
        st.one_of(
            st.integers(0, 2**64 - 1).flatmap(lambda b: st.sampled_from(_texts_f64(b))),
            decimals(),
            st.sampled_from(HARD),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_to_float32(texts: list[str]) -> None:
    texts = [t for t in texts if t.lower().lstrip("+-") not in ("nan",)] + ["nan", "-nan"]
    enc = [t.encode() for t in texts]
    values = np.array([float(t) for t in texts])
    asked: list[int] = []

    def text_at(i: int) -> bytes:
        asked.append(i)
        return enc[i]

    got = _exact.to_float32(values, text_at)
    assert got.dtype == np.float32
    assert got.view(np.uint32).tolist() == [_oracle_f32_safe(t) for t in texts]
    # only the boundaries go back to their text
    assert sorted(asked) == [i for i, x in enumerate(values.tolist()) if _boundary_oracle(x)]


def test_to_float32_double_rounding_cases() -> None:
    texts = [
        "1.00000005960464477550",
        "16777217.0000000000001",
        "3.4028235677973366e38",
        "0.5",
        "-1.00000005960464477550",
    ]
    values = np.array([float(t) for t in texts]).reshape(5, 1)
    got = _exact.to_float32(values, lambda i: texts[i].encode())
    assert got.shape == (5, 1)
    assert got.reshape(-1).view(np.uint32).tolist() == [
        0x3F800001,
        0x4B800001,
        0x7F7FFFFF,
        0x3F000000,
        0xBF800001,
    ]


# --------------------------------------------------------------------------------------
# The table of powers of five
# --------------------------------------------------------------------------------------


def test_pow5_table_is_the_generators_output() -> None:
    import runpy

    from tests.helpers import ROOT

    script = ROOT / "scripts" / "make_pow5_table.py"
    if not script.exists():  # a copy of the package without scripts/ (sanitize_native.sh)
        pytest.skip("scripts/make_pow5_table.py is not in this tree")
    gen = runpy.run_path(str(script))
    committed = (ROOT / "sm_payloads" / "formats" / "_cpow5.h").read_text(encoding="utf-8")
    assert committed == gen["render"]()
    # and the generator's entries are what its docstring says
    for q in (-342, -27, -1, 0, 1, 27, 55, 56, 308):
        t, e2 = gen["entry"](q)
        assert 2**127 <= t < 2**128
        exact = Fraction(10) ** q / Fraction(2) ** e2  # T(q) + eps
        assert t <= exact < t + 1
        assert (exact == t) == (0 <= q <= 55)


# --------------------------------------------------------------------------------------
# C: smp_number through _cparse.numbers, both grammars, both widths
# --------------------------------------------------------------------------------------


_PAD = "1" * 30  # a last line that leaves every number before it the word-wise (SWAR) reader


def _c_check_csv(texts: list[str]) -> None:
    """One call (each number followed by at least 24 bytes: the word-wise reader where the
    shape fits) and one call per number (short buffers: the byte-wise scanner)."""
    for f32 in (False, True):
        oracle = _oracle_f32_safe if f32 else oracle_f64
        expected = [oracle(t) for t in texts]
        got = c_bits([*texts, _PAD], SMP_CSV, f32)
        assert got is not None
        assert got[:-1] == expected, f32
        assert [c_bits([t], SMP_CSV, f32) for t in texts] == [[e] for e in expected], f32
    # the numpy twins' rule gives the same float32: float() then _exact.to_float32
    twin = _exact.to_float32(np.array([float(t) for t in texts]), lambda i: texts[i].encode())
    assert twin.view(np.uint32).tolist() == c_bits(texts, SMP_CSV, True)


def _c_check_json(texts: list[str]) -> None:
    for t in texts:
        if not _is_json(t):
            continue
        for f32 in (False, True):
            exp = json_expect(t, f32)
            assert c_bits([t], SMP_JSON, f32) == (None if exp is None else [exp]), (t, f32)
            padded = c_bits([t, _PAD], SMP_JSON, f32)
            assert padded == (
                None if exp is None else [exp, oracle_f32(_PAD) if f32 else oracle_f64(_PAD)]
            ), (t, f32)


@needs_c
@pytest.mark.parametrize("text", HARD)
def test_c_hard(text: str) -> None:
    _c_check_csv([text])
    _c_check_json([text])


@needs_c
def test_c_hard_in_one_call() -> None:
    _c_check_csv(HARD)


@needs_c
def test_c_huge_exponents() -> None:
    cases = {
        "1e99999999999999999999999999999": (0x7FF0000000000000, 0x7F800000),
        "1e-99999999999999999999999999999": (0, 0),
        "0e99999999999999999999999999999": (0, 0),
        "-0.0e-99999999999999999999999999999": (0x8000000000000000, 0x80000000),
        "0." + "0" * 5000 + "1e5001": (f64_bits(1.0), 0x3F800000),
        "1" + "0" * 5000 + "e-5000": (f64_bits(1.0), 0x3F800000),
        "1" + "0" * 5000 + "e-4690": (0x7FF0000000000000, 0x7F800000),
    }
    for t, (b64, b32) in cases.items():
        assert c_bits([t], SMP_CSV, False) == [b64], t[:40]
        assert c_bits([t], SMP_CSV, True) == [b32], t[:40]
    # JSON refuses what is beyond the range, keeps what rounds to zero
    assert c_bits(["1e99999999999999999999999999999"], SMP_JSON, False) is None
    assert c_bits(["1e-99999999999999999999999999999"], SMP_JSON, True) == [0]
    assert c_bits(["-1e-99999999999999999999999999999"], SMP_JSON, False) == [0x8000000000000000]


@needs_c
def test_c_json_range_is_the_types() -> None:
    # float32: beyond means rounding to infinity, from FLT_MAX + half an ulp on (ties to even)
    over = _exact_decimal(_F32_OVERFLOW)
    below = _exact_decimal(_F32_OVERFLOW - Fraction(1, 10**30))
    assert c_bits(["3.4028235677973366e38"], SMP_JSON, True) == [0x7F7FFFFF]
    assert c_bits([below], SMP_JSON, True) == [0x7F7FFFFF]
    assert c_bits([over], SMP_JSON, True) is None
    assert c_bits(["3.5e38"], SMP_JSON, True) is None
    assert c_bits(["3.5e38"], SMP_JSON, False) == [f64_bits(3.5e38)]
    assert c_bits(["-3.5e38"], SMP_CSV, True) == [0xFF800000]
    # float64
    assert c_bits(["1.7976931348623158e308"], SMP_JSON, False) == [0x7FEFFFFFFFFFFFFF]
    assert c_bits(["1.7976931348623159e308"], SMP_JSON, False) is None
    assert c_bits(["1" + "0" * 400], SMP_JSON, False) is None  # an integer beyond float64
    assert c_bits(["1" + "0" * 300], SMP_JSON, False) == [f64_bits(1e300)]


@needs_c
def test_c_json_integers() -> None:
    texts = [
        "0",
        "-0",
        "16777217",
        "16777219",
        "9007199254740993",
        "9999999999999999999",
        "-18446744073709551617",
    ]
    assert c_bits(texts, SMP_JSON, False) == [f64_bits(float(int(t))) for t in texts]
    assert c_bits(texts, SMP_JSON, True) == [oracle_f32(str(int(t))) for t in texts]
    assert c_bits(["-0"], SMP_JSON, True) == [0]
    assert c_bits(["-0.0"], SMP_JSON, True) == [0x80000000]


@needs_c
@pytest.mark.parametrize(
    ("text", "grammar"),
    [
        ("", SMP_CSV),
        ("-", SMP_CSV),
        (".", SMP_CSV),
        ("1e", SMP_CSV),
        ("1e+", SMP_CSV),
        ("1.2.3", SMP_CSV),
        (" 1", SMP_CSV),
        ("1 ", SMP_CSV),
        ("1_0", SMP_CSV),
        ("nanx", SMP_CSV),
        ("infinit", SMP_CSV),
        ("--1", SMP_CSV),
        ("1\r", SMP_CSV),
        ("01", SMP_JSON),
        ("+1", SMP_JSON),
        (".5", SMP_JSON),
        ("1.", SMP_JSON),
        ("1.e5", SMP_JSON),
        ("nan", SMP_JSON),
        ("inf", SMP_JSON),
        ("-", SMP_JSON),
        ("1.5\n\n2", SMP_CSV),
        ("1.5\n", SMP_CSV),
    ],
)
def test_c_refuses(text: str, grammar: int) -> None:
    assert C is not None
    assert C.numbers(text.encode(), grammar, False) is None
    assert C.numbers(text.encode(), grammar, True) is None


@needs_c
def test_c_long_digit_runs() -> None:
    # 200,000 digits, and a midpoint decided by a digit far out: exact, in linear time
    mid64 = _exact_decimal(Fraction(1) + Fraction(1, 2**53))
    mid32 = _exact_decimal(Fraction(1) + Fraction(1, 2**24))
    texts = [
        mid64 + "0" * 200_000,
        mid64 + "0" * 200_000 + "1",
        mid32 + "0" * 200_000 + "1",
        "9" * 200_000 + "e-199990",
        "0." + "0" * 200_000 + "123e200000",
    ]
    assert c_bits(texts, SMP_CSV, False) == [oracle_f64(t) for t in texts]
    assert c_bits(texts, SMP_CSV, True) == [
        0x3F800000,
        0x3F800000,
        0x3F800001,
        f32_bits(np.float32(1e10)),  # 1e10 is a float32; the text lies just below it
        f32_bits(np.float32(0.123)),
    ]


@needs_c
@given(st.lists(st.integers(0, 2**64 - 1), min_size=1, max_size=8))
def test_c_random_f64_bits(bits: list[int]) -> None:
    texts = [t for b in bits for t in _texts_f64(b)]
    _c_check_csv(texts)
    _c_check_json(texts)


@needs_c
@given(st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=8))
def test_c_random_f32_bits(bits: list[int]) -> None:
    texts = [t for b in bits for t in _texts_f32(b)]
    _c_check_csv(texts)
    _c_check_json(texts)


@needs_c
@given(st.lists(decimals(), min_size=1, max_size=8))
def test_c_random_decimals(texts: list[str]) -> None:
    _c_check_csv(texts)
    _c_check_json(texts)


@needs_c
@given(st.integers(0, 2**32 - 1), st.integers(1, 60), st.sampled_from([-1, 0, 1]))
def test_c_near_f32_midpoints(bits: int, digits: int, side: int) -> None:
    # the decimal of a binary32 midpoint, cut to `digits` significant digits and nudged
    f = _f32_of_bits(bits & 0x7F7FFFFF)
    lo = Fraction(float(f))
    hi = (
        Fraction(float(_f32_of_bits(f32_bits(f) + 1)))
        if f32_bits(f) < 0x7F7FFFFF
        else lo + 2 * Fraction(2**103)
    )
    mid = (lo + hi) / 2
    t = f"{float(mid):.{digits}e}"
    if side:
        t = _exact_decimal(mid) + ("0" * 30 + "1" if side > 0 else "")
        if side < 0:
            t = _exact_decimal(mid - Fraction(1, 10**60)) if mid > Fraction(1, 10**60) else t
    _c_check_csv([t])
    _c_check_json([t])


@needs_c
@given(st.integers(0, 2**63 - 1), st.integers(1, 40))
def test_c_near_f64_midpoints(bits: int, digits: int) -> None:
    x = struct.unpack("<d", struct.pack("<Q", bits & 0x7FEFFFFFFFFFFFFF))[0]
    lo = Fraction(x)
    hi = Fraction(math.nextafter(x, math.inf)) if x < 1.7976931348623157e308 else lo + Fraction(2**971)
    mid = (lo + hi) / 2
    exact = _exact_decimal(mid)
    texts = [f"{x:.{digits}e}", exact, exact + "0" * 10 + "1"]
    if mid > Fraction(1, 10**1100):
        texts.append(_exact_decimal(mid - Fraction(1, 10**1100)))
    _c_check_csv(texts)
    _c_check_json(texts)
