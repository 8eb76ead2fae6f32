"""Exact float32 values of decimal text, for the numpy twins of the C number converter.

Rule 1 (float32 is rounded once): the float32 of a decimal text is the binary32 value nearest
to the exact decimal (ties to the even significand), on the whole binary32 grid: subnormals
down to 2**-149, zero below half of it, and infinity from FLT_MAX + half an ulp up (that
boundary itself is a tie and goes to infinity, the even side). Converting the text to
float64 first and then to float32 rounds twice and is wrong for texts just beside a binary32
halfway point (``1.00000005960464477550`` is float32 ``1.0000001``, not ``1.0``).

Rule 2 (`float32_of_text`): decides Rule 1 from the exact decimal with integer arithmetic,
never through a float64. It reads the CSV number grammar of the C converter (``_cnumber.h``):
``[+-]?`` then a decimal (digits with an optional dot that may start or end it, an optional
exponent ``[eE][+-]?digits``) or one of the words ``nan``, ``inf``, ``infinity`` in any case;
nothing else (no blanks, no underscores). Anything else is a ValueError.

Rule 3 (`to_float32`): a numpy reader that already has the correctly rounded float64 of each
text casts it to float32, and only the float64 values that are exactly a binary32 rounding
boundary go back to their text through `float32_of_text`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

import numpy as np

__all__ = ["float32_boundaries", "float32_of_text", "to_float32"]

_NUMBER = re.compile(rb"([+-]?)(?:(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?|(nan|inf|infinity))", re.IGNORECASE)

#: Significant digits kept before the rest only counts as "zero or not". Every binary32
#: halfway point (and the overflow boundary) has at most 113 significant digits, so a
#: decimal truncated to 200 digits, plus a nonzero digit 201 when anything nonzero was cut,
#: lies strictly on the same side of every boundary as the full decimal.
_KEEP = 200
#: Exponent magnitudes beyond this are clamped (the value is then 0 or infinity anyway).
_EXP_CLAMP = 10**12
_FLT_MAX = float(np.finfo(np.float32).max)


def _f32(x: float) -> np.float32:
    return np.float32(x)


def float32_of_text(text: bytes) -> np.float32:
    """The correctly rounded float32 of the decimal `text` (Rule 1), decided exactly.

    `text` is one number of the CSV grammar (Rule 2). The decimal is read as an integer
    mantissa and a power of ten; the binary32 value is the quotient rounded half to even at
    the binary32 ulp of the value's binade (2**-149 below the normal range), and infinity
    when that rounds past FLT_MAX. ``nan`` reads as float32 NaN, ``-nan`` with its sign bit
    set (as ``float()`` then ``np.float32`` gives). Raises ValueError for anything else.
    """
    if not isinstance(text, (bytes, bytearray, memoryview)):
        raise TypeError(f"float32_of_text takes bytes, not {type(text).__name__}")
    text = bytes(text)
    m = _NUMBER.fullmatch(text)
    if m is None:
        raise ValueError(f"not a number: {text[:60]!r}")
    sign, ip, fp, ex, word = m.groups()
    neg = sign == b"-"
    if word is not None:
        w = word.lower()
        v = math.nan if w == b"nan" else math.inf
        return _f32(-v if neg else v)
    ip = ip or b""
    fp = fp or b""
    if not ip and not fp:
        raise ValueError(f"not a number: {text[:60]!r}")
    digits = (ip + fp).lstrip(b"0")
    if ex is None:
        e10 = 0
    else:
        ed = ex.lstrip(b"+-").lstrip(b"0")
        e10 = _EXP_CLAMP if len(ed) > 12 else int(ed or b"0")
        if ex[:1] == b"-":
            e10 = -e10
    e10 -= len(fp)
    zero = _f32(-0.0 if neg else 0.0)
    if not digits:
        return zero
    # value = int(digits) * 10**e10, with n significant digits
    n = len(digits)
    if n > _KEEP:
        sticky = digits[_KEEP:].strip(b"0") != b""
        e10 += n - _KEEP
        digits = digits[:_KEEP]
        if sticky:
            digits += b"1"
            e10 -= 1
        n = len(digits)
    # 10**(n-1+e10) <= value < 10**(n+e10)
    if n + e10 <= -46:  # value < 1e-46 < 2**-150: rounds to zero
        return zero
    if n - 1 + e10 >= 39:  # value >= 1e39 > FLT_MAX + half an ulp
        return _f32(-math.inf if neg else math.inf)
    num = int(digits)
    den = 1
    if e10 >= 0:
        num *= 10**e10
    else:
        den = 10**-e10
    # k = floor(log2(value)): 2**k <= num/den < 2**(k+1)
    k = num.bit_length() - den.bit_length()
    if (num << max(0, -k)) < (den << max(0, k)):
        k -= 1
    u = max(k - 23, -149)  # the binary32 ulp exponent at this value
    if u >= 0:
        q, r = divmod(num, den << u)
        twice_r, d = 2 * r, den << u
    else:
        q, r = divmod(num << -u, den)
        twice_r, d = 2 * r, den
    if twice_r > d or (twice_r == d and q & 1):
        q += 1
    v = math.ldexp(q, u)  # exact: q <= 2**24, u in [-149, 105]
    if v > _FLT_MAX:
        v = math.inf
    return _f32(-v if neg else v)


def float32_boundaries(values: np.ndarray) -> np.ndarray:
    """True where a float64 is exactly a binary32 rounding boundary.

    The boundaries are the midpoints between adjacent binary32 values, of either sign: odd
    multiples of 2**(e-24) in the binade [2**e, 2**(e+1)) for -126 <= e <= 127 (the top one is
    FLT_MAX + half an ulp, the overflow threshold) and odd multiples of 2**-150 below 2**-126
    (the subnormal grid, 2**-150 itself included).
    """
    a = np.ascontiguousarray(values, dtype=np.float64)
    bits = a.view(np.uint64)
    # Candidates, in two cheap passes: a normal binary32 boundary has the 29 low significand
    # bits 1000...0; below 2**-126 (subnormals, zero) the pattern differs, so all are kept.
    cand = (bits & _LOW29) == _HALF28
    cand |= (bits & _EXP_BITS) < _EXP_MIN_NORMAL
    idx = np.flatnonzero(cand)
    out = np.zeros(a.shape, dtype=bool)
    out.reshape(-1)[idx] = _boundaries(bits.reshape(-1)[idx])
    return out


_LOW29 = np.uint64((1 << 29) - 1)
_HALF28 = np.uint64(1 << 28)
_EXP_BITS = np.uint64(0x7FF << 52)
_EXP_MIN_NORMAL = np.uint64((1023 - 126) << 52)


def _boundaries(bits: np.ndarray) -> np.ndarray:
    """`float32_boundaries` of float64 bit patterns (uint64), value by value."""
    biased = ((bits >> np.uint64(52)) & np.uint64(0x7FF)).astype(np.int64)
    e = biased - 1023
    sig = (bits & np.uint64((1 << 52) - 1)) | np.uint64(1 << 52)
    # the bit of the significand that weighs half a binary32 ulp
    s = np.where(e >= -126, 28, np.clip(-98 - e, 0, 52)).astype(np.uint64)
    half = np.left_shift(np.uint64(1), s)
    low = sig & (np.left_shift(half, np.uint64(1)) - np.uint64(1))
    out: np.ndarray = (e >= -150) & (e <= 127) & (biased != 0) & (low == half)
    return out


def to_float32(values: np.ndarray, text_at: Callable[[int], bytes]) -> np.ndarray:
    """The correctly rounded float32 of each text, given its correctly rounded float64.

    ``values[i]`` must be the float64 nearest to the decimal ``text_at(i)`` (ties to even),
    as ``float()`` and the C converter give it. Each value that is not a binary32 rounding
    boundary (`float32_boundaries`) is cast, and the cast is the float32 of the text; only
    the boundaries call ``text_at(i)`` and `float32_of_text`. Why the cast is right: every
    binary32 boundary is itself a float64 and rounding to the nearest float64 is monotone,
    so a decimal strictly on one side of a boundary has its float64 on that side or on the
    boundary, never across it. Hence a float64 that is not a boundary lies in the same open
    interval between two adjacent boundaries as its decimal, and binary32 rounding is
    constant on that interval.
    """
    a = np.ascontiguousarray(values, dtype=np.float64)
    with np.errstate(over="ignore"):
        out = a.astype(np.float32)
    flat = out.reshape(-1)
    for i in np.flatnonzero(float32_boundaries(a)).tolist():
        flat[i] = float32_of_text(text_at(i))
    return out
