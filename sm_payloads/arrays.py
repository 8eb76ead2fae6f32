"""numpy, scipy.sparse and plain Python data as a `RecordBatch`: what the top-level verbs
accept besides a batch.

Rule: a numpy array is dense rows (1-D: one record), a scipy sparse matrix is CSR rows,
nested lists of numbers are a dense array, and for responses a list of per-record dicts is
one ``label`` column per key. Anything else is an `EncodeError` (status 400: the caller's
data), with no media type (the verbs add the one being written).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import scipy.sparse as sp

from .errors import EncodeError
from .record import Ragged, RecordBatch, from_dense, from_sparse

__all__ = ["outputs_to_batch", "to_batch"]


def outputs_to_batch(rows: list[Mapping[str, Any]]) -> RecordBatch:
    """Per-record output dicts (``[{"closest_cluster": 5, "distance_to_cluster": 36.5}]``)
    as a batch with one ``label`` column per key, in first-seen order."""
    keys: dict[str, None] = {}
    for row in rows:
        keys.update(dict.fromkeys(row))
    label: dict[str, Any] = {}
    for key in keys:
        values = []
        for i, row in enumerate(rows):
            if key not in row:
                raise EncodeError(
                    None,
                    f"record {i} has no {key!r} (every record needs every output key)",
                    column=f"label[{key!r}]",
                    status_hint=400,
                )
            values.append(row[key])
        if all(isinstance(v, str) for v in values):
            label[key] = np.array(values, dtype=object)
        elif all(isinstance(v, (list, tuple, np.ndarray)) for v in values):
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


def to_batch(data: Any, *, response: bool = False) -> RecordBatch:
    """A `RecordBatch` from a batch, a numpy array (1-D = one record), a scipy sparse
    matrix, nested lists of numbers, or (with ``response=True``) a list of per-record
    output dicts."""
    if isinstance(data, RecordBatch):
        return data
    if response and isinstance(data, (list, tuple)) and data and all(isinstance(r, Mapping) for r in data):
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
    raise EncodeError(
        None,
        f"cannot encode {type(data).__name__}; expected RecordBatch, numpy array, "
        "scipy sparse matrix or nested lists",
        status_hint=400,
    )
