"""float32 is rounded once, from the text, on every JSON, JSON Lines, CSV and libsvm path.

The oracle is exact rational arithmetic (`fractions.Fraction`): the float32 of a decimal is
the binary32 value nearest to it, ties to the even significand. The inputs sit at, just
above and just below binary32 halfway points (decimals printed with every digit, and
integers beyond 2**53 whose float64 is the halfway point itself), where reading through a
float64 first rounds twice and goes wrong. Each case runs on the C accelerators and on
their numpy twins (the module-level accelerator handles set to None, as
``SM_PAYLOADS_PURE_PYTHON=1`` leaves them).
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sm_payloads as smp
from sm_payloads.formats import _json_layout, _rows, _textnum, csv, jsonlines, libsvm

# --------------------------------------------------------------------------------------
# The oracle
# --------------------------------------------------------------------------------------


def nearest_f32(q: Fraction) -> float:
    """The binary32 value nearest to `q` (ties to even) as a float, by exact arithmetic;
    `q` must round to a finite float32."""
    if q == 0:
        return 0.0
    a = abs(q)
    k = a.numerator.bit_length() - a.denominator.bit_length()
    if Fraction(2) ** k > a:
        k -= 1
    assert Fraction(2) ** k <= a < Fraction(2) ** (k + 1)
    ulp = Fraction(2) ** max(k - 23, -149)
    n = a / ulp
    whole = n.numerator // n.denominator
    rest = n - whole
    if rest > Fraction(1, 2) or (rest == Fraction(1, 2) and whole % 2 == 1):
        whole += 1
    assert whole <= 2**24
    v = Fraction(whole) * ulp
    assert v <= Fraction(float(np.finfo(np.float32).max))
    out = float(v)  # exact: a binary32 value is a float64
    return -out if q < 0 else out


def decimal_text(q: Fraction, style: str) -> str:
    """The exact decimal of `q` (a denominator of 2s and 5s only), in one of three styles:
    ``int`` (an integer mantissa and an exponent), ``sci`` (one digit before the point) or
    ``pos`` (positional, no exponent)."""
    sign = "-" if q < 0 else ""
    a = abs(q)
    scale = 0
    while a.denominator != 1:
        a *= 10
        scale += 1
        assert scale < 400
    digits = str(a.numerator)
    if style == "int":
        return f"{sign}{digits}e{-scale}"
    if style == "sci":
        exp = len(digits) - 1 - scale
        tail = digits[1:] or "0"
        return f"{sign}{digits[0]}.{tail}e{exp}"
    if scale == 0:
        return sign + digits
    digits = digits.rjust(scale + 1, "0")
    return f"{sign}{digits[:-scale]}.{digits[-scale:]}"


def text_value(text: str) -> Fraction:
    mant, _, exp = text.lower().partition("e")
    return Fraction(mant) * Fraction(10) ** int(exp or "0")


# --------------------------------------------------------------------------------------
# Inputs beside binary32 halfway points
# --------------------------------------------------------------------------------------

_F32_NEXT_TO_MAX = 0x7F7FFFFE


def _f32_of_bits(bits: int) -> float:
    return float(np.array(bits, np.uint32).view(np.float32))


@st.composite
def near_halfway(draw: st.DrawFn) -> str:
    """A decimal at, just above or just below the midpoint of two adjacent finite float32
    values (subnormals included), printed with all its digits."""
    bits = draw(st.integers(0, _F32_NEXT_TO_MAX))
    lo = Fraction(_f32_of_bits(bits))
    hi = Fraction(_f32_of_bits(bits + 1))
    mid = (lo + hi) / 2
    # a nudge far below a float64 ulp of the midpoint: its float64 is the midpoint itself
    nudge = Fraction(1, 10 ** draw(st.integers(20, 60))) * (hi - lo)
    q = mid + draw(st.sampled_from([0, 1, -1])) * nudge
    if draw(st.booleans()):
        q = -q
    return decimal_text(q, draw(st.sampled_from(["int", "sci", "pos"])))


@st.composite
def wide_integer(draw: st.DrawFn) -> str:
    """An integer beyond 2**53 at or beside a binary32 halfway point, close enough that
    its float64 is the halfway point (or beyond 2**64 and 2**127: other widths)."""
    e = draw(st.integers(54, 127))  # the binade [2**e, 2**(e+1))
    # (not the top midpoint, FLT_MAX + half an ulp, which is out of the float32 range)
    sig = draw(st.integers(2**23, 2**24 - 2 if e == 127 else 2**24 - 1))
    mid = (2 * sig + 1) << (e - 24)
    half_f64_ulp = 1 << (e - 53)
    delta = draw(st.one_of(st.integers(-3, 3), st.integers(-half_f64_ulp, half_f64_ulp)))
    n = mid + delta
    return str(-n if draw(st.booleans()) else n)


numbers = st.one_of(near_halfway(), wide_integer())


# --------------------------------------------------------------------------------------
# The C accelerators, or their twins
# --------------------------------------------------------------------------------------

_HANDLES = [
    (_json_layout, "_C"),
    (_json_layout, "_CREC"),
    (_json_layout, "_CJ"),
    (jsonlines, "_CREC"),
    (_textnum, "_C"),
    (libsvm, "_C"),
    (csv, "_CJOIN"),
    (_rows, "_C"),
]


@contextmanager
def twins(pure: bool) -> Iterator[None]:
    """The numpy twins instead of the C accelerators while inside (when `pure`)."""
    saved = [getattr(m, name) for m, name in _HANDLES]
    try:
        if pure:
            for m, name in _HANDLES:
                setattr(m, name, None)
        yield
    finally:
        for (m, name), v in zip(_HANDLES, saved, strict=True):
            setattr(m, name, v)


PATHS = pytest.mark.parametrize("pure", [False, True], ids=["native", "pure"])


def flat(col: Any) -> list[float]:
    """A float32 column's values in order, as floats (dense, ragged or sparse)."""
    if hasattr(col, "matrix"):  # a Sparse tensor column
        col = col.matrix
    if hasattr(col, "tocsr"):
        assert col.dtype == np.float32
        return [float(x) for x in col.tocsr().data]
    values = col.values if hasattr(col, "offsets") else np.asarray(col)
    assert values.dtype == np.float32
    return [float(x) for x in values.reshape(-1)]


