"""check_* helpers shared by the tests (numcodecs' toolbox style)."""

from __future__ import annotations

import gc
import json
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import sm_payloads as smp
from sm_payloads import testing

ROOT = Path(__file__).resolve().parent.parent
#: Payloads written by the real SageMaker SDK v2 and inference toolkit (scripts/make_golden.py).
GOLDEN = ROOT / "tests" / "golden"


def golden_manifest() -> dict[str, Any]:
    return json.loads((GOLDEN / "manifest.json").read_text(encoding="utf-8"))


def golden_cases(content_type: str) -> list[dict[str, Any]]:
    """The manifest's cases of one media type, in manifest order."""
    return [c for c in golden_manifest()["cases"] if c["content_type"] == content_type]


def _num(x: Any) -> float:
    return float(x) if isinstance(x, str) else x


def manifest_batch(inp: dict[str, Any]) -> smp.RecordBatch:
    """The batch the SDK was given for one golden case (its manifest ``input``)."""
    labels = None if inp["labels"] is None else np.array(inp["labels"], dtype=inp["label_dtype"])
    if inp["kind"] == "dense":
        rows = [[_num(v) for v in r] for r in inp["array"]]
        X = np.array(rows, dtype=inp["dtype"]).reshape(inp["shape"])
        return smp.from_dense(X, labels)
    X = sp.csr_matrix(
        (np.array([_num(v) for v in inp["data"]], dtype=inp["dtype"]), inp["indices"], inp["indptr"]),
        shape=inp["shape"],
    )
    return smp.from_sparse(X, labels)


def assert_batches_equal(a: smp.RecordBatch, b: smp.RecordBatch) -> None:
    """Bit-exact equality with a readable failure."""
    assert a.equals(b, bitwise=True), f"\n{a!r}\n!=\n{b!r}"


# --------------------------------------------------------------------------------------
# Generated data: the public strategies of `sm_payloads.testing`, with the suite's bounds
# --------------------------------------------------------------------------------------

#: Wider than `testing.record_batches`' defaults, floats as raw bits (bit-exact round trips),
#: column names as short arbitrary text.
SUITE_BOUNDS: dict[str, Any] = {
    "min_records": 1,
    "max_records": 6,
    "max_columns": 3,
    "max_features": 16,
    "max_rank": 3,
    "max_side": 4,
    "names": st.text(max_size=6),
    "all_bit_patterns": True,
}


def record_batches(**bounds: Any) -> st.SearchStrategy[smp.RecordBatch]:
    """`testing.record_batches` with `SUITE_BOUNDS`, changed by `bounds`."""
    return testing.record_batches(**(SUITE_BOUNDS | bounds))


def arrays(dtype: Any, shape: tuple[int, ...]) -> st.SearchStrategy[np.ndarray]:
    """Arrays of every bit pattern (tensor dtypes) or of int32 values (other dtypes)."""
    dt = np.dtype(dtype)
    if dt in (np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.int32)):
        return testing.values(dt, shape, all_bit_patterns=True)
    return hnp.arrays(dt, shape, elements=st.integers(-(2**31), 2**31 - 1))


# --------------------------------------------------------------------------------------
# A hand-written protobuf writer (field by field, so that any repetition can be written)
# --------------------------------------------------------------------------------------


def varint(v: int) -> bytes:
    """`v` (0 <= v < 2**64) as a protobuf varint."""
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def ld(field: int, payload: bytes) -> bytes:
    """A length-delimited field."""
    return varint(field << 3 | 2) + varint(len(payload)) + payload


def f32(*vals: float) -> bytes:
    """Little-endian float32 values (a packed run's payload)."""
    return np.array(vals, dtype="<f4").tobytes()


def features(key: bytes, *parts: bytes) -> bytes:
    """A record's `features` map entry: the key, then the value field once per part."""
    return ld(1, ld(1, key) + b"".join(ld(2, p) for p in parts))


def bound(body: bytes) -> int:
    """The memory bound of issue #20: 32 x the input + 8 MB."""
    return 32 * len(body) + 8_000_000


def peak(f: Callable[[], Any]) -> int:
    """The tracemalloc peak of `f()`, after a collection."""
    gc.collect()
    tracemalloc.start()
    try:
        f()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
