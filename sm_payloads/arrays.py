"""numpy, scipy.sparse and plain Python data as a `RecordBatch`: what the top-level verbs
accept besides a batch.

Rule: a numpy array is dense rows (1-D: one record), a scipy sparse matrix is CSR rows,
nested lists of numbers are a dense array, and for responses a list of per-record dicts is
one ``label`` column per key. Anything else is an `EncodeError` (status 400: the caller's
data), with no media type (the verbs add the one being written).

Speed: per-record output dicts whose keys each hold one kind of value (`rows_kinds`: finite
floats, int32-range ints, strings, finite numpy float scalars, lists of one length of those
numbers) become columns in one pass (the C kernel ``_cjsonrec.dict_rows``, else one numpy
call per key), the same batch as the general loop; the JSON writers write such dicts with
orjson as they are, which gives the bytes of that batch.
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import chain
from operator import itemgetter
from typing import Any

import numpy as np
import scipy.sparse as sp

from . import _native
from .errors import EncodeError
from .record import Ragged, RecordBatch, from_dense, from_sparse

__all__ = [
    "is_output_rows",
    "outputs_to_batch",
    "response_batch",
    "rows_columns_pure",
    "rows_kinds",
    "rows_kinds_pure",
    "to_batch",
]

#: The optional C kernel for output dicts (`rows_kinds`, `outputs_to_batch`); None: the
#: twins below.
_C = _native.load("formats._cjsonrec")


def _all_of(values: list[Any], kinds: Any) -> bool:
    """``all(isinstance(v, kinds) for v in values)``, deciding once per distinct type."""
    return all(issubclass(t, kinds) for t in set(map(type, values)))


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


def _rows_batch(rows: list[Any]) -> RecordBatch | None:
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


def outputs_to_batch(rows: list[Mapping[str, Any]]) -> RecordBatch:
    """Per-record output dicts (``[{"closest_cluster": 5, "distance_to_cluster": 36.5}]``)
    as a batch with one ``label`` column per key, in first-seen order."""
    batch = _rows_batch(rows) if type(rows) is list else None
    if batch is not None:
        return batch
    keys: dict[str, None] = {}
    if rows and set(map(len, rows)) == {len(rows[0])}:
        # Records of one size: each has the first one's keys (else the KeyError below names
        # the first key some record lacks, as the loop over first-seen keys would).
        keys = dict.fromkeys(rows[0])
    else:
        for row in rows:
            keys.update(dict.fromkeys(row))
    label: dict[str, Any] = {}
    for key in keys:
        try:
            values = [row[key] for row in rows]
        except KeyError:
            i = next(i for i, row in enumerate(rows) if key not in row)
            raise EncodeError(
                None,
                f"record {i} has no {key!r} (every record needs every output key)",
                column=f"label[{key!r}]",
                status_hint=400,
            ) from None
        if _all_of(values, str):
            label[key] = np.array(values, dtype=object)
        elif _all_of(values, (list, tuple, np.ndarray)):
            lengths = {len(v) for v in values}
            if len(lengths) == 1:
                label[key] = np.asarray(values)
            else:
                label[key] = Ragged.from_lists([list(v) for v in values])
        else:
            label[key] = np.asarray(values)
            if label[key].dtype.kind not in "biuf" or label[key].ndim != 1:
                raise EncodeError(
                    None,
                    "expected numbers, strings or lists of numbers per record",
                    column=f"label[{key!r}]",
                    status_hint=400,
                )
    return RecordBatch(label=label, n=len(rows))


def is_output_rows(data: Any) -> bool:
    """A non-empty list or tuple of mappings: per-record output dicts (`outputs_to_batch`)."""
    return isinstance(data, (list, tuple)) and bool(data) and _all_of(list(data), Mapping)


def response_batch(data: Any, content_type: str) -> RecordBatch:
    """`to_batch` of response data, its `EncodeError` naming `content_type` (building a
    batch knows no media type; the message names the one being written)."""
    if type(data) is list:
        batch = _rows_batch(data)
        if batch is not None:
            return batch
    try:
        return to_batch(data, response=True)
    except EncodeError as e:
        if e.content_type is not None:
            raise
        raise EncodeError(content_type, e.reason, column=e.column, status_hint=e.status_hint) from None


def to_batch(data: Any, *, response: bool = False) -> RecordBatch:
    """A `RecordBatch` from a batch, a numpy array (1-D = one record), a scipy sparse
    matrix, nested lists of numbers, a DataFrame or Arrow table (`arrow.from_arrow`: its
    numeric columns are ``features["values"]``; for a response each column is a ``label``
    key), or (with ``response=True``) a list of per-record output dicts."""
    if isinstance(data, RecordBatch):
        return data
    if response and is_output_rows(data):
        return outputs_to_batch(list(data))
    if sp.issparse(data):
        return from_sparse(data)
    if isinstance(data, np.ndarray):
        return from_dense(data)
    if isinstance(data, (list, tuple)):
        try:
            arr = np.asarray(data)
        except ValueError as e:
            raise EncodeError(None, f"nested lists must be rectangular: {e}", status_hint=400) from None
        if arr.dtype.kind not in "biuf":
            raise EncodeError(None, f"expected numbers, got {arr.dtype}", status_hint=400)
        return from_dense(arr)
    if hasattr(type(data), "__arrow_c_stream__") or hasattr(type(data), "__arrow_c_array__"):
        # A DataFrame or an Arrow table (pyarrow is imported only for these).
        from .arrow import from_arrow, outputs_from_arrow

        return outputs_from_arrow(data) if response else from_arrow(data)
    raise EncodeError(
        None,
        f"cannot encode {type(data).__name__}; expected RecordBatch, numpy array, "
        "scipy sparse matrix, nested lists or a DataFrame / Arrow table",
        status_hint=400,
    )