def same(got: list[float], want: list[float]) -> None:
    """Equal bit for bit (the sign of zero included)."""
    assert [math.copysign(1, g) for g in got] == [math.copysign(1, w) for w in want]
    assert got == want


# --------------------------------------------------------------------------------------
# JSON and JSON Lines bodies, each shape with how its float32 values come out
# --------------------------------------------------------------------------------------

JSON = "application/json"
JSONL = "application/jsonlines"
F32 = {"dtype": "float32"}

Case = Callable[[list[str]], list[float]]


def _req(body: str, ct: str, key: str, **options: Any) -> list[float]:
    return flat(smp.decode_request(body.encode(), ct, **(options or F32)).features[key])


def _resp(body: str, ct: str, key: str, **options: Any) -> list[float]:
    return flat(smp.decode_response(body.encode(), ct, **(options or F32)).label[key])


def _lines(fmt: str, texts: list[str]) -> str:
    return "\n".join(fmt.replace("X", t) for t in texts) + "\n"


def _objs(envelope: str, fmt: str, texts: list[str]) -> str:
    """A JSON document ``{envelope: [objects]}``, one object per text (X in `fmt`)."""
    return f'{{"{envelope}":[' + ",".join(fmt.replace("X", t) for t in texts) + "]}"


def _stream(fmt: str, texts: list[str]) -> io.BytesIO:
    return io.BytesIO(_lines(fmt, texts).encode())


