"""Live comparison with the SageMaker Python SDK v2, the reference RecordIO code."""

from __future__ import annotations

import io

import numpy as np
import pytest
import scipy.sparse as sp
from google.protobuf.internal import api_implementation
from google.protobuf.message import DecodeError
from hypothesis import given
from hypothesis import strategies as st

import sm_payloads as smp
from sm_payloads.formats import recordio_protobuf as rp

from .helpers import arrays

common = pytest.importorskip("sagemaker.amazon.common")
pytestmark = pytest.mark.sdk

# The SDK maps numpy's default int (int64 here), float64 and float32; it rejects int32.
SDK_DTYPES = [np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.int64)]


def sdk_dense(X: np.ndarray, y: np.ndarray | None) -> bytes:
    f = io.BytesIO()
    common.write_numpy_to_dense_tensor(f, X, y)
    return f.getvalue()


def sdk_sparse(X: sp.csr_matrix, y: np.ndarray | None) -> bytes:
    f = io.BytesIO()
    common.write_spmatrix_to_sparse_tensor(f, X, y)
    return f.getvalue()


@st.composite
def sdk_inputs(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray | None]:
    dtype = draw(st.sampled_from(SDK_DTYPES))
    n, k = draw(st.integers(1, 6)), draw(st.integers(0, 5))
    if dtype == np.int64:
        X = draw(arrays(np.dtype(np.int32), (n, k))).astype(np.int64)
    else:
        X = draw(arrays(dtype, (n, k)))
    y = None
    if draw(st.booleans()):
        ldt = draw(st.sampled_from(SDK_DTYPES))
        y = (
            draw(arrays(np.dtype(np.int32), (n,))).astype(np.int64)
            if ldt == np.int64
            else draw(arrays(ldt, (n,)))
        )
    return X, y


def aligned_magic(data: bytes) -> bool:
    from sm_payloads.recordio import iter_frames

    for f in iter_frames(data):
        p = bytes(f.payload)
        if (np.frombuffer(p[: len(p) & ~3], "<u4") == 0xCED7230A).any():
            return True
    return False


@given(sdk_inputs())
def test_dense_bytes_equal_the_sdk(xy: tuple[np.ndarray, np.ndarray | None]) -> None:
    X, y = xy
    expected = sdk_dense(X, y)
    batch = smp.from_dense(X, y)
    assert rp.encode(batch, sdk_compatible=True) == expected
    assert smp.encode_request(batch, "application/x-recordio-protobuf") == expected or aligned_magic(expected)
    # The SDK reads what we write, and we read what it writes.
    ours = rp.encode(batch)
    records = common.read_records(io.BytesIO(ours))
    assert len(records) == len(X)
    decoded = rp.decode(expected)
    assert decoded.to_numpy().tobytes() == X.astype(decoded.to_numpy().dtype).tobytes()


@st.composite
def sdk_sparse_inputs(draw: st.DrawFn) -> tuple[sp.csr_matrix, np.ndarray | None]:
    dtype = draw(st.sampled_from(SDK_DTYPES))
    n, width = draw(st.integers(1, 6)), draw(st.integers(1, 300))
    counts = draw(st.lists(st.integers(0, 4), min_size=n, max_size=n))
    idx = [i for c in counts for i in draw(st.lists(st.integers(0, width - 1), min_size=c, max_size=c))]
    data_dt = np.dtype(np.int32) if dtype == np.int64 else dtype
    data = draw(arrays(data_dt, (len(idx),))).astype(dtype)
    X = sp.csr_matrix((data, idx, np.concatenate([[0], np.cumsum(counts)])), shape=(n, width))
    y = draw(st.none() | arrays(np.dtype(np.float32), (n,)))
    return X, y


@given(sdk_sparse_inputs())
def test_sparse_bytes_equal_the_sdk(xy: tuple[sp.csr_matrix, np.ndarray | None]) -> None:
    X, y = xy
    expected = sdk_sparse(X, y)
    batch = smp.from_sparse(X, y)
    assert rp.encode(batch, sdk_compatible=True) == expected
    back = rp.decode(expected).features["values"]
    assert np.array_equal(back.indptr, X.indptr) and np.array_equal(back.indices, X.indices)
    assert np.asarray(back.data).tobytes() == X.data.astype(back.data.dtype).tobytes()
    assert len(common.read_records(io.BytesIO(rp.encode(batch)))) == X.shape[0]


def test_sdk_reads_our_shifted_magic_record() -> None:
    X = np.array([[-1804698880.0, 1.0]], np.float32)
    (rec,) = common.read_records(io.BytesIO(rp.encode(smp.from_dense(X))))
    assert list(rec.features["values"].float32_tensor.values) == [-1804698880.0, 1.0]


def test_sdk_misreads_dmlc_multipart_records_that_we_read() -> None:
    """Why the default writer never splits: the SDK's reader ignores cflag."""
    whole = rp.encode(smp.from_dense(np.array([[-1804698880.0]], np.float32)), sdk_compatible=True)
    data = smp.recordio.write_records([whole[8:]])  # dmlc split into pieces
    assert rp.decode(data).features["values"].tolist() == [[-1804698880.0]]
    # Unsplit, the SDK reads the record; split, it parses the first piece alone and fails.
    (rec,) = common.read_records(io.BytesIO(whole))
    assert list(rec.features["values"].float32_tensor.values) == [-1804698880.0]
    with pytest.raises(DecodeError) as e:
        common.read_records(io.BytesIO(data))
    assert type(e.value) is DecodeError
    # protobuf's message depends on its backend (upb by default, or the pure-Python one)
    messages = {
        "upb": "Error parsing message with type 'aialgs.data.Record'",
        "python": "Field number 0 is illegal.",
    }
    assert str(e.value) == messages[api_implementation.Type()]
