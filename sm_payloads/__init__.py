"""sm_payloads: every payload format Amazon SageMaker speaks, bytes in, records out, and back.

>>> import numpy as np, sm_payloads as smp
>>> body = smp.encode_request(np.array([[1.5, 16, 14, 23]], np.float32),
...                           "application/x-recordio-protobuf")
>>> smp.decode_request(body, "application/x-recordio-protobuf").to_numpy().tolist()
[[1.5, 16.0, 14.0, 23.0]]
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from . import formats, limits, recordio
from .api import (
    DEFAULT_BATCH_SIZE,
    decode_request,
    decode_response,
    encode_request,
    encode_response,
    iter_decode,
)
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
from .registry import get_codec, register_codec

if TYPE_CHECKING:
    from . import algorithms, autopilot, batch, object2vec, sdk, serving
    from .arrow import from_arrow

__version__ = "0.1.0"

#: Schemas and integrations, imported on first use (``smp.algorithms``, ``smp.serving``...):
#: ``import sm_payloads`` loads the record type, the errors, the media types and the codecs.
_ON_FIRST_USE = ("algorithms", "autopilot", "batch", "object2vec", "sdk", "server", "serving")


#: Functions of modules imported on first use (``smp.from_arrow``: pyarrow stays unimported).
_FUNCTIONS_ON_FIRST_USE = {"from_arrow": "arrow"}


def __getattr__(name: str) -> Any:
    if name in _FUNCTIONS_ON_FIRST_USE:
        function = getattr(importlib.import_module(f"{__name__}.{_FUNCTIONS_ON_FIRST_USE[name]}"), name)
        globals()[name] = function
        return function
    if name in _ON_FIRST_USE:
        module = importlib.import_module(f"{__name__}.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_ON_FIRST_USE, *_FUNCTIONS_ON_FIRST_USE})


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
    "from_arrow",
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