def _iter_request(body: str, key: str, batch_size: int, **kw: Any) -> list[float]:
    out: list[float] = []
    for b in jsonlines.iter_decode(io.BytesIO(body.encode()), batch_size=batch_size, dtype="float32", **kw):
        out += flat(b.features[key])
    return out


def _iter_response(body: str, key: str, batch_size: int, **kw: Any) -> list[float]:
    out: list[float] = []
    src = io.BytesIO(body.encode())
    for b in jsonlines.iter_decode(src, batch_size=batch_size, dtype="float32", response=True, **kw):
        out += flat(b.label[key])
    return out


def _sparse(texts: list[str]) -> str:
    keys = ",".join(str(2 * i) for i in range(len(texts)))
    tensor = f'{{"keys":[{keys}],"values":[{",".join(texts)}],"shape":[{2 * len(texts)}]}}'
    return f'{{"instances":[{{"data":{{"features":{tensor}}}}}]}}'


def _sparse_wide_shape(texts: list[str]) -> str:
    # a shape and keys beyond 2**53 (kept integers when the body is read again)
    big = 2**60 + 2**36 + 1
    keys = ",".join(str(big - len(texts) + i) for i in range(len(texts)))
    tensor = f'{{"keys":[{keys}],"values":[{",".join(texts)}],"shape":[{big}]}}'
    return f'{{"instances":[{{"data":{{"features":{tensor}}},"uid":"u"}}]}}'


