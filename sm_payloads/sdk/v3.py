"""Drop-in serializers and deserializers for the SageMaker Python SDK v3.

``from sm_payloads.sdk import v3 as serializers`` (and ``as deserializers``) in place of
``sagemaker.core.serializers`` / ``sagemaker.core.deserializers``. The SDK v3 has the v2
classes' names, but its ``RecordSerializer`` and ``RecordDeserializer`` raise
``NotImplementedError``, and the v2 drop-ins of `sm_payloads.sdk` do not fit its
``Endpoint`` (a pydantic model that checks the base classes, sends what ``serialize``
returns as the body, and takes the media types as ``invoke`` arguments). docs/sdk.md has
the table of what differs from v2.

Rule 1 (twins): each class here subclasses its `sm_payloads.sdk` twin (same constructor,
same values, same bytes, same errors) and the SDK v3's ``BaseSerializer`` /
``BaseDeserializer``, so ``Endpoint(serializer=..., deserializer=...)`` validates.
Rule 2 (v3 shapes): ``serialize`` returns ``bytes`` (a ``str`` as UTF-8, the RecordIO
``io.BytesIO`` as its bytes); ``ACCEPT`` is one string (a sequence of media types is joined
with ``", "``, as an HTTP ``Accept`` header lists them); ``deserialize(stream)`` works
without a content type (``LocalEndpoint`` calls it so): the deserializer's own ``ACCEPT``
(its first media type) stands in.
Rule 3 (one import): importing this module imports ``sagemaker.core`` (the SDK v3's
sagemaker-core distribution) and nothing of ``sagemaker.serve``, which creates boto3
clients on import; `PayloadTranslator` (a sagemaker-serve ``CustomPayloadTranslator``) is
loaded on first use. Without the SDK v3, importing this module is an ``ImportError`` that
says what to install.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .. import sdk as _twins
from ..record import RecordBatch

try:
    from sagemaker.core.deserializers.base import BaseDeserializer
    from sagemaker.core.serializers.base import BaseSerializer
except ImportError as e:
    raise ImportError(
        "sm_payloads.sdk.v3 needs the SageMaker Python SDK v3 (the sagemaker.core package): "
        "pip install 'sagemaker>=3' (or only 'sagemaker-core>=2'); with the SDK v2, use "
        "sm_payloads.sdk"
    ) from e

if TYPE_CHECKING:
    from ._translator import PayloadTranslator

__all__ = [
    "JSONDecodeError",
    "CSVDeserializer",
    "CSVSerializer",
    "JSONDeserializer",
    "JSONLinesDeserializer",
    "JSONLinesSerializer",
    "JSONSerializer",
    "NumpyDeserializer",
    "NumpySerializer",
    "PayloadTranslator",
    "RecordBatchDeserializer",
    "RecordDeserializer",
    "RecordSerializer",
]


#: Invalid JSON read by a deserializer: `sm_payloads.sdk.JSONDecodeError`, both a `DecodeError`
#: and the ``json.JSONDecodeError`` the SDK raises.
JSONDecodeError = _twins.JSONDecodeError


def _body(data: Any) -> bytes:
    """What a twin's ``serialize`` returned, as the ``bytes`` of the request body: a ``str``
    as UTF-8 (what boto3 sends for it), an ``io.BytesIO`` as its whole value, a buffer as
    its bytes, a file-like object (a twin returns its ``read()``) as what it reads."""
    if isinstance(data, bytes):
        return data
    if isinstance(data, str):
        return data.encode("utf-8")
    if isinstance(data, io.BytesIO):
        return data.getvalue()
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    if hasattr(data, "read"):
        return _body(data.read())
    raise TypeError(f"a request body must be bytes or str, got {type(data).__name__}")


def _one_accept(accept: str | Sequence[str]) -> str:
    return accept if isinstance(accept, str) else ", ".join(accept)


def _first_accept(accept: str | Sequence[str]) -> str:
    """The media type a one-argument ``deserialize`` reads: the first one asked for."""
    first = accept.split(",")[0] if isinstance(accept, str) else (accept[0] if accept else "")
    return first.strip()


# ======================================================================================
# Serializers
# ======================================================================================


class CSVSerializer(_twins.CSVSerializer, BaseSerializer):  # type: ignore[misc]
    """`sm_payloads.sdk.CSVSerializer`'s text, as UTF-8 ``bytes``.

    >>> CSVSerializer().serialize([[1.5, 16.0], [2.0, 3.0]])
    b'1.5,16.0\\n2.0,3.0'
    """

    def serialize(self, data: Any) -> bytes:
        return _body(super().serialize(data))


class JSONSerializer(_twins.JSONSerializer, BaseSerializer):  # type: ignore[misc]
    """`sm_payloads.sdk.JSONSerializer`'s text (Python's ``json.dumps``), as UTF-8 ``bytes``.

    >>> JSONSerializer().serialize({"instances": [[1.5, 2.0]]})
    b'{"instances": [[1.5, 2.0]]}'
    """

    def serialize(self, data: Any) -> bytes:
        return _body(super().serialize(data))


class JSONLinesSerializer(_twins.JSONLinesSerializer, BaseSerializer):  # type: ignore[misc]
    """`sm_payloads.sdk.JSONLinesSerializer`'s lines, as UTF-8 ``bytes``.

    >>> JSONLinesSerializer().serialize([{"features": [1.5]}, {"features": [2]}])
    b'{"features": [1.5]}\\n{"features": [2]}'
    """

    def serialize(self, data: Any) -> bytes:
        return _body(super().serialize(data))


class NumpySerializer(_twins.NumpySerializer, BaseSerializer):  # type: ignore[misc]
    """`sm_payloads.sdk.NumpySerializer`: the bytes ``np.save`` writes.

    >>> import numpy as np
    >>> NumpySerializer().serialize(np.array([1.5], np.float32))[-4:]
    b'\\x00\\x00\\xc0?'
    """

    def serialize(self, data: Any) -> bytes:
        return _body(super().serialize(data))


class RecordSerializer(_twins.RecordSerializer, BaseSerializer):  # type: ignore[misc]
    """`sm_payloads.sdk.RecordSerializer`'s RecordIO-protobuf records (the SDK v2's bytes),
    as ``bytes`` (the twin returns an ``io.BytesIO``, which the SDK v3's ``Endpoint`` would
    not send).

    >>> import numpy as np
    >>> RecordSerializer().serialize(np.array([1.5, 16], np.float32))[:8].hex()
    '0a23d7ce18000000'
    """

    def serialize(self, data: Any) -> bytes:
        return _body(super().serialize(data))


# ======================================================================================
# Deserializers
# ======================================================================================


class CSVDeserializer(_twins.CSVDeserializer, BaseDeserializer):  # type: ignore[misc]
    """`sm_payloads.sdk.CSVDeserializer`: a list of rows, each a list of ``str``.

    >>> CSVDeserializer().deserialize(io.BytesIO(b'1,"a\\nb"\\n2,c\\n'))
    [['1', 'a\\nb'], ['2', 'c']]
    """

    @property
    def ACCEPT(self) -> str:
        """The ``Accept`` header: one media type, or several joined with ``", "``."""
        return _one_accept(self.accept)

    def deserialize(self, stream: Any, content_type: str | None = None) -> list[list[str]]:
        return super().deserialize(stream, content_type)


class JSONDeserializer(_twins.JSONDeserializer, BaseDeserializer):  # type: ignore[misc]
    """`sm_payloads.sdk.JSONDeserializer`: what ``json.load`` returns.

    >>> JSONDeserializer().deserialize(io.BytesIO(b'{"predictions": [{"score": 0.5}]}'))
    {'predictions': [{'score': 0.5}]}
    """

    @property
    def ACCEPT(self) -> str:
        """The ``Accept`` header: one media type, or several joined with ``", "``."""
        return _one_accept(self.accept)

    def deserialize(self, stream: Any, content_type: str | None = None) -> Any:
        return super().deserialize(stream, content_type)


class JSONLinesDeserializer(_twins.JSONLinesDeserializer, BaseDeserializer):  # type: ignore[misc]
    """`sm_payloads.sdk.JSONLinesDeserializer`: one object per line (blank lines skipped).

    >>> JSONLinesDeserializer().deserialize(io.BytesIO(b'{"score": 1}\\n\\n{"score": 2}\\n'))
    [{'score': 1}, {'score': 2}]
    """

    @property
    def ACCEPT(self) -> str:
        """The ``Accept`` header: one media type, or several joined with ``", "``."""
        return _one_accept(self.accept)

    def deserialize(self, stream: Any, content_type: str | None = None) -> list[Any]:
        return super().deserialize(stream, content_type)


class NumpyDeserializer(_twins.NumpyDeserializer, BaseDeserializer):  # type: ignore[misc]
    """`sm_payloads.sdk.NumpyDeserializer`: an ``ndarray`` (``NpzFile`` for npz). Without a
    `content_type` the body is read as the first media type of ``ACCEPT``.

    >>> NumpyDeserializer(accept="text/csv").deserialize(io.BytesIO(b"0.5\\n1.5\\n"))
    array([0.5, 1.5])
    """

    @property
    def ACCEPT(self) -> str:
        """The ``Accept`` header: one media type, or several joined with ``", "``."""
        return _one_accept(self.accept)

    def deserialize(self, stream: Any, content_type: str | None = None) -> Any:
        return super().deserialize(stream, content_type or _first_accept(self.accept))


class RecordDeserializer(_twins.RecordDeserializer, BaseDeserializer):  # type: ignore[misc]
    """`sm_payloads.sdk.RecordDeserializer`: a list of ``aialgs.data.Record`` messages (the
    SDK v3's own class raises ``NotImplementedError``).

    >>> import sm_payloads as smp
    >>> import numpy as np
    >>> body = smp.encode_response(np.array([0.25, 0.75], np.float32), "application/x-recordio-protobuf")
    >>> records = RecordDeserializer().deserialize(io.BytesIO(body))
    >>> [r.label["values"].float32_tensor.values[:] for r in records]
    [[0.25, 0.75]]
    """

    @property
    def ACCEPT(self) -> str:
        """The ``Accept`` header: one media type, or several joined with ``", "``."""
        return _one_accept(self.accept)

    def deserialize(self, stream: Any, content_type: str | None = None) -> list[Any]:
        return super().deserialize(stream, content_type)


class RecordBatchDeserializer(_twins.RecordBatchDeserializer, BaseDeserializer):  # type: ignore[misc]
    """`sm_payloads.sdk.RecordBatchDeserializer`: any registered response format as a
    `RecordBatch` (outputs in ``label``). No SDK counterpart. ``ACCEPT`` lists every
    registered response type, RecordIO-protobuf first, in one header; without a
    `content_type`, the body is read as the first of them.

    >>> d = RecordBatchDeserializer(accept="application/jsonlines")
    >>> d.deserialize(io.BytesIO(b'{"score": 0.5}\\n{"score": 0.25}\\n')).label["score"]
    array([0.5 , 0.25])
    """

    @property
    def ACCEPT(self) -> str:
        """The ``Accept`` header: one media type, or several joined with ``", "``."""
        return _one_accept(self.accept)

    def deserialize(self, stream: Any, content_type: str | None = None) -> RecordBatch:
        return super().deserialize(stream, content_type or _first_accept(self.accept))


def __getattr__(name: str) -> Any:
    """`PayloadTranslator`, imported on first use (it needs sagemaker-serve, whose import
    creates boto3 clients and so needs an AWS region)."""
    if name == "PayloadTranslator":
        try:
            from ._translator import PayloadTranslator
        except ModuleNotFoundError as e:
            if not (e.name or "").startswith("sagemaker"):
                raise
            raise ImportError(
                "sm_payloads.sdk.v3.PayloadTranslator needs sagemaker-serve (the SDK v3's "
                "CustomPayloadTranslator): pip install 'sagemaker>=3' (or only 'sagemaker-serve')"
            ) from e
        globals()[name] = PayloadTranslator
        return PayloadTranslator
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
