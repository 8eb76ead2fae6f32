"""sm_payloads: every payload format Amazon SageMaker speaks, bytes in, records out, and back.

>>> import numpy as np, sm_payloads as smp
>>> body = smp.encode_request(np.array([[1.5, 16, 14, 23]], np.float32),
...                           "application/x-recordio-protobuf")
>>> smp.decode_request(body, "application/x-recordio-protobuf").to_numpy().tolist()
[[1.5, 16.0, 14.0, 23.0]]
"""

from __future__ import annotations

from . import algorithms, autopilot, batch, formats, limits, object2vec, recordio, sdk, serving
from .errors import (
    DecodeError,
    EncodeError,
    NotAcceptableError,
    PayloadError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
)
from .limits import Limits
from .mime import MediaType, negotiate
from .record import Ragged, Record, RecordBatch, Sparse, Tensor, from_dense, from_sparse
from .registry import (
    DEFAULT_BATCH_SIZE,
    decode_request,
    decode_response,
    encode_request,
    encode_response,
    get_codec,
    iter_decode,
    register_codec,
)

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DecodeError",
    "EncodeError",
    "Limits",
    "MediaType",
    "NotAcceptableError",
    "PayloadError",
    "PayloadTooLargeError",
    "Ragged",
    "Record",
    "RecordBatch",
    "Sparse",
    "Tensor",
    "UnsupportedMediaTypeError",
    "algorithms",
    "autopilot",
    "batch",
    "decode_request",
    "decode_response",
    "encode_request",
    "encode_response",
    "formats",
    "from_dense",
    "from_sparse",
    "get_codec",
    "iter_decode",
    "limits",
    "negotiate",
    "object2vec",
    "recordio",
    "register_codec",
    "sdk",
    "serving",
]