JSON_CASES: dict[str, Case] = {
    # requests, application/json
    "json-bare-lists": lambda ts: _req(f"[[{','.join(ts)}]]", JSON, "values"),
    "json-instances-lists": lambda ts: _req(f'{{"instances":[[{",".join(ts)}]]}}', JSON, "values"),
    "json-features": lambda ts: _req(f'{{"instances":[{{"features":[{",".join(ts)}]}}]}}', JSON, "values"),
    "json-named-with-uid": lambda ts: _req(
        f'{{"instances":[{{"a":[{",".join(ts)}],"uid":"u"}}]}}', JSON, "a"
    ),
    "json-scalars-with-text": lambda ts: _req(
        '{"instances":[' + ",".join(f'{{"a":{t},"b":"x"}}' for t in ts) + "]}", JSON, "a"
    ),
    "json-ragged": lambda ts: _req(f"[[{','.join(ts)}],[1]]", JSON, "values")[: len(ts)],
    "json-data-features": lambda ts: _req(
        f'{{"instances":[{{"data":{{"features":{{"values":[{",".join(ts)}]}}}}}}]}}', JSON, "values"
    ),
    "json-sparse": lambda ts: _req(_sparse(ts), JSON, "values"),
    "json-sparse-wide-shape": lambda ts: _req(_sparse_wide_shape(ts), JSON, "values"),
    "json-per-column-dtype": lambda ts: _req(
        '{"instances":[' + ",".join(f'{{"a":{t},"b":"x"}}' for t in ts) + "]}",
        JSON,
        "a",
        dtype={"a": "float32"},
    ),
    "json-bare-lists-per-column": lambda ts: _req(
        f"[[{','.join(ts)}]]", JSON, "values", dtype={"values": "float32"}
    ),
    # responses, application/json
    "json-resp-bare": lambda ts: _resp(f'{{"predictions":[{",".join(ts)}]}}', JSON, "values"),
    "json-resp-scalars": lambda ts: _resp(
        '{"predictions":[' + ",".join(f'{{"s":{t}}}' for t in ts) + "]}", JSON, "s"
    ),
    "json-resp-with-text": lambda ts: _resp(
        '{"predictions":[' + ",".join(f'{{"s":{t},"t":"x"}}' for t in ts) + "]}", JSON, "s"
    ),
    "json-resp-list": lambda ts: _resp(f'{{"predictions":[{{"s":[{",".join(ts)}]}}]}}', JSON, "s"),
    "json-resp-two-keys": lambda ts: _resp(
        '{"predictions":[' + ",".join(f'{{"s":{t},"f":[1,2]}}' for t in ts) + "]}", JSON, "s"
    ),
    # requests, application/jsonlines
    "jsonl-features": lambda ts: _req(_lines('{"features":[X]}', ts), JSONL, "values"),
    "jsonl-named": lambda ts: _req(_lines('{"a":[X,1]}', ts), JSONL, "a")[::2],
    "jsonl-with-text": lambda ts: _req(_lines('{"s":X,"t":"x"}', ts), JSONL, "s"),
    "jsonl-per-column-dtype": lambda ts: _req(
        _lines('{"s":X,"t":"x"}', ts), JSONL, "s", dtype={"s": "float32"}
    ),
    "jsonl-features-per-column": lambda ts: _req(
        _lines('{"features":[X]}', ts), JSONL, "values", dtype={"values": "float32"}
    ),
    "jsonl-iter-per-column": lambda ts: [
        x
        for b in jsonlines.iter_decode(
            _stream('{"features":[X]}', ts), batch_size=2, dtype={"values": "float32"}
        )
        for x in flat(b.features["values"])
    ],
    # responses, application/jsonlines
    "jsonl-resp-list-per-column": lambda ts: _resp(
        _lines('{"s":[X]}', ts), JSONL, "s", dtype={"s": "float32"}
    ),
    "jsonl-resp-scalars": lambda ts: _resp(_lines('{"s":X}', ts), JSONL, "s"),
    "jsonl-resp-with-text": lambda ts: _resp(_lines('{"s":X,"t":"x"}', ts), JSONL, "s"),
    "jsonl-resp-list": lambda ts: _resp(_lines('{"s":[X]}', ts), JSONL, "s"),
    "jsonl-resp-stream": lambda ts: flat(
        jsonlines.decode_response(_stream('{"s":X,"t":"x"}', ts), dtype="float32").label["s"]
    ),
    "jsonl-stream": lambda ts: flat(
        jsonlines.decode(_stream('{"s":X,"t":"x"}', ts), dtype="float32").features["s"]
    ),
    # iter_decode, batches of every size, blocks of a few lines
    "jsonl-iter-features": lambda ts: _iter_request(_lines('{"features":[X]}', ts), "values", 2),
    "jsonl-iter-with-text": lambda ts: _iter_request(_lines('{"s":X,"t":"x"}', ts), "s", 1),
    "jsonl-iter-small-blocks": lambda ts: _iter_request(_lines('{"s":X,"t":"x"}', ts), "s", 3, block_size=64),
    "jsonl-iter-resp-list": lambda ts: _iter_response(_lines('{"s":[X]}', ts), "s", 2),
    "jsonl-iter-resp-scalars": lambda ts: _iter_response(_lines('{"s":X}', ts), "s", 3),
    "jsonl-iter-resp-with-text": lambda ts: _iter_response(_lines('{"s":X,"t":"x"}', ts), "s", 1),
    "jsonl-iter-resp-small-blocks": lambda ts: _iter_response(_lines('{"s":[X]}', ts), "s", 2, block_size=48),
    "api-iter-decode": lambda ts: [
        x
        for b in smp.iter_decode(
            io.BytesIO(_lines('{"s":X,"t":"x"}', ts).encode()), JSONL, batch_size=2, **F32
        )
        for x in flat(b.features["s"])
    ],
}


@PATHS
@pytest.mark.parametrize("case", sorted(JSON_CASES))
@settings(max_examples=25, deadline=None)
@given(texts=st.lists(numbers, min_size=1, max_size=5))
def test_json_float32_rounded_once(pure: bool, case: str, texts: list[str]) -> None:
    want = [nearest_f32(text_value(t)) for t in texts]
    with twins(pure):
        got = JSON_CASES[case](texts)
    same(got, want)


