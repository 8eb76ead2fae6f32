"""Per-record output dicts (what a container's ``predict`` returns) for the response writers
of JSON, JSON Lines and CSV, without building the batch record by record.

Rule 1 (kinds): `rows_kinds` accepts a list of exact dicts with the first one's str keys in
its order, each key holding one kind of value: ``f`` finite Python floats, ``i`` ints in
the int32 range, ``s`` str, ``d`` / ``e`` finite numpy float64 / float32 scalars, ``F`` /
``I`` non-empty lists of one length of finite floats / of int32-range ints. For those,
orjson writes the dicts with the bytes `response_objects` writes for the batch
`arrays.outputs_to_batch` builds from them (the JSON writers use that), and `rows_batch`
builds that same batch in one pass (the CSV writer uses that). Anything else is None and the
caller builds the batch with `arrays.response_batch`, which applies every rule and error.
Rule 2 (speed): the C kernel ``_cjsonrec.dict_rows`` checks the dicts and gathers the
columns in one pass; its twins `rows_kinds_pure` and `rows_columns_pure` give the same
results with one map and one numpy call per key.
Rule 3 (imports): core modules only (this is the wire layer).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import chain
from operator import itemgetter
from typing import Any

import numpy as np

from .. import _native
from ..arrays import response_batch
from ..record import RecordBatch

__all__ = ["rows_batch", "rows_columns_pure", "rows_kinds", "rows_kinds_pure", "rows_or_batch"]

#: The optional C kernel for output dicts; None: the twins below.
_C = _native.load("formats._cjsonrec")


def _finite(vals: list[Any]) -> bool:
    return bool(np.isfinite(np.array(vals, dtype=np.float64)).all())


def _int32s(vals: list[int]) -> bool:
    return min(vals) >= -(2**31) and max(vals) <= 2**31 - 1


def _rows_kind(vals: list[Any]) -> str | None:
    types = set(map(type, vals))
    if len(types) != 1:
        return None
    t = types.pop()
    if t is float:
        return "f" if _finite(vals) else None
    if t is int:
        return "i" if _int32s(vals) else None
    if t is str:
        return "s"
    if t is np.float64:
        return "d" if _finite(vals) else None
    if t is np.float32:
        return "e" if _finite(vals) else None
    if t is list:
        widths = set(map(len, vals))
        if len(widths) != 1 or 0 in widths:
            return None
        flat = list(chain.from_iterable(vals))
        kinds = set(map(type, flat))
        if kinds == {float}:
            return "F" if _finite(flat) else None
        if kinds == {int}:
            return "I" if _int32s(flat) else None
    return None


def rows_kinds_pure(rows: list[Any]) -> str | None:
    """The twin of ``_cjsonrec.dict_rows``: one kind letter per key when every record is a
    dict with the first one's str keys in its order and each key holds one kind of value
    (``f`` finite float, ``i`` int32-range int, ``s`` str, ``d`` / ``e`` finite numpy
    float64 / float32 scalar, ``F`` / ``I`` non-empty lists of one length of finite floats
    / int32-range ints); None otherwise."""
    if not rows or type(rows[0]) is not dict or not rows[0]:
        return None
    keys = tuple(rows[0])
    if not all(type(k) is str for k in keys) or set(map(type, rows)) != {dict}:
        return None
    if not all(map(keys.__eq__, map(tuple, rows))):
        return None
    kinds = []
    for key in keys:
        kind = _rows_kind(list(map(itemgetter(key), rows)))
        if kind is None:
            return None
        kinds.append(kind)
    return "".join(kinds)


def rows_kinds(rows: list[Any]) -> str | None:
    """The kind letters of per-record output dicts (`rows_kinds_pure`; the C kernel
    ``_cjsonrec.dict_rows`` when built), else None."""
    if _C is not None:
        kinds: str | None = _C.dict_rows(rows, np.float64, np.float32)
        return kinds
    return rows_kinds_pure(rows)


#: The numpy type of each column `rows_columns` gives, by kind letter.
_KIND_DTYPES: dict[str, Any] = {
    "f": np.float64,
    "d": np.float64,
    "F": np.float64,
    "e": np.float32,
    "i": np.int32,
    "I": np.int32,
}


def rows_columns_pure(rows: list[Any], kinds: str) -> list[Any]:
    """The twin of the columns of ``_cjsonrec.dict_rows(..., columns=True)``: the columns of
    rows that `rows_kinds` accepted with `kinds`, first row's key order, as float64 /
    float32 / int32 arrays (flat for lists) or None for strings."""
    out: list[Any] = []
    for key, kind in zip(rows[0], kinds, strict=True):
        if kind == "s":
            out.append(None)
            continue
        vals = list(map(itemgetter(key), rows))
        if kind in "FI":
            vals = list(chain.from_iterable(vals))
        out.append(np.array(vals, dtype=_KIND_DTYPES[kind]))
    return out


def rows_batch(rows: list[Any]) -> RecordBatch | None:
    """The batch `outputs_to_batch` builds, for rows that `rows_kinds` accepts (one pass:
    the C kernel checks and gathers at once), else None."""
    got: tuple[str, list[Any]] | None
    if _C is not None:
        got = _C.dict_rows(rows, np.float64, np.float32, True)
    else:
        kinds = rows_kinds_pure(rows)
        got = None if kinds is None else (kinds, rows_columns_pure(rows, kinds))
    if got is None:
        return None
    kinds, cols = got
    n = len(rows)
    label: dict[str, Any] = {}
    for key, kind, payload in zip(rows[0], kinds, cols, strict=True):
        col: np.ndarray
        if kind == "s":
            col = np.empty(n, dtype=object)
            col[:] = [r[key] for r in rows]
        else:
            col = np.frombuffer(payload, dtype=_KIND_DTYPES[kind])
            if kind in "FI":
                col = col.reshape(n, -1)
        label[key] = col
    return RecordBatch(label=label, n=n)


def rows_or_batch(data: RecordBatch | Sequence[Mapping[str, Any]], content_type: str) -> RecordBatch:
    """`data` as a batch: a batch as it is, output dicts that `rows_kinds` accepts by
    `rows_batch`, anything else by `arrays.response_batch` (its errors name
    `content_type`)."""
    if isinstance(data, RecordBatch):
        return data
    if type(data) is list:
        batch = rows_batch(data)
        if batch is not None:
            return batch
    return response_batch(data, content_type)
