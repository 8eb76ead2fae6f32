"""numpy, scipy.sparse and plain Python data as a `RecordBatch`: what the top-level verbs
accept besides a batch.

Rule: a numpy array is dense rows (1-D: one record), a scipy sparse matrix is CSR rows,
nested lists of numbers are a dense array: ``features["values"]`` in a request,
``label["values"]`` in a response (a response's numbers are outputs); and for responses a
list of per-record dicts is one ``label`` column per key. Anything else is an
`EncodeError` (status 400: the caller's data), with no media type (the verbs add the one
being written).

Speed: the types of a key's values are decided once per distinct type; the JSON, JSON Lines
and CSV writers gather dicts whose keys each hold one kind of value in one pass
(`sm_payloads.formats._rows`), with the batch this module builds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import EncodeError
from .record import Ragged, RecordBatch, from_dense, from_sparse

if TYPE_CHECKING:
    import scipy.sparse as sp
else:
    from . import _sparse as sp

__all__ = ["is_output_rows", "outputs_to_batch", "response_batch", "to_batch"]


def _all_of(values: list[Any], kinds: Any) -> bool:
    """``all(isinstance(v, kinds) for v in values)``, deciding once per distinct type."""
    return all(issubclass(t, kinds) for t in set(map(type, values)))


def outputs_to_batch(rows: list[Mapping[str, Any]]) -> RecordBatch:
    """Per-record output dicts (``[{"closest_cluster": 5, "distance_to_cluster": 36.5}]``)
    as a batch with one ``label`` column per key, in first-seen order."""
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
    if response:
        if is_output_rows(data):
            return outputs_to_batch(list(data))
        if sp.issparse(data) or isinstance(data, (np.ndarray, list, tuple)):
            # A response's numbers are outputs: the same rows, in label["values"].
            rows = to_batch(data)
            return RecordBatch(label=dict(rows.features), n=len(rows))
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