@PATHS
@settings(max_examples=40, deadline=None)
@given(texts=st.lists(numbers, min_size=1, max_size=5))
def test_mixed_blocks_fast_then_general(pure: bool, texts: list[str]) -> None:
    """Lines the scanner reads (no text value) then lines the general path reads, in one
    batch across blocks: the float32 column is whole and each value rounded once."""
    body = _lines('{"s":[X]}', texts) + _lines('{"s":[X],"t":"x"}', texts)
    want = [nearest_f32(text_value(t)) for t in texts] * 2
    with twins(pure):
        got_iter = _iter_response(body, "s", 2 * len(texts), block_size=40)
        got_whole = flat(jsonlines.decode_response(body.encode(), dtype="float32", block_size=40).label["s"])
    same(got_iter, want)
    same(got_whole, want)


@PATHS
@settings(max_examples=40, deadline=None)
@given(texts=st.lists(numbers, min_size=1, max_size=4))
def test_float64_columns_beside_stay_float64(pure: bool, texts: list[str]) -> None:
    """A float32 column read again from the text leaves the float64 columns as they were:
    each the float64 nearest to its text."""
    f64 = [float(text_value(t)) for t in texts]  # Fraction -> float rounds once, to nearest
    want = [nearest_f32(text_value(t)) for t in texts]
    body = _lines('{"a":X,"b":X,"t":"x"}', texts)
    spec = {"a": "float32"}
    with twins(pure):
        whole = jsonlines.decode(body.encode(), dtype=spec)
        parts = list(jsonlines.iter_decode(io.BytesIO(body.encode()), batch_size=2, dtype=spec))
        doc = '{"instances":[' + ",".join(f'{{"a":{t},"b":{t},"t":"x"}}' for t in texts) + "]}"
        one = smp.decode_request(doc.encode(), JSON, dtype=spec)
    for batch in (whole, one):
        same(flat(batch.features["a"]), want)
        assert batch.features["b"].dtype == np.float64
        assert batch.features["b"].tolist() == f64
    same([x for p in parts for x in flat(p.features["a"])], want)
    assert [x for p in parts for x in p.features["b"].tolist()] == f64


# --------------------------------------------------------------------------------------
# CSV and libsvm
# --------------------------------------------------------------------------------------


@PATHS
@settings(max_examples=60, deadline=None)
@given(texts=st.lists(numbers, min_size=1, max_size=5))
def test_csv_and_libsvm_float32_rounded_once(pure: bool, texts: list[str]) -> None:
    want = [nearest_f32(text_value(t)) for t in texts]
    row = ",".join(texts) + "\n"
    column = "\n".join(texts) + "\n"
    svm = "1 " + " ".join(f"{i + 1}:{t}" for i, t in enumerate(texts)) + "\n"
    with twins(pure):
        got_csv = flat(smp.decode_request(row.encode(), "text/csv", **F32).features["values"])
        resp = smp.decode_response(column.encode(), "text/csv", **F32).label
        (got_resp,) = (flat(v) for v in resp.values())
        got_svm = flat(smp.decode_request(svm.encode(), "text/libsvm", **F32).features["values"])
        got_stream = [
            x
            for b in smp.iter_decode(io.BytesIO(column.encode()), "text/csv", batch_size=2, **F32)
            for x in flat(b.features["values"])
        ]
    same(got_csv, want)
    same(got_resp, want)
    same(got_stream, want)
    # libsvm keeps every value written, a float32 zero of a nonzero text included
    same(got_svm, want)


# --------------------------------------------------------------------------------------
# Known cases (worked out by hand)
# --------------------------------------------------------------------------------------

# 2**60 + 2**36 is the midpoint of the float32 values 2**60 and 2**60 + 2**37; the float64
# of 2**60 + 2**36 + 1 is that midpoint (ties to even: 2**60), but the integer is above it.
_UP = 2**60 + 2**37


