"""Hardening of the JSON and JSON Lines decoders: the general path builds columns in
bounded memory with the same result as building them from every record at once; every
DecodeError has a byte offset; float32 is rounded once from the text."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sm_payloads as smp
from sm_payloads.columns import ColumnError, columns_from_records
from sm_payloads.formats import _json_layout as JL
from sm_payloads.record import Tensor

CT = "application/json"

# --------------------------------------------------------------------------------------
# The chunked column builder equals columns_from_records over all records
# --------------------------------------------------------------------------------------

_scalar = st.one_of(st.integers(-5, 5), st.floats(-4, 4, allow_nan=False).map(lambda x: round(x, 2)))
_text = st.sampled_from(["a", "b", ""])
_value = st.one_of(
    _scalar,
    st.lists(_scalar, max_size=3),
    st.lists(st.lists(_scalar, min_size=2, max_size=2), min_size=1, max_size=2),
    _text,
    st.lists(_text, max_size=2),
    st.builds(lambda v: {"values": v}, st.lists(_scalar, max_size=2)),
    st.builds(lambda k: {"keys": [k], "shape": [4], "values": [1.5]}, st.integers(0, 3)),
    st.builds(lambda: {"keys": [], "shape": [4], "values": []}),
    st.builds(lambda: {"shape": [2, 2], "values": [1, 2, 3, 4]}),
    st.builds(lambda k: {"keys": [k], "shape": [2, 2], "values": [1.5]}, st.integers(0, 3)),
)
_record = st.one_of(
    st.dictionaries(st.sampled_from(["a", "b", "features"]), _value, max_size=3),
    st.builds(lambda v: {"label": v}, st.dictionaries(st.sampled_from(["y", "z"]), _value, max_size=2)),
    st.builds(lambda u: {"features": [1], "uid": u}, st.sampled_from(["u", None])),
    _scalar,
    st.lists(_scalar, max_size=3),
)


def _fix(recs: list[JL.Rec], map_name: str) -> None:
    """The old rule, written out: an empty numeric list among strings is an empty list of strings."""
    textual = {k for r in recs for k, t in getattr(r, map_name).items() if t.values.dtype == object}
    for r in recs:
        m = getattr(r, map_name)
        for k in textual:
            t = m.get(k)
            if t is not None and t.values.size == 0 and t.values.dtype != object and t.keys is None:
                m[k] = Tensor(np.empty(0, dtype=object), shape=t.shape)


def _oracle(items: list[Any]) -> Any:
    recs = []
    for x in items:
        try:
            recs.append(JL.instance_record(x, "$"))
        except JL.BadValue:
            return "bad"
    for name in ("features", "label"):
        _fix(recs, name)
    try:
        return (
            columns_from_records([r.features for r in recs], "features"),
            columns_from_records([r.label for r in recs], "label"),
        )
    except ColumnError as e:
        return (e.column, e.reason, e.record_index)


@settings(max_examples=400, deadline=None)
@given(st.lists(_record, min_size=1, max_size=12), st.integers(1, 5))
def test_chunked_builder_equals_all_records_at_once(items: list[Any], chunk: int) -> None:
    want = _oracle(items)
    old = JL.CHUNK
    JL.CHUNK = chunk
    try:
        groups = [JL.GeneralGroup(items, parse=JL.instance_record)]
        locate = JL.Locator(groups, 0)
        try:
            maps, _strings = JL._build_columns(groups, CT, locate)
            got: Any = (maps["features"], maps["label"])
        except smp.DecodeError as e:
            got = ("decode", e.reason, e.record_index)
    finally:
        JL.CHUNK = old
    if want == "bad":
        assert got[0] == "decode"
        return
    if isinstance(want[0], str):
        column, reason, index = want
        assert got[0] == "decode", got
        assert got[1].startswith(f"{column}: {reason}")
        assert got[2] == index
        return
    assert got[0] != "decode", got
    for w, g in zip(want, got, strict=True):
        assert list(w) == list(g)
        a = smp.RecordBatch(features=w, n=len(items)) if w else None
        b = smp.RecordBatch(features=g, n=len(items)) if g else None
        if a is not None:
            assert b is not None and a.equals(b, bitwise=True)


# --------------------------------------------------------------------------------------
# float32 on the general path: rounded once, from the text (issue: double rounding)
# --------------------------------------------------------------------------------------

from fractions import Fraction  # noqa: E402

from sm_payloads.formats import json as JSONF  # noqa: E402
from sm_payloads.formats import jsonlines as JSONL  # noqa: E402

_F32_MAX = Fraction(float(np.finfo(np.float32).max))


def _nearest_f32(q: Fraction) -> float:
    """The correctly rounded float32 of `q` (ties to even), by exact rational arithmetic."""
    guess = np.float32(float(q))
    cands = {guess, np.nextafter(guess, np.float32(np.inf)), np.nextafter(guess, np.float32(-np.inf))}
    cands = {c for c in cands if np.isfinite(c)}
    best = min(
        cands,
        key=lambda c: (abs(Fraction(float(c)) - q), int(np.array(c, np.float32).view(np.uint32)) & 1),
    )
    return float(best)


@st.composite
def _near_halfway(draw: st.DrawFn) -> str:
    """Decimal text just above, just below or at a binary32 halfway point."""
    bits = draw(st.integers(0x00800000, 0x7F7FFFFE))
    a = np.array(bits, np.uint32).view(np.float32)
    b = np.nextafter(a, np.float32(np.inf))
    mid = (Fraction(float(a)) + Fraction(float(b))) / 2
    tweak = draw(st.sampled_from([0, 1, -1]))
    q = mid + tweak * Fraction(1, 10**60) * mid
    # the exact decimal of q to 80 significant digits (enough to stay on its side of mid)
    exp = q.numerator.bit_length() - q.denominator.bit_length()
    scale = 80 - int(exp * 0.30103)
    digits = (
        q.numerator * 10**scale // q.denominator
        if scale >= 0
        else q.numerator // (q.denominator * 10**-scale)
    )
    text = f"{digits}e{-scale}"
    sign = draw(st.sampled_from(["", "-"]))
    return sign + text


def _text_value(text: str) -> Fraction:
    mant, _, exp = text.partition("e")
    return Fraction(int(mant)) * Fraction(10) ** int(exp)


@settings(max_examples=150, deadline=None)
@given(st.lists(_near_halfway(), min_size=1, max_size=4))
def test_float32_general_path_rounds_once(texts: list[str]) -> None:
    want = [_nearest_f32(_text_value(t)) for t in texts]
    nums = ",".join(texts)
    # shapes the fast scanners leave to the general path (a string beside the numbers,
    # mixed record kinds, a response of two keys)
    body = f'{{"instances":[{{"a":[{nums}],"uid":"u"}}]}}'.encode()
    got = JSONF.decode(body, dtype="float32").features["a"]
    assert got.dtype == np.float32 and got.reshape(-1).tolist() == want
    body = f"[[{nums}],1]".encode()
    got = JSONF.decode(body, dtype="float32").features["values"]
    assert got.values.tolist()[: len(want)] == want
    lines = "\n".join(f'{{"s":{t},"t":"x"}}' for t in texts).encode()
    got = JSONL.decode_response(lines, dtype="float32").label["s"]
    assert got.dtype == np.float32 and got.tolist() == want
    got = JSONL.decode(lines, dtype={"s": "float32"}).features["s"]
    assert got.tolist() == want
    resp = ("{" + '"predictions":[' + ",".join(f'{{"s":{t},"t":"x"}}' for t in texts) + "]}").encode()
    got = JSONF.decode_response(resp, dtype="float32").label["s"]
    assert got.tolist() == want


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("1.00000005960464477550", 1.0000001192092896),
        ("16777217.0000000000001", 16777218.0),
        ("3.4028235677973366e38", float(np.finfo(np.float32).max)),
    ],
)
def test_float32_known_double_rounding_cases(text: str, want: float) -> None:
    ragged = JSONF.decode(f"[[{text}],1]".encode(), dtype="float32").features["values"]
    assert float(ragged.values[0]) == want
    dense = JSONF.decode(f'{{"instances":[{{"a":{text},"b":"x"}}]}}'.encode(), dtype="float32").features["a"]
    assert float(dense[0]) == want
    line = f'{{"a":{text},"b":"x"}}\n'.encode()
    assert float(JSONL.decode(line, dtype="float32").features["a"][0]) == want
