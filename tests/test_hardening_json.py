"""Hardening of the JSON and JSON Lines decoders: the general path builds columns in
bounded memory with the same result as building them from every record at once; every
DecodeError has a byte offset; float32 is rounded once from the text."""

from __future__ import annotations

import json
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