@PATHS
@pytest.mark.parametrize(
    ("text", "want"),
    [
        (str(2**60 + 2**36 + 1), float(_UP)),
        (str(-(2**60 + 2**36 + 1)), -float(_UP)),
        (str(2**60 + 2**36), float(2**60)),  # the midpoint itself: the even side
        (str(2**60 + 3 * 2**36), float(2**60 + 2**38)),  # a midpoint: the even side, up
        (str(2**60 + 2**36 - 1), float(2**60)),
        ("1.00000005960464477550", 1.0000001192092896),
        ("16777217.0000000000001", 16777218.0),
        (str(2**127 + 2**103 + 1), float(2**127 + 2**104)),
    ],
)
def test_known_cases(pure: bool, text: str, want: float) -> None:
    with twins(pure):
        scalar = smp.decode_response(f'{{"predictions":[{{"s":{text}}}]}}'.encode(), JSON, **F32).label["s"]
        line = smp.decode_request(f'{{"s":{text},"t":"x"}}\n'.encode(), JSONL, **F32).features["s"]
        (batch,) = jsonlines.iter_decode(
            io.BytesIO(f'{{"s":[{text}]}}\n'.encode()), dtype="float32", response=True
        )
    assert flat(scalar) == [want]
    assert flat(line) == [want]
    assert flat(batch.label["s"]) == [want]


@PATHS
def test_wide_keys_and_shape_stay_integers(pure: bool) -> None:
    """A sparse tensor whose shape and keys are beyond 2**53, beside a value that sends the
    body to be read again: the keys and the shape are the integers of the text."""
    big = 2**60 + 2**36 + 1
    body = (
        f'{{"instances":[{{"data":{{"features":{{"keys":[{big - 1}],"values":[{big}],'
        f'"shape":[{big}]}}}},"uid":"u"}}]}}'
    )
    with twins(pure):
        col = smp.decode_request(body.encode(), JSON, **F32).features["values"]
    m = col.tocsr() if hasattr(col, "tocsr") else col.matrix.tocsr()
    assert m.shape == (1, big)
    assert m.indices.tolist() == [big - 1]
    assert m.data.tolist() == [float(_UP)]


@PATHS
def test_float32_overflow_still_an_error(pure: bool) -> None:
    """An integer at or past FLT_MAX + half an ulp is out of the float32 range."""
    top = 2**128 - 2**103  # FLT_MAX + half an ulp: rounds to infinity
    with twins(pure), pytest.raises(smp.DecodeError, match="float32"):
        smp.decode_request(f'{{"s":{top},"t":"x"}}\n'.encode(), JSONL, **F32)
    with twins(pure):
        below = smp.decode_request(f'{{"s":{top - 1},"t":"x"}}\n'.encode(), JSONL, **F32).features["s"]
    assert flat(below) == [float(np.finfo(np.float32).max)]


@PATHS
@pytest.mark.parametrize("block_size", [None, 1, 7, 30, 1 << 16])
def test_the_first_column_in_error_is_named_whatever_the_blocks(pure: bool, block_size: int | None) -> None:
    """Finding 17: a float32 column holding a rounding boundary is read again from its text;
    an error in a later column no longer goes first. Columns report in order (b, then e),
    so b's 1e300 in record 0 is the error, as it is without the boundary."""
    lines = b'{"b": 1e300}\n{"e": 1e300, "b": 1}\n{"b": 16777217}\n'
    kw: dict[str, Any] = {} if block_size is None else {"block_size": block_size}
    with twins(pure), pytest.raises(smp.DecodeError) as e:
        smp.formats.jsonlines.decode(lines, dtype="float32", **kw)
    assert e.value.reason == "features['b']: value 1e+300 is out of the float32 range (dtype=float32)"
    assert (e.value.record_index, e.value.offset, e.value.line) == (0, 0, 1)
    doc = b'[{"b": 1e300}, {"e": 1e300, "b": 1}, {"b": 16777217}]'
    with twins(pure), pytest.raises(smp.DecodeError) as e2:
        smp.decode_request(doc, "application/json", dtype="float32")
    assert e2.value.reason == e.value.reason
    assert (e2.value.record_index, e2.value.offset) == (0, 1)
