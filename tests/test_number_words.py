"""The word-wise readers of smp_number (_cnumber.h): decimals of the shape digits '.' digits
[exponent] at every split of their digits around the dot, every count of leading zeros,
every length up to and past the 24 digits and 19 significant digits the fixed-offset reader
(swar_fixed) takes, followed by every terminator, and at every distance from the end of the
buffer (32 bytes are needed there), against CPython's float() and the exact float32 of the
text (fractions.Fraction)."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sm_payloads import _native

from .test_numbers import _oracle_f32_safe, oracle_f64

C = _native.load("formats._cparse")
pytestmark = pytest.mark.skipif(C is None, reason="the C extension is not built")
SMP_CSV, SMP_JSON = 0, 1
PAD = "1." + "2" * 38  # a last number that leaves 40 bytes after every one before it


def c_values(text: str, grammar: int, f32: bool) -> list[int] | None:
    assert C is not None
    out = C.numbers(text.encode(), grammar, f32)
    if out is None:
        return None
    return [int(v) for v in np.frombuffer(out, dtype=np.uint32 if f32 else np.uint64)]


def expected(text: str, f32: bool) -> int:
    return _oracle_f32_safe(text) if f32 else oracle_f64(text)


def is_inf(bits: int, f32: bool) -> bool:
    """Are these the bits of an infinity?"""
    inf = 0x7F800000 if f32 else 0x7FF0000000000000
    return bits & ~(0x80000000 if f32 else 0x8000000000000000) == inf


def shapes() -> list[str]:
    """Decimals of every split: 1 to 8 digits before the dot, 1 to 26 after it, the integer
    part 0 with 0 to 9 leading zeros after the dot, signs and exponents."""
    rng = random.Random(7)
    out = []

    def digits(n: int, first_nonzero: bool = True) -> str:
        s = "".join(rng.choice("0123456789") for _ in range(n))
        return (rng.choice("123456789") + s[1:]) if first_nonzero and n else s

    for n1 in range(1, 9):
        for nf in range(1, 27):
            out.append(digits(n1) + "." + digits(nf, False))
            out.append(digits(n1) + "." + "9" * nf)
    for zeros in range(10):
        for nf in range(1, 26 - zeros):
            out.append("0." + "0" * zeros + digits(nf))
            out.append("-0." + "0" * zeros + "9" * nf)
    for base in ("1.5", "1.2345678901234567", "0.0012345678901234567", "9.999999999999999999"):
        for e in ("e5", "E-05", "e+308", "e-320", "e0", "e12345", "e-1"):
            out.append(base + e)
    out += [
        "0.1",
        "-0.0",
        "0.0000000000000000000000001",
        "1234567.1234567890123",  # 20 significant digits
        "123456.1234567890123",  # 19
        "0.12345678901234567890",  # 20 after the dot, 20 significant
        "0.01234567890123456789",  # 20 after the dot, 19 significant
        "4503599627370496.5",
        "9007199254740993.0",
        "179769313486231580793728971405303415079934132710037826936173778980444968292764750946649"
        "017977587207096330286416692887910946555547851940402630657488671505820681908902000708383"
        "676273854845817711531764475730270069855571366959622842914819860834936475292719074168444"
        "365510704342711559699508093042880177904174497791.9999999999999999999999999999999999999999",
    ]
    return out


@pytest.mark.parametrize("f32", [False, True])
@pytest.mark.parametrize("grammar", [SMP_CSV, SMP_JSON])
def test_every_split_in_one_buffer(f32: bool, grammar: int) -> None:
    texts = shapes()
    if grammar == SMP_JSON:  # JSON refuses a number beyond the type's range (checked below)
        texts = [t for t in texts if not is_inf(expected(t, f32), f32)]
    got = c_values("\n".join([*texts, PAD]), grammar, f32)
    assert got is not None
    for t, g in zip(texts, got, strict=False):
        assert g == expected(t, f32), (t, f32, grammar)


@pytest.mark.parametrize("f32", [False, True])
def test_every_distance_from_the_end(f32: bool) -> None:
    """The number followed by 0 to 40 bytes: the fixed-offset reader needs 32 bytes at its
    start, the other word-wise reader 16; below that the byte-wise scanner reads it."""
    for text in ("1.2345678901234567", "-12.5", "0.000123456789012345678", "3.25e-7", "123.456"):
        want = expected(text, f32)
        for tail in (0, *range(2, 41)):  # bytes after the number: none, or a line "1...1"
            body = text + ("\n" + "1" * (tail - 1) if tail else "")
            got = c_values(body, SMP_CSV, f32)
            assert got is not None and got[0] == want, (text, tail)


@pytest.mark.parametrize("f32", [False, True])
def test_declines_what_json_refuses(f32: bool) -> None:
    for text in ("01.5", "00.5", "1.", "1.e5", ".5", "1.5e", "1.5e+", "-.5", "1..5"):
        assert c_values(text + "\n" + PAD, SMP_JSON, f32) is None, text


@given(
    st.integers(1, 8),
    st.integers(0, 10),
    st.integers(1, 26),
    st.booleans(),
    st.one_of(st.none(), st.integers(-400, 400)),
    st.booleans(),
    st.data(),
)
def test_random_decimals(
    n1: int, zeros: int, nf: int, negative: bool, exp: int | None, f32: bool, data: st.DataObject
) -> None:
    head = data.draw(
        st.text("0123456789", min_size=n1, max_size=n1).filter(lambda s: s[0] != "0" or len(s) == 1)
    )
    if zeros:
        head = "0"
    frac = "0" * zeros + data.draw(st.text("0123456789", min_size=nf, max_size=nf))
    text = ("-" if negative else "") + head + "." + frac + ("" if exp is None else f"e{exp}")
    got = c_values(text + "\n" + PAD, SMP_JSON, f32)
    want = expected(text, f32)
    if is_inf(want, f32):
        assert got is None, text  # beyond the type's range: JSON refuses it
    else:
        assert got is not None and got[0] == want, text


@pytest.mark.parametrize("f32", [False, True])
def test_digits_on_the_next_line(f32: bool) -> None:
    """A short number followed by a line of digits: the words at fixed offsets then hold
    digits of the next number, which must not be taken for this one's."""
    for text in ("1.5", "-12.5", "123.456", "0.5", "1.2345678", "1.23456789012", "1234567.1"):
        for k in range(1, 31):
            body = "\n".join([text, "1" * k, PAD])
            got = c_values(body, SMP_CSV, f32)
            assert got is not None and got[:2] == [expected(text, f32), expected("1" * k, f32)], (text, k)
