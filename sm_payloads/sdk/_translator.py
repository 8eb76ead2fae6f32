"""`PayloadTranslator`: this library's codecs as a SageMaker SDK v3 ``CustomPayloadTranslator``,
for ``SchemaBuilder(input_translator=..., output_translator=...)`` (exported by
`sm_payloads.sdk.v3`, which imports this module on first use: sagemaker-serve creates boto3
clients when it is imported, so it needs an AWS region).

Rule 1 (one media type, one direction): a translator writes and reads one registered media
type; a request translator (the default) goes through `encode_request` / `decode_request`,
a response translator (``response=True``) through `encode_response` / `decode_response`.
Rule 2 (what goes in, what comes out): ``serialize`` takes what the verbs take (a
`RecordBatch`, a numpy array, a scipy sparse matrix, nested lists of numbers, a DataFrame
or Arrow table; for a response also a list of per-record output dicts) and returns
``bytes``; ``deserialize`` returns a `RecordBatch` (a response's outputs in ``label``).
Rule 3 (the SDK's content type argument is not used): the SDK calls ``serialize(payload,
content_type)`` and ``deserialize(stream, content_type)`` with ``"application/custom"``
when ``SchemaBuilder`` checks a translator, and with the request's or response's own
header in a container; the translator always uses its own media type, so one translator
gives the same bytes and batches everywhere.
"""

from __future__ import annotations

from typing import IO, Any

from sagemaker.serve.marshalling.custom_payload_translator import CustomPayloadTranslator

from .._buffers import as_bytes
from ..api import decode_request, decode_response, encode_request, encode_response
from ..errors import NotAcceptableError
from ..record import RecordBatch
from ..registry import get_codec, response_types

__all__ = ["PayloadTranslator"]


class PayloadTranslator(CustomPayloadTranslator):  # type: ignore[misc]
    """A ``CustomPayloadTranslator`` over this library's codec for `content_type`.

    `accept` is the ``ACCEPT`` the SDK reads from it (default: `content_type`); `response`
    makes it a response translator (``SchemaBuilder``'s ``output_translator``); `options`
    go to the codec (``sdk_compatible=True``, ``dtype="float32"``...). An unregistered
    media type is an `UnsupportedMediaTypeError`, an unknown option a ``TypeError``, and a
    request-only format as a response a `NotAcceptableError`, all when it is made.

    >>> import io
    >>> import numpy as np
    >>> t = PayloadTranslator("text/csv")
    >>> t.serialize(np.array([[1.5, 2.0], [3.0, 4.0]], np.float32))
    b'1.5,2.0\\n3.0,4.0'
    >>> t.deserialize(io.BytesIO(b"1.5,2.0\\n3.0,4.0")).to_numpy()
    array([[1.5, 2. ],
           [3. , 4. ]])
    """

    def __init__(
        self, content_type: str, accept: str | None = None, *, response: bool = False, **options: Any
    ) -> None:
        codec = get_codec(content_type, **options)
        if response and not codec.capabilities.responses:
            reason = f"{codec.content_type} is a request format only"
            raise NotAcceptableError(content_type, response_types(), reason)
        super().__init__(content_type, content_type if accept is None else accept)
        self.content_type = content_type
        self.accept = content_type if accept is None else accept
        self.response = response
        self.options = options

    def serialize_payload_to_bytes(self, payload: object) -> bytes:
        """The body for `payload` in this translator's media type."""
        if self.response:
            return encode_response(payload, self.content_type, **self.options)
        return encode_request(payload, self.content_type, **self.options)

    def deserialize_payload_from_stream(self, stream: IO[bytes]) -> RecordBatch:
        """The whole of `stream` (or a body given as it is) as a `RecordBatch`; a stream
        is closed afterwards."""
        try:
            body = as_bytes(stream.read() if hasattr(stream, "read") else stream, text=True)
        finally:
            close = getattr(stream, "close", None)
            if callable(close):
                close()
        if self.response:
            return decode_response(body, self.content_type, **self.options)
        return decode_request(body, self.content_type, **self.options)

    def __repr__(self) -> str:
        extra = "".join(f", {k}={v!r}" for k, v in self.options.items())
        kind = ", response=True" if self.response else ""
        return f"PayloadTranslator({self.content_type!r}, accept={self.accept!r}{kind}{extra})"
